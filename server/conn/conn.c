/*
 * One attached peer: frames in from its syscall socket, replies out
 * through a queue, so a controller that stops reading never blocks the
 * server.  Its two sockets are internal fds, closed here when it ends.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "data/data.h"
#include "deferred/job.h"
#include "tetherd.h"

static void td_conn_arm_in(struct td_conn *c)
{
	struct io_uring_sqe *sqe = td_sqe(c->srv);

	if (!sqe) {
		td_conn_close(c, "submission queue full");
		return;
	}
	io_uring_prep_poll_multishot(sqe, c->sfd, POLLIN | POLLRDHUP);
	io_uring_sqe_set_data(sqe, &c->ev_in);
	c->inflight++;
}

struct td_conn *td_conn_new(struct td_server *srv, int sfd, int dfd)
{
	struct td_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->srv = srv;
	c->sfd = sfd;
	c->dfd = dfd;
	c->since = time(NULL);
	c->ev_in.kind = TD_EV_CONN_IN;
	c->ev_out.kind = TD_EV_CONN_OUT;
	c->ev_data.kind = TD_EV_DATA;
	c->ev_in.obj = c->ev_out.obj = c->ev_data.obj = c;
	c->next = srv->conns.all;
	srv->conns.all = c;
	td_conn_arm_in(c);
	return c;
}

static void td_conn_free(struct td_conn *c)
{
	struct td_conn **pp = &c->srv->conns.all;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	tp_rbuf_free(&c->in);
	td_outq_free(&c->out);
	free(c);
}

void td_conn_put(struct td_conn *c)
{
	if (c->inflight)
		c->inflight--;
}

static void td_conn_cancel(struct td_conn *c, struct td_event *ev)
{
	struct io_uring_sqe *sqe = td_sqe(c->srv);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)ev, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void td_conn_close(struct td_conn *c, const char *why)
{
	struct td_server *srv = c->srv;

	if (c->closing)
		return;
	/* Its last answers were to go with the turn's end: as much of
	 * them as the socket takes now. */
	td_conn_flush(c);
	c->closing = true;
	td_log("%s pid %d (generation %llu) detached: %s",
	       c->observer ? "observer" : "controller", (int)c->peer_pid,
	       (unsigned long long)c->generation, why);
	if (srv->conns.controller == c)
		srv->conns.controller = NULL;
	/* The transfer first: its owner then hears of the end as the
	 * transfer's, before the detach. */
	td_xfer_abort(c, -ECONNRESET);
	td_jobs_conn_closed(c);
	if (c->observer)
		srv->conns.nobservers--;
	/* Cancel before closing: the ring holds its own file references,
	 * a closed fd would not end the polls. */
	td_conn_cancel(c, &c->ev_in);
	if (c->out_state != TD_OUT_IDLE)
		td_conn_cancel(c, &c->ev_out);
	if (c->data_armed)
		td_conn_cancel(c, &c->ev_data);
	shutdown(c->sfd, SHUT_RDWR);
	shutdown(c->dfd, SHUT_RDWR);
	td_ifd_close(c->sfd);
	td_ifd_close(c->dfd);
	c->sfd = c->dfd = -1;
	/* Freed by td_conns_reap() once the ring lets go of it: whoever
	 * called us may still hold c. */
}

void td_conns_reap(struct td_server *srv)
{
	for (struct td_conn *c = srv->conns.all, *next; c; c = next) {
		next = c->next;
		if (c->failed && !c->closing)
			td_conn_close(c, c->failed);
		if (c->closing && !c->inflight)
			td_conn_free(c);
	}
}

/* Drop the rest of a frame too large to hold, then carry on. */
static int td_conn_skip(struct td_conn *c)
{
	char sink[65536];

	while (c->skip) {
		size_t want = c->skip < sizeof(sink) ? c->skip : sizeof(sink);
		ssize_t n = tp_recv_some(c->sfd, sink, want);

		if (n < 0)
			return (int)n;
		c->skip -= (uint64_t)n;
	}
	return 0;
}

static void td_conn_oversized(struct td_conn *c)
{
	const unsigned char *h = c->in.buf;
	uint32_t plen = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 |
			(uint32_t)h[2] << 8 | h[3];
	size_t have = c->in.len - TETHER_FRAME_HDR;

	td_log("controller pid %d: frame of %u bytes refused (limit %u)",
	       (int)c->peer_pid, plen, TETHER_FRAME_MAX);
	td_conn_notice(c, E2BIG, "frame of %u bytes exceeds the limit of %u",
		       plen, TETHER_FRAME_MAX);
	if (have > plen)
		have = plen;
	c->skip = plen - have;
	memmove(c->in.buf, c->in.buf + TETHER_FRAME_HDR + have,
		c->in.len - TETHER_FRAME_HDR - have);
	c->in.len -= TETHER_FRAME_HDR + have;
}

/* Handle every whole frame, reading until the socket is empty or the
 * reply queue is too long (then POLLOUT resumes us). */
static void td_conn_pump(struct td_conn *c, bool hup)
{
	const unsigned char *payload;
	size_t len;
	bool drained = false;
	ssize_t n;
	int rc;

	while (!td_conn_gone(c) && td_conn_unsent(c) < td_conn_outq_high(c)) {
		if (c->skip && (rc = td_conn_skip(c)) < 0) {
			if (rc != -EAGAIN)
				td_conn_close(c, strerror(-rc));
			return;
		}
		rc = tp_rbuf_frame(&c->in, &payload, &len);
		if (rc == -EMSGSIZE) {
			td_conn_oversized(c);
			continue;
		}
		if (rc > 0) {
			td_dispatch(c, payload, len);
			if (!td_conn_gone(c))
				tp_rbuf_consume(&c->in, len);
			continue;
		}
		/* A short read emptied the socket: more data means another
		 * wakeup, another completion of the multishot poll, so there
		 * is no need to spend a read on EAGAIN -- unless the peer
		 * hung up in the same wakeup: then read on to the EOF. */
		if (drained && !hup)
			return;
		n = tp_rbuf_recv(&c->in, c->sfd, MSG_DONTWAIT);
		drained = n > 0 && c->in.len < c->in.cap;
		if (n == -EMSGSIZE) {
			td_conn_oversized(c);
			continue;
		}
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			td_conn_close(c, n == 0 ? "end of file"
						: strerror((int)-n));
			return;
		}
	}
}

/* The handlers hold a reference of their own: a frame may close the
 * connection, and the memory must outlive the pump that handled it. */
void td_conn_event_in(struct td_conn *c, int res, bool more)
{
	if (!more)
		c->inflight--;
	c->inflight++;
	if (!td_conn_gone(c) && res < 0 && res != -ECANCELED)
		td_conn_close(c, strerror(-res));
	if (!td_conn_gone(c))
		td_conn_pump(c, res > 0 && (res & (POLLHUP | POLLRDHUP | POLLERR)));
	if (!more && !td_conn_gone(c))
		td_conn_arm_in(c);
	td_conn_put(c);
}

bool td_conn_catch_up(struct td_conn *c)
{
	c->inflight++;
	if (c->failed && !c->closing)
		td_conn_close(c, c->failed);
	if (!td_conn_gone(c))
		td_conn_pump(c, true);
	td_conn_put(c);
	return !td_conn_gone(c);
}

void td_conn_first_read(struct td_conn *c)
{
	/* One read: a peer that sent nothing yet costs an EAGAIN, and
	 * what it sends later its poll brings. */
	c->inflight++;
	if (!td_conn_gone(c))
		td_conn_pump(c, false);
	td_conn_put(c);
}

/* The poll's reference keeps c alive through the handler. */
void td_conn_event_data(struct td_conn *c, int res)
{
	td_xfer_event(c, res);
	td_conn_put(c);
}

void td_conns_sent_whole(struct td_server *srv)
{
	/* A send still in the SQ (the enter stopped short) is not done. */
	if (io_uring_sq_ready(&srv->ring))
		return;
	for (struct td_conn *c = srv->conns.all; c; c = c->next)
		if (c->out_state == TD_OUT_QUIET)
			td_conn_event_out(c, (int)(c->out.len - c->out.head));
}

/* A ring send (or the POLLOUT of a synchronous one) completed.  What
 * paused on a long queue (a LOGS stream at 1 MiB, the reading) goes on
 * after a long send, and after any send that found the socket full: the
 * rest of such a send may be short by the time it completes, when the
 * peer read most of it while the first went out (a streamed LOGS then
 * stopped for good at 14 MiB of 22, under load, about one run in 60). */
void td_conn_event_out(struct td_conn *c, int res)
{
	bool was_long = td_conn_unsent(c) >= TD_OUTQ_RESUME ||
			c->out_state == TD_OUT_POLL ||
			c->out_state == TD_OUT_WAIT;

	td_conn_sent(c, res);
	if (!was_long) {
		td_conn_put(c);
		return;
	}
	/* Streams that paused on a full queue go on. */
	if (!td_conn_gone(c) && c->out_state == TD_OUT_IDLE)
		td_logs_conn_drained(c);
	if (!td_conn_gone(c))
		td_conn_pump(c, true);
	td_conn_put(c);
}
