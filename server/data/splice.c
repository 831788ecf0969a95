/*
 * A file sent on the data socket by splice: its page-cache pages go
 * into a pipe and from the pipe into the socket with no copy between,
 * and the server still hashes every byte it sends, from a tee of the
 * pipe read here.  One copy fewer than read-then-send: a streamed GET
 * went from 0.87 to 0.95-0.98 of a raw socket copy on one CPU
 * (bench_data).
 *
 * Both splices run in the ring, that is on io-wq threads, never on the
 * loop: the file side may wait for a disk, and the socket side for a
 * controller that does not read.  splice() takes its non-blocking mode
 * from the socket's O_NONBLOCK, which is on a file description the
 * controller created and may still hold and clear; send() on the loop
 * has MSG_DONTWAIT, splice has nothing like it.
 *
 * The hashed bytes are the very pages that go out.  A file written in
 * place while it is sent may still change under the pipe (splice pins
 * page-cache pages, it does not snapshot them): the controller's hash
 * then differs and its GET fails with EIO rather than handing over a
 * torn file that looks whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "hash.h"

#include "data.h"
#include "tetherd.h"

/* A pipe of the server's own, holding one chunk: 0 or -errno. */
static int td_splice_pipe(int p[2], const char *rd, const char *wr)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if ((p[0] = td_ifd_adopt(fds[0], rd)) < 0) {
		close(fds[1]);
		return p[0];
	}
	if ((p[1] = td_ifd_adopt(fds[1], wr)) < 0)
		return p[1];
	/* Unprivileged, pipe-max-size (1 MiB by default) bounds it. */
	if (fcntl(p[1], F_SETPIPE_SZ, (int)TETHER_CHUNK_MAX) <
	    (int)TETHER_CHUNK_MAX)
		return -ENOSPC;
	return 0;
}

static void td_splice_close(int p[2])
{
	for (int i = 0; i < 2; i++) {
		if (p[i] >= 0)
			td_ifd_close(p[i]);
		p[i] = -1;
	}
}

bool td_splice_start(struct td_xfer *x)
{
	x->pipe[0] = x->pipe[1] = x->tee[0] = x->tee[1] = -1;
	if (td_splice_pipe(x->pipe, "GET pipe", "GET pipe, in") < 0 ||
	    td_splice_pipe(x->tee, "GET tee", "GET tee, in") < 0) {
		td_splice_close(x->pipe);
		td_splice_close(x->tee);
		return false;
	}
	x->spliced = true;
	return true;
}

void td_splice_stop(struct td_xfer *x)
{
	if (!x->spliced)
		return;
	/* A splice still in the ring holds its own references. */
	td_splice_close(x->pipe);
	td_splice_close(x->tee);
	x->spliced = false;
}

static int td_splice_submit(struct td_xfer *x, int in, int64_t off,
			    int out, size_t len)
{
	struct io_uring_sqe *sqe = td_sqe(x->job->srv);

	if (!sqe)
		return -EAGAIN;
	io_uring_prep_splice(sqe, in, off, out, -1, (unsigned)len, 0);
	td_job_in_ring(x->job, sqe);
	x->io = true;
	return 0;
}

int td_splice_fill(struct td_xfer *x, size_t n)
{
	unsigned char h[TETHER_CHUNK_HDR];

	tp_put_be32(h, (uint32_t)n);
	tp_put_be32(h + 4, TETHER_CHUNK_DATA);
	/* Between chunks the pipe is empty: the header always fits. */
	if (write(x->pipe[1], h, sizeof(h)) != (ssize_t)sizeof(h))
		return -EIO;
	x->chunk_want = n;
	x->chunk_got = 0;
	x->to_socket = false;
	return td_splice_submit(x, x->fd, (int64_t)x->done, x->pipe[1], n);
}

/* The tee of the chunk, header and bytes, into buf. */
static int td_splice_read_tee(struct td_xfer *x, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(x->tee[0], x->buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)	/* it was all there: the tee said so */
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* The chunk is in the pipe: hash a tee of it, then send it (1, or
 * -errno). */
static int td_splice_hash_and_send(struct td_xfer *x)
{
	size_t len = TETHER_CHUNK_HDR + x->chunk_want;
	ssize_t t = tee(x->pipe[0], x->tee[1], len, SPLICE_F_NONBLOCK);
	int rc;

	if (t != (ssize_t)len)
		return t < 0 ? -errno : -EIO;
	if ((rc = td_splice_read_tee(x, len)) < 0)
		return rc;
	tp_hash_update(x->hash, x->buf + TETHER_CHUNK_HDR, x->chunk_want);
	x->done += x->chunk_want;
	x->pipe_left = len;
	x->to_socket = true;
	return td_splice_more(x);
}

int td_splice_done(struct td_xfer *x, int res)
{
	int rc;

	if (!x->to_socket) {
		if (res <= 0)		/* 0: the file shrank under us */
			return res < 0 ? res : -EIO;
		x->chunk_got += (size_t)res;
		if (x->chunk_got >= x->chunk_want)
			return td_splice_hash_and_send(x);
		rc = td_splice_submit(x, x->fd,
				      (int64_t)(x->done + x->chunk_got),
				      x->pipe[1], x->chunk_want - x->chunk_got);
		return rc < 0 ? rc : 1;
	}
	/* The socket is full (the server's O_NONBLOCK): POLLOUT first. */
	if (res == -EAGAIN)
		return 2;
	if (res <= 0)
		return res < 0 ? res : -EPIPE;
	x->pipe_left -= (size_t)res;
	if (!x->pipe_left) {
		x->to_socket = false;
		return 0;
	}
	return td_splice_more(x);
}

int td_splice_more(struct td_xfer *x)
{
	int rc = td_splice_submit(x, x->pipe[0], -1, x->conn->dfd,
				  x->pipe_left);

	return rc < 0 ? rc : 1;
}
