/*
 * One heap of deadlines, one ring timeout for the earliest.  The timeout
 * is absolute (CLOCK_MONOTONIC), so re-arming it never drifts; when an
 * earlier deadline appears it is moved with a timeout update rather than
 * a second timeout, so at most one is ever in the ring.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "tetherd.h"
#include "timer.h"

uint64_t td_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t td_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void td_timer_init(struct td_timer *t, td_timer_fn fire)
{
	t->when = 0;
	t->slot = 0;
	t->fire = fire;
}

bool td_timer_armed(const struct td_timer *t)
{
	return t->slot != 0;
}

static void td_heap_set(struct td_server *srv, unsigned i, struct td_timer *t)
{
	srv->deferred.timers[i] = t;
	t->slot = i + 1;
}

static void td_heap_up(struct td_server *srv, unsigned i)
{
	struct td_timer *t = srv->deferred.timers[i];

	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (srv->deferred.timers[parent]->when <= t->when)
			break;
		td_heap_set(srv, i, srv->deferred.timers[parent]);
		i = parent;
	}
	td_heap_set(srv, i, t);
}

static void td_heap_down(struct td_server *srv, unsigned i)
{
	struct td_timer *t = srv->deferred.timers[i];
	unsigned n = srv->deferred.ntimers;

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && srv->deferred.timers[c + 1]->when < srv->deferred.timers[c]->when)
			c++;
		if (t->when <= srv->deferred.timers[c]->when)
			break;
		td_heap_set(srv, i, srv->deferred.timers[c]);
		i = c;
	}
	td_heap_set(srv, i, t);
}

void td_timer_stop(struct td_server *srv, struct td_timer *t)
{
	unsigned i;

	if (!t->slot)
		return;
	i = t->slot - 1;
	t->slot = 0;
	if (i == --srv->deferred.ntimers)
		return;
	/* The last one fills the hole, then finds its place. */
	td_heap_set(srv, i, srv->deferred.timers[srv->deferred.ntimers]);
	if (i > 0 && srv->deferred.timers[(i - 1) / 2]->when > srv->deferred.timers[i]->when)
		td_heap_up(srv, i);
	else
		td_heap_down(srv, i);
}

int td_timer_at(struct td_server *srv, struct td_timer *t, uint64_t when)
{
	if (t->slot)
		td_timer_stop(srv, t);
	if (srv->deferred.ntimers == srv->deferred.captimers) {
		unsigned cap = srv->deferred.captimers ? srv->deferred.captimers * 2 : 64;
		struct td_timer **v = realloc(srv->deferred.timers, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		srv->deferred.timers = v;
		srv->deferred.captimers = cap;
	}
	t->when = when;
	srv->deferred.timers[srv->deferred.ntimers] = t;
	td_heap_up(srv, srv->deferred.ntimers++);
	return 0;
}

int td_timer_in(struct td_server *srv, struct td_timer *t, uint64_t ms)
{
	return td_timer_at(srv, t, td_now_ms() + ms);
}

/* The ring timeout for the earliest deadline: armed, or moved earlier. */
static void td_timers_sync(struct td_server *srv)
{
	struct io_uring_sqe *sqe;
	uint64_t when;

	if (!srv->deferred.ntimers)
		return;
	when = srv->deferred.timers[0]->when;
	if (srv->deferred.timer_armed && srv->deferred.timer_when <= when)
		return;
	if (!(sqe = td_sqe(srv)))
		return;
	srv->deferred.timer_ts.tv_sec = (long long)(when / 1000);
	srv->deferred.timer_ts.tv_nsec = (long long)(when % 1000) * 1000000;
	if (srv->deferred.timer_armed) {
		io_uring_prep_timeout_update(sqe, &srv->deferred.timer_ts,
					     (uint64_t)(uintptr_t)&srv->deferred.ev_timer,
					     IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		io_uring_prep_timeout(sqe, &srv->deferred.timer_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, &srv->deferred.ev_timer);
		srv->deferred.timer_armed = true;
	}
	srv->deferred.timer_when = when;
	/* The kernel reads the timespec when it takes the SQE: now. */
	io_uring_submit(&srv->ring);
}

void td_timers_run(struct td_server *srv)
{
	uint64_t now = td_now_ms();

	while (srv->deferred.ntimers && srv->deferred.timers[0]->when <= now) {
		struct td_timer *t = srv->deferred.timers[0];

		td_timer_stop(srv, t);
		t->fire(t);
	}
	if (!srv->exiting)
		td_timers_sync(srv);
}

void td_timers_event(struct td_server *srv, int res)
{
	(void)res;		/* -ETIME when it fired; either way, look */
	srv->deferred.timer_armed = false;
	td_timers_run(srv);
}

void td_timers_free(struct td_server *srv)
{
	for (unsigned i = 0; i < srv->deferred.ntimers; i++)
		srv->deferred.timers[i]->slot = 0;
	free(srv->deferred.timers);
	srv->deferred.timers = NULL;
	srv->deferred.ntimers = srv->deferred.captimers = 0;
}
