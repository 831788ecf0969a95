/*
 * A pipelined connect (TETHER_CONNECT_PIPELINE): tether_connect returns
 * once the HELLO is out, and the first request follows it at once on
 * the syscall socket the HELLO carries.  Its bytes (and fds) wait in
 * that socket until tetherd adopts it, which it does only after it has
 * answered the HELLO; a refused HELLO has the socket closed with them,
 * unread (tether-protocol(7), HANDSHAKE).  Here: the answer is read
 * before anything is read from the connection; a refusal becomes every
 * later call's failure; and what went out behind the HELLO is kept
 * until the answer, to be sent again where tether_connect would have
 * attached again (a busy server, an older one).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libtether.h"

#define TL_PIPE_BYTES 65536	/* kept for a replay; beyond: wait first */
#define TL_PIPE_SENDS 8

/* One send behind the HELLO. */
struct tl_pipe_rec {
	bool data;			/* on the data socket, with fd */
	int fd;				/* the caller's fd it passed, or -1 */
	size_t off;			/* its bytes in buf */
	size_t len;
};

struct tl_pipe {
	int hfd;			/* the handshake's connection, or -1 */
	const struct tl_pipe_ops *ops;
	char path[108];			/* what to attach again with */
	unsigned hflags;
	uint64_t gen;
	uid_t uid;
	unsigned char *buf;		/* the bytes sent behind the HELLO */
	size_t len;
	size_t cap;
	struct tl_pipe_rec rec[TL_PIPE_SENDS];
	unsigned nrec;
	int refused;			/* the refusal's errno, once read */
	int cause;
	char err[256];
};

int tl_pipe_begin(struct tether *t, int hfd, const struct tl_pipe_ops *ops,
		  const char *path, unsigned hflags, uint64_t expect_gen,
		  uid_t server_uid)
{
	struct tl_pipe *p;

	if (strlen(path) >= sizeof(p->path) || !(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->hfd = hfd;
	p->ops = ops;
	strcpy(p->path, path);
	p->hflags = hflags;
	p->gen = expect_gen;
	p->uid = server_uid;
	t->pipe = p;
	return 0;
}

/* The record of what was sent: dropped once it cannot be needed. */
static void tl_pipe_forget(struct tl_pipe *p)
{
	p->nrec = 0;
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

void tl_pipe_free(struct tether *t)
{
	struct tl_pipe *p = t->pipe;

	if (!p)
		return;
	tl_pipe_forget(p);
	if (p->hfd >= 0)
		close(p->hfd);
	free(p);
	t->pipe = NULL;
}

/* One send as it is, on the socket of this handle's connection now. */
static int tl_pipe_raw(struct tether *t, bool data, const void *buf,
		       size_t n, int passfd)
{
	ssize_t k;

	if (passfd < 0)
		return tp_write_all(data ? t->dfd : t->sfd, buf, n);
	k = tp_send_fds(t->dfd, buf, n, 0, &passfd, 1);
	return k < 0 ? (int)k : (size_t)k == n ? 0 : -EIO;
}

/* The handshake's deadline (tl_dial_type sets it on the socket; here
 * for the pipelined wait, which polls): libtether.h. */
unsigned tl_handshake_ms(void)
{
	const char *v = getenv("TETHER_CONNECT_TIMEOUT");
	char *end;
	unsigned long s;

	if (!v || !*v)
		return TL_HANDSHAKE_MS;
	errno = 0;
	s = strtoul(v, &end, 10);
	if (errno || *end || s > 86400)
		return TL_HANDSHAKE_MS;
	return (unsigned)s * 1000;
}

int tl_handshake_timeout(struct tether *t, int fd)
{
	struct ucred cred = { .pid = 0 };
	socklen_t len = sizeof(cred);

	getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	return tl_fail(t, ETIMEDOUT, "tetherd (pid %d) did not answer the "
		       "handshake in %u s: stopped or hung? (see "
		       "TETHER_CONNECT_TIMEOUT)", (int)cred.pid,
		       tl_handshake_ms() / 1000);
}

/* Everything sent behind the HELLO, again, in order, on the new
 * connection. */
static int tl_pipe_replay(struct tether *t)
{
	struct tl_pipe *p = t->pipe;
	int rc;

	for (unsigned i = 0; i < p->nrec; i++) {
		const struct tl_pipe_rec *r = &p->rec[i];

		if ((rc = tl_pipe_raw(t, r->data, p->buf + r->off, r->len,
				      r->fd)) < 0)
			return tl_fail(t, -rc, "sending again after the "
				       "attach: %s", strerror(-rc));
	}
	return 0;
}

/* Before the answer is read: it is there (TL_WAIT_NOW: -EAGAIN if
 * not), or, TL_WAIT_REPLY, the syscall socket is readable: its first
 * reply (or its end, on a refusal) comes after the answer, so the
 * answer is in by then, and waiting for the reply rather than the
 * answer spares a wakeup (on one CPU, a switch to us and back while
 * the server has the request in hand); the read of the reply then
 * needs no poll of its own.  -EINTR if the interrupt fd turns readable
 * first. */
static int tl_pipe_ready(struct tether *t, int hfd, enum tl_wait how)
{
	struct pollfd p[2] = {
		{ .fd = how == TL_WAIT_REPLY ? t->sfd : hfd, .events = POLLIN },
		{ .fd = t->intr_fd, .events = POLLIN },
	};
	nfds_t n = how != TL_WAIT_NOW && t->intr_fd >= 0 ? 2 : 1;
	unsigned ms = how == TL_WAIT_NOW ? 0 : tl_handshake_ms();
	int wait = how == TL_WAIT_NOW ? 0 : ms ? (int)ms : -1, r;

	/* nothing else to watch: the answer's read itself waits (as long
	 * as the handshake socket's SO_RCVTIMEO says) */
	if (how == TL_WAIT_ANSWER && n == 1)
		return 0;
	while ((r = poll(p, n, wait)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return -errno;
	if (r == 0 && how == TL_WAIT_NOW)
		return -EAGAIN;
	/* The deadline is the handshake's: a reply may take as long as its
	 * call does once the answer is in. */
	if (r == 0 && how == TL_WAIT_REPLY &&
	    poll(&(struct pollfd){ .fd = hfd, .events = POLLIN }, 1, 0) == 1) {
		t->sfd_ready = false;
		return 0;
	}
	if (r == 0)
		return tl_handshake_timeout(t, hfd);
	if (!p[0].revents)
		return tl_fail(t, EINTR, "interrupted");
	t->sfd_ready = how == TL_WAIT_REPLY;
	return 0;
}

/* A refusal for good: the handle's sockets go, every call fails so. */
static int tl_pipe_refused(struct tether *t, int rc)
{
	struct tl_pipe *p = t->pipe;

	tl_pipe_forget(p);
	p->refused = -rc;
	p->cause = t->cause;
	memcpy(p->err, t->err, sizeof(p->err));
	return rc;
}

int tl_pipe_wait(struct tether *t, enum tl_wait how)
{
	struct tl_pipe *p = t->pipe;
	int rc, cause;

	if (p->refused) {
		memcpy(t->err, p->err, sizeof(t->err));
		t->cause = p->cause;
		return -p->refused;
	}
	/* a reply is coming only if a request went out */
	if (how == TL_WAIT_REPLY && !p->nrec)
		how = TL_WAIT_ANSWER;
	if ((rc = tl_pipe_ready(t, p->hfd, how)) < 0 && rc != -ETIMEDOUT)
		return rc;
	/* a refusal is the connection's failure, as tether_connect's is,
	 * unless the server names another cause; so is an answer that
	 * never came (given up on for good: no later call waits again) */
	cause = t->cause;
	t->cause = TETHER_CAUSE_CONNECTION;
	if (rc == 0)
		rc = p->ops->answer(t, p->hfd);
	close(p->hfd);
	p->hfd = -1;
	if (rc == 0) {
		t->cause = cause;
		tl_pipe_free(t);
		return 0;
	}
	/* Refused: the server closed its ends with what we sent in them. */
	close(t->sfd);
	close(t->dfd);
	t->sfd = t->dfd = -1;
	if (rc != -EAGAIN && rc != -EINVAL)
		return tl_pipe_refused(t, rc);
	rc = p->ops->redo(t, rc, p->path, p->hflags, p->gen, p->uid);
	if (rc == 0 && (rc = tl_pipe_replay(t)) == 0) {
		tl_pipe_free(t);
		return 1;
	}
	return tl_pipe_refused(t, rc);
}

/* Room to keep n more bytes: false when there is not, or nothing may
 * be sent behind the HELLO any more. */
static bool tl_pipe_room(struct tl_pipe *p, size_t n)
{
	unsigned char *nb;
	size_t cap;

	if (p->refused || p->nrec == TL_PIPE_SENDS ||
	    n > TL_PIPE_BYTES - p->len)
		return false;
	if (p->len + n > p->cap) {
		cap = p->cap ? p->cap : 256;
		while (cap < p->len + n)
			cap *= 2;
		if (!(nb = realloc(p->buf, cap)))
			return false;
		p->buf = nb;
		p->cap = cap;
	}
	return true;
}

static void tl_pipe_keep(struct tl_pipe *p, bool data, const void *buf,
			 size_t n, int passfd)
{
	struct tl_pipe_rec *r = &p->rec[p->nrec++];

	r->data = data;
	r->fd = passfd;
	r->off = p->len;
	r->len = n;
	memcpy(p->buf + p->len, buf, n);
	p->len += n;
}

int tl_pipe_send(struct tether *t, bool data, const void *buf, size_t n,
		 int passfd)
{
	int rc, w;

	if (t->pipe && !tl_pipe_room(t->pipe, n) &&
	    (rc = tl_pipe_wait(t, TL_WAIT_ANSWER)) < 0)
		return rc;
	rc = tl_pipe_raw(t, data, buf, n, passfd);
	if (!t->pipe)
		return rc;
	if (rc == 0) {
		tl_pipe_keep(t->pipe, data, buf, n, passfd);
		return 0;
	}
	if (rc != -EPIPE && rc != -ECONNRESET)
		return rc;
	/* The server dropped the sockets: refused, most likely, and the
	 * answer says why (or it attached us again: then send it now). */
	if ((w = tl_pipe_wait(t, TL_WAIT_ANSWER)) < 0)
		return w;
	return w == 0 ? rc : tl_pipe_raw(t, data, buf, n, passfd);
}

void tl_pipe_unpass(struct tether *t)
{
	for (unsigned i = 0; t->pipe && i < t->pipe->nrec; i++)
		t->pipe->rec[i].fd = -1;
}

bool tl_pipe_refusal(const struct tether *t)
{
	return t->pipe && t->pipe->refused;
}

/* A disconnect with requests behind an unread answer reads it: if the
 * attach had to be redone, they are sent again, as they would have
 * been had tether_connect waited. */
void tl_pipe_close(struct tether *t)
{
	if (t->pipe && !t->pipe->refused && t->pipe->nrec)
		tl_pipe_wait(t, TL_WAIT_ANSWER);
	tl_pipe_free(t);
}

TETHER_API int tether_connect_finish(struct tether *t)
{
	int rc;

	if (!t)
		return -EINVAL;
	rc = tl_settle(t, false);
	return rc < 0 ? rc : 0;
}
