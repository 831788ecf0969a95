/*
 * SIGHUP: the --log file is opened again by its path, so that logrotate
 * can move it away and the lines go to the new one.  The open is a path
 * lookup, which may block (a hung NFS mount): the opener helper does it
 * and hands the fd to the loop, which switches the log between events.
 * The loop itself never waits for it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deferred/pool.h"
#include "tetherd.h"

struct td_reopen {
	struct td_job job;		/* first: the job is the whole */
	int err;
	char path[PATH_MAX];
};

static bool td_reopening;		/* one at a time */

static void td_reopen_work(struct td_job *j)
{
	struct td_reopen *ro = (struct td_reopen *)j;
	int fd = td_log_open_file(ro->path);

	if (fd < 0) {
		ro->err = -fd;
		return;
	}
	j->fds[0] = fd;
	j->nfds = 1;
}

static void td_reopen_done(struct td_job *j, int res)
{
	struct td_reopen *ro = (struct td_reopen *)j;
	int rc;

	td_reopening = false;
	if (res < 0 || ro->err || j->nfds != 1) {
		td_log_at(LOG_ERR, "SIGHUP: cannot reopen log %s: %s; still "
			  "writing to the old one", ro->path,
			  strerror(res < 0 ? -res : ro->err ? ro->err : EBADF));
	} else {
		j->nfds = 0;
		if ((rc = td_log_replace(j->fds[0])) < 0)
			td_log_at(LOG_ERR, "SIGHUP: log %s: %s", ro->path,
				  strerror(-rc));
		else
			td_log("log reopened (SIGHUP)");
	}
	td_job_end(j);
}

static const struct td_job_ops td_reopen_ops = {
	.name = "LOG-REOPEN",
	.work = td_reopen_work,
	.done = td_reopen_done,
	.release = td_job_release_plain,
};

void td_log_reopen(struct td_server *srv, unsigned sender)
{
	struct td_reopen *ro;
	int rc;

	if (!srv->log_path) {
		td_log("SIGHUP from pid %u: no log file to reopen", sender);
		return;
	}
	if (td_reopening) {
		td_log("SIGHUP from pid %u: a reopen is in progress", sender);
		return;
	}
	if (!(ro = calloc(1, sizeof(*ro)))) {
		td_log_at(LOG_ERR, "SIGHUP: out of memory");
		return;
	}
	snprintf(ro->path, sizeof(ro->path), "%s", srv->log_path);
	if ((rc = td_job_internal_to_opener(&ro->job, &td_reopen_ops,
					     srv)) < 0) {
		td_log_at(LOG_ERR, "SIGHUP: no helper to reopen the log: %s",
			  strerror(-rc));
		return;
	}
	td_reopening = true;
}
