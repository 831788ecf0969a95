/* One request, one reply, matched by id, on the syscall socket. */
#include <errno.h>
#include <poll.h>
#include <string.h>

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

/* Before a read that may wait: 0 when the server's socket has bytes (or
 * news of its end), -EINTR when the interrupt fd became readable first.
 * Polled, not read: what made it readable is the caller's to drain. */
static int tl_rpc_wait_readable(struct tether *t)
{
	struct pollfd p[2] = { { .fd = t->sfd, .events = POLLIN },
			       { .fd = t->intr_fd, .events = POLLIN } };

	if (t->intr_fd < 0)
		return 0;
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return tl_fail(t, EINTR, "interrupted");
		if (p[0].revents)
			return 0;
	}
}

/* The next whole frame from the server, decoded. */
static int tl_rpc_recv(struct tether *t, struct tp_in *in)
{
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

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
		if ((rc = tl_rpc_wait_readable(t)) < 0)
			return rc;
		n = tp_rbuf_fill(&t->in, t->sfd);
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

/* Wait for the reply to id; id 0 is the server speaking unasked, a
 * notice of an error that ends or concerns the whole connection. */
static int tl_rpc_wait(struct tether *t, uint64_t id, struct tp_in *in)
{
	struct tp_error x;
	int rc;

	for (;;) {
		if ((rc = tl_rpc_recv(t, in)) < 0)
			return rc;
		if (in->id == id || in->id == 0)
			break;
		tp_in_destroy(in);
	}
	if (in->code == 0 && in->id == id)
		return 0;
	/* An error whose text is not a string is still that error. */
	if (tp_unpack_error(in->body, &x, NULL) < 0)
		x.text = tp_str("");
	rc = in->code > 0 && in->code < 4096 ? (int)in->code : EPROTO;
	tl_fail(t, rc, "%.*s", (int)x.text.n, x.text.p);
	tp_in_destroy(in);
	return -rc;
}

int tl_rpc_more(struct tether *t, uint64_t id, struct tp_in *in)
{
	return tl_rpc_wait(t, id, in);
}

int tl_rpc(struct tether *t, struct tp_msg *req, uint64_t id,
	   struct tp_in *in)
{
	int rc;

	if (t->sfd < 0)
		return tl_fail(t, ENOTCONN, "not connected");
	t->err[0] = '\0';
	/* Half a request is never sent: what packing failed on is the
	 * request's error. */
	if ((rc = tp_msg_finish(req)) < 0)
		return tl_fail(t, -rc, "%s", rc == -EMSGSIZE
			       ? "request too large for one frame"
			       : rc == -ENOMEM ? "out of memory for the request"
					       : strerror(-rc));
	if ((rc = tp_write_all(t->sfd, tp_msg_data(req), tp_msg_size(req))) < 0) {
		/* The server may have said why before it closed (taken
		 * over): that notice is the better error. */
		if (rc == -EPIPE || rc == -ECONNRESET) {
			int notice = tl_rpc_wait(t, 0, in);

			if (notice < 0)
				return notice;
			tp_in_destroy(in);
		}
		return tl_fail(t, -rc, "sending: %s", strerror(-rc));
	}
	return tl_rpc_wait(t, id, in);
}
