/*
 * The one path every answer takes: a frame onto the peer's output queue,
 * sent as far as the socket takes it now, the rest on POLLOUT.  A peer
 * whose replies cannot go is only marked failed here; conn/ closes it
 * between events, so no handler ever finds its connection freed under it.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/conn.h"
#include "log.h"
#include "tetherd.h"

int td_req_fail(struct td_req *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	return -err;
}

static void td_conn_arm_out(struct td_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->out_armed)
		return;
	if (!(sqe = td_sqe(c->srv))) {
		td_conn_fail(c, "submission queue full");
		return;
	}
	io_uring_prep_poll_add(sqe, c->sfd, POLLOUT);
	io_uring_sqe_set_data(sqe, &c->ev_out);
	c->out_armed = true;
	c->inflight++;
}

void td_conn_flush(struct td_conn *c)
{
	struct td_outq *q = &c->out;

	while (q->head < q->len) {
		ssize_t n = send(c->sfd, q->buf + q->head, q->len - q->head,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			td_conn_arm_out(c);
			return;
		}
		if (n < 0) {
			td_conn_fail(c, strerror(errno));
			return;
		}
		q->head += (size_t)n;
	}
	q->head = q->len = 0;
	if (q->cap > TD_OUTQ_HIGH) {
		free(q->buf);
		q->buf = NULL;
		q->cap = 0;
	}
	if (c->srv->stopping)
		td_conn_fail(c, "server shutting down");
}

/* Past this much unread, a peer stops being read; past the hard bound it
 * is dropped: its replies are not the server's to keep. */
size_t td_conn_outq_high(const struct td_conn *c)
{
	return c->role == TD_PEER_READONLY ? TD_OUTQ_HIGH_RO : TD_OUTQ_HIGH;
}


static int td_conn_queue_rest(struct td_conn *c, const char *p, size_t n);

int td_conn_queue(struct td_conn *c, struct tp_msg *m)
{
	struct td_outq *q = &c->out;
	size_t n = tp_msg_size(m);
	size_t max = c->role == TD_PEER_READONLY ? TD_OUTQ_MAX_RO : TD_OUTQ_MAX;

	if (td_conn_gone(c))
		return -EPIPE;
	if (q->len - q->head + n > max) {
		td_log("%s pid %d leaves %zu bytes of replies unread",
		       c->observer ? "observer" : "controller",
		       (int)c->peer_pid, q->len - q->head);
		td_conn_fail(c, "not reading its replies");
		return -ENOBUFS;
	}
	if (q->head && q->head == q->len)
		q->head = q->len = 0;
	/* Nothing waits before it: straight from m to the socket, and only
	 * what the socket does not take now is copied to the queue (a 2 MiB
	 * REAP reply is not copied twice). */
	if (!q->len && !c->out_armed) {
		const char *p = tp_msg_data(m);
		ssize_t w;

		do
			w = send(c->sfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			td_conn_fail(c, strerror(errno));
			return -EPIPE;
		}
		if (w == (ssize_t)n) {
			if (c->srv->stopping)
				td_conn_fail(c, "server shutting down");
			return 0;
		}
		/* The rest waits for POLLOUT in m's own buffer, which the
		 * queue takes over instead of copying it. */
		free(q->buf);
		q->buf = tp_msg_steal(m, &q->len, &q->cap);
		q->head = w > 0 ? (size_t)w : 0;
		td_conn_flush(c);
		return 0;
	}
	return td_conn_queue_rest(c, tp_msg_data(m), n);
}

/* n bytes at p after what is queued, and send what the socket takes. */
static int td_conn_queue_rest(struct td_conn *c, const char *p, size_t n)
{
	struct td_outq *q = &c->out;

	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : 4096;
		char *nb;

		while (cap < q->len + n)
			cap *= 2;
		if (!(nb = realloc(q->buf, cap))) {
			td_conn_fail(c, "out of memory for replies");
			return -ENOMEM;
		}
		q->buf = nb;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, p, n);
	q->len += n;
	if (!c->out_armed)
		td_conn_flush(c);
	return 0;
}

void td_conn_notice(struct td_conn *c, int err, const char *fmt, ...)
{
	struct tp_msg m;
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tp_msg_init(&m);
	if (tp_msg_error(&m, 0, err, "%s", text) == 0)
		td_conn_queue(c, &m);
	tp_msg_destroy(&m);
}


size_t td_conn_unsent(const struct td_conn *c)
{
	return c->out.len - c->out.head;
}

void td_conn_fail(struct td_conn *c, const char *why)
{
	if (!c->closing && !c->failed)
		c->failed = why;
}
