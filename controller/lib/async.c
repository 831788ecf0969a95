/* PENDING, COLLECT, CANCEL and BATCH from the controller's side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

TETHER_API void tether_call_release(struct tether_call *c)
{
	if (!c->owned)
		return;
	for (unsigned i = 0; i < c->nargs; i++) {
		free((void *)c->args[i].in);
		if (c->args[i].out != c->args[i].in)
			free(c->args[i].out);
		c->args[i].in = NULL;
		c->args[i].out = NULL;
	}
	c->owned = false;
}

/* The record's arguments, our own copies. */
static int tl_args_from_record(struct tether_call *c, const msgpack_object *a)
{
	size_t n, m;
	const msgpack_object *v = tp_obj_array(a, &n), *p;
	const void *bytes;
	uint64_t size;

	if (!v || n > TETHER_NARGS_MAX)
		return -EPROTO;
	c->owned = true;
	c->nargs = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		struct tether_arg *arg = &c->args[i];
		size_t len;

		memset(arg, 0, sizeof(*arg));
		if (tp_obj_reg(&v[i], &arg->value) == 0) {
			arg->kind = TETHER_ARG_INT;
		} else if (tp_obj_str(&v[i], (const char **)&bytes, &len) == 0) {
			arg->kind = TETHER_ARG_STR;
			if (!(arg->in = strndup(bytes, len)))
				return -ENOMEM;
		} else if (tp_obj_bin(&v[i], &bytes, &len) == 0) {
			arg->kind = TETHER_ARG_IN;
			arg->size = len;
			if (!(arg->in = malloc(len ? len : 1)))
				return -ENOMEM;
			memcpy((void *)arg->in, bytes, len);
		} else if ((p = tp_obj_array(&v[i], &m)) && m == 2 &&
			   tp_obj_u64(&p[1], &size) == 0 &&
			   size <= TETHER_BUF_MAX) {
			arg->kind = TETHER_ARG_OUT;
			arg->size = (size_t)size;
			if (!(arg->out = malloc(size ? size : 1)))
				return -ENOMEM;
		} else {
			return -EPROTO;
		}
	}
	return 0;
}

static int tl_got_record(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tether_call *c = arg;
	const msgpack_object *batch = tp_map_get(body, "batch");
	const msgpack_object *lost = tp_map_get(body, "data_lost");
	int64_t v;
	int rc;

	/* Parked over the server's budget: the result, not the bytes. */
	if (lost && lost->type == MSGPACK_OBJECT_BOOLEAN && lost->via.boolean) {
		v = 0;
		tp_obj_i64(tp_map_get(body, "ret"), &v);
		tp_obj_i64(tp_map_get(body, "nr"), (int64_t *)&c->nr);
		c->ret = (long)v;
		for (unsigned i = 0; i < c->nargs; i++)
			c->args[i].returned = 0;
		return tl_fail(t, ENODATA, "result %ld kept, but its out "
			       "buffers were dropped (parked over budget)",
			       c->ret);
	}

	if (batch) {
		c->nr = -1;
		c->nargs = 0;
		tp_obj_i64(tp_map_get(batch, "completed"), &v);
		c->ret = (long)v;
		return 0;
	}
	if (tp_obj_i64(tp_map_get(body, "nr"), &v) < 0)
		return tl_fail(t, EPROTO, "malformed COLLECT reply");
	if (c->nargs == 0) {
		c->nr = (long)v;
		if ((rc = tl_args_from_record(c, tp_map_get(body, "args"))) < 0) {
			tether_call_release(c);
			return tl_fail(t, -rc, "malformed COLLECT arguments");
		}
	}
	return tl_call_unpack(t, c, tp_map_get(body, "result"));
}

static void tl_pack_collect(msgpack_packer *pk, const void *arg)
{
	const int64_t *a = arg;

	msgpack_pack_array(pk, 2);
	msgpack_pack_uint64(pk, (uint64_t)a[0]);
	msgpack_pack_int64(pk, a[1]);
}

TETHER_API int tether_collect(struct tether *t, uint64_t id, int64_t wait_ms,
			      struct tether_call *call)
{
	int64_t a[2] = { (int64_t)id, wait_ms };

	return tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			  tl_got_record, call);
}

static void tl_pack_id(msgpack_packer *pk, const void *arg)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_uint64(pk, *(const uint64_t *)arg);
}

TETHER_API int tether_cancel(struct tether *t, uint64_t id)
{
	return tl_request(t, TETHER_OP_CANCEL, tl_pack_id, &id, NULL, NULL);
}

struct tl_pending {
	struct tether_pending *v;
	size_t n;
};

static int tl_got_pending(struct tether *t, const msgpack_object *body,
			  void *arg)
{
	struct tl_pending *p = arg;
	size_t n;
	const msgpack_object *v = tp_obj_array(tp_map_get(body, "pending"), &n);

	if (!v)
		return tl_fail(t, EPROTO, "malformed PENDING reply");
	if (n && !(p->v = calloc(n, sizeof(*p->v))))
		return tl_fail(t, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct tether_pending *e = &p->v[i];
		const msgpack_object *o;
		const char *s;
		size_t len;
		int64_t x = 0;

		tp_obj_i64(tp_map_get(&v[i], "id"), &x);
		e->id = (uint64_t)x;
		x = -1;
		tp_obj_i64(tp_map_get(&v[i], "nr"), &x);
		e->nr = (long)x;
		tp_obj_i64(tp_map_get(&v[i], "since"), &e->since_ms);
		x = 0;
		tp_obj_i64(tp_map_get(&v[i], "generation"), &x);
		e->generation = (uint64_t)x;
		if (tp_obj_str(tp_map_get(&v[i], "state"), &s, &len) == 0)
			snprintf(e->state, sizeof(e->state), "%.*s", (int)len, s);
		o = tp_map_get(&v[i], "batch");
		e->batch = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
		o = tp_map_get(&v[i], "waited");
		e->waited = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
		p->n++;
	}
	return 0;
}

TETHER_API int tether_pending(struct tether *t, struct tether_pending **v,
			      size_t *n)
{
	struct tl_pending p = { NULL, 0 };
	int rc = tl_request(t, TETHER_OP_PENDING, NULL, NULL, tl_got_pending,
			    &p);

	if (rc < 0) {
		free(p.v);
		return rc;
	}
	*v = p.v;
	*n = p.n;
	return 0;
}

/* ---- BATCH ------------------------------------------------------------ */

struct tl_batch {
	struct tether *t;
	struct tether_call *calls;
	size_t n;
	unsigned flags;
	int stopped_at;
	int rc;
};

static void tl_pack_batch(msgpack_packer *pk, const void *arg)
{
	const struct tl_batch *b = arg;

	msgpack_pack_array(pk, 2);
	msgpack_pack_array(pk, b->n);
	for (size_t i = 0; i < b->n; i++)
		if (tl_call_pack_body(b->t, pk, &b->calls[i]) < 0)
			((struct tl_batch *)b)->rc = -EINVAL;
	msgpack_pack_unsigned_int(pk, b->flags);
}

static int tl_got_batch(struct tether *t, const msgpack_object *body,
			void *arg)
{
	struct tl_batch *b = arg;
	size_t n;
	const msgpack_object *v = tp_obj_array(tp_map_get(body, "results"), &n);
	int64_t at = -1;
	int rc;

	if (!v || n != b->n)
		return tl_fail(t, EPROTO, "malformed BATCH reply");
	tp_obj_i64(tp_map_get(body, "stopped_at"), &at);
	b->stopped_at = (int)at;
	for (size_t i = 0; i < n; i++)
		if ((rc = tl_call_unpack(t, &b->calls[i], &v[i])) < 0)
			return rc;
	return 0;
}

TETHER_API int tether_batch(struct tether *t, struct tether_call *calls,
			    size_t n, unsigned flags, int *stopped_at)
{
	struct tl_batch b = { t, calls, n, flags, -1, 0 };
	int rc;

	if (n == 0 || n > TETHER_BATCH_MAX)
		return tl_fail(t, E2BIG, "%zu entries (1 to %u)", n,
			       TETHER_BATCH_MAX);
	/* Refuse a bad entry here: half a frame would cost the connection. */
	for (size_t i = 0; i < n; i++) {
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		rc = tl_call_pack_body(t, &pk, &calls[i]);
		msgpack_sbuffer_destroy(&sb);
		if (rc < 0)
			return tl_fail(t, -rc, "entry %zu: %s", i, t->err);
	}
	rc = tl_request(t, TETHER_OP_BATCH, tl_pack_batch, &b, tl_got_batch,
			&b);
	if (rc == 0 && b.rc < 0)
		rc = b.rc;
	if (stopped_at)
		*stopped_at = b.stopped_at;
	return rc;
}
