/*
 * The server's end of a remote connection (tetherctl dial-stdio, run by
 * ssh): read the controller's OPEN from the stream, attach to the local
 * tetherd as tether_connect would (the sockets made and passed here),
 * send its answer, then relay both sockets over the stream until either
 * side ends.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libtether.h"
#include "mux.h"

/* The refusal as an ERROR frame: errno, cause, the text. */
static void tl_dial_refuse(int out, int err, int cause, const char *text)
{
	unsigned char p[8 + TL_MUX_TEXT_MAX];
	size_t n = strnlen(text, TL_MUX_TEXT_MAX);

	tl_put32(p, (uint32_t)err);
	tl_put32(p + 4, (uint32_t)cause);
	memcpy(p + 8, text, n);
	tl_mux_send(out, TL_MUX_ERROR, TL_MUX_CTL, p, 8 + n);
}

/* The OPEN frame: its connect flags and server uid, checked. */
static int tl_dial_open(struct tether *t, int in, int out, unsigned *flags,
			uid_t *server_uid)
{
	unsigned char p[TL_MUX_OPEN_LEN];
	char err[160];
	unsigned type;
	size_t len;
	uint32_t v, uid;
	int rc;

	rc = tl_mux_recv(in, 1u << TL_MUX_OPEN, &type, p, sizeof(p), &len,
			 err, sizeof(err));
	if (rc == -ECONNRESET)
		return tl_fail(t, ECONNRESET, "dial-stdio: the stream ended "
			       "before an OPEN frame");
	if (rc < 0)
		return tl_fail(t, EPROTO, "dial-stdio: %s", err);
	if ((v = tl_get32(p)) != TL_MUX_VERSION) {
		rc = tl_fail(t, EPROTONOSUPPORT, "dial-stdio: stream version "
			     "%u, this one speaks %u", v, TL_MUX_VERSION);
		tl_dial_refuse(out, EPROTONOSUPPORT, TETHER_CAUSE_CONNECTION,
			       t->err);
		return rc;
	}
	*flags = tl_get32(p + 4);
	uid = tl_get32(p + 8);
	if (uid != TL_MUX_NO_UID)
		*server_uid = (uid_t)uid;
	return 0;
}

/* Attached: the answer as tetherd gave it, and whether it speaks
 * causes (the controller's handle must know, as if it had asked). */
static int tl_dial_answer(struct tether *t, int out)
{
	unsigned char p[4 + TL_ANSWER_MAX];

	tl_put32(p, t->causes ? 1u : 0u);
	memcpy(p + 4, t->answer, t->answer_len);
	return tl_mux_send(out, TL_MUX_ANSWER, TL_MUX_CTL, p,
			   4 + t->answer_len);
}

static int tl_dial(struct tether *t, const char *socket_path,
		   uid_t server_uid, int in, int out)
{
	unsigned flags = 0;
	struct tl_mux m;
	int rc;

	if ((rc = tl_dial_open(t, in, out, &flags, &server_uid)) < 0)
		return rc;
	/* Take-over and observe only (tether-protocol(7)): PIPELINE is
	 * the relay's own business, not the controller's to ask. */
	if (flags & ~(TETHER_CONNECT_TAKEOVER | TETHER_CONNECT_OBSERVE)) {
		rc = tl_fail(t, EINVAL, "dial-stdio: unknown connect flags "
			     "0x%x", flags);
		tl_dial_refuse(out, EINVAL, TETHER_CAUSE_REQUEST, t->err);
		return rc;
	}
	if (!(t->answer = malloc(TL_ANSWER_MAX)))
		return tl_fail(t, ENOMEM, "out of memory");
	/* the answer is relayed as soon as it comes: never pipelined */
	flags &= ~TETHER_CONNECT_PIPELINE;
	if ((rc = tl_connect(t, socket_path, flags, server_uid)) < 0) {
		tl_dial_refuse(out, -rc, t->cause, t->err);
		return rc;
	}
	if ((rc = tl_mux_init(&m, in, out, t->sfd, t->dfd)) < 0)
		return tl_fail(t, -rc, "out of memory");
	if ((rc = tl_dial_answer(t, out)) < 0) {
		tl_fail(t, -rc, "dial-stdio: sending the answer: %s",
			strerror(-rc));
	} else if ((rc = tl_mux_run(&m)) < 0) {
		tl_fail(t, -rc, "dial-stdio: %s", m.err);
	}
	tl_mux_free(&m);
	return rc;
}

TETHER_API int tether_dial_stdio(const char *socket_path, uid_t server_uid,
				 int in, int out)
{
	struct tether *t = tl_alloc();
	int rc;

	if (!t)
		return -ENOMEM;
	/* the stream is a pipe ssh reads: its end is an EPIPE here, not a
	 * signal that kills us before the sockets are closed */
	signal(SIGPIPE, SIG_IGN);
	rc = tl_dial(t, socket_path, server_uid, in, out);
	tl_set_orphan_error(t->err);
	tl_set_orphan_cause(t->cause);
	tl_free(t);
	return rc;
}
