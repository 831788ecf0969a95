/*
 * SYSCALL, its parts and replies, the calls answered later (PENDING,
 * COLLECT, CANCEL) and BATCH.  SYSCALL is written by hand: it is the hot
 * path (no table walk, nothing allocated), its arguments take one of
 * eight shapes, and its errors are not all EPROTO (tether-protocol(7):
 * a bad number or argument is EINVAL, seven arguments E2BIG).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "messages.h"
#include "messages_table.h"

/* ---- SYSCALL args ------------------------------------------------------- */

static int tp_arg_pack(struct tp_w *w, const struct tp_arg *a)
{
	static const uint8_t tag[] = {
		[TP_A_OUT] = TETHER_ARGTAG_OUT,
		[TP_A_RESULT] = TETHER_ARGTAG_RESULT,
		[TP_A_DATA_IN] = TETHER_ARGTAG_DATA_IN,
		[TP_A_DATA_OUT] = TETHER_ARGTAG_DATA_OUT,
	};

	switch (a->kind) {
	case TP_A_INT:
		return tp_w_i64(w, (int64_t)a->v);
	case TP_A_IN:
		return tp_w_bin(w, a->n ? a->p : "", a->n);
	case TP_A_STR:
		return tp_w_str(w, a->n ? a->p : "", a->n);
	case TP_A_INOUT:
		tp_w_array(w, 3);
		tp_w_u64(w, TETHER_ARGTAG_INOUT);
		tp_w_bin(w, a->n ? a->p : "", a->n);
		return tp_w_u64(w, a->v);
	case TP_A_OUT:
	case TP_A_RESULT:
	case TP_A_DATA_IN:
	case TP_A_DATA_OUT:
		tp_w_array(w, 2);
		tp_w_u64(w, tag[a->kind]);
		return tp_w_u64(w, a->v);
	}
	if (!w->err)
		w->err = -EINVAL;
	return w->err;
}

static int tp_args_pack(struct tp_w *w, const void *m)
{
	const struct tp_args *a = m;

	if (a->n > TETHER_NARGS_MAX) {
		if (!w->err)
			w->err = -E2BIG;
		return w->err;
	}
	tp_w_array(w, a->n);
	for (uint32_t i = 0; i < a->n && !w->err; i++)
		tp_arg_pack(w, &a->a[i]);
	return w->err;
}

/* [tag, ...]: OUT, DATA_IN, DATA_OUT [tag, size]; INOUT [2, bin, size];
 * RESULT [3, k]. */
static int tp_arg_tagged(const msgpack_object *o, struct tp_arg *a,
			 unsigned i, struct tp_err *e)
{
	size_t n;
	const msgpack_object *v = tp_obj_array(o, &n);
	uint64_t tag, size;

	if (n < 2 || tp_obj_u64(&v[0], &tag) < 0)
		return tp_fail(e, &tp_syscall_args_desc, EINVAL,
			       "argument %u: bad tagged form", i);
	if ((tag == TETHER_ARGTAG_OUT || tag == TETHER_ARGTAG_DATA_OUT ||
	     tag == TETHER_ARGTAG_DATA_IN || tag == TETHER_ARGTAG_RESULT) &&
	    n == 2 && tp_obj_u64(&v[1], &size) == 0) {
		a->kind = tag == TETHER_ARGTAG_OUT ? TP_A_OUT
			  : tag == TETHER_ARGTAG_RESULT ? TP_A_RESULT
			  : tag == TETHER_ARGTAG_DATA_IN ? TP_A_DATA_IN
							 : TP_A_DATA_OUT;
		a->v = size;
		return 0;
	}
	if (tag == TETHER_ARGTAG_INOUT && n == 3 &&
	    tp_obj_bin(&v[1], &a->p, &a->n) == 0 &&
	    tp_obj_u64(&v[2], &size) == 0) {
		a->kind = TP_A_INOUT;
		a->v = size;
		return 0;
	}
	return tp_fail(e, &tp_syscall_args_desc, EINVAL,
		       "argument %u: unknown tag or shape", i);
}

static int tp_arg_unpack(const msgpack_object *o, struct tp_arg *a,
			 unsigned i, struct tp_err *e)
{
	memset(a, 0, sizeof(*a));
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		a->kind = TP_A_INT;
		return tp_obj_reg(o, &a->v);
	case MSGPACK_OBJECT_BIN:
		a->kind = TP_A_IN;
		return tp_obj_bin(o, &a->p, &a->n);
	case MSGPACK_OBJECT_STR:
		a->kind = TP_A_STR;
		return tp_obj_str(o, (const char **)&a->p, &a->n);
	case MSGPACK_OBJECT_ARRAY:
		return tp_arg_tagged(o, a, i, e);
	default:
		return tp_fail(e, &tp_syscall_args_desc, EINVAL,
			       "argument %u: msgpack type %d is not an "
			       "argument", i, (int)o->type);
	}
}

/* The array and its length (EPROTO, E2BIG), before anything else of the
 * SYSCALL is looked at. */
static int tp_args_shape(const msgpack_object *o, const msgpack_object **v,
			 size_t *n, struct tp_err *e)
{
	if (!(*v = tp_obj_array(o, n)))
		return tp_fail(e, &tp_syscall_args_desc, EPROTO,
			       "not an array");
	if (*n > TETHER_NARGS_MAX)
		return tp_fail(e, &tp_syscall_args_desc, E2BIG,
			       "%zu arguments; at most %u", *n,
			       TETHER_NARGS_MAX);
	return 0;
}

static int tp_args_each(const msgpack_object *v, size_t n, struct tp_args *a,
			struct tp_err *e)
{
	int rc;

	a->has = 0;
	a->n = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		if ((rc = tp_arg_unpack(&v[i], &a->a[i], (unsigned)i, e)) < 0)
			return rc;
	return 0;
}

static int tp_args_unpack(const msgpack_object *o, void *m, struct tp_err *e)
{
	struct tp_args tmp, *a = m ? m : &tmp;
	const msgpack_object *v;
	size_t n;
	int rc;

	if ((rc = tp_args_shape(o, &v, &n, e)) < 0)
		return rc;
	return tp_args_each(v, n, a, e);
}

const struct tp_desc tp_syscall_args_desc = {
	.name = "SYSCALL args",
	.shape = TP_CUSTOM,
	.size = sizeof(struct tp_args),
	.schema = "[arg...]: int, bin, str, [1, size], [2, bin, size], "
		  "[3, k], [4, size] or [5, size]",
	.pack = tp_args_pack,
	.unpack = tp_args_unpack,
};

/* ---- SYSCALL ------------------------------------------------------------ */

static int tp_syscall_pack(struct tp_w *w, const void *m)
{
	const struct tp_syscall_req *s = m;
	uint32_t n = s->has & TP_SYSCALL_TIMEOUT ? 4
		     : s->has & TP_SYSCALL_FLAGS ? 3
						 : 2;

	tp_w_array(w, n);
	tp_w_i64(w, s->nr);
	tp_args_pack(w, &s->args);
	if (n >= 3)
		tp_w_u64(w, s->flags);
	if (n == 4)
		tp_w_u64(w, s->timeout_ms);
	return w->err;
}

/* The checks in the order the protocol answers them: the shape
 * (EPROTO), the number (EINVAL), the args' shape (EPROTO, E2BIG), flags
 * and timeout (EPROTO), then each argument (EINVAL). */
static int tp_syscall_unpack(const msgpack_object *o, void *m,
			     struct tp_err *e)
{
	const struct tp_desc *d = &tp_syscall_desc;
	struct tp_syscall_req tmp, *s = m ? m : &tmp;
	const msgpack_object *b, *v;
	size_t nb, n;
	int rc;

	s->has = 0;
	s->flags = s->timeout_ms = 0;
	if (!(b = tp_obj_array(o, &nb)) || nb < 2 || nb > 4)
		return tp_fail(e, d, EPROTO, "the body is [nr, args, flags, "
			       "timeout_ms] (the last two optional)");
	if (tp_obj_i64(&b[0], &s->nr) < 0 || s->nr < 0 || s->nr > 4095)
		return tp_fail(e, d, EINVAL, "bad syscall number");
	if ((rc = tp_args_shape(&b[1], &v, &n, e)) < 0)
		return rc;
	if (nb >= 3 && tp_obj_u64(&b[2], &s->flags) < 0)
		return tp_fail(e, d, EPROTO, "flags is not an uint");
	if (nb == 4 && tp_obj_u64(&b[3], &s->timeout_ms) < 0)
		return tp_fail(e, d, EPROTO, "timeout_ms is not an uint");
	s->has = (nb >= 3 ? TP_SYSCALL_FLAGS : 0) |
		 (nb == 4 ? TP_SYSCALL_TIMEOUT : 0);
	return tp_args_each(v, n, &s->args, e);
}

const struct tp_desc tp_syscall_desc = {
	.name = "SYSCALL",
	.shape = TP_CUSTOM,
	.size = sizeof(struct tp_syscall_req),
	.schema = "[nr: int, args: SYSCALL args, flags?: uint, "
		  "timeout_ms?: uint]",
	.pack = tp_syscall_pack,
	.unpack = tp_syscall_unpack,
};

/* ---- its replies -------------------------------------------------------- */

static const struct tp_field tp_syscall_data_f[] = {
	TP_FIELD(tp_syscall_data, TP_K_DATA, data, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(syscall_data, "SYSCALL data", tp_syscall_data, tp_syscall_data_f);

static int tp_syscall_reply_pack(struct tp_w *w, const void *m)
{
	const struct tp_syscall_reply *r = m;

	if (r->n > TETHER_NARGS_MAX) {
		if (!w->err)
			w->err = -E2BIG;
		return w->err;
	}
	tp_w_array(w, (r->has & TP_SYSCALL_REPLY_CAUSE) ? 3 : 2);
	tp_w_i64(w, r->ret);
	tp_w_array(w, r->n);
	for (uint32_t i = 0; i < r->n && !w->err; i++) {
		const struct tp_out *o = &r->o[i];
		struct tp_syscall_data dn = { 0, (int64_t)o->n };

		if (o->kind == TP_OUT_BIN)
			tp_w_bin(w, o->n ? o->p : "", o->n);
		else if (o->kind == TP_OUT_DATA)
			tp_pack_syscall_data(w, &dn);
		else
			tp_w_nil(w);
	}
	if (r->has & TP_SYSCALL_REPLY_CAUSE)
		tp_w_str(w, r->cause.p, r->cause.n);
	return w->err;
}

static int tp_syscall_reply_unpack(const msgpack_object *o, void *m,
				   struct tp_err *e)
{
	const struct tp_desc *d = &tp_syscall_reply_desc;
	struct tp_syscall_reply tmp, *r = m ? m : &tmp;
	const msgpack_object *b, *outs;
	struct tp_syscall_data dn;
	struct tp_err in;
	size_t nb, no;
	size_t n;

	if (!(b = tp_obj_array(o, &nb)) || nb < 2 || nb > 3 ||
	    tp_obj_i64(&b[0], &r->ret) < 0 ||
	    !(outs = tp_obj_array(&b[1], &no)))
		return tp_fail(e, d, 0, "the body is [ret: int, outs: [...], "
			       "cause?: str]");
	if (no > TETHER_NARGS_MAX)
		return tp_fail(e, d, 0, "%zu outs; at most %u", no,
			       TETHER_NARGS_MAX);
	r->has = 0;
	r->cause = tp_str(NULL);
	/* [ret, outs, cause]: only to a client that asked for causes */
	if (nb == 3) {
		if (tp_obj_str(&b[2], &r->cause.p, &r->cause.n) < 0)
			return tp_fail(e, d, 0, "cause is not a string");
		r->has |= TP_SYSCALL_REPLY_CAUSE;
	}
	r->n = (uint32_t)no;
	for (size_t i = 0; i < no; i++) {
		struct tp_out *out = &r->o[i];

		memset(out, 0, sizeof(*out));
		if (outs[i].type == MSGPACK_OBJECT_NIL)
			continue;
		if (tp_obj_bin(&outs[i], &out->p, &n) == 0) {
			out->kind = TP_OUT_BIN;
			out->n = n;
			continue;
		}
		if (tp_unpack_syscall_data(&outs[i], &dn, &in) < 0 ||
		    dn.data < 0)
			return tp_fail(e, d, 0, "out %zu is not nil, bin or "
				       "{data: n}", i);
		out->kind = TP_OUT_DATA;
		out->n = (uint64_t)dn.data;
	}
	return 0;
}

const struct tp_desc tp_syscall_reply_desc = {
	.name = "SYSCALL reply",
	.shape = TP_CUSTOM,
	.size = sizeof(struct tp_syscall_reply),
	.schema = "[ret: int, outs: [nil, bin or SYSCALL data...], cause?: str]",
	.pack = tp_syscall_reply_pack,
	.unpack = tp_syscall_reply_unpack,
};

static const struct tp_field tp_syscall_async_f[] = {
	TP_FIELD(tp_syscall_async, TP_K_ASYNC_ID, async_id, TP_F_U64, TP_REQ,
		 0),
	TP_FIELD(tp_syscall_async, TP_K_STATE, state, TP_F_STR, TP_REQ, 0),
};
TP_MAP_DESC(syscall_async, "SYSCALL async reply", tp_syscall_async,
	    tp_syscall_async_f);

static const struct tp_field tp_syscall_send_f[] = {
	TP_FIELD(tp_syscall_send, TP_K_SEND, send, TP_F_BOOL, TP_REQ, 0),
};
TP_MAP_DESC(syscall_send, "SYSCALL send", tp_syscall_send,
	    tp_syscall_send_f);

/* ---- PENDING, COLLECT, CANCEL ------------------------------------------ */

/* [] (every call, one reply) or [before] (a page of the calls with an
 * id below it, 0: from the newest).  Lax: what older clients sent,
 * whatever it was, is still [] to the server. */
static const struct tp_field tp_pending_f[] = {
	TP_FIELD(tp_from, "before", ufrom, TP_F_U64, TP_LAX, TP_FROM_FROM),
};
const struct tp_desc tp_pending_desc = {
	.name = "PENDING", .shape = TP_ARRAY, .lax = true,
	.nfields = TP_NFIELDS(tp_pending_f), .size = sizeof(struct tp_from),
	.f = tp_pending_f,
};

static const struct tp_field tp_pending_entry_f[] = {
	TP_FIELD(tp_pending_entry, TP_K_ID, id, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_NR, nr, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_STATE, state, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_SINCE, since, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_GENERATION, generation, TP_F_U64,
		 TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_BATCH, batch, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_WAITED, waited, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_pending_entry, TP_K_WHERE, where, TP_F_STR, TP_REQ, 0),
};
TP_MAP_DESC(pending_entry, "PENDING entry", tp_pending_entry,
	    tp_pending_entry_f);

static const struct tp_field tp_pending_reply_f[] = {
	TP_LIST(tp_pending_reply, TP_K_PENDING, pending, TP_F_MSG, TP_REQ, 0,
		&tp_pending_entry_desc),
	TP_FIELD(tp_pending_reply, TP_K_PARKED_LOST, parked_lost, TP_F_U64,
		 TP_REQ, 0),
	TP_FIELD(tp_pending_reply, TP_K_PARKED_BYTES, parked_bytes, TP_F_U64,
		 TP_REQ, 0),
	TP_FIELD(tp_pending_reply, TP_K_NEXT, next, TP_F_U64, 0,
		 TP_PENDING_NEXT),
};
TP_MAP_DESC(pending_reply, "PENDING reply", tp_pending_reply,
	    tp_pending_reply_f);

static const struct tp_field tp_collect_f[] = {
	TP_FIELD(tp_collect, "id", id, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_collect, "wait_ms", wait_ms, TP_F_I64, 0,
		 TP_COLLECT_WAIT_MS),
};
TP_ARRAY_DESC(collect, "COLLECT", tp_collect, tp_collect_f, 1);

static const struct tp_field tp_record_f[] = {
	TP_FIELD(tp_record, TP_K_ID, id, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_STATE, state, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_SINCE, since, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_GENERATION, generation, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_DATA_LOST, data_lost, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_IS_BATCH, is_batch, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_record, TP_K_NR, nr, TP_F_I64, 0, TP_RECORD_NR),
	TP_SUBMSG(tp_record, TP_K_BATCH, batch, 0, TP_RECORD_BATCH,
		  &tp_batch_reply_desc),
	TP_SUBMSG(tp_record, TP_K_ARGS, args, 0, TP_RECORD_ARGS,
		  &tp_syscall_args_desc),
	TP_SUBMSG(tp_record, TP_K_RESULT, result, 0, TP_RECORD_RESULT,
		  &tp_syscall_reply_desc),
	TP_FIELD(tp_record, TP_K_RET, ret, TP_F_I64, 0, TP_RECORD_RET),
};
TP_MAP_DESC(record, "COLLECT record", tp_record, tp_record_f);

static const struct tp_field tp_cancel_f[] = {
	TP_FIELD(tp_cancel, "id", id, TP_F_U64, TP_REQ, 0),
};
TP_ARRAY_DESC(cancel, "CANCEL", tp_cancel, tp_cancel_f, 1);

static const struct tp_field tp_cancel_reply_f[] = {
	TP_FIELD(tp_cancel, TP_K_ID, id, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_cancel, TP_K_CANCELLED, cancelled, TP_F_BOOL, TP_REQ, 0),
};
TP_MAP_DESC(cancel_reply, "CANCEL reply", tp_cancel, tp_cancel_reply_f);

/* ---- BATCH -------------------------------------------------------------- */

/* Each entry is decoded by the server as a SYSCALL, with its errors. */
static const struct tp_field tp_batch_f[] = {
	TP_LIST(tp_batch, "entries", entries, TP_F_MSG, TP_REQ | TP_DEFER, 0,
		&tp_syscall_desc),
	TP_FIELD(tp_batch, "flags", flags, TP_F_U64, 0, TP_BATCH_FLAGS),
};
TP_ARRAY_DESC(batch, "BATCH", tp_batch, tp_batch_f, 1);

static const struct tp_field tp_batch_reply_f[] = {
	TP_LIST(tp_batch_reply, TP_K_RESULTS, results, TP_F_MSG, TP_REQ, 0,
		&tp_syscall_reply_desc),
	TP_FIELD(tp_batch_reply, TP_K_STOPPED_AT, stopped_at, TP_F_I64, TP_REQ,
		 0),
	TP_FIELD(tp_batch_reply, TP_K_COMPLETED, completed, TP_F_I64, TP_REQ,
		 0),
};
TP_MAP_DESC(batch_reply, "BATCH reply", tp_batch_reply, tp_batch_reply_f);

/* ---- SUBMIT, REAP ------------------------------------------------------ */

/* Entries are decoded by the server as SYSCALLs, as BATCH's are. */
static const struct tp_field tp_submit_f[] = {
	TP_LIST(tp_submit, "entries", entries, TP_F_MSG, TP_REQ | TP_DEFER, 0,
		&tp_syscall_desc),
	TP_FIELD(tp_submit, "flags", flags, TP_F_U64, 0, TP_SUBMIT_FLAGS),
};
TP_ARRAY_DESC(submit, "SUBMIT", tp_submit, tp_submit_f, 1);

static const struct tp_field tp_submit_reply_f[] = {
	TP_LIST(tp_submit_reply, TP_K_IDS, ids, TP_F_I64, TP_REQ, 0, NULL),
};
TP_MAP_DESC(submit_reply, "SUBMIT reply", tp_submit_reply,
	    tp_submit_reply_f);

static const struct tp_field tp_reap_f[] = {
	TP_FIELD(tp_reap, "min", min, TP_F_U64, 0, TP_REAP_MIN),
	TP_FIELD(tp_reap, "max", max, TP_F_U64, 0, TP_REAP_MAX),
	TP_FIELD(tp_reap, "wait_ms", wait_ms, TP_F_I64, 0, TP_REAP_WAIT_MS),
};
TP_ARRAY_DESC(reap, "REAP", tp_reap, tp_reap_f, 0);

static const struct tp_field tp_reap_entry_f[] = {
	TP_FIELD(tp_reap_entry, "id", id, TP_F_U64, TP_REQ, 0),
	TP_SUBMSG(tp_reap_entry, "result", result, TP_REQ, 0,
		  &tp_syscall_reply_desc),
};
TP_ARRAY_DESC(reap_entry, "REAP completion", tp_reap_entry,
	      tp_reap_entry_f, 2);

/* The completions are unpacked by the reader, one at a time. */
static const struct tp_field tp_reap_reply_f[] = {
	TP_LIST(tp_reap_reply, TP_K_COMPLETIONS, completions, TP_F_MSG,
		TP_REQ | TP_DEFER, 0, &tp_reap_entry_desc),
	TP_FIELD(tp_reap_reply, TP_K_QUEUED, queued, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_reap_reply, TP_K_RUNNING, running, TP_F_U64, TP_REQ, 0),
};
TP_MAP_DESC(reap_reply, "REAP reply", tp_reap_reply, tp_reap_reply_f);
