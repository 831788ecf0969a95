/* SYSCALL: marshal arguments, run, copy out buffers back. */
#include <errno.h>
#include <string.h>

#include "libtether.h"

/* One argument as it travels; tag, if any, sends it by the data socket
 * (only its size here). */
static int tl_call_arg(struct tether *t, const struct tether_arg *a,
		       unsigned i, int tag, struct tp_arg *w)
{
	memset(w, 0, sizeof(*w));
	if (tag) {
		w->kind = tag == TETHER_ARGTAG_DATA_IN ? TP_A_DATA_IN
						       : TP_A_DATA_OUT;
		w->v = a->size;
		return 0;
	}
	switch (a->kind) {
	case TETHER_ARG_INT:
		w->kind = TP_A_INT;
		w->v = a->value;
		return 0;
	case TETHER_ARG_IN:
		if (a->size && !a->in)
			break;
		w->kind = TP_A_IN;
		w->p = a->in;
		w->n = a->size;
		return 0;
	case TETHER_ARG_OUT:
		if (a->size && !a->out)
			break;
		w->kind = TP_A_OUT;
		w->v = a->size;
		return 0;
	case TETHER_ARG_INOUT:
		if (!a->out || a->cap < a->size || (a->size && !a->in))
			break;
		w->kind = TP_A_INOUT;
		w->p = a->in;
		w->n = a->size;
		w->v = a->cap;
		return 0;
	case TETHER_ARG_STR:
		if (!a->in)
			break;
		w->kind = TP_A_STR;
		w->p = a->in;
		w->n = strlen(a->in);
		return 0;
	case TETHER_ARG_RESULT:
		w->kind = TP_A_RESULT;
		w->v = a->value;
		return 0;
	}
	return tl_fail(t, EINVAL, "argument %u: bad kind, pointer or size", i);
}

/* A SYSCALL reply into c: copy each out buffer back, no more than its
 * capacity. */
int tl_call_unpack(struct tether *t, struct tether_call *c,
		   const struct tp_syscall_reply *r)
{
	if (r->n != c->nargs)
		return tl_fail(t, EPROTO, "SYSCALL reply: %u outs for %u "
			       "arguments", r->n, c->nargs);
	c->ret = (long)r->ret;
	for (unsigned i = 0; i < c->nargs; i++) {
		struct tether_arg *a = &c->args[i];
		const struct tp_out *o = &r->o[i];
		size_t cap = a->kind == TETHER_ARG_INOUT ? a->cap : a->size;

		a->returned = 0;
		if (a->kind != TETHER_ARG_OUT && a->kind != TETHER_ARG_INOUT)
			continue;
		/* {data: n}: the bytes follow on the data socket. */
		if (o->kind == TP_OUT_DATA) {
			if (o->n > cap)
				return tl_fail(t, EPROTO, "bad data announcement "
					       "for buffer %u", i);
			a->returned = (size_t)o->n;
			t->data_out = (int)i;
			continue;
		}
		if (o->kind != TP_OUT_BIN || o->n > cap)
			return tl_fail(t, EPROTO, "bad out buffer %u in reply",
				       i);
		if (o->n)
			memcpy(a->out, o->p, o->n);
		a->returned = o->n;
	}
	return 0;
}

/* The arguments that go by the data socket: the first big in buffer
 * and the first big out buffer (never for ASYNC: nobody would be there
 * to stream to).  -1 for none. */
static void tl_call_data_args(const struct tether_call *c, int *din, int *dout)
{
	*din = *dout = -1;
	if (c->flags & TETHER_CALL_ASYNC)
		return;
	for (unsigned i = 0; i < c->nargs && i < TETHER_NARGS_MAX; i++) {
		const struct tether_arg *a = &c->args[i];

		if (a->size <= TETHER_INLINE_MAX)
			continue;
		if (a->kind == TETHER_ARG_IN && *din < 0 && a->in)
			*din = (int)i;
		else if (a->kind == TETHER_ARG_OUT && *dout < 0 && a->out)
			*dout = (int)i;
	}
}

/* c as the SYSCALL message: flags go when set or when a timeout does. */
static int tl_call_wire(struct tether *t, const struct tether_call *c,
			int din, int dout, struct tp_syscall_req *s)
{
	int rc;

	if (c->nargs > TETHER_NARGS_MAX)
		return tl_fail(t, E2BIG, "%u arguments; at most 6", c->nargs);
	s->has = (c->timeout_ms ? TP_SYSCALL_TIMEOUT | TP_SYSCALL_FLAGS : 0) |
		 (c->flags ? TP_SYSCALL_FLAGS : 0);
	s->nr = c->nr;
	s->flags = c->flags;
	s->timeout_ms = c->timeout_ms;
	s->args.has = 0;
	s->args.n = c->nargs;
	for (unsigned i = 0; i < c->nargs; i++)
		if ((rc = tl_call_arg(t, &c->args[i], i,
				      (int)i == din ? TETHER_ARGTAG_DATA_IN
				      : (int)i == dout ? TETHER_ARGTAG_DATA_OUT
						       : 0,
				      &s->args.a[i])) < 0)
			return rc;
	return 0;
}

int tl_call_to_syscall(struct tether *t, const struct tether_call *c,
		       struct tp_syscall_req *s)
{
	return tl_call_wire(t, c, -1, -1, s);
}

TETHER_API int tether_call(struct tether *t, struct tether_call *c)
{
	struct tp_msg m;
	struct tp_in in;
	struct tp_syscall_req s;
	struct tp_syscall_reply r;
	struct tp_syscall_async async;
	struct tp_syscall_send send;
	struct tp_err e;
	uint64_t id = tl_next_id(t);
	int din, dout, rc;

	tl_call_data_args(c, &din, &dout);
	tp_msg_init(&m);
	tp_msg_request(&m, id, TETHER_OP_SYSCALL);
	/* A packing failure sticks in m.w: tl_rpc then sends nothing. */
	if ((rc = tl_call_wire(t, c, din, dout, &s)) == 0) {
		tp_pack_syscall(&m.w, &s);
		rc = tl_rpc(t, &m, id, &in);
	}
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	/* {send: true}: the big in buffer now, then the answer. */
	if (din >= 0) {
		rc = tp_unpack_syscall_send(in.body, &send, &e);
		tp_in_destroy(&in);
		if (rc < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		if ((rc = tl_send_buffer(t, c->args[din].in,
					 c->args[din].size)) < 0 ||
		    (rc = tl_rpc_more(t, id, &in)) < 0)
			return rc;
	}
	/* An ASYNC call the ring cannot take ran at once: then the answer
	 * is the result itself, and there is nothing to collect (id 0). */
	c->async_id = 0;
	t->data_out = -1;
	if (in.body->type == MSGPACK_OBJECT_MAP) {
		if ((rc = tp_unpack_syscall_async(in.body, &async, &e)) == 0)
			c->async_id = async.async_id;
	} else if ((rc = tp_unpack_syscall_reply(in.body, &r, &e)) == 0) {
		rc = tl_call_unpack(t, c, &r);
		e.msg[0] = '\0';
		/* a failed result is the syscall's, unless the server says
		 * its own timeout stopped it */
		if (rc == 0 && (r.has & TP_SYSCALL_REPLY_CAUSE))
			t->cause = tl_cause_of(r.cause.p, r.cause.n);
		else if (rc == 0 && c->ret < 0)
			t->cause = TETHER_CAUSE_SYSCALL;
	}
	if (rc < 0 && e.msg[0])
		tl_fail(t, -rc, "%s", e.msg);
	tp_in_destroy(&in);
	if (rc == 0 && t->data_out >= 0) {
		struct tether_arg *a = &c->args[t->data_out];

		rc = tl_recv_buffer(t, a->out, a->returned);
	}
	return rc;
}

TETHER_API int tether_syscall(struct tether *t, long nr, unsigned nargs,
			      struct tether_arg *args, long *ret)
{
	struct tether_call c = { .nr = nr, .nargs = nargs };
	int rc;

	if (nargs > TETHER_NARGS_MAX)
		return tl_fail(t, E2BIG, "%u arguments (at most %u)", nargs,
			       TETHER_NARGS_MAX);
	if (nargs)
		memcpy(c.args, args, nargs * sizeof(*args));
	if ((rc = tether_call(t, &c)) < 0)
		return rc;
	if (nargs)
		memcpy(args, c.args, nargs * sizeof(*args));
	if (ret)
		*ret = c.ret;
	return 0;
}
