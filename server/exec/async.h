/*
 * Calls answered later (async.c) and BATCH (batch.c): the batch's state,
 * and the budget of results parked for a later controller.
 */
#ifndef TETHERD_ASYNC_H
#define TETHERD_ASYNC_H

#include "call.h"

#define TD_PARKED_MAX 4096		/* parked results */
#define TD_PENDING_PAGE 1024		/* PENDING [before]: entries a reply */
#define TD_PARKED_BYTES (64u << 20)	/* their memory */
/* One record or batch answer must fit a frame, with room for its header. */
#define TD_RECORD_MAX (TETHER_FRAME_MAX - 4096)

struct td_batch {
	struct td_call *calls;
	long *rets;
	unsigned n;
	unsigned next;			/* entry to run next */
	unsigned executed;		/* entries that ran: [0, executed) */
	unsigned flags;			/* TETHER_BATCH_* */
	int stopped_at;			/* failing entry with STOP, or -1 */
};

/* batch.c */
/* Run entries until one must wait (ring, helper) or all have run. */
void td_batch_step(struct td_calljob *cj);
void td_batch_record(struct td_calljob *cj, long ret);
void td_batch_free(struct td_batch *b);
/* The BATCH reply {results, stopped_at, completed}, its results packed
 * from b as it goes out. */
void td_batch_reply(const struct td_batch *b, struct tp_batch_reply *rep);

#endif
