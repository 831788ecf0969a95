/*
 * bench_scale: what one request, a listing and a reconnect cost as the
 * server holds more -- fds, workers, observers -- measured in one run
 * against the smallest configuration.
 *
 * One tetherd goes through these configurations, one dimension moved at
 * a time, then everything at its largest:
 *
 *   fds        10, 1,000, 100,000 fds held (dups of /dev/null; 0-2
 *              count), with 1 worker and 1 observer
 *   workers    1, 100, 1,000 workers (sleep 900), with 10 fds
 *   observers  1, 32 observer connections (attached read-only)
 *   all        100,000 fds, 1,000 workers, 32 observers
 *
 * In each: the null request (a getpid round trip), LIST_FDS (every
 * page), PS (every page), an attach (tether_connect and detach, as
 * bench_reconnect times it) and a reconnect (tether_reconnect: the attach
 * and re-holding the labeled fds, what a restarted controller does),
 * each BENCH_RUNS times; the median of the per-run means is reported,
 * with each configuration's ratio to the smallest one and, for the
 * listings, the cost per listed item.  The request must stay flat
 * (within BENCH_FLAT_TARGET) and the listings grow linearly (their
 * per-item cost at most BENCH_LINEAR_TARGET times the 1,000-item one's).
 * Timing is only reported, never judged: the exit status says whether
 * something broke, not whether tether was fast.
 *
 * 100,000 fds need RLIMIT_NOFILE above that for tetherd, which inherits
 * ours: it is raised (hard limit too, where allowed); what cannot be
 * had lowers --fds, and the report says so.  Workers are sleep
 * processes; the bench's end shuts tetherd down with force, which
 * SIGTERMs them (an interrupted bench SIGKILLs tetherd and leaves them
 * to init, where they end within 15 minutes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS 5
#define BENCH_FLAT_TARGET 1.2		/* a request, largest / smallest */
#define BENCH_LINEAR_TARGET 1.5		/* per-item listing cost, vs 1,000 */
#define BENCH_CONFIGS 8
#define BENCH_LABEL "bench-scale"	/* the fd tether_reconnect re-holds */
#define BENCH_IFD_BAND 8192		/* tetherd's own fds' band */
#define BENCH_FD_MARGIN 512		/* sockets, pidfds, the listing's dir */
#define BENCH_BUSY_TRIES 1000		/* EBUSY retries of one attach */
#define BENCH_LIST_ITEMS 20000		/* items listed per run, about */
#define BENCH_LIST_CALLS 20		/* listings per run, at most */
#define BENCH_BATCH 256			/* dups a round trip (BATCH's most) */

struct bench_opts {
	struct bench_args a;
	long iterations;		/* requests per run */
	long warmup;
	long fds;			/* the largest fd count */
	long workers;			/* the largest worker count */
	long observers;			/* the largest observer count */
	long attaches;			/* attaches (and reconnects) per run */
};

/* One configuration and what it measured. */
struct bench_config {
	const char *group;		/* fds, workers, observers, all */
	long fds, workers, observers;
	struct bench_series request;	/* ns per getpid */
	struct bench_series request_cpu;	/* tetherd's loop CPU ns per getpid */
	struct bench_series list_fds;	/* ns per LIST_FDS */
	struct bench_series ps;		/* ns per PS */
	struct bench_series attach;	/* ns per connect + disconnect */
	struct bench_series reconnect;	/* ns per tether_reconnect + detach */
	size_t listed_fds;		/* what LIST_FDS returned */
	size_t listed_workers;
	bool ran;
};

/* The server and what it holds now. */
struct bench_state {
	struct bench_tetherd d;
	int fd0;			/* /dev/null, labeled; the dups' source */
	long fds;			/* non-internal fds held, 0-2 included */
	long workers;
	struct tether *obs[256];
	long observers;
	long busy;			/* EBUSY answers to an attach */
	char rlimit_note[128];
};

static volatile long bench_sink;

/* ---- setting up ------------------------------------------------------ */

/* Room for want fds in tetherd (which inherits our limit) beside its own
 * band; *got: the fd count the limit allows.  The controller's fds are
 * 0-1023 and what lies above the band, so all but the band's numbers
 * (and a margin for our own and the server's sockets) can be held. */
static void bench_nofile(long want, long *got, char *note, size_t size)
{
	rlim_t need = (rlim_t)want + BENCH_IFD_BAND + BENCH_FD_MARGIN;
	struct rlimit rl;

	*got = want;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	/* Without CAP_SYS_RESOURCE the hard limit is what there is. */
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur > BENCH_IFD_BAND + BENCH_FD_MARGIN + 10)
		*got = (long)(rl.rlim_cur - BENCH_IFD_BAND - BENCH_FD_MARGIN);
	else
		*got = 10;
	snprintf(note, size, "RLIMIT_NOFILE hard limit %llu (no "
		 "CAP_SYS_RESOURCE): fds capped at %ld",
		 (unsigned long long)rl.rlim_cur, *got);
}

/* The first fd: /dev/null, labeled, the source of every dup. */
static int bench_fd0(struct bench_state *s)
{
	long ret = 0;
	int rc;

	rc = tether_openat(s->d.t, AT_FDCWD, "/dev/null", O_RDONLY, 0, &ret);
	if (rc < 0)
		return rc;
	if (ret < 0)
		return (int)ret;
	s->fd0 = (int)ret;
	return tether_label(s->d.t, s->fd0, BENCH_LABEL);
}

/* Non-internal fds the server holds now, by listing them. */
static int bench_count_fds(struct bench_state *s)
{
	struct tether_fdinfo *v = NULL;
	size_t n = 0;
	int rc = tether_list_fds(s->d.t, &v, &n, NULL, NULL);

	tether_free(v);
	if (rc < 0)
		return rc;
	s->fds = (long)n;
	return 0;
}

/* Up to want fds: dups of fd0, a BATCH of them a round trip. */
static int bench_grow_fds(struct bench_state *s, long want)
{
	static struct tether_call calls[BENCH_BATCH];

	while (s->fds < want) {
		size_t n = (size_t)(want - s->fds);
		int stopped, rc;

		if (n > BENCH_BATCH)
			n = BENCH_BATCH;
		for (size_t i = 0; i < n; i++) {
			calls[i] = (struct tether_call){ .nr = SYS_dup,
							 .nargs = 1 };
			calls[i].args[0] = TETHER_INT(s->fd0);
		}
		rc = tether_batch(s->d.t, calls, n, TETHER_BATCH_STOP,
				  &stopped);
		if (rc < 0)
			return rc;
		if (stopped >= 0)
			return calls[stopped].ret < 0 ? (int)calls[stopped].ret
						      : -EIO;
		s->fds += (long)n;
	}
	return 0;
}

/* Down to want fds: GC keeps fd0 (labeled) and the lowest others. */
static int bench_shrink_fds(struct bench_state *s, long want)
{
	int keep[16], *closed = NULL, nkeep = 0, rc;
	size_t nclosed = 0;

	/* 0-2 and fd0 stay anyway; keep the next ones up to want. */
	for (int fd = 3; nkeep < (int)(sizeof(keep) / sizeof(keep[0])) &&
			 3 + nkeep + 1 < want; fd++)
		if (fd != s->fd0)
			keep[nkeep++] = fd;
	rc = tether_gc(s->d.t, keep, (size_t)nkeep, 0, &closed, &nclosed);
	tether_free(closed);
	if (rc < 0)
		return rc;
	if ((rc = bench_count_fds(s)) < 0)
		return rc;
	return bench_grow_fds(s, want);
}

/* Up to want sleeping workers. */
static int bench_grow_workers(struct bench_state *s, long want)
{
	/* Bounded: an interrupted bench leaves them behind (see above). */
	static const char *const argv[] = { "sleep", "900", NULL };
	struct tether_spawn sp = { 0 };

	sp.argv = argv;
	while (s->workers < want) {
		pid_t pid;
		int rc = tether_spawn(s->d.t, &sp, &pid);

		if (rc < 0)
			return rc;
		s->workers++;
	}
	return 0;
}

/* Down to want workers: SIGKILL the rest, wait for each, forget it. */
static int bench_shrink_workers(struct bench_state *s, long want)
{
	struct tether_worker *v = NULL, w;
	size_t n = 0;
	int rc = tether_ps(s->d.t, &v, &n);

	for (size_t i = 0; rc == 0 && i < n && s->workers > want; i++) {
		char target[24];

		if (v[i].state != TETHER_W_RUNNING)
			continue;
		snprintf(target, sizeof(target), "%d", (int)v[i].pid);
		if ((rc = tether_kill(s->d.t, target, SIGKILL)) < 0 ||
		    (rc = tether_wait(s->d.t, target, -1, &w)) < 0 ||
		    (rc = tether_ack(s->d.t, target)) < 0)
			break;
		s->workers--;
	}
	tether_free(v);
	return rc;
}

/* Observers up or down to want. */
static int bench_set_observers(struct bench_state *s, long want)
{
	while (s->observers > want)
		tether_disconnect(s->obs[--s->observers]);
	while (s->observers < want) {
		int rc = tether_connect(s->d.sock, TETHER_CONNECT_OBSERVE,
					&s->obs[s->observers]);

		if (rc < 0) {
			fprintf(stderr, "bench: observer %ld: %s (%s)\n",
				s->observers + 1, strerror(-rc),
				tether_last_error(NULL));
			return rc;
		}
		s->observers++;
	}
	return 0;
}

static int bench_configure(struct bench_state *s,
			   const struct bench_config *c)
{
	int rc = 0;

	if (c->fds > s->fds)
		rc = bench_grow_fds(s, c->fds);
	else if (c->fds < s->fds)
		rc = bench_shrink_fds(s, c->fds);
	if (rc == 0 && c->workers > s->workers)
		rc = bench_grow_workers(s, c->workers);
	else if (rc == 0 && c->workers < s->workers)
		rc = bench_shrink_workers(s, c->workers);
	if (rc == 0)
		rc = bench_set_observers(s, c->observers);
	return rc;
}

/* ---- the measured calls --------------------------------------------- */

struct bench_ctx {
	struct bench_state *s;
	struct bench_config *c;
};

static int bench_list_fds(void *ctx, long n)
{
	struct bench_ctx *x = ctx;

	for (long i = 0; i < n; i++) {
		struct tether_fdinfo *v = NULL;
		size_t nv = 0;
		int rc = tether_list_fds(x->s->d.t, &v, &nv, NULL, NULL);

		tether_free(v);
		if (rc < 0)
			return rc;
		x->c->listed_fds = nv;
	}
	return 0;
}

static int bench_ps(void *ctx, long n)
{
	struct bench_ctx *x = ctx;

	for (long i = 0; i < n; i++) {
		struct tether_worker *v = NULL;
		size_t nv = 0;
		int rc = tether_ps(x->s->d.t, &v, &nv);

		tether_free(v);
		if (rc < 0)
			return rc;
		x->c->listed_workers = nv;
	}
	return 0;
}

/* The controller's attach, retried at once while tetherd has not yet
 * seen our previous detach (EBUSY). */
static int bench_attach_once(struct bench_state *s, bool reconnect,
			     struct tether **t)
{
	int rc, tries = 0;

	do
		rc = reconnect ? tether_reconnect(s->d.sock, 0, t)
			       : tether_connect(s->d.sock, 0, t);
	while (rc == -EBUSY && ++tries < BENCH_BUSY_TRIES);
	s->busy += tries;
	if (rc < 0)
		fprintf(stderr, "bench: %s: %s (%s)\n",
			reconnect ? "tether_reconnect" : "tether_connect",
			strerror(-rc), tether_last_error(NULL));
	return rc;
}

/* n detach + attach cycles of the controller, which stays attached. */
static int bench_cycle(struct bench_state *s, long n, bool reconnect)
{
	for (long i = 0; i < n; i++) {
		int rc;

		tether_disconnect(s->d.t);
		s->d.t = NULL;
		if ((rc = bench_attach_once(s, reconnect, &s->d.t)) < 0)
			return rc;
	}
	return 0;
}

static int bench_attach(void *ctx, long n)
{
	return bench_cycle(((struct bench_ctx *)ctx)->s, n, false);
}

static int bench_reconnect(void *ctx, long n)
{
	return bench_cycle(((struct bench_ctx *)ctx)->s, n, true);
}

/* CPU time tetherd's main thread (the loop) has run, ns: what a request
 * costs the server, whatever else the machine runs meanwhile. */
static int bench_loop_cpu(pid_t pid, double *ns)
{
	char path[64];
	unsigned long long run = 0;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if (!(f = fopen(path, "re")))
		return -errno;
	ok = fscanf(f, "%llu", &run) == 1;
	fclose(f);
	if (!ok)
		return -EIO;
	*ns = (double)run;
	return 0;
}

/* The requests of one run, timed, and the loop's CPU time they took. */
static int bench_requests(const struct bench_opts *o, struct bench_state *s,
			  struct bench_config *c)
{
	struct bench_nullcall getpid = { SYS_getpid, s->d.t };
	double c0 = 0, c1 = 0;
	int rc;

	if ((rc = bench_tether(&getpid, o->warmup)) < 0 ||
	    (rc = bench_loop_cpu(s->d.pid, &c0)) < 0 ||
	    (rc = bench_measure(bench_tether, &getpid, 0, o->iterations,
				&c->request)) < 0 ||
	    (rc = bench_loop_cpu(s->d.pid, &c1)) < 0)
		return rc;
	c->request_cpu.ns[c->request_cpu.n++] = (c1 - c0) /
						(double)o->iterations;
	return 0;
}

/* Calls a run makes of a listing of items things: about
 * BENCH_LIST_ITEMS items listed a run, 1 to BENCH_LIST_CALLS calls. */
static long bench_list_calls(long items)
{
	long n = BENCH_LIST_ITEMS / (items > 0 ? items : 1);

	return n < 1 ? 1 : n > BENCH_LIST_CALLS ? BENCH_LIST_CALLS : n;
}

/* Every measurement of c, BENCH_RUNS times, interleaved. */
static int bench_measure_config(const struct bench_opts *o,
				struct bench_state *s, struct bench_config *c)
{
	struct bench_ctx x = { s, c };
	long nl = bench_list_calls(s->fds), np = bench_list_calls(s->workers);
	long na = o->attaches;
	int rc;

	for (int run = 0; run < BENCH_RUNS; run++) {
		if ((rc = bench_requests(o, s, c)) < 0)
			return bench_fail("getpid", rc);
		/* A listing of 100,000 fds is its own warmup. */
		if ((rc = bench_measure(bench_list_fds, &x, nl > 1, nl,
					&c->list_fds)) < 0)
			return bench_fail("LIST_FDS", rc);
		if ((rc = bench_measure(bench_ps, &x, np > 1, np, &c->ps)) < 0)
			return bench_fail("PS", rc);
		if ((rc = bench_measure(bench_attach, &x, 1, na,
					&c->attach)) < 0)
			return bench_fail("attach", rc);
		if ((rc = bench_measure(bench_reconnect, &x, 1, na,
					&c->reconnect)) < 0)
			return bench_fail("reconnect", rc);
	}
	c->ran = true;
	return 0;
}

/* ---- the configurations ------------------------------------------------ */

static struct bench_config bench_config(const char *group, long fds,
					long workers, long observers)
{
	struct bench_config c;

	memset(&c, 0, sizeof(c));
	c.group = group;
	c.fds = fds;
	c.workers = workers;
	c.observers = observers;
	return c;
}

static int bench_configs(const struct bench_opts *o, struct bench_config *v)
{
	long mid_fds = o->fds < 1000 ? o->fds : 1000;
	long mid_w = o->workers < 100 ? o->workers : 100;
	int n = 0;

	v[n++] = bench_config("base", 10, 1, 1);
	v[n++] = bench_config("fds", mid_fds, 1, 1);
	v[n++] = bench_config("fds", o->fds, 1, 1);
	v[n++] = bench_config("workers", 10, mid_w, 1);
	v[n++] = bench_config("workers", 10, o->workers, 1);
	v[n++] = bench_config("observers", 10, 1, o->observers);
	v[n++] = bench_config("all", o->fds, o->workers, o->observers);
	return n;
}

/* ---- reporting -------------------------------------------------------- */

static double bench_med(const struct bench_series *s)
{
	return bench_median(s);
}

/* Per-item cost of a listing, ns (-1 when not measured). */
static double bench_per_item(const struct bench_series *s, size_t items)
{
	double m = bench_med(s);

	return m > 0 && items ? m / (double)items : -1;
}

/* The verdicts: the largest request ratio over the fds and workers
 * configurations (observers are reported, not judged), and the per-item
 * cost of the largest listing against the 1,000-item one. */
struct bench_verdicts {
	double request_max;		/* over fds and workers */
	double cpu_max;			/* the same, of the loop's CPU time */
	double request_observers;
	double list_fds_linear;		/* per fd, largest / 1,000 */
	double ps_linear;		/* per worker, largest / 100 */
};

static void bench_judge(const struct bench_config *v, int n,
			struct bench_verdicts *j)
{
	double base = bench_med(&v[0].request);
	double cbase = bench_med(&v[0].request_cpu);

	j->request_max = j->request_observers = j->cpu_max = -1;
	for (int i = 1; i < n; i++) {
		double r = bench_ratio(bench_med(&v[i].request), base);
		double rc = bench_ratio(bench_med(&v[i].request_cpu), cbase);

		if (!strcmp(v[i].group, "observers")) {
			j->request_observers = r;
		} else if (strcmp(v[i].group, "all")) {
			if (r > j->request_max)
				j->request_max = r;
			if (rc > j->cpu_max)
				j->cpu_max = rc;
		}
	}
	j->list_fds_linear = bench_ratio(
		bench_per_item(&v[2].list_fds, v[2].listed_fds),
		bench_per_item(&v[1].list_fds, v[1].listed_fds));
	j->ps_linear = bench_ratio(
		bench_per_item(&v[4].ps, v[4].listed_workers),
		bench_per_item(&v[3].ps, v[3].listed_workers));
}

static void bench_print_config(const struct bench_config *c,
			       const struct bench_config *base)
{
	printf("%-9s %7ld %5ld %3ld  %7.0f %5.2f %6.0f %5.2f  %9.1f %5.0f"
	       "  %8.1f %6.0f  %7.1f %5.2f  %8.1f %6.2f\n",
	       c->group, c->fds, c->workers, c->observers,
	       bench_med(&c->request),
	       bench_ratio(bench_med(&c->request), bench_med(&base->request)),
	       bench_med(&c->request_cpu),
	       bench_ratio(bench_med(&c->request_cpu),
			   bench_med(&base->request_cpu)),
	       bench_med(&c->list_fds) / 1e3,
	       bench_per_item(&c->list_fds, c->listed_fds),
	       bench_med(&c->ps) / 1e3,
	       bench_per_item(&c->ps, c->listed_workers),
	       bench_med(&c->attach) / 1e3,
	       bench_ratio(bench_med(&c->attach), bench_med(&base->attach)),
	       bench_med(&c->reconnect) / 1e3,
	       bench_ratio(bench_med(&c->reconnect),
			   bench_med(&base->reconnect)));
}

static void bench_print_table(const struct bench_opts *o,
			      const struct bench_state *s,
			      const struct bench_config *v, int n,
			      const char *cpus_self, const char *cpus_tetherd)
{
	struct bench_verdicts j;

	bench_judge(v, n, &j);
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, tetherd %s\n", cpus_self, cpus_tetherd);
	printf("requests: %ld x %d runs (warmup %ld); listings: ~%d items "
	       "(1-%d calls) a run; attaches: %ld a run\n", o->iterations,
	       BENCH_RUNS, o->warmup, BENCH_LIST_ITEMS, BENCH_LIST_CALLS,
	       o->attaches);
	if (s->rlimit_note[0])
		printf("note: %s\n", s->rlimit_note);
	printf("\n%-9s %7s %5s %3s  %7s %5s %6s %5s  %9s %5s  %8s %6s  %7s "
	       "%5s  %8s %6s\n", "", "fds", "wrk", "obs", "req ns", "x",
	       "cpu ns", "x",
	       "LIST us", "ns/fd", "PS us", "ns/w", "attach", "x",
	       "reconn", "x");
	for (int i = 0; i < n; i++)
		if (v[i].ran)
			bench_print_config(&v[i], &v[0]);
	printf("(req ns: a getpid round trip; cpu ns: what it cost tetherd's "
	       "loop thread;\n attach and reconn in us; x: ratio to the "
	       "first row)\n\n");
	bench_layout.width = 40;
	bench_print_ratio("request: largest / smallest (fds, workers)",
			  j.request_max);
	bench_print_ratio("request CPU: largest / smallest", j.cpu_max);
	bench_print_ratio("request: most observers / 1", j.request_observers);
	bench_print_ratio("LIST_FDS per fd: largest / 1,000", j.list_fds_linear);
	bench_print_ratio("PS per worker: largest / 100", j.ps_linear);
	printf("target: request flat within %.2f: %s (wall), %s (CPU)\n",
	       BENCH_FLAT_TARGET,
	       bench_verdict(j.request_max, BENCH_FLAT_TARGET, true),
	       bench_verdict(j.cpu_max, BENCH_FLAT_TARGET, true));
	printf("target: listings linear within %.2f: %s, %s\n",
	       BENCH_LINEAR_TARGET,
	       bench_verdict(j.list_fds_linear, BENCH_LINEAR_TARGET, true),
	       bench_verdict(j.ps_linear, BENCH_LINEAR_TARGET, true));
}

static void bench_json_config(const struct bench_config *c,
			      const struct bench_config *base, bool last)
{
	printf("    {\"group\": \"%s\", \"fds\": %ld, \"workers\": %ld, "
	       "\"observers\": %ld, \"request_ns\": %.1f, "
	       "\"ratio_request\": %.3f, \"request_cpu_ns\": %.1f, "
	       "\"ratio_request_cpu\": %.3f, \"list_fds_us\": %.1f, "
	       "\"listed_fds\": %zu, \"list_fds_ns_per_fd\": %.1f, "
	       "\"ps_us\": %.1f, \"listed_workers\": %zu, "
	       "\"ps_ns_per_worker\": %.1f, \"attach_us\": %.1f, "
	       "\"ratio_attach\": %.3f, \"reconnect_us\": %.1f, "
	       "\"ratio_reconnect\": %.3f}%s\n",
	       c->group, c->fds, c->workers, c->observers,
	       bench_med(&c->request),
	       bench_ratio(bench_med(&c->request), bench_med(&base->request)),
	       bench_med(&c->request_cpu),
	       bench_ratio(bench_med(&c->request_cpu),
			   bench_med(&base->request_cpu)),
	       bench_med(&c->list_fds) / 1e3, c->listed_fds,
	       bench_per_item(&c->list_fds, c->listed_fds),
	       bench_med(&c->ps) / 1e3, c->listed_workers,
	       bench_per_item(&c->ps, c->listed_workers),
	       bench_med(&c->attach) / 1e3,
	       bench_ratio(bench_med(&c->attach), bench_med(&base->attach)),
	       bench_med(&c->reconnect) / 1e3,
	       bench_ratio(bench_med(&c->reconnect),
			   bench_med(&base->reconnect)),
	       last ? "" : ",");
}

static void bench_print_json(const struct bench_opts *o,
			     const struct bench_state *s,
			     const struct bench_config *v, int n)
{
	struct bench_verdicts j;
	int last = -1;

	bench_judge(v, n, &j);
	for (int i = 0; i < n; i++)
		if (v[i].ran)
			last = i;
	bench_json_head(o->a.pin);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n",
	       o->iterations, o->warmup, BENCH_RUNS);
	printf("  \"rlimit_note\": \"%s\",\n  \"attach_busy\": %ld,\n",
	       s->rlimit_note, s->busy);
	printf("  \"configs\": [\n");
	for (int i = 0; i < n; i++)
		if (v[i].ran)
			bench_json_config(&v[i], &v[0], i == last);
	printf("  ],\n");
	bench_json_ratio("ratio_request_max", j.request_max, false);
	bench_json_ratio("ratio_request_cpu_max", j.cpu_max, false);
	bench_json_ratio("ratio_request_observers", j.request_observers,
			 false);
	bench_json_ratio("ratio_list_fds_per_fd", j.list_fds_linear, false);
	bench_json_ratio("ratio_ps_per_worker", j.ps_linear, false);
	printf("  \"target_flat\": %.2f,\n  \"target_linear\": %.2f,\n",
	       BENCH_FLAT_TARGET, BENCH_LINEAR_TARGET);
	bench_json_met("request_flat_met", j.request_max, BENCH_FLAT_TARGET,
		       true, false);
	bench_json_met("request_cpu_flat_met", j.cpu_max, BENCH_FLAT_TARGET,
		       true, false);
	bench_json_met("list_fds_linear_met", j.list_fds_linear,
		       BENCH_LINEAR_TARGET, true, false);
	bench_json_met("ps_linear_met", j.ps_linear, BENCH_LINEAR_TARGET,
		       true, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

static int bench_run(const struct bench_opts *o, struct bench_state *s,
		     struct bench_config *v, int n)
{
	int rc;

	if ((rc = bench_fd0(s)) < 0)
		return bench_fail("opening /dev/null in tetherd", rc);
	if ((rc = bench_count_fds(s)) < 0)
		return bench_fail("LIST_FDS", rc);
	for (int i = 0; i < n; i++) {
		if ((rc = bench_configure(s, &v[i])) < 0) {
			fprintf(stderr, "bench: setting up %ld fds, %ld "
				"workers, %ld observers: %s (%s)\n", v[i].fds,
				v[i].workers, v[i].observers, strerror(-rc),
				s->d.t ? tether_last_error(s->d.t) : "");
			return rc;
		}
		if ((rc = bench_measure_config(o, s, &v[i])) < 0)
			return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 2000, .warmup = 200,
				.fds = 100000, .workers = 1000,
				.observers = 32, .attaches = 20 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup, 1000000),
		{ .name = "fds", .help = "the most fds held", .num = &o.fds,
		  .min = 10, .max = 1000000 },
		{ .name = "workers", .help = "the most workers",
		  .num = &o.workers, .min = 1, .max = 4000 },
		{ .name = "observers", .help = "the most observers",
		  .num = &o.observers, .min = 1, .max = 128 },
		{ .name = "attaches", .help = "attaches a run (fewer with "
		  "many fds)", .num = &o.attaches, .min = 1, .max = 10000 },
		{ .name = NULL },
	};
	static struct bench_state s;
	static struct bench_config v[BENCH_CONFIGS];
	char cpus_self[64], cpus_tetherd[64] = "n/a";
	int n, rc, status = 0;

	if (bench_args_parse(argc, argv, "tetherd and its workers", opts,
			     &o.a) < 0)
		return 2;
	bench_nofile(o.fds, &o.fds, s.rlimit_note, sizeof(s.rlimit_note));
	if (bench_setup(o.a.pin) < 0)
		return 1;
	n = bench_configs(&o, v);
	s.fd0 = -1;
	rc = bench_tetherd_start(&s.d, NULL, "tetherd", o.a.tetherd, NULL,
				 o.a.pin);
	if (rc == 0 && (rc = tether_make_persistent(s.d.t)) < 0)
		fprintf(stderr, "bench: tether_make_persistent: %s\n",
			strerror(-rc));
	bench_cpus(getpid(), cpus_self, sizeof(cpus_self));
	if (rc == 0) {
		bench_cpus(s.d.pid, cpus_tetherd, sizeof(cpus_tetherd));
		if (bench_run(&o, &s, v, n) < 0)
			status = 1;
	} else {
		status = 1;
	}
	if (o.a.json)
		bench_print_json(&o, &s, v, n);
	else
		bench_print_table(&o, &s, v, n, cpus_self, cpus_tetherd);
	bench_set_observers(&s, 0);
	/* The workers go with it (SIGTERM); a failed attach left no
	 * handle to ask with. */
	if (s.d.t) {
		if ((rc = tether_shutdown_force(s.d.t)) < 0) {
			fprintf(stderr, "bench: tether_shutdown_force: %s\n",
				strerror(-rc));
			status = 1;
		}
		tether_disconnect(s.d.t);
		s.d.t = NULL;
	} else if (s.d.pid > 0) {
		kill(s.d.pid, SIGTERM);
	}
	if (bench_tetherd_stop(&s.d) < 0)
		status = 1;
	(void)bench_sink;
	return status;
}
