/*
 * The closer: closes that may wait (a file on FUSE or NFS asks its
 * server at every close), on a helper thread as the server's own work.
 * fds/closing.c hides the fds first (recorded as ours; ~fd when the
 * records are full) and hands them here; one job closes a whole batch,
 * so a hung server holds one thread, not one per fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deferred/pool.h"
#include "tetherd.h"

struct td_closejob {
	struct td_job job;		/* first: the job is the whole */
	unsigned n;
	int fds[];
};

static void td_close_work(struct td_job *j)
{
	struct td_closejob *cj = (struct td_closejob *)j;

	for (unsigned i = 0; i < cj->n; i++)
		if (cj->fds[i] >= 0)
			td_ifd_close_slow(cj->fds[i]);
		else
			close(~cj->fds[i]);	/* not recorded: ours alone */
	cj->n = 0;
}

static void td_close_done(struct td_job *j, int res)
{
	struct td_closejob *cj = (struct td_closejob *)j;

	(void)res;
	/* Never ran (shutdown): closed here, the loop is ending anyway. */
	for (unsigned i = 0; i < cj->n; i++)
		if (cj->fds[i] >= 0)
			td_ifd_close(cj->fds[i]);
		else
			close(~cj->fds[i]);
	cj->n = 0;
	td_job_end(j);
}

static const struct td_job_ops td_close_ops = {
	.name = "CLOSE",
	.work = td_close_work,
	.done = td_close_done,
	.release = td_job_release_plain,
};

static int td_closer_take(void *arg, const int *fds, unsigned n)
{
	struct td_server *srv = arg;
	struct td_closejob *cj = calloc(1, sizeof(*cj) + n * sizeof(int));
	int rc;

	if (!cj)
		return -ENOMEM;
	memcpy(cj->fds, fds, n * sizeof(int));
	cj->n = n;
	td_job_start_internal(&cj->job, &td_close_ops, srv);
	cj->job.cls = TD_JOB_SERVER;
	if ((rc = td_job_to_helper(&cj->job)) < 0) {
		cj->n = 0;		/* the caller closes them */
		td_job_end(&cj->job);
	}
	return rc;
}

void td_closer_init(struct td_server *srv)
{
	td_fds_set_closer(td_closer_take, srv);
}
