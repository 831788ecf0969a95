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
	srv->timers[i] = t;
	t->slot = i + 1;
}

static void td_heap_up(struct td_server *srv, unsigned i)
{
	struct td_timer *t = srv->timers[i];

	while (i > 0) {
		unsigned parent = (i - 1) / 2;

		if (srv->timers[parent]->when <= t->when)
			break;
		td_heap_set(srv, i, srv->timers[parent]);
		i = parent;
	}
	td_heap_set(srv, i, t);
}

static void td_heap_down(struct td_server *srv, unsigned i)
{
	struct td_timer *t = srv->timers[i];
	unsigned n = srv->ntimers;

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && srv->timers[c + 1]->when < srv->timers[c]->when)
			c++;
		if (t->when <= srv->timers[c]->when)
			break;
		td_heap_set(srv, i, srv->timers[c]);
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
	if (i == --srv->ntimers)
		return;
	/* The last one fills the hole, then finds its place. */
	td_heap_set(srv, i, srv->timers[srv->ntimers]);
	if (i > 0 && srv->timers[(i - 1) / 2]->when > srv->timers[i]->when)
		td_heap_up(srv, i);
	else
		td_heap_down(srv, i);
}

int td_timer_at(struct td_server *srv, struct td_timer *t, uint64_t when)
{
	if (t->slot)
		td_timer_stop(srv, t);
	if (srv->ntimers == srv->captimers) {
		unsigned cap = srv->captimers ? srv->captimers * 2 : 64;
		struct td_timer **v = realloc(srv->timers, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		srv->timers = v;
		srv->captimers = cap;
	}
	t->when = when;
	srv->timers[srv->ntimers] = t;
	td_heap_up(srv, srv->ntimers++);
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

	if (!srv->ntimers)
		return;
	when = srv->timers[0]->when;
	if (srv->timer_armed && srv->timer_when <= when)
		return;
	if (!(sqe = td_sqe(srv)))
		return;
	srv->timer_ts.tv_sec = (long long)(when / 1000);
	srv->timer_ts.tv_nsec = (long long)(when % 1000) * 1000000;
	if (srv->timer_armed) {
		io_uring_prep_timeout_update(sqe, &srv->timer_ts,
					     (uint64_t)(uintptr_t)&srv->ev_timer,
					     IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		io_uring_prep_timeout(sqe, &srv->timer_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, &srv->ev_timer);
		srv->timer_armed = true;
	}
	srv->timer_when = when;
	/* The kernel reads the timespec when it takes the SQE: now. */
	io_uring_submit(&srv->ring);
}

void td_timers_run(struct td_server *srv)
{
	uint64_t now = td_now_ms();

	while (srv->ntimers && srv->timers[0]->when <= now) {
		struct td_timer *t = srv->timers[0];

		td_timer_stop(srv, t);
		t->fire(t);
	}
	if (!srv->exiting)
		td_timers_sync(srv);
}

void td_timers_event(struct td_server *srv, int res)
{
	(void)res;		/* -ETIME when it fired; either way, look */
	srv->timer_armed = false;
	td_timers_run(srv);
}

void td_timers_free(struct td_server *srv)
{
	for (unsigned i = 0; i < srv->ntimers; i++)
		srv->timers[i]->slot = 0;
	free(srv->timers);
	srv->timers = NULL;
	srv->ntimers = srv->captimers = 0;
}
