/*
 * The data socket from the controller's side: files in and out (GET,
 * PUT), remote memory (MEM_*), and fds both ways (GIVE, TAKE).  Bytes go
 * in chunks of at most 1 MiB, so memory stays flat whatever the size,
 * and both ends hash what passed (XXH3-64) so the caller can compare.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "hash.h"

#include "libtether.h"

/* Where a stream's bytes come from or go: an fd or a buffer. */
struct tl_end {
	int fd;
	char *mem;
	uint64_t len;			/* buffer size (mem) */
	uint64_t done;
	struct tp_hash *hash;
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *parg;
	uint64_t total;			/* for progress; 0 if unknown */
	bool refused;			/* the request itself was refused */
	bool unseen;			/* GET's fd path, no info: no one can
					 * read the hash, so none is made */
	int lerr;			/* fd path: the local side failed */
};

static int tl_send_chunk(struct tether *t, uint32_t kind, const void *p,
			 uint32_t n)
{
	unsigned char h[TETHER_CHUNK_HDR];
	int rc;

	if ((rc = tl_settle(t, false)) < 0)
		return rc;
	tp_put_be32(h, n);
	tp_put_be32(h + 4, kind);
	if ((rc = tp_write_all(t->dfd, h, sizeof(h))) < 0 ||
	    (n && (rc = tp_write_all(t->dfd, p, n)) < 0))
		return rc;
	return 0;
}

/* Stream `end` to the server until EOF (fd) or its length (mem). */
static int tl_stream_out(struct tether *t, struct tl_end *e, char *buf)
{
	int rc;

	for (;;) {
		ssize_t n;

		if (e->fd >= 0) {
			do
				n = read(e->fd, buf, TETHER_CHUNK_MAX);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				rc = -errno;
				tl_send_chunk(t, TETHER_CHUNK_ABORT, NULL,
					      (uint32_t)-rc);
				return rc;
			}
		} else {
			uint64_t left = e->len - e->done;

			n = (ssize_t)(left < TETHER_CHUNK_MAX ? left
							      : TETHER_CHUNK_MAX);
			memcpy(buf, e->mem + e->done, (size_t)n);
		}
		if (n == 0)
			return tl_send_chunk(t, TETHER_CHUNK_END, NULL, 0);
		tp_hash_update(e->hash, buf, (size_t)n);
		if ((rc = tl_send_chunk(t, TETHER_CHUNK_DATA, buf,
					(uint32_t)n)) < 0)
			return rc;
		e->done += (uint64_t)n;
		if (e->progress)
			e->progress(e->done, e->total, e->parg);
	}
}

/* Read chunks from the server into `end` until END.  After a local
 * failure (a full disk, a closed pipe) the rest is read and dropped: the
 * server cannot hear us until it has sent its END, and the connection
 * stays usable.  Only a broken stream returns at once. */
static int tl_stream_in(struct tether *t, struct tl_end *e, char *buf)
{
	unsigned char h[TETHER_CHUNK_HDR];
	uint32_t len, kind;
	int rc, local = 0;

	for (;;) {
		if ((rc = tp_read_all(t->dfd, h, sizeof(h))) < 0)
			return rc;
		len = tp_get_be32(h);
		kind = tp_get_be32(h + 4);
		if (kind == TETHER_CHUNK_END)
			return local;
		if (kind == TETHER_CHUNK_ABORT)
			return local ? local : -tp_chunk_abort_errno(len, EIO);
		if (kind != TETHER_CHUNK_DATA || len > TETHER_CHUNK_MAX)
			return -EPROTO;
		if ((rc = tp_read_all_hashed(t->dfd, buf, len,
					     local ? NULL : e->hash)) < 0)
			return rc;
		if (local)
			continue;
		if (e->fd >= 0) {
			if ((rc = tp_write_all(e->fd, buf, len)) < 0) {
				local = rc;
				continue;
			}
		} else {
			if (len > e->len - e->done) {
				local = -EFBIG;
				continue;
			}
			memcpy(e->mem + e->done, buf, len);
		}
		e->done += len;
		if (e->progress)
			e->progress(e->done, e->total, e->parg);
	}
}

static int tl_buffer_stream(struct tether *t, void *buf, size_t len, bool out)
{
	struct tl_end e = { .fd = -1, .mem = buf, .len = len };
	char *chunk;
	int rc;

	/* the data socket is read or written once the HELLO's answer is */
	if ((rc = tl_settle(t, false)) < 0)
		return rc;
	chunk = tl_chunk_alloc(TETHER_CHUNK_MAX);
	if (!chunk || !(e.hash = tp_hash_new())) {
		free(chunk);
		return tl_fail(t, ENOMEM, "out of memory");
	}
	tp_hash_reset(e.hash);
	rc = out ? tl_stream_out(t, &e, chunk) : tl_stream_in(t, &e, chunk);
	if (rc == 0 && !out && e.done != len)
		rc = -EIO;
	tp_hash_free(e.hash);
	free(chunk);
	return rc < 0 ? tl_lost(t, tl_fail(t, -rc, "data socket: %s",
					   strerror(-rc)))
		      : 0;
}

int tl_send_buffer(struct tether *t, const void *buf, size_t len)
{
	return tl_buffer_stream(t, (void *)buf, len, true);
}

int tl_recv_buffer(struct tether *t, void *buf, size_t len)
{
	return tl_buffer_stream(t, buf, len, false);
}

struct tl_reply {
	uint64_t bytes;
	uint64_t xxh3;
	int64_t size;
	bool fdpass;			/* the file's fd is on the data socket */
};

/* The interim reply: a transfer's size to expect (GET, MEM_READ), or
 * that the server is ready for ours (PUT, MEM_WRITE). */
static int tl_got_ready(struct tether *t, unsigned op,
			const msgpack_object *body, struct tl_reply *r)
{
	const struct tp_desc *d = op == TETHER_OP_GET ? &tp_get_ready_desc
				  : op == TETHER_OP_MEM_READ
				  ? &tp_mem_read_ready_desc
				  : op == TETHER_OP_PUT ? &tp_put_ready_desc
							: &tp_mem_write_ready_desc;
	struct tp_ready m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack(body, d, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	r->size = op == TETHER_OP_GET || op == TETHER_OP_MEM_READ
		  ? (int64_t)m.size : -1;
	r->fdpass = (m.has & TP_READY_FDPASS) && m.fdpass;
	return 0;
}

/* The final reply: what passed on the server's side. */
static int tl_got_done(struct tether *t, const msgpack_object *body,
		       struct tl_reply *r)
{
	struct tp_xfer_done m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_xfer_done(body, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	r->bytes = m.bytes;
	r->xxh3 = m.xxh3;
	return 0;
}

/* GET through the passed file: what the stream would have brought, read
 * here from the very file the server opened and checked. */
static int tl_fd_take(const void *p, size_t n, void *arg)
{
	struct tl_end *e = arg;
	int rc;

	/* The hash is a report here, not a check (tl_fd_in), and it costs
	 * a fifth of the copy: only made when it can be read. */
	if (!e->unseen)
		tp_hash_update(e->hash, p, n);
	if ((rc = tp_write_all(e->fd, p, n)) < 0)
		return e->lerr = rc;
	e->done += n;
	if (e->progress)
		e->progress(e->done, e->total, e->parg);
	return 0;
}

/* GET's fd: exactly the size the server stated at its open; a file
 * grown since ends there, one shrunk is -EIO.  No final answer comes:
 * the bytes never passed through the server, so both hashes are ours
 * (and, for a caller without a tether_xfer, not made at all). */
static int tl_fd_in(struct tether *t, struct tl_end *e, uint64_t size,
		    struct tl_reply *last)
{
	int fd = tl_fdpass_ro(t, tl_recv_fd(t)), rc;

	if (fd < 0)
		return fd;
	rc = tl_fdpass_read(t, fd, 0, size,
			    e->unseen ? TL_FDPASS_WINDOW_BARE : TL_FDPASS_WINDOW,
			    tl_fd_take, e);
	close(fd);
	if (e->lerr)
		rc = tl_fail(t, -e->lerr, "local side: %s", strerror(-e->lerr));
	last->bytes = e->done;
	last->xxh3 = tp_hash_digest(e->hash);
	return rc;
}

/* The source's next bytes into buf: count, 0 at its end, -errno. */
static ssize_t tl_end_read(struct tl_end *e, char *buf, size_t max)
{
	ssize_t n;

	if (e->fd < 0) {
		uint64_t left = e->len - e->done;

		n = (ssize_t)(left < max ? left : max);
		memcpy(buf, e->mem + e->done, (size_t)n);
		return n;
	}
	do
		n = read(e->fd, buf, max);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* PUT into the server's temporary through its fd: we write it, then
 * say on the data socket how many bytes and their XXH3 (FDDONE); the
 * server reads it back, checks, and publishes as it always does.  A
 * local failure is an ABORT: the server discards the temporary. */
static int tl_fd_out(struct tether *t, struct tl_end *e, char *buf)
{
	unsigned char d[TETHER_CHUNK_HDR + TETHER_FDDONE_LEN];
	int fd = tl_recv_fd(t), rc = 0;
	uint64_t h;
	ssize_t n;

	/* The server waits for FDDONE or ABORT before it answers. */
	if (fd < 0) {
		tl_send_chunk(t, TETHER_CHUNK_ABORT, NULL, (uint32_t)-fd);
		return fd;
	}
	while ((n = tl_end_read(e, buf, TETHER_CHUNK_MAX)) > 0) {
		tp_hash_update(e->hash, buf, (size_t)n);
		if ((rc = tp_write_all(fd, buf, (size_t)n)) < 0)
			break;
		e->done += (uint64_t)n;
		if (e->progress)
			e->progress(e->done, e->total, e->parg);
	}
	if (n < 0)
		rc = (int)n;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0) {
		tl_send_chunk(t, TETHER_CHUNK_ABORT, NULL, (uint32_t)-rc);
		return rc;
	}
	h = tp_hash_digest(e->hash);
	tp_put_be32(d, TETHER_FDDONE_LEN);
	tp_put_be32(d + 4, TETHER_CHUNK_FDDONE);
	tp_put_be64(d + 8, e->done);
	tp_put_be64(d + 16, h);
	return tp_write_all(t->dfd, d, sizeof(d));
}

/* A transfer's request, its first answer, the stream, its last answer. */
static int tl_transfer(struct tether *t, unsigned op,
		       int (*pack)(struct tp_w *w, const void *arg),
		       const void *parg, bool out, struct tl_end *e,
		       struct tether_xfer *info)
{
	struct tp_msg m;
	struct tp_in in;
	struct tl_reply first = { 0, 0, -1, false }, last = { 0, 0, -1, false };
	uint64_t id = tl_next_id(t);
	char *buf = NULL;
	int rc, src;

	if (!(e->hash = tp_hash_new()) ||
	    !(buf = tl_chunk_alloc(TETHER_CHUNK_MAX))) {
		rc = tl_fail(t, ENOMEM, "out of memory");
		goto out;
	}
	tp_hash_reset(e->hash);
	tp_msg_init(&m);
	tp_msg_request(&m, id, op);
	pack(&m.w, parg);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0) {
		e->refused = true;
		goto out;
	}
	rc = tl_got_ready(t, op, in.body, &first);
	tp_in_destroy(&in);
	if (rc < 0)
		goto out;
	if (first.size >= 0 && !e->total)
		e->total = (uint64_t)first.size;
	if (first.fdpass && !out) {
		/* GET through the file itself: no stream, no last answer. */
		rc = tl_fd_in(t, e, first.size < 0 ? 0 : (uint64_t)first.size,
			      &last);
		src = 0;
	} else {
		src = !first.fdpass ? out ? tl_stream_out(t, e, buf)
					  : tl_stream_in(t, e, buf)
				    : tl_fd_out(t, e, buf);
		/* The last answer says how it went on the server's side;
		 * it is the better error when both ends failed. */
		rc = tl_rpc_more(t, id, &in);
	}
	if (rc == 0 && !(first.fdpass && !out)) {
		rc = tl_got_done(t, in.body, &last);
		tp_in_destroy(&in);
	}
	if (rc == 0 && src < 0)
		rc = tl_fail(t, -src, "local side: %s", strerror(-src));
	if (rc == 0 && info) {
		info->bytes = e->done;
		info->local_xxh3 = tp_hash_digest(e->hash);
		info->remote_xxh3 = last.xxh3;
		info->remote_bytes = last.bytes;
		info->size = first.size;
	}
	if (rc == 0 && (last.bytes != e->done ||
			last.xxh3 != tp_hash_digest(e->hash)))
		rc = tl_fail(t, EIO, "checksums differ: %llu bytes here, %llu "
			     "there", (unsigned long long)e->done,
			     (unsigned long long)last.bytes);
out:
	if (e->hash)
		tp_hash_free(e->hash);
	free(buf);
	return rc;
}

struct tl_put_arg {
	const char *path;
	int mode;
	bool fdpass;
};

static int tl_pack_path(struct tp_w *w, const void *arg)
{
	const struct tl_put_arg *a = arg;
	struct tp_path m = { .has = TP_PATH_PATH |
				    (a->fdpass ? TP_PATH_FDPASS : 0),
			     .path = tp_str(a->path), .fdpass = a->fdpass };

	return tp_pack_get(w, &m);
}

static int tl_pack_put(struct tp_w *w, const void *arg)
{
	const struct tl_put_arg *a = arg;
	struct tp_path m = { .has = TP_PATH_PATH | TP_PATH_MODE |
				    (a->fdpass ? TP_PATH_FDPASS : 0),
			     .path = tp_str(a->path), .mode = a->mode,
			     .fdpass = a->fdpass };

	return tp_pack_put(w, &m);
}

/* GET or PUT, through an fd where we may; a server that does not know
 * the fdpass element refuses the request (EPROTO), and from then on
 * this connection streams. */
static int tl_file_xfer(struct tether *t, unsigned op, struct tl_put_arg *a,
			struct tl_end *e, struct tether_xfer *x)
{
	struct tl_end e0 = *e;
	int rc;

	a->fdpass = tl_fdpass_ok(t);
	rc = tl_transfer(t, op, op == TETHER_OP_GET ? tl_pack_path
						   : tl_pack_put,
			 a, op == TETHER_OP_PUT, e, x);
	if (rc == -EPROTO && e->refused && a->fdpass) {
		t->fdpass_refused = true;
		a->fdpass = false;
		*e = e0;
		rc = tl_transfer(t, op, op == TETHER_OP_GET ? tl_pack_path
							   : tl_pack_put,
				 a, op == TETHER_OP_PUT, e, x);
	}
	return rc;
}

/* The caller's tether_xfer (NULL: none) in, as far as it reaches. */
static int tl_xfer_in(struct tether *t, struct tether_xfer *x,
		      const struct tether_xfer *user, struct tl_end *e)
{
	int rc = tl_opts_in(t, x, sizeof(*x), user,
			    TL_V1_SIZE(struct tether_xfer, remote_xxh3));

	e->progress = x->progress;
	e->parg = x->progress_arg;
	return rc;
}

TETHER_API int tether_get(struct tether *t, const char *remote, int fd,
			  struct tether_xfer *info)
{
	struct tl_put_arg a = { remote, 0, false };
	struct tl_end e = { .fd = fd, .unseen = !info };
	struct tether_xfer x;
	int rc;

	if (!remote || fd < 0)
		return tl_fail(t, EINVAL, "no path or fd");
	if ((rc = tl_xfer_in(t, &x, info, &e)) < 0)
		return rc;
	rc = tl_file_xfer(t, TETHER_OP_GET, &a, &e, &x);
	if (rc == 0 && info)
		tl_opts_out(info, &x, sizeof(x));
	return rc;
}

TETHER_API int tether_put(struct tether *t, int fd, const char *remote,
			  int mode, struct tether_xfer *info)
{
	struct tl_put_arg a = { remote, mode, false };
	struct tl_end e = { .fd = fd };
	struct tether_xfer x;
	int rc;

	if (!remote || fd < 0)
		return tl_fail(t, EINVAL, "no path or fd");
	if ((rc = tl_xfer_in(t, &x, info, &e)) < 0)
		return rc;
	e.total = x.size > 0 ? (uint64_t)x.size : 0;
	rc = tl_file_xfer(t, TETHER_OP_PUT, &a, &e, &x);
	if (rc == 0 && info)
		tl_opts_out(info, &x, sizeof(x));
	return rc;
}

/* ---- remote memory ------------------------------------------------------ */

static int tl_pack_mem_alloc(struct tp_w *w, const void *arg)
{
	struct tp_mem_req m = { .size = *(const uint64_t *)arg };

	return tp_pack_mem_alloc(w, &m);
}

static int tl_pack_mem_free(struct tp_w *w, const void *arg)
{
	struct tp_mem_req m = { .addr = *(const uint64_t *)arg };

	return tp_pack_mem_free(w, &m);
}

/* [addr, len] of MEM_WRITE and MEM_READ. */
static int tl_pack_mem_write(struct tp_w *w, const void *arg)
{
	const uint64_t *v = arg;
	struct tp_mem_req m = { .addr = v[0], .size = v[1] };

	return tp_pack_mem_write(w, &m);
}

static int tl_pack_mem_read(struct tp_w *w, const void *arg)
{
	const uint64_t *v = arg;
	struct tp_mem_req m = { .addr = v[0], .size = v[1] };

	return tp_pack_mem_read(w, &m);
}

static int tl_got_addr(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tp_mem m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_mem_alloc_reply(body, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	*(uint64_t *)arg = m.addr;
	return 0;
}

TETHER_API int tether_mem_alloc(struct tether *t, uint64_t size,
				uint64_t *addr)
{
	return tl_request(t, TETHER_OP_MEM_ALLOC, tl_pack_mem_alloc, &size,
			  tl_got_addr, addr);
}

TETHER_API int tether_mem_free(struct tether *t, uint64_t addr)
{
	return tl_request(t, TETHER_OP_MEM_FREE, tl_pack_mem_free, &addr, NULL,
			  NULL);
}

TETHER_API int tether_mem_write(struct tether *t, uint64_t addr,
				const void *buf, size_t len)
{
	uint64_t a[2] = { addr, len };
	struct tl_end e = { .fd = -1, .mem = (char *)buf, .len = len };

	return tl_transfer(t, TETHER_OP_MEM_WRITE, tl_pack_mem_write, a, true, &e,
			   NULL);
}

TETHER_API int tether_mem_read(struct tether *t, uint64_t addr, void *buf,
			       size_t len)
{
	uint64_t a[2] = { addr, len };
	struct tl_end e = { .fd = -1, .mem = buf, .len = len };

	return tl_transfer(t, TETHER_OP_MEM_READ, tl_pack_mem_read, a, false, &e,
			   NULL);
}

struct tl_mems {
	struct tether_mem *v;
	size_t n;
};

static int tl_got_mems(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_mems *ms = arg;
	struct tp_mem_list r;
	struct tp_mem x;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_mem_list_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.mems.n && !(ms->v = calloc(r.mems.n, sizeof(*ms->v))))
		return tl_fail(t, ENOMEM, "out of memory");
	for (uint32_t i = 0; i < r.mems.n; i++) {
		if ((rc = tp_unpack_mem_entry(&r.mems.o[i], &x, &e)) < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		ms->v[i].addr = x.addr;
		ms->v[i].size = x.size;
		ms->v[i].generation = x.generation;
	}
	ms->n = r.mems.n;
	return 0;
}

TETHER_API int tether_mem_list(struct tether *t, struct tether_mem **v,
			       size_t *n)
{
	struct tl_mems ms = { NULL, 0 };
	int rc = tl_request(t, TETHER_OP_MEM_LIST, NULL, NULL, tl_got_mems,
			    &ms);

	if (rc < 0) {
		free(ms.v);
		return rc;
	}
	*v = ms.v;
	*n = ms.n;
	return 0;
}

/* ---- fds both ways ----------------------------------------------------- */

/* One byte with exactly one fd, or an error and no fd kept. */
int tl_recv_fd(struct tether *t)
{
	int fds[1], nfds, mflags;
	char byte;
	ssize_t n;

	if ((n = tl_settle(t, false)) < 0)
		return (int)n;
	n = tp_recv_fds(t->dfd, &byte, 1, 0, fds, 1, &nfds, &mflags);

	if (n < 0)
		return tl_lost(t, tl_fail(t, (int)-n, "receiving the fd: %s",
					  strerror((int)-n)));
	/* The server closed the data socket: dropped, or taken over. */
	if (n == 0)
		return tl_lost(t, tl_fail(t, ECONNRESET, "receiving the fd: "
					  "server closed the connection"));
	if (n == 1 && nfds == 1 && !(mflags & MSG_CTRUNC))
		return fds[0];
	if (nfds >= 1)
		close(fds[0]);
	return tl_fail(t, EBADMSG, "expected one fd, got %d%s", nfds,
		       mflags & MSG_CTRUNC ? " (truncated)" : "");
}

static int tl_pack_int(struct tp_w *w, const void *arg)
{
	struct tp_fd m = { .fd = *(const int *)arg };

	return tp_pack_give(w, &m);
}

/* fds cross only a local connection: over ssh the relay would read the
 * byte and drop the fd. */
static int tl_fds_here(struct tether *t, const char *what)
{
	if (t->can_pass_fds)
		return 0;
	t->cause = TETHER_CAUSE_REQUEST;
	return tl_fail(t, EOPNOTSUPP, "fds cannot cross a remote (ssh://) "
		       "connection: run %s on the server's host", what);
}

TETHER_API int tether_give(struct tether *t, int fd)
{
	int rc = tl_fds_here(t, "give");

	if (rc < 0)
		return rc;
	rc = tl_request(t, TETHER_OP_GIVE, tl_pack_int, &fd, NULL, NULL);

	return rc < 0 ? rc : tl_recv_fd(t);
}

static int tl_got_fd(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tp_fd m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_take_reply(body, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	*(int *)arg = (int)m.fd;
	return 0;
}

static int tl_pack_take(struct tp_w *w, const void *arg)
{
	struct tp_take m = { .has = arg ? TP_TAKE_LABEL : 0,
			     .label = tp_str(arg) };

	return tp_pack_take(w, &m);
}

TETHER_API int tether_take(struct tether *t, int fd, const char *label)
{
	int sfd = -1, rc, n;

	if ((rc = tl_fds_here(t, "take")) < 0)
		return rc;
	if (tl_pipe_refusal(t))
		return tl_settle(t, false);
	/* behind a pipelined HELLO too: the fd waits in the data socket */
	if ((rc = tl_pipe_send(t, true, "F", 1, fd)) < 0) {
		if (tl_pipe_refusal(t))
			return rc;
		return tl_lost(t, tl_fail(t, -rc, "sending the fd: %s",
					  strerror(-rc)));
	}
	rc = tl_request(t, TETHER_OP_TAKE, tl_pack_take, label, tl_got_fd,
			&sfd);
	/* fd may be sent again only while it is the caller's: a request
	 * that failed before its reply was read reads the answer now (and
	 * the connect's refusal is the better error) */
	if (t->pipe && (n = tl_settle(t, false)) < 0)
		rc = n;
	tl_pipe_unpass(t);
	if (rc == 0 && (rc = tether_fd_hold(t, sfd)) == 0)
		rc = sfd;
	return rc;
}
