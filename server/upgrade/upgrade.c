/*
 * UPGRADE: replace the running binary by a new one, in this process.
 *
 *   1. The request names the binary (or takes the one we were started
 *      as).  A helper opens and checks it: a regular, executable ELF file
 *      of root's or ours that nobody else may write.
 *   2. The loop answers, then drains: handshakes wait in the listening
 *      socket's backlog -- those already accepted, HELLO unread, are
 *      held and go across with the state --, connections close once
 *      their replies are out
 *      (the controller reconnects to the new binary), every running call
 *      is cancelled -- its result parked as ECANCELED, like any result
 *      nobody waits for.
 *   3. Drained (nothing in the ring, nothing on a helper, no
 *      connection): the state goes into a memfd, FD_CLOEXEC is cleared on
 *      exactly what the new binary needs and on the controller's fds
 *      that had it, and execveat() runs the new binary with
 *      --resume-fd.  The pid stays, so the workers stay our children.
 *
 * An exec that fails puts every flag back and the server goes on as it
 * was; so does a drain that does not finish in TD_UPGRADE_DRAIN_MS (a
 * call stuck in an uninterruptible wait).  STATUS says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "deferred/pool.h"
#include "exec/call.h"
#include "tetherd.h"
#include "upgrade/upgrade.h"
#include "workers/workers.h"

extern char **environ;

static void td_upgrade_expired(struct td_timer *t);
static void td_upgrade_flush_due(struct td_timer *t);

const char *td_server_version(void)
{
#ifdef TD_TEST_UNCHECKED
	return PACKAGE_VERSION "+unchecked";
#else
	return PACKAGE_VERSION;
#endif
}

void td_upgrade_init(struct td_server *srv)
{
	struct td_upgrade *u = &srv->upgrade;
	ssize_t n;
	int fd;

	u->new_fd = -1;
	td_timer_init(&u->deadline, td_upgrade_expired);
	td_timer_init(&u->flush, td_upgrade_flush_due);
	n = readlink("/proc/self/exe", u->binary, sizeof(u->binary) - 1);
	u->binary[n > 0 ? n : 0] = '\0';
	/* Replaced on disk since we started (a package upgrade): the path
	 * now names the new file, which is what UPGRADE should run. */
	if (n > 10 && !strcmp(u->binary + n - 10, " (deleted)"))
		u->binary[n - 10] = '\0';
	fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	u->exe_fd = fd < 0 ? -1 : td_ifd_adopt(fd, "this binary");
}

/* ---- the job: open and check the new binary, on the opener ------------ */

struct td_upjob {
	struct td_job job;
	char path[PATH_MAX];
	int err;
	char why[200];
};

static void td_upjob_work(struct td_job *j)
{
	struct td_upjob *uj = (struct td_upjob *)j;
	unsigned char magic[4];
	struct stat st;
	int fd;

	j->nfds = 0;
	fd = open(uj->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		uj->err = errno;
		snprintf(uj->why, sizeof(uj->why), "cannot open it");
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		uj->err = EACCES;
		snprintf(uj->why, sizeof(uj->why), "not a regular file");
	} else if (!(st.st_mode & S_IXUSR)) {
		uj->err = EACCES;
		snprintf(uj->why, sizeof(uj->why), "not executable");
	} else if ((st.st_uid != 0 && st.st_uid != getuid()) ||
		   (st.st_mode & 022)) {
		/* Whoever may write it could run as us after the exec. */
		uj->err = EPERM;
		snprintf(uj->why, sizeof(uj->why), "owned by uid %u, mode "
			 "%04o: it must be root's or ours and writable by "
			 "nobody else", (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
	} else if (pread(fd, magic, 4, 0) != 4 ||
		   memcmp(magic, "\177ELF", 4)) {
		uj->err = ENOEXEC;
		snprintf(uj->why, sizeof(uj->why), "not an ELF executable");
	} else {
		j->fds[0] = fd;
		j->nfds = 1;
		return;
	}
	close(fd);
}

static void td_upgrade_begin(struct td_server *srv, int fd, const char *path,
			     struct td_job *j);

static void td_upjob_done(struct td_job *j, int res)
{
	struct td_upjob *uj = (struct td_upjob *)j;

	if (res < 0 || uj->err || j->nfds != 1) {
		td_job_fail(j, res < 0 ? -res : uj->err ? uj->err : EIO,
			    "upgrade: %s: %s%s%s", uj->path,
			    uj->why[0] ? uj->why : "",
			    uj->why[0] && uj->err ? ": " : "",
			    uj->err ? strerror(uj->err) : "cancelled");
		td_job_end(j);
		return;
	}
	j->nfds = 0;
	td_upgrade_begin(j->srv, j->fds[0], uj->path, j);
	td_job_end(j);
}

static const struct td_job_ops td_upjob_ops = {
	.name = "UPGRADE",
	.work = td_upjob_work,
	.done = td_upjob_done,
	.release = td_job_release_plain,
};

/* UPGRADE [binary] */
int td_do_upgrade(struct td_req *r)
{
	struct td_server *srv = r->srv;
	struct tp_upgrade req;
	struct tp_err e;
	struct td_upjob *uj;
	const char *path = srv->upgrade.binary;
	size_t n = strlen(path);
	int rc;

	if ((rc = tp_unpack_upgrade(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if (req.has & TP_UPGRADE_BINARY) {
		path = req.binary.p;
		n = req.binary.n;
	}
	if (!n || n >= PATH_MAX || memchr(path, '\0', n) || path[0] != '/')
		return td_req_fail(r, EINVAL, "the new binary must be an "
				   "absolute path");
	/* The filter is inherited across execve and was built for this
	 * binary's needs, which do not include execve. */
	if (srv->policy.loaded || srv->in_process)
		return td_req_fail(r, ENOTSUP, "tetherd runs under a syscall "
				   "policy, whose seccomp filter outlives "
				   "execve and forbids it: restart it instead");
	if (srv->upgrade.draining || srv->stopping)
		return td_req_fail(r, EBUSY, "tetherd is already %s",
				   srv->stopping ? "shutting down"
						 : "upgrading");
	if (td_workers_stopping(srv))
		return td_req_fail(r, EBUSY, "a STOP is still in its grace "
				   "period: upgrade once it has ended");
	if (srv->mem.n)
		return td_req_fail(r, EBUSY, "%u remote memory allocations "
				   "would not survive the exec: free them "
				   "first", srv->mem.n);
	if (!(uj = calloc(1, sizeof(*uj))))
		return td_req_fail(r, ENOMEM, "out of memory");
	memcpy(uj->path, path, n);
	if ((rc = td_job_start(&uj->job, &td_upjob_ops, r)) < 0) {
		free(uj);
		return rc;
	}
	uj->job.cls = TD_JOB_OPEN;
	if ((rc = td_job_to_helper(&uj->job)) < 0) {
		td_job_end(&uj->job);
		return td_req_fail(r, -rc, "no helper to open %s", uj->path);
	}
	return TD_REPLY_LATER;
}

/* ---- drain, then exec -------------------------------------------------- */

static void td_upgrade_begin(struct td_server *srv, int fd, const char *path,
			     struct td_job *j)
{
	struct td_upgrade *u = &srv->upgrade;
	struct tp_upgrade_reply rep = {
		.pid = srv->pid, .binary = tp_str(path),
		.server_version = tp_str(td_server_version()),
	};
	struct tp_msg m;

	if ((u->new_fd = td_ifd_adopt(fd, "upgrade binary")) < 0) {
		td_job_fail(j, -u->new_fd, "upgrade: %s", strerror(-u->new_fd));
		u->new_fd = -1;
		return;
	}
	snprintf(u->new_binary, sizeof(u->new_binary), "%s", path);
	tp_msg_init(&m);
	tp_msg_reply(&m, j->to_id, 0);
	tp_pack_upgrade_reply(&m.w, &rep);
	td_job_send(j, &m);
	td_log("upgrade to %s requested by pid %d: draining", path,
	       j->to ? (int)j->to->peer_pid : 0);
	u->draining = true;
	u->quiesced = false;
	u->error[0] = '\0';
	td_jobs_cancel_all(srv);
	td_timer_in(srv, &u->deadline, TD_UPGRADE_DRAIN_MS);
	u->flush_late = false;
	td_timer_in(srv, &u->flush, TD_UPGRADE_FLUSH_MS);
}

/* Back to serving: the upgrade did not happen, and STATUS says why. */
static void td_upgrade_abort(struct td_server *srv, int err, const char *fmt,
			     const char *arg)
{
	struct td_upgrade *u = &srv->upgrade;

	snprintf(u->error, sizeof(u->error), fmt, arg, strerror(err));
	td_log("upgrade to %s failed: %s", u->new_binary, u->error);
	u->failures++;
	u->draining = false;
	td_timer_stop(srv, &u->deadline);
	td_timer_stop(srv, &u->flush);
	u->flush_late = false;
	if (u->new_fd >= 0)
		td_ifd_close(u->new_fd);
	u->new_fd = -1;
}

static void td_upgrade_expired(struct td_timer *t)
{
	struct td_server *srv = (struct td_server *)((char *)t -
				offsetof(struct td_server, upgrade.deadline));

	td_upgrade_abort(srv, EBUSY, "%s calls did not end in time (%s)",
			 "running");
}

/* The loop's drain (td_loop_upgrade, at this turn's end) closes whoever
 * still has answers queued. */
static void td_upgrade_flush_due(struct td_timer *t)
{
	struct td_server *srv = (struct td_server *)((char *)t -
				offsetof(struct td_server, upgrade.flush));

	srv->upgrade.flush_late = true;
}

bool td_upgrade_drained(struct td_server *srv)
{
	/* The accept too, until its cancel is in: a connection it took
	 * meanwhile is a socket in our table whose completion is still in
	 * the ring, and exec would close it on the peer unanswered. */
	if (srv->conns.all || srv->listen.nhandshakes ||
	    srv->listen.accept_armed ||
	    srv->deferred.nring || td_pool_busy(srv))
		return false;
	for (const struct td_job *j = srv->deferred.jobs; j; j = j->next)
		if (!j->ended && !td_calljob_is_parked(j))
			return false;
	return true;
}

static void td_fds_cloexec(const int *v, unsigned n, bool on)
{
	for (unsigned i = 0; i < n; i++)
		fcntl(v[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

void td_upgrade_exec(struct td_server *srv)
{
	struct td_upgrade *u = &srv->upgrade;
	struct td_state_out o;
	char fdarg[16];
	static char name[] = "tetherd", opt[] = "--resume-fd";
	char *argv[] = { name, opt, fdarg, NULL };
	int rc, e;

	if ((rc = td_state_save(srv, &o)) < 0) {
		td_upgrade_abort(srv, -rc, "%s the state: %s", "saving");
		return;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", o.fd);
	td_log("upgrade: exec %s (state %d fds, %u workers, %u labels, %u "
	       "parked)", u->new_binary, o.nkeep + o.ncloexec,
	       srv->workers.nworkers, srv->fds.nlabels, srv->exec.nparked);
	td_log_sync();
	td_fds_cloexec(o.keep, o.nkeep, false);
	td_fds_cloexec(o.cloexec, o.ncloexec, false);
	syscall(SYS_execveat, u->new_fd, "", argv, environ, AT_EMPTY_PATH);
	e = errno;
	td_fds_cloexec(o.keep, o.nkeep, true);
	td_fds_cloexec(o.cloexec, o.ncloexec, true);
	td_state_out_free(&o);
	td_upgrade_abort(srv, e, "%s: %s", "execveat");
}
