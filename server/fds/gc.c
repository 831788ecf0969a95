/*
 * GC: close what nobody owns.  Kept: the server's own fds, 0-2 (its
 * stdio, where it logs), labeled fds, and the caller's keep list.
 * Everything else goes, in close_range runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

static int td_int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static bool td_gc_kept(const struct td_server *srv, int fd, const int *keep,
		       size_t nkeep)
{
	return fd <= 2 || td_ifd_is(fd) || td_label_of(srv, fd) ||
	       (nkeep && bsearch(&fd, keep, nkeep, sizeof(int), td_int_cmp));
}

static int td_gc_keep_list(struct td_req *r, const struct tp_list *l,
			   int **keep, size_t *nkeep)
{
	size_t n = l->n;
	const msgpack_object *v = l->o;
	int64_t fd;

	*keep = NULL;
	*nkeep = 0;
	if (n > TETHER_KEEP_MAX)
		return td_req_fail(r, E2BIG, "keep list of %zu fds (max %u)",
				   n, TETHER_KEEP_MAX);
	if (!n)
		return 0;
	if (!(*keep = malloc(n * sizeof(int))))
		return td_req_fail(r, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (tp_obj_i64(&v[i], &fd) < 0 || fd < 0 || fd > INT32_MAX) {
			free(*keep);
			*keep = NULL;
			return td_req_fail(r, EINVAL, "keep list entry %zu is "
					   "not an fd", i);
		}
		(*keep)[i] = (int)fd;
	}
	qsort(*keep, n, sizeof(int), td_int_cmp);
	*nkeep = n;
	return 0;
}

/* Close runs of condemned fds with consecutive numbers.  Only those: a
 * number that was free at the scan may be taken by now -- a helper's
 * openat, a ring accept completing for a call still running -- and a
 * close_range over the gap closed it unlisted (found by a hostile
 * walk-through: 31 of 300 such fds).  A file whose close may wait (on
 * FUSE, NFS) is not in a run: the closer has it (fds/closing.c). */
static int td_gc_close(const int *fds, const bool *doomed, size_t n)
{
	bool *run = n ? malloc(n) : NULL;
	int *later = n ? malloc(n * sizeof(int)) : NULL;
	unsigned nlater = 0;
	int rc = 0;

	if (n && (!run || !later)) {
		free(run);
		free(later);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		run[i] = doomed[i] && !td_fd_prepare_close(fds[i]);
		if (doomed[i] && !run[i])
			later[nlater++] = fds[i];
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;

		if (!run[i]) {
			i++;
			continue;
		}
		while (j + 1 < n && run[j + 1] && fds[j + 1] == fds[j] + 1)
			j++;
		if (syscall(SYS_close_range, (unsigned)fds[i],
			    (unsigned)fds[j], 0) < 0) {
			rc = -errno;
			break;
		}
		i = j + 1;
	}
	td_fds_close_later(later, nlater);
	free(run);
	free(later);
	return rc;
}

/* The closed fds, from the scan and its verdicts. */
struct td_gc_walk {
	const int *fds;
	const bool *doomed;
	size_t at;
};

static int td_gc_pack_closed(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_gc_walk *walk = (struct td_gc_walk *)ctx;

	(void)i;
	while (!walk->doomed[walk->at])
		walk->at++;
	return tp_w_i64(w, walk->fds[walk->at++]);
}

/* GC [keep, flags]: {"closed": [...], "kept": N, "dry_run": bool}. */
int td_do_gc(struct td_req *r)
{
	size_t n, nkeep, nclosed = 0;
	struct tp_gc req;
	struct tp_gc_reply rep;
	struct td_gc_walk walk;
	struct tp_err e;
	uint64_t flags;
	int *fds = NULL, *keep = NULL, rc;
	bool *doomed = NULL;
	struct timespec t0, t1;

	if ((rc = tp_unpack_gc(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	flags = req.flags;
	/* A flag this server does not know may have asked for less than
	 * a real GC (as dry_run does): refused, never run as one. */
	if (flags & ~(uint64_t)TETHER_GC_DRY_RUN)
		return td_req_fail(r, EINVAL, "unknown GC flags 0x%llx",
				   (unsigned long long)flags);
	/* GC closes fds the controller could have closed itself. */
	if ((rc = td_policy_check_op(r, "GC", SYS_close, 0, 0, 0, 0)) < 0 ||
	    (rc = td_gc_keep_list(r, &req.keep, &keep, &nkeep)) < 0)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	td_labels_validate(r->srv);
	if ((rc = td_fds_scan(&fds, &n)) < 0) {
		rc = td_req_fail(r, -rc, "reading /proc/self/fd");
		goto out;
	}
	if (n && !(doomed = calloc(n, sizeof(bool)))) {
		rc = td_req_fail(r, ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!td_gc_kept(r->srv, fds[i], keep, nkeep)) {
			doomed[i] = true;
			nclosed++;
		}
	if (!(flags & TETHER_GC_DRY_RUN))
		td_fds_changed();
	if (!(flags & TETHER_GC_DRY_RUN) && (rc = td_gc_close(fds, doomed, n)) < 0) {
		rc = td_req_fail(r, -rc, "close_range: %s", strerror(-rc));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	walk = (struct td_gc_walk){ fds, doomed, 0 };
	rep = (struct tp_gc_reply){
		.closed = { .n = (uint32_t)nclosed, .each = td_gc_pack_closed,
			    .ctx = &walk },
		.kept = (int64_t)(n - nclosed),
		.dry_run = flags & TETHER_GC_DRY_RUN,
		.usec = (t1.tv_sec - t0.tv_sec) * 1000000 +
			(t1.tv_nsec - t0.tv_nsec) / 1000,
	};
	rc = tp_pack_gc_reply(r->w, &rep);
	if (!(flags & TETHER_GC_DRY_RUN))
		td_log("gc closed %zu fds, kept %zu", nclosed, n - nclosed);
out:
	free(fds);
	free(keep);
	free(doomed);
	return rc;
}
