/*
 * BATCH: several syscalls in one frame, run in order in one round trip.
 * An argument [3, k] stands for the result of entry k (an fd openat
 * returned, say).  Entries that may block go through the ring one after
 * another, so a batch never blocks the server; with TETHER_BATCH_STOP
 * the first failure skips the rest (-ECANCELED).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "tetherd.h"

void td_batch_free(struct td_batch *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < b->n; i++)
		td_call_free(&b->calls[i]);
	free(b->calls);
	free(b->rets);
	free(b);
}

void td_batch_record(struct td_inflight *inf, long ret)
{
	struct td_batch *b = inf->batch;

	b->rets[b->next++] = ret;
	if (ret >= 0 || (!(b->flags & TETHER_BATCH_STOP) && !inf->cancelled))
		return;
	b->stopped_at = (int)b->next - 1;
	for (unsigned i = b->next; i < b->n; i++)
		b->rets[i] = -ECANCELED;
	b->executed = b->next;
	b->next = b->n;
}

/* [3, k] becomes entry k's result; k must have run, and succeeded. */
static long td_batch_resolve(struct td_batch *b, struct td_call *c)
{
	for (unsigned i = 0; i < c->nargs; i++) {
		uint64_t k = c->a[i].reg;

		if (c->a[i].kind != TD_ARG_RESULT)
			continue;
		if (k >= b->next)
			return -EINVAL;
		if (b->rets[k] < 0)
			return -ECANCELED;
		c->a[i].kind = TD_ARG_INT;
		c->a[i].reg = (uint64_t)b->rets[k];
	}
	return 0;
}

void td_batch_step(struct td_inflight *inf)
{
	struct td_batch *b = inf->batch;
	const char *why;
	char pwhy[400];		/* logged by the check; the entry gets errno */
	long ret;

	while (b->next < b->n) {
		struct td_call *c = &b->calls[b->next];

		inf->call = c;
		/* Checked again now that references are numbers. */
		if ((ret = td_batch_resolve(b, c)) < 0 ||
		    (td_fdguard_refused(c->nr, &why) && (ret = -EPERM)) ||
		    (td_call_mem_refused(inf->srv, c) && (ret = -EPERM)) ||
		    (ret = td_call_policy_refuses(inf->srv, c, pwhy,
						  sizeof(pwhy))) < 0) {
			td_batch_record(inf, ret);
			continue;
		}
		if (td_ring_wants(c) && td_ring_submit(inf) == 0)
			return;		/* td_async_event comes back here */
		td_batch_record(inf, td_call_run(inf->srv, c));
	}
	if (b->stopped_at < 0)
		b->executed = b->n;
	td_inflight_finish(inf);
}

/* {"results": [[ret, outs]...], "stopped_at": k or -1, "completed": n} */
void td_batch_pack(msgpack_packer *pk, const struct td_batch *b)
{
	msgpack_pack_map(pk, 3);
	tp_pack_str(pk, "results");
	msgpack_pack_array(pk, b->n);
	for (unsigned i = 0; i < b->n; i++) {
		if (i < b->executed) {
			td_call_pack_result(pk, &b->calls[i], b->rets[i]);
			continue;
		}
		msgpack_pack_array(pk, 2);
		msgpack_pack_int64(pk, b->rets[i]);
		msgpack_pack_array(pk, b->calls[i].nargs);
		for (unsigned k = 0; k < b->calls[i].nargs; k++)
			msgpack_pack_nil(pk);
	}
	tp_pack_kv_int(pk, "stopped_at", b->stopped_at);
	tp_pack_kv_int(pk, "completed", b->executed);
}

static int td_batch_no_data(struct td_req *r, const struct td_call *c)
{
	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].via_data)
			return td_req_fail(r, EINVAL, "data-socket buffers "
					   "cannot be batched");
	return 0;
}

/* The most bytes a batch's answer can take: its out buffers and a
 * generous allowance for the msgpack around them. */
static uint64_t td_batch_bound(const struct td_batch *b)
{
	uint64_t n = 64;

	for (unsigned i = 0; i < b->n; i++) {
		const struct td_call *c = &b->calls[i];

		n += 16 + 8 * (uint64_t)c->nargs;
		for (unsigned k = 0; k < c->nargs; k++)
			if (c->a[k].kind == TD_ARG_OUT ||
			    c->a[k].kind == TD_ARG_INOUT)
				n += c->a[k].size;
	}
	return n;
}

/* BATCH [entries, flags]: each entry is a SYSCALL body. */
int td_do_batch(struct td_req *r)
{
	size_t nb, n;
	const msgpack_object *b = tp_obj_array(r->body, &nb), *e;
	struct td_inflight *inf;
	struct td_batch *bt;
	uint64_t flags = 0;
	int rc;

	if (!b || nb < 1 || nb > 2 || !(e = tp_obj_array(&b[0], &n)) ||
	    (nb == 2 && tp_obj_u64(&b[1], &flags) < 0))
		return td_req_fail(r, EPROTO, "BATCH body is [entries, flags]");
	if (n == 0 || n > TETHER_BATCH_MAX)
		return td_req_fail(r, E2BIG, "%zu entries (1 to %u)", n,
				   TETHER_BATCH_MAX);
	if (!(bt = calloc(1, sizeof(*bt))) ||
	    !(bt->calls = calloc(n, sizeof(*bt->calls))) ||
	    !(bt->rets = calloc(n, sizeof(long)))) {
		td_batch_free(bt);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	bt->flags = (unsigned)flags;
	bt->stopped_at = -1;
	for (size_t i = 0; i < n; i++, bt->n++) {
		if ((rc = td_call_decode(r, &e[i], &bt->calls[i])) < 0 ||
		    (rc = td_call_check(r, &bt->calls[i])) < 0 ||
		    (rc = td_batch_no_data(r, &bt->calls[i])) < 0) {
			size_t len = strlen(r->err);

			snprintf(r->err + len, sizeof(r->err) - len,
				 " (entry %zu)", i);
			bt->n++;
			td_batch_free(bt);
			return rc;
		}
	}
	/* Refused now rather than run with an answer that cannot be sent. */
	if (td_batch_bound(bt) > TD_RECORD_MAX) {
		td_batch_free(bt);
		return td_req_fail(r, E2BIG, "the out buffers of this batch "
				   "could exceed the frame limit (%u bytes): "
				   "split it", TD_RECORD_MAX);
	}
	if (!(inf = td_inflight_new(r))) {
		td_batch_free(bt);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	inf->batch = bt;
	inf->is_batch = true;
	inf->to = r->conn;
	inf->to_id = r->id;
	td_batch_step(inf);
	return TD_REPLY_LATER;
}
