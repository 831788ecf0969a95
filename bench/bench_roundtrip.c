/*
 * bench_roundtrip: what one tether syscall costs, against two baselines.
 *
 * Three measurements under one CPU pinning: a direct getpid syscall, a
 * raw AF_UNIX socketpair ping-pong between two processes exchanging
 * frames the size of tether's getpid request and reply, and
 * tether_getpid() against a real tetherd.  Each is run BENCH_RUNS times,
 * interleaved; the median of the per-run means is reported.  Timing is
 * only reported, never judged: the exit status says whether something
 * broke, not whether tether was fast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tether.h"

#define BENCH_RUNS 5
#define BENCH_TARGET 1.25		/* tether / raw ping-pong */
#define BENCH_CPU_CLIENT 0
#define BENCH_CPU_PEER 1
#define BENCH_RMDIR_TRIES 50		/* x 20 ms, while tetherd exits */

enum bench_pin { PIN_SAME, PIN_CROSS, PIN_NONE };

static const char *const bench_pin_names[] = { "same", "cross", "none" };

struct bench_opts {
	enum bench_pin pin;
	long iterations;
	long warmup;
	bool json;
	const char *tetherd;
};

/* The two frames of a tether getpid round trip, as the codec builds them. */
struct bench_frames {
	struct tp_msg req;
	struct tp_msg rep;
};

/* The other end of the raw ping-pong. */
struct bench_raw {
	int fd;
	pid_t pid;
	const struct bench_frames *f;
	unsigned char *rbuf;		/* reply-sized scratch */
};

/* A tetherd of our own, on a socket in a private directory. */
struct bench_tether {
	struct tether *t;
	char dir[64];
	char sock[128];
	bool have_dir;
};

/* Per-run means in ns/op; n is how many runs completed. */
struct bench_series {
	double ns[BENCH_RUNS];
	int n;
};

struct bench_results {
	struct bench_series direct;
	struct bench_series raw;
	struct bench_series tether;
	bool tether_ok;
	int tether_err;			/* why it is missing, or 0 */
	char cpus_self[64];
	char cpus_raw[64];
	char cpus_tetherd[64];
	pid_t tetherd_pid;
};

typedef int (*bench_fn)(void *ctx, long n);

static volatile long bench_sink;

/* ---- small utilities ---------------------------------------------- */

/* Print usage to f. */
static void bench_usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--pin same|cross|none] [--iterations N] "
		"[--warmup N]\n"
		"       [--tetherd PATH] [--json]\n"
		"  --pin same   bench and peer both on CPU 0 (default)\n"
		"  --pin cross  bench on CPU 0, peer on CPU 1\n"
		"  --pin none   no pinning\n"
		"  --tetherd    default $TETHERD, else ./server/tetherd\n",
		argv0);
}

/* Parse a non-negative long no smaller than min; -EINVAL otherwise. */
static int bench_parse_long(const char *s, long min, long *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < min)
		return -EINVAL;
	*v = x;
	return 0;
}

/* Parse argv into o; -EINVAL on a bad option (usage already printed). */
static int bench_parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lopts[] = {
		{ "pin", required_argument, NULL, 'p' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "tetherd", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("TETHERD");
	int c;

	o->pin = PIN_SAME;
	o->iterations = 20000;
	o->warmup = 2000;
	o->json = false;
	o->tetherd = env && *env ? env : "./server/tetherd";
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!strcmp(optarg, "same"))
				o->pin = PIN_SAME;
			else if (!strcmp(optarg, "cross"))
				o->pin = PIN_CROSS;
			else if (!strcmp(optarg, "none"))
				o->pin = PIN_NONE;
			else
				goto bad;
			break;
		case 'n':
			if (bench_parse_long(optarg, 1, &o->iterations) < 0)
				goto bad;
			break;
		case 'w':
			if (bench_parse_long(optarg, 0, &o->warmup) < 0)
				goto bad;
			break;
		case 't':
			o->tetherd = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			bench_usage(stdout, argv[0]);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc)
		return 0;
bad:
	bench_usage(stderr, argv[0]);
	return -EINVAL;
}

/* Nanoseconds on the monotonic clock. */
static int bench_now(double *ns)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -errno;
	*ns = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
	return 0;
}

/* Pin the calling process (and what it forks from now on) to one CPU. */
static int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

/* Format pid's allowed CPUs as "0,1" into buf. */
static int bench_cpu_list(pid_t pid, char *buf, size_t size)
{
	cpu_set_t set;
	size_t off = 0;

	if (size == 0)
		return -EINVAL;
	buf[0] = '\0';
	if (sched_getaffinity(pid, sizeof(set), &set) < 0)
		return -errno;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		int n;

		if (!CPU_ISSET(cpu, &set))
			continue;
		n = snprintf(buf + off, size - off, "%s%d", off ? "," : "",
			     cpu);
		if (n < 0 || (size_t)n >= size - off)
			return -ENOBUFS;
		off += (size_t)n;
	}
	return 0;
}

/* Write all of buf to a blocking fd. */
static int bench_write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 1 when done, 0 on EOF before the first byte,
 * -ECONNRESET on EOF inside the message, or -errno. */
static int bench_read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return got ? -ECONNRESET : 0;
		got += (size_t)n;
	}
	return 1;
}

/* Comparison for qsort on doubles. */
static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of the completed runs, or -1 when there are none. */
static double bench_median(const struct bench_series *s)
{
	double v[BENCH_RUNS];

	if (s->n == 0)
		return -1;
	memcpy(v, s->ns, sizeof(v[0]) * (size_t)s->n);
	qsort(v, (size_t)s->n, sizeof(v[0]), bench_cmp_double);
	return v[s->n / 2];
}

/* Smallest or largest completed run (max selects). */
static double bench_extreme(const struct bench_series *s, bool max)
{
	double r = s->n ? s->ns[0] : -1;

	for (int i = 1; i < s->n; i++)
		if (max ? s->ns[i] > r : s->ns[i] < r)
			r = s->ns[i];
	return r;
}

/* ---- the frames ----------------------------------------------------- */

/* [id, SYSCALL, [SYS_getpid, []]], as the library sends it. */
static int bench_build_request(struct tp_msg *m, uint64_t id)
{
	tp_msg_request(m, id, TETHER_OP_SYSCALL);
	if (msgpack_pack_array(&m->pk, 2) < 0 ||
	    msgpack_pack_long(&m->pk, SYS_getpid) < 0 ||
	    msgpack_pack_array(&m->pk, 0) < 0)
		return -ENOMEM;
	return tp_msg_finish(m);
}

/* [id, 0, [ret, []]], as the server answers it. */
static int bench_build_reply(struct tp_msg *m, uint64_t id, int64_t ret)
{
	tp_msg_reply(m, id, 0);
	if (msgpack_pack_array(&m->pk, 2) < 0 ||
	    msgpack_pack_int64(&m->pk, ret) < 0 ||
	    msgpack_pack_array(&m->pk, 0) < 0)
		return -ENOMEM;
	return tp_msg_finish(m);
}

/* Both frames.  The id is one the timed tether loop actually reaches, so
 * it encodes to the same width as most of the library's. */
static int bench_frames_init(struct bench_frames *f, const struct bench_opts *o)
{
	uint64_t id = (uint64_t)o->warmup + (uint64_t)o->iterations;
	int rc;

	tp_msg_init(&f->req);
	tp_msg_init(&f->rep);
	rc = bench_build_request(&f->req, id);
	if (rc == 0)
		rc = bench_build_reply(&f->rep, id, (int64_t)getpid());
	return rc;
}

static void bench_frames_destroy(struct bench_frames *f)
{
	tp_msg_destroy(&f->req);
	tp_msg_destroy(&f->rep);
}

/* ---- a) direct syscall ---------------------------------------------- */

/* n raw getpid syscalls (glibc's wrapper may cache; this cannot). */
static int bench_direct(void *ctx, long n)
{
	(void)ctx;
	for (long i = 0; i < n; i++)
		bench_sink = syscall(SYS_getpid);
	return 0;
}

/* ---- b) raw socketpair ping-pong ------------------------------------ */

/* The child: read a request, answer a reply, until the parent hangs up. */
static void __attribute__((noreturn))
bench_raw_child(int fd, const struct bench_frames *f, enum bench_pin pin)
{
	size_t len = tp_msg_size(&f->req);
	unsigned char *buf = malloc(len);

	if (!buf)
		_exit(1);
	if (pin == PIN_CROSS && bench_pin_self(BENCH_CPU_PEER) < 0)
		_exit(3);
	for (;;) {
		int rc = bench_read_full(fd, buf, len);

		if (rc == 0)
			_exit(0);
		if (rc < 0 || bench_write_full(fd, tp_msg_data(&f->rep),
					       tp_msg_size(&f->rep)) < 0)
			_exit(1);
	}
}

/* Fork the ping-pong child on a fresh socketpair. */
static int bench_raw_start(struct bench_raw *r, const struct bench_frames *f,
			   enum bench_pin pin)
{
	int sv[2];

	r->f = f;
	r->pid = -1;
	r->fd = -1;
	r->rbuf = malloc(tp_msg_size(&f->rep));
	if (!r->rbuf)
		return -ENOMEM;
	/* CLOEXEC: tetherd must not inherit our end, or the child never
	 * sees EOF. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	r->pid = fork();
	if (r->pid < 0) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (r->pid == 0) {
		close(sv[0]);
		bench_raw_child(sv[1], f, pin);
	}
	close(sv[1]);
	r->fd = sv[0];
	return 0;
}

/* n request/reply exchanges with the child. */
static int bench_raw(void *ctx, long n)
{
	struct bench_raw *r = ctx;
	const void *req = tp_msg_data(&r->f->req);
	size_t reqlen = tp_msg_size(&r->f->req);
	size_t replen = tp_msg_size(&r->f->rep);

	for (long i = 0; i < n; i++) {
		int rc = bench_write_full(r->fd, req, reqlen);

		if (rc < 0)
			return rc;
		rc = bench_read_full(r->fd, r->rbuf, replen);
		if (rc <= 0)
			return rc ? rc : -ECONNRESET;
	}
	return 0;
}

/* Hang up on the child and reap it; -EIO if it did not exit cleanly. */
static int bench_raw_stop(struct bench_raw *r)
{
	int status;
	pid_t p;

	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->rbuf);
	r->rbuf = NULL;
	if (r->pid <= 0)
		return 0;
	do
		p = waitpid(r->pid, &status, 0);
	while (p < 0 && errno == EINTR);
	r->pid = -1;
	if (p < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- c) tether ------------------------------------------------------- */

/* Make the private directory and launch tetherd on a socket inside it. */
static int bench_tether_start(struct bench_tether *bt, const char *tetherd)
{
	struct tether_start_opts so = { 0 };
	int n;

	strcpy(bt->dir, "/tmp/tether-bench.XXXXXX");
	if (!mkdtemp(bt->dir))
		return -errno;
	bt->have_dir = true;
	n = snprintf(bt->sock, sizeof(bt->sock), "%s/tetherd.sock", bt->dir);
	if (n < 0 || (size_t)n >= sizeof(bt->sock))
		return -ENAMETOOLONG;
	so.socket_path = bt->sock;
	so.tetherd = tetherd;
	n = tether_start(&so, &bt->t);
	if (n < 0)
		bt->t = NULL;
	return n;
}

/* Start tetherd, on the peer CPU in cross mode, the client's otherwise. */
static int bench_tether_start_pinned(struct bench_tether *bt,
				     const struct bench_opts *o)
{
	int rc, rc2;

	if (o->pin != PIN_CROSS)
		return bench_tether_start(bt, o->tetherd);
	rc = bench_pin_self(BENCH_CPU_PEER);
	if (rc < 0)
		return rc;
	rc = bench_tether_start(bt, o->tetherd);
	rc2 = bench_pin_self(BENCH_CPU_CLIENT);
	return rc < 0 ? rc : rc2;
}

/* n tether_getpid round trips. */
static int bench_tether(void *ctx, long n)
{
	struct bench_tether *bt = ctx;

	for (long i = 0; i < n; i++) {
		long pid = tether_getpid(bt->t);

		if (pid <= 0)
			return pid < 0 ? (int)pid : -EPROTO;
		bench_sink = pid;
	}
	return 0;
}

/* Remove the private directory and whatever tetherd left in it.  The
 * server may still be exiting, so a non-empty directory is retried. */
static int bench_rmdir(const char *path)
{
	for (int tries = 0; tries < BENCH_RMDIR_TRIES; tries++) {
		DIR *d = opendir(path);
		struct dirent *de;
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (!d)
			return errno == ENOENT ? 0 : -errno;
		/* Files, and the server's (empty) state directory. */
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    unlinkat(dirfd(d), de->d_name, 0) < 0)
				unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		closedir(d);
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -ENOTEMPTY;
}

/* Shut the server down, detach, clean up the directory. */
static int bench_tether_stop(struct bench_tether *bt)
{
	int rc = 0;

	if (bt->t) {
		rc = tether_shutdown(bt->t);
		if (rc < 0)
			fprintf(stderr, "bench: tether_shutdown: %s (%s)\n",
				strerror(-rc), tether_last_error(bt->t));
		tether_disconnect(bt->t);
		bt->t = NULL;
	}
	if (bt->have_dir) {
		int rc2 = bench_rmdir(bt->dir);

		if (rc2 < 0)
			fprintf(stderr, "bench: cannot remove %s: %s\n",
				bt->dir, strerror(-rc2));
		bt->have_dir = false;
	}
	return rc;
}

/* ---- measuring ------------------------------------------------------- */

/* Warm up, then time iterations calls of fn; append the mean to s. */
static int bench_measure(bench_fn fn, void *ctx, const struct bench_opts *o,
			 struct bench_series *s)
{
	double t0 = 0, t1 = 0;
	int rc;

	rc = fn(ctx, o->warmup);
	if (rc == 0)
		rc = bench_now(&t0);
	if (rc == 0)
		rc = fn(ctx, o->iterations);
	if (rc == 0)
		rc = bench_now(&t1);
	if (rc < 0)
		return rc;
	s->ns[s->n++] = (t1 - t0) / (double)o->iterations;
	return 0;
}

/* Report a failed measurement; returns rc. */
static int bench_fail(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(-rc));
	return rc;
}

/* BENCH_RUNS rounds of the three measurements, interleaved so that a
 * slow stretch of the machine hits all three alike.  A tether failure
 * stops only the tether row. */
static int bench_run_all(const struct bench_opts *o, struct bench_raw *raw,
			 struct bench_tether *bt, struct bench_results *res)
{
	int rc;

	for (int run = 0; run < BENCH_RUNS; run++) {
		rc = bench_measure(bench_direct, NULL, o, &res->direct);
		if (rc < 0)
			return bench_fail("direct getpid", rc);
		rc = bench_measure(bench_raw, raw, o, &res->raw);
		if (rc < 0)
			return bench_fail("raw ping-pong", rc);
		if (!res->tether_ok)
			continue;
		rc = bench_measure(bench_tether, bt, o, &res->tether);
		if (rc < 0) {
			fprintf(stderr, "bench: tether_getpid: %s (%s)\n",
				strerror(-rc), tether_last_error(bt->t));
			res->tether_ok = false;
			res->tether_err = rc;
		}
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* Ratio a/b, or -1 when either side is missing. */
static double bench_ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : -1;
}

/* One table row. */
static void bench_print_row(const char *name, const struct bench_series *s)
{
	if (s->n == 0) {
		printf("%-28s %12s %12s %12s\n", name, "n/a", "-", "-");
		return;
	}
	printf("%-28s %12.1f %12.1f %12.1f\n", name, bench_median(s),
	       bench_extreme(s, false), bench_extreme(s, true));
}

/* A ratio line, "n/a" when a side is missing. */
static void bench_print_ratio(const char *name, double r)
{
	if (r < 0)
		printf("%-28s %12s\n", name, "n/a");
	else
		printf("%-28s %12.2f\n", name, r);
}

/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_frames *f,
			      const struct bench_results *res)
{
	double tr = bench_ratio(bench_median(&res->tether),
				bench_median(&res->raw));
	double td = bench_ratio(bench_median(&res->tether),
				bench_median(&res->direct));

	printf("pin mode: %s    cpus online: %ld\n", bench_pin_names[o->pin],
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("affinity: bench %s, ping-pong child %s, tetherd %s\n",
	       res->cpus_self, res->cpus_raw,
	       res->tetherd_pid > 0 ? res->cpus_tetherd : "n/a");
	printf("iterations: %ld x %d runs (warmup %ld)    "
	       "frames: request %zu B, reply %zu B\n\n",
	       o->iterations, BENCH_RUNS, o->warmup, tp_msg_size(&f->req),
	       tp_msg_size(&f->rep));
	printf("%-28s %12s %12s %12s\n", "", "ns/op median", "min run",
	       "max run");
	bench_print_row("direct getpid", &res->direct);
	bench_print_row("raw socketpair ping-pong", &res->raw);
	bench_print_row("tether getpid round trip", &res->tether);
	printf("\n");
	bench_print_ratio("tether / raw ping-pong", tr);
	bench_print_ratio("tether / direct", td);
	printf("target: tether/raw <= %.2f: %s\n", BENCH_TARGET,
	       tr < 0 ? "not measured" : tr <= BENCH_TARGET ? "met" :
	       "NOT met");
	if (!res->tether_ok)
		printf("tether row missing: %s\n", strerror(-res->tether_err));
}

/* One series as a JSON object member. */
static void bench_json_series(const char *name, const struct bench_series *s)
{
	printf("  \"%s\": {\"median_ns\": ", name);
	if (s->n)
		printf("%.1f", bench_median(s));
	else
		printf("null");
	printf(", \"runs_ns\": [");
	for (int i = 0; i < s->n; i++)
		printf("%s%.1f", i ? ", " : "", s->ns[i]);
	printf("]},\n");
}

/* A ratio as JSON: a number or null. */
static void bench_json_ratio(const char *name, double r)
{
	if (r < 0)
		printf("  \"%s\": null,\n", name);
	else
		printf("  \"%s\": %.3f,\n", name, r);
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_frames *f,
			     const struct bench_results *res)
{
	double tr = bench_ratio(bench_median(&res->tether),
				bench_median(&res->raw));
	double td = bench_ratio(bench_median(&res->tether),
				bench_median(&res->direct));

	printf("{\n  \"pin\": \"%s\",\n  \"cpus_online\": %ld,\n",
	       bench_pin_names[o->pin], sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\", "
	       "\"tetherd\": \"%s\"},\n", res->cpus_self, res->cpus_raw,
	       res->tetherd_pid > 0 ? res->cpus_tetherd : "");
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n",
	       o->iterations, o->warmup, BENCH_RUNS);
	printf("  \"request_bytes\": %zu,\n  \"reply_bytes\": %zu,\n",
	       tp_msg_size(&f->req), tp_msg_size(&f->rep));
	bench_json_series("direct_getpid", &res->direct);
	bench_json_series("raw_pingpong", &res->raw);
	bench_json_series("tether_getpid", &res->tether);
	bench_json_ratio("ratio_tether_raw", tr);
	bench_json_ratio("ratio_tether_direct", td);
	printf("  \"target_ratio\": %.2f,\n  \"target_met\": %s\n}\n",
	       BENCH_TARGET, tr < 0 ? "null" : tr <= BENCH_TARGET ? "true" :
	       "false");
}

/* ---- main ------------------------------------------------------------ */

/* Pin the client as the mode asks, before anything is forked. */
static int bench_pin_client(enum bench_pin pin)
{
	int rc;

	if (pin == PIN_NONE)
		return 0;
	rc = bench_pin_self(BENCH_CPU_CLIENT);
	if (rc < 0)
		return rc;
	/* Cross mode must be able to use the peer CPU at all. */
	if (pin == PIN_CROSS) {
		rc = bench_pin_self(BENCH_CPU_PEER);
		if (rc == 0)
			rc = bench_pin_self(BENCH_CPU_CLIENT);
	}
	return rc;
}

/* Record who runs where, so the report shows the pinning took effect. */
static void bench_record_affinity(struct bench_results *res,
				  const struct bench_raw *raw,
				  const struct bench_tether *bt)
{
	const struct tether_status *info;

	if (bench_cpu_list(0, res->cpus_self, sizeof(res->cpus_self)) < 0)
		strcpy(res->cpus_self, "?");
	if (bench_cpu_list(raw->pid, res->cpus_raw, sizeof(res->cpus_raw)) < 0)
		strcpy(res->cpus_raw, "?");
	if (!bt->t)
		return;
	info = tether_info(bt->t);
	res->tetherd_pid = info ? info->pid : 0;
	if (res->tetherd_pid <= 0 ||
	    bench_cpu_list(res->tetherd_pid, res->cpus_tetherd,
			   sizeof(res->cpus_tetherd)) < 0)
		strcpy(res->cpus_tetherd, "?");
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_frames f;
	struct bench_raw raw = { .fd = -1, .pid = -1 };
	struct bench_tether bt = { 0 };
	struct bench_results res = { 0 };
	int rc, status = 0;

	if (bench_parse_args(argc, argv, &o) < 0)
		return 2;
	rc = bench_pin_client(o.pin);
	if (rc < 0) {
		fprintf(stderr, "bench: cannot pin to CPU %d%s: %s\n",
			BENCH_CPU_CLIENT, o.pin == PIN_CROSS ? " and 1" : "",
			strerror(-rc));
		return 1;
	}
	rc = bench_frames_init(&f, &o);
	if (rc < 0) {
		bench_fail("building frames", rc);
		bench_frames_destroy(&f);
		return 1;
	}
	rc = bench_raw_start(&raw, &f, o.pin);
	if (rc < 0) {
		bench_fail("starting the ping-pong child", rc);
		status = 1;
		goto out;
	}
	rc = bench_tether_start_pinned(&bt, &o);
	res.tether_ok = rc == 0;
	res.tether_err = rc;
	if (rc < 0) {
		fprintf(stderr, "bench: tether_start (%s): %s\n", o.tetherd,
			strerror(-rc));
		status = 1;
	}
	/* Only now: an ignored SIGPIPE would survive tetherd's exec. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		bench_fail("ignoring SIGPIPE", -errno);
		status = 1;
		goto out;
	}
	bench_record_affinity(&res, &raw, &bt);
	if (bench_run_all(&o, &raw, &bt, &res) < 0 || !res.tether_ok)
		status = 1;
	if (o.json)
		bench_print_json(&o, &f, &res);
	else
		bench_print_table(&o, &f, &res);
out:
	if (bench_tether_stop(&bt) < 0)
		status = 1;
	rc = bench_raw_stop(&raw);
	if (rc < 0) {
		bench_fail("ping-pong child", rc);
		status = 1;
	}
	bench_frames_destroy(&f);
	return status;
}
