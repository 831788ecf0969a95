/*
 * bench_async: what BATCH saves per syscall, and what many concurrent
 * reads through tetherd's ring cost, against doing them locally.
 *
 * Under one CPU pinning:
 *
 *   batched getpid  tether_batch() of 64 getpid entries, per round trip
 *                   and per syscall, against a direct syscall(SYS_getpid)
 *                   and an unbatched tether_getpid() round trip.
 *   pipe reads      one cycle of --pipes (1,000) concurrent 4 KiB pipe
 *                   reads, in bulk: tetherd holds the pipes; the bench
 *                   submits every read with tether_submit_many() (1,024
 *                   calls a SUBMIT frame; blocking pipes: they wait in
 *                   the server's io_uring), then every 4 KiB write the
 *                   same way (480 a frame: a frame is at most 2 MiB; the
 *                   ring writes them at once, a pipe has room), and
 *                   reaps the 2,000 completions with tether_reap(), each
 *                   REAP waiting for as many as are still out (up to
 *                   1,024; a reply frame holds ~500 4 KiB reads).  This
 *                   row is ratio_reads_tether_epoll.
 *   per request     the same reads the way they went before SUBMIT
 *                   (ratio_reads_per_request_epoll): the bench submits
 *                   one TETHER_CALL_ASYNC read per pipe, writes 4 KiB
 *                   into every pipe with tether_batch() (256 entries a
 *                   batch; TETHER_CALL_SYNC, which keeps them out of the
 *                   ring -- for a pipe that means a helper thread, not
 *                   the loop; --ring-writes sends them through the ring
 *                   instead), and collects every result with
 *                   tether_collect().
 *   epoll           both against one process doing the same with epoll:
 *                   write 4 KiB into each of as many pipes, then
 *                   epoll_wait and read until every pipe has been read.
 *                   The CPU time both sides spend per cycle is measured
 *                   too (ratio_cpu_epoll_tether_bulk).
 *
 * Each is run BENCH_RUNS times, interleaved; the median of the per-run
 * values is reported.  Timing is only reported, never judged: the exit
 * status says whether something broke, not whether tether was fast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS 5
#define BENCH_TARGET 3.0		/* batched getpid / direct */
#define BENCH_BATCH 64			/* getpid entries per batch */
#define BENCH_WBATCH 256		/* write entries per batch (the max) */
#define BENCH_READ 4096			/* bytes per pipe read */
#define BENCH_PIPES_MAX 8192
#define BENCH_EPOLL_EVENTS 1024
#define BENCH_SUB_WRITES 480		/* 4 KiB writes a SUBMIT frame */

struct bench_opts {
	struct bench_args a;
	long iterations;		/* round trips per run */
	long warmup;
	long pipes;
	long cycles;			/* pipe cycles per run */
	bool ring_writes;		/* writes through the ring, not SYNC */
	bool bulk_only;			/* no per-request row (profiling) */
};

/* Pipes, the bench's own or tetherd's, and their buffers. */
struct bench_pipes {
	long n;
	int *rfd;
	int *wfd;
	unsigned char *wbuf;		/* n x BENCH_READ: what is written */
	unsigned char *rbuf;		/* n x BENCH_READ: what is read */
	int epfd;			/* the bench's: epoll on every rfd */
	uint64_t *ids;			/* tether's: async ids */
	struct tether_call *calls;	/* tether's: one write batch */
	struct tether_call *sub;	/* tether's bulk: n reads, n writes */
	struct tether_call **done;	/* ... what one REAP hands back */
	unsigned char cycle;		/* varies the bytes per cycle */
};

struct bench_results {
	struct bench_series direct;
	struct bench_series getpid;
	struct bench_series batch;	/* per round trip of BENCH_BATCH */
	struct bench_series epoll;	/* per cycle */
	struct bench_series epoll_cpu;	/* ... its CPU time */
	struct bench_series bulk;	/* per cycle: SUBMIT + REAP */
	struct bench_series bulk_cpu;	/* ... CPU time, bench + tetherd */
	struct bench_series bulk_cpu_srv; /* ... of which tetherd's */
	struct bench_series bsubmit;	/* its phases */
	struct bench_series bwrite;
	struct bench_series breap;
	struct bench_series async;	/* per cycle: ASYNC + COLLECT each */
	struct bench_series submit;	/* the cycle's phases */
	struct bench_series write;
	struct bench_series collect;
	bool tether_ok;
	int tether_err;			/* why rows are missing, or 0 */
	char cpus_self[64];
	char cpus_tetherd[64];
};

/* The phases of one tether cycle, in ns. */
struct bench_phases {
	double submit;
	double write;
	double collect;
};

static volatile long bench_sink;

/* Enough fds for the bench's own pipes: the soft limit up to the hard. */
static int bench_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= (rlim_t)need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need)
		return -EMFILE;
	rl.rlim_cur = (rlim_t)need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return 0;
}

/* ---- getpid: direct, round trip, batched ------------------------------ */

struct bench_batch {
	struct bench_tetherd *bt;
	struct tether_call calls[BENCH_BATCH];
};

/* n round trips of a BENCH_BATCH-entry batch of getpid. */
static int bench_batch(void *ctx, long n)
{
	struct bench_batch *b = ctx;

	for (long i = 0; i < n; i++) {
		int stopped, rc;

		for (unsigned k = 0; k < BENCH_BATCH; k++)
			b->calls[k].ret = 0;
		rc = tether_batch(b->bt->t, b->calls, BENCH_BATCH, 0, &stopped);
		if (rc < 0)
			return rc;
		for (unsigned k = 0; k < BENCH_BATCH; k++)
			if (b->calls[k].ret <= 0)
				return b->calls[k].ret < 0 ?
				       (int)b->calls[k].ret : -EPROTO;
		bench_sink = b->calls[BENCH_BATCH - 1].ret;
	}
	return 0;
}

/* ---- pipes -------------------------------------------------------------- */

static int bench_pipes_alloc(struct bench_pipes *p, long n)
{
	p->n = n;
	p->epfd = -1;
	p->rfd = malloc(sizeof(int) * (size_t)n);
	p->wfd = malloc(sizeof(int) * (size_t)n);
	p->wbuf = malloc((size_t)n * BENCH_READ);
	p->rbuf = malloc((size_t)n * BENCH_READ);
	if (!p->rfd || !p->wfd || !p->wbuf || !p->rbuf)
		return -ENOMEM;
	for (long i = 0; i < n; i++)
		p->rfd[i] = p->wfd[i] = -1;
	return 0;
}

/* The bytes pipe i gets in this cycle. */
static void bench_pipes_fill(struct bench_pipes *p)
{
	p->cycle++;
	for (long i = 0; i < p->n; i++)
		memset(p->wbuf + (size_t)i * BENCH_READ,
		       (int)(unsigned char)(i * 7 + p->cycle), BENCH_READ);
}

/* Every pipe read exactly what was written into it. */
static int bench_pipes_check(const struct bench_pipes *p)
{
	if (memcmp(p->rbuf, p->wbuf, (size_t)p->n * BENCH_READ)) {
		fprintf(stderr, "bench: pipe data does not match\n");
		return -EIO;
	}
	return 0;
}

static void bench_pipes_free(struct bench_pipes *p)
{
	free(p->rfd);
	free(p->wfd);
	free(p->wbuf);
	free(p->rbuf);
	free(p->ids);
	free(p->calls);
	free(p->sub);
	free(p->done);
	memset(p, 0, sizeof(*p));
	p->epfd = -1;
}

/* The bench's own pipes, every read end in one epoll set. */
static int bench_epoll_setup(struct bench_pipes *p, long n)
{
	int rc = bench_pipes_alloc(p, n);

	if (rc < 0)
		return rc;
	if ((p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -errno;
	for (long i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = (uint64_t)i };
		int fds[2];

		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		p->rfd[i] = fds[0];
		p->wfd[i] = fds[1];
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fds[0], &ev) < 0)
			return -errno;
	}
	return 0;
}

static void bench_epoll_teardown(struct bench_pipes *p)
{
	for (long i = 0; p->rfd && i < p->n; i++) {
		if (p->rfd[i] >= 0)
			close(p->rfd[i]);
		if (p->wfd[i] >= 0)
			close(p->wfd[i]);
	}
	if (p->epfd >= 0)
		close(p->epfd);
	bench_pipes_free(p);
}

/* One cycle: 4 KiB into every pipe, then epoll_wait and read until each
 * has been read. */
static int bench_epoll_cycle(struct bench_pipes *p, double *ns)
{
	struct epoll_event ev[BENCH_EPOLL_EVENTS];
	double t0 = 0, t1 = 0;
	long got = 0;
	int rc;

	bench_pipes_fill(p);
	memset(p->rbuf, 0, (size_t)p->n * BENCH_READ);
	if ((rc = bench_now(&t0)) < 0)
		return rc;
	for (long i = 0; i < p->n; i++)
		if (write(p->wfd[i], p->wbuf + (size_t)i * BENCH_READ,
			  BENCH_READ) != BENCH_READ)
			return errno ? -errno : -EIO;
	while (got < p->n) {
		int k = epoll_wait(p->epfd, ev, BENCH_EPOLL_EVENTS, -1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		for (int j = 0; j < k; j++) {
			long i = (long)ev[j].data.u64;

			if (read(p->rfd[i], p->rbuf + (size_t)i * BENCH_READ,
				 BENCH_READ) != BENCH_READ)
				return errno ? -errno : -EIO;
			got++;
		}
	}
	if ((rc = bench_now(&t1)) < 0)
		return rc;
	*ns = t1 - t0;
	return bench_pipes_check(p);
}

/* tetherd's pipes (blocking, so reads of them go through its ring). */
static int bench_async_setup(struct bench_tetherd *bt, struct bench_pipes *p,
			     long n)
{
	int rc = bench_pipes_alloc(p, n);

	if (rc < 0)
		return rc;
	p->ids = calloc((size_t)n, sizeof(*p->ids));
	p->calls = calloc(BENCH_WBATCH, sizeof(*p->calls));
	p->sub = calloc(2 * (size_t)n, sizeof(*p->sub));
	p->done = calloc(TETHER_SUBMIT_MAX, sizeof(*p->done));
	if (!p->ids || !p->calls || !p->sub || !p->done)
		return -ENOMEM;
	for (long i = 0; i < n; i++) {
		int fds[2];

		long r = 0;

		if ((rc = tether_pipe2(bt->t, fds, O_CLOEXEC, &r)) < 0)
			return rc;
		if (r < 0)
			return (int)r;
		p->rfd[i] = fds[0];
		p->wfd[i] = fds[1];
	}
	return 0;
}

/* Submit one ASYNC read per pipe. */
static int bench_async_submit(struct bench_tetherd *bt, struct bench_pipes *p)
{
	for (long i = 0; i < p->n; i++) {
		struct tether_call c = {
			.nr = SYS_read,
			.nargs = 3,
			.args = { TETHER_INT(p->rfd[i]),
				  TETHER_OUT(p->rbuf + (size_t)i * BENCH_READ,
					     BENCH_READ),
				  TETHER_INT(BENCH_READ) },
			.flags = TETHER_CALL_ASYNC,
		};
		int rc = tether_call(bt->t, &c);

		if (rc < 0)
			return rc;
		p->ids[i] = c.async_id;
	}
	return 0;
}

/* 4 KiB into every pipe, BENCH_WBATCH writes a batch. */
static int bench_async_write(struct bench_tetherd *bt, struct bench_pipes *p,
			     bool ring)
{
	for (long base = 0; base < p->n; base += BENCH_WBATCH) {
		long m = p->n - base;
		int stopped, rc;

		if (m > BENCH_WBATCH)
			m = BENCH_WBATCH;
		for (long k = 0; k < m; k++) {
			long i = base + k;
			struct tether_call c = {
				.nr = SYS_write,
				.nargs = 3,
				.args = { TETHER_INT(p->wfd[i]),
					  TETHER_IN(p->wbuf +
						    (size_t)i * BENCH_READ,
						    BENCH_READ),
					  TETHER_INT(BENCH_READ) },
				.flags = ring ? 0 : TETHER_CALL_SYNC,
			};

			p->calls[k] = c;
		}
		rc = tether_batch(bt->t, p->calls, (size_t)m, 0, &stopped);
		if (rc < 0)
			return rc;
		for (long k = 0; k < m; k++)
			if (p->calls[k].ret != BENCH_READ)
				return p->calls[k].ret < 0 ?
				       (int)p->calls[k].ret : -EIO;
	}
	return 0;
}

/* COLLECT every read, its 4 KiB into rbuf. */
static int bench_async_collect(struct bench_tetherd *bt, struct bench_pipes *p)
{
	for (long i = 0; i < p->n; i++) {
		struct tether_call c = {
			.nargs = 3,
			.args = { TETHER_INT(p->rfd[i]),
				  TETHER_OUT(p->rbuf + (size_t)i * BENCH_READ,
					     BENCH_READ),
				  TETHER_INT(BENCH_READ) },
		};
		int rc = tether_collect(bt->t, p->ids[i], -1, &c);

		if (rc < 0)
			return rc;
		if (c.ret != BENCH_READ || c.args[1].returned != BENCH_READ)
			return c.ret < 0 ? (int)c.ret : -EIO;
	}
	return 0;
}

/* ---- the bulk path: SUBMIT, REAP ---------------------------------------- */

/* calls[0..n) by SUBMIT frames of at most per. */
static int bench_bulk_submit(struct bench_tetherd *bt, struct tether_call *calls,
			     long n, long per)
{
	for (long base = 0; base < n; base += per) {
		int rc = tether_submit_many(bt->t, calls + base,
					    (size_t)(n - base < per ? n - base
								   : per), 0);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Every read, then every write, submitted in bulk. */
static int bench_bulk_reads(struct bench_tetherd *bt, struct bench_pipes *p)
{
	for (long i = 0; i < p->n; i++)
		p->sub[i] = (struct tether_call){
			.nr = SYS_read,
			.nargs = 3,
			.args = { TETHER_INT(p->rfd[i]),
				  TETHER_OUT(p->rbuf + (size_t)i * BENCH_READ,
					     BENCH_READ),
				  TETHER_INT(BENCH_READ) },
		};
	return bench_bulk_submit(bt, p->sub, p->n, TETHER_SUBMIT_MAX);
}

static int bench_bulk_writes(struct bench_tetherd *bt, struct bench_pipes *p)
{
	struct tether_call *w = p->sub + p->n;

	for (long i = 0; i < p->n; i++)
		w[i] = (struct tether_call){
			.nr = SYS_write,
			.nargs = 3,
			.args = { TETHER_INT(p->wfd[i]),
				  TETHER_IN(p->wbuf + (size_t)i * BENCH_READ,
					    BENCH_READ),
				  TETHER_INT(BENCH_READ) },
		};
	return bench_bulk_submit(bt, w, p->n, BENCH_SUB_WRITES);
}

/* REAP until all 2n have come, each REAP waiting for as many as are
 * still out; every one must have moved its 4 KiB. */
static int bench_bulk_reap(struct bench_tetherd *bt, struct bench_pipes *p)
{
	long left = 2 * p->n;

	while (left > 0) {
		size_t min = left < TETHER_SUBMIT_MAX ? (size_t)left
						      : TETHER_SUBMIT_MAX;
		int k = tether_reap(bt->t, p->done, TETHER_SUBMIT_MAX, min, -1);

		if (k < 0)
			return k;
		if (k == 0)
			return -EPROTO;
		for (int j = 0; j < k; j++)
			if (p->done[j]->ret != BENCH_READ)
				return p->done[j]->ret < 0 ?
				       (int)p->done[j]->ret : -EIO;
		left -= k;
	}
	return 0;
}

/* One bulk cycle: submit every read, submit every write, reap. */
static int bench_bulk_cycle(struct bench_tetherd *bt, struct bench_pipes *p,
			    double *ns, struct bench_phases *ph)
{
	double t0 = 0, t1 = 0, t2 = 0, t3 = 0;
	int rc;

	bench_pipes_fill(p);
	memset(p->rbuf, 0, (size_t)p->n * BENCH_READ);
	if ((rc = bench_now(&t0)) < 0 ||
	    (rc = bench_bulk_reads(bt, p)) < 0 ||
	    (rc = bench_now(&t1)) < 0 ||
	    (rc = bench_bulk_writes(bt, p)) < 0 ||
	    (rc = bench_now(&t2)) < 0 ||
	    (rc = bench_bulk_reap(bt, p)) < 0 ||
	    (rc = bench_now(&t3)) < 0)
		return rc;
	*ns = t3 - t0;
	ph->submit = t1 - t0;
	ph->write = t2 - t1;
	ph->collect = t3 - t2;
	return bench_pipes_check(p);
}

/* One cycle: submit every read, batch-write every pipe, collect every
 * read. */
static int bench_async_cycle(struct bench_tetherd *bt, struct bench_pipes *p,
			     bool ring, double *ns, struct bench_phases *ph)
{
	double t0 = 0, t1 = 0, t2 = 0, t3 = 0;
	int rc;

	bench_pipes_fill(p);
	memset(p->rbuf, 0, (size_t)p->n * BENCH_READ);
	if ((rc = bench_now(&t0)) < 0 ||
	    (rc = bench_async_submit(bt, p)) < 0 ||
	    (rc = bench_now(&t1)) < 0 ||
	    (rc = bench_async_write(bt, p, ring)) < 0 ||
	    (rc = bench_now(&t2)) < 0 ||
	    (rc = bench_async_collect(bt, p)) < 0 ||
	    (rc = bench_now(&t3)) < 0)
		return rc;
	*ns = t3 - t0;
	ph->submit = t1 - t0;
	ph->write = t2 - t1;
	ph->collect = t3 - t2;
	return bench_pipes_check(p);
}

/* ---- measuring ------------------------------------------------------- */

/* CPU time (ns) this process, and pid (0: none), have used so far: what
 * a cycle costs whatever else the machine runs. */
static void bench_cpu(pid_t pid, double *self, double *other)
{
	struct timespec ts;
	clockid_t cid;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	*self = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
	*other = 0;
	if (pid > 0 && clock_getcpuclockid(pid, &cid) == 0 &&
	    clock_gettime(cid, &ts) == 0)
		*other = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct bench_ctx {
	const struct bench_opts *o;
	struct bench_tetherd *bt;
	struct bench_batch *batch;
	struct bench_pipes *ep;		/* the bench's pipes */
	struct bench_pipes *tp;		/* tetherd's */
	struct bench_results *res;
};

/* cycles bulk cycles after one untimed one, into the bulk series. */
static int bench_bulk_run(struct bench_ctx *x)
{
	struct bench_results *res = x->res;
	struct bench_phases ph, sum = { 0, 0, 0 };
	double ns = 0, total = 0, c0 = 0, s0 = 0, c1, s1;
	long n = x->o->cycles;
	int rc;

	for (long i = 0; i <= n; i++) {
		if (i == 1)
			bench_cpu(x->bt->pid, &c0, &s0);
		if ((rc = bench_bulk_cycle(x->bt, x->tp, &ns, &ph)) < 0) {
			bench_tether_failed(x->bt->t, "tether bulk cycle", rc,
					    &res->tether_ok, &res->tether_err);
			return 0;
		}
		if (!i)
			continue;
		total += ns;
		sum.submit += ph.submit;
		sum.write += ph.write;
		sum.collect += ph.collect;
	}
	bench_cpu(x->bt->pid, &c1, &s1);
	res->bulk.ns[res->bulk.n++] = total / (double)n;
	res->bulk_cpu.ns[res->bulk_cpu.n++] = (c1 - c0 + s1 - s0) / (double)n;
	res->bulk_cpu_srv.ns[res->bulk_cpu_srv.n++] = (s1 - s0) / (double)n;
	res->bsubmit.ns[res->bsubmit.n++] = sum.submit / (double)n;
	res->bwrite.ns[res->bwrite.n++] = sum.write / (double)n;
	res->breap.ns[res->breap.n++] = sum.collect / (double)n;
	return 0;
}

/* cycles pipe cycles of each kind after one untimed cycle; the mean per
 * cycle (and per phase) goes to the series. */
static int bench_pipe_run(struct bench_ctx *x)
{
	struct bench_results *res = x->res;
	struct bench_phases ph, sum = { 0, 0, 0 };
	double ns = 0, total = 0, c0 = 0, s0 = 0, c1, s1;
	long n = x->o->cycles;
	int rc;

	for (long i = 0; i <= n; i++) {
		if (i == 1)
			bench_cpu(0, &c0, &s0);
		if ((rc = bench_epoll_cycle(x->ep, &ns)) < 0)
			return bench_fail("epoll cycle", rc);
		total += i ? ns : 0;
	}
	bench_cpu(0, &c1, &s1);
	res->epoll.ns[res->epoll.n++] = total / (double)n;
	res->epoll_cpu.ns[res->epoll_cpu.n++] = (c1 - c0) / (double)n;
	if (!res->tether_ok)
		return 0;
	if ((rc = bench_bulk_run(x)) < 0 || !res->tether_ok ||
	    x->o->bulk_only)
		return rc;
	total = 0;
	for (long i = 0; i <= n; i++) {
		rc = bench_async_cycle(x->bt, x->tp, x->o->ring_writes, &ns,
				       &ph);
		if (rc < 0) {
			bench_tether_failed(x->bt->t, "tether pipe cycle", rc,
					    &res->tether_ok, &res->tether_err);
			return 0;
		}
		if (!i)
			continue;
		total += ns;
		sum.submit += ph.submit;
		sum.write += ph.write;
		sum.collect += ph.collect;
	}
	res->async.ns[res->async.n++] = total / (double)n;
	res->submit.ns[res->submit.n++] = sum.submit / (double)n;
	res->write.ns[res->write.n++] = sum.write / (double)n;
	res->collect.ns[res->collect.n++] = sum.collect / (double)n;
	return 0;
}

/* BENCH_RUNS rounds of every measurement, interleaved so that a slow
 * stretch of the machine hits all alike.  A tether failure stops only
 * the tether rows. */
static int bench_run_all(struct bench_ctx *x)
{
	const struct bench_opts *o = x->o;
	struct bench_results *res = x->res;
	struct bench_nullcall getpid = { SYS_getpid, x->bt->t };
	int rc;

	for (int run = 0; run < BENCH_RUNS; run++) {
		rc = bench_measure(bench_direct, &getpid,
				   o->warmup * BENCH_BATCH,
				   o->iterations * BENCH_BATCH, &res->direct);
		if (rc < 0)
			return bench_fail("direct getpid", rc);
		if (res->tether_ok) {
			rc = bench_measure(bench_tether, &getpid, o->warmup,
					   o->iterations, &res->getpid);
			if (rc < 0)
				bench_tether_failed(x->bt->t, "tether_getpid",
						    rc, &res->tether_ok,
						    &res->tether_err);
		}
		if (res->tether_ok) {
			rc = bench_measure(bench_batch, x->batch, o->warmup,
					   o->iterations, &res->batch);
			if (rc < 0)
				bench_tether_failed(x->bt->t, "tether_batch",
						    rc, &res->tether_ok,
						    &res->tether_err);
		}
		if ((rc = bench_pipe_run(x)) < 0)
			return rc;
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* A pipe cycle row: us per cycle, then reads/s and MB/s of the median. */
static void bench_print_cycle(const struct bench_opts *o, const char *name,
			      const struct bench_series *s, bool rates)
{
	double med = bench_median(s);

	bench_print_cells(name, s, BENCH_US);
	if (rates && s->n)
		printf(" %12.0f %10.1f", (double)o->pipes / (med / 1e9),
		       (double)o->pipes * BENCH_READ / 1e6 / (med / 1e9));
	printf("\n");
}
/* The ratios: [0] batched getpid / direct, [1] round trip / direct,
 * [2] round trip / batched, [3] tether bulk / epoll reads/s, [4] tether
 * per request / epoll, [5] bulk / epoll by CPU time per cycle. */
static void bench_ratios(const struct bench_results *res, double r[6])
{
	double per = bench_median(&res->batch);

	per = per > 0 ? per / BENCH_BATCH : -1;
	r[0] = bench_ratio(per, bench_median(&res->direct));
	r[1] = bench_ratio(bench_median(&res->getpid),
			   bench_median(&res->direct));
	r[2] = bench_ratio(bench_median(&res->getpid), per);
	r[3] = bench_ratio(bench_median(&res->epoll),
			   bench_median(&res->bulk));
	r[4] = bench_ratio(bench_median(&res->epoll),
			   bench_median(&res->async));
	r[5] = bench_ratio(bench_median(&res->epoll_cpu),
			   bench_median(&res->bulk_cpu));
}

/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_results *res)
{
	struct bench_unit per_getpid = { "ns", BENCH_BATCH, 0, NULL };
	long nb = (o->pipes + BENCH_WBATCH - 1) / BENCH_WBATCH;
	double r[6];

	bench_ratios(res, r);
	bench_layout.width = 36;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, tetherd %s\n", res->cpus_self,
	       res->cpus_tetherd[0] ? res->cpus_tetherd : "n/a");
	printf("getpid: %ld round trips x %d runs (warmup %ld), %d per batch;"
	       " direct: %ld calls a run\n", o->iterations, BENCH_RUNS,
	       o->warmup, BENCH_BATCH, o->iterations * BENCH_BATCH);
	printf("pipes: %ld concurrent %d B reads a cycle, %ld cycles x %d "
	       "runs (+1 untimed); writes %s\n\n", o->pipes, BENCH_READ,
	       o->cycles, BENCH_RUNS, o->ring_writes ?
	       "through the ring" : "TETHER_CALL_SYNC (direct in tetherd)");
	bench_print_heads("", "ns/op median", "min run", "max run");
	bench_print_row("direct getpid", &res->direct, BENCH_NS);
	bench_print_row("tether getpid round trip", &res->getpid, BENCH_NS);
	printf("tether batch of %d getpid:\n", BENCH_BATCH);
	bench_print_row("  per round trip", &res->batch, BENCH_NS);
	bench_print_row("  per getpid", &res->batch, per_getpid);
	printf("\n");
	bench_print_ratio("batched getpid / direct", r[0]);
	bench_print_ratio("getpid round trip / direct", r[1]);
	bench_print_ratio("getpid round trip / batched", r[2]);
	printf("target: batched getpid <= %.0fx direct: %s\n\n", BENCH_TARGET,
	       bench_verdict(r[0], BENCH_TARGET, true));
	printf("%-36s %12s %12s %12s %12s %10s\n", "pipe reads, one cycle",
	       "us median", "min run", "max run", "reads/s", "MB/s");
	bench_print_cycle(o, "epoll loop, one process", &res->epoll, true);
	bench_print_cycle(o, "tether SUBMIT+REAP (bulk)", &res->bulk, true);
	printf("  of which:\n");
	bench_print_cycle(o, "  submit reads (SUBMIT)", &res->bsubmit, false);
	bench_print_cycle(o, "  submit writes (SUBMIT)", &res->bwrite, false);
	bench_print_cycle(o, "  reap (REAP, many a frame)", &res->breap, false);
	bench_print_cycle(o, "epoll loop: CPU time", &res->epoll_cpu, false);
	bench_print_cycle(o, "bulk: CPU time, both processes", &res->bulk_cpu,
			  false);
	bench_print_cycle(o, "  of which tetherd's", &res->bulk_cpu_srv, false);
	bench_print_cycle(o, "tether ASYNC+BATCH+COLLECT", &res->async, true);
	printf("  of which:\n");
	bench_print_cycle(o, "  submit (ASYNC read each)", &res->submit, false);
	bench_print_cycle(o, "  write (BATCH of <= 256)", &res->write, false);
	bench_print_cycle(o, "  collect (COLLECT each)", &res->collect, false);
	printf("\n");
	bench_print_ratio("reads/s: tether bulk / epoll", r[3]);
	bench_print_ratio("reads/s: per request / epoll", r[4]);
	bench_print_ratio("CPU time: epoll / tether bulk", r[5]);
	printf("note: a bulk cycle is %ld SUBMIT of reads, %ld of writes "
	       "(%d a frame) and\nabout %ld REAPs (a reply frame holds ~500 "
	       "4 KiB reads); the per-request\ncycle is %ld + %ld + %ld = %ld "
	       "round trips: one SYSCALL per ASYNC read, %ld\nBATCH for the "
	       "writes, one COLLECT per read.  The epoll loop registered its\n"
	       "pipes once, untimed.  MB = 10^6 B.\n",
	       (o->pipes + TETHER_SUBMIT_MAX - 1) / TETHER_SUBMIT_MAX,
	       (o->pipes + BENCH_SUB_WRITES - 1) / BENCH_SUB_WRITES,
	       BENCH_SUB_WRITES, o->pipes / 500 + 2,
	       o->pipes, nb, o->pipes, 2 * o->pipes + nb, nb);
	if (!res->tether_ok)
		printf("tether rows incomplete: %s\n",
		       strerror(-res->tether_err));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_results *res)
{
	struct bench_unit per_getpid = { "ns", BENCH_BATCH, 0, NULL };
	double r[6], ea = bench_median(&res->epoll),
		     ta = bench_median(&res->bulk);

	bench_ratios(res, r);
	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"tetherd\": \"%s\"},\n",
	       res->cpus_self, res->cpus_tetherd);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n"
	       "  \"batch\": %d,\n  \"pipes\": %ld,\n  \"cycles\": %ld,\n"
	       "  \"read_bytes\": %d,\n  \"ring_writes\": %s,\n",
	       o->iterations, o->warmup, BENCH_RUNS, BENCH_BATCH, o->pipes,
	       o->cycles, BENCH_READ, o->ring_writes ? "true" : "false");
	bench_json_series("direct_getpid", &res->direct, BENCH_NS);
	bench_json_series("tether_getpid", &res->getpid, BENCH_NS);
	bench_json_series("tether_batch_roundtrip", &res->batch, BENCH_NS);
	bench_json_series("tether_batch_per_getpid", &res->batch, per_getpid);
	bench_json_series("epoll_cycle", &res->epoll, BENCH_US);
	bench_json_series("tether_bulk_cycle", &res->bulk, BENCH_US);
	bench_json_series("tether_bulk_submit", &res->bsubmit, BENCH_US);
	bench_json_series("tether_bulk_write", &res->bwrite, BENCH_US);
	bench_json_series("tether_bulk_reap", &res->breap, BENCH_US);
	bench_json_series("epoll_cycle_cpu", &res->epoll_cpu, BENCH_US);
	bench_json_series("tether_bulk_cycle_cpu", &res->bulk_cpu, BENCH_US);
	bench_json_series("tether_bulk_cycle_cpu_tetherd", &res->bulk_cpu_srv,
			  BENCH_US);
	bench_json_series("tether_cycle", &res->async, BENCH_US);
	bench_json_series("tether_submit", &res->submit, BENCH_US);
	bench_json_series("tether_write", &res->write, BENCH_US);
	bench_json_series("tether_collect", &res->collect, BENCH_US);
	if (ea > 0)
		printf("  \"epoll_reads_s\": %.0f,\n  \"epoll_mb_s\": %.1f,\n",
		       (double)o->pipes / (ea / 1e9),
		       (double)o->pipes * BENCH_READ / 1e6 / (ea / 1e9));
	if (ta > 0)
		printf("  \"tether_reads_s\": %.0f,\n"
		       "  \"tether_mb_s\": %.1f,\n",
		       (double)o->pipes / (ta / 1e9),
		       (double)o->pipes * BENCH_READ / 1e6 / (ta / 1e9));
	bench_json_ratio("ratio_batched_direct", r[0], false);
	bench_json_ratio("ratio_roundtrip_direct", r[1], false);
	bench_json_ratio("ratio_roundtrip_batched", r[2], false);
	bench_json_ratio("ratio_reads_tether_epoll", r[3], false);
	bench_json_ratio("ratio_reads_per_request_epoll", r[4], false);
	bench_json_ratio("ratio_cpu_epoll_tether_bulk", r[5], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("target_met", r[0], BENCH_TARGET, true, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 5000, .warmup = 500,
				.pipes = 1000, .cycles = 3 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup,
				 LONG_MAX / BENCH_BATCH),
		{ .name = "pipes", .help = "concurrent pipe reads a cycle",
		  .num = &o.pipes, .min = 1, .max = BENCH_PIPES_MAX },
		{ .name = "cycles", .help = "pipe cycles per run",
		  .num = &o.cycles, .min = 1, .max = 1000 },
		{ .name = "ring-writes", .flag = &o.ring_writes,
		  .help = "the batched writes go through tetherd's ring\n"
			  "                 (else TETHER_CALL_SYNC, run "
			  "directly)" },
		{ .name = "bulk-only", .flag = &o.bulk_only,
		  .help = "time only the bulk pipe row (to profile it)" },
		{ .name = NULL },
	};
	struct bench_tetherd bt = { 0 };
	struct bench_batch batch = { 0 };
	struct bench_pipes ep = { .epfd = -1 }, tp = { .epfd = -1 };
	struct bench_results res = { 0 };
	struct bench_ctx x = { &o, &bt, &batch, &ep, &tp, &res };
	int rc, status = 0;

	if (bench_args_parse(argc, argv, "tetherd", opts, &o.a) < 0)
		return 2;
	if (bench_setup(o.a.pin) < 0)
		return 1;
	rc = bench_tetherd_start(&bt, NULL, "tetherd", o.a.tetherd, NULL,
				 o.a.pin);
	res.tether_ok = rc == 0;
	res.tether_err = rc;
	if (rc < 0)
		status = 1;
	/* After tetherd's start: it keeps its own fd limit. */
	rc = bench_nofile(2 * o.pipes + 64);
	if (rc == 0)
		rc = bench_epoll_setup(&ep, o.pipes);
	if (rc < 0) {
		bench_fail("making the bench's pipes", rc);
		status = 1;
		goto out;
	}
	batch.bt = &bt;
	for (unsigned k = 0; k < BENCH_BATCH; k++)
		batch.calls[k].nr = SYS_getpid;
	if (res.tether_ok && (rc = bench_async_setup(&bt, &tp, o.pipes)) < 0)
		bench_tether_failed(bt.t, "making tetherd's pipes", rc,
				    &res.tether_ok, &res.tether_err);
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	if (bt.t)
		bench_cpus(bt.pid, res.cpus_tetherd, sizeof(res.cpus_tetherd));
	if (bench_run_all(&x) < 0 || !res.tether_ok)
		status = 1;
	if (o.a.json)
		bench_print_json(&o, &res);
	else
		bench_print_table(&o, &res);
out:
	bench_epoll_teardown(&ep);
	bench_pipes_free(&tp);
	if (bench_tetherd_stop(&bt) < 0)
		status = 1;
	return status;
}
