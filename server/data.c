/*
 * The data socket: bytes in chunks, one transfer at a time, driven by
 * readiness in the ring so a slow peer never stalls the server.  Memory
 * stays flat: one chunk buffer per transfer, whatever the file size.
 * GET and PUT stream files; GIVE and TAKE pass fds with SCM_RIGHTS.
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

#include "tetherd.h"

static void td_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t td_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

void td_xfer_free(struct td_xfer *x)
{
	if (!x)
		return;
	if (x->hash)
		XXH3_freeState(x->hash);
	free(x->buf);
	free(x);
}

uint64_t td_xfer_digest(const struct td_xfer *x)
{
	return x->hash ? XXH3_64bits_digest(x->hash) : 0;
}

static void td_xfer_arm(struct td_conn *c, short events)
{
	struct io_uring_sqe *sqe;

	if (c->data_armed || !(sqe = td_sqe(c->srv)))
		return;
	io_uring_prep_poll_add(sqe, c->dfd, events);
	io_uring_sqe_set_data(sqe, &c->ev_data);
	c->data_armed = true;
	c->inflight++;
}

/* The transfer is over: hand it to its op, which answers and frees. */
static void td_xfer_finish(struct td_conn *c, int err)
{
	struct td_xfer *x = c->xfer;

	c->xfer = NULL;
	x->done_cb(c, x, err);
}

/* The next chunk into x->buf: DATA from the source, or END. */
static int td_xfer_fill(struct td_xfer *x)
{
	uint64_t left = x->total - x->done;
	size_t n = left < TETHER_CHUNK_MAX ? (size_t)left : TETHER_CHUNK_MAX;
	ssize_t k;

	if (n == 0) {
		td_be32((unsigned char *)x->buf, 0);
		td_be32((unsigned char *)x->buf + 4, TETHER_CHUNK_END);
		x->blen = TETHER_CHUNK_HDR;
		x->ended = true;
	} else {
		if (x->fd >= 0) {
			do
				k = pread(x->fd, x->buf + TETHER_CHUNK_HDR, n,
					  (off_t)x->done);
			while (k < 0 && errno == EINTR);
			if (k < 0)
				return -errno;
			if (k == 0)
				return -EIO;	/* the file shrank under us */
			n = (size_t)k;
		} else if ((k = td_mem_copy(x->buf + TETHER_CHUNK_HDR,
					    x->mem + x->done, n)) < 0) {
			return (int)k;
		}
		XXH3_64bits_update(x->hash, x->buf + TETHER_CHUNK_HDR, n);
		td_be32((unsigned char *)x->buf, (uint32_t)n);
		td_be32((unsigned char *)x->buf + 4, TETHER_CHUNK_DATA);
		x->blen = TETHER_CHUNK_HDR + n;
		x->done += n;
	}
	x->boff = 0;
	return 0;
}

/* Send an ABORT chunk as far as the socket takes it right now. */
static void td_xfer_send_abort(struct td_conn *c, int err)
{
	unsigned char h[TETHER_CHUNK_HDR];

	td_be32(h, (uint32_t)err);
	td_be32(h + 4, TETHER_CHUNK_ABORT);
	if (send(c->dfd, h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(h))
		td_conn_close(c, "data socket stuck during an abort");
}

static void td_xfer_send_pump(struct td_conn *c)
{
	struct td_xfer *x = c->xfer;
	ssize_t n;
	int rc;

	for (;;) {
		if (x->boff == x->blen) {
			if (x->ended) {
				td_xfer_finish(c, 0);
				return;
			}
			/* A partial chunk never goes out: the header says
			 * how long it is, so only a whole one may follow. */
			if ((rc = td_xfer_fill(x)) < 0) {
				td_xfer_send_abort(c, -rc);
				td_xfer_finish(c, -rc);
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
			td_xfer_finish(c, -errno);
			return;
		}
		x->boff += (size_t)n;
	}
}

/* Bytes of a DATA chunk into the sink. */
static int td_xfer_sink(struct td_xfer *x, const char *p, size_t n)
{
	ssize_t k;

	if (n > x->total - x->done)
		return -EFBIG;
	XXH3_64bits_update(x->hash, p, n);
	if (x->fd < 0) {
		int rc = td_mem_copy(x->mem + x->done, p, n);

		if (rc < 0)
			return rc;
		x->done += n;
		return 0;
	}
	while (n) {
		k = pwrite(x->fd, p, n, (off_t)x->done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
		x->done += (uint64_t)k;
	}
	return 0;
}

/* Read chunks; returns 1 at END or ABORT (the stream is in step, x->err
 * says how it went), 0 to wait, -errno when the stream itself broke. */
static int td_xfer_recv_some(struct td_conn *c)
{
	struct td_xfer *x = c->xfer;
	uint32_t len, kind;
	ssize_t n;
	int rc;

	for (;;) {
		if (x->hdr_have < TETHER_CHUNK_HDR) {
			n = recv(c->dfd, x->hdr + x->hdr_have,
				 TETHER_CHUNK_HDR - x->hdr_have, MSG_DONTWAIT);
		} else {
			size_t want = x->chunk_left < TETHER_CHUNK_MAX
					      ? x->chunk_left
					      : TETHER_CHUNK_MAX;

			n = recv(c->dfd, x->buf, want, MSG_DONTWAIT);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if (x->hdr_have < TETHER_CHUNK_HDR) {
			x->hdr_have += (size_t)n;
			if (x->hdr_have < TETHER_CHUNK_HDR)
				continue;
			len = td_get_be32(x->hdr);
			kind = td_get_be32(x->hdr + 4);
			x->hdr_have = 0;
			if (kind == TETHER_CHUNK_END)
				return 1;
			if (kind == TETHER_CHUNK_ABORT) {
				if (!x->err)
					x->err = -(len > 0 && len < 4096
							   ? (int)len
							   : ECANCELED);
				return 1;
			}
			if (kind != TETHER_CHUNK_DATA || len > TETHER_CHUNK_MAX)
				return -EPROTO;
			x->chunk_left = len;
			if (len)
				x->hdr_have = TETHER_CHUNK_HDR;
		} else {
			/* After a failure the bytes are only drained: the
			 * sender cannot hear us until its END or ABORT. */
			if (!x->err &&
			    (rc = td_xfer_sink(x, x->buf, (size_t)n)) < 0)
				x->err = rc;
			x->chunk_left -= (uint32_t)n;
			if (x->chunk_left == 0)
				x->hdr_have = 0;
		}
	}
}

static void td_xfer_recv_pump(struct td_conn *c)
{
	int rc = td_xfer_recv_some(c);

	if (rc == 0) {
		td_xfer_arm(c, POLLIN);
		return;
	}
	td_xfer_finish(c, rc > 0 ? c->xfer->err : rc);
	/* A broken stream (bad chunk kind, reset) is out of step for good:
	 * the connection goes after the answer. */
	if (rc < 0 && rc != -ECONNRESET && !c->closing)
		td_conn_close(c, "data stream failed");
}

int td_xfer_start(struct td_conn *c, struct td_xfer *x)
{
	if (c->xfer)
		return -EBUSY;
	if (!(x->hash = XXH3_createState()) ||
	    !(x->buf = malloc(TETHER_CHUNK_HDR + TETHER_CHUNK_MAX)))
		return -ENOMEM;
	XXH3_64bits_reset(x->hash);
	c->xfer = x;
	if (x->sending)
		td_xfer_send_pump(c);
	else
		td_xfer_recv_pump(c);
	return 0;
}

void td_xfer_event(struct td_conn *c, int res)
{
	c->data_armed = false;
	if (c->closing || !c->xfer)
		return;
	if (res < 0 && res != -ECANCELED) {
		td_xfer_finish(c, res);
		return;
	}
	if (c->xfer->sending)
		td_xfer_send_pump(c);
	else
		td_xfer_recv_pump(c);
}

/* The connection ends mid-transfer: the op cleans up (a PUT leaves no
 * file behind). */
void td_xfer_abort(struct td_conn *c, int err)
{
	if (c->xfer)
		td_xfer_finish(c, err);
}

/* ---- GET ---------------------------------------------------------------- */

static void td_xfer_final(struct td_conn *c, struct td_xfer *x, int err,
			  const char *path)
{
	struct tp_msg m;

	tp_msg_init(&m);
	if (err)
		tp_msg_error(&m, x->id, -err, "transfer failed: %s",
			     strerror(-err));
	else {
		tp_msg_reply(&m, x->id, 0);
		msgpack_pack_map(&m.pk, 4);
		tp_pack_kv_bool(&m.pk, "done", true);
		tp_pack_kv_int(&m.pk, "bytes", (int64_t)x->done);
		tp_pack_kv_int(&m.pk, "xxh3", (int64_t)td_xfer_digest(x));
		tp_pack_kv_str(&m.pk, "path", path);
		tp_msg_finish(&m);
	}
	if (!c->closing)
		td_conn_queue(c, &m);
	tp_msg_destroy(&m);
}

static void td_get_done(struct td_conn *c, struct td_xfer *x, int err)
{
	td_ifd_close(x->fd);
	td_xfer_final(c, x, err, NULL);
	if (!err)
		td_log("GET sent %llu bytes", (unsigned long long)x->done);
	td_xfer_free(x);
}

static int td_path_arg(struct td_req *r, const msgpack_object *o, char *buf,
		       size_t size)
{
	const char *p;
	size_t n;

	if (tp_obj_str(o, &p, &n) < 0 || n == 0 || n >= size ||
	    memchr(p, '\0', n))
		return td_req_fail(r, EINVAL, "path must be a non-empty string "
				   "under %zu bytes", size);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

/* GET [path]: {"size", "mode"} now, the bytes as chunks, then
 * {"done", "bytes", "xxh3"} under the same id. */
int td_do_get(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	char path[PATH_MAX];
	struct td_xfer *x;
	struct stat st;
	struct tp_msg m;
	int fd, rc;

	if (!b || nb != 1)
		return td_req_fail(r, EPROTO, "GET body is [path]");
	if ((rc = td_path_arg(r, &b[0], path, sizeof(path))) < 0)
		return rc;
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	/* GET reads a file: under a policy, only if openat for reading is
	 * allowed (the path itself is not something a filter can see). */
	if ((rc = td_policy_check_op(r, "GET", SYS_openat, (uint64_t)AT_FDCWD,
				     0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
				     O_NOCTTY, 0)) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return td_req_fail(r, errno, "open %s: %s", path,
				   strerror(errno));
	/* The server's own while the transfer lasts: GC must not see it. */
	if ((fd = td_ifd_adopt(fd, "GET file")) < 0)
		return td_req_fail(r, -fd, "no room for the file");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		td_ifd_close(fd);
		return td_req_fail(r, EINVAL, "%s is not a regular file", path);
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		td_ifd_close(fd);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	x->sending = true;
	x->id = r->id;
	x->fd = fd;
	x->total = (uint64_t)st.st_size;
	x->done_cb = td_get_done;
	/* The size first, so the controller knows what is coming. */
	tp_msg_init(&m);
	tp_msg_reply(&m, r->id, 0);
	msgpack_pack_map(&m.pk, 2);
	tp_pack_kv_int(&m.pk, "size", st.st_size);
	tp_pack_kv_int(&m.pk, "mode", st.st_mode & 07777);
	if (tp_msg_finish(&m) == 0)
		td_conn_queue(r->conn, &m);
	tp_msg_destroy(&m);
	if ((rc = td_xfer_start(r->conn, x)) < 0) {
		td_ifd_close(fd);
		td_xfer_free(x);
		return td_req_fail(r, -rc, "transfer: %s", strerror(-rc));
	}
	return TD_REPLY_LATER;
}

/* ---- PUT ---------------------------------------------------------------- */

struct td_put {
	char path[PATH_MAX];
	char dir[PATH_MAX];
	int dirfd;
	bool tmpfile;			/* O_TMPFILE: no name until done */
	char tmpname[NAME_MAX + 1];	/* else the temporary's name */
	mode_t mode;
};

/* Give the finished temporary the target's name: fsync, then link it
 * under a unique name and rename that over the target, so readers see
 * the old file or the new one, never a part. */
static int td_put_publish(struct td_xfer *x, struct td_put *p)
{
	const char *base = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1
						 : p->path;
	char proc[64];

	if (fsync(x->fd) < 0)
		return -errno;
	if (p->tmpfile) {
		snprintf(p->tmpname, sizeof(p->tmpname), ".%.200s.tether-%d-%llx",
			 base, (int)getpid(), (unsigned long long)x->id);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", x->fd);
		if (linkat(AT_FDCWD, proc, p->dirfd, p->tmpname,
			   AT_SYMLINK_FOLLOW) < 0)
			return -errno;
	}
	if (renameat(p->dirfd, p->tmpname, p->dirfd, base) < 0) {
		int err = -errno;

		unlinkat(p->dirfd, p->tmpname, 0);
		return err;
	}
	fsync(p->dirfd);
	return 0;
}

static void td_put_done(struct td_conn *c, struct td_xfer *x, int err)
{
	struct td_put *p = x->arg;

	if (!err)
		err = td_put_publish(x, p);
	else if (!p->tmpfile)
		unlinkat(p->dirfd, p->tmpname, 0);
	/* Closed before the answer goes out, so a controller that counts
	 * the server's fds on hearing it sees them gone. */
	td_ifd_close(x->fd);
	td_ifd_close(p->dirfd);
	td_xfer_final(c, x, err, p->path);
	td_log("PUT %s: %s (%llu bytes)", p->path, err ? strerror(-err) : "ok",
	       (unsigned long long)x->done);
	free(p);
	td_xfer_free(x);
}

/* A temporary file in the target's directory: O_TMPFILE where the
 * filesystem has it, else a unique name made with O_EXCL. */
static int td_put_open(struct td_put *p, uint64_t id)
{
	const char *base;
	char *slash;
	int fd;

	snprintf(p->dir, sizeof(p->dir), "%s", p->path);
	slash = strrchr(p->dir, '/');
	if (!slash)
		snprintf(p->dir, sizeof(p->dir), ".");
	else if (slash == p->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	base = strrchr(p->path, '/') ? strrchr(p->path, '/') + 1 : p->path;
	if (!*base)
		return -EISDIR;
	p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0)
		return -errno;
	if ((p->dirfd = td_ifd_adopt(p->dirfd, "PUT directory")) < 0)
		return p->dirfd;
	fd = openat(p->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, p->mode);
	if (fd >= 0) {
		p->tmpfile = true;
		return td_ifd_adopt(fd, "PUT file");
	}
	snprintf(p->tmpname, sizeof(p->tmpname), ".%.200s.tether-%d-%llx",
		 base, (int)getpid(), (unsigned long long)id);
	fd = openat(p->dirfd, p->tmpname, O_WRONLY | O_CREAT | O_EXCL |
					       O_NOFOLLOW | O_CLOEXEC, p->mode);
	return fd < 0 ? -errno : td_ifd_adopt(fd, "PUT file");
}

/* PUT [path, mode]: {"ready"} now, then the controller's chunks, then
 * {"done", "bytes", "xxh3", "path"}. */
int td_do_put(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_put *p;
	struct td_xfer *x;
	struct tp_msg m;
	int64_t mode = 0644;
	int fd, rc;

	if (!b || nb < 1 || nb > 2 || (nb == 2 && tp_obj_i64(&b[1], &mode) < 0))
		return td_req_fail(r, EPROTO, "PUT body is [path, mode]");
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	if (!(p = calloc(1, sizeof(*p))))
		return td_req_fail(r, ENOMEM, "out of memory");
	p->dirfd = -1;
	p->mode = (mode_t)mode & 07777;
	if ((rc = td_path_arg(r, &b[0], p->path, sizeof(p->path))) < 0)
		goto fail;
	/* PUT creates or replaces a file: checked as the open for writing
	 * it amounts to. */
	if ((rc = td_policy_check_op(r, "PUT", SYS_openat, (uint64_t)AT_FDCWD,
				     0, O_WRONLY | O_CREAT | O_TRUNC |
				     O_CLOEXEC, p->mode)) < 0)
		goto fail;
	if ((fd = td_put_open(p, r->id)) < 0) {
		rc = td_req_fail(r, -fd, "%s: %s", p->path, strerror(-fd));
		goto fail;
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		td_ifd_close(fd);
		rc = td_req_fail(r, ENOMEM, "out of memory");
		goto fail;
	}
	x->id = r->id;
	x->fd = fd;
	x->total = UINT64_MAX;
	x->done_cb = td_put_done;
	x->arg = p;
	tp_msg_init(&m);
	tp_msg_reply(&m, r->id, 0);
	msgpack_pack_map(&m.pk, 1);
	tp_pack_kv_bool(&m.pk, "ready", true);
	if (tp_msg_finish(&m) == 0)
		td_conn_queue(r->conn, &m);
	tp_msg_destroy(&m);
	if ((rc = td_xfer_start(r->conn, x)) < 0) {
		x->done_cb(r->conn, x, rc);
		return TD_REPLY_LATER;
	}
	return TD_REPLY_LATER;
fail:
	if (p->dirfd >= 0)
		td_ifd_close(p->dirfd);
	free(p);
	return rc;
}

/* ---- GIVE and TAKE ------------------------------------------------------- */

/* GIVE [fd]: a duplicate of our fd to the controller, on the data
 * socket with one byte. */
int td_do_give(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	struct cmsghdr *cm;
	int64_t fd;
	int f;

	if (!b || nb != 1 || tp_obj_i64(&b[0], &fd) < 0)
		return td_req_fail(r, EPROTO, "GIVE body is [fd]");
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	if (fd < 0 || fd > INT32_MAX || td_ifd_is((int)fd) ||
	    fcntl((int)fd, F_GETFD) < 0)
		return td_req_fail(r, EBADF, "fd %lld is not open",
				   (long long)fd);
	f = (int)fd;
	memset(cbuf.b, 0, sizeof(cbuf.b));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &f, sizeof(int));
	if (sendmsg(r->conn->dfd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		return td_req_fail(r, errno ? errno : EIO, "sending the fd: %s",
				   strerror(errno));
	msgpack_pack_map(r->pk, 1);
	tp_pack_kv_int(r->pk, "fd", f);
	return 0;
}

/* A refused TAKE drops whatever else waits on the idle data socket, fds
 * closed: a TAKE sent behind junk must not get the junk's neighbour, and
 * the next one must find only its own fd. */
static void td_take_drain(int dfd)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	char junk[4096];
	int fds[253], nfds;

	for (int i = 0; i < 256; i++) {
		struct iovec iov = { junk, sizeof(junk) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf.b,
				      .msg_controllen = sizeof(cbuf.b) };

		if (recvmsg(dfd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
			return;
		nfds = tp_cmsg_fds(&msg, fds, 253);
		for (int j = 0; j < nfds && j < 253; j++)
			close(fds[j]);
	}
}

/* TAKE [] or [label]: the controller sent one byte with one fd on the
 * data socket before asking; it becomes one of ours (lowest free). */
int td_do_take(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	int fds[253], nfds = 0, fd, rc;
	ssize_t k;

	if (!b || nb > 1) {
		if (!r->conn->xfer)
			td_take_drain(r->conn->dfd);
		return td_req_fail(r, EPROTO, "TAKE body is [] or [label]");
	}
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	k = recvmsg(r->conn->dfd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (k < 0)
		return td_req_fail(r, errno == EAGAIN ? ENOMSG : errno,
				   "no fd waiting on the data socket");
	nfds = tp_cmsg_fds(&msg, fds, 253);
	if (k != 1 || nfds != 1 || (msg.msg_flags & MSG_CTRUNC)) {
		for (int i = 0; i < nfds && i < 253; i++)
			close(fds[i]);
		td_take_drain(r->conn->dfd);
		return td_req_fail(r, EBADMSG, "expected one byte with exactly "
				   "one fd, got %zd bytes, %d fds%s", k, nfds,
				   msg.msg_flags & MSG_CTRUNC ? ", truncated"
							      : "");
	}
	fd = fds[0];
	/* Ours now, and the controller's to keep: no close-on-exec
	 * unless it asks (a worker may inherit it through a fd map). */
	fcntl(fd, F_SETFD, 0);
	if (nb == 1 && b[0].type == MSGPACK_OBJECT_STR) {
		struct tp_msg m;
		struct td_req lr = { .conn = r->conn, .srv = r->srv,
				     .id = r->id };
		msgpack_object body[2];
		msgpack_object arr;

		/* Reuse LABEL on [fd, name]. */
		body[0].type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		body[0].via.u64 = (uint64_t)fd;
		body[1] = b[0];
		arr.type = MSGPACK_OBJECT_ARRAY;
		arr.via.array.size = 2;
		arr.via.array.ptr = body;
		lr.body = &arr;
		tp_msg_init(&m);
		lr.pk = &m.pk;
		rc = td_do_label(&lr);
		tp_msg_destroy(&m);
		if (rc < 0) {
			close(fd);
			snprintf(r->err, sizeof(r->err), "%s", lr.err);
			return rc;
		}
	}
	td_fds_changed();
	td_log("took fd %d from pid %d", fd, (int)r->conn->peer_pid);
	msgpack_pack_map(r->pk, 1);
	tp_pack_kv_int(r->pk, "fd", fd);
	return 0;
}
