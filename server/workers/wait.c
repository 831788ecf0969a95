/*
 * Requests that watch a worker: WAIT (until it ends, or a timeout), STOP
 * (SIGTERM to its group, SIGKILL after the grace period) and LOGS (a
 * stream of frames under the request's id, following new output if
 * asked).  Each is a job of the connection that asked: when it goes,
 * they go, and the worker is not affected.  A STOP's grace runs on the
 * worker's own timer, so it holds when the controller that asked dies.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "deferred/job.h"
#include "tetherd.h"
#include "worker.h"

#define TD_STOP_POLL_MS 50		/* a group outliving its leader */
#define TD_LOGS_QUEUE (1u << 20)	/* outq bytes before LOGS pauses */

/* LOGS through fds: the log's files as they were when asked, opened on
 * the opener (a slow disk never stalls the loop), then passed. */
struct td_logs_pass {
	struct td_capture_seg seg[2];
	int nseg;
	int err;			/* the opener's failure, or 0 */
};

struct td_watch {
	struct td_job job;
	struct td_worker *w;		/* NULL once the record is gone */
	uint64_t offset;		/* LOGS */
	bool follow;			/* LOGS */
	struct td_logs_pass *pass;	/* LOGS: its fds are being opened */
};

static const struct td_job_ops td_wait_ops, td_stop_ops, td_logs_ops;

/* j, if it is a live watcher of w. */
static struct td_watch *td_watch_of(struct td_job *j,
				    const struct td_worker *w)
{
	struct td_watch *wa = (struct td_watch *)j;

	if (j->ended || (j->ops != &td_wait_ops && j->ops != &td_stop_ops &&
			 j->ops != &td_logs_ops) || wa->w != w)
		return NULL;
	return wa;
}

static void td_watch_release(struct td_job *j)
{
	struct td_watch *wa = (struct td_watch *)j;

	if (wa->w)
		wa->w->nwatch--;
	td_job_close_fds(j);
	free(wa->pass);
	free(wa);
}

/* A watcher only ever answers the connection that asked. */
static void td_watch_detach(struct td_job *j, struct td_conn *c)
{
	(void)c;
	td_job_end(j);
}

static struct td_watch *td_watch_new(struct td_req *r,
				     const struct td_job_ops *ops,
				     struct td_worker *w, int *rc)
{
	struct td_watch *wa = calloc(1, sizeof(*wa));

	if (!wa) {
		*rc = td_req_fail(r, ENOMEM, "out of memory");
		return NULL;
	}
	if ((*rc = td_job_start(&wa->job, ops, r)) < 0) {
		free(wa);
		return NULL;
	}
	wa->w = w;
	w->nwatch++;
	return wa;
}

/* The record is going away (ACK): nothing may point at it. */
void td_watchers_worker_gone(struct td_server *srv, struct td_worker *w)
{
	if (!w->nwatch)
		return;
	for (struct td_job *j = srv->deferred.jobs; j; j = j->next) {
		struct td_watch *wa = td_watch_of(j, w);

		if (!wa)
			continue;
		td_job_fail(j, ESRCH, "worker record acknowledged or "
			    "replaced (RESPAWN) meanwhile");
		w->nwatch--;
		wa->w = NULL;
		td_job_end(j);
	}
}

/* ---- WAIT ---------------------------------------------------------------- */

/* The record, and whether the wait ran out first. */
static int td_wait_pack(struct tp_w *w, const struct td_worker *wk,
			bool timeout)
{
	struct tp_worker rec;

	td_worker_record(wk, &rec);
	rec.timeout = timeout;
	return tp_pack_wait_reply(w, &rec);
}

static void td_wait_answer(struct td_watch *wa, bool timeout)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, wa->job.to_id, 0);
	td_wait_pack(&m.w, wa->w, timeout);
	td_job_send(&wa->job, &m);
	td_job_end(&wa->job);
}

static void td_wait_expire(struct td_job *j)
{
	td_wait_answer((struct td_watch *)j, true);
}

static const struct td_job_ops td_wait_ops = {
	.name = "WAIT",
	.expire = td_wait_expire,
	.detach = td_watch_detach,
	.release = td_watch_release,
};

/* WAIT [target, timeout_ms]: timeout 0 asks now, -1 waits forever. */
int td_do_wait(struct td_req *r)
{
	struct tp_target req;
	struct tp_err e;
	struct td_worker *w;
	struct td_watch *wa;
	int64_t timeout;
	int rc;

	if ((rc = tp_unpack_wait(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	timeout = req.has & TP_TARGET_ARG ? req.arg : -1;
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	if (td_worker_done(w) || timeout == 0)
		return td_wait_pack(r->w, w, !td_worker_done(w));
	if (!(wa = td_watch_new(r, &td_wait_ops, w, &rc)))
		return rc;
	if (timeout > 0)
		td_timer_in(r->srv, &wa->job.timer, (uint64_t)timeout);
	return TD_REPLY_LATER;
}

/* ---- STOP ---------------------------------------------------------------- */

static bool td_group_alive(const struct td_worker *w)
{
	return w->pgid > 0 && kill(-w->pgid, 0) == 0;
}

static void td_stop_signal(struct td_worker *w, int sig)
{
	/* The group while it exists (daemonized children included),
	 * else the worker through its pidfd. */
	if (w->pgid > 0 && kill(-w->pgid, sig) == 0)
		return;
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0);
}

/* The record, whether it took SIGKILL, and how long it took. */
static int td_stop_pack(struct tp_w *w, const struct td_worker *wk)
{
	struct tp_worker rec;

	td_worker_record(wk, &rec);
	rec.sigkill = wk->stop_killed;
	rec.after_ms = (int64_t)(td_now_ms() - wk->stop_start);
	return tp_pack_stop_reply(w, &rec);
}

static void td_stop_answer(struct td_watch *wa)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, wa->job.to_id, 0);
	td_stop_pack(&m.w, wa->w);
	td_job_send(&wa->job, &m);
	td_job_end(&wa->job);
}

static const struct td_job_ops td_stop_ops = {
	.name = "STOP",
	.detach = td_watch_detach,
	.release = td_watch_release,
};

/* The worker's STOP timer: SIGKILL once the grace is over, and a look
 * at a group that outlived its leader (it ends without a SIGCHLD of the
 * worker's own). */
static void td_stop_fire(struct td_timer *t)
{
	struct td_worker *w = (struct td_worker *)((char *)t -
			      offsetof(struct td_worker, stop_timer));
	uint64_t now = td_now_ms(), next = now + TD_STOP_POLL_MS;

	if (!w->stopping)
		return;
	if (now >= w->stop_deadline && !w->stop_killed) {
		w->stop_killed = true;
		td_log("worker %s pid %d: grace over, SIGKILL",
		       td_worker_name(w), (int)w->pid);
		td_stop_signal(w, SIGKILL);
	}
	td_wait_worker_changed(w->srv, w);
	if (!w->stopping)
		return;
	if (!w->stop_killed && w->stop_deadline < next)
		next = w->stop_deadline;
	td_timer_at(w->srv, &w->stop_timer, next);
}

static void td_stop_begin(struct td_worker *w, uint64_t grace_ms)
{
	w->stopping = true;
	w->stop_killed = false;
	w->stop_start = td_now_ms();
	w->stop_deadline = w->stop_start + grace_ms;
	td_stop_signal(w, SIGTERM);
	/* A stopped process must run to see SIGTERM. */
	td_stop_signal(w, SIGCONT);
	w->stop_timer.fire = td_stop_fire;
	td_timer_at(w->srv, &w->stop_timer,
		    grace_ms < TD_STOP_POLL_MS ? w->stop_deadline
					       : w->stop_start + TD_STOP_POLL_MS);
}

/* What STOP sends: SIGTERM, SIGCONT, and SIGKILL once the grace is
 * over. */
static const int td_stop_sigs[] = { SIGTERM, SIGCONT, SIGKILL };

/* STOP [target, grace_ms]. */
int td_do_stop(struct td_req *r)
{
	struct tp_target req;
	struct tp_err e;
	struct td_worker *w;
	struct td_watch *wa;
	int64_t grace;
	int rc;

	if ((rc = tp_unpack_stop(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if ((grace = req.has & TP_TARGET_ARG ? req.arg : 10000) < 0)
		return td_req_fail(r, EPROTO, "STOP: a grace of %lld ms",
				   (long long)grace);
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	/* A policy must allow every signal STOP may send. */
	for (size_t i = 0; i < sizeof(td_stop_sigs) / sizeof(td_stop_sigs[0]);
	     i++)
		if ((rc = td_policy_check_op(r, "STOP", SYS_kill,
					     (uint64_t)-w->pgid,
					     (uint64_t)td_stop_sigs[i], 0,
					     0)) < 0)
			return rc;
	/* A leader gone with its group still there (no capture to keep
	 * the record open) still has a group to stop. */
	if (!w->stopping && td_worker_done(w) && !td_group_alive(w)) {
		w->stop_start = td_now_ms();
		return td_stop_pack(r->w, w);
	}
	if (!(wa = td_watch_new(r, &td_stop_ops, w, &rc)))
		return rc;
	if (!w->stopping) {
		td_log("stopping worker %s pid %d (grace %lld ms)",
		       td_worker_name(w), (int)w->pid, (long long)grace);
		td_stop_begin(w, (uint64_t)grace);
	}
	return TD_REPLY_LATER;
}

/* ---- LOGS ---------------------------------------------------------------- */

/* One frame of the stream: 0, or -errno when it could not be built
 * (the reader has heard an error, and the stream is over). */
static int td_logs_frame(struct td_watch *wa, const char *data, size_t n,
			 uint64_t offset, bool end)
{
	struct tp_logs_reply f = { .data = { data, n }, .offset = offset,
				   .end = end };
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, wa->job.to_id, 0);
	tp_pack_logs_reply(&m.w, &f);
	return td_job_send(&wa->job, &m);
}

/* The controller is on this host and asked for fds: what the log holds
 * now goes as read-only fds of its files (at most two, PATH.1 and
 * PATH), each on the idle data socket before the frame that says which
 * bytes of it are the log's: [offset, offset + fdlen), fixed when asked,
 * so what is appended later (or rotated away) does not change what the
 * controller reads.  What cannot go that way is streamed as always. */
static int td_logs_pass_start(struct td_watch *wa)
{
	struct td_logs_pass *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->nseg = td_capture_segs(wa->w->cap, &wa->offset, p->seg);
	if (!p->nseg) {
		free(p);
		return -ENODATA;
	}
	wa->pass = p;
	wa->job.cls = TD_JOB_OPEN;
	if (td_job_to_helper(&wa->job) < 0) {
		wa->pass = NULL;
		free(p);
		return -EAGAIN;
	}
	return 0;
}

/* The opener: the files, in order, while they are still the log's. */
static void td_logs_open(struct td_job *j)
{
	struct td_watch *wa = (struct td_watch *)j;
	int fd;

	for (int i = 0; i < wa->pass->nseg; i++) {
		if ((fd = td_capture_open_seg(&wa->pass->seg[i])) < 0) {
			wa->pass->err = -fd;	/* logged on the loop */
			break;
		}
		j->fds[j->nfds++] = fd;
	}
}

/* One fd and its frame; false when it could not go (the rest streams). */
static bool td_logs_pass_one(struct td_watch *wa, int fd,
			     const struct td_capture_seg *sg)
{
	struct tp_logs_reply f = { .has = TP_LOGS_FD | TP_LOGS_FDOFF,
				   .data = { "", 0 }, .offset = sg->from,
				   .fdlen = sg->end - sg->from,
				   .fdoff = sg->from - sg->base };
	struct td_conn *c = wa->job.to;
	struct tp_msg m;

	if (!c || td_conn_gone(c) || c->xfer || wa->offset != sg->from ||
	    tp_send_fds(c->dfd, "F", 1, MSG_DONTWAIT, &fd, 1) != 1)
		return false;
	tp_msg_init(&m);
	tp_msg_reply(&m, wa->job.to_id, 0);
	tp_pack_logs_reply(&m.w, &f);
	if (td_job_send(&wa->job, &m) < 0) {
		td_job_end(&wa->job);
		return false;
	}
	wa->offset = sg->end;
	return true;
}

static void td_logs_pump(struct td_watch *wa);

/* The opener is done: pass what it opened, then stream the rest. */
static void td_logs_opened(struct td_job *j, int res)
{
	struct td_watch *wa = (struct td_watch *)j;
	bool go = res == 0 && !j->ended;

	if (wa->pass->err && go && wa->w)
		td_log("LOGS of %s: %s: %s; streaming", td_worker_name(wa->w),
		       wa->pass->seg[j->nfds].path, strerror(wa->pass->err));
	for (int i = 0; i < j->nfds; i++) {
		if (go)
			go = td_logs_pass_one(wa, j->fds[i], &wa->pass->seg[i]);
		close(j->fds[i]);
	}
	j->nfds = 0;
	free(wa->pass);
	wa->pass = NULL;
	if (!j->ended)
		td_logs_pump(wa);
}

/* Send what there is, as far as the peer keeps up; the end frame ends
 * the job. */
static void td_logs_pump(struct td_watch *wa)
{
	struct td_worker *w = wa->w;
	static char buf[TETHER_LOG_CHUNK];
	struct td_conn *c;
	ssize_t n;

	if (wa->pass)
		return;			/* the opener first */
	/* wa->job.to goes NULL if a frame's send closes the connection. */
	while ((c = wa->job.to) && !td_conn_gone(c) && !wa->job.ended &&
	       td_conn_unsent(c) < TD_LOGS_QUEUE) {
		n = td_capture_read(w->cap, &wa->offset, buf, sizeof(buf));
		if (n < 0) {
			td_log("reading log of %s: %s", td_worker_name(w),
			       strerror((int)-n));
		} else if (n == 0 && wa->follow && !td_worker_done(w)) {
			return;
		} else if (n > 0) {
			if (td_logs_frame(wa, buf, (size_t)n, wa->offset,
					  false) < 0) {
				td_job_end(&wa->job);
				return;
			}
			wa->offset += (uint64_t)n;
			continue;
		}
		td_logs_frame(wa, "", 0, wa->offset, true);
		td_job_end(&wa->job);
		return;
	}
}

static const struct td_job_ops td_logs_ops = {
	.name = "LOGS",
	.work = td_logs_open,
	.done = td_logs_opened,
	.detach = td_watch_detach,
	.release = td_watch_release,
};

/* LOGS [target, from, follow]. */
int td_do_logs(struct td_req *r)
{
	struct tp_target req;
	struct tp_err e;
	struct td_worker *w;
	struct td_watch *wa;
	int64_t from;
	int rc;

	if ((rc = tp_unpack_logs(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if ((from = req.arg) < 0)
		return td_req_fail(r, EPROTO, "LOGS: from %lld is negative",
				   (long long)from);
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	if (!w->cap)
		return td_req_fail(r, ENODATA, "worker %s was not spawned with "
				   "capture", td_worker_name(w));
	if ((uint64_t)from > td_capture_size(w->cap))
		return td_req_fail(r, ERANGE, "offset %lld is past the end of "
				   "the log of %s (%llu bytes so far)",
				   (long long)from, td_worker_name(w),
				   (unsigned long long)td_capture_size(w->cap));
	if (!(wa = td_watch_new(r, &td_logs_ops, w, &rc)))
		return rc;
	wa->offset = (uint64_t)from;
	wa->follow = req.follow;
	/* An fd outlives the session: an observer of another uid gets the
	 * bytes, never a way to read the log after it is gone. */
	if ((req.has & TP_TARGET_FDPASS) && req.fdpass && !r->conn->xfer &&
	    (!r->conn->observer || r->conn->peer_uid == geteuid()) &&
	    td_logs_pass_start(wa) == 0)
		return TD_REPLY_LATER;
	td_logs_pump(wa);
	return TD_REPLY_LATER;
}

/* c's reply queue drained: its paused streams go on. */
void td_logs_conn_drained(struct td_conn *c)
{
	if (!c->njobs)
		return;
	for (struct td_job *j = c->srv->deferred.jobs; j; j = j->next)
		if (!j->ended && j->ops == &td_logs_ops && j->to == c)
			td_logs_pump((struct td_watch *)j);
}

/* ---- events ---------------------------------------------------------------- */

/* Something about w changed: exited, output arrived or ended. */
void td_wait_worker_changed(struct td_server *srv, struct td_worker *w)
{
	bool done = td_worker_done(w);
	/* STOP is over when the whole group is, or SIGKILL went out. */
	bool stop_done = done && !(w->stopping && !w->stop_killed &&
				   td_group_alive(w));

	if (stop_done && w->stopping) {
		w->stopping = false;
		td_timer_stop(srv, &w->stop_timer);
		td_log("worker %s pid %d stopped%s", td_worker_name(w),
		       (int)w->pid, w->stop_killed ? " (SIGKILL)" : "");
	}
	if (!w->nwatch)
		return;
	for (struct td_job *j = srv->deferred.jobs; j; j = j->next) {
		struct td_watch *wa = td_watch_of(j, w);

		if (!wa)
			continue;
		if (j->ops == &td_logs_ops)
			td_logs_pump(wa);
		else if (j->ops == &td_wait_ops && done)
			td_wait_answer(wa, false);
		else if (j->ops == &td_stop_ops && stop_done)
			td_stop_answer(wa);
	}
}

/* Shutting down: every running worker's group gets SIGTERM now and
 * SIGKILL when the grace runs out; the loop waits for them. */
void td_workers_stop_all(struct td_server *srv, uint64_t grace_ms)
{
	for (struct td_worker *w = srv->workers.list; w; w = w->next) {
		bool ended = w->state == TD_W_EXITED || w->state == TD_W_KILLED;

		if (w->stopping || (ended && !td_group_alive(w)))
			continue;
		td_stop_begin(w, grace_ms);
	}
}
