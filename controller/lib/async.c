/* PENDING, COLLECT, CANCEL and BATCH from the controller's side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

/* A record's arguments as decoded, each buffer its own allocation. */
static void tl_record_clear(struct tether_call *c)
{
	for (unsigned i = 0; i < c->nargs; i++) {
		free((void *)c->args[i].in);
		if (c->args[i].out != c->args[i].in)
			free(c->args[i].out);
		c->args[i].in = NULL;
		c->args[i].out = NULL;
	}
}

/* Room for one buffer in a block: aligned, so that a caller may read a
 * struct out of it. */
static size_t tl_buf_room(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* The record and its buffers as the caller's one block. */
static struct tether_call *tl_record_block(const struct tether_call *c)
{
	size_t size = tl_buf_room(sizeof(*c));
	struct tether_call *o;
	char *p;

	for (unsigned i = 0; i < c->nargs; i++) {
		const struct tether_arg *a = &c->args[i];

		if (a->kind == TETHER_ARG_STR)
			size += tl_buf_room(strlen(a->in) + 1);
		else if (a->kind == TETHER_ARG_IN || a->kind == TETHER_ARG_OUT)
			size += tl_buf_room(a->size);
	}
	if (!(o = malloc(size)))
		return NULL;
	*o = *c;
	p = (char *)o + tl_buf_room(sizeof(*c));
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct tether_arg *a = &c->args[i];
		size_t n = a->kind == TETHER_ARG_STR ? strlen(a->in) + 1
						     : a->size;

		if (a->kind == TETHER_ARG_STR || a->kind == TETHER_ARG_IN) {
			memcpy(p, a->in, n);
			o->args[i].in = p;
		} else if (a->kind == TETHER_ARG_OUT) {
			memcpy(p, a->out, a->returned);
			o->args[i].out = p;
		} else {
			continue;
		}
		p += tl_buf_room(n);
	}
	return o;
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

struct tl_collect {
	struct tether_call *c;
	bool record;			/* the arguments from the record */
};

static int tl_got_record(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tl_collect *col = arg;
	struct tether_call *c = col->c;
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
	c->nr = (long)v;
	if (col->record &&
	    (rc = tl_args_from_record(c, tp_map_get(body, "args"))) < 0)
		return tl_fail(t, -rc, "malformed COLLECT arguments");
	/* No arguments to fill: the result alone. */
	if (!col->record && c->nargs == 0) {
		size_t n;
		const msgpack_object *r = tp_obj_array(tp_map_get(body,
							   "result"), &n);

		if (!r || n != 2 || tp_obj_i64(&r[0], &v) < 0)
			return tl_fail(t, EPROTO, "malformed COLLECT result");
		c->ret = (long)v;
		return 0;
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
	struct tl_collect col = { call, false };

	return tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			  tl_got_record, &col);
}

TETHER_API int tether_collect_record(struct tether *t, uint64_t id,
				     int64_t wait_ms, struct tether_call **out)
{
	int64_t a[2] = { (int64_t)id, wait_ms };
	struct tether_call c = { .nargs = 0 };
	struct tl_collect col = { &c, true };
	int rc = tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			    tl_got_record, &col);

	*out = NULL;
	/* ENODATA: the result was kept without its buffers -- still a
	 * record worth having. */
	if ((rc == 0 || rc == -ENODATA) && !(*out = tl_record_block(&c)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	tl_record_clear(&c);
	return rc;
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
