/*
 * BATCH: several syscalls in one frame, run in order in one round trip.
 * An argument [3, k] stands for the result of entry k (an fd openat
 * returned, say).  Each entry runs where it must -- directly, in the
 * ring, on a helper -- one after another, so a batch never blocks the
 * server; with TETHER_BATCH_STOP the first failure skips the rest
 * (-ECANCELED).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"

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

void td_batch_record(struct td_calljob *cj, long ret)
{
	struct td_batch *b = cj->batch;

	b->rets[b->next++] = ret;
	if (ret >= 0 || (!(b->flags & TETHER_BATCH_STOP) &&
			 !cj->job.cancelled))
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
	td_call_narrow(c);
	return 0;
}

/* Checked again now that references are numbers: 0 or the entry's
 * -errno (the checks log what they refuse; the entry gets the errno). */
static long td_batch_recheck(struct td_calljob *cj, struct td_call *c)
{
	char why[400];
	const char *w;
	long ret;

	if ((ret = td_batch_resolve(cj->batch, c)) < 0)
		return ret;
	if (td_fdguard_refused_args(c, &w) ||
	    td_call_mem_refused(cj->job.srv, c))
		return -EPERM;
	if ((ret = td_call_policy_refuses(cj->job.srv, c, why,
					  sizeof(why))) < 0)
		return ret;
	return td_call_check_sizes(c, why, sizeof(why));
}

void td_batch_step(struct td_calljob *cj)
{
	struct td_batch *b = cj->batch;
	long ret;
	int rc;

	while (b->next < b->n) {
		struct td_call *c = &b->calls[b->next];

		cj->call = c;
		if ((ret = td_batch_recheck(cj, c)) < 0) {
			td_batch_record(cj, ret);
			continue;
		}
		if ((rc = td_calljob_place(cj)) == 0)
			return;		/* td_calljob_done comes back here */
		td_batch_record(cj, rc > 0 ? c->ret : rc);
	}
	if (b->stopped_at < 0)
		b->executed = b->n;
	cj->ret = (long)b->executed;
	td_calljob_finish(cj);
}

/* Entry i's result: as it ran, or -ECANCELED (or its refusal) with nil
 * outs for one that did not. */
static int td_batch_pack_result(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_batch *b = (struct td_batch *)ctx;
	struct tp_syscall_reply rep = { .ret = b->rets[i],
					.n = b->calls[i].nargs };

	if (i < b->executed)
		return td_call_pack_result(w, &b->calls[i], b->rets[i]);
	return tp_pack_syscall_reply(w, &rep);	/* outs all nil */
}

void td_batch_reply(const struct td_batch *b, struct tp_batch_reply *rep)
{
	rep->has = 0;
	rep->results = (struct tp_list){ .n = b->n,
					 .each = td_batch_pack_result,
					 .ctx = b };
	rep->stopped_at = b->stopped_at;
	rep->completed = b->executed;
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

static int td_batch_decode(struct td_req *r, const msgpack_object *e,
			   size_t n, struct td_batch *bt)
{
	int rc;

	for (size_t i = 0; i < n; i++, bt->n++) {
		if ((rc = td_call_decode(r, &e[i], &bt->calls[i])) < 0 ||
		    (rc = td_call_check(r, &bt->calls[i])) < 0 ||
		    (rc = td_batch_no_data(r, &bt->calls[i])) < 0) {
			size_t len = strlen(r->err);

			snprintf(r->err + len, sizeof(r->err) - len,
				 " (entry %zu)", i);
			bt->n++;
			return rc;
		}
	}
	/* Refused now rather than run with an answer that cannot be sent. */
	if (td_batch_bound(bt) > TD_RECORD_MAX)
		return td_req_fail(r, E2BIG, "the out buffers of this batch "
				   "could exceed the frame limit (%u bytes): "
				   "split it", TD_RECORD_MAX);
	return 0;
}

/* BATCH [entries, flags]: each entry is a SYSCALL body. */
int td_do_batch(struct td_req *r)
{
	size_t nb, n;
	const msgpack_object *b = tp_obj_array(r->body, &nb), *e;
	struct td_calljob *cj;
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
	if ((rc = td_batch_decode(r, e, n, bt)) < 0) {
		td_batch_free(bt);
		return rc;
	}
	if (!(cj = td_calljob_new())) {
		td_batch_free(bt);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	cj->batch = bt;
	cj->is_batch = true;
	if ((rc = td_job_start(&cj->job, &td_call_ops, r)) < 0) {
		cj->job.ops = &td_call_ops;
		cj->job.srv = r->srv;
		td_call_ops.release(&cj->job);
		return rc;
	}
	td_batch_step(cj);
	return TD_REPLY_LATER;
}
