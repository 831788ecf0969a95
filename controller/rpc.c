/* One request, one reply, matched by id, on the syscall socket. */
#include <errno.h>
#include <string.h>

#include "libtether.h"

uint64_t tl_next_id(struct tether *t)
{
	return t->next_id++;
}

/* The next whole frame from the server, decoded. */
static int tl_rpc_recv(struct tether *t, struct tp_in *in)
{
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

	for (;;) {
		rc = tp_rbuf_frame(&t->in, &p, &len);
		if (rc < 0)
			return tl_fail(t, EPROTO, "server frame too large");
		if (rc > 0)
			break;
		n = tp_rbuf_fill(&t->in, t->sfd);
		if (n == 0)
			return tl_fail(t, ECONNRESET,
				       "server closed the connection");
		if (n < 0)
			return tl_fail(t, (int)-n, "receiving: %s",
				       strerror((int)-n));
	}
	rc = tp_decode(p, len, in);
	tp_rbuf_consume(&t->in, len);
	if (rc < 0) {
		tp_in_destroy(in);
		return tl_fail(t, EPROTO, "malformed reply from server");
	}
	return 0;
}

int tl_rpc(struct tether *t, struct tp_msg *req, uint64_t id,
	   struct tp_in *in)
{
	const char *text;
	size_t n;
	int rc;

	if (t->sfd < 0)
		return tl_fail(t, ENOTCONN, "not connected");
	t->err[0] = '\0';
	if ((rc = tp_msg_finish(req)) < 0)
		return tl_fail(t, -rc, "request too large for one frame");
	if ((rc = tp_write_all(t->sfd, tp_msg_data(req), tp_msg_size(req))) < 0)
		return tl_fail(t, -rc, "sending: %s", strerror(-rc));
	for (;;) {
		if ((rc = tl_rpc_recv(t, in)) < 0)
			return rc;
		/* id 0 is the server speaking unasked: a notice of an
		 * error that ends or concerns the whole connection. */
		if (in->id == id || in->id == 0)
			break;
		tp_in_destroy(in);
	}
	if (in->code == 0 && in->id == id)
		return 0;
	if (tp_obj_str(in->body, &text, &n) < 0) {
		text = "";
		n = 0;
	}
	rc = in->code > 0 && in->code < 4096 ? (int)in->code : EPROTO;
	tl_fail(t, rc, "%.*s", (int)n, text);
	tp_in_destroy(in);
	return -rc;
}
