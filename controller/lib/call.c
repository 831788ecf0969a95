/* SYSCALL: marshal arguments, run, copy out buffers back. */
#include <errno.h>
#include <string.h>

#include "libtether.h"

static int tl_call_pack_arg(struct tether *t, msgpack_packer *pk,
			    const struct tether_arg *a, unsigned i, int tag)
{
	size_t n;

	/* Big buffers travel on the data socket: only their size here. */
	if (tag) {
		msgpack_pack_array(pk, 2);
		msgpack_pack_unsigned_int(pk, (unsigned)tag);
		msgpack_pack_uint64(pk, a->size);
		return 0;
	}
	switch (a->kind) {
	case TETHER_ARG_INT:
		msgpack_pack_int64(pk, (int64_t)a->value);
		return 0;
	case TETHER_ARG_IN:
		if (a->size && !a->in)
			break;
		msgpack_pack_bin(pk, a->size);
		msgpack_pack_bin_body(pk, a->in, a->size);
		return 0;
	case TETHER_ARG_OUT:
		if (a->size && !a->out)
			break;
		msgpack_pack_array(pk, 2);
		msgpack_pack_unsigned_int(pk, TETHER_ARGTAG_OUT);
		msgpack_pack_uint64(pk, a->size);
		return 0;
	case TETHER_ARG_INOUT:
		if (!a->out || a->cap < a->size || (a->size && !a->in))
			break;
		msgpack_pack_array(pk, 3);
		msgpack_pack_unsigned_int(pk, TETHER_ARGTAG_INOUT);
		msgpack_pack_bin(pk, a->size);
		msgpack_pack_bin_body(pk, a->in, a->size);
		msgpack_pack_uint64(pk, a->cap);
		return 0;
	case TETHER_ARG_STR:
		if (!a->in)
			break;
		n = strlen(a->in);
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, a->in, n);
		return 0;
	case TETHER_ARG_RESULT:
		msgpack_pack_array(pk, 2);
		msgpack_pack_unsigned_int(pk, TETHER_ARGTAG_RESULT);
		msgpack_pack_uint64(pk, a->value);
		return 0;
	}
	return tl_fail(t, EINVAL, "argument %u: bad kind, pointer or size", i);
}

/* [ret, outs]: copy each out buffer back, no more than its capacity. */
int tl_call_unpack(struct tether *t, struct tether_call *c,
			  const msgpack_object *body)
{
	size_t nb, no;
	const msgpack_object *b = tp_obj_array(body, &nb);
	const msgpack_object *outs;
	int64_t ret;

	if (!b || nb != 2 || tp_obj_i64(&b[0], &ret) < 0 ||
	    !(outs = tp_obj_array(&b[1], &no)) || no != c->nargs)
		return tl_fail(t, EPROTO, "malformed SYSCALL reply");
	c->ret = (long)ret;
	for (unsigned i = 0; i < c->nargs; i++) {
		struct tether_arg *a = &c->args[i];
		size_t cap = a->kind == TETHER_ARG_INOUT ? a->cap : a->size;
		const void *p;
		size_t n;

		a->returned = 0;
		if (a->kind != TETHER_ARG_OUT && a->kind != TETHER_ARG_INOUT)
			continue;
		/* {"data": n}: the bytes follow on the data socket. */
		if (outs[i].type == MSGPACK_OBJECT_MAP) {
			int64_t dn;

			if (tp_obj_i64(tp_map_get(&outs[i], "data"), &dn) < 0 ||
			    dn < 0 || (size_t)dn > cap)
				return tl_fail(t, EPROTO, "bad data announcement "
					       "for buffer %u", i);
			a->returned = (size_t)dn;
			t->data_out = (int)i;
			continue;
		}
		if (tp_obj_bin(&outs[i], &p, &n) < 0 || n > cap)
			return tl_fail(t, EPROTO, "bad out buffer %u in reply",
				       i);
		if (n)
			memcpy(a->out, p, n);
		a->returned = n;
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

static int tl_call_pack(struct tether *t, msgpack_packer *pk,
			const struct tether_call *c, int din, int dout)
{
	int rc = 0;

	if (c->nargs > TETHER_NARGS_MAX)
		return tl_fail(t, E2BIG, "%u arguments; at most 6", c->nargs);
	msgpack_pack_array(pk, c->timeout_ms ? 4 : c->flags ? 3 : 2);
	msgpack_pack_int64(pk, c->nr);
	msgpack_pack_array(pk, c->nargs);
	for (unsigned i = 0; i < c->nargs && rc == 0; i++)
		rc = tl_call_pack_arg(t, pk, &c->args[i], i,
				      (int)i == din ? TETHER_ARGTAG_DATA_IN
				      : (int)i == dout ? TETHER_ARGTAG_DATA_OUT
						       : 0);
	if (c->flags || c->timeout_ms)
		msgpack_pack_unsigned_int(pk, c->flags);
	if (c->timeout_ms)
		msgpack_pack_uint64(pk, c->timeout_ms);
	return rc;
}

/* A SYSCALL body with every buffer inline (BATCH entries). */
int tl_call_pack_body(struct tether *t, msgpack_packer *pk,
		      const struct tether_call *c)
{
	return tl_call_pack(t, pk, c, -1, -1);
}

TETHER_API int tether_call(struct tether *t, struct tether_call *c)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int64_t aid;
	int din, dout, rc;

	tl_call_data_args(c, &din, &dout);
	tp_msg_init(&m);
	tp_msg_request(&m, id, TETHER_OP_SYSCALL);
	rc = tl_call_pack(t, &m.pk, c, din, dout);
	if (rc == 0)
		rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	/* {"send": true}: the big in buffer now, then the answer. */
	if (din >= 0) {
		tp_in_destroy(&in);
		if ((rc = tl_send_buffer(t, c->args[din].in,
					 c->args[din].size)) < 0 ||
		    (rc = tl_rpc_more(t, id, &in)) < 0)
			return rc;
	}
	/* An ASYNC call the ring cannot take ran at once: then the answer
	 * is the result itself, and there is nothing to collect (id 0). */
	c->async_id = 0;
	t->data_out = -1;
	if (tp_obj_i64(tp_map_get(in.body, "async_id"), &aid) == 0)
		c->async_id = (uint64_t)aid;
	else
		rc = tl_call_unpack(t, c, in.body);
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
