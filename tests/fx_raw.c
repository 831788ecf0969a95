/* The wire protocol by hand: frames, handshakes, a raw controller. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kit.h"

#define FX_MAX_FDS 8


void fx_frame_free(struct fx_frame *f)
{
	tp_in_destroy(&f->in);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

const char *fx_frame_text(const struct fx_frame *f, char *buf, size_t size)
{
	const char *p;
	size_t n;

	buf[0] = '\0';
	if (f->rc == 0 && tp_obj_str(f->in.body, &p, &n) == 0)
		snprintf(buf, size, "%.*s", (int)n, p);
	return buf;
}

int fx_dial(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

void fx_hello_msg(struct tp_msg *m, uint64_t version, uint64_t flags)
{
	tp_msg_init(m);
	tp_msg_request(m, 7, TETHER_OP_HELLO);
	msgpack_pack_array(&m->pk, 3);
	msgpack_pack_uint64(&m->pk, version);
	msgpack_pack_uint64(&m->pk, flags);
	msgpack_pack_int(&m->pk, getpid());
	cr_assert_eq(tp_msg_finish(m), 0);
}

ssize_t fx_send_fds(int fd, const void *buf, size_t len, const int *fds,
		    unsigned nfds)
{
	if (nfds > FX_MAX_FDS)
		return -EINVAL;
	return tp_send_fds(fd, buf, len, 0, fds, (int)nfds);
}

int fx_handshake(const char *sock, const void *pkt, size_t len,
		 const int *fds, unsigned nfds, char *text, size_t textsz)
{
	int fd = fx_dial(sock);

	if (fd < 0) {
		if (text && textsz)
			text[0] = '\0';
		return fd;
	}
	return fx_handshake_on(fd, pkt, len, fds, nfds, text, textsz);
}

int fx_handshake_on(int fd, const void *pkt, size_t len, const int *fds,
		    unsigned nfds, char *text, size_t textsz)
{
	unsigned char buf[4096];
	struct pollfd pfd;
	struct tp_in in;
	const char *p;
	size_t n;
	ssize_t got;
	int rc;

	if (text && textsz)
		text[0] = '\0';
	/* A peer refused at accept gets its answer before it says
	 * anything; the send may then fail, the answer is still there. */
	rc = (int)fx_send_fds(fd, pkt, len, fds, nfds);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
		close(fd);
		return rc;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, FX_DEADLINE_MS) <= 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	got = recv(fd, buf, sizeof(buf), 0);
	/* A server that closes with our packet unread leaves ECONNRESET
	 * pending: reported once, before the answer still queued. */
	if (got < 0 && errno == ECONNRESET)
		got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	close(fd);
	if (got <= 0)
		return -ECONNRESET;
	if (got < (ssize_t)TETHER_FRAME_HDR)
		return -EPROTO;
	rc = tp_decode(buf + TETHER_FRAME_HDR, (size_t)got - TETHER_FRAME_HDR,
		       &in);
	if (rc == 0) {
		rc = (int)in.code;
		if (rc && text && tp_obj_str(in.body, &p, &n) == 0)
			snprintf(text, textsz, "%.*s", (int)n, p);
	}
	tp_in_destroy(&in);
	return rc;
}

int fx_hello_pairs(const char *sock, const struct tp_msg *m, char *text,
		   size_t textsz, int ours[2])
{
	int fd = fx_dial(sock);

	if (fd < 0)
		return fd;
	return fx_hello_pairs_on(fd, m, text, textsz, ours);
}

int fx_hello_pairs_on(int fd, const struct tp_msg *m, char *text,
		      size_t textsz, int ours[2])
{
	int sp[2], dp[2], pass[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		close(fd);
		return -errno;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = -errno;
		close(sp[0]);
		close(sp[1]);
		close(fd);
		return rc;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	rc = fx_handshake_on(fd, tp_msg_data(m), tp_msg_size(m), pass, 2, text,
			     textsz);
	close(sp[1]);
	close(dp[1]);
	if (rc != 0) {
		close(sp[0]);
		close(dp[0]);
		return rc;
	}
	ours[0] = sp[0];
	ours[1] = dp[0];
	return 0;
}

int fx_attach_raw(const char *sock, unsigned hello_flags, int *sfd, int *dfd)
{
	struct tp_msg m;
	char text[256];
	int ours[2], rc;

	fx_hello_msg(&m, TETHER_PROTO_VERSION, hello_flags);
	rc = fx_hello_pairs(sock, &m, text, sizeof(text), ours);
	tp_msg_destroy(&m);
	if (rc != 0)
		return rc > 0 ? -rc : rc;
	*sfd = ours[0];
	if (dfd)
		*dfd = ours[1];
	else
		close(ours[1]);
	return 0;
}

int fx_send_bytes(int fd, const void *p, size_t n)
{
	return tp_write_all(fd, p, n);
}

int fx_send_payload(int fd, const void *payload, size_t len)
{
	unsigned char h[TETHER_FRAME_HDR] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len
	};
	int rc = fx_send_bytes(fd, h, sizeof(h));

	return rc ? rc : fx_send_bytes(fd, payload, len);
}

int fx_send_msg(int fd, struct tp_msg *m)
{
	int rc = tp_msg_finish(m);

	return rc ? rc : fx_send_bytes(fd, tp_msg_data(m), tp_msg_size(m));
}

int fx_recv_frame(int fd, struct tp_rbuf *rb, struct fx_frame *f)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

	memset(f, 0, sizeof(*f));
	for (;;) {
		rc = tp_rbuf_frame(rb, &p, &len);
		if (rc < 0)
			return rc;
		if (rc > 0)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - kit_now_ms());

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -ETIMEDOUT;
		n = tp_rbuf_fill(rb, fd);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
	if (!(f->buf = malloc(len ? len : 1)))
		return -ENOMEM;
	memcpy(f->buf, p, len);
	tp_rbuf_consume(rb, len);
	f->rc = tp_decode(f->buf, len, &f->in);
	return 0;
}

bool fx_wait_eof(int fd)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	char sink[65536];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - kit_now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return false;
		n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}


/* ---- a controller by hand ---------------------------------------------- */

void fx_raw_attach(struct fx_raw *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->id = 100;
	rc = fx_attach_raw(fx.sock, TETHER_HELLO_TAKEOVER, &r->sfd, &r->dfd);
	cr_assert_eq(rc, 0, "raw attach: %s", strerror(-rc));
}

void fx_raw_close(struct fx_raw *r)
{
	if (r->sfd >= 0)
		close(r->sfd);
	if (r->dfd >= 0)
		close(r->dfd);
	r->sfd = r->dfd = -1;
	tp_rbuf_free(&r->rb);
}

uint64_t fx_raw_begin(struct fx_raw *r, struct tp_msg *m, unsigned op)
{
	tp_msg_init(m);
	tp_msg_request(m, ++r->id, op);
	return r->id;
}

void fx_raw_send(struct fx_raw *r, struct tp_msg *m)
{
	cr_assert_eq(fx_send_msg(r->sfd, m), 0);
	tp_msg_destroy(m);
}

int fx_raw_reply(struct fx_raw *r, uint64_t id, struct fx_frame *out)
{
	struct fx_frame f;
	int code;

	for (;;) {
		int rc = fx_recv_frame(r->sfd, &r->rb, &f);

		if (rc < 0)
			return rc;
		cr_assert_eq(f.rc, 0, "undecodable answer");
		if (f.in.id == id)
			break;
		fx_frame_free(&f);
	}
	code = (int)f.in.code;
	if (out)
		*out = f;
	else
		fx_frame_free(&f);
	return code;
}

/* Requests (STATUS, ~300 bytes of answer each) and never a read, until
 * the server stops taking them: it stops reading a peer whose unsent
 * answers pass its high mark (4 MiB), long after our socket filled.
 * The 200 ms is not a measurement: once the server has stopped reading
 * nothing makes room, and a slow server only means a shorter flood (the
 * caller checks whether the socket was full).  How many went. */
unsigned fx_flood_status(int sfd)
{
	struct pollfd pfd = { .fd = sfd, .events = POLLOUT };
	struct tp_msg m;
	unsigned sent = 0;
	ssize_t n;

	cr_assert_eq(fcntl(sfd, F_SETFL, O_NONBLOCK), 0);
	for (uint64_t id = 1000;; id++) {
		tp_msg_init(&m);
		tp_msg_request(&m, id, TETHER_OP_STATUS);
		tp_w_array(&m.w, 0);
		cr_assert_eq(tp_msg_finish(&m), 0);
		while ((n = send(sfd, tp_msg_data(&m), tp_msg_size(&m),
				 MSG_NOSIGNAL)) < 0 &&
		       (errno == EAGAIN || errno == EWOULDBLOCK))
			if (poll(&pfd, 1, 200) == 0)
				break;
		tp_msg_destroy(&m);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return sent;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		/* A partial frame is fine: the server never gets to it. */
		sent++;
		cr_assert_lt(sent, 10000000u, "the server never stopped");
	}
}
