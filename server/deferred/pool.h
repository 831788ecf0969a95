/*
 * Helper threads: what io_uring cannot run asynchronously (flock, futex,
 * epoll_wait, poll of many fds, FIFO opens, NSS lookups, fsync of a
 * finished PUT ...) runs here, so the event loop never waits.  They share
 * the server's fd table and memory; results come back to the loop
 * through an eventfd polled in the ring, like any other completion.
 *
 * Size and shares: --helpers N threads (default TD_POOL_DEFAULT).  A
 * controller's blocking syscalls may occupy all but TD_POOL_RESERVE of
 * them; past that a syscall that needs a helper fails at once with
 * EAGAIN.  The reserve serves the server's own file work, which queues.
 * One more thread, with a private fd table, opens the files GET and PUT
 * use: a path lookup may block, and an fd it made in the shared table
 * could be closed or replaced by a controller's GC before the server
 * took it; it hands each fd to the loop over a socket instead.
 *
 * Cancelling (CANCEL, a timeout, a detach, shutdown) signals the thread
 * (TD_SIG_CANCEL, no SA_RESTART), so its syscall returns EINTR; the
 * signal is repeated every TD_POOL_NUDGE_MS until the job comes back.
 */
#ifndef TETHERD_POOL_H
#define TETHERD_POOL_H

#include <stdbool.h>

struct td_server;

#define TD_POOL_DEFAULT 8
#define TD_POOL_MAX 64
#define TD_POOL_RESERVE 2		/* threads a syscall may not take */
#define TD_POOL_SERVER_QUEUE 4096	/* server work waiting for a thread */
#define TD_POOL_NUDGE_MS 20

struct td_job;

/* Start n helpers and the opener.  Before the seccomp filter (threads
 * cannot be made under it). */
int td_pool_start(struct td_server *srv, unsigned n);
/* Interrupt and join every helper (a stuck one is left to exit()). */
void td_pool_stop(struct td_server *srv);
/* Queue j (its class in j->cls): 0, or -EAGAIN when its share is
 * taken.  A TD_JOB_OPEN job's work leaves the fds it opened in j->fds
 * (its own table's numbers); by the time done() runs they are the
 * shared table's, for the kind to adopt or close. */
int td_pool_submit(struct td_server *srv, struct td_job *j);
void td_pool_cancel(struct td_server *srv, struct td_job *j);
/* The eventfd said some jobs came back. */
void td_pool_event(struct td_server *srv, int res, bool more);
/* Jobs on helpers now (queued or running). */
unsigned td_pool_busy(const struct td_server *srv);
/* STATUS: threads, busy, of them syscalls. */
void td_pool_counts(const struct td_server *srv, unsigned *threads,
		    unsigned *busy, unsigned *syscalls);

/* closer.c: closes that may wait go to a helper (fds/closing.c);
 * registered by td_pool_start. */
void td_closer_init(struct td_server *srv);

#endif
