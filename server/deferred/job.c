/*
 * The one deferred-request type: creation with a per-connection quota,
 * hand-off to the ring or a helper thread, cancellation, the answer path,
 * and freeing once nobody holds the job.
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "tetherd.h"
#include "pool.h"

static void td_job_expired(struct td_timer *t)
{
	struct td_job *j = (struct td_job *)((char *)t -
					     offsetof(struct td_job, timer));

	if (j->ended)
		return;
	j->timed_out = true;
	if (j->ops->expire)
		j->ops->expire(j);
	else
		td_job_cancel(j);
}

static void td_job_link(struct td_job *j, const struct td_job_ops *ops,
			struct td_server *srv)
{
	j->srv = srv;
	j->ops = ops;
	j->id = ++srv->deferred.job_seq;
	j->since_ms = td_epoch_ms();
	j->helper = -1;
	j->ev.kind = TD_EV_JOB;
	j->ev.obj = j;
	td_timer_init(&j->timer, td_job_expired);
	j->next = srv->deferred.jobs;
	srv->deferred.jobs = j;
	srv->deferred.njobs++;
}

/* A read-only peer may leave few requests open; an observer fewer than
 * the controller. */
static unsigned td_job_quota(const struct td_conn *c)
{
	if (c->role == TD_PEER_READONLY)
		return TD_JOBS_RO;
	return c->observer ? TD_JOBS_OBSERVER : TD_JOBS_CONTROLLER;
}

unsigned td_job_room(const struct td_conn *c)
{
	unsigned max = td_job_quota(c), all;

	if (c->njobs >= max)
		return 0;
	all = c->srv->deferred.njobs >= TD_JOBS_MAX ? 0
		: TD_JOBS_MAX - c->srv->deferred.njobs;
	return max - c->njobs < all ? max - c->njobs : all;
}

int td_job_start(struct td_job *j, const struct td_job_ops *ops,
		 struct td_req *r)
{
	struct td_conn *c = r->conn;
	unsigned max = td_job_quota(c);

	if (c->njobs >= max)
		return td_req_fail(r, EAGAIN, "%u requests of this connection "
				   "are waiting for an answer (the most it may "
				   "have): read their replies first", max);
	if (r->srv->deferred.njobs >= TD_JOBS_MAX)
		return td_req_fail(r, EAGAIN, "%u requests of all connections "
				   "are running or parked (the most tetherd "
				   "keeps): collect or cancel some",
				   TD_JOBS_MAX);
	td_job_link(j, ops, r->srv);
	j->generation = c->generation;
	j->to = c;
	j->to_id = r->id;
	j->owner = c;
	c->njobs++;
	return 0;
}

void td_job_start_internal(struct td_job *j, const struct td_job_ops *ops,
			   struct td_server *srv)
{
	td_job_link(j, ops, srv);
	j->generation = srv->conns.generation;
}

int td_job_internal_to_opener(struct td_job *j, const struct td_job_ops *ops,
			      struct td_server *srv)
{
	int rc;

	td_job_start_internal(j, ops, srv);
	j->cls = TD_JOB_OPEN;
	if ((rc = td_job_to_helper(j)) < 0)
		td_job_end(j);
	return rc;
}

int td_job_to_helper(struct td_job *j)
{
	int rc = td_pool_submit(j->srv, j);

	if (rc == 0)
		j->at = TD_JOB_HELPER;
	return rc;
}

void td_job_in_ring(struct td_job *j, struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data(sqe, &j->ev);
	j->at = TD_JOB_RING;
	j->srv->deferred.nring++;
}

void td_job_cancel(struct td_job *j)
{
	struct io_uring_sqe *sqe;

	j->cancelled = true;
	if (j->at == TD_JOB_RING && (sqe = td_sqe(j->srv))) {
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&j->ev, 0);
		io_uring_sqe_set_data(sqe, NULL);
	} else if (j->at == TD_JOB_HELPER) {
		td_pool_cancel(j->srv, j);
	}
}

void td_job_end(struct td_job *j)
{
	if (j->ended)
		return;
	j->ended = true;
	j->srv->deferred.nended++;
	td_timer_stop(j->srv, &j->timer);
	if (j->owner) {
		j->owner->njobs--;
		j->owner = NULL;
	}
	j->to = NULL;
	/* Whatever still runs for it is of no use now. */
	if (j->at != TD_JOB_LOOP)
		td_job_cancel(j);
}

int td_job_send(struct td_job *j, struct tp_msg *m)
{
	int rc = tp_msg_finish(m);

	if (rc == 0 && j->to && !td_conn_gone(j->to))
		td_conn_queue(j->to, m);
	tp_msg_destroy(m);
	/* Half a reply is never sent: the waiter hears why instead. */
	if (rc < 0)
		td_job_fail(j, -rc, "the reply could not be built: %s",
			    strerror(-rc));
	return rc;
}

void td_job_fail(struct td_job *j, int err, const char *fmt, ...)
{
	struct tp_msg m;
	char text[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tp_msg_init(&m);
	/* ETIMEDOUT after its own timer fired is the request's timeout */
	if (tp_msg_error_cause(&m, j->to_id, err,
			       j->to && j->to->causes && err == ETIMEDOUT &&
			       j->timed_out ? TP_CAUSE_TIMEOUT : NULL,
			       "%s", text) == 0 && j->to &&
	    !td_conn_gone(j->to))
		td_conn_queue(j->to, &m);
	tp_msg_destroy(&m);
}

void td_job_ring_event(struct td_job *j, int res)
{
	j->at = TD_JOB_LOOP;
	j->srv->deferred.nring--;
	if (!j->ended)
		j->ops->done(j, res);
}

void td_job_helper_done(struct td_job *j, int res)
{
	j->at = TD_JOB_LOOP;
	if (!j->ended)
		j->ops->done(j, res);
}

void td_jobs_conn_closed(struct td_conn *c)
{
	for (struct td_job *j = c->srv->deferred.jobs; j; j = j->next) {
		if (j->ended || (j->to != c && j->owner != c))
			continue;
		if (j->owner == c) {
			c->njobs--;
			j->owner = NULL;
		}
		if (j->ops->detach)
			j->ops->detach(j, c);
		if (j->to == c)
			j->to = NULL;
	}
}

void td_jobs_reap(struct td_server *srv)
{
	struct td_job **pp = &srv->deferred.jobs;

	/* Most turns end nothing: no walk of thousands of running jobs. */
	if (!srv->deferred.nended)
		return;
	while (*pp) {
		struct td_job *j = *pp;

		if (j->ended && j->at == TD_JOB_LOOP) {
			*pp = j->next;
			srv->deferred.njobs--;
			srv->deferred.nended--;
			j->ops->release(j);
		} else {
			pp = &j->next;
		}
	}
}

void td_jobs_cancel_all(struct td_server *srv)
{
	for (struct td_job *j = srv->deferred.jobs; j; j = j->next)
		if (!j->ended && j->at != TD_JOB_LOOP)
			td_job_cancel(j);
}

/* At exit, after the ring and the helpers are gone. */
void td_jobs_free_all(struct td_server *srv)
{
	while (srv->deferred.jobs) {
		struct td_job *j = srv->deferred.jobs;

		srv->deferred.jobs = j->next;
		td_timer_stop(srv, &j->timer);
		j->ops->release(j);
	}
}

struct td_job *td_job_find(struct td_server *srv, uint64_t id)
{
	for (struct td_job *j = srv->deferred.jobs; j; j = j->next)
		if (j->id == id && !j->ended)
			return j;
	return NULL;
}

unsigned td_jobs_of(const struct td_conn *c)
{
	return c->njobs;
}

void td_job_close_fds(struct td_job *j)
{
	for (int i = 0; i < j->nfds; i++)
		close(j->fds[i]);
	j->nfds = 0;
}

void td_job_release_plain(struct td_job *j)
{
	td_job_close_fds(j);
	free(j);
}
