/*
 * Workers: children the server spawns and keeps whether or not a
 * controller is attached.  The server reaps them itself (SIGCHLD through
 * the signalfd in its ring) and keeps each exit record until a
 * controller acknowledges it.  As a child subreaper it also reaps the
 * grandchildren that daemonize, so nothing is lost to init.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deferred/job.h"
#include "tetherd.h"
#include "worker.h"

#define TD_WORKERS_MAX 4096

const char *td_worker_name(const struct td_worker *w)
{
	return w->label[0] ? w->label : w->argv[0];
}

bool td_worker_done(const struct td_worker *w)
{
	return (w->state == TD_W_EXITED || w->state == TD_W_KILLED) &&
	       (!w->cap || td_capture_eof(w->cap));
}

/* A target: a pid or a worker label (NULL: it was neither). */
struct td_worker *td_worker_find(struct td_server *srv,
				 const struct tp_intstr *target)
{
	if (!target)
		return NULL;
	if (target->is_int) {
		for (struct td_worker *w = srv->workers.list; w; w = w->next)
			if (w->pid == target->i)
				return w;
	} else {
		/* A live worker owns its label; else the newest record. */
		struct td_worker *found = NULL;

		for (struct td_worker *w = srv->workers.list; w; w = w->next) {
			if (!tp_str_is(target->s, w->label))
				continue;
			if (w->state == TD_W_RUNNING || w->state == TD_W_STOPPED)
				return w;
			if (!found || w->started_ms > found->started_ms)
				found = w;
		}
		return found;
	}
	return NULL;
}

static void td_worker_free(struct td_worker *w)
{
	td_timer_stop(w->srv, &w->stop_timer);
	td_spawn_free(w->spec);
	if (w->pidfd >= 0)
		td_ifd_close(w->pidfd);
	td_capture_free(w->cap);
	free(w);
}

static bool td_label_live(struct td_server *srv, const char *label)
{
	for (struct td_worker *w = srv->workers.list; w; w = w->next)
		if (!strcmp(w->label, label) &&
		    (w->state == TD_W_RUNNING || w->state == TD_W_STOPPED))
			return true;
	return false;
}

/* ---- SPAWN: a job --------------------------------------------------------- */

/*
 * A spawn in two steps, neither of which waits on the loop: a helper
 * resolves the user and the executable and clones (or asks the
 * spawner), and is back once the child has exec'd or failed; the loop
 * then makes the record, its pidfd and its capture, and answers.
 */
struct td_spawnjob {
	struct td_job job;
	struct td_spawn *sp;
	struct td_worker *w;		/* the record; ours until linked */
	bool linked;
	int child_fd;			/* capture's write end, or -1 */
	pid_t pid;
	int rc;
	struct td_spawn_report rep;	/* the child's, if it did not exec */
	struct td_req req;		/* the helper's words (req.err) */
	/* RESPAWN: the record it replaces once exec happened, found again
	 * by pid and start (it may be acknowledged meanwhile). */
	bool respawn;
	pid_t old_pid;
	uint64_t old_mono;
};

static void td_spawn_close(int *fd)
{
	if (*fd >= 0)
		td_ifd_close(*fd);
	*fd = -1;
}

static void td_spawn_work(struct td_job *j)
{
	struct td_spawnjob *sj = (struct td_spawnjob *)j;

	if ((sj->rc = td_spawn_resolve(&sj->req, sj->sp)) >= 0)
		sj->rc = td_spawn_launch(&sj->req, sj->sp, sj->child_fd,
					 &sj->pid, &sj->rep);
	/* The copies held for the worker go here, not in the loop: the
	 * close of a file on FUSE or NFS asks its server (FLUSH). */
	td_spawn_fds_release(sj->sp);
}

static void td_worker_link(struct td_server *srv, struct td_worker *w)
{
	w->next = srv->workers.list;
	srv->workers.list = w;
	srv->workers.nworkers++;
	srv->workers.nrunning++;
}

static void td_worker_unlink(struct td_server *srv, struct td_worker *w)
{
	struct td_worker **pp = &srv->workers.list;

	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	srv->workers.nworkers--;
}

/* An ended record goes: its watchers hear so, its logs are deleted. */
static void td_worker_drop(struct td_server *srv, struct td_worker *w)
{
	td_worker_unlink(srv, w);
	td_watchers_worker_gone(srv, w);
	td_worker_free(w);
}

/* The ended record a RESPAWN came from, if it is still there. */
static struct td_worker *td_respawn_old(struct td_spawnjob *sj)
{
	for (struct td_worker *w = sj->req.srv->workers.list; w; w = w->next)
		if (w != sj->w && w->pid == sj->old_pid &&
		    w->started_mono == sj->old_mono)
			return w;
	return NULL;
}

static void td_worker_status(struct td_server *srv, struct td_worker *w,
			     int status, const struct rusage *ru);

static void td_spawn_answer(struct td_spawnjob *sj);

/* Exec'd: the record from now on, and the answer. */
static void td_spawn_launched(struct td_spawnjob *sj)
{
	struct td_server *srv = sj->job.srv;
	struct td_worker *w = sj->w;
	struct rusage ru;
	int status;

	w->pid = w->pgid = sj->pid;
	w->state = TD_W_RUNNING;
	/* The record keeps the spec from now on, and the worker has its
	 * fds: the copies held for it go. */
	td_spawn_fds_release(sj->sp);
	w->spec = sj->sp;
	sj->sp = NULL;
	w->argv = w->spec->argv;
	w->argc = w->spec->argc;
	td_worker_link(srv, w);
	sj->linked = true;
	if (td_workers_claim_exit(srv, w->pid, &status, &ru)) {
		td_worker_status(srv, w, status, &ru);
	} else {
		/* Our unreaped child (the spawner's clones are ours too):
		 * its pid cannot be reused under us. */
		w->pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
		if (w->pidfd >= 0)
			w->pidfd = td_ifd_adopt(w->pidfd, "worker pidfd");
	}
	if (w->cap)
		td_capture_start(w->cap);
	td_spawn_answer(sj);
}

/* A child that did not exec leaves no record: it exits 127 and is
 * reaped quietly (or was already, and counted as an orphan's). */
static void td_spawn_failed(struct td_spawnjob *sj)
{
	struct td_server *srv = sj->job.srv;
	struct rusage ru;
	int status, rc;

	if (!td_workers_claim_exit(srv, sj->pid, &status, &ru))
		td_workers_expect_exit(sj->pid);
	rc = td_spawn_exec_error(&sj->req, sj->sp, &sj->rep);
	td_job_fail(&sj->job, -rc, "%s", sj->req.err);
	td_job_end(&sj->job);
}

/* A RESPAWN's answer; the record it came from is replaced now that
 * the new one runs (and not before: a failed exec leaves it as it was). */
static void td_respawn_answer(struct td_spawnjob *sj, struct tp_msg *m)
{
	struct td_worker *w = sj->w, *old = td_respawn_old(sj);
	struct tp_respawn_reply rep = {
		.pid = w->pid,
		.label = tp_str(w->label[0] ? w->label : NULL),
		.log = tp_str(w->cap ? td_capture_path(w->cap) : NULL),
		.respawned_from = sj->old_pid,
	};

	td_log("respawned worker %s pid %d (was pid %d)", td_worker_name(w),
	       (int)w->pid, (int)sj->old_pid);
	tp_pack_respawn_reply(&m->w, &rep);
	if (old)
		td_worker_drop(sj->job.srv, old);
}

static void td_spawn_answer(struct td_spawnjob *sj)
{
	struct td_worker *w = sj->w;
	struct tp_spawn_reply rep;
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, sj->job.to_id, 0);
	if (sj->respawn) {
		td_respawn_answer(sj, &m);
	} else {
		td_log("spawned worker %s pid %d%s", td_worker_name(w),
		       (int)w->pid, w->cap ? " (output captured)" : "");
		rep = (struct tp_spawn_reply){
			.pid = w->pid,
			.label = tp_str(w->label[0] ? w->label : NULL),
			.log = tp_str(w->cap ? td_capture_path(w->cap) : NULL),
		};
		tp_pack_spawn_reply(&m.w, &rep);
	}
	td_job_send(&sj->job, &m);
	td_job_end(&sj->job);
}

static void td_spawn_done(struct td_job *j, int res)
{
	struct td_spawnjob *sj = (struct td_spawnjob *)j;

	/* The parent's copy: from now on only the worker holds the write
	 * end of its capture. */
	td_spawn_close(&sj->child_fd);
	/* res < 0: the work never ran (nothing was started). */
	if (res < 0 && !sj->rc)
		sj->rc = td_req_fail(&sj->req, -res, "spawn cancelled");
	if (sj->rc < 0) {
		td_job_fail(j, -sj->rc, "%s", sj->req.err);
		td_job_end(j);
		return;
	}
	if (sj->rep.err) {
		td_spawn_failed(sj);
		return;
	}
	td_spawn_launched(sj);
}

static void td_spawn_release(struct td_job *j)
{
	struct td_spawnjob *sj = (struct td_spawnjob *)j;
	struct td_worker *old = sj->respawn ? td_respawn_old(sj) : NULL;

	if (old)
		old->respawning = false;
	td_spawn_close(&sj->child_fd);
	if (!sj->linked && sj->w)
		td_worker_free(sj->w);
	td_spawn_free(sj->sp);
	free(sj);
}

/* A spawn goes on when its controller goes: the worker is the server's
 * either way, only the answer is lost. */
static const struct td_job_ops td_spawn_ops = {
	.name = "SPAWN",
	.work = td_spawn_work,
	.done = td_spawn_done,
	.release = td_spawn_release,
};

static int td_spawn_check(struct td_req *r, const struct td_spawn *sp)
{
	const char *label = td_spawn_label(sp);

	if (label[0] && strspn(label, "0123456789") == strlen(label))
		return td_req_fail(r, EINVAL, "a worker label may not be all "
				   "digits: it would read as a pid");
	if (label[0] && td_label_live(r->srv, label))
		return td_req_fail(r, EEXIST, "a running worker is labeled "
				   "\"%s\"", label);
	return 0;
}

/* The record to be, with its capture. */
static int td_spawn_setup(struct td_req *r, struct td_spawnjob *sj)
{
	struct td_worker *w;
	int rc;

	if (!(w = calloc(1, sizeof(*w))))
		return td_req_fail(r, ENOMEM, "out of memory");
	sj->w = w;
	w->pidfd = -1;
	w->srv = r->srv;
	td_timer_init(&w->stop_timer, NULL);
	strcpy(w->label, td_spawn_label(sj->sp));
	w->started_ms = td_epoch_ms();
	w->started_mono = td_now_ms();
	if (td_spawn_capture(sj->sp) &&
	    (rc = td_capture_open(r->srv, w, td_spawn_log_max(sj->sp),
				  &sj->child_fd)) < 0)
		return td_req_fail(r, -rc, "capture: %s", strerror(-rc));
	return 0;
}

static struct td_spawnjob *td_spawnjob_new(struct td_req *r)
{
	struct td_spawnjob *sj = calloc(1, sizeof(*sj));

	if (!sj) {
		td_req_fail(r, ENOMEM, "out of memory");
		return NULL;
	}
	sj->child_fd = -1;
	sj->req.srv = r->srv;
	return sj;
}

/* The job, its spec prepared: checked, set up, on to a helper. */
static int td_spawn_go(struct td_req *r, struct td_spawnjob *sj)
{
	int rc;

	if ((rc = td_spawn_check(r, sj->sp)) < 0 ||
	    (rc = td_spawn_setup(r, sj)) < 0 ||
	    (rc = td_job_start(&sj->job, &td_spawn_ops, r)) < 0) {
		td_spawn_release(&sj->job);
		return rc;
	}
	sj->req.id = r->id;
	sj->job.cls = TD_JOB_SERVER;
	if ((rc = td_job_to_helper(&sj->job)) < 0) {
		td_job_end(&sj->job);
		return td_req_fail(r, -rc, "no helper thread for the spawn: %s",
				   strerror(-rc));
	}
	return TD_REPLY_LATER;
}

int td_do_spawn(struct td_req *r)
{
	struct td_spawnjob *sj;
	int rc;

	if (r->srv->workers.nworkers >= TD_WORKERS_MAX)
		return td_req_fail(r, EAGAIN, "%d worker records; acknowledge "
				   "some exited ones", TD_WORKERS_MAX);
	if (!(sj = td_spawnjob_new(r)))
		return -ENOMEM;
	if ((rc = td_spawn_prepare(r, r->body, &sj->sp)) < 0 ||
	    (rc = td_spawn_fds_hold(r, sj->sp)) < 0) {
		td_spawn_release(&sj->job);
		return rc;
	}
	return td_spawn_go(r, sj);
}

/* RESPAWN [target]: a worker that ended, again, from the spec its record
 * kept -- same argv, environment, cwd, user, fd map (as server fds are
 * now), policy, capture and label; the record is replaced once the new
 * one has exec'd.  A live worker is refused (EBUSY): stop it first. */
int td_do_respawn(struct td_req *r)
{
	struct tp_target req;
	struct tp_err e;
	struct td_worker *w;
	struct td_spawnjob *sj;
	int rc;

	if ((rc = tp_unpack_respawn(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	if (w->state == TD_W_RUNNING || w->state == TD_W_STOPPED)
		return td_req_fail(r, EBUSY, "worker %s (pid %d) still runs; "
				   "stop it first", td_worker_name(w),
				   (int)w->pid);
	if (w->respawning)
		return td_req_fail(r, EBUSY, "worker %s (pid %d) is being "
				   "respawned already", td_worker_name(w),
				   (int)w->pid);
	if ((rc = td_spawn_allowed(r)) < 0)
		return rc;
	if (!(sj = td_spawnjob_new(r)))
		return -ENOMEM;
	sj->respawn = true;
	sj->old_pid = w->pid;
	sj->old_mono = w->started_mono;
	if (!(sj->sp = td_spawn_dup(w->spec))) {
		td_spawn_release(&sj->job);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	if ((rc = td_spawn_fds_hold(r, sj->sp)) < 0) {
		td_spawn_release(&sj->job);
		return rc;
	}
	if ((rc = td_spawn_go(r, sj)) >= 0)
		w->respawning = true;
	return rc;
}

/* A live worker whose STOP's grace runs is "stopping". */
static const char *td_state_name(const struct td_worker *w)
{
	static const char *const names[] = {
		[TD_W_RUNNING] = "running", [TD_W_STOPPED] = "stopped",
		[TD_W_EXITED] = "exited", [TD_W_KILLED] = "killed",
	};

	if (w->stopping &&
	    (w->state == TD_W_RUNNING || w->state == TD_W_STOPPED))
		return "stopping";
	return names[w->state];
}

#define TD_PS_PAGE 256		/* records per PS reply */
#define TD_PS_BYTES (1u << 20)	/* about as many bytes, with specs */
#define TD_ARGV_SHOWN 4096	/* argv bytes a record shows */

/* The whole record (WAIT and STOP add their own).  argv is cut at
 * TD_ARGV_SHOWN bytes so a page of records fits in a frame. */
void td_worker_record(const struct td_worker *w, struct tp_worker *rec)
{
	size_t budget = TD_ARGV_SHOWN;
	int shown = 0;

	while (shown < w->argc && strlen(w->argv[shown]) < budget)
		budget -= strlen(w->argv[shown++]) + 1;
	*rec = (struct tp_worker){
		.pid = w->pid,
		.label = tp_str(w->label[0] ? w->label : NULL),
		.argv = { .n = (uint32_t)shown, .v = w->argv },
		.argv_truncated = shown < w->argc,
		.started = w->started_ms,
		.pgid = w->pgid,
		.captured = w->cap != NULL,
		.log_size = w->cap ? (int64_t)td_capture_size(w->cap) : 0,
		.state = tp_str(td_state_name(w)),
		.exit_code = w->exit_code,
		.signal = w->signal,
		.core = w->core,
		.ended = w->ended_ms,
		.rusage = {
			.utime_us = (int64_t)w->ru.ru_utime.tv_sec * 1000000 +
				    w->ru.ru_utime.tv_usec,
			.stime_us = (int64_t)w->ru.ru_stime.tv_sec * 1000000 +
				    w->ru.ru_stime.tv_usec,
			.maxrss_kb = w->ru.ru_maxrss,
		},
	};
	/* exit_code once exited, signal once killed or stopped: else nil. */
	if (w->state == TD_W_EXITED)
		rec->has |= TP_WORKER_EXIT_CODE;
	if (w->state == TD_W_KILLED || w->state == TD_W_STOPPED)
		rec->has |= TP_WORKER_SIGNAL;
	/* The STOP's deadline is the server's: it holds whoever asked. */
	if (w->stopping) {
		uint64_t now = td_now_ms();

		rec->has |= TP_WORKER_STOP | TP_WORKER_STOP_SIGNAL;
		rec->stop_signal = w->stop_killed ? SIGKILL : SIGTERM;
		rec->stop_deadline_ms = !w->stop_killed && w->stop_deadline > now
					? (int64_t)(w->stop_deadline - now) : 0;
	}
}

/* PS's records, from the page's list. */
static int td_ps_pack_one(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_worker *const *v = ctx;
	struct tp_worker rec;

	td_worker_record(v[i], &rec);
	td_spec_record(v[i], &rec);
	return tp_pack_worker(w, &rec);
}

/* PS [] or [from]: oldest first, a page at a time; "next" is where the
 * next page starts, 0 when this one is the last. */
int td_do_ps(struct td_req *r)
{
	struct tp_from req;
	struct tp_ps_reply rep;
	struct tp_err e;
	struct td_worker *v[TD_PS_PAGE];
	uint64_t from;
	unsigned n = 0, total = 0, count;
	int rc;

	if ((rc = tp_unpack_ps(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	from = req.ufrom;
	for (struct td_worker *w = r->srv->workers.list; w; w = w->next)
		total++;
	count = total > from ? total - (unsigned)from : 0;
	if (count > TD_PS_PAGE)
		count = TD_PS_PAGE;
	/* The list is newest first: index i from the end is record i. */
	for (struct td_worker *w = r->srv->workers.list; w; w = w->next, n++) {
		unsigned idx = total - 1 - n;

		if (idx >= from && idx < from + count)
			v[idx - from] = w;
	}
	/* Specs make records large: a page stops at about TD_PS_BYTES,
	 * one record at least. */
	for (size_t i = 0, bytes = 0; i < count; i++) {
		bytes += td_spec_size(v[i]);
		if (i && bytes > TD_PS_BYTES) {
			count = (unsigned)i;
			break;
		}
	}
	rep = (struct tp_ps_reply){
		.workers = { .n = count, .each = td_ps_pack_one, .ctx = v },
		.orphans_reaped = (int64_t)r->srv->workers.orphans_reaped,
		.next = from + count < total ? (int64_t)(from + count) : 0,
	};
	return tp_pack_ps_reply(r->w, &rep);
}

/* KILL [target, sig]: through the pidfd, never a pid that may have been
 * reused.  Without one (pidfd_open failed at spawn) the pid is still
 * safe: the worker is our child and unreaped, so its pid is not free. */
int td_do_kill(struct td_req *r)
{
	struct tp_target req;
	struct tp_kill_reply rep;
	struct tp_err e;
	struct td_worker *w;
	int64_t sig;
	int rc;

	if ((rc = tp_unpack_kill(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if ((sig = req.arg) < 0 || sig >= NSIG)
		return td_req_fail(r, EPROTO, "KILL: signal %lld is not 0 to "
				   "%d", (long long)sig, NSIG - 1);
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	if (w->state == TD_W_EXITED || w->state == TD_W_KILLED)
		return td_req_fail(r, ESRCH, "worker %s (pid %d) has ended",
				   td_worker_name(w), (int)w->pid);
	if ((rc = td_policy_check_op(r, "KILL", SYS_kill, (uint64_t)w->pid,
				     (uint64_t)sig, 0, 0)) < 0)
		return rc;
	if ((w->pidfd >= 0 ? syscall(SYS_pidfd_send_signal, w->pidfd,
				     (int)sig, NULL, 0)
			   : kill(w->pid, (int)sig)) < 0)
		return td_req_fail(r, errno, "sending signal %d: %s", (int)sig,
				   strerror(errno));
	td_log("signal %d sent to worker %s pid %d", (int)sig,
	       td_worker_name(w), (int)w->pid);
	rep = (struct tp_kill_reply){ .pid = w->pid, .signal = sig };
	return tp_pack_kill_reply(r->w, &rep);
}

/* ACK [target]: the controller has the exit record; forget it. */
int td_do_ack(struct td_req *r)
{
	struct tp_target req;
	struct tp_kill_reply rep;
	struct tp_err e;
	struct td_worker *w;
	int rc;

	if ((rc = tp_unpack_ack(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if (!(w = td_worker_find(r->srv, td_target_of(&req))))
		return td_req_fail(r, ESRCH, "no such worker");
	if (w->state != TD_W_EXITED && w->state != TD_W_KILLED)
		return td_req_fail(r, EBUSY, "worker %s (pid %d) still runs",
				   td_worker_name(w), (int)w->pid);
	rep = (struct tp_kill_reply){ .pid = w->pid };
	td_worker_drop(r->srv, w);
	return tp_pack_ack_reply(r->w, &rep);
}

static void td_worker_status(struct td_server *srv, struct td_worker *w,
			     int status, const struct rusage *ru)
{
	if (WIFSTOPPED(status)) {
		w->state = TD_W_STOPPED;
		w->signal = WSTOPSIG(status);
		return;
	}
	if (WIFCONTINUED(status)) {
		w->state = TD_W_RUNNING;
		w->signal = 0;
		return;
	}
	if (WIFEXITED(status)) {
		w->state = TD_W_EXITED;
		w->exit_code = WEXITSTATUS(status);
	} else {
		w->state = TD_W_KILLED;
		w->signal = WTERMSIG(status);
		w->core = WCOREDUMP(status);
	}
	w->ru = *ru;
	w->ended_ms = td_epoch_ms();
	srv->workers.nrunning--;
	if (w->pidfd >= 0) {
		td_ifd_close(w->pidfd);
		w->pidfd = -1;
	}
	if (w->state == TD_W_EXITED)
		td_log("worker %s pid %d exited %d", td_worker_name(w),
		       (int)w->pid, w->exit_code);
	else
		td_log("worker %s pid %d killed by signal %d%s",
		       td_worker_name(w), (int)w->pid, w->signal,
		       w->core ? " (core dumped)" : "");
}

/*
 * Exits nobody claimed yet.  wait4(-1) may return a child before its
 * record exists: the fork ran on a helper (or in the spawner) and its
 * report is still on the way.  Such an exit is kept here for a while,
 * counted as an orphan's until a spawn claims it.  A failed exec's child
 * is expected to exit and is then reaped quietly.
 */
#define TD_UNCLAIMED_MAX 64
#define TD_UNCLAIMED_MS 60000

static struct td_unclaimed {
	pid_t pid;
	int status;
	struct rusage ru;
	uint64_t when;
} td_unclaimed[TD_UNCLAIMED_MAX];
static pid_t td_expected[TD_UNCLAIMED_MAX];

void td_workers_expect_exit(pid_t pid)
{
	for (int i = 0; i < TD_UNCLAIMED_MAX; i++)
		if (!td_expected[i]) {
			td_expected[i] = pid;
			return;
		}
	td_expected[pid % TD_UNCLAIMED_MAX] = pid;
}

static bool td_workers_expected(pid_t pid)
{
	for (int i = 0; i < TD_UNCLAIMED_MAX; i++)
		if (td_expected[i] == pid) {
			td_expected[i] = 0;
			return true;
		}
	return false;
}

bool td_workers_claim_exit(struct td_server *srv, pid_t pid, int *status,
			   struct rusage *ru)
{
	for (int i = 0; i < TD_UNCLAIMED_MAX; i++) {
		struct td_unclaimed *u = &td_unclaimed[i];

		if (u->pid != pid)
			continue;
		*status = u->status;
		*ru = u->ru;
		u->pid = 0;
		srv->workers.orphans_reaped--;
		return true;
	}
	return false;
}

static void td_workers_unclaimed(struct td_server *srv, pid_t pid,
				 int status, const struct rusage *ru)
{
	uint64_t now = td_now_ms();
	struct td_unclaimed *slot = &td_unclaimed[0];

	srv->workers.orphans_reaped++;
	td_log("reaped orphan pid %d (status 0x%x)", (int)pid, status);
	/* A free slot, an expired one, or else the oldest. */
	for (int i = 0; i < TD_UNCLAIMED_MAX; i++) {
		struct td_unclaimed *u = &td_unclaimed[i];

		if (!u->pid || now - u->when > TD_UNCLAIMED_MS) {
			slot = u;
			break;
		}
		if (u->when < slot->when)
			slot = u;
	}
	slot->pid = pid;
	slot->status = status;
	slot->ru = *ru;
	slot->when = now;
}

/* SIGCHLD: collect every change, ours and adopted orphans'. */
void td_workers_reap(struct td_server *srv)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG | WUNTRACED | WCONTINUED,
			    &ru)) > 0) {
		struct td_worker *w;

		for (w = srv->workers.list; w; w = w->next)
			if (w->pid == pid && w->state != TD_W_EXITED &&
			    w->state != TD_W_KILLED)
				break;
		if (!w) {
			if (td_spawner_reaped(srv, pid, status))
				continue;
			if ((WIFEXITED(status) || WIFSIGNALED(status)) &&
			    !td_workers_expected(pid))
				td_workers_unclaimed(srv, pid, status, &ru);
			continue;
		}
		td_worker_status(srv, w, status, &ru);
		td_wait_worker_changed(srv, w);
	}
}

/* A STOP still waits for a group that outlived its leader. */
bool td_workers_stopping(const struct td_server *srv)
{
	for (const struct td_worker *w = srv->workers.list; w; w = w->next)
		if (w->stopping)
			return true;
	return false;
}

void td_workers_free(struct td_server *srv)
{
	while (srv->workers.list) {
		struct td_worker *w = srv->workers.list;

		srv->workers.list = w->next;
		td_worker_free(w);
	}
	srv->workers.nworkers = srv->workers.nrunning = 0;
}

/* upgrade/: a record rebuilt from the state, appended (the state lists
 * the oldest first, the list is newest first: each goes to the head). */
void td_worker_adopt(struct td_server *srv, struct td_worker *w)
{
	bool running = w->state == TD_W_RUNNING || w->state == TD_W_STOPPED;

	w->srv = srv;
	td_timer_init(&w->stop_timer, NULL);
	td_worker_link(srv, w);
	if (!running)
		srv->workers.nrunning--;
	if (w->spec) {
		w->argv = w->spec->argv;
		w->argc = w->spec->argc;
	}
	if (w->cap)
		td_capture_start(w->cap);
}
