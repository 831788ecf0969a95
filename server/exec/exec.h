/*
 * Executing system calls: SYSCALL and BATCH, each call checked against
 * the syscall table, its buffers against guard pages, run directly, in
 * the ring or on a helper thread; calls answered later, their parked
 * results, PENDING, COLLECT and CANCEL.
 */
#ifndef TETHERD_EXEC_H
#define TETHERD_EXEC_H

#include <stddef.h>
#include <stdint.h>

struct td_req;

/* The module's state in the server: the parked results' budget. */
struct td_exec {
	unsigned nparked;
	size_t parked_bytes;
	uint64_t parked_lost;
	bool submitting;		/* in SUBMIT: no REAP answered yet */
};

int td_do_syscall(struct td_req *r);		/* syscall.c */
int td_do_batch(struct td_req *r);		/* batch.c */
int td_do_pending(struct td_req *r);		/* async.c */
int td_do_collect(struct td_req *r);
int td_do_cancel(struct td_req *r);
int td_do_submit(struct td_req *r);		/* reap.c */
int td_do_reap(struct td_req *r);

/* arena.c: drop the cache of guarded slots (at exit). */
void td_arena_free(void);

#endif
