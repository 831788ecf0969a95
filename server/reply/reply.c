/*
 * The one path every answer takes: a frame onto the peer's output queue,
 * sent by the ring at the end of the loop turn (reply.h says why).  A peer
 * whose replies cannot go is only marked failed here; conn/ closes it
 * between events, so no handler ever finds its connection freed under it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

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

/* What the socket takes of [head, len) now.  0, or -EAGAIN if some is
 * left. */
static int td_outq_send_now(struct td_conn *c)
{
	struct td_outq *q = &c->out;

	while (q->head < q->len) {
		ssize_t n = send(c->sfd, q->buf + q->head, q->len - q->head,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -EAGAIN;
		if (n < 0) {
			td_conn_fail(c, strerror(errno));
			return -EPIPE;
		}
		q->head += (size_t)n;
	}
	return 0;
}

/* buf is all sent: what waited behind it comes forward. */
static void td_outq_advance(struct td_conn *c)
{
	struct td_outq *q = &c->out;
	char *b = q->buf;
	size_t cap = q->cap;

	if (q->head < q->len)
		return;
	q->buf = q->more;
	q->cap = q->more_cap;
	q->head = 0;
	q->len = q->more_len;
	q->more = b;
	q->more_cap = cap;
	q->more_len = 0;
	/* A burst's memory goes back once it is out. */
	if (q->more_cap > TD_OUTQ_HIGH) {
		free(q->more);
		q->more = NULL;
		q->more_cap = 0;
	}
	if (!q->len && q->cap > TD_OUTQ_HIGH) {
		free(q->buf);
		q->buf = NULL;
		q->cap = 0;
	}
}

static void td_conn_drained(struct td_conn *c)
{
	if (c->srv->stopping && !td_conn_unsent(c))
		td_conn_fail(c, "server shutting down");
}

void td_conn_flush(struct td_conn *c)
{
	/* A failed peer still gets what it was answered before the end
	 * (an oversized frame's notice, say): conn/ flushes at the close. */
	if (c->closing || c->out_state != TD_OUT_IDLE)
		return;
	for (;;) {
		td_outq_advance(c);
		if (c->out.head == c->out.len || td_outq_send_now(c) < 0)
			break;
	}
	if (!td_conn_gone(c))
		td_conn_drained(c);
}

/* sqe (prepared) is c's one ev_out in the ring, as state says. */
static void td_conn_out_armed(struct td_conn *c, struct io_uring_sqe *sqe,
			      enum td_out_state state)
{
	io_uring_sqe_set_data(sqe, &c->ev_out);
	c->out_state = state;
	c->inflight++;
}

static void td_conn_arm_pollout(struct td_conn *c)
{
	struct io_uring_sqe *sqe = td_sqe(c->srv);

	if (!sqe) {
		td_conn_fail(c, "submission queue full");
		return;
	}
	io_uring_prep_poll_add(sqe, c->sfd, POLLOUT);
	td_conn_out_armed(c, sqe, TD_OUT_POLL);
}

/* The rest of buf by a send the ring carries on with as the peer reads
 * (MSG_WAITALL), completing once: a big reply or a slow reader costs no
 * loop turn per socket-full. */
static void td_conn_send_waiting(struct td_conn *c)
{
	struct td_outq *q = &c->out;
	struct io_uring_sqe *sqe = td_sqe(c->srv);

	if (!sqe) {
		td_conn_fail(c, "submission queue full");
		return;
	}
	io_uring_prep_send(sqe, c->sfd, q->buf + q->head, q->len - q->head,
			   MSG_WAITALL | MSG_NOSIGNAL);
	td_conn_out_armed(c, sqe, TD_OUT_WAIT);
}

/* One ring send of what is queued, issued by the next io_uring_enter
 * before it waits.  MSG_DONTWAIT makes the ring finish it there and
 * then (a full socket answers -EAGAIN instead of the ring waiting), so
 * once that enter returns the kernel is done with buf; and since only a
 * short or failed send (or a long one, below) posts a completion, the
 * wait is not cut short by our own send (MSG_WAITALL makes a short one
 * count as failed).  What a
 * full socket did not take goes on by td_conn_send_waiting. */
static void td_conn_send(struct td_conn *c)
{
	struct td_outq *q = &c->out;
	struct io_uring_sqe *sqe;

	td_outq_advance(c);
	if (q->head == q->len)
		return;
	if (c->srv->conns.sync_send || !(sqe = td_sqe(c->srv))) {
		if (td_outq_send_now(c) == -EAGAIN)
			td_conn_arm_pollout(c);
		return;
	}
	io_uring_prep_send(sqe, c->sfd, q->buf + q->head, q->len - q->head,
			   MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL);
	/* Unless a long queue is going: it may have stopped the reading
	 * (whole requests wait in c->in) or a LOGS stream, and only this
	 * send's completion resumes them (td_conn_event_out).  Sent whole
	 * without a completion, it would leave the loop waiting on nothing
	 * while the peer waits for the next answer
	 * (backpressure_resumes_when_the_peer_reads stalled until a timer).
	 * An upgrade's drain waits for every queue to empty: its sends
	 * complete too. */
	if (td_conn_unsent(c) >= TD_OUTQ_RESUME || c->srv->upgrade.draining) {
		td_conn_out_armed(c, sqe, TD_OUT_SEND);
		return;
	}
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	td_conn_out_armed(c, sqe, TD_OUT_QUIET);
}

void td_conns_send(struct td_server *srv)
{
	for (struct td_conn *c = srv->conns.all; c; c = c->next)
		if (!td_conn_gone(c) && c->out_state == TD_OUT_IDLE &&
		    td_conn_unsent(c))
			td_conn_send(c);
}

void td_conn_sent(struct td_conn *c, int res)
{
	enum td_out_state was = c->out_state;

	c->out_state = TD_OUT_IDLE;
	if (td_conn_gone(c))
		return;
	if (was == TD_OUT_POLL) {
		/* POLLOUT: what is queued goes at the turn's end. */
		if (res < 0 && res != -ECANCELED)
			td_conn_fail(c, strerror(-res));
		return;
	}
	if (res < 0 && res != -EAGAIN && res != -EINTR) {
		if (res != -ECANCELED)
			td_conn_fail(c, strerror(-res));
		return;
	}
	if (res > 0)
		c->out.head += (size_t)res;
	/* The first send came back short: the socket is full. */
	if (was != TD_OUT_WAIT && c->out.head < c->out.len) {
		td_conn_send_waiting(c);
		return;
	}
	td_outq_advance(c);
	td_conn_drained(c);
}

void td_outq_free(struct td_outq *q)
{
	free(q->buf);
	free(q->more);
	memset(q, 0, sizeof(*q));
}

/* Past this much unread, a peer stops being read; past the hard bound it
 * is dropped: its replies are not the server's to keep. */
size_t td_conn_outq_high(const struct td_conn *c)
{
	return c->role == TD_PEER_READONLY ? TD_OUTQ_HIGH_RO : TD_OUTQ_HIGH;
}


/* Append n bytes at p to the buffer of *bufp (in place, or grown). */
static int td_outq_append(char **bufp, size_t *len, size_t *cap,
			  const char *p, size_t n)
{
	if (*len + n > *cap) {
		size_t nc = *cap ? *cap : 4096;
		char *nb;

		while (nc < *len + n)
			nc *= 2;
		if (!(nb = realloc(*bufp, nc)))
			return -ENOMEM;
		*bufp = nb;
		*cap = nc;
	}
	memcpy(*bufp + *len, p, n);
	*len += n;
	return 0;
}

/* Past this, a reply that finds the queue empty becomes the queue
 * (its buffer taken over) instead of being copied into it. */
#define TD_OUTQ_ADOPT (64u << 10)

/* Room for n more bytes of replies on c: 0, or -EPIPE (it is going) or
 * -ENOBUFS (it leaves too much unread: failed). */
static int td_conn_room(struct td_conn *c, size_t n)
{
	size_t max = c->role == TD_PEER_READONLY ? TD_OUTQ_MAX_RO : TD_OUTQ_MAX;

	if (td_conn_gone(c))
		return -EPIPE;
	if (td_conn_unsent(c) + n > max) {
		td_log("%s pid %d leaves %zu bytes of replies unread",
		       c->observer ? "observer" : "controller",
		       (int)c->peer_pid, td_conn_unsent(c));
		td_conn_fail(c, "not reading its replies");
		return -ENOBUFS;
	}
	return 0;
}

/* n bytes at p behind what is queued: after a send in flight (the
 * kernel reads buf until its completion), or in buf. */
static int td_outq_queue(struct td_conn *c, const char *p, size_t n)
{
	struct td_outq *q = &c->out;

	if (c->out_state != TD_OUT_IDLE || q->more_len)
		return td_outq_append(&q->more, &q->more_len, &q->more_cap, p,
				      n);
	if (q->head == q->len)
		q->head = q->len = 0;
	return td_outq_append(&q->buf, &q->len, &q->cap, p, n);
}

/* A frame this big goes to a controller's socket in one send, not in
 * the default send buffer's ~200 KiB pieces (each a wait for the peer
 * to read).  Raised once per connection, for full peers only, to one
 * frame: the kernel then holds at most about two frames of unread
 * replies for each (SO_SNDBUF doubles what it is given, within
 * net.core.wmem_max, which caps it silently). */
#define TD_SNDBUF_BIG_AT (256u << 10)

static void td_conn_size_sndbuf(struct td_conn *c, size_t n)
{
	int v = (int)(TETHER_FRAME_HDR + TETHER_FRAME_MAX);

	if (n < TD_SNDBUF_BIG_AT || c->out.sndbuf_raised ||
	    c->role != TD_PEER_FULL)
		return;
	c->out.sndbuf_raised = true;
	/* Failing costs only speed. */
	(void)setsockopt(c->sfd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

int td_conn_queue_gather(struct td_conn *c, struct tp_gmsg *m)
{
	struct iovec *iov = m->iov;
	size_t niov = m->niov, n = m->size;
	int rc = td_conn_room(c, n);

	m->niov = 0;
	if (rc < 0)
		return rc;
	td_conn_size_sndbuf(c, n);
	/* A large frame with nothing before it goes now, straight from the
	 * iovecs (one sendmsg of its own beside megabytes of copying, where
	 * the ring's send at the turn's end would need it copied into the
	 * queue first).  A small one is queued like any reply. */
	while (n >= TD_OUTQ_ADOPT && niov && c->out_state == TD_OUT_IDLE &&
	       !td_conn_unsent(c)) {
		struct msghdr mh = { .msg_iov = iov,
				     .msg_iovlen = niov < IOV_MAX ? niov
								  : IOV_MAX };
		ssize_t w = sendmsg(c->sfd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0) {
			td_conn_fail(c, strerror(errno));
			return -EPIPE;
		}
		tp_iov_advance(&iov, &niov, (size_t)w);
	}
	/* The rest is copied: the buffers it points into are the caller's
	 * to give back once this returns.  The ring sends it at the end of
	 * the turn. */
	for (; niov; niov--, iov++)
		if ((rc = td_outq_queue(c, iov->iov_base, iov->iov_len)) < 0) {
			td_conn_fail(c, "out of memory for replies");
			return rc;
		}
	td_conn_drained(c);
	return 0;
}

int td_conn_queue(struct td_conn *c, struct tp_msg *m)
{
	struct td_outq *q = &c->out;
	size_t n = tp_msg_size(m);
	int rc;

	if ((rc = td_conn_room(c, n)) < 0)
		return rc;
	td_conn_size_sndbuf(c, n);
	if (c->out_state != TD_OUT_IDLE || q->more_len) {
		/* The kernel reads buf until the completion; what came
		 * after a short send waits behind it. */
		rc = td_outq_append(&q->more, &q->more_len, &q->more_cap,
				    tp_msg_data(m), n);
	} else if (q->head == q->len && n >= TD_OUTQ_ADOPT) {
		/* A 2 MiB REAP reply is not copied twice. */
		if (q->buf && !q->more) {
			q->more = q->buf;
			q->more_cap = q->cap;
		} else {
			free(q->buf);
		}
		q->buf = tp_msg_steal(m, &q->len, &q->cap);
		q->head = 0;
		rc = 0;
	} else {
		if (q->head == q->len)
			q->head = q->len = 0;
		rc = td_outq_append(&q->buf, &q->len, &q->cap, tp_msg_data(m),
				    n);
	}
	if (rc < 0) {
		td_conn_fail(c, "out of memory for replies");
		return rc;
	}
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
	return c->out.len - c->out.head + c->out.more_len;
}

void td_conn_fail(struct td_conn *c, const char *why)
{
	if (!c->closing && !c->failed)
		c->failed = why;
}
