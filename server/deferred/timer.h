/*
 * Timers: every deadline in the server -- a request's timeout, WAIT's and
 * COLLECT's, a STOP's grace, a handshake's, a cancelled helper's next
 * nudge -- is a td_timer in one heap, and the earliest of them is the one
 * ring timeout the loop keeps armed.  No tick: nothing wakes the server
 * that has nothing due.
 */
#ifndef TETHERD_TIMER_H
#define TETHERD_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct td_server;
struct td_timer;

typedef void (*td_timer_fn)(struct td_timer *t);

struct td_timer {
	uint64_t when;			/* td_now_ms() of the deadline */
	unsigned slot;			/* 1 + its index in the heap; 0: idle */
	td_timer_fn fire;		/* called on the loop, once, when due */
};

/* Milliseconds of CLOCK_MONOTONIC (deadlines), and of the wall clock
 * since the epoch (times a controller is told). */
uint64_t td_now_ms(void);
int64_t td_epoch_ms(void);

void td_timer_init(struct td_timer *t, td_timer_fn fire);
/* (Re)arm t for td_now_ms() == when, or ms from now.  -ENOMEM only if
 * the heap cannot grow. */
int td_timer_at(struct td_server *srv, struct td_timer *t, uint64_t when);
int td_timer_in(struct td_server *srv, struct td_timer *t, uint64_t ms);
void td_timer_stop(struct td_server *srv, struct td_timer *t);
bool td_timer_armed(const struct td_timer *t);

/* The loop: fire what is due, then keep the ring timeout on the earliest
 * deadline (called after every batch of completions). */
void td_timers_run(struct td_server *srv);
/* The ring timeout completed (or was updated away). */
void td_timers_event(struct td_server *srv, int res);
void td_timers_free(struct td_server *srv);

#endif
