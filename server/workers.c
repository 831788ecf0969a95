/*
 * Workers: children the server spawns and keeps whether or not a
 * controller is attached.  The server reaps them itself (SIGCHLD through
 * the signalfd in its ring) and keeps each exit record until a
 * controller acknowledges it.  As a child subreaper it also reaps the
 * grandchildren that daemonize, so nothing is lost to init.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"
#include "workers.h"

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

static int64_t td_now_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* [target]: a pid (int) or a worker label (str). */
struct td_worker *td_worker_find(struct td_server *srv,
				 const msgpack_object *target)
{
	int64_t pid;
	const char *s;
	size_t n;

	if (tp_obj_i64(target, &pid) == 0) {
		for (struct td_worker *w = srv->workers; w; w = w->next)
			if (w->pid == pid)
				return w;
	} else if (tp_obj_str(target, &s, &n) == 0) {
		/* A live worker owns its label; else the newest record. */
		struct td_worker *found = NULL;

		for (struct td_worker *w = srv->workers; w; w = w->next) {
			if (strlen(w->label) != n || memcmp(w->label, s, n))
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
	for (int i = 0; i < w->argc; i++)
		free(w->argv[i]);
	free(w->argv);
	if (w->pidfd >= 0)
		td_ifd_close(w->pidfd);
	td_capture_free(w->cap);
	free(w);
}

static bool td_label_live(struct td_server *srv, const char *label)
{
	for (struct td_worker *w = srv->workers; w; w = w->next)
		if (!strcmp(w->label, label) &&
		    (w->state == TD_W_RUNNING || w->state == TD_W_STOPPED))
			return true;
	return false;
}

int td_do_spawn(struct td_req *r)
{
	struct td_server *srv = r->srv;
	struct td_spawn *sp;
	struct td_worker *w = NULL;
	int child_fd = -1, rc;

	if (srv->nworkers >= TD_WORKERS_MAX)
		return td_req_fail(r, EAGAIN, "%d worker records; acknowledge "
				   "some exited ones", TD_WORKERS_MAX);
	if ((rc = td_spawn_prepare(r, r->body, &sp)) < 0)
		return rc;
	if (td_spawn_label(sp)[0] &&
	    strspn(td_spawn_label(sp), "0123456789") ==
		    strlen(td_spawn_label(sp))) {
		rc = td_req_fail(r, EINVAL, "a worker label may not be all "
				 "digits: it would read as a pid");
		goto out;
	}
	if (td_spawn_label(sp)[0] && td_label_live(srv, td_spawn_label(sp))) {
		rc = td_req_fail(r, EEXIST, "a running worker is labeled \"%s\"",
				 td_spawn_label(sp));
		goto out;
	}
	if (!(w = calloc(1, sizeof(*w)))) {
		rc = td_req_fail(r, ENOMEM, "out of memory");
		goto out;
	}
	w->pidfd = -1;
	w->srv = srv;
	strcpy(w->label, td_spawn_label(sp));
	if (td_spawn_capture(sp) &&
	    (rc = td_capture_open(srv, w, td_spawn_log_max(sp), &child_fd)) < 0) {
		rc = td_req_fail(r, -rc, "capture: %s", strerror(-rc));
		goto out;
	}
	w->started_ms = td_now_epoch_ms();
	w->started_mono = td_now_ms();
	rc = td_spawn_run(r, sp, child_fd, &w->pid, &w->pidfd);
	if (child_fd >= 0)
		close(child_fd);
	if (rc < 0)
		goto out;
	w->pgid = w->pid;
	w->state = TD_W_RUNNING;
	w->argv = td_spawn_take_argv(sp, &w->argc);
	w->next = srv->workers;
	srv->workers = w;
	srv->nworkers++;
	srv->nrunning++;
	td_log("spawned worker %s pid %d%s", td_worker_name(w), (int)w->pid,
	       w->cap ? " (output captured)" : "");
	msgpack_pack_map(r->pk, 3);
	tp_pack_kv_int(r->pk, "pid", w->pid);
	tp_pack_kv_str(r->pk, "label", w->label[0] ? w->label : NULL);
	tp_pack_kv_str(r->pk, "log", w->cap ? td_capture_path(w->cap) : NULL);
	w = NULL;
out:
	if (w)
		td_worker_free(w);
	td_spawn_free(sp);
	return rc;
}

static const char *td_state_name(const struct td_worker *w)
{
	static const char *const names[] = {
		[TD_W_RUNNING] = "running", [TD_W_STOPPED] = "stopped",
		[TD_W_EXITED] = "exited", [TD_W_KILLED] = "killed",
	};

	return names[w->state];
}

/* state, exit_code, signal, core, ended, rusage: how it is or ended. */
static void td_worker_pack_end(msgpack_packer *pk,
			       const struct td_worker *w)
{
	tp_pack_kv_str(pk, "state", td_state_name(w));
	tp_pack_str(pk, "exit_code");
	if (w->state == TD_W_EXITED)
		msgpack_pack_int(pk, w->exit_code);
	else
		msgpack_pack_nil(pk);
	tp_pack_str(pk, "signal");
	if (w->state == TD_W_KILLED || w->state == TD_W_STOPPED)
		msgpack_pack_int(pk, w->signal);
	else
		msgpack_pack_nil(pk);
	tp_pack_kv_bool(pk, "core", w->core);
	tp_pack_kv_int(pk, "ended", w->ended_ms);
	tp_pack_str(pk, "rusage");
	msgpack_pack_map(pk, 3);
	tp_pack_kv_int(pk, "utime_us", (int64_t)w->ru.ru_utime.tv_sec * 1000000 +
					       w->ru.ru_utime.tv_usec);
	tp_pack_kv_int(pk, "stime_us", (int64_t)w->ru.ru_stime.tv_sec * 1000000 +
					       w->ru.ru_stime.tv_usec);
	tp_pack_kv_int(pk, "maxrss_kb", w->ru.ru_maxrss);
}

#define TD_PS_PAGE 256		/* records per PS reply */
#define TD_ARGV_SHOWN 4096	/* argv bytes a record shows */

/* The whole record as a map, with room for `extra` more pairs.  argv is
 * cut at TD_ARGV_SHOWN bytes so a page of records fits in a frame. */
void td_worker_pack(msgpack_packer *pk, const struct td_worker *w,
		    unsigned extra)
{
	size_t budget = TD_ARGV_SHOWN;
	int shown = 0;

	while (shown < w->argc && strlen(w->argv[shown]) < budget)
		budget -= strlen(w->argv[shown++]) + 1;
	msgpack_pack_map(pk, 14 + extra);
	tp_pack_kv_int(pk, "pid", w->pid);
	tp_pack_kv_str(pk, "label", w->label[0] ? w->label : NULL);
	tp_pack_str(pk, "argv");
	msgpack_pack_array(pk, (size_t)shown);
	for (int i = 0; i < shown; i++)
		tp_pack_str(pk, w->argv[i]);
	tp_pack_kv_bool(pk, "argv_truncated", shown < w->argc);
	tp_pack_kv_int(pk, "started", w->started_ms);
	tp_pack_kv_int(pk, "pgid", w->pgid);
	tp_pack_kv_bool(pk, "captured", w->cap != NULL);
	tp_pack_kv_int(pk, "log_size", w->cap ? (int64_t)td_capture_size(w->cap)
					      : 0);
	td_worker_pack_end(pk, w);
}

/* PS [] or [from]: oldest first, a page at a time; "next" is where the
 * next page starts, 0 when this one is the last. */
int td_do_ps(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker *v[TD_PS_PAGE];
	uint64_t from = 0;
	unsigned n = 0, total = 0, count;

	if (!b || nb > 1 || (nb == 1 && tp_obj_u64(&b[0], &from) < 0))
		return td_req_fail(r, EPROTO, "PS body is [] or [from]");
	for (struct td_worker *w = r->srv->workers; w; w = w->next)
		total++;
	count = total > from ? total - (unsigned)from : 0;
	if (count > TD_PS_PAGE)
		count = TD_PS_PAGE;
	/* The list is newest first: index i from the end is record i. */
	for (struct td_worker *w = r->srv->workers; w; w = w->next, n++) {
		unsigned idx = total - 1 - n;

		if (idx >= from && idx < from + count)
			v[idx - from] = w;
	}
	msgpack_pack_map(r->pk, 3);
	tp_pack_str(r->pk, "workers");
	msgpack_pack_array(r->pk, count);
	for (unsigned i = 0; i < count; i++)
		td_worker_pack(r->pk, v[i], 0);
	tp_pack_kv_int(r->pk, "orphans_reaped", (int64_t)r->srv->orphans_reaped);
	tp_pack_kv_int(r->pk, "next", from + count < total
				      ? (int64_t)(from + count) : 0);
	return 0;
}

/* KILL [target, sig]: through the pidfd, never a pid that may have been
 * reused.  Without one (pidfd_open failed at spawn) the pid is still
 * safe: the worker is our child and unreaped, so its pid is not free. */
int td_do_kill(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker *w;
	int64_t sig;
	int rc;

	if (!b || nb != 2 || tp_obj_i64(&b[1], &sig) < 0 || sig < 0 ||
	    sig >= NSIG)
		return td_req_fail(r, EPROTO, "KILL body is [target, signal]");
	if (!(w = td_worker_find(r->srv, &b[0])))
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
	msgpack_pack_map(r->pk, 2);
	tp_pack_kv_int(r->pk, "pid", w->pid);
	tp_pack_kv_int(r->pk, "signal", sig);
	return 0;
}

/* ACK [target]: the controller has the exit record; forget it. */
int td_do_ack(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker **pp, *w;

	if (!b || nb != 1)
		return td_req_fail(r, EPROTO, "ACK body is [target]");
	if (!(w = td_worker_find(r->srv, &b[0])))
		return td_req_fail(r, ESRCH, "no such worker");
	if (w->state != TD_W_EXITED && w->state != TD_W_KILLED)
		return td_req_fail(r, EBUSY, "worker %s (pid %d) still runs",
				   td_worker_name(w), (int)w->pid);
	for (pp = &r->srv->workers; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	r->srv->nworkers--;
	td_pending_worker_gone(r->srv, w);
	msgpack_pack_map(r->pk, 1);
	tp_pack_kv_int(r->pk, "pid", w->pid);
	td_worker_free(w);
	return 0;
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
	w->ended_ms = td_now_epoch_ms();
	srv->nrunning--;
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

/* SIGCHLD: collect every change, ours and adopted orphans'. */
void td_workers_reap(struct td_server *srv)
{
	struct rusage ru;
	int status;
	pid_t pid;

	while ((pid = wait4(-1, &status, WNOHANG | WUNTRACED | WCONTINUED,
			    &ru)) > 0) {
		struct td_worker *w;

		for (w = srv->workers; w; w = w->next)
			if (w->pid == pid && w->state != TD_W_EXITED &&
			    w->state != TD_W_KILLED)
				break;
		if (!w) {
			if (td_spawner_reaped(srv, pid, status))
				continue;
			if (WIFEXITED(status) || WIFSIGNALED(status)) {
				srv->orphans_reaped++;
				td_log("reaped orphan pid %d (status 0x%x)",
				       (int)pid, status);
			}
			continue;
		}
		td_worker_status(srv, w, status, &ru);
		td_wait_worker_changed(srv, w);
	}
}

/* A STOP still waits for a group that outlived its leader. */
bool td_workers_stopping(const struct td_server *srv)
{
	for (const struct td_worker *w = srv->workers; w; w = w->next)
		if (w->stopping)
			return true;
	return false;
}

void td_workers_free(struct td_server *srv)
{
	while (srv->workers) {
		struct td_worker *w = srv->workers;

		srv->workers = w->next;
		td_worker_free(w);
	}
	srv->nworkers = srv->nrunning = 0;
}
