/*
 * SUBMIT and REAP: io_uring's submit / wait-for-completions over the
 * wire.  One SUBMIT frame starts up to TETHER_SUBMIT_MAX calls side by
 * side, each a call job as an ASYNC SYSCALL's would be (ring, helper,
 * or run at once); its reply is their ids.  A result, when it comes,
 * waits in the submitting connection's completion queue with its
 * buffers as the call left them -- no record is packed -- until a REAP
 * takes up to TETHER_SUBMIT_MAX of them in one frame.  Nothing is ever
 * sent unasked: a client that never REAPs sees nothing new.
 *
 * A REAP that finds fewer than its min waits as a job (the loop goes
 * on), answered by the completion that makes up the count, or its
 * wait_ms.  Bounds per connection: the job quota (a queued completion
 * is still one of its jobs), TD_SUBMIT_BYTES of buffers, one waiting
 * REAP.  A connection that goes leaves its completions parked for the
 * next controller (or dropped, DETACH_CANCEL), as an ASYNC call's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"

/* Buffer bytes one connection's submitted calls may hold, running and
 * queued together. */
#define TD_SUBMIT_BYTES (64u << 20)

/* Out buffers of this many bytes or more go into a REAP reply by
 * reference (sendmsg iovecs), smaller ones are copied. */
#define TD_REAP_REF_MIN 512

/* ---- the completion queue ------------------------------------------------ */

void td_reap_unqueue(struct td_conn *c, struct td_calljob *cj)
{
	struct td_calljob **pp = &c->cq_head, *prev = NULL;

	/* Taken from the head (REAP) in the common case: O(1). */
	while (*pp && *pp != cj) {
		prev = *pp;
		pp = &(*pp)->cq_next;
	}
	if (*pp)
		*pp = cj->cq_next;
	if (c->cq_tail == cj)
		c->cq_tail = prev;
	cj->cq_next = NULL;
	cj->queued = false;
	c->ncq--;
	c->submit_bytes -= cj->held;
	cj->held = 0;
}

static void td_reap_enqueue(struct td_conn *c, struct td_calljob *cj)
{
	cj->queued = true;
	cj->cq_next = NULL;
	if (c->cq_tail)
		c->cq_tail->cq_next = cj;
	else
		c->cq_head = cj;
	c->cq_tail = cj;
	c->ncq++;
}

/* Enough is queued for a REAP asking for min: as many as can still
 * come, if that is fewer. */
static bool td_reap_ready(const struct td_conn *c, uint64_t min)
{
	uint64_t can = (uint64_t)c->ncq + c->nsubmitted;

	return c->ncq >= (min < can ? min : can);
}

/* The bytes completion cj takes in a REAP reply, generously. */
static size_t td_reap_size(const struct td_calljob *cj)
{
	const struct td_call *c = cj->call;
	size_t n = 48 + 8 * (size_t)c->nargs;

	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].kind == TD_ARG_OUT || c->a[i].kind == TD_ARG_INOUT)
			n += c->a[i].size;
	return n;
}

struct td_reap_walk {
	struct td_calljob *next;
	bool causes;
};

static int td_reap_pack_one(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_reap_walk *walk = (struct td_reap_walk *)ctx;
	struct td_calljob *cj = walk->next;
	struct tp_reap_entry e = { .id = cj->job.id };

	(void)i;
	walk->next = cj->cq_next;
	/* -ETIMEDOUT because our timer fired: said to a client that asked
	 * for causes, as a direct answer would. */
	cj->call->cause = walk->causes && cj->job.timed_out &&
			  cj->ret == -ETIMEDOUT ? TP_CAUSE_TIMEOUT : NULL;
	td_call_result(cj->call, cj->ret, &e.result);
	cj->call->cause = NULL;
	return tp_pack_reap_entry(w, &e);
}

/* Answer request id on c with up to max completions, as many as one
 * frame holds.  What the frame took leaves the queue only once the frame
 * is whole; if it cannot be built, the REAP fails and they stay. */
static void td_reap_send(struct td_conn *c, uint64_t id, uint64_t max)
{
	struct td_reap_walk walk = { c->cq_head, c->causes };
	struct tp_reap_reply rep = { 0 };
	struct td_calljob *cj = c->cq_head;
	size_t bytes = 64;
	uint32_t n = 0;
	struct tp_gmsg g;
	struct tp_msg m;
	int rc;

	for (; cj && n < max; cj = cj->cq_next, n++) {
		size_t one = td_reap_size(cj);

		if (n && bytes + one > TD_RECORD_MAX)
			break;
		bytes += one;
	}
	rep.completions = (struct tp_list){ .n = n, .each = td_reap_pack_one,
					    .ctx = &walk };
	rep.queued = c->ncq - n;
	rep.running = c->nsubmitted;
	/* The out bytes are not copied into the frame: it points at the
	 * guarded buffers, which stay until it has gone (or been queued). */
	tp_gmsg_init(&g, TD_REAP_REF_MIN);
	tp_gmsg_reply(&g, id, 0);
	tp_pack_reap_reply(&g.w, &rep);
	if ((rc = tp_gmsg_finish(&g)) < 0) {
		tp_gmsg_destroy(&g);
		tp_msg_init(&m);
		if (tp_msg_error(&m, id, -rc, "the REAP reply (%u completions) "
				 "could not be built: %s", n,
				 strerror(-rc)) == 0)
			td_conn_queue(c, &m);
		tp_msg_destroy(&m);
		return;
	}
	td_conn_queue_gather(c, &g);
	tp_gmsg_destroy(&g);
	while (n--) {
		cj = c->cq_head;
		td_reap_unqueue(c, cj);
		td_job_end(&cj->job);
	}
}

/* ---- REAP ------------------------------------------------------------- */

/* A REAP that waits for its min. */
struct td_reapjob {
	struct td_job job;
	struct td_conn *conn;
	uint64_t min;
	uint64_t max;
};

static void td_reapjob_answer(struct td_reapjob *rj)
{
	struct td_conn *c = rj->conn;

	c->reaper = NULL;
	if (rj->job.to && !td_conn_gone(rj->job.to))
		td_reap_send(c, rj->job.to_id, rj->max);
	td_job_end(&rj->job);
}

/* wait_ms passed: what is there, maybe nothing -- not an error. */
static void td_reapjob_expire(struct td_job *j)
{
	td_reapjob_answer((struct td_reapjob *)j);
}

static void td_reapjob_detach(struct td_job *j, struct td_conn *c)
{
	struct td_reapjob *rj = (struct td_reapjob *)j;

	if (rj->conn == c)
		c->reaper = NULL;
	td_job_end(j);
}

static void td_reapjob_release(struct td_job *j)
{
	free(j);
}

static const struct td_job_ops td_reap_ops = {
	.name = "REAP",
	.expire = td_reapjob_expire,
	.detach = td_reapjob_detach,
	.release = td_reapjob_release,
};

/* A waiting REAP whose count is made up (or can no longer grow) is
 * answered -- never in the middle of a SUBMIT, whose ids must go first. */
static void td_reap_kick(struct td_conn *c)
{
	struct td_reapjob *rj = (struct td_reapjob *)c->reaper;

	if (rj && !c->srv->exec.submitting && td_reap_ready(c, rj->min))
		td_reapjob_answer(rj);
}

/* A completion carries only its out buffers: its in buffers go back to
 * the arena now, not when it is reaped (its record, should a COLLECT
 * take it or its connection go, shows them empty). */
static void td_reap_drop_inputs(struct td_conn *c, struct td_calljob *cj)
{
	static char none[1];
	struct td_call *call = cj->call;

	for (unsigned i = 0; i < call->nargs; i++) {
		struct td_arg *a = &call->a[i];
		size_t span = a->b.span ? a->b.span : a->size;

		if (a->kind != TD_ARG_IN || !a->b.base)
			continue;
		td_buf_put(&a->b);
		a->b.p = none;
		a->size = 0;
		cj->held -= span;
		c->submit_bytes -= span;
	}
}

bool td_reap_complete(struct td_calljob *cj)
{
	struct td_conn *c = cj->job.owner;

	if (cj->submitted && c) {
		cj->submitted = false;
		c->nsubmitted--;
	}
	/* Its connection went (or a COLLECT waits, or it is dropped): as
	 * any call answered later. */
	if (!c || cj->collector || cj->drop) {
		if (c) {
			c->submit_bytes -= cj->held;
			cj->held = 0;
			td_reap_kick(c);
		}
		return false;
	}
	td_reap_drop_inputs(c, cj);
	td_reap_enqueue(c, cj);
	td_reap_kick(c);
	return true;
}

/* REAP [min, max, wait_ms]: up to max completions once min are there. */
int td_do_reap(struct td_req *r)
{
	struct td_conn *c = r->conn;
	struct tp_reap req;
	struct tp_err e;
	struct td_reapjob *rj;
	uint64_t min, max;
	int64_t wait;
	int rc;

	if ((rc = tp_unpack_reap(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	min = req.has & TP_REAP_MIN ? req.min : 1;
	max = req.has & TP_REAP_MAX ? req.max : TETHER_SUBMIT_MAX;
	wait = req.has & TP_REAP_WAIT_MS ? req.wait_ms : -1;
	if (max == 0 || max > TETHER_SUBMIT_MAX)
		return td_req_fail(r, EINVAL, "max %llu completions (1 to %u)",
				   (unsigned long long)max, TETHER_SUBMIT_MAX);
	if (min > max)
		return td_req_fail(r, EINVAL, "min %llu exceeds max %llu",
				   (unsigned long long)min,
				   (unsigned long long)max);
	if (c->reaper)
		return td_req_fail(r, EBUSY, "a REAP of this connection "
				   "already waits");
	if (wait == 0 || td_reap_ready(c, min)) {
		td_reap_send(c, r->id, max);
		return TD_REPLY_LATER;
	}
	if (!(rj = calloc(1, sizeof(*rj))))
		return td_req_fail(r, ENOMEM, "out of memory");
	/* Outside the quota: a connection whose quota its own running
	 * calls fill must still be able to wait for them. */
	td_job_start_internal(&rj->job, &td_reap_ops, r->srv);
	rj->job.generation = c->generation;
	rj->job.to = c;
	rj->job.to_id = r->id;
	rj->conn = c;
	rj->min = min;
	rj->max = max;
	c->reaper = &rj->job;
	if (wait > 0)
		td_timer_in(r->srv, &rj->job.timer, (uint64_t)wait);
	return TD_REPLY_LATER;
}

/* ---- SUBMIT ----------------------------------------------------------- */

/* The buffer bytes a call holds while it runs and until it is reaped. */
static size_t td_submit_held(const struct td_call *c)
{
	size_t n = 0;

	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].kind != TD_ARG_INT)
			n += c->a[i].b.span ? c->a[i].b.span : c->a[i].size;
	return n;
}

/* Entry i, decoded and checked: what BATCH refuses, SUBMIT does too,
 * and a result reference has no earlier entry to refer to. */
static int td_submit_decode(struct td_req *r, const msgpack_object *o,
			    struct td_call *c)
{
	int rc;

	if ((rc = td_call_decode(r, o, c)) < 0 ||
	    (rc = td_call_check(r, c)) < 0)
		return rc;
	for (unsigned i = 0; i < c->nargs; i++) {
		if (c->a[i].kind == TD_ARG_RESULT)
			return td_req_fail(r, EINVAL, "argument %u: a result "
					   "reference outside BATCH", i);
		if (c->a[i].via_data)
			return td_req_fail(r, EINVAL, "argument %u: data-socket "
					   "buffers cannot be submitted", i);
	}
	/* Answered later, as an ASYNC call: where it runs says so. */
	c->flags |= TETHER_CALL_ASYNC;
	return 0;
}

static void td_submit_free(struct td_calljob **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			continue;
		if (v[i]->call) {
			td_call_free(v[i]->call);
			free(v[i]->call);
		}
		msgpack_sbuffer_destroy(&v[i]->body);
		free(v[i]);
	}
	free(v);
}

/* Every entry decoded, checked and given a job before any runs: a
 * SUBMIT starts whole or not at all. */
static int td_submit_prepare(struct td_req *r, const struct tp_list *l,
			     struct td_calljob **v, size_t *held)
{
	int rc;

	for (uint32_t i = 0; i < l->n; i++) {
		if (!(v[i] = td_calljob_new()) ||
		    !(v[i]->call = calloc(1, sizeof(*v[i]->call))))
			return td_req_fail(r, ENOMEM, "out of memory");
		if ((rc = td_submit_decode(r, &l->o[i], v[i]->call)) < 0) {
			size_t len = strlen(r->err);

			snprintf(r->err + len, sizeof(r->err) - len,
				 " (entry %u)", i);
			return rc;
		}
		v[i]->held = td_submit_held(v[i]->call);
		*held += v[i]->held;
	}
	return 0;
}

/* Start entry cj: its id is known; its result, now or later, goes to
 * the queue. */
static void td_submit_start(struct td_req *r, struct td_calljob *cj)
{
	struct td_conn *c = r->conn;
	int rc;

	/* Cannot fail: td_job_room() said there is room. */
	td_job_start(&cj->job, &td_call_ops, r);
	cj->job.to = NULL;
	cj->async = cj->reap = cj->submitted = true;
	cj->cancel_on_detach = cj->call->flags & TETHER_CALL_DETACH_CANCEL;
	c->nsubmitted++;
	c->submit_bytes += cj->held;
	if ((rc = td_calljob_place(cj)) == 0)
		return;
	/* Ran at once, or could not be placed (every helper busy): its
	 * completion is queued now, that errno its result. */
	cj->ret = rc > 0 ? cj->call->ret : rc;
	td_calljob_finish(cj);
}

static int td_submit_pack_id(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_calljob *const *v = ctx;

	return tp_w_i64(w, (int64_t)v[i]->job.id);
}

/* SUBMIT [entries, flags]: each entry a SYSCALL body, run side by side;
 * the reply {ids} goes before any REAP sees their completions. */
int td_do_submit(struct td_req *r)
{
	struct td_conn *c = r->conn;
	struct tp_submit req;
	struct tp_submit_reply rep;
	struct tp_err e;
	struct td_calljob **v;
	struct tp_msg m;
	size_t held = 0;
	int rc;

	if ((rc = tp_unpack_submit(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if (req.entries.n == 0 || req.entries.n > TETHER_SUBMIT_MAX)
		return td_req_fail(r, E2BIG, "%u entries (1 to %u)",
				   req.entries.n, TETHER_SUBMIT_MAX);
	if ((req.has & TP_SUBMIT_FLAGS) && req.flags)
		return td_req_fail(r, EINVAL, "unknown SUBMIT flags %#llx",
				   (unsigned long long)req.flags);
	if (td_job_room(c) < req.entries.n)
		return td_req_fail(r, EAGAIN, "%u entries, room for %u more "
				   "requests on this connection: reap some "
				   "first", req.entries.n, td_job_room(c));
	if (!(v = calloc(req.entries.n, sizeof(*v))))
		return td_req_fail(r, ENOMEM, "out of memory");
	if ((rc = td_submit_prepare(r, &req.entries, v, &held)) < 0)
		goto fail;
	if (c->submit_bytes + held > TD_SUBMIT_BYTES) {
		rc = td_req_fail(r, EAGAIN, "buffers of %zu bytes, with %zu "
				 "held by earlier submissions, exceed %u: reap "
				 "some first", held, c->submit_bytes,
				 TD_SUBMIT_BYTES);
		goto fail;
	}
	r->srv->exec.submitting = true;
	for (uint32_t i = 0; i < req.entries.n; i++)
		td_submit_start(r, v[i]);
	r->srv->exec.submitting = false;
	/* The jobs own their calls now; v only names them for the ids. */
	rep = (struct tp_submit_reply){
		.ids = { .n = req.entries.n, .each = td_submit_pack_id,
			 .ctx = v },
	};
	tp_msg_init(&m);
	tp_msg_reply(&m, r->id, 0);
	tp_pack_submit_reply(&m.w, &rep);
	if (tp_msg_finish(&m) < 0) {
		/* Cannot happen short of memory: they run; PENDING names
		 * them. */
		tp_msg_destroy(&m);
		tp_msg_init(&m);
		tp_msg_error(&m, r->id, ENOMEM, "the ids of %u started calls "
			     "could not be sent: see PENDING", req.entries.n);
	}
	td_conn_queue(c, &m);
	tp_msg_destroy(&m);
	free(v);
	td_reap_kick(c);
	return TD_REPLY_LATER;
fail:
	td_submit_free(v, req.entries.n);
	return rc;
}
