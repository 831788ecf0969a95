/*
 * Work in the ring: a syscall (or a BATCH) that completes later.  Its
 * answer goes to whoever waits for it -- the submitter, or a COLLECT --
 * or, with nobody waiting (the controller detached), it is parked for
 * the next controller, within a memory budget.
 */
#ifndef TETHERD_ASYNC_H
#define TETHERD_ASYNC_H

#include "call.h"

#define TD_PARKED_MAX 4096		/* parked results */
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

struct td_inflight {
	struct td_inflight *next;
	struct td_server *srv;
	uint64_t id;			/* server-wide, for PENDING/COLLECT */
	uint64_t generation;		/* of the controller that asked */
	int64_t since_ms;		/* epoch */
	struct td_call *call;		/* the call (a batch's current one) */
	struct td_batch *batch;		/* or NULL */
	bool is_batch;			/* still true once the batch is parked */
	long ret;			/* a batch's: entries completed */
	bool running;			/* an SQE is in the ring */
	bool cancelled;			/* CANCEL asked */
	bool timed;			/* a linked timeout is armed */
	bool cancel_on_detach;
	bool drop;			/* cancelled on detach: don't park */
	bool done;			/* parked: body holds the record */
	bool data_lost;			/* parked over budget: outs dropped */
	/* who gets the answer; NULL parks it */
	struct td_conn *to;
	uint64_t to_id;
	bool to_record;			/* COLLECT's record, not [ret, outs] */
	uint64_t to_deadline;		/* td_now_ms(), 0 for none */
	msgpack_sbuffer body;
	struct td_event ev;
	struct __kernel_timespec ts;	/* linked timeout */
	struct __kernel_timespec sleep;	/* nanosleep */
};

/* async.c */
struct td_inflight *td_inflight_new(struct td_req *r);
/* Put inf->call in the ring: 0, or -errno if it cannot go there. */
int td_ring_submit(struct td_inflight *inf);
/* The answer is known: send it or park it; frees inf when sent. */
void td_inflight_finish(struct td_inflight *inf);

void td_async_event(struct td_inflight *inf, int res);

/* batch.c */
void td_batch_step(struct td_inflight *inf);
void td_batch_record(struct td_inflight *inf, long ret);
void td_batch_free(struct td_batch *b);
void td_batch_pack(msgpack_packer *pk, const struct td_batch *b);

#endif
