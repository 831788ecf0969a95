/*
 * The data socket: bytes in chunks, one transfer at a time, driven by
 * readiness in the ring so a slow peer never stalls the server.  Memory
 * stays flat: one chunk buffer per transfer, whatever the file size.
 * Files are read and written through the ring, opened by the pool's
 * opener and published (fsync, link, rename) on a helper: nothing of a
 * GET or a PUT waits on the loop.  GIVE and TAKE pass fds with
 * SCM_RIGHTS.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hash.h"

#include "data.h"
#include "deferred/pool.h"
#include "tetherd.h"

/* Bytes one readiness event may move before others get a turn. */
#define TD_XFER_BUDGET (4u << 20)
/* The data socket's send buffer while the server sends: a whole chunk
 * in flight.  The default (208 KiB) filled 5 times per 1 MiB chunk, and
 * each time the stream waited for a POLLOUT through the ring where a
 * blocking writer sleeps in the kernel: a streamed GET went from 0.77
 * to 0.85 of a raw socket copy (bench_data).  A limit, not an
 * allocation; the kernel caps it at net.core.wmem_max. */
#define TD_XFER_SNDBUF (1 << 20)

/* ---- the stream ------------------------------------------------------- */

int td_xfer_claim(struct td_conn *c, struct td_xfer *x, struct td_job *j)
{
	if (c->xfer || td_conn_gone(c))
		return -EBUSY;
	x->job = j;
	x->conn = c;
	c->xfer = x;
	return 0;
}

void td_xfer_release(struct td_xfer *x)
{
	td_splice_stop(x);
	if (x->hash)
		tp_hash_free(x->hash);
	free(x->bufmem);
	x->hash = NULL;
	x->buf = NULL;
	x->bufmem = NULL;
}

void td_xfer_disown(struct td_xfer *x)
{
	struct td_conn *c = x->conn;

	/* Once over, the connection has let go already (and may be gone). */
	if (x->over || !c || c->xfer != x)
		return;
	c->xfer = NULL;
	x->over = true;
	if (x->started && !td_conn_gone(c))
		td_conn_fail(c, "a transfer ended half-way");
}

void td_xfer_reset(struct td_xfer *x)
{
	struct td_job *job = x->job;
	void (*finish)(struct td_xfer *, int) = x->finish;

	td_xfer_release(x);
	memset(x, 0, sizeof(*x));
	x->job = job;
	x->finish = finish;
	x->fd = -1;
}

uint64_t td_xfer_digest(const struct td_xfer *x)
{
	return x->hash ? tp_hash_digest(x->hash) : 0;
}

/* Over: the connection lets go, the owner hears, once. */
static void td_xfer_over(struct td_xfer *x, int err)
{
	if (x->over)
		return;
	x->over = true;
	if (x->conn && x->conn->xfer == x)
		x->conn->xfer = NULL;
	x->finish(x, err);
}

static void td_xfer_arm(struct td_conn *c, short events)
{
	struct io_uring_sqe *sqe;

	if (c->data_armed || td_conn_gone(c) || !(sqe = td_sqe(c->srv)))
		return;
	io_uring_prep_poll_add(sqe, c->dfd, events);
	io_uring_sqe_set_data(sqe, &c->ev_data);
	c->data_armed = true;
	c->inflight++;
}

/* A file read or write through the ring, for the owner job. */
static int td_xfer_io(struct td_xfer *x, bool write, char *p, size_t n,
		      uint64_t off)
{
	struct io_uring_sqe *sqe = td_sqe(x->job->srv);

	if (!sqe)
		return -EAGAIN;
	if (write)
		io_uring_prep_write(sqe, x->fd, p, (unsigned)n, off);
	else
		io_uring_prep_read(sqe, x->fd, p, (unsigned)n, off);
	if (x->fd_slow)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	td_job_in_ring(x->job, sqe);
	x->io = true;
	return 0;
}

/* buf holds n payload bytes: make them a DATA chunk. */
static void td_xfer_chunk(struct td_xfer *x, size_t n)
{
	tp_hash_update(x->hash, x->buf + TETHER_CHUNK_HDR, n);
	tp_put_be32((unsigned char *)x->buf, (uint32_t)n);
	tp_put_be32((unsigned char *)x->buf + 4, TETHER_CHUNK_DATA);
	x->blen = TETHER_CHUNK_HDR + n;
	x->boff = 0;
	x->done += n;
}

/* The next chunk into x->buf: 0 ready, 1 a file read is out, -errno. */
static int td_xfer_fill(struct td_xfer *x)
{
	uint64_t left = x->total - x->done;
	size_t n = left < TETHER_CHUNK_MAX ? (size_t)left : TETHER_CHUNK_MAX;
	int rc;

	if (n == 0) {
		tp_put_be32((unsigned char *)x->buf, 0);
		tp_put_be32((unsigned char *)x->buf + 4, TETHER_CHUNK_END);
		x->blen = TETHER_CHUNK_HDR;
		x->boff = 0;
		x->ended = true;
		return 0;
	}
	if (x->spliced) {
		if ((rc = td_splice_fill(x, n < TD_SPLICE_CHUNK
					    ? n : TD_SPLICE_CHUNK)) < 0)
			return rc;
		return 1;
	}
	if (x->fd >= 0) {
		if ((rc = td_xfer_io(x, false, x->buf + TETHER_CHUNK_HDR, n,
				     x->done)) < 0)
			return rc;
		return 1;
	}
	if (x->remote) {
		if ((rc = td_mem_read(x->buf + TETHER_CHUNK_HDR,
				      x->mem + x->done, n)) < 0)
			return rc;
	} else {
		memcpy(x->buf + TETHER_CHUNK_HDR, x->mem + x->done, n);
	}
	td_xfer_chunk(x, n);
	return 0;
}

/* What a failed GET owes the data socket (td_xfer_send_fail), from buf,
 * as room comes: a full socket -- chunks the controller has not read
 * yet -- is a wait for POLLOUT, not a broken stream (closing it there
 * failed 2 in 150 truncated GETs under load).  Then the GET ends. */
static void td_xfer_owed(struct td_xfer *x)
{
	struct td_conn *c = x->conn;

	while (x->owed_left) {
		ssize_t n = send(c->dfd, x->buf + x->owed_off, x->owed_left,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			td_xfer_arm(c, POLLOUT);	/* td_xfer_event */
			return;
		}
		if (n <= 0) {
			/* Out of step for good; closing ends x too. */
			td_xfer_over(x, -EPIPE);
			if (!td_conn_gone(c))
				td_conn_fail(c, "data socket broke during an "
					     "abort");
			return;
		}
		x->owed_off += (size_t)n;
		x->owed_left -= (size_t)n;
	}
	td_xfer_over(x, x->abort_err);
}

/* The source failed: say so in the stream, at a chunk boundary (or
 * after the zeros td_xfer_pad put in buf to make one).  buf holds a
 * header and a chunk, and a spliced chunk is 4 KiB short of a full
 * one: there is room behind the zeros. */
static void td_xfer_send_fail(struct td_xfer *x, int err)
{
	unsigned char *h = (unsigned char *)x->buf + x->owed_left;

	tp_put_be32(h, (uint32_t)-err);
	tp_put_be32(h + 4, TETHER_CHUNK_ABORT);
	x->owed_left += TETHER_CHUNK_HDR;
	x->owed_off = 0;
	x->abort_err = err;
	td_xfer_owed(x);
}

/* The rest of a spliced chunk whose file pages left the pipe (the file
 * shrank under it after part of it went): zeros, so that the stream
 * stays in step, then the abort -- the controller gets EIO, as from a
 * file that shrank between chunks, not a closed connection. */
static void td_xfer_pad(struct td_xfer *x, size_t n)
{
	memset(x->buf, 0, n);
	x->owed_left = n;
	td_xfer_send_fail(x, -EIO);
}

static void td_xfer_send_pump(struct td_xfer *x)
{
	struct td_conn *c = x->conn;
	size_t budget = TD_XFER_BUDGET;
	ssize_t n;
	int rc;

	while (!x->over) {
		if (x->boff == x->blen) {
			if (x->ended) {
				td_xfer_over(x, 0);
				return;
			}
			if (!budget) {
				td_xfer_arm(c, POLLOUT);
				return;
			}
			/* A partial chunk never goes out: the header says
			 * how long it is, so only a whole one may follow. */
			if ((rc = td_xfer_fill(x)) > 0)
				return;		/* td_xfer_io_done goes on */
			if (rc < 0) {
				td_xfer_send_fail(x, rc);
				return;
			}
		}
		n = send(c->dfd, x->buf + x->boff, x->blen - x->boff,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			td_xfer_arm(c, POLLOUT);
			return;
		}
		if (n < 0) {
			td_xfer_over(x, -errno);
			return;
		}
		x->boff += (size_t)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
}

/* Bytes of a DATA chunk: counted, hashed, and into memory at once, or
 * gathered in buf for a file write. */
static int td_xfer_take(struct td_xfer *x, const char *p, size_t n)
{
	if (n > x->total - x->done)
		return -EFBIG;
	tp_hash_update(x->hash, p, n);
	if (x->fd < 0) {
		int rc = 0;

		if (x->remote)
			rc = td_mem_write(x->mem + x->done, p, n);
		else
			memcpy(x->mem + x->done, p, n);
		if (rc < 0)
			return rc;
	}
	x->done += n;
	return 0;
}

/* A whole chunk (or a full buffer) gathered for the file goes out. */
static int td_xfer_flush(struct td_xfer *x)
{
	size_t n = x->blen;

	x->blen = x->boff = 0;
	if (!n || x->err)
		return 0;	/* after a failure the bytes are dropped */
	x->blen = n;
	return td_xfer_io(x, true, x->buf, n, x->filed);
}

/* Read chunks; 1 at END or ABORT (x->err says how it went), 0 to wait
 * (for the socket, or a file write), 2 to yield, -errno when the stream
 * itself broke. */
static int td_xfer_recv_some(struct td_xfer *x)
{
	struct td_conn *c = x->conn;
	size_t budget = TD_XFER_BUDGET;
	uint32_t len, kind;
	ssize_t n;
	int rc;

	for (;;) {
		if (x->io)
			return 0;
		if (x->blen && (x->chunk_left == 0 ||
				x->blen == TETHER_CHUNK_MAX)) {
			if ((rc = td_xfer_flush(x)) < 0)
				x->err = rc;
			if (x->io)
				return 0;
		}
		if (!budget)
			return 2;
		if (x->hdr_have < TETHER_CHUNK_HDR) {
			n = tp_recv_some(c->dfd, x->hdr + x->hdr_have,
					 TETHER_CHUNK_HDR - x->hdr_have);
		} else {
			size_t room = TETHER_CHUNK_MAX - (x->fd >= 0 ? x->blen
								     : 0);
			size_t want = x->chunk_left < room ? x->chunk_left
							   : room;

			n = tp_recv_some(c->dfd,
					 x->buf + (x->fd >= 0 ? x->blen : 0),
					 want);
		}
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if (x->hdr_have < TETHER_CHUNK_HDR) {
			x->hdr_have += (size_t)n;
			if (x->hdr_have < TETHER_CHUNK_HDR)
				continue;
			len = tp_get_be32(x->hdr);
			kind = tp_get_be32(x->hdr + 4);
			x->hdr_have = 0;
			if (kind == TETHER_CHUNK_END)
				return 1;
			if (kind == TETHER_CHUNK_ABORT) {
				if (!x->err)
					x->err = -tp_chunk_abort_errno(
						len, ECANCELED);
				return 1;
			}
			if (kind != TETHER_CHUNK_DATA || len > TETHER_CHUNK_MAX)
				return -EPROTO;
			x->chunk_left = len;
			if (len)
				x->hdr_have = TETHER_CHUNK_HDR;
			continue;
		}
		/* After a failure the bytes are only drained: the sender
		 * cannot hear us until its END or ABORT. */
		if (!x->err && (rc = td_xfer_take(x, x->buf + (x->fd >= 0 ?
								x->blen : 0),
						   (size_t)n)) < 0)
			x->err = rc;
		if (x->fd >= 0)
			x->blen += (size_t)n;
		x->chunk_left -= (uint32_t)n;
		if (x->chunk_left == 0)
			x->hdr_have = 0;
	}
}

/* fdpass: the controller wrote the file itself; what comes is one
 * FDDONE {bytes, xxh3} or an ABORT, gathered in buf.  Returns as
 * td_xfer_recv_some does. */
static int td_xfer_recv_fdd(struct td_xfer *x)
{
	unsigned char *b = (unsigned char *)x->buf;
	size_t whole = TETHER_CHUNK_HDR + TETHER_FDDONE_LEN;
	uint32_t len, kind;
	ssize_t n;

	for (;;) {
		size_t want = (x->blen < TETHER_CHUNK_HDR ? TETHER_CHUNK_HDR
							  : whole) - x->blen;

		n = tp_recv_some(x->conn->dfd, b + x->blen, want);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		x->blen += (size_t)n;
		if (x->blen == TETHER_CHUNK_HDR) {
			len = tp_get_be32(b);
			kind = tp_get_be32(b + 4);
			if (kind == TETHER_CHUNK_ABORT) {
				x->err = -tp_chunk_abort_errno(len,
							       ECANCELED);
				return 1;
			}
			if (kind != TETHER_CHUNK_FDDONE ||
			    len != TETHER_FDDONE_LEN)
				return -EPROTO;
		}
		if (x->blen == whole) {
			x->done = tp_get_be64(b + 8);
			x->stated = tp_get_be64(b + 16);
			x->blen = 0;
			return 1;
		}
	}
}

static void td_xfer_recv_pump(struct td_xfer *x)
{
	struct td_conn *c = x->conn;
	int rc = x->fdpass ? td_xfer_recv_fdd(x) : td_xfer_recv_some(x);

	if (rc == 0 || rc == 2) {
		if (!x->io)
			td_xfer_arm(c, POLLIN);
		return;
	}
	td_xfer_over(x, rc > 0 ? x->err : rc);
	/* A broken stream (bad chunk kind, reset) is out of step for good:
	 * the connection goes after the answer. */
	if (rc < 0 && rc != -ECONNRESET && !td_conn_gone(c))
		td_conn_fail(c, "data stream failed");
}

/* The chunk buffer, its payload on a cache line: the kernel's copies
 * into a misaligned buffer (pread, recv) run at a third of the speed on
 * some CPUs (AMD EPYC here; bench/README). */
static int td_xfer_buf(struct td_xfer *x)
{
	if (posix_memalign(&x->bufmem, 4096, TETHER_CHUNK_HDR +
			   TETHER_CHUNK_MAX + 64))
		return -ENOMEM;
	x->buf = (char *)x->bufmem + (x->sending ? 64 - TETHER_CHUNK_HDR : 0);
	return 0;
}

void td_xfer_start(struct td_xfer *x)
{
	if (!(x->hash = tp_hash_new()) || td_xfer_buf(x) < 0) {
		td_xfer_over(x, -ENOMEM);
		return;
	}
	tp_hash_reset(x->hash);
	x->started = true;
	if (x->sending && !x->conn->dfd_sndbuf) {
		int v = TD_XFER_SNDBUF;

		/* Once per connection; without it, only slower. */
		(void)setsockopt(x->conn->dfd, SOL_SOCKET, SO_SNDBUF, &v,
				 sizeof(v));
		x->conn->dfd_sndbuf = true;
	}
	/* A file goes by splice where the pipes can be had. */
	if (x->sending && x->fd >= 0)
		(void)td_splice_start(x);
	if (x->sending)
		td_xfer_send_pump(x);
	else
		td_xfer_recv_pump(x);
}

void td_xfer_event(struct td_conn *c, int res)
{
	struct td_xfer *x = c->xfer;

	c->data_armed = false;
	if (td_conn_gone(c) || !x || !x->started || x->io || x->over)
		return;
	if (res < 0 && res != -ECANCELED) {
		td_xfer_over(x, res);
		return;
	}
	if (x->sending && x->owed_left) {
		td_xfer_owed(x);
		return;
	}
	if (x->sending && x->spliced && x->to_socket) {
		/* the rest of a spliced chunk, now that there is room */
		if ((res = td_splice_more(x)) < 0)
			td_xfer_over(x, res);
		return;
	}
	if (x->sending)
		td_xfer_send_pump(x);
	else
		td_xfer_recv_pump(x);
}

void td_xfer_io_done(struct td_xfer *x, int res)
{
	x->io = false;
	if (x->over || !x->conn)
		return;
	if (x->sending && x->spliced) {
		bool out = x->to_socket;
		int rc;

		/* A file its filesystem cannot splice: read and sent as
		 * ever, from this chunk on (nothing of it went out). */
		if (!out && !x->chunk_got && (res == -EINVAL ||
					      res == -EOPNOTSUPP)) {
			td_splice_stop(x);
			td_xfer_send_pump(x);
			return;
		}
		if ((rc = td_splice_done(x, res)) == 2) {
			td_xfer_arm(x->conn, POLLOUT);	/* td_xfer_event */
			return;
		}
		if (rc > 0)
			return;
		/* ENODATA: a pipe buffer whose page the file's truncation
		 * took (tee, its read, or the splice to the socket). */
		if (rc < 0 && !out) {
			/* none of it went */
			td_xfer_send_fail(x, rc == -ENODATA ? -EIO : rc);
		} else if (rc == -ENODATA) {
			td_splice_stop(x);
			td_xfer_pad(x, x->pipe_left);
		} else if (rc < 0) {
			/* Part of a chunk went: the stream is out of step
			 * for good, and the controller waits on it. */
			struct td_conn *c = x->conn;

			td_xfer_over(x, rc);
			if (!td_conn_gone(c))
				td_conn_fail(c, "data socket broke mid-chunk");
		} else {
			td_xfer_send_pump(x);
		}
		return;
	}
	if (x->sending) {
		if (res <= 0) {
			td_xfer_send_fail(x, res < 0 ? res : -EIO);
			return;		/* 0: the file shrank under us */
		}
		td_xfer_chunk(x, (size_t)res);
		td_xfer_send_pump(x);
		return;
	}
	if (res < 0) {
		x->err = res;		/* the rest of the stream is drained */
		x->blen = x->boff = 0;
	} else {
		x->boff += (size_t)res;
		x->filed += (uint64_t)res;
		if (res == 0)
			x->err = -EIO;
		if (x->boff < x->blen && !x->err) {
			if ((res = td_xfer_io(x, true, x->buf + x->boff,
					      x->blen - x->boff, x->filed)) == 0)
				return;
			x->err = res;
		}
		x->blen = x->boff = 0;
	}
	td_xfer_recv_pump(x);
}

/* The connection ends mid-transfer: the owner cleans up (a PUT leaves
 * no file behind). */
void td_xfer_abort(struct td_conn *c, int err)
{
	if (c->xfer)
		td_xfer_over(c->xfer, err);
}

void td_xfer_reply(struct td_xfer *x, int err, const char *path)
{
	struct td_job *j = x->job;
	struct tp_xfer_done done = {
		.has = path ? TP_XFER_DONE_PATH : 0,
		.done = true,
		.bytes = x->done,
		.xxh3 = td_xfer_digest(x),
		.path = tp_str(path),
	};
	struct tp_msg m;

	if (err) {
		td_job_fail(j, -err, "transfer failed: %s", strerror(-err));
		return;
	}
	tp_msg_init(&m);
	tp_msg_reply(&m, j->to_id, 0);
	tp_pack_xfer_done(&m.w, &done);
	td_job_send(j, &m);
}

/* ---- GET and PUT: the file side --------------------------------------- */

enum td_file_phase {
	TD_FILE_OPEN,			/* the opener opens it */
	TD_FILE_STREAM,			/* bytes on the data socket */
	TD_FILE_PUBLISH,		/* a helper fsyncs and renames (PUT) */
	TD_FILE_DISCARD,		/* a helper removes the temporary */
};

struct td_filejob {
	struct td_job job;
	struct td_xfer x;
	enum td_file_phase phase;
	bool put;
	bool answered;
	char path[PATH_MAX];
	mode_t mode;			/* PUT: of the new file; GET: the file's */
	uint64_t size;			/* GET */
	int fd;				/* the file (internal), or -1 */
	int dirfd;			/* PUT: its directory (internal), or -1 */
	bool tmpfile;			/* PUT: O_TMPFILE, no name until done */
	char tmpname[NAME_MAX + 1];	/* PUT: else the temporary's name */
	int err;			/* a helper's failure */
	char why[PATH_MAX + 256];	/* ... in words */
	bool fdpass;			/* the controller takes the fd if it can */
};

static int td_file_fail(struct td_filejob *fj, int err, const char *fmt,
			const char *arg)
{
	fj->err = err;
	snprintf(fj->why, sizeof(fj->why), fmt, arg, strerror(err));
	return -err;
}

/* GET's open, on the opener: a FIFO or a device is not opened for
 * good (O_NONBLOCK), only to be refused. */
static void td_get_open(struct td_filejob *fj)
{
	struct stat st;
	int fd = open(fj->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				 O_NONBLOCK);

	if (fd < 0) {
		td_file_fail(fj, errno, "open %s: %s", fj->path);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		fj->err = EINVAL;
		snprintf(fj->why, sizeof(fj->why), "%s is not a regular file",
			 fj->path);
		return;
	}
	fcntl(fd, F_SETFL, 0);
	fj->size = (uint64_t)st.st_size;
	fj->mode = st.st_mode & 07777;
	fj->job.fds[0] = fd;
	fj->job.nfds = 1;
}

/* PUT's temporary in the target's directory: O_TMPFILE where the
 * filesystem has it, else a unique name made with O_EXCL. */
static void td_put_open(struct td_filejob *fj)
{
	char dir[PATH_MAX], *slash;
	const char *base = strrchr(fj->path, '/') ? strrchr(fj->path, '/') + 1
						  : fj->path;
	int dfd, fd, acc;

	snprintf(dir, sizeof(dir), "%s", fj->path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (!*base) {
		td_file_fail(fj, EISDIR, "%s: %s", fj->path);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		td_file_fail(fj, errno, "%s: %s", fj->path);
		return;
	}
	/* Readable when the controller writes it through a passed fd: the
	 * server reads it back to check what it was told. */
	acc = fj->fdpass ? O_RDWR : O_WRONLY;
	fd = openat(dfd, ".", O_TMPFILE | acc | O_CLOEXEC, fj->mode);
	if (fd >= 0) {
		fj->tmpfile = true;
	} else {
		snprintf(fj->tmpname, sizeof(fj->tmpname),
			 ".%.200s.tether-%d-%llx", base, (int)getpid(),
			 (unsigned long long)fj->job.id);
		fd = openat(dfd, fj->tmpname, acc | O_CREAT | O_EXCL |
					      O_NOFOLLOW | O_CLOEXEC, fj->mode);
	}
	if (fd < 0) {
		/* Said as what failed: the file may well exist (a /proc
		 * file, whose directory takes no new file). */
		td_file_fail(fj, errno, "%s: creating the temporary file "
			     "beside it: %s", fj->path);
		fj->tmpname[0] = '\0';
		close(dfd);
		return;
	}
	fj->job.fds[0] = dfd;
	fj->job.fds[1] = fd;
	fj->job.nfds = 2;
}

/* fdpass: the controller wrote the temporary itself and stated how
 * many bytes and their XXH3; read it back (on the helper) and hash it,
 * so the final answer states what the file holds, not what we were
 * told, and a mismatch publishes nothing. */
static int td_put_verify(struct td_filejob *fj)
{
	struct td_xfer *x = &fj->x;
	size_t bsz = TETHER_CHUNK_MAX;
	uint64_t off = 0;
	struct stat st;
	ssize_t n;

	if (fstat(fj->fd, &st) < 0)
		return td_file_fail(fj, errno, "fstat %s: %s", fj->path);
	tp_hash_reset(x->hash);
	while ((n = pread(fj->fd, x->buf, bsz, (off_t)off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return td_file_fail(fj, errno, "reading back %s: %s",
					    fj->path);
		tp_hash_update(x->hash, x->buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (off != x->done || (uint64_t)st.st_size != x->done ||
	    tp_hash_digest(x->hash) != x->stated) {
		fj->err = EIO;
		snprintf(fj->why, sizeof(fj->why), "%s: the controller stated "
			 "%llu bytes with XXH3 %016llx, the file holds %llu "
			 "with %016llx", fj->path, (unsigned long long)x->done,
			 (unsigned long long)x->stated,
			 (unsigned long long)off,
			 (unsigned long long)tp_hash_digest(x->hash));
		return -EIO;
	}
	return 0;
}

/* Give the finished temporary the target's name: fsync, then link it
 * under a unique name and rename that over the target, so readers see
 * the old file or the new one, never a part. */
static void td_put_publish(struct td_filejob *fj)
{
	const char *base = strrchr(fj->path, '/') ? strrchr(fj->path, '/') + 1
						  : fj->path;
	char proc[64];

	if (fj->x.fdpass && td_put_verify(fj) < 0)
		return;
	if (fsync(fj->fd) < 0) {
		td_file_fail(fj, errno, "fsync %s: %s", fj->path);
		return;
	}
	if (fj->tmpfile) {
		snprintf(fj->tmpname, sizeof(fj->tmpname),
			 ".%.200s.tether-%d-%llx", base, (int)getpid(),
			 (unsigned long long)fj->job.id);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fj->fd);
		if (linkat(AT_FDCWD, proc, fj->dirfd, fj->tmpname,
			   AT_SYMLINK_FOLLOW) < 0) {
			td_file_fail(fj, errno, "link %s: %s", fj->path);
			return;
		}
	}
	if (renameat(fj->dirfd, fj->tmpname, fj->dirfd, base) < 0) {
		td_file_fail(fj, errno, "rename to %s: %s", fj->path);
		unlinkat(fj->dirfd, fj->tmpname, 0);
		return;
	}
	fsync(fj->dirfd);
}

static void td_file_work(struct td_job *j)
{
	struct td_filejob *fj = (struct td_filejob *)j;

	switch (fj->phase) {
	case TD_FILE_OPEN:
		if (fj->put)
			td_put_open(fj);
		else
			td_get_open(fj);
		break;
	case TD_FILE_PUBLISH:
		td_put_publish(fj);
		break;
	case TD_FILE_DISCARD:
		if (!fj->tmpfile && fj->tmpname[0])
			unlinkat(fj->dirfd, fj->tmpname, 0);
		break;
	case TD_FILE_STREAM:
		break;
	}
}

/* Closed before the answer goes out, so a controller that counts the
 * server's fds on hearing it sees them gone. */
static void td_file_close(struct td_filejob *fj)
{
	if (fj->fd >= 0)
		td_ifd_close_nowait(fj->fd);
	if (fj->dirfd >= 0)
		td_ifd_close_nowait(fj->dirfd);
	fj->fd = fj->dirfd = -1;
}

/* The final answer, once. */
static void td_file_answer(struct td_filejob *fj, int err)
{
	if (fj->answered)
		return;
	fj->answered = true;
	if (fj->err)
		td_job_fail(&fj->job, fj->err, "%s", fj->why);
	else
		td_xfer_reply(&fj->x, err, fj->put ? fj->path : NULL);
	if (fj->put)
		td_log("PUT %s: %s (%llu bytes)", fj->path,
		       fj->err ? fj->why : err ? strerror(-err) : "ok",
		       (unsigned long long)fj->x.done);
	else if (!err && !fj->err)
		td_log("GET sent %llu bytes", (unsigned long long)fj->x.done);
}

/* The end of it all. */
static void td_file_end(struct td_filejob *fj, int err)
{
	td_file_close(fj);
	td_file_answer(fj, err);
	td_job_end(&fj->job);
}

/* The next phase on a helper, or, with none free, the end. */
static void td_file_phase(struct td_filejob *fj, enum td_file_phase phase,
			  int err)
{
	fj->phase = phase;
	fj->job.cls = TD_JOB_SERVER;
	if (td_job_to_helper(&fj->job) == 0) {
		fj->x.err = err;
		return;
	}
	if (phase == TD_FILE_DISCARD && fj->tmpname[0])
		unlinkat(fj->dirfd, fj->tmpname, 0);	/* better late */
	td_file_end(fj, phase == TD_FILE_PUBLISH ? -EAGAIN : err);
}

/* The stream is over. */
static void td_file_stream_over(struct td_xfer *x, int err)
{
	struct td_filejob *fj = (struct td_filejob *)x->job;

	if (!fj->put || fj->phase == TD_FILE_OPEN) {
		td_file_end(fj, err);
		return;
	}
	if (!err) {
		td_file_phase(fj, TD_FILE_PUBLISH, 0);
		return;
	}
	/* Failed: the answer now (a broken stream closes the connection
	 * right after it), what is left of the file in the background. */
	if (fj->fd >= 0)
		td_ifd_close_nowait(fj->fd);
	fj->fd = -1;
	td_file_answer(fj, err);
	if (fj->tmpfile || !fj->tmpname[0])
		td_file_end(fj, err);
	else
		td_file_phase(fj, TD_FILE_DISCARD, err);
}

/* The opener's fds, made ours (internal: GC must not see them). */
static int td_file_adopt(struct td_filejob *fj)
{
	struct td_job *j = &fj->job;
	int fd = j->fds[j->nfds - 1];

	j->nfds--;
	if (fj->put) {
		fj->dirfd = td_ifd_adopt_nowait(j->fds[0], "PUT directory",
						NULL);
		j->nfds = 0;
		if (fj->dirfd < 0) {
			td_fds_close_later(&fd, 1);
			return fj->dirfd;
		}
	}
	if ((fj->fd = td_ifd_adopt_nowait(fd, fj->put ? "PUT file"
							: "GET file",
					  &fj->x.fd_slow)) < 0)
		return fj->fd;
	return 0;
}

/* The interim reply: PUT's {ready}, GET's {size, mode} (the size first,
 * so the controller knows what comes). */
static int td_file_ready(struct td_filejob *fj, struct tp_msg *m,
			 bool fdpass)
{
	struct tp_ready rep = { .ready = true, .size = fj->size,
				.mode = fj->mode,
				.has = fdpass ? TP_READY_FDPASS : 0,
				.fdpass = fdpass };

	tp_msg_init(m);
	tp_msg_reply(m, fj->job.to_id, 0);
	if (fj->put)
		tp_pack_put_ready(&m->w, &rep);
	else
		tp_pack_get_ready(&m->w, &rep);
	return tp_msg_finish(m);
}

/* The controller may take the file's fd (GET: read-only, as opened;
 * PUT: the temporary) rather than the bytes: the fd goes on the idle
 * data socket, before the reply that says so.  When it cannot go
 * (the socket full, ETOOMANYREFS), the reply is rebuilt without
 * fdpass and the bytes stream.  -ENOMEM if no reply can be built. */
static int td_file_pass(struct td_filejob *fj, struct tp_msg *m)
{
	struct td_conn *c = fj->x.conn;
	ssize_t n = c && !td_conn_gone(c)
		    ? tp_send_fds(c->dfd, "F", 1, MSG_DONTWAIT, &fj->fd, 1)
		    : -ECONNRESET;

	if (n == 1)
		return 0;
	td_log("%s %s: passing the fd: %s; streaming instead",
	       fj->put ? "PUT" : "GET", fj->path,
	       strerror(n < 0 ? (int)-n : EIO));
	fj->fdpass = false;
	tp_msg_destroy(m);
	return td_file_ready(fj, m, false);
}

static void td_file_opened(struct td_filejob *fj, int res)
{
	struct tp_msg m;
	int rc;

	if (res < 0 || fj->err || !fj->job.nfds) {
		if (!fj->err && res < 0)
			td_file_fail(fj, -res, "%s: %s", fj->path);
		td_xfer_over(&fj->x, 0);
		return;
	}
	/* Built before anything starts: if it cannot be, nothing does. */
	if ((rc = td_file_ready(fj, &m, fj->fdpass)) < 0) {
		tp_msg_destroy(&m);
		td_file_fail(fj, -rc, "%s: building the reply: %s", fj->path);
		td_xfer_over(&fj->x, 0);
		return;
	}
	if ((rc = td_file_adopt(fj)) < 0) {
		tp_msg_destroy(&m);
		td_file_fail(fj, -rc, "%s: no room for the file: %s", fj->path);
		td_xfer_over(&fj->x, 0);
		return;
	}
	if (fj->fdpass && td_file_pass(fj, &m) < 0) {
		td_file_fail(fj, ENOMEM, "%s: building the reply: %s",
			     fj->path);
		td_xfer_over(&fj->x, 0);
		return;
	}
	if (fj->fdpass && !fj->put) {
		/* The controller reads the file itself: nothing more. */
		td_job_send(&fj->job, &m);
		fj->answered = true;
		td_log("GET passed %s (%llu bytes)", fj->path,
		       (unsigned long long)fj->size);
		td_xfer_over(&fj->x, 0);
		return;
	}
	fj->phase = TD_FILE_STREAM;
	fj->x.fd = fj->fd;
	fj->x.fdpass = fj->fdpass;
	if (fj->put) {
		fj->x.total = UINT64_MAX;
	} else {
		fj->x.sending = true;
		fj->x.total = fj->size;
	}
	td_job_send(&fj->job, &m);
	td_xfer_start(&fj->x);
}

static void td_file_done(struct td_job *j, int res)
{
	struct td_filejob *fj = (struct td_filejob *)j;

	switch (fj->phase) {
	case TD_FILE_OPEN:
		td_file_opened(fj, res);
		break;
	case TD_FILE_STREAM:
		td_xfer_io_done(&fj->x, res);
		break;
	case TD_FILE_PUBLISH:
	case TD_FILE_DISCARD:
		td_file_end(fj, fj->x.err);
		break;
	}
}

static void td_file_release(struct td_job *j)
{
	struct td_filejob *fj = (struct td_filejob *)j;

	td_job_close_fds(j);
	td_file_close(fj);
	td_xfer_release(&fj->x);
	free(fj);
}

static const struct td_job_ops td_file_ops = {
	.name = "FILE",
	.work = td_file_work,
	.done = td_file_done,
	.release = td_file_release,
};

/* The path of a GET or PUT (absent: it was not a string). */
static int td_path_arg(struct td_req *r, const struct tp_path *m, char *buf,
		       size_t size)
{
	const struct tp_str *p = &m->path;

	if (!(m->has & TP_PATH_PATH) || p->n == 0 || p->n >= size ||
	    memchr(p->p, '\0', p->n))
		return td_req_fail(r, EINVAL, "path must be a non-empty string "
				   "under %zu bytes", size);
	memcpy(buf, p->p, p->n);
	buf[p->n] = '\0';
	return 0;
}

/* A GET or PUT job for r, its data socket claimed, its open queued. */
static int td_file_start(struct td_req *r, const struct tp_path *path,
			 bool put, mode_t mode)
{
	struct td_filejob *fj;
	int rc;

	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	if (!(fj = calloc(1, sizeof(*fj))))
		return td_req_fail(r, ENOMEM, "out of memory");
	fj->fd = fj->dirfd = fj->x.fd = -1;
	fj->put = put;
	fj->mode = mode;
	fj->fdpass = (path->has & TP_PATH_FDPASS) && path->fdpass;
	if ((rc = td_path_arg(r, path, fj->path, sizeof(fj->path))) < 0 ||
	    (rc = td_job_start(&fj->job, &td_file_ops, r)) < 0) {
		free(fj);
		return rc;
	}
	fj->x.finish = td_file_stream_over;
	td_xfer_claim(r->conn, &fj->x, &fj->job);
	fj->job.cls = TD_JOB_OPEN;
	if ((rc = td_job_to_helper(&fj->job)) < 0) {
		td_xfer_over(&fj->x, 0);	/* ends the job, unanswered */
		return td_req_fail(r, -rc, "no helper to open %s: %s",
				   fj->path, strerror(-rc));
	}
	return TD_REPLY_LATER;
}

/* GET [path]: {"size", "mode"} once open, the bytes as chunks, then
 * {"done", "bytes", "xxh3"} under the same id. */
int td_do_get(struct td_req *r)
{
	struct tp_path req;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_get(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	/* GET reads a file: under a policy, only if openat for reading is
	 * allowed (the path itself is not something a filter can see). */
	if ((rc = td_policy_check_op(r, "GET", SYS_openat, (uint64_t)AT_FDCWD,
				     0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
				     O_NOCTTY, 0)) < 0)
		return rc;
	return td_file_start(r, &req, false, 0);
}

/* PUT [path, mode]: {"ready"} once the temporary exists, then the
 * controller's chunks, then {"done", "bytes", "xxh3", "path"}. */
int td_do_put(struct td_req *r)
{
	struct tp_path req;
	struct tp_err e;
	int64_t mode;
	int rc;

	if ((rc = tp_unpack_put(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	mode = req.has & TP_PATH_MODE ? req.mode : 0644;
	/* PUT creates or replaces a file: checked as the open for writing
	 * it amounts to. */
	if ((rc = td_policy_check_op(r, "PUT", SYS_openat, (uint64_t)AT_FDCWD,
				     0, O_WRONLY | O_CREAT | O_TRUNC |
				     O_CLOEXEC, (mode_t)mode & 07777)) < 0)
		return rc;
	return td_file_start(r, &req, true, (mode_t)mode & 07777);
}

/* ---- GIVE and TAKE ------------------------------------------------------- */

/* GIVE [fd]: a duplicate of our fd to the controller, on the data
 * socket with one byte. */
int td_do_give(struct td_req *r)
{
	struct tp_fd req;
	struct tp_err e;
	int64_t fd;
	ssize_t n;
	int f, rc;

	if ((rc = tp_unpack_give(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	fd = req.fd;
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	if (fd < 0 || fd > INT32_MAX || td_ifd_is((int)fd) ||
	    fcntl((int)fd, F_GETFD) < 0)
		return td_req_fail(r, EBADF, "fd %lld is not open",
				   (long long)fd);
	f = (int)fd;
	if ((n = tp_send_fds(r->conn->dfd, "F", 1, MSG_DONTWAIT, &f, 1)) != 1) {
		rc = n < 0 ? (int)-n : EIO;
		return td_req_fail(r, rc, "sending the fd: %s", strerror(rc));
	}
	req.fd = f;
	return tp_pack_give_reply(r->w, &req);
}

/* A refused TAKE drops whatever else waits on the idle data socket, fds
 * closed: a TAKE sent behind junk must not get the junk's neighbour, and
 * the next one must find only its own fd. */
static void td_take_drain(int dfd)
{
	char junk[4096];
	int fds[TP_SCM_MAX_FD], nfds;

	for (int i = 0; i < 256; i++) {
		if (tp_recv_fds(dfd, junk, sizeof(junk), MSG_DONTWAIT, fds,
				TP_SCM_MAX_FD, &nfds, NULL) <= 0)
			return;
		for (int j = 0; j < nfds && j < TP_SCM_MAX_FD; j++)
			close(fds[j]);
	}
}

/* TAKE [] or [label]: the controller sent one byte with one fd on the
 * data socket before asking; it becomes one of ours (lowest free). */
int td_do_take(struct td_req *r)
{
	struct tp_take req;
	struct tp_fd rep;
	struct tp_err e;
	int fds[1], nfds = 0, mflags, fd, rc;
	char byte;
	ssize_t k;

	if ((rc = tp_unpack_take(r->body, &req, &e)) < 0) {
		if (!r->conn->xfer)
			td_take_drain(r->conn->dfd);
		return td_req_fail(r, -rc, "%s", e.msg);
	}
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	k = tp_recv_fds(r->conn->dfd, &byte, 1, MSG_DONTWAIT, fds, 1, &nfds,
			&mflags);
	if (k < 0)
		return td_req_fail(r, k == -EAGAIN ? ENOMSG : (int)-k,
				   "no fd waiting on the data socket");
	if (k != 1 || nfds != 1 || (mflags & MSG_CTRUNC)) {
		if (nfds >= 1)
			close(fds[0]);
		td_take_drain(r->conn->dfd);
		return td_req_fail(r, EBADMSG, "expected one byte with exactly "
				   "one fd, got %zd bytes, %d fds%s", k, nfds,
				   mflags & MSG_CTRUNC ? ", truncated" : "");
	}
	fd = fds[0];
	/* Ours now, and the controller's to keep: no close-on-exec
	 * unless it asks (a worker may inherit it through a fd map). */
	fcntl(fd, F_SETFD, 0);
	/* Labeled as LABEL would (a label of another type: none). */
	if ((req.has & TP_TAKE_LABEL) &&
	    (rc = td_label_set(r, fd, &req.label, NULL)) < 0) {
		close(fd);
		return rc;
	}
	td_fds_added(fd);
	td_log("took fd %d from pid %d", fd, (int)r->conn->peer_pid);
	rep = (struct tp_fd){ .fd = fd };
	return tp_pack_take_reply(r->w, &rep);
}
