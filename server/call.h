/*
 * A decoded SYSCALL: registers and the buffers they point to.  Shared by
 * the direct path (syscall.c), the ring (async.c) and BATCH (batch.c).
 */
#ifndef TETHERD_CALL_H
#define TETHERD_CALL_H

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
	char *buf;
	size_t size;			/* OUT/INOUT: capacity */
	bool via_data;			/* bytes travel on the data socket */
};

struct td_call {
	long nr;
	unsigned nargs;
	unsigned flags;
	struct td_arg a[TETHER_NARGS_MAX];
	size_t bytes;			/* buffer bytes allocated so far */
	uint64_t timeout_ms;		/* ring: linked timeout, 0 for none */
	bool data_reply;		/* answer a via_data OUT as {"data": n} */
	int data_idx;			/* ... which arg that was, or -1 */
	size_t data_n;			/* ... and how many bytes follow */
};

/* Decode [nr, args] / [nr, args, flags] / [nr, args, flags, timeout]. */
int td_call_decode(struct td_req *r, const msgpack_object *body,
		   struct td_call *c);
void td_call_free(struct td_call *c);
/* Refused or guarded before it runs: -errno result, or 0 to go on. */
int td_call_check(struct td_req *r, const struct td_call *c);
const char *td_call_mem_refused(struct td_server *srv, const struct td_call *c);
/* The policy's verdict on c as it would run (syscall.c): 0, or -errno
 * with why[] naming the rule.  0 while an argument is still a reference
 * to an earlier BATCH entry: batch.c asks again at its turn. */
int td_call_policy_refuses(struct td_server *srv, const struct td_call *c,
			   char *why, size_t size);
/* An fd argument names one of the server's own fds. */
bool td_call_hits_internal(const struct td_call *c);
/* Run in this thread; the syscall's result or -errno. */
long td_call_run(struct td_server *srv, struct td_call *c);
/* [ret, outs] */
void td_call_pack_result(msgpack_packer *pk, const struct td_call *c,
			 long ret);
/* The arguments as received, out buffers as [1, size]. */
void td_call_pack_args(msgpack_packer *pk, const struct td_call *c);

/* After a reply that announced {"data": n}: stream those bytes; the
 * transfer owns c now and frees it. */
void td_call_data_out(struct td_conn *conn, uint64_t id, struct td_call *c);

/* async.c */
int td_async_submit_to(struct td_server *srv, struct td_conn *conn,
		       uint64_t id, struct td_call *c);
bool td_ring_wants(const struct td_call *c);
/* Run c through the ring; the call is the inflight's now.  Returns
 * TD_REPLY_LATER, 0 with an async id packed, or -errno. */
int td_async_submit(struct td_req *r, struct td_call *c);

#endif
