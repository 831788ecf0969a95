/* PENDING, COLLECT, CANCEL and BATCH from the controller's side. */
#include <errno.h>
#include <stdio.h>
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
static int tl_args_from_record(struct tether_call *c, const struct tp_args *a)
{
	c->nargs = a->n;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct tp_arg *w = &a->a[i];
		struct tether_arg *arg = &c->args[i];

		memset(arg, 0, sizeof(*arg));
		switch (w->kind) {
		case TP_A_INT:
			arg->kind = TETHER_ARG_INT;
			arg->value = w->v;
			break;
		case TP_A_STR:
			arg->kind = TETHER_ARG_STR;
			if (!(arg->in = strndup(w->p, w->n)))
				return -ENOMEM;
			break;
		case TP_A_IN:
			arg->kind = TETHER_ARG_IN;
			arg->size = w->n;
			if (!(arg->in = malloc(w->n ? w->n : 1)))
				return -ENOMEM;
			memcpy((void *)arg->in, w->p, w->n);
			break;
		case TP_A_OUT:
			if (w->v > TETHER_BUF_MAX)
				return -EPROTO;
			arg->kind = TETHER_ARG_OUT;
			arg->size = (size_t)w->v;
			if (!(arg->out = malloc(w->v ? w->v : 1)))
				return -ENOMEM;
			break;
		default:
			return -EPROTO;
		}
	}
	return 0;
}

struct tl_collect {
	struct tether_call *c;
	bool record;			/* the arguments from the record */
	/* tether_collect_batch: a BATCH's entries, one block */
	struct tether_batch_result **results;
	size_t *nresults;
	int *stopped_at;
};

/* A BATCH record's entries as one block: the results, then the bytes of
 * their out buffers (they point into the frame until copied). */
static int tl_batch_results(struct tether *t, const struct tp_batch_reply *b,
			    struct tl_collect *col)
{
	size_t size = tl_buf_room(b->results.n * sizeof(**col->results));
	struct tether_batch_result *v = NULL;
	struct tp_syscall_reply x;
	struct tp_err e;
	char *p;
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		if (pass && !(v = calloc(1, size ? size : 1)))
			return tl_fail(t, ENOMEM, "out of memory");
		p = pass ? (char *)v + tl_buf_room(b->results.n * sizeof(*v))
			 : NULL;
		for (uint32_t i = 0; i < b->results.n; i++) {
			if ((rc = tp_unpack_syscall_reply(&b->results.o[i], &x,
							  &e)) < 0) {
				if (pass)
					free(v);
				return tl_fail(t, -rc, "%s", e.msg);
			}
			for (uint32_t k = 0; k < x.n; k++) {
				if (x.o[k].kind != TP_OUT_BIN)
					continue;
				if (!pass) {
					size += tl_buf_room(x.o[k].n);
					continue;
				}
				memcpy(p, x.o[k].p, x.o[k].n);
				v[i].out[k] = p;
				v[i].out_len[k] = x.o[k].n;
				p += tl_buf_room(x.o[k].n);
			}
			if (pass) {
				v[i].ret = (long)x.ret;
				v[i].nargs = x.n;
			}
		}
	}
	*col->results = v;
	*col->nresults = b->results.n;
	*col->stopped_at = (int)b->stopped_at;
	return 0;
}

static int tl_got_record(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tl_collect *col = arg;
	struct tether_call *c = col->c;
	struct tp_record r;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_record(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	/* Parked over the server's budget: the result, not the bytes. */
	if (r.data_lost) {
		c->ret = (long)r.ret;
		if (r.has & TP_RECORD_NR)
			c->nr = (long)r.nr;
		for (unsigned i = 0; i < c->nargs; i++)
			c->args[i].returned = 0;
		return tl_fail(t, ENODATA, "result %ld kept, but its out "
			       "buffers were dropped (parked over budget)",
			       c->ret);
	}
	if (r.has & TP_RECORD_BATCH) {
		c->nr = -1;
		c->nargs = 0;
		c->ret = (long)r.batch.completed;
		return col->results ? tl_batch_results(t, &r.batch, col) : 0;
	}
	if (!(r.has & TP_RECORD_NR) || !(r.has & TP_RECORD_RESULT) ||
	    (col->record && !(r.has & TP_RECORD_ARGS)))
		return tl_fail(t, EPROTO, "COLLECT record: a call's without "
			       "its nr, args or result");
	c->nr = (long)r.nr;
	/* On failure the caller clears what was decoded (tl_record_clear). */
	if (col->record && (rc = tl_args_from_record(c, &r.args)) < 0)
		return tl_fail(t, -rc, "malformed COLLECT arguments");
	/* No arguments to fill: the result alone. */
	if (!col->record && c->nargs == 0) {
		c->ret = (long)r.result.ret;
		return 0;
	}
	return tl_call_unpack(t, c, &r.result);
}

static int tl_pack_collect(struct tp_w *w, const void *arg)
{
	const int64_t *a = arg;
	struct tp_collect m = { .has = TP_COLLECT_WAIT_MS,
				.id = (uint64_t)a[0], .wait_ms = a[1] };

	return tp_pack_collect(w, &m);
}

TETHER_API int tether_collect(struct tether *t, uint64_t id, int64_t wait_ms,
			      struct tether_call *call)
{
	int64_t a[2] = { (int64_t)id, wait_ms };
	struct tl_collect col = { call, false, NULL, NULL, NULL };
	int rc = tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			    tl_got_record, &col);

	/* Collected, it is gone from the server: no reap will bring it. */
	if (rc == 0 || rc == -ENODATA)
		tl_sub_forget(t, id);
	return rc;
}

TETHER_API int tether_collect_record(struct tether *t, uint64_t id,
				     int64_t wait_ms, struct tether_call **out)
{
	int64_t a[2] = { (int64_t)id, wait_ms };
	struct tether_call c = { .nargs = 0 };
	struct tl_collect col = { &c, true, NULL, NULL, NULL };
	int rc = tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			    tl_got_record, &col);

	*out = NULL;
	if (rc == 0 || rc == -ENODATA)
		tl_sub_forget(t, id);
	/* ENODATA: the result was kept without its buffers -- still a
	 * record worth having. */
	if ((rc == 0 || rc == -ENODATA) && !(*out = tl_record_block(&c)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	tl_record_clear(&c);
	return rc;
}

TETHER_API int tether_collect_batch(struct tether *t, uint64_t id,
				    int64_t wait_ms, struct tether_call **out,
				    struct tether_batch_result **results,
				    size_t *n, int *stopped_at)
{
	int64_t a[2] = { (int64_t)id, wait_ms };
	struct tether_call c = { .nargs = 0 };
	struct tl_collect col = { &c, true, results, n, stopped_at };
	int rc;

	*out = NULL;
	*results = NULL;
	*n = 0;
	*stopped_at = -1;
	rc = tl_request(t, TETHER_OP_COLLECT, tl_pack_collect, a,
			tl_got_record, &col);
	if (rc == 0 || rc == -ENODATA)
		tl_sub_forget(t, id);
	if ((rc == 0 || rc == -ENODATA) && !(*out = tl_record_block(&c)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	tl_record_clear(&c);
	if (!*out) {
		free(*results);
		*results = NULL;
		*n = 0;
	}
	return rc;
}

static int tl_pack_id(struct tp_w *w, const void *arg)
{
	struct tp_cancel m = { .id = *(const uint64_t *)arg };

	return tp_pack_cancel(w, &m);
}

TETHER_API int tether_cancel(struct tether *t, uint64_t id)
{
	return tl_request(t, TETHER_OP_CANCEL, tl_pack_id, &id, NULL, NULL);
}

struct tl_pending {
	struct tether_pending *v;
	size_t n;
	uint64_t next;			/* the next page's "before", or 0 */
};

static int tl_got_pending(struct tether *t, const msgpack_object *body,
			  void *arg)
{
	struct tl_pending *p = arg;
	struct tether_pending *nv;
	struct tp_pending_reply r;
	struct tp_pending_entry x;
	struct tp_err e;
	int rc;

	p->next = 0;
	if ((rc = tp_unpack_pending_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.pending.n &&
	    !(nv = realloc(p->v, (p->n + r.pending.n) * sizeof(*p->v))))
		return tl_fail(t, ENOMEM, "out of memory");
	if (r.pending.n)
		p->v = nv;
	for (uint32_t i = 0; i < r.pending.n; i++) {
		struct tether_pending *v = &p->v[p->n];

		if ((rc = tp_unpack_pending_entry(&r.pending.o[i], &x, &e)) < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		memset(v, 0, sizeof(*v));
		v->id = x.id;
		v->nr = (long)x.nr;
		v->since_ms = x.since;
		v->generation = x.generation;
		snprintf(v->state, sizeof(v->state), "%.*s", (int)x.state.n,
			 x.state.p);
		v->batch = x.batch;
		v->waited = x.waited;
		p->n++;
	}
	p->next = r.has & TP_PENDING_NEXT ? r.next : 0;
	return 0;
}

static int tl_pack_pending(struct tp_w *w, const void *arg)
{
	struct tp_from f = { .has = TP_FROM_FROM,
			     .ufrom = *(const uint64_t *)arg };

	return tp_pack_pending(w, &f);
}

/* A page at a time, newest first: ~20,000 calls may be out (16,384 on a
 * connection and 4,096 parked), more than one reply can carry. */
TETHER_API int tether_pending(struct tether *t, struct tether_pending **v,
			      size_t *n)
{
	struct tl_pending p = { NULL, 0, 0 };
	uint64_t before;
	int rc;

	do {
		before = p.next;
		rc = tl_request(t, TETHER_OP_PENDING, tl_pack_pending, &before,
				tl_got_pending, &p);
		/* Ids below the last page's lowest: always going down. */
	} while (rc == 0 && p.next && (!before || p.next < before));
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

/* Entry i of the batch, checked already (tether_batch). */
static int tl_pack_entry(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct tl_batch *b = ctx;
	struct tp_syscall_req s;

	if (tl_call_to_syscall(b->t, &b->calls[i], &s) < 0)
		return tp_w_fail(w, -EINVAL);
	return tp_pack_syscall(w, &s);
}

static int tl_pack_batch(struct tp_w *w, const void *arg)
{
	const struct tl_batch *b = arg;
	struct tp_batch m = {
		.has = TP_BATCH_FLAGS,
		.entries = { .n = (uint32_t)b->n, .each = tl_pack_entry,
			     .ctx = b },
		.flags = b->flags,
	};

	return tp_pack_batch(w, &m);
}

static int tl_got_batch(struct tether *t, const msgpack_object *body,
			void *arg)
{
	struct tl_batch *b = arg;
	struct tp_batch_reply r;
	struct tp_syscall_reply x;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_batch_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.results.n != b->n)
		return tl_fail(t, EPROTO, "BATCH reply: %u results for %zu "
			       "entries", r.results.n, b->n);
	b->stopped_at = (int)r.stopped_at;
	for (uint32_t i = 0; i < r.results.n; i++) {
		if ((rc = tp_unpack_syscall_reply(&r.results.o[i], &x, &e)) < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		if ((rc = tl_call_unpack(t, &b->calls[i], &x)) < 0)
			return rc;
	}
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
	/* Refuse a bad entry here, with its number. */
	for (size_t i = 0; i < n; i++) {
		struct tp_syscall_req s;

		if ((rc = tl_call_to_syscall(t, &calls[i], &s)) < 0)
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
