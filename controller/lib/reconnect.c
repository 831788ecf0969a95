/*
 * Attach to a tetherd: make fresh syscall and data socket pairs, send
 * the server's ends with a HELLO over the listening socket (one
 * SOCK_SEQPACKET packet, or one write on the SOCK_STREAM socket a
 * service manager may have made instead), read the answer.  First connection and
 * reconnection after a crash are the same code.  Before a byte goes
 * out, the socket's directories and the listening process must belong
 * to us, root, or the uid the caller named.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "libtether.h"

#define TL_RETRY_FIRST_MS 10	/* EAGAIN: first pause, doubling */
#define TL_RETRY_MS 2000	/* EAGAIN: give up after this long */

/* "uid 1000 or root", "uid 1000, uid 2000 or root": whom we trust. */
static const char *tl_trusted_text(uid_t server_uid, char *buf, size_t size)
{
	uid_t self = geteuid();

	if (server_uid == TETHER_UID_NONE || server_uid == self)
		snprintf(buf, size, "uid %u or root", (unsigned)self);
	else
		snprintf(buf, size, "uid %u, uid %u or root", (unsigned)self,
			 (unsigned)server_uid);
	return buf;
}

/* The socket's directory and every parent up to / must be ours, root's
 * or the named server uid's, and writable by no one else: whoever
 * controls a directory on the way can put their own server there. */
static int tl_check_dir(struct tether *t, const char *path, uid_t server_uid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], err[256];
	char *slash;
	int rc;

	strcpy(dir, path);
	if (!(slash = strrchr(dir, '/')))
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	rc = tp_check_dir_chain(dir, geteuid(), server_uid, err, sizeof(err));
	if (rc == -ENOENT)
		return tl_fail(t, ECONNREFUSED, "no tetherd at %s", path);
	return rc < 0 ? tl_fail(t, -rc, "%s", err) : 0;
}

/* Whoever listens must be us, root or the uid the caller named, before
 * it gets a byte (our fds above all). */
static int tl_check_peer(struct tether *t, int fd, const char *path,
			 uid_t server_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char who[64];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return tl_fail(t, errno, "SO_PEERCRED: %s", strerror(errno));
	if (cred.uid == 0 || cred.uid == geteuid() ||
	    (server_uid != TETHER_UID_NONE && cred.uid == server_uid))
		return 0;
	return tl_fail(t, EACCES, "tetherd at %s runs as uid %u, not %s: "
		       "refusing to talk to it (pass its uid if this is "
		       "intended)", path, (unsigned)cred.uid,
		       tl_trusted_text(server_uid, who, sizeof(who)));
}

/* A socket of type connected to sa: the fd, or -errno.  The HELLO's
 * answer is waited for at most tl_handshake_ms(): a tetherd that is
 * stopped or hung must not hang every script that asks it something.
 * (Only the answer: SO_SNDTIMEO too, for a connect on a full backlog of
 * 4096, measured 1.5% of a reconnect for a case that needs thousands
 * of clients piled up on a stopped server.) */
static int tl_dial_type(const struct sockaddr_un *sa, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), err;
	unsigned ms = tl_handshake_ms();
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (long)(ms % 1000) * 1000 };

	if (fd < 0)
		return -errno;
	if (ms && setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	while (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int tl_dial(struct tether *t, const char *path, uid_t server_uid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return tl_fail(t, ENAMETOOLONG, "socket path too long: %s",
			       path);
	if ((rc = tl_check_dir(t, path, server_uid)) < 0)
		return rc;
	strcpy(sa.sun_path, path);
	/* EPROTOTYPE: a stream socket, as systemd-socket-activate makes
	 * one unless told --seqpacket; tetherd answers on both. */
	fd = tl_dial_type(&sa, SOCK_SEQPACKET);
	if (fd == -EPROTOTYPE)
		fd = tl_dial_type(&sa, SOCK_STREAM);
	if (fd < 0) {
		err = -fd;
		if (err == ENOENT || err == ECONNREFUSED)
			return tl_fail(t, ECONNREFUSED, "no tetherd at %s",
				       path);
		return tl_fail(t, err, "connect %s: %s", path, strerror(err));
	}
	if ((rc = tl_check_peer(t, fd, path, server_uid)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* HELLO with npass fds (2, or 0 for a PROBE). */
static int tl_send_hello(struct tether *t, int fd, const int *pass,
			 unsigned npass, unsigned flags, uint64_t expect_gen)
{
	struct tp_hello h = {
		.has = expect_gen ? TP_HELLO_GENERATION : 0,
		.version = TETHER_PROTO_VERSION,
		.flags = flags,
		.pid = getpid(),
		.generation = expect_gen,
	};
	struct tp_msg m;
	ssize_t n;
	int rc;

	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_HELLO);
	tp_pack_hello(&m.w, &h);
	if ((rc = tp_msg_finish(&m)) < 0) {
		rc = tl_fail(t, -rc, "building the HELLO: %s", strerror(-rc));
		goto out;
	}
	n = tp_send_fds(fd, tp_msg_data(&m), tp_msg_size(&m), 0, pass,
			(int)npass);
	rc = n < 0 ? tl_fail(t, (int)-n, "sending HELLO: %s",
			     strerror((int)-n))
		   : 0;
out:
	tp_msg_destroy(&m);
	return rc;
}

/* On a stream socket the answer's frame may come in pieces: the rest
 * of it after n bytes (a packet socket's n is the whole packet). */
static ssize_t tl_recv_rest(int fd, unsigned char *buf, size_t size,
			    ssize_t n)
{
	int type;
	socklen_t len = sizeof(type);
	size_t want;
	ssize_t k;

	if (n < (ssize_t)TETHER_FRAME_HDR ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return n;
	want = TETHER_FRAME_HDR + ((size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
				   (size_t)buf[2] << 8 | buf[3]);
	while ((size_t)n < want && want <= size) {
		k = recv(fd, buf + n, want - (size_t)n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += k;
	}
	return n;
}

int tl_answer_parse(struct tether *t, const unsigned char *buf, size_t n)
{
	struct tp_in in;
	struct tp_error x;
	int rc;

	if (n < TETHER_FRAME_HDR)
		return tl_fail(t, ECONNRESET,
			       "tetherd closed the handshake without answer");
	rc = tp_decode(buf + TETHER_FRAME_HDR, n - TETHER_FRAME_HDR, &in);
	if (rc < 0) {
		tp_in_destroy(&in);
		return tl_fail(t, EPROTO, "malformed handshake answer");
	}
	if (in.code != 0) {
		if (tp_unpack_error(in.body, &x, NULL) < 0)
			x.text = tp_str("");
		rc = in.code > 0 && in.code < 4096 ? (int)in.code : EPROTO;
		if (x.has & TP_ERROR_CAUSE)
			t->cause = tl_cause_of(x.cause.p, x.cause.n);
		tl_fail(t, rc, "%.*s", (int)x.text.n, x.text.p);
		tp_in_destroy(&in);
		return -rc;
	}
	rc = tl_status_from_map(t, &t->info, in.body);
	t->info.attached = !t->info.observer;
	tp_in_destroy(&in);
	return rc;
}

static int tl_recv_answer(struct tether *t, int fd)
{
	unsigned char buf[TL_ANSWER_MAX];
	ssize_t n;

	/* A server that answered and closed before reading our HELLO
	 * shows ECONNRESET first, its answer on the next read. */
	for (int tries = 0;; tries++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n >= 0 || (errno != EINTR &&
			       (errno != ECONNRESET || tries > 0)))
			break;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return tl_handshake_timeout(t, fd);	/* SO_RCVTIMEO */
	if (n < 0)
		return tl_fail(t, errno, "handshake: %s", strerror(errno));
	n = tl_recv_rest(fd, buf, sizeof(buf), n);
	/* dial-stdio passes the answer on as it came */
	if (t->answer) {
		memcpy(t->answer, buf, (size_t)n);
		t->answer_len = (size_t)n;
	}
	return tl_answer_parse(t, buf, (size_t)n);
}

/* Refused at accept (busy, or a uid it does not admit), a server
 * answers and closes before it reads our HELLO, whose sending then
 * fails (EPIPE, ECONNRESET): its answer is still there, and says why. */
static int tl_send_failed(struct tether *t, int fd, int rc)
{
	char sent[sizeof(t->err)];
	int why;

	if (rc != -EPIPE && rc != -ECONNRESET)
		return rc;
	memcpy(sent, t->err, sizeof(sent));
	if ((why = tl_recv_answer(t, fd)) < 0 && why != -ECONNRESET)
		return why;
	memcpy(t->err, sent, sizeof(sent));
	return rc;
}

/* A PROBE: the HELLO answer alone, no sockets passed or kept. */
static int tl_probe(struct tether *t, const char *path, uid_t server_uid)
{
	int fd, rc;

	if ((fd = tl_dial(t, path, server_uid)) < 0)
		return fd;
	rc = tl_send_hello(t, fd, NULL, 0, TETHER_HELLO_PROBE, 0);
	rc = rc < 0 ? tl_send_failed(t, fd, rc) : tl_recv_answer(t, fd);
	close(fd);
	return rc;
}

static int tl_attach_redo(struct tether *t, int rc, const char *path,
			  unsigned hflags, uint64_t expect_gen,
			  uid_t server_uid);
static const struct tl_pipe_ops tl_attach_pipe_ops = {
	.answer = tl_recv_answer,
	.redo = tl_attach_redo,
};

/* pipe: return once the HELLO is out, its answer read later
 * (pipeline.c). */
static int tl_attach(struct tether *t, const char *path, unsigned flags,
		     uint64_t expect_gen, uid_t server_uid, bool pipe)
{
	int sp[2] = { -1, -1 }, dp[2] = { -1, -1 }, pass[2];
	int fd, rc;

	if (flags == TETHER_HELLO_PROBE)
		return tl_probe(t, path, server_uid);
	if ((fd = tl_dial(t, path, server_uid)) < 0)
		return fd;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = tl_fail(t, errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	if ((rc = tl_send_hello(t, fd, pass, 2, flags, expect_gen)) < 0) {
		rc = tl_send_failed(t, fd, rc);
		goto out;
	}
	/* The server holds its ends now; ours of theirs must go, or its
	 * EOF on our death would never come. */
	close(sp[1]);
	close(dp[1]);
	sp[1] = dp[1] = -1;
	if (pipe && tl_pipe_begin(t, fd, &tl_attach_pipe_ops, path,
				  flags & ~TETHER_HELLO_CAUSE, expect_gen,
				  server_uid) == 0) {
		fd = -1;		/* the answer's, now */
		rc = 0;
	} else if ((rc = tl_recv_answer(t, fd)) < 0) {
		goto out;
	}
	t->sfd = sp[0];
	t->dfd = dp[0];
	sp[0] = dp[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (sp[i] >= 0)
			close(sp[i]);
		if (dp[i] >= 0)
			close(dp[i]);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* EAGAIN is a busy server (too many handshakes in progress, or
 * observers): try again for up to TL_RETRY_MS, TL_RETRY_FIRST_MS apart
 * at first, twice as long each time. */
static void tl_pause_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int tl_attach_retry(struct tether *t, const char *path,
			   unsigned flags, uint64_t expect_gen,
			   uid_t server_uid, bool pipe)
{
	unsigned delay = TL_RETRY_FIRST_MS, waited = 0;
	int rc;

	for (;;) {
		rc = tl_attach(t, path, flags, expect_gen, server_uid, pipe);
		if (rc != -EAGAIN || waited >= TL_RETRY_MS)
			return rc;
		if (delay > TL_RETRY_MS - waited)
			delay = TL_RETRY_MS - waited;
		tl_pause_ms(delay);
		waited += delay;
		delay *= 2;
	}
}

/* Attach asking for errors' causes (TETHER_HELLO_CAUSE); a tetherd
 * older than that flag refuses it (EINVAL, unknown flag), and is asked
 * again without: its errors then name no cause. */
static int tl_attach_fallback(struct tether *t, int rc, const char *path,
			      unsigned flags, uint64_t expect_gen,
			      uid_t server_uid)
{
	static const char unknown[] = "unknown HELLO flags";

	t->causes = rc == 0;
	if (rc != -EINVAL || strncmp(t->err, unknown, sizeof(unknown) - 1))
		return rc;
	t->cause = TETHER_CAUSE_CONNECTION;
	return tl_attach_retry(t, path, flags, expect_gen, server_uid, false);
}

static int tl_attach_causes(struct tether *t, const char *path,
			    unsigned flags, uint64_t expect_gen,
			    uid_t server_uid, bool pipe)
{
	int rc;

	rc = tl_attach_retry(t, path, flags | TETHER_HELLO_CAUSE, expect_gen,
			     server_uid, pipe);
	return tl_attach_fallback(t, rc, path, flags, expect_gen, server_uid);
}

/* A pipelined first attempt (with causes) was refused with rc: go on
 * from there as tl_attach_causes would have, without pipelining. */
static int tl_attach_redo(struct tether *t, int rc, const char *path,
			  unsigned hflags, uint64_t expect_gen,
			  uid_t server_uid)
{
	if (rc == -EAGAIN) {
		tl_pause_ms(TL_RETRY_FIRST_MS);
		rc = tl_attach_retry(t, path, hflags | TETHER_HELLO_CAUSE,
				     expect_gen, server_uid, false);
	}
	return tl_attach_fallback(t, rc, path, hflags, expect_gen, server_uid);
}

/* The generation a take-over names: PROBE for it, so a take-over needs
 * no observer slot; a tetherd older than PROBE (EINVAL, unknown flag)
 * is asked as an observer, as before. */
static int tl_peek_generation(struct tether *t, const char *path,
			      uid_t server_uid, uint64_t *gen)
{
	struct tether peek = { .sfd = -1, .dfd = -1 };
	int rc;

	rc = tl_attach_retry(&peek, path, TETHER_HELLO_PROBE, 0, server_uid,
			     false);
	if (rc == -EINVAL)
		rc = tl_attach_retry(&peek, path, TETHER_HELLO_OBSERVE, 0,
				     server_uid, false);
	if (peek.sfd >= 0)
		close(peek.sfd);
	if (peek.dfd >= 0)
		close(peek.dfd);
	tl_pipe_free(&peek);
	if (rc < 0)
		return tl_fail(t, -rc, "%s", peek.err);
	*gen = peek.info.generation;
	return 0;
}

int tl_connect(struct tether *t, const char *socket_path, unsigned flags,
	       uid_t server_uid)
{
	char def[4096];
	bool pipe = flags & TETHER_CONNECT_PIPELINE;
	uint64_t gen = 0;
	int rc;

	/* what fails from here on is reaching the server, unless the
	 * server's refusal names another cause */
	t->cause = TETHER_CAUSE_CONNECTION;
	if (flags & ~(TETHER_CONNECT_TAKEOVER | TETHER_CONNECT_OBSERVE |
		      TETHER_CONNECT_PIPELINE))
		return tl_fail(t, EINVAL, "unknown connect flags");
	if (!socket_path) {
		if (tp_default_socket_path(def, sizeof(def)) < 0)
			return tl_fail(t, ENAMETOOLONG, "no default socket");
		socket_path = def;
	}
	if (flags & TETHER_CONNECT_OBSERVE)
		return tl_attach_causes(t, socket_path, TETHER_HELLO_OBSERVE, 0,
					server_uid, pipe);
	if (!(flags & TETHER_CONNECT_TAKEOVER))
		return tl_attach_causes(t, socket_path, 0, 0, server_uid, pipe);
	/* Take over the controller we saw, not whoever came after it:
	 * of two take-overs racing for the same one, exactly one wins. */
	if ((rc = tl_peek_generation(t, socket_path, server_uid, &gen)) < 0)
		return rc;
	return tl_attach_causes(t, socket_path, TETHER_HELLO_TAKEOVER, gen,
				server_uid, pipe);
}

TETHER_API int tether_connect_uid(const char *socket_path, unsigned flags,
				  uid_t server_uid, struct tether **out)
{
	struct tether *t = tl_alloc();
	int rc;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if ((rc = tl_connect(t, socket_path, flags, server_uid)) < 0) {
		/* Keep the text for tether_last_error(NULL)-less callers. */
		tl_set_orphan_error(t->err);
		tl_set_orphan_cause(t->cause);
		tl_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

TETHER_API int tether_connect(const char *socket_path, unsigned flags,
			      struct tether **out)
{
	return tether_connect_uid(socket_path, flags, TETHER_UID_NONE, out);
}

/* Attach and take back what the last controller owned: its labeled fds
 * (a crash forgets the rest, which GC then collects). */
TETHER_API int tether_reconnect(const char *socket_path, unsigned flags,
				struct tether **out)
{
	struct tether_fdinfo *v = NULL;
	size_t n = 0;
	int rc = tether_connect(socket_path, flags, out);

	if (rc < 0)
		return rc;
	/* The labeled fds alone: a reconnect costs the same whatever the
	 * server holds.  A server from before that lists everything. */
	rc = tl_list_labeled(*out, &v, &n);
	if (rc == -EPROTO || rc == -EINVAL)
		rc = tether_list_fds(*out, &v, &n, NULL, NULL);
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (v[i].label[0] && (rc = tether_fd_hold(*out, v[i].fd)) < 0)
			goto fail;
	free(v);
	return 0;
fail:
	free(v);
	tl_set_orphan_error(tether_last_error(*out));
	tl_set_orphan_cause(tether_last_cause(*out));
	tether_disconnect(*out);
	*out = NULL;
	return rc;
}
