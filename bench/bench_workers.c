/*
 * bench_workers: what starting a worker through tetherd costs, and how
 * fast tetherd captures a worker's output, against doing both directly.
 *
 * Under one CPU pinning:
 *
 *   spawn latency  from the spawn call until the child has exec'd, run
 *                  and written one byte into a FIFO the bench reads:
 *                  posix_spawn() by the bench itself, against
 *                  tether_spawn().  The child is this very binary,
 *                  re-exec'd with a hidden argv, on both paths.
 *   capture        a child writing --mib MiB to stdout in 64 KiB
 *                  blocks: into a pipe read by `cat > file`, against
 *                  tether_spawn(capture) until tether_wait() reports the
 *                  exit with every byte in the log.  Reading the bytes
 *                  back (read() of cat's file, tether_logs()) is timed
 *                  as two more rows; tether_logs() takes the log's fd on
 *                  this host and reads it itself (TETHER_NO_FDPASS=1 in
 *                  the environment: the stream of LOGS frames).
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
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS 5
#define BENCH_BLOCK (64u * 1024)	/* the writer child's write size */
#define BENCH_MIB_MAX 16384L
#define BENCH_MIB (1024.0 * 1024.0)
#define BENCH_CPU_SEEN 64		/* CPUs a ready child can report */
#define BENCH_READY_MS 10000		/* no ready byte by then: failed */

/* The hidden argv of the child modes. */
#define BENCH_CHILD_READY "--child-ready-fifo"
#define BENCH_CHILD_WRITE "--child-write"

extern char **environ;

struct bench_opts {
	struct bench_args a;
	long iterations;		/* spawns per run and path */
	long warmup;
	long mib;			/* the capture child writes this much */
};

/* What both paths spawn, and where the children report. */
struct bench_env {
	char exe[PATH_MAX];		/* this binary, re-exec'd */
	char dir[BENCH_DIR_MAX];	/* private directory */
	char fifo[128];			/* ready children write here */
	char out[128];			/* cat's output file */
	int fifo_fd;			/* O_RDWR: opening never blocks */
	char mibstr[24];
	char ldpath[PATH_MAX + 32];	/* LD_LIBRARY_PATH=..., or "" */
	const char *ready_argv[4];
	const char *write_argv[4];
	const char *cat_argv[2];
	const char *tenv[2];		/* tetherd drops LD_LIBRARY_PATH */
	posix_spawnattr_t attr;		/* SIGPIPE back to default */
	bool have_attr;
	enum bench_pin pin;
	struct bench_tetherd d;		/* it logs every spawn to a file */
	uint64_t cpus_direct;		/* CPUs the ready children ran on */
	uint64_t cpus_tether;
};

struct bench_results {
	struct bench_series sp_direct;
	struct bench_series sp_tether;
	struct bench_series cap_direct;	/* child | cat > file */
	struct bench_series cap_tether;	/* spawn(capture) .. wait */
	struct bench_series rb_file;	/* read() of cat's file */
	struct bench_series rb_logs;	/* tether_logs() */
	bool tether_ok;
	int tether_err;			/* why rows are missing, or 0 */
	char cpus_self[64];
	char cpus_tetherd[64];
	char ran_direct[64];		/* CPUs the ready children ran on */
	char ran_tether[64];
};

/* ---- the child modes ---------------------------------------------- */

/* Open the FIFO, write one byte (the CPU we run on) and exit. */
static int __attribute__((noreturn)) bench_child_ready(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int cpu = sched_getcpu();
	char c = (char)(cpu >= 0 && cpu < BENCH_CPU_SEEN ? cpu : 0x7f);

	if (fd < 0 || write(fd, &c, 1) != 1)
		_exit(1);
	_exit(0);
}

/* Write mib MiB to stdout in BENCH_BLOCK blocks and exit. */
static int __attribute__((noreturn)) bench_child_write(const char *mibs)
{
	static char buf[BENCH_BLOCK];
	long mib = atol(mibs);
	uint64_t left = (uint64_t)(mib > 0 ? mib : 0) << 20;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)('a' + i % 26);
	while (left) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t n = write(1, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		left -= (uint64_t)n;
	}
	_exit(0);
}

/* ---- small utilities ---------------------------------------------- */

/* Format a mask of CPUs the children reported as "0,1" ("?" if none). */
static void bench_mask_list(uint64_t mask, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int cpu = 0; cpu < BENCH_CPU_SEEN && off < size; cpu++) {
		int n;

		if (!(mask >> cpu & 1))
			continue;
		n = snprintf(buf + off, size - off, "%s%d", off ? "," : "",
			     cpu);
		if (n < 0 || (size_t)n >= size - off)
			break;
		off += (size_t)n;
	}
	if (!off)
		snprintf(buf, size, "?");
}

/* ---- setting up ------------------------------------------------------ */

/* The private directory, the FIFO, the argv of every child. */
static int bench_env_init(struct bench_env *e, const struct bench_opts *o)
{
	const char *ld = getenv("LD_LIBRARY_PATH");
	ssize_t n;
	int rc;

	e->fifo_fd = -1;
	e->pin = o->a.pin;
	n = readlink("/proc/self/exe", e->exe, sizeof(e->exe) - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(e->exe) - 1)
		return -ENAMETOOLONG;
	e->exe[n] = '\0';
	if ((rc = bench_mkdir(e->dir)) < 0)
		return rc;
	snprintf(e->fifo, sizeof(e->fifo), "%s/ready.fifo", e->dir);
	snprintf(e->out, sizeof(e->out), "%s/cat.out", e->dir);
	snprintf(e->mibstr, sizeof(e->mibstr), "%ld", o->mib);
	if (mkfifo(e->fifo, 0600) < 0)
		return -errno;
	e->fifo_fd = open(e->fifo, O_RDWR | O_CLOEXEC);
	if (e->fifo_fd < 0)
		return -errno;
	e->ready_argv[0] = e->exe;
	e->ready_argv[1] = BENCH_CHILD_READY;
	e->ready_argv[2] = e->fifo;
	e->ready_argv[3] = NULL;
	e->write_argv[0] = e->exe;
	e->write_argv[1] = BENCH_CHILD_WRITE;
	e->write_argv[2] = e->mibstr;
	e->write_argv[3] = NULL;
	e->cat_argv[0] = "cat";
	e->cat_argv[1] = NULL;
	/* Built by libtool, this binary finds libtether through
	 * LD_LIBRARY_PATH, which tetherd does not pass on by itself. */
	if (ld && *ld) {
		if ((size_t)snprintf(e->ldpath, sizeof(e->ldpath),
				     "LD_LIBRARY_PATH=%s", ld) >=
		    sizeof(e->ldpath))
			return -ENAMETOOLONG;
		e->tenv[0] = e->ldpath;
	}
	return 0;
}

/* SIGPIPE is ignored in the bench; the direct children get it back to
 * its default, as tetherd's workers do. */
static int bench_attr_init(struct bench_env *e)
{
	sigset_t def, none;
	int rc;

	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	if ((rc = posix_spawnattr_init(&e->attr)))
		return -rc;
	e->have_attr = true;
	if ((rc = posix_spawnattr_setsigdefault(&e->attr, &def)) ||
	    (rc = posix_spawnattr_setsigmask(&e->attr, &none)) ||
	    (rc = posix_spawnattr_setflags(&e->attr, POSIX_SPAWN_SETSIGDEF |
					    POSIX_SPAWN_SETSIGMASK)))
		return -rc;
	return 0;
}

static void bench_env_destroy(struct bench_env *e)
{
	if (e->fifo_fd >= 0)
		close(e->fifo_fd);
	e->fifo_fd = -1;
	if (e->have_attr)
		posix_spawnattr_destroy(&e->attr);
	e->have_attr = false;
	if (e->dir[0])
		bench_rmdir(e->dir, 1);
	e->dir[0] = '\0';
}

/* ---- spawn latency ------------------------------------------------- */

/* The ready byte: the CPU the child ran on (poll first: a child that
 * failed never writes, and the FIFO never reaches EOF). */
static int bench_read_ready(struct bench_env *e, uint64_t *cpus)
{
	struct pollfd pfd = { .fd = e->fifo_fd, .events = POLLIN };
	unsigned char c;
	ssize_t n;
	int k;

	do
		k = poll(&pfd, 1, BENCH_READY_MS);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	if (k == 0)
		return -ETIMEDOUT;
	do
		n = read(e->fifo_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	if (c < BENCH_CPU_SEEN)
		*cpus |= 1ull << c;
	return 0;
}

/* posix_spawn, (cross: move the child to the peer CPU,) the ready byte;
 * then, untimed, reap.  *ns gets the timed part. */
static int bench_spawn_direct(struct bench_env *e, double *ns)
{
	double t0 = 0, t1 = 0;
	pid_t pid;
	int rc;

	if ((rc = bench_now(&t0)) < 0)
		return rc;
	rc = posix_spawn(&pid, e->exe, NULL, &e->attr,
			 (char *const *)e->ready_argv, environ);
	if (rc)
		return -rc;
	if (e->pin == PIN_CROSS &&
	    (rc = bench_pin_pid(pid, BENCH_CPU_PEER)) < 0)
		goto reap;
	rc = bench_read_ready(e, &e->cpus_direct);
	if (rc == 0)
		rc = bench_now(&t1);
reap:
	if (rc < 0) {
		kill(pid, SIGKILL);
		bench_reap(pid);
		return rc;
	}
	*ns = t1 - t0;
	return bench_reap(pid);
}

/* Wait for worker pid through tetherd and forget its record: 0 when it
 * exited 0 (out, if given, gets the record). */
static int bench_tether_reap(struct bench_env *e, pid_t pid,
			     struct tether_worker *out)
{
	struct tether_worker w;
	char target[24];
	int rc, rc2;

	snprintf(target, sizeof(target), "%d", (int)pid);
	rc = tether_wait(e->d.t, target, -1, &w);
	if (rc < 0)
		return rc;
	if (w.state != TETHER_W_EXITED || w.exit_code != 0)
		rc = -EIO;
	if (out)
		*out = w;
	if (!out || rc < 0) {
		rc2 = tether_ack(e->d.t, target);
		if (rc == 0)
			rc = rc2;
	}
	return rc;
}

/* tether_spawn, the ready byte; then, untimed, WAIT and ACK. */
static int bench_spawn_tether(struct bench_env *e, double *ns)
{
	struct tether_spawn sp = { 0 };
	double t0 = 0, t1 = 0;
	pid_t pid;
	int rc;

	sp.argv = e->ready_argv;
	sp.env = e->tenv[0] ? e->tenv : NULL;
	if ((rc = bench_now(&t0)) < 0)
		return rc;
	if ((rc = tether_spawn(e->d.t, &sp, &pid)) < 0)
		return rc;
	rc = bench_read_ready(e, &e->cpus_tether);
	if (rc == 0)
		rc = bench_now(&t1);
	if (rc < 0) {
		char target[24];

		snprintf(target, sizeof(target), "%d", (int)pid);
		tether_kill(e->d.t, target, SIGKILL);
		bench_tether_reap(e, pid, NULL);
		return rc;
	}
	*ns = t1 - t0;
	return bench_tether_reap(e, pid, NULL);
}

typedef int (*bench_spawn_fn)(struct bench_env *e, double *ns);

/* warmup spawns, then iterations timed ones; the mean goes to s. */
static int bench_spawn_run(bench_spawn_fn fn, struct bench_env *e,
			   const struct bench_opts *o, struct bench_series *s)
{
	double sum = 0, ns;
	int rc;

	for (long i = 0; i < o->warmup; i++)
		if ((rc = fn(e, &ns)) < 0)
			return rc;
	for (long i = 0; i < o->iterations; i++) {
		if ((rc = fn(e, &ns)) < 0)
			return rc;
		sum += ns;
	}
	s->ns[s->n++] = sum / (double)o->iterations;
	return 0;
}

/* ---- capture throughput -------------------------------------------- */

/* child > pipe | cat > file, until both have exited; the file is then
 * checked to hold every byte. */
static int bench_capture_direct(struct bench_env *e, const struct bench_opts *o,
				double *ns)
{
	posix_spawn_file_actions_t fw, fc;
	pid_t wpid = -1, cpid = -1;
	int p[2] = { -1, -1 }, out = -1, rc, rc2;
	double t0 = 0, t1 = 0;
	struct stat st;

	if (posix_spawn_file_actions_init(&fw) ||
	    posix_spawn_file_actions_init(&fc))
		return -ENOMEM;
	unlink(e->out);
	out = open(e->out, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
		   0600);
	if (out < 0 || pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = posix_spawn_file_actions_adddup2(&fw, p[1], 1)) ||
	    (rc = posix_spawn_file_actions_adddup2(&fc, p[0], 0)) ||
	    (rc = posix_spawn_file_actions_adddup2(&fc, out, 1))) {
		rc = -rc;
		goto out;
	}
	if ((rc = bench_now(&t0)) < 0)
		goto out;
	rc = posix_spawn(&wpid, e->exe, &fw, &e->attr,
			 (char *const *)e->write_argv, environ);
	if (rc) {
		rc = -rc;
		wpid = -1;
		goto out;
	}
	if (e->pin == PIN_CROSS)
		bench_pin_pid(wpid, BENCH_CPU_PEER);
	rc = posix_spawnp(&cpid, "cat", &fc, &e->attr,
			  (char *const *)e->cat_argv, environ);
	if (rc) {
		rc = -rc;
		cpid = -1;
		goto out;
	}
	if (e->pin == PIN_CROSS)
		bench_pin_pid(cpid, BENCH_CPU_PEER);
	close(p[0]);
	close(p[1]);
	p[0] = p[1] = -1;
	rc = bench_reap(wpid);
	rc2 = bench_reap(cpid);
	wpid = cpid = -1;
	if (rc == 0)
		rc = rc2;
	if (rc == 0)
		rc = bench_now(&t1);
	if (rc == 0 && fstat(out, &st) < 0)
		rc = -errno;
	if (rc == 0 && (uint64_t)st.st_size != (uint64_t)o->mib << 20) {
		fprintf(stderr, "bench: cat wrote %lld bytes, not %ld MiB\n",
			(long long)st.st_size, o->mib);
		rc = -EIO;
	}
	if (rc == 0)
		*ns = t1 - t0;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (wpid > 0) {
		kill(wpid, SIGKILL);
		bench_reap(wpid);
	}
	if (cpid > 0) {
		kill(cpid, SIGKILL);
		bench_reap(cpid);
	}
	if (out >= 0)
		close(out);
	posix_spawn_file_actions_destroy(&fw);
	posix_spawn_file_actions_destroy(&fc);
	return rc;
}

/* Read cat's file back with read() in 64 KiB blocks; then delete it.
 * The buffer page-aligned: read() into a misaligned one runs at a third
 * of the speed on some CPUs (bench/README), which would flatter LOGS. */
static int bench_readback_file(struct bench_env *e, const struct bench_opts *o,
			       double *ns)
{
	static char buf[BENCH_BLOCK] __attribute__((aligned(4096)));
	uint64_t total = 0;
	double t0 = 0, t1 = 0;
	ssize_t n;
	int fd, rc;

	if ((rc = bench_now(&t0)) < 0)
		return rc;
	if ((fd = open(e->out, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		total += (uint64_t)n;
	}
	close(fd);
	if (rc == 0)
		rc = bench_now(&t1);
	unlink(e->out);
	if (rc < 0)
		return rc;
	if (total != (uint64_t)o->mib << 20)
		return -EIO;
	*ns = t1 - t0;
	return 0;
}

struct bench_logs {
	uint64_t total;
	uint64_t next;			/* the offset the next chunk needs */
	bool gap;
};

static int bench_logs_cb(const void *data, size_t len, uint64_t offset,
			 void *arg)
{
	struct bench_logs *l = arg;

	(void)data;
	if (offset != l->next)
		l->gap = true;
	l->total += len;
	l->next = offset + len;
	return 0;
}

/* spawn(capture) until WAIT reports the exit with the log complete; then
 * (rb) the log read back through LOGS; then ACK. */
static int bench_capture_tether(struct bench_env *e, const struct bench_opts *o,
				double *ns, double *rb)
{
	struct tether_spawn sp = { 0 };
	struct tether_worker w;
	struct bench_logs l = { 0 };
	uint64_t want = (uint64_t)o->mib << 20;
	char target[24];
	double t0 = 0, t1 = 0, t2 = 0;
	pid_t pid;
	int rc, rc2;

	sp.argv = e->write_argv;
	sp.env = e->tenv[0] ? e->tenv : NULL;
	sp.capture = true;
	sp.log_max = 2 * want;		/* no rotation */
	if ((rc = bench_now(&t0)) < 0)
		return rc;
	if ((rc = tether_spawn(e->d.t, &sp, &pid)) < 0)
		return rc;
	rc = bench_tether_reap(e, pid, &w);
	if (rc < 0)
		return rc;
	snprintf(target, sizeof(target), "%d", (int)pid);
	rc = bench_now(&t1);
	if (rc == 0 && (!w.captured || w.log_size != want)) {
		fprintf(stderr, "bench: worker log holds %llu bytes, not "
			"%ld MiB\n", (unsigned long long)w.log_size, o->mib);
		rc = -EIO;
	}
	if (rc == 0)
		rc = tether_logs(e->d.t, target, 0, false, bench_logs_cb, &l);
	if (rc == 0)
		rc = bench_now(&t2);
	if (rc == 0 && (l.total != want || l.gap)) {
		fprintf(stderr, "bench: LOGS gave %llu bytes%s, not %ld MiB\n",
			(unsigned long long)l.total, l.gap ? " with a gap" : "",
			o->mib);
		rc = -EIO;
	}
	rc2 = tether_ack(e->d.t, target);
	if (rc < 0)
		return rc;
	if (rc2 < 0)
		return rc2;
	*ns = t1 - t0;
	*rb = t2 - t1;
	return 0;
}

/* ---- measuring ------------------------------------------------------- */

/* One untimed capture cycle of each kind, so the first run does not pay
 * for cold caches alone. */
static int bench_capture_warmup(struct bench_env *e, const struct bench_opts *o,
				struct bench_results *res)
{
	double ns, rb;
	int rc;

	if (o->warmup == 0)
		return 0;
	if ((rc = bench_capture_direct(e, o, &ns)) < 0)
		return bench_fail("capture warmup (cat)", rc);
	unlink(e->out);
	if (res->tether_ok && (rc = bench_capture_tether(e, o, &ns, &rb)) < 0)
		bench_tether_failed(e->d.t, "capture warmup (tether)", rc,
				    &res->tether_ok, &res->tether_err);
	return 0;
}

/* BENCH_RUNS rounds of every measurement, interleaved so that a slow
 * stretch of the machine hits all alike.  A tether failure stops only
 * the tether rows. */
static int bench_run_all(struct bench_env *e, const struct bench_opts *o,
			 struct bench_results *res)
{
	double ns, rb;
	int rc;

	if ((rc = bench_capture_warmup(e, o, res)) < 0)
		return rc;
	for (int run = 0; run < BENCH_RUNS; run++) {
		rc = bench_spawn_run(bench_spawn_direct, e, o, &res->sp_direct);
		if (rc < 0)
			return bench_fail("posix_spawn", rc);
		if (res->tether_ok) {
			rc = bench_spawn_run(bench_spawn_tether, e, o,
					     &res->sp_tether);
			if (rc < 0)
				bench_tether_failed(e->d.t, "tether_spawn", rc,
						    &res->tether_ok,
						    &res->tether_err);
		}
		rc = bench_capture_direct(e, o, &ns);
		if (rc < 0)
			return bench_fail("child | cat > file", rc);
		res->cap_direct.ns[res->cap_direct.n++] = ns;
		rc = bench_readback_file(e, o, &ns);
		if (rc < 0)
			return bench_fail("reading cat's file back", rc);
		res->rb_file.ns[res->rb_file.n++] = ns;
		if (!res->tether_ok)
			continue;
		rc = bench_capture_tether(e, o, &ns, &rb);
		if (rc < 0) {
			bench_tether_failed(e->d.t, "tether capture", rc,
					    &res->tether_ok, &res->tether_err);
			continue;
		}
		res->cap_tether.ns[res->cap_tether.n++] = ns;
		res->rb_logs.ns[res->rb_logs.n++] = rb;
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* The ratios: spawn latency tether/direct; throughput tether/direct
 * (below 1: tether is slower). */
static void bench_ratios(const struct bench_results *res, double r[3])
{
	r[0] = bench_ratio(bench_median(&res->sp_tether),
			   bench_median(&res->sp_direct));
	r[1] = bench_ratio(bench_median(&res->cap_direct),
			   bench_median(&res->cap_tether));
	r[2] = bench_ratio(bench_median(&res->rb_file),
			   bench_median(&res->rb_logs));
}

/* The human-readable report. */
static void bench_print_table(const struct bench_env *e,
			      const struct bench_opts *o,
			      const struct bench_results *res)
{
	struct bench_unit mibs = BENCH_MIB_S(o->mib);
	double r[3];

	bench_ratios(res, r);
	bench_layout.width = 32;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, tetherd %s; ready children ran on: "
	       "direct %s, tether %s\n", res->cpus_self,
	       res->cpus_tetherd[0] ? res->cpus_tetherd : "n/a",
	       res->ran_direct, res->ran_tether);
	printf("spawns: %ld x %d runs per path (warmup %ld)    "
	       "capture: %ld MiB in %u KiB writes, 1 x %d runs\n",
	       o->iterations, BENCH_RUNS, o->warmup, o->mib, BENCH_BLOCK / 1024,
	       BENCH_RUNS);
	printf("child: %s\n\n", e->exe);
	bench_print_heads("spawn until the child runs", "us median",
			  "min run", "max run");
	bench_print_row("posix_spawn (direct)", &res->sp_direct, BENCH_US);
	bench_print_row("tether_spawn", &res->sp_tether, BENCH_US);
	printf("\n");
	bench_print_heads("output capture", "MiB/s median", "best run",
			  "worst run");
	bench_print_row("child | cat > file (direct)", &res->cap_direct, mibs);
	bench_print_row("tether capture, spawn..wait", &res->cap_tether, mibs);
	bench_print_row("read back: read() of the file", &res->rb_file, mibs);
	bench_print_row("read back through LOGS", &res->rb_logs, mibs);
	printf("\n");
	bench_print_ratio("spawn: tether / direct", r[0]);
	bench_print_ratio("capture MiB/s: tether / cat", r[1]);
	bench_print_ratio("read back MiB/s: LOGS / read()", r[2]);
	if (!res->tether_ok)
		printf("tether rows incomplete: %s\n",
		       strerror(-res->tether_err));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_results *res)
{
	struct bench_unit mibs = BENCH_MIB_S(o->mib);
	double r[3];

	bench_ratios(res, r);
	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"tetherd\": \"%s\", "
	       "\"direct_children_ran_on\": \"%s\", "
	       "\"tether_children_ran_on\": \"%s\"},\n", res->cpus_self,
	       res->cpus_tetherd, res->ran_direct, res->ran_tether);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n"
	       "  \"mib\": %ld,\n", o->iterations, o->warmup, BENCH_RUNS,
	       o->mib);
	bench_json_series("spawn_direct", &res->sp_direct, BENCH_US);
	bench_json_series("spawn_tether", &res->sp_tether, BENCH_US);
	bench_json_series("capture_cat", &res->cap_direct, mibs);
	bench_json_series("capture_tether", &res->cap_tether, mibs);
	bench_json_series("readback_file", &res->rb_file, mibs);
	bench_json_series("readback_logs", &res->rb_logs, mibs);
	bench_json_ratio("ratio_spawn_tether_direct", r[0], false);
	bench_json_ratio("ratio_capture_tether_cat", r[1], false);
	bench_json_ratio("ratio_readback_logs_file", r[2], true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 200, .warmup = 20, .mib = 64 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup, LONG_MAX),
		{ .name = "mib", .help = "MiB the capture child writes",
		  .num = &o.mib, .min = 1, .max = BENCH_MIB_MAX },
		{ .name = NULL },
	};
	struct bench_env e = { .fifo_fd = -1 };
	struct bench_results res = { 0 };
	int rc, status = 0;

	/* The children: this binary, re-exec'd. */
	if (argc == 3 && !strcmp(argv[1], BENCH_CHILD_READY))
		bench_child_ready(argv[2]);
	if (argc == 3 && !strcmp(argv[1], BENCH_CHILD_WRITE))
		bench_child_write(argv[2]);
	if (bench_args_parse(argc, argv, "tetherd and the children", opts,
			     &o.a) < 0)
		return 2;
	if (bench_setup(o.a.pin) < 0)
		return 1;
	rc = bench_env_init(&e, &o);
	if (rc == 0)
		rc = bench_attr_init(&e);
	if (rc < 0) {
		bench_fail("setting up", rc);
		status = 1;
		goto out;
	}
	rc = bench_tetherd_start(&e.d, e.dir, "tetherd", o.a.tetherd, NULL,
				 o.a.pin);
	res.tether_ok = rc == 0;
	res.tether_err = rc;
	if (rc < 0)
		status = 1;
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	if (e.d.t)
		bench_cpus(e.d.pid, res.cpus_tetherd, sizeof(res.cpus_tetherd));
	if (bench_run_all(&e, &o, &res) < 0 || !res.tether_ok)
		status = 1;
	bench_mask_list(e.cpus_direct, res.ran_direct, sizeof(res.ran_direct));
	bench_mask_list(e.cpus_tether, res.ran_tether, sizeof(res.ran_tether));
	if (o.a.json)
		bench_print_json(&o, &res);
	else
		bench_print_table(&e, &o, &res);
out:
	if (bench_tetherd_stop(&e.d) < 0)
		status = 1;
	bench_env_destroy(&e);
	return status;
}
