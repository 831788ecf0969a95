/*
 * A decoded SYSCALL: registers and the guarded buffers they point to.
 * Shared by the direct path (syscall.c), the ring and the helpers
 * (async.c) and BATCH (batch.c).
 */
#ifndef TETHERD_CALL_H
#define TETHERD_CALL_H

#include "deferred/job.h"
#include "exec/arena.h"
#include "exec/exec.h"
#include "systab.h"
#include "tetherd.h"

enum td_argkind {
	TD_ARG_INT,
	TD_ARG_IN,
	TD_ARG_OUT,
	TD_ARG_INOUT,
	TD_ARG_STR,
	TD_ARG_RESULT,		/* BATCH: the result of an earlier entry */
};

struct td_arg {
	enum td_argkind kind;
	uint64_t reg;
	struct td_buf b;		/* the bytes (b.size may exceed size:
					 * a struct the kernel writes whole) */
	size_t size;			/* what the controller asked for */
	bool via_data;			/* bytes travel on the data socket */
};

/* Where a call runs. */
enum td_route {
	TD_RUN_DIRECT,			/* in the loop's thread: cannot block */
	TD_RUN_RING,			/* an io_uring submission */
	TD_RUN_HELPER,			/* on a helper thread */
};

struct td_call {
	long nr;
	const struct tp_syscall *sc;	/* the table's row, or NULL */
	unsigned nargs;
	unsigned flags;
	struct td_arg a[TETHER_NARGS_MAX];
	size_t bytes;			/* frame buffer bytes so far */
	uint64_t timeout_ms;		/* cancelled after this, 0 for none */
	bool data_reply;		/* answer a via_data OUT as {"data": n} */
	int data_idx;			/* ... which arg that was, or -1 */
	size_t data_n;			/* ... and how many bytes follow */
	long ret;			/* a helper's result */
	const char *cause;		/* the reply's TP_CAUSE_*, or NULL */
};

/* Decode [nr, args] / [nr, args, flags] / [nr, args, flags, timeout]
 * into guarded buffers, checking the argument count and buffer sizes
 * against the syscall table. */
/* Numbers the kernel reads in 32 bits made canonical (the table's
 * I32/U32/F): what the policy checks is what the kernel will read, since
 * the call runs with these values too.  td_call_decode does it; a
 * batch entry again once its references are numbers. */
void td_call_narrow(struct td_call *c);
int td_call_decode(struct td_req *r, const msgpack_object *body,
		   struct td_call *c);
void td_call_free(struct td_call *c);
/* Refused or guarded before it runs: -errno result, or 0 to go on. */
int td_call_check(struct td_req *r, const struct td_call *c);
/* The size checks that need numbers (counts that fit their buffers):
 * 0, or -EINVAL with why[] (BATCH asks again once references resolve). */
int td_call_check_sizes(const struct td_call *c, char *why, size_t size);
const char *td_call_mem_refused(struct td_server *srv, const struct td_call *c);
/* The policy's verdict on c as it would run (syscall.c): 0, or -errno
 * with why[] naming the rule.  0 while an argument is still a reference
 * to an earlier BATCH entry: batch.c asks again at its turn. */
int td_call_policy_refuses(struct td_server *srv, const struct td_call *c,
			   char *why, size_t size);
/* An fd argument names one of the server's own fds. */
bool td_call_hits_internal(const struct td_call *c);
/* Where c must run (it has passed its checks). */
enum td_route td_call_route(const struct td_call *c);
/* Run in this thread, with the loop's bookkeeping after: the syscall's
 * result or -errno. */
long td_call_run(struct td_server *srv, struct td_call *c);
/* Fast paths of calls that may block but, this time, cannot: openat of
 * a cached path to a local regular file or directory.  true with the
 * result in *ret (bookkeeping done); false: run it where it routes. */
bool td_call_inline(struct td_server *srv, struct td_call *c, long *ret);
/* The syscall alone (helpers): result or -errno. */
long td_call_raw(struct td_call *c);
/* The loop's bookkeeping after c ran elsewhere (labels, fd count). */
void td_call_ran(struct td_server *srv, struct td_call *c, long ret,
		 bool placed);
/* The SYSCALL reply [ret, outs] of c (outs pointing into c's buffers;
 * a data-socket out noted in c), and packed through w. */
void td_call_result(struct td_call *c, long ret, struct tp_syscall_reply *rep);
int td_call_pack_result(struct tp_w *w, struct td_call *c, long ret);
/* The arguments as received, out buffers as [1, size] (a record's). */
void td_call_args(const struct td_call *c, struct tp_args *args);

/* fdguard.c: calls tetherd will not run in itself. */
/* Refused whatever the arguments (exit, execve, fork, wait4 ...). */
bool td_fdguard_refused(long nr, const char **why);
/* Refused with these arguments: a signal to tetherd itself, a change to
 * the signals it relies on, memory of its own. */
bool td_fdguard_refused_args(const struct td_call *c, const char **why);

/* async.c: a call (or batch) that runs in the ring or on a helper. */
struct td_batch;
struct td_calljob {
	struct td_job job;
	struct td_call *call;		/* the call, or a batch's current one */
	struct td_batch *batch;		/* or NULL */
	bool is_batch;			/* still true once the batch is parked */
	long ret;			/* a batch's: entries completed */
	bool async;			/* ASYNC: answered with its id */
	bool cancel_on_detach;
	bool drop;			/* cancelled on detach: keep nothing */
	bool parked;			/* done: body holds the record */
	bool data_lost;			/* parked over budget: outs dropped */
	bool poll_expired;		/* poll(2)'s own timeout, not ours */
	enum td_route placed;		/* where the current call went */
	struct td_job *collector;	/* a COLLECT waiting for it */
	msgpack_sbuffer body;
	struct __kernel_timespec sleep;	/* nanosleep through the ring */
	struct td_xfer *xfer;		/* data-socket buffer in or out */
	/* SUBMIT's (reap.c): completes into its owner's queue for REAP */
	bool reap;
	bool submitted;			/* counted in owner->nsubmitted */
	bool queued;			/* in owner's completion queue */
	size_t held;			/* buffer bytes, in owner->submit_bytes */
	struct td_calljob *cq_next;
};

/* Run c (decoded and checked, owned by the callee from here on) for
 * request r: directly, in the ring or on a helper.  TD_REPLY_LATER, 0
 * with the answer packed through r->w, or -errno. */
int td_call_go(struct td_req *r, struct td_call *c);
/* The ring: can c be one SQE? */
bool td_ring_takes(const struct td_call *c);
/* A SYSCALL with a data-socket buffer (in_idx: the incoming one, or
 * -1): the bytes come first, or go after the answer. */
int td_call_with_data(struct td_req *r, struct td_call *c, int in_idx);
/* A syscall's answer is known: send it, hand it to a COLLECT, or park
 * it. */
void td_calljob_finish(struct td_calljob *cj);
/* Nobody waits: keep the result as a record for a later COLLECT (or
 * hand it to the COLLECT that waits). */
void td_calljob_park(struct td_calljob *cj);
/* reap.c: a SUBMIT call's result is known.  true when it went to its
 * connection's completion queue; false: park or drop it as any other. */
bool td_reap_complete(struct td_calljob *cj);
/* cj leaves c's completion queue (REAP took it, a COLLECT, a detach). */
void td_reap_unqueue(struct td_conn *c, struct td_calljob *cj);
/* After an answer that announced {"data": n}: stream those bytes. */
void td_call_data_out(struct td_calljob *cj, struct td_conn *conn);
/* Run the job's current call where it must: 0, 1 when it ran at once
 * (cj->call->ret holds the result), -errno if it cannot be placed. */
int td_calljob_place(struct td_calljob *cj);
struct td_calljob *td_calljob_new(void);
extern const struct td_job_ops td_call_ops;
/* A finished call whose record waits for COLLECT (PENDING's "done"). */
static inline bool td_calljob_is_parked(const struct td_job *j)
{
	return !j->ended && j->ops == &td_call_ops &&
	       ((const struct td_calljob *)j)->parked;
}

#endif
