/*
 * Attach to a tetherd: make fresh syscall and data socket pairs, send
 * the server's ends with a HELLO over the listening socket (one
 * SOCK_SEQPACKET packet), read the answer.  First connection and
 * reconnection after a crash are the same code.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libtether.h"

static int tl_dial(struct tether *t, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return tl_fail(t, ENAMETOOLONG, "socket path too long: %s",
			       path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tl_fail(t, errno, "socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		err = errno;
		close(fd);
		if (err == ENOENT || err == ECONNREFUSED)
			return tl_fail(t, ECONNREFUSED, "no tetherd at %s",
				       path);
		return tl_fail(t, err, "connect %s: %s", path, strerror(err));
	}
	return fd;
}

static int tl_send_hello(struct tether *t, int fd, const int pass[2],
			 unsigned flags, uint64_t expect_gen)
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct tp_msg m;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	struct cmsghdr *cm;
	ssize_t n;
	int rc;

	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_HELLO);
	msgpack_pack_array(&m.pk, expect_gen ? 4 : 3);
	msgpack_pack_unsigned_int(&m.pk, TETHER_PROTO_VERSION);
	msgpack_pack_unsigned_int(&m.pk, flags);
	msgpack_pack_int(&m.pk, getpid());
	if (expect_gen)
		msgpack_pack_uint64(&m.pk, expect_gen);
	if ((rc = tp_msg_finish(&m)) < 0)
		goto out;
	iov.iov_base = (void *)tp_msg_data(&m);
	iov.iov_len = tp_msg_size(&m);
	memset(cbuf.b, 0, sizeof(cbuf.b));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(cm), pass, 2 * sizeof(int));
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	rc = n < 0 ? tl_fail(t, errno, "sending HELLO: %s", strerror(errno))
		   : 0;
out:
	tp_msg_destroy(&m);
	return rc;
}

static int tl_recv_answer(struct tether *t, int fd)
{
	unsigned char buf[4096];
	struct tp_in in;
	const char *text = "";
	size_t tlen = 0;
	ssize_t n;
	int rc;

	/* A server that answered and closed before reading our HELLO
	 * shows ECONNRESET first, its answer on the next read. */
	for (int tries = 0;; tries++) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n >= 0 || (errno != EINTR &&
			       (errno != ECONNRESET || tries > 0)))
			break;
	}
	if (n < 0)
		return tl_fail(t, errno, "handshake: %s", strerror(errno));
	if (n < (ssize_t)TETHER_FRAME_HDR)
		return tl_fail(t, ECONNRESET,
			       "tetherd closed the handshake without answer");
	rc = tp_decode(buf + TETHER_FRAME_HDR, (size_t)n - TETHER_FRAME_HDR,
		       &in);
	if (rc < 0) {
		tp_in_destroy(&in);
		return tl_fail(t, EPROTO, "malformed handshake answer");
	}
	if (in.code != 0) {
		tp_obj_str(in.body, &text, &tlen);
		rc = in.code > 0 && in.code < 4096 ? (int)in.code : EPROTO;
		tl_fail(t, rc, "%.*s", (int)tlen, text);
		tp_in_destroy(&in);
		return -rc;
	}
	tl_status_from_map(&t->info, in.body);
	t->info.attached = !t->info.observer;
	tp_in_destroy(&in);
	return 0;
}

static int tl_attach(struct tether *t, const char *path, unsigned flags,
		     uint64_t expect_gen)
{
	int sp[2] = { -1, -1 }, dp[2] = { -1, -1 }, pass[2];
	int fd, rc;

	if ((fd = tl_dial(t, path)) < 0)
		return fd;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = tl_fail(t, errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	if ((rc = tl_send_hello(t, fd, pass, flags, expect_gen)) < 0)
		goto out;
	/* The server holds its ends now; ours of theirs must go, or its
	 * EOF on our death would never come. */
	close(sp[1]);
	close(dp[1]);
	sp[1] = dp[1] = -1;
	if ((rc = tl_recv_answer(t, fd)) < 0)
		goto out;
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
	close(fd);
	return rc;
}

int tl_connect(struct tether *t, const char *socket_path, unsigned flags)
{
	struct tether peek = { .sfd = -1, .dfd = -1 };
	char def[4096];
	unsigned hf;
	int rc;

	if (flags & ~(TETHER_CONNECT_TAKEOVER | TETHER_CONNECT_OBSERVE))
		return tl_fail(t, EINVAL, "unknown connect flags");
	if (!socket_path) {
		if (tp_default_socket_path(def, sizeof(def)) < 0)
			return tl_fail(t, ENAMETOOLONG, "no default socket");
		socket_path = def;
	}
	if (flags & TETHER_CONNECT_OBSERVE)
		return tl_attach(t, socket_path, TETHER_HELLO_OBSERVE, 0);
	if (!(flags & TETHER_CONNECT_TAKEOVER))
		return tl_attach(t, socket_path, 0, 0);
	/* Take over the controller we saw, not whoever came after it:
	 * of two take-overs racing for the same one, exactly one wins. */
	if ((rc = tl_attach(&peek, socket_path, TETHER_HELLO_OBSERVE, 0)) < 0)
		return tl_fail(t, -rc, "%s", peek.err);
	close(peek.sfd);
	close(peek.dfd);
	hf = TETHER_HELLO_TAKEOVER;
	return tl_attach(t, socket_path, hf, peek.info.generation);
}

TETHER_API int tether_connect(const char *socket_path, unsigned flags,
			      struct tether **out)
{
	struct tether *t = tl_alloc();
	int rc;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if ((rc = tl_connect(t, socket_path, flags)) < 0) {
		/* Keep the text for tether_last_error(NULL)-less callers. */
		tl_set_orphan_error(t->err);
		tl_free(t);
		return rc;
	}
	*out = t;
	return 0;
}
