/*
 * The relay of a remote connection (mux.h): the stream's frames to the
 * two sockets and the sockets' bytes to frames, with bounded buffers
 * and per-channel credit.  The same loop runs on both hosts.  Every
 * buffer exists before it starts (it may run in a child forked from a
 * threaded program): it allocates nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libtether.h"
#include "mux.h"

/* Frames for the stream: room for two whole DATA frames, and a reserve
 * that DATA never takes, so EOF and CREDIT always fit soon. */
#define TL_MUX_RESERVE 64u
#define TL_MUX_OBUF (2u * (TL_MUX_HDR + TL_MUX_DATA_MAX) + TL_MUX_RESERVE)
#define TL_MUX_IBUF (TL_MUX_HDR + TL_MUX_DATA_MAX)

int tl_mux_init(struct tl_mux *m, int in, int out, int sfd, int dfd)
{
	struct stat st;
	unsigned char *b;

	memset(m, 0, sizeof(*m));
	b = malloc(2 * (size_t)TL_MUX_WINDOW + TL_MUX_IBUF + TL_MUX_OBUF);
	if (!b)
		return -ENOMEM;
	m->block = b;
	m->in = in;
	m->out = out;
	m->out_sock = fstat(out, &st) == 0 && S_ISSOCK(st.st_mode);
	m->linger_ms = -1;
	m->c[TL_MUX_CTL].fd = -1;
	m->c[TL_MUX_CTL].rd_eof = m->c[TL_MUX_CTL].eof_sent = true;
	m->c[TL_MUX_CTL].peer_eof = m->c[TL_MUX_CTL].wr_done = true;
	m->c[TL_MUX_SYSCALL].fd = sfd;
	m->c[TL_MUX_DATASOCK].fd = dfd;
	for (unsigned i = 1; i < TL_MUX_NCHAN; i++) {
		m->c[i].ring = b;
		m->c[i].credit = TL_MUX_WINDOW;
		b += TL_MUX_WINDOW;
	}
	m->ibuf = b;
	m->obuf = b + TL_MUX_IBUF;
	return 0;
}

void tl_mux_free(struct tl_mux *m)
{
	free(m->block);
	m->block = NULL;
}

static int tl_mux_fail(struct tl_mux *m, int err, const char *what)
{
	snprintf(m->err, sizeof(m->err), "%s", what);
	return -err;
}

/* A frame header into the output (the caller made sure it fits). */
static unsigned char *tl_mux_put(struct tl_mux *m, unsigned type,
				 unsigned chan, uint32_t len)
{
	unsigned char *h = m->obuf + m->olen;

	h[0] = (unsigned char)type;
	h[1] = (unsigned char)chan;
	h[2] = h[3] = 0;
	tl_put32(h + 4, len);
	m->olen += TL_MUX_HDR + len;
	return h + TL_MUX_HDR;
}

/* EOF and CREDIT frames that are due, as far as the output has room. */
static void tl_mux_control(struct tl_mux *m)
{
	for (unsigned i = 1; i < TL_MUX_NCHAN; i++) {
		struct tl_mux_chan *c = &m->c[i];

		if (c->rd_eof && !c->eof_sent &&
		    TL_MUX_OBUF - m->olen >= TL_MUX_HDR) {
			tl_mux_put(m, TL_MUX_EOF, i, 0);
			c->eof_sent = true;
		}
		/* a quarter window, or all of it once the ring is empty:
		 * small requests are not kept waiting for credit */
		if (c->owed && (c->owed >= TL_MUX_WINDOW / 4 || !c->len) &&
		    !c->peer_eof && TL_MUX_OBUF - m->olen >= TL_MUX_HDR + 4) {
			tl_put32(tl_mux_put(m, TL_MUX_CREDIT, i, 4), c->owed);
			c->owed = 0;
		}
	}
}

static bool tl_mux_done(const struct tl_mux *m)
{
	for (unsigned i = 1; i < TL_MUX_NCHAN; i++)
		if (!m->c[i].eof_sent || !m->c[i].peer_eof || !m->c[i].wr_done)
			return false;
	return true;
}

/* How many bytes a read of channel i may take now: credit, one frame,
 * the output's room outside its reserve. */
static size_t tl_mux_readable(const struct tl_mux *m, unsigned i)
{
	const struct tl_mux_chan *c = &m->c[i];
	size_t room = TL_MUX_OBUF - m->olen, n = c->credit;

	if (c->rd_eof || room < TL_MUX_RESERVE + TL_MUX_HDR + 1)
		return 0;
	room -= TL_MUX_RESERVE + TL_MUX_HDR;
	if (n > TL_MUX_DATA_MAX)
		n = TL_MUX_DATA_MAX;
	return n < room ? n : room;
}

/* The socket of channel i has bytes (or its end): a DATA frame, or the
 * channel's EOF.  A reset counts as an end: the peer learns it the
 * same way. */
static void tl_mux_from_chan(struct tl_mux *m, unsigned i)
{
	struct tl_mux_chan *c = &m->c[i];
	size_t want = tl_mux_readable(m, i);
	unsigned char *p = m->obuf + m->olen + TL_MUX_HDR;
	ssize_t n;

	if (!want)
		return;
	while ((n = read(c->fd, p, want)) < 0 && errno == EINTR)
		;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		c->rd_eof = true;
		return;
	}
	tl_mux_put(m, TL_MUX_DATA, i, (uint32_t)n);
	c->credit -= (uint32_t)n;
}

/* Ring bytes to channel i's socket.  A socket that refuses them (its
 * reader is gone) takes no more: what comes is dropped, and credited,
 * so the peer is never stuck on it. */
static void tl_mux_to_chan(struct tl_mux *m, unsigned i)
{
	struct tl_mux_chan *c = &m->c[i];
	size_t seg;
	ssize_t n;

	while (c->len && !c->wr_done) {
		seg = TL_MUX_WINDOW - c->head;
		if (seg > c->len)
			seg = c->len;
		n = send(c->fd, c->ring + c->head, seg,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			c->wr_done = true;
			break;
		}
		c->head = (c->head + (size_t)n) % TL_MUX_WINDOW;
		c->len -= (size_t)n;
		c->owed += (uint32_t)n;
	}
	if (c->wr_done) {
		c->owed += (uint32_t)c->len;
		c->len = 0;
	}
	if (!c->len && c->peer_eof && !c->wr_done) {
		shutdown(c->fd, SHUT_WR);
		c->wr_done = true;
	}
}

/* One DATA, EOF or CREDIT frame from the peer, checked against the
 * channel's state: a window overrun, data after EOF, a credit beyond
 * what was sent are the peer's lies, and end the relay. */
static int tl_mux_frame(struct tl_mux *m, unsigned type, unsigned i,
			const unsigned char *p, uint32_t len)
{
	struct tl_mux_chan *c = &m->c[i];
	size_t tail, first;
	uint32_t v;

	switch (type) {
	case TL_MUX_DATA:
		if (c->peer_eof)
			return tl_mux_fail(m, EPROTO, "DATA after EOF");
		if (len > TL_MUX_WINDOW - c->len - c->owed)
			return tl_mux_fail(m, EPROTO, "DATA beyond the window");
		if (c->wr_done) {
			c->owed += len;
			return 0;
		}
		tail = (c->head + c->len) % TL_MUX_WINDOW;
		first = TL_MUX_WINDOW - tail < len ? TL_MUX_WINDOW - tail : len;
		memcpy(c->ring + tail, p, first);
		memcpy(c->ring, p + first, len - first);
		c->len += len;
		return 0;
	case TL_MUX_EOF:
		if (c->peer_eof)
			return tl_mux_fail(m, EPROTO, "a second EOF");
		c->peer_eof = true;
		return 0;
	case TL_MUX_CREDIT:
		v = tl_get32(p);
		if (v > TL_MUX_WINDOW - c->credit)
			return tl_mux_fail(m, EPROTO,
					   "CREDIT for more than was sent");
		c->credit += v;
		return 0;
	}
	return tl_mux_fail(m, EPROTO, "a handshake frame while relaying");
}

/* The stream has bytes: every whole frame in them.  0 on EOF (the
 * peer is gone), 1 to go on. */
static int tl_mux_from_stream(struct tl_mux *m)
{
	unsigned type, chan;
	uint32_t len;
	size_t off = 0;
	ssize_t n;
	int rc;

	n = read(m->in, m->ibuf + m->ilen, TL_MUX_IBUF - m->ilen);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0) {
		snprintf(m->err, sizeof(m->err), "the other side went away");
		return 0;
	}
	m->ilen += (size_t)n;
	while (m->ilen - off >= TL_MUX_HDR) {
		/* a header is checked as soon as it is whole: a lying length
		 * is refused before a byte of its payload is awaited */
		rc = tl_mux_check_hdr(m->ibuf + off, &type, &chan, &len,
				      m->err, sizeof(m->err));
		if (rc < 0)
			return rc;
		if (m->ilen - off < TL_MUX_HDR + len)
			break;
		rc = tl_mux_frame(m, type, chan, m->ibuf + off + TL_MUX_HDR,
				  len);
		if (rc < 0)
			return rc;
		off += TL_MUX_HDR + len;
	}
	memmove(m->ibuf, m->ibuf + off, m->ilen - off);
	m->ilen -= off;
	return 1;
}

static int tl_mux_to_stream(struct tl_mux *m)
{
	ssize_t n;

	if (m->out_sock)
		n = send(m->out, m->obuf, m->olen, MSG_NOSIGNAL | MSG_DONTWAIT);
	else
		n = write(m->out, m->obuf, m->olen);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	memmove(m->obuf, m->obuf + n, m->olen - (size_t)n);
	m->olen -= (size_t)n;
	return 0;
}

/* poll's timeout: forever, or what is left of the linger once both
 * sockets have ended here. */
static int tl_mux_timeout(struct tl_mux *m, int64_t *deadline)
{
	int64_t left;

	if (m->linger_ms < 0 || !m->c[1].rd_eof || !m->c[2].rd_eof)
		return -1;
	if (!*deadline)
		*deadline = tl_now_ms() + m->linger_ms;
	left = *deadline - tl_now_ms();
	return left < 0 ? 0 : (int)left;
}

static void tl_mux_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void tl_mux_events(struct tl_mux *m, struct pollfd *p)
{
	p[0] = (struct pollfd){ .fd = m->in, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = m->olen ? m->out : -1,
				.events = POLLOUT };
	for (unsigned i = 1; i < TL_MUX_NCHAN; i++) {
		struct tl_mux_chan *c = &m->c[i];
		short ev = (short)((c->len && !c->wr_done ? POLLOUT : 0) |
				   (tl_mux_readable(m, i) ? POLLIN : 0));

		/* nothing wanted: not polled at all, or its POLLHUP would
		 * wake us for nothing */
		p[1 + i] = (struct pollfd){ .fd = ev ? c->fd : -1,
					    .events = ev };
	}
}

int tl_mux_run(struct tl_mux *m)
{
	struct pollfd p[1 + TL_MUX_NCHAN];
	int64_t deadline = 0;
	int rc, r;

	tl_mux_nonblock(m->in);
	tl_mux_nonblock(m->out);
	for (unsigned i = 1; i < TL_MUX_NCHAN; i++)
		tl_mux_nonblock(m->c[i].fd);
	for (;;) {
		tl_mux_control(m);
		if (tl_mux_done(m) && !m->olen)
			return 0;
		tl_mux_events(m, p);
		r = poll(p, 1 + TL_MUX_NCHAN, tl_mux_timeout(m, &deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return tl_mux_fail(m, errno, "poll");
		if (r == 0)
			return tl_mux_fail(m, ETIMEDOUT, "the other side did "
					   "not end its side in time");
		if (p[1].revents && (rc = tl_mux_to_stream(m)) < 0)
			return tl_mux_fail(m, -rc, "the other side went away");
		if (p[0].revents && (rc = tl_mux_from_stream(m)) <= 0)
			return rc;
		for (unsigned i = 1; i < TL_MUX_NCHAN; i++) {
			if (p[1 + i].revents & (POLLOUT | POLLERR | POLLHUP))
				tl_mux_to_chan(m, i);
			if (p[1 + i].revents & (POLLIN | POLLERR | POLLHUP))
				tl_mux_from_chan(m, i);
			/* a peer's EOF on an empty ring: nothing to poll for */
			if (!m->c[i].len)
				tl_mux_to_chan(m, i);
		}
	}
}
