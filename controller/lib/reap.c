/*
 * SUBMIT and REAP from the controller's side: many calls in one frame,
 * their completions many a frame.  The handle remembers which of the
 * caller's calls each id stands for, so that a completion's out bytes go
 * straight into the caller's buffers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

/* ---- id -> call ---------------------------------------------------------- */

static size_t tl_sub_home(const struct tether *t, uint64_t id)
{
	/* Ids of one SUBMIT are mostly consecutive: a multiply by an odd
	 * number spreads them over the table without collisions. */
	return (size_t)(id * 0x9e3779b97f4a7c15ull) & (t->sub_cap - 1);
}

static void tl_sub_put(struct tether *t, uint64_t id, struct tether_call *c)
{
	size_t i = tl_sub_home(t, id);

	while (t->sub_ids[i])
		i = (i + 1) & (t->sub_cap - 1);
	t->sub_ids[i] = id;
	t->sub_calls[i] = c;
	t->nsub++;
}

/* Room for n more, the table at most half full: 0 or -ENOMEM. */
static int tl_sub_reserve(struct tether *t, size_t n)
{
	uint64_t *ids, *old_ids = t->sub_ids;
	struct tether_call **calls, **old_calls = t->sub_calls;
	size_t cap = t->sub_cap ? t->sub_cap : 64, old_cap = t->sub_cap;

	while ((t->nsub + n) * 2 > cap)
		cap *= 2;
	if (cap == t->sub_cap)
		return 0;
	ids = calloc(cap, sizeof(*ids));
	calls = calloc(cap, sizeof(*calls));
	if (!ids || !calls) {
		free(ids);
		free(calls);
		return -ENOMEM;
	}
	t->sub_ids = ids;
	t->sub_calls = calls;
	t->sub_cap = cap;
	t->nsub = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old_ids[i])
			tl_sub_put(t, old_ids[i], old_calls[i]);
	free(old_ids);
	free(old_calls);
	return 0;
}

/* The call submitted as id, forgotten now; NULL if none was. */
static struct tether_call *tl_sub_take(struct tether *t, uint64_t id)
{
	size_t mask = t->sub_cap - 1, i, j;
	struct tether_call *c;

	if (!t->sub_cap || !id)
		return NULL;
	for (i = tl_sub_home(t, id); t->sub_ids[i] != id; i = (i + 1) & mask)
		if (!t->sub_ids[i])
			return NULL;
	c = t->sub_calls[i];
	/* Backward shift: later entries of the run move up into the hole
	 * unless their home lies cyclically in (hole, their place]. */
	for (j = i;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!t->sub_ids[j])
			break;
		k = tl_sub_home(t, t->sub_ids[j]);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		t->sub_ids[i] = t->sub_ids[j];
		t->sub_calls[i] = t->sub_calls[j];
		i = j;
	}
	t->sub_ids[i] = 0;
	t->sub_calls[i] = NULL;
	t->nsub--;
	return c;
}

void tl_sub_forget(struct tether *t, uint64_t id)
{
	tl_sub_take(t, id);
}

TETHER_API size_t tether_submitted(const struct tether *t)
{
	return t ? t->nsub : 0;
}

/* ---- SUBMIT ------------------------------------------------------------- */

struct tl_submit {
	struct tether *t;
	struct tether_call *calls;
	size_t n;
};

static int tl_pack_submit_entry(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct tl_submit *b = ctx;
	struct tp_syscall_req s;

	if (tl_call_to_syscall(b->t, &b->calls[i], &s) < 0)
		return tp_w_fail(w, -EINVAL);
	return tp_pack_syscall(w, &s);
}

static int tl_pack_submit(struct tp_w *w, const void *arg)
{
	const struct tl_submit *b = arg;
	struct tp_submit m = {
		.entries = { .n = (uint32_t)b->n, .each = tl_pack_submit_entry,
			     .ctx = b },
	};

	return tp_pack_submit(w, &m);
}

static int tl_got_submit(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tl_submit *b = arg;
	struct tp_submit_reply r;
	struct tp_err e;
	int64_t id;
	int rc;

	if ((rc = tp_unpack_submit_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.ids.n != b->n)
		return tl_fail(t, EPROTO, "SUBMIT reply: %u ids for %zu entries",
			       r.ids.n, b->n);
	for (uint32_t i = 0; i < r.ids.n; i++) {
		if (tp_obj_i64(&r.ids.o[i], &id) < 0 || id <= 0)
			return tl_fail(t, EPROTO, "SUBMIT reply: bad id %u", i);
		b->calls[i].async_id = (uint64_t)id;
	}
	/* Remembered only once every id is good: the room was reserved. */
	for (uint32_t i = 0; i < r.ids.n; i++)
		tl_sub_put(t, b->calls[i].async_id, &b->calls[i]);
	return 0;
}

/* Buffers of this many bytes or more go out from where the caller has
 * them (sendmsg iovecs), not copied into the frame: a SUBMIT of 480
 * 4 KiB writes is 20 KiB of frame and 480 pointers. */
#define TL_SUBMIT_REF_MIN 512

/* The SUBMIT request, gathered, and its ids. */
static int tl_submit_send(struct tether *t, struct tl_submit *b)
{
	uint64_t id = tl_next_id(t);
	struct tp_gmsg g;
	struct tp_in in;
	int rc;

	t->err[0] = '\0';
	tp_gmsg_init(&g, TL_SUBMIT_REF_MIN);
	tp_gmsg_request(&g, id, TETHER_OP_SUBMIT);
	if ((rc = tl_pack_submit(&g.w, b)) < 0) {
		tp_gmsg_destroy(&g);
		return t->err[0] ? rc : tl_fail(t, -rc, "packing the request: "
						"%s", strerror(-rc));
	}
	rc = tl_rpc_gather(t, &g, id, &in);
	tp_gmsg_destroy(&g);
	if (rc < 0)
		return rc;
	rc = tl_got_submit(t, in.body, b);
	tp_in_destroy(&in);
	return rc;
}

TETHER_API int tether_submit_many(struct tether *t, struct tether_call *calls,
				  size_t n, unsigned flags)
{
	struct tl_submit b = { t, calls, n };
	int rc;

	if (n == 0 || n > TETHER_SUBMIT_MAX)
		return tl_fail(t, E2BIG, "%zu calls (1 to %u)", n,
			       TETHER_SUBMIT_MAX);
	if (flags)
		return tl_fail(t, EINVAL, "unknown submit flags %#x", flags);
	/* Refuse a bad entry here, with its number. */
	for (size_t i = 0; i < n; i++) {
		struct tp_syscall_req s;

		if ((rc = tl_call_to_syscall(t, &calls[i], &s)) < 0)
			return tl_fail(t, -rc, "entry %zu: %s", i, t->err);
	}
	if (tl_sub_reserve(t, n) < 0)
		return tl_fail(t, ENOMEM, "out of memory");
	return tl_submit_send(t, &b);
}

/* ---- REAP --------------------------------------------------------------- */

struct tl_reap {
	uint64_t a[2];			/* min, max */
	int64_t wait_ms;
	struct tether_call **done;
	size_t n;
};

static int tl_pack_reap(struct tp_w *w, const void *arg)
{
	const struct tl_reap *q = arg;
	struct tp_reap m = {
		.has = TP_REAP_MIN | TP_REAP_MAX | TP_REAP_WAIT_MS,
		.min = q->a[0], .max = q->a[1], .wait_ms = q->wait_ms,
	};

	return tp_pack_reap(w, &m);
}

/* Each completion into the call it answers.  One whose out buffers do
 * not fit the call is still handed back, with that error as its ret. */
static int tl_got_reap(struct tether *t, const msgpack_object *body,
		       void *arg)
{
	struct tl_reap *q = arg;
	struct tp_reap_reply r;
	struct tp_reap_entry x;
	struct tether_call *c;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_reap_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.completions.n > q->a[1])
		return tl_fail(t, EPROTO, "REAP reply: %u completions for at "
			       "most %llu", r.completions.n,
			       (unsigned long long)q->a[1]);
	for (uint32_t i = 0; i < r.completions.n; i++) {
		if ((rc = tp_unpack_reap_entry(&r.completions.o[i], &x,
					       &e)) < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		if (!(c = tl_sub_take(t, x.id)))
			return tl_fail(t, EPROTO, "REAP reply: id %llu was not "
				       "submitted on this handle",
				       (unsigned long long)x.id);
		if ((rc = tl_call_unpack(t, c, &x.result)) < 0)
			c->ret = rc;
		q->done[q->n++] = c;
	}
	return 0;
}

TETHER_API int tether_reap(struct tether *t, struct tether_call **done,
			   size_t max, size_t min, int64_t wait_ms)
{
	struct tl_reap q = { { min, max }, wait_ms, done, 0 };
	int rc;

	if (max == 0 || max > TETHER_SUBMIT_MAX || min > max)
		return tl_fail(t, EINVAL, "reap min %zu, max %zu (max 1 to "
			       "%u, min at most max)", min, max,
			       TETHER_SUBMIT_MAX);
	rc = tl_request(t, TETHER_OP_REAP, tl_pack_reap, &q, tl_got_reap, &q);
	return rc < 0 ? rc : (int)q.n;
}
