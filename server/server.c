/*
 * Starting and stopping a server: the order of what it sets up matters
 * (socket before log, policy and spawner before the ring, the ring
 * before the helpers, the filter last), and so does the order of what
 * it frees (helpers before the jobs they run, jobs before the workers
 * they watch, everything the ring may point at before the ring).
 * tetherd's main() and the in-process fuzz target both go through here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/arena.h"
#include "deferred/job.h"
#include "policy/policy.h"
#include "deferred/pool.h"
#include "server.h"
#include "upgrade/state_in.h"
#include "workers/workers.h"

void td_server_init(struct td_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	srv->listen.listen_fd = srv->listen.lock_fd = srv->signal_fd = srv->workers.spawner_fd = -1;
	srv->notify.fd = srv->activation.listen_fd = -1;
	srv->upgrade.exe_fd = srv->upgrade.new_fd = -1;
}

/* fds 0-2 must be taken, or the first controller open() would land on
 * stdin/stdout/stderr of a process that logs to them. */
static int td_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd)
			return -EBADF;
	}
	return 0;
}

/* Where captured output goes: 0700, ours, created if missing. */
static int td_state_dir(struct td_server *srv, const char *dir, char *err,
			size_t errsz)
{
	struct stat st;

	if ((size_t)snprintf(srv->workers.state_dir, sizeof(srv->workers.state_dir), "%s",
			     dir ? dir : "") >= sizeof(srv->workers.state_dir) ||
	    (!dir && (size_t)snprintf(srv->workers.state_dir, sizeof(srv->workers.state_dir),
				      "%s.d", srv->socket_path) >=
			     sizeof(srv->workers.state_dir)))
		return -ENAMETOOLONG;
	if (mkdir(srv->workers.state_dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (lstat(srv->workers.state_dir, &st) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077)) {
		snprintf(err, errsz, "state directory %.400s must be a 0700 "
			 "directory of uid %u", srv->workers.state_dir,
			 (unsigned)getuid());
		return -EACCES;
	}
	return 0;
fail:
	snprintf(err, errsz, "state directory %.400s: %s", srv->workers.state_dir,
		 strerror(errno));
	return -errno;
}

/* After the socket: the log usually lives in its directory.  (UPGRADE
 * keeps what it was told, for the next binary.) */
static int td_open_log(struct td_server *srv, const struct td_config *o,
		       char *err, size_t errsz)
{
	int rc;

	if ((rc = td_log_open(o->log_path, o->syslog_addr)) < 0) {
		snprintf(err, errsz, "cannot open log %s: %s",
			 o->syslog_addr ? o->syslog_addr
			 : o->log_path ? o->log_path : "(stderr)",
			 strerror(-rc));
		return rc;
	}
	srv->log_path = o->syslog_addr ? NULL : o->log_path;
	srv->upgrade.syslog_addr = o->syslog_addr;
	return 0;
}

/* The ring, then the helpers: after the loop has blocked its signals
 * (the helpers inherit the mask), before any filter (threads cannot be
 * made under it). */
static int td_start_threads(struct td_server *srv, unsigned helpers,
			    char *err, size_t errsz)
{
	int rc;

	if ((rc = td_loop_init(srv)) < 0) {
		snprintf(err, errsz, "io_uring: %s", strerror(-rc));
		return rc;
	}
	if ((rc = td_pool_start(srv, helpers)) < 0) {
		snprintf(err, errsz, "helper threads: %s", strerror(-rc));
		return rc;
	}
	srv->upgrade.helpers = helpers;
	return 0;
}

static int td_start(struct td_server *srv, const struct td_config *o,
		    char *err, size_t errsz)
{
	int rc, sig = 0;

	if ((rc = td_std_fds()) < 0) {
		snprintf(err, errsz, "cannot open /dev/null: %s",
			 strerror(-rc));
		return rc;
	}
	getrlimit(RLIMIT_NOFILE, &srv->workers.nofile_orig);
	/* Grandchildren that daemonize are reparented to us, not init. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		rc = -errno;
		snprintf(err, errsz, "PR_SET_CHILD_SUBREAPER: %s",
			 strerror(errno));
		return rc;
	}
	if ((rc = td_ifd_init()) < 0) {
		snprintf(err, errsz, "fd limit: %s", strerror(-rc));
		return rc;
	}
	/* The service manager's fds first: they sit at 3 and up, where
	 * anything opened next would land among them. */
	if ((rc = td_activation_take(&srv->activation, err, errsz)) < 0)
		return rc;
	if ((rc = td_listen_open(srv, err, errsz)) < 0)
		return rc;
	if ((rc = td_spare_init()) < 0) {
		snprintf(err, errsz, "spare fd slots: %s", strerror(-rc));
		return rc;
	}
	if ((rc = td_state_dir(srv, o->state_dir, err, errsz)) < 0)
		return rc;
	if ((rc = td_open_log(srv, o, err, errsz)) < 0)
		return rc;
	/* A notify socket we cannot reach is the manager's problem, not a
	 * reason not to serve (it times out waiting for READY=1). */
	if ((rc = td_notify_open(srv, err, errsz)) < 0) {
		td_log_at(LOG_WARNING, "%s: no readiness notification", err);
		err[0] = '\0';
	}
	srv->notify.fdstore = o->fdstore;
	if (o->fdstore && !td_notify_on(srv))
		td_log_at(LOG_WARNING, "--fdstore without NOTIFY_SOCKET: "
			  "labelled fds are not kept by anyone");
	td_fdstore_restore(srv);
	td_fds_remote_scan();
	/* Before the ring: a policy ring starts disabled, to be restricted
	 * before its first submission. */
	if (srv->policy.path && (rc = td_policy_setup(srv, err, errsz)) < 0)
		return rc;
	/* Forked now, while the server can still fork and before the ring
	 * and the filter exist: workers must inherit neither.  (In process,
	 * nothing spawns: the fuzz policy denies execve.) */
	if (srv->policy.loaded && !srv->in_process &&
	    (rc = td_spawner_start(srv)) < 0) {
		snprintf(err, errsz, "spawner: %s", strerror(-rc));
		return rc;
	}
	if ((rc = td_start_threads(srv, o->helpers, err, errsz)) < 0)
		return rc;
	/* Last: from here on the server can do only what it needs and what
	 * the policy allows. */
	if (srv->policy.loaded && !srv->in_process &&
	    (rc = td_filter_install(srv, err, errsz)) < 0)
		return rc;
	/* Started by a controller (PDEATHSIG set): not persistent yet. */
	prctl(PR_GET_PDEATHSIG, &sig);
	srv->persistent = sig == 0;
	return 0;
}


int td_server_start(struct td_server *srv, const struct td_config *cfg,
		    char *err, size_t errsz)
{
	int rc;

	srv->socket_path = cfg->socket_path;
	srv->in_process = cfg->in_process;
	srv->pid = getpid();
	srv->uid = getuid();
	clock_gettime(CLOCK_MONOTONIC, &srv->started);
	if ((rc = td_start(srv, cfg, err, errsz)) < 0) {
		td_log_at(LOG_ERR, "cannot start: %s",
			  err[0] ? err : strerror(-rc));
		td_activation_free(&srv->activation);
		td_notify_close(srv);
		td_listen_close(srv);
		td_pool_stop(srv);
		td_spawner_stop(srv);
		return rc;
	}
	if (!cfg->in_process)
		td_upgrade_init(srv);
	td_log("listening on %s (protocol %d, %s%s%s%s)", srv->socket_path,
	       TETHER_PROTO_VERSION,
	       srv->persistent ? "persistent" : "dies with its controller",
	       srv->policy.loaded ? ", policy " : "",
	       srv->policy.loaded ? srv->policy.path : "",
	       !srv->listen.inherited ? ""
	       : srv->listen.stream ? ", socket from the service manager, "
				      "SOCK_STREAM"
				    : ", socket from the service manager");
	return 0;
}

/* The rest of td_start for a server a previous binary of this process
 * handed over: its socket, workers and fds are already there. */
static int td_resume(struct td_server *srv, struct td_state_in *st,
		     struct td_config *cfg, char *err, size_t errsz)
{
	int rc;

	if ((rc = td_std_fds()) < 0 || (rc = td_ifd_init()) < 0) {
		snprintf(err, errsz, "fds: %s", strerror(-rc));
		return rc;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if ((rc = td_state_config(srv, st, cfg)) < 0) {
		snprintf(err, errsz, "%s", st->err);
		return rc;
	}
	srv->socket_path = cfg->socket_path;
	if ((rc = td_state_dir(srv, cfg->state_dir, err, errsz)) < 0 ||
	    (rc = td_open_log(srv, cfg, err, errsz)) < 0)
		return rc;
	/* NOTIFY_SOCKET was ours alone (unset for the workers): the
	 * connected socket came across instead. */
	td_notify_adopt(srv, st->notify_fd, st->notify_addr);
	srv->notify.fdstore = cfg->fdstore;
	if ((rc = td_start_threads(srv, cfg->helpers, err, errsz)) < 0)
		return rc;
	if ((rc = td_state_restore(srv, st)) < 0) {
		snprintf(err, errsz, "%s", st->err);
		return rc;
	}
	td_fds_remote_scan();
	/* After what the old binary kept: those fds go where they were.
	 * A table the controller filled leaves none: taken back later. */
	if ((rc = td_spare_init()) < 0 && rc != -EMFILE)
		td_log_at(LOG_WARNING, "spare fd slots: %s", strerror(-rc));
	return 0;
}

int td_server_resume(struct td_server *srv, int state_fd,
		     const char *fallback_from, char *err, size_t errsz)
{
	static struct td_state_in st;	/* cfg's strings live in it */
	struct td_config cfg = { 0 };
	int rc;

	srv->pid = getpid();
	srv->uid = getuid();
	if ((rc = td_state_read(state_fd, &st)) < 0)
		snprintf(err, errsz, "%s", st.err);
	else
		rc = td_resume(srv, &st, &cfg, err, errsz);
	/* Whatever went wrong, the binary that wrote the state reads it:
	 * go back to it rather than lose the workers. */
	if (rc < 0 && !fallback_from && st.fallback_fd >= 0)
		td_state_fall_back(&st, err);
	close(state_fd);
	/* The binary that wrote the state: we are it, or replace it. */
	if (st.fallback_fd >= 0)
		close(st.fallback_fd);
	if (rc < 0) {
		td_log("cannot resume: %s", err);
		td_state_in_free(&st);
		return rc;
	}
	td_upgrade_init(srv);
	srv->upgrade.count = st.upgrades;
	srv->upgrade.failures = st.upgrade_failures;
	if (fallback_from) {
		/* The new binary could not read the state: we are the old
		 * one again, and the upgrade did not happen. */
		srv->upgrade.count--;
		srv->upgrade.failures++;
		snprintf(srv->upgrade.error, sizeof(srv->upgrade.error),
			 "%.100s (%.120s): the old binary resumed", st.binary,
			 fallback_from);
	}
	td_state_in_free(&st);
	td_workers_reap(srv);
	td_log("resumed %s on %s (upgrade %u, generation %llu, %u workers, "
	       "%u labels, %u parked)", td_server_version(), srv->socket_path,
	       srv->upgrade.count, (unsigned long long)srv->conns.generation,
	       srv->workers.nworkers, srv->fds.nlabels, srv->exec.nparked);
	if (fallback_from)
		td_log("upgrade failed: %s", srv->upgrade.error);
	return 0;
}

void td_server_finish(struct td_server *srv)
{
	td_listen_close(srv);
	srv->exiting = true;
	td_pool_stop(srv);
	/* A helper that never came back still holds its job. */
	if (!srv->deferred.pool)
		td_jobs_free_all(srv);
	td_workers_free(srv);
	td_labels_free(srv);
	td_mem_free_all(srv);
	td_notify_close(srv);
	td_activation_free(&srv->activation);
	io_uring_queue_exit(&srv->ring);
	td_timers_free(srv);
	td_arena_free();
	td_spawner_stop(srv);
}

void td_server_free(struct td_server *srv)
{
	td_policy_free(srv->policy.loaded);
	free(srv->listen.batch);
	free(srv->listen.allow_uids);
	free(srv->listen.allow_gids);
	free(srv->listen.ro_uids);
}
