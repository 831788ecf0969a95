/* One request, one reply, matched by id, on the syscall socket; and
 * the notice a server sends before it drops us (taken over). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "libtether.h"

uint64_t tl_next_id(struct tether *t)
{
	return t->next_id++;
}

TETHER_API int tether_set_interrupt_fd(struct tether *t, int fd)
{
	if (!t || fd < -1)
		return -EINVAL;
	t->intr_fd = fd;
	return 0;
}

/* Before a read: 0 when the server's socket has bytes (or news of its
 * end).  nowait: -EAGAIN when it has none yet.  Else it waits, and
 * returns -EINTR if the interrupt fd becomes readable first -- polled,
 * not read: what made it readable is the caller's to drain. */
static int tl_rpc_readable(struct tether *t, bool nowait)
{
	struct pollfd p[2] = { { .fd = t->sfd, .events = POLLIN },
			       { .fd = t->intr_fd, .events = POLLIN } };
	nfds_t n = !nowait && t->intr_fd >= 0 ? 2 : 1;
	int r;

	/* nothing to watch but the socket: the read itself waits; or the
	 * wait for a pipelined answer saw it readable */
	if (!nowait && (n == 1 || t->sfd_ready)) {
		t->sfd_ready = false;
		return 0;
	}
	for (;;) {
		if ((r = poll(p, n, nowait ? 0 : -1)) < 0 && errno == EINTR)
			continue;
		if (nowait && r <= 0)
			return -EAGAIN;
		if (r < 0)
			return -errno;
		if (n == 2 && p[1].revents)
			return tl_fail(t, EINTR, "interrupted");
		if (p[0].revents)
			return 0;
	}
}

/* The next whole frame from the server, decoded.  With nowait, only
 * what has arrived: -EAGAIN (t->err untouched) when no whole frame has. */
static int tl_rpc_recv(struct tether *t, struct tp_in *in, bool nowait)
{
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

	/* A pipelined connect's answer comes first (its refusal, if so). */
	if (t->pipe &&
	    (rc = tl_pipe_wait(t, nowait ? TL_WAIT_NOW : TL_WAIT_REPLY)) < 0)
		return rc;
	/* The previous frame's objects pointed into the buffer; they are
	 * destroyed by now, so its bytes can go. */
	if (t->consumed_pending) {
		tp_rbuf_consume(&t->in, t->consumed_pending - TETHER_FRAME_HDR);
		t->consumed_pending = 0;
	}
	for (;;) {
		rc = tp_rbuf_frame(&t->in, &p, &len);
		if (rc < 0)
			return tl_fail(t, EPROTO, "server frame too large");
		if (rc > 0)
			break;
		if ((rc = tl_rpc_readable(t, nowait)) < 0)
			return rc;
		n = tp_rbuf_fill(&t->in, t->sfd);
		if (n <= 0)
			t->cause = TETHER_CAUSE_CONNECTION;
		if (n == 0)
			return tl_fail(t, ECONNRESET,
				       "server closed the connection");
		if (n < 0)
			return tl_fail(t, (int)-n, "receiving: %s",
				       strerror((int)-n));
	}
	/* msgpack-c's str and bin objects point into p: keep the frame
	 * until the caller is done with them. */
	rc = tp_decode(p, len, in);
	t->consumed_pending = TETHER_FRAME_HDR + len;
	if (rc < 0) {
		tp_in_destroy(in);
		return tl_fail(t, EPROTO, "malformed reply from server");
	}
	return 0;
}

/* The handle was taken over: every call fails so from now on. */
static int tl_taken_fail(struct tether *t)
{
	t->cause = TETHER_CAUSE_CONFLICT;
	return tl_fail(t, ECONNABORTED, "taken over by pid %d uid %u",
		       (int)t->taken_pid, (unsigned)t->taken_uid);
}

/* The take-over notice, if in is one: who took over is kept. */
static bool tl_taken_notice(struct tether *t, const struct tp_in *in)
{
	struct tp_taken_over n;
	struct tp_err e;

	if (in->id != 0 || in->code != ECONNABORTED ||
	    tp_unpack_taken_over(in->body, &n, &e) < 0)
		return false;
	t->taken = true;
	t->taken_pid = (pid_t)n.pid;
	t->taken_uid = (uid_t)n.uid;
	return true;
}

/* An error reply or notice as the call's failure: -err, its text in
 * t->err.  in is destroyed. */
static int tl_rpc_error(struct tether *t, struct tp_in *in)
{
	struct tp_error x;
	int rc;

	if (tl_taken_notice(t, in)) {
		tp_in_destroy(in);
		return tl_taken_fail(t);
	}
	/* An error whose text is not a string is still that error. */
	if (tp_unpack_error(in->body, &x, NULL) < 0)
		x.text = tp_str("");
	/* From a server that was not asked (or is older): no cause, and
	 * the connection notice of a take-over is one too. */
	t->cause = x.has & TP_ERROR_CAUSE ? tl_cause_of(x.cause.p, x.cause.n)
		   : in->id == 0 ? TETHER_CAUSE_CONNECTION
				 : TETHER_CAUSE_REQUEST;
	rc = in->code > 0 && in->code < 4096 ? (int)in->code : EPROTO;
	tl_fail(t, rc, "%.*s", (int)x.text.n, x.text.p);
	tp_in_destroy(in);
	return -rc;
}

/* Wait for the reply to id; id 0 is the server speaking unasked, a
 * notice of an error that ends or concerns the whole connection. */
static int tl_rpc_wait(struct tether *t, uint64_t id, struct tp_in *in)
{
	int rc;

	for (;;) {
		if ((rc = tl_rpc_recv(t, in, false)) < 0)
			return rc;
		if (in->id == id || in->id == 0)
			break;
		tp_in_destroy(in);
	}
	if (in->code == 0 && in->id == id)
		return 0;
	return tl_rpc_error(t, in);
}

int tl_rpc_more(struct tether *t, uint64_t id, struct tp_in *in)
{
	return tl_rpc_wait(t, id, in);
}

/* A call that failed on a lost connection (a broken send, the data
 * socket's end) may have lost it to a take-over: the server said so on
 * the syscall socket before it closed both, so the notice, if it made
 * it, is already here.  Read what has arrived, never waiting. */
int tl_lost(struct tether *t, int rc)
{
	char why[sizeof(t->err)];
	struct tp_in in;

	if (t->taken)
		return tl_taken_fail(t);
	if (t->sfd < 0 || (rc != -EPIPE && rc != -ECONNRESET &&
			   rc != -ENOTCONN && rc != -EIO))
		return rc;
	memcpy(why, t->err, sizeof(why));
	/* Replies to what we asked are read past; a notice says why. */
	while (tl_rpc_recv(t, &in, true) == 0) {
		if (in.id == 0 && in.code != 0)
			return tl_rpc_error(t, &in);
		tp_in_destroy(&in);
	}
	memcpy(t->err, why, sizeof(why));
	return rc;
}

/* A request this big (a SUBMIT of writes) goes in one send, not in the
 * default send buffer's ~200 KiB pieces, each a wake-up of both sides:
 * the socket's send buffer is raised to hold a whole frame.  Asked at
 * every such frame (one syscall beside a copy of 256 KiB or more), so
 * the socket a reconnect brings is raised too. */
#define TL_SNDBUF_BIG_AT (256u << 10)

static void tl_rpc_size_sndbuf(struct tether *t, size_t n)
{
	int v = (int)(TETHER_FRAME_HDR + TETHER_FRAME_MAX);

	/* Not a socket (a relay's pipe), or capped by wmem_max: slower. */
	if (n >= TL_SNDBUF_BIG_AT)
		(void)setsockopt(t->sfd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* A finished frame's iovecs (used up) to the server, then its reply:
 * what tl_rpc and tl_rpc_gather share once the frame is built (rc: the
 * building's outcome). */
static int tl_rpc_iov(struct tether *t, int rc, struct iovec *iov,
		      size_t niov, size_t size, uint64_t id, struct tp_in *in)
{
	if (t->taken)
		return tl_taken_fail(t);
	if (tl_pipe_refusal(t))
		return tl_settle(t, false);
	t->cause = TETHER_CAUSE_CONNECTION;
	if (t->sfd < 0)
		return tl_fail(t, ENOTCONN, "not connected");
	t->err[0] = '\0';
	t->cause = TETHER_CAUSE_NONE;
	/* Half a request is never sent: what packing failed on is the
	 * request's error. */
	if (rc < 0)
		return tl_fail(t, -rc, "%s", rc == -EMSGSIZE
			       ? "request too large for one frame"
			       : rc == -ENOMEM ? "out of memory for the request"
					       : strerror(-rc));
	tl_rpc_size_sndbuf(t, size);
	/* One buffer (every request but a gathered SUBMIT): send(2), the
	 * round trip's own path, right behind a pipelined HELLO too; a
	 * gathered one is not kept for a replay: the HELLO's answer first. */
	if (niov == 1)
		rc = tl_pipe_send(t, false, iov->iov_base, iov->iov_len, -1);
	else if ((rc = tl_settle(t, false)) >= 0)
		rc = tp_writev_all(t->sfd, iov, niov);
	if (rc < 0) {
		if (tl_pipe_refusal(t))
			return rc;
		/* The server may have said why before it closed (taken
		 * over): that notice is the better error. */
		tl_fail(t, -rc, "sending: %s", strerror(-rc));
		t->cause = TETHER_CAUSE_CONNECTION;
		return tl_lost(t, rc);
	}
	return tl_rpc_wait(t, id, in);
}

int tl_rpc(struct tether *t, struct tp_msg *req, uint64_t id,
	   struct tp_in *in)
{
	int rc = tp_msg_finish(req);
	struct iovec iov = { (void *)tp_msg_data(req), tp_msg_size(req) };

	return tl_rpc_iov(t, rc, &iov, 1, iov.iov_len, id, in);
}

int tl_rpc_gather(struct tether *t, struct tp_gmsg *req, uint64_t id,
		  struct tp_in *in)
{
	int rc = tp_gmsg_finish(req);

	return tl_rpc_iov(t, rc, req->iov, req->niov, req->size, id, in);
}
