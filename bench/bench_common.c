/*
 * bench_common: the harness the benches share (see bench_common.h for
 * what is here and why).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define BENCH_RMDIR_TRIES 50		/* x 20 ms, while tetherd exits */

const char *const bench_pin_names[] = { "same", "cross", "none" };

/* ---- options ---------------------------------------------------------- */

/* The word of --pin; -EINVAL for any other. */
int bench_parse_pin(const char *s, enum bench_pin *pin)
{
	if (!strcmp(s, "same"))
		*pin = PIN_SAME;
	else if (!strcmp(s, "cross"))
		*pin = PIN_CROSS;
	else if (!strcmp(s, "none"))
		*pin = PIN_NONE;
	else
		return -EINVAL;
	return 0;
}

/* Parse a long in [min, max]; -EINVAL otherwise. */
int bench_parse_long(const char *s, long min, long max, long *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

/* ---- pinning ---------------------------------------------------------- */

/* Pin the calling process (and what it forks from now on) to one CPU. */
int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

/* Pin the client as the mode asks, before anything is forked; says why
 * on stderr when it cannot. */
int bench_pin_client(enum bench_pin pin)
{
	int rc;

	if (pin == PIN_NONE)
		return 0;
	rc = bench_pin_self(BENCH_CPU_CLIENT);
	/* Cross mode must be able to use the peer CPU at all. */
	if (rc == 0 && pin == PIN_CROSS) {
		rc = bench_pin_self(BENCH_CPU_PEER);
		if (rc == 0)
			rc = bench_pin_self(BENCH_CPU_CLIENT);
	}
	if (rc < 0)
		fprintf(stderr, "bench: cannot pin to CPU %d%s: %s\n",
			BENCH_CPU_CLIENT, pin == PIN_CROSS ? " and 1" : "",
			strerror(-rc));
	return rc;
}

/* Format pid's allowed CPUs as "0,1" into buf, for the report to show
 * that the pinning took effect. */
int bench_cpu_list(pid_t pid, char *buf, size_t size)
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

/* ---- timing ----------------------------------------------------------- */

/* Nanoseconds on the monotonic clock. */
int bench_now(double *ns)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -errno;
	*ns = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
	return 0;
}

/* warmup untimed calls of fn, then n timed ones; append the mean per
 * call to s. */
int bench_measure(bench_fn fn, void *ctx, long warmup, long n,
		  struct bench_series *s)
{
	double t0 = 0, t1 = 0;
	int rc;

	rc = fn(ctx, warmup);
	if (rc == 0)
		rc = bench_now(&t0);
	if (rc == 0)
		rc = fn(ctx, n);
	if (rc == 0)
		rc = bench_now(&t1);
	if (rc < 0)
		return rc;
	s->ns[s->n++] = (t1 - t0) / (double)n;
	return 0;
}

/* ---- series ----------------------------------------------------------- */

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The completed values, sorted, into v. */
static void bench_sorted(const struct bench_series *s, double *v)
{
	memcpy(v, s->ns, sizeof(v[0]) * (size_t)s->n);
	qsort(v, (size_t)s->n, sizeof(v[0]), bench_cmp_double);
}

/* Median of the completed runs, or -1 when there are none.  An even
 * count (a fixed-run row cut short) gives the upper middle value, as
 * these benches always reported it. */
double bench_median(const struct bench_series *s)
{
	double v[BENCH_SERIES_MAX];

	if (s->n == 0)
		return -1;
	bench_sorted(s, v);
	return v[s->n / 2];
}

/* The same, but the mean of the middle two for an even count: where the
 * user picks the count (--rounds), an even one is ordinary. */
double bench_median_mean(const struct bench_series *s)
{
	double v[BENCH_SERIES_MAX];

	if (s->n == 0)
		return -1;
	bench_sorted(s, v);
	if (s->n % 2 == 0)
		return (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
	return v[s->n / 2];
}

/* Smallest or largest completed run (max selects). */
double bench_extreme(const struct bench_series *s, bool max)
{
	double r = s->n ? s->ns[0] : -1;

	for (int i = 1; i < s->n; i++)
		if (max ? s->ns[i] > r : s->ns[i] < r)
			r = s->ns[i];
	return r;
}

/* Ratio a/b, or -1 when either side is missing. */
double bench_ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : -1;
}

/* ---- I/O -------------------------------------------------------------- */

/* Write all of buf to a blocking fd. */
int bench_write_full(int fd, const void *buf, size_t len)
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
int bench_read_full(int fd, void *buf, size_t len)
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

/* ---- raw socketpair ping-pong ----------------------------------------- */

/* The child: read a request, answer a reply, until the parent hangs up. */
static void __attribute__((noreturn))
bench_pingpong_child(int fd, const struct bench_pingpong *pp,
		     enum bench_pin pin)
{
	if (pin == PIN_CROSS && bench_pin_self(BENCH_CPU_PEER) < 0)
		_exit(3);
	for (;;) {
		int rc = bench_read_full(fd, pp->buf, pp->reqlen);

		if (rc == 0)
			_exit(0);
		if (rc < 0 || bench_write_full(fd, pp->rep, pp->replen) < 0)
			_exit(1);
	}
}

/* Fork the ping-pong child on a fresh socketpair.  The frames must
 * outlive it; bench_pingpong_stop undoes this even after a failure. */
int bench_pingpong_start(struct bench_pingpong *pp, const void *req,
			 size_t reqlen, const void *rep, size_t replen,
			 enum bench_pin pin)
{
	int sv[2];

	pp->req = req;
	pp->reqlen = reqlen;
	pp->rep = rep;
	pp->replen = replen;
	pp->pid = -1;
	pp->fd = -1;
	/* Allocated before the fork: the child reads requests into its
	 * copy, we read replies into ours. */
	pp->buf = malloc(reqlen > replen ? reqlen : replen);
	if (!pp->buf)
		return -ENOMEM;
	/* CLOEXEC: tetherd must not inherit our end, or the child never
	 * sees EOF. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	pp->pid = fork();
	if (pp->pid < 0) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (pp->pid == 0) {
		close(sv[0]);
		bench_pingpong_child(sv[1], pp, pin);
	}
	close(sv[1]);
	pp->fd = sv[0];
	return 0;
}

/* n request/reply exchanges with the child (a bench_fn). */
int bench_pingpong_run(void *ctx, long n)
{
	struct bench_pingpong *pp = ctx;

	for (long i = 0; i < n; i++) {
		int rc = bench_write_full(pp->fd, pp->req, pp->reqlen);

		if (rc < 0)
			return rc;
		rc = bench_read_full(pp->fd, pp->buf, pp->replen);
		if (rc <= 0)
			return rc ? rc : -ECONNRESET;
	}
	return 0;
}

/* Hang up on the child and reap it; -EIO if it did not exit cleanly. */
int bench_pingpong_stop(struct bench_pingpong *pp)
{
	int status;
	pid_t p;

	if (pp->fd >= 0)
		close(pp->fd);
	pp->fd = -1;
	free(pp->buf);
	pp->buf = NULL;
	if (pp->pid <= 0)
		return 0;
	do
		p = waitpid(pp->pid, &status, 0);
	while (p < 0 && errno == EINTR);
	pp->pid = -1;
	if (p < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- tetherd ---------------------------------------------------------- */

/* tether_start(so) into *t (NULL on failure).  In cross mode tetherd
 * must land on the peer CPU: it inherits our affinity at the fork, so
 * we move there for the start and back after. */
int bench_start_pinned(const struct tether_start_opts *so,
		       enum bench_pin pin, struct tether **t)
{
	int rc, rc2 = 0;

	*t = NULL;
	if (pin == PIN_CROSS && (rc = bench_pin_self(BENCH_CPU_PEER)) < 0)
		return rc;
	rc = tether_start(so, t);
	if (rc < 0)
		*t = NULL;
	if (pin == PIN_CROSS)
		rc2 = bench_pin_self(BENCH_CPU_CLIENT);
	return rc < 0 ? rc : rc2;
}

/* Make the private directory and launch tetherd on a socket inside it;
 * bench_tetherd_stop undoes this even after a failure. */
int bench_tetherd_start(struct bench_tetherd *bd, const char *tetherd,
			enum bench_pin pin)
{
	struct tether_start_opts so = { 0 };
	int n;

	strcpy(bd->dir, "/tmp/tether-bench.XXXXXX");
	if (!mkdtemp(bd->dir))
		return -errno;
	bd->have_dir = true;
	n = snprintf(bd->sock, sizeof(bd->sock), "%s/tetherd.sock", bd->dir);
	if (n < 0 || (size_t)n >= sizeof(bd->sock))
		return -ENAMETOOLONG;
	so.socket_path = bd->sock;
	so.tetherd = tetherd;
	return bench_start_pinned(&so, pin, &bd->t);
}

/* Shut the server down, detach, clean up the directory. */
int bench_tetherd_stop(struct bench_tetherd *bd)
{
	int rc = 0;

	if (bd->t) {
		rc = tether_shutdown(bd->t);
		if (rc < 0)
			fprintf(stderr, "bench: tether_shutdown: %s (%s)\n",
				strerror(-rc), tether_last_error(bd->t));
		tether_disconnect(bd->t);
		bd->t = NULL;
	}
	if (bd->have_dir) {
		int rc2 = bench_rmdir(bd->dir, 1);

		if (rc2 < 0)
			fprintf(stderr, "bench: cannot remove %s: %s\n",
				bd->dir, strerror(-rc2));
		bd->have_dir = false;
	}
	return rc;
}

/* Remove path and what is in it, depth directory levels down (tetherd's
 * state directory sits inside ours). */
static int bench_rmtree(int parent, const char *path, int depth)
{
	int fd = openat(parent, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR &&
		    depth > 0)
			bench_rmtree(dirfd(d), de->d_name, depth - 1);
	}
	closedir(d);
	if (unlinkat(parent, path, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return -errno;
}

/* Remove the private directory, depth levels of it; the server may
 * still be exiting, so a non-empty directory is retried. */
int bench_rmdir(const char *path, int depth)
{
	int rc = 0;

	for (int tries = 0; tries < BENCH_RMDIR_TRIES; tries++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		rc = bench_rmtree(AT_FDCWD, path, depth);
		if (rc != -ENOTEMPTY && rc != -EEXIST)
			return rc;
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* ---- reporting -------------------------------------------------------- */

/* Report a failed step; returns rc. */
int bench_fail(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(-rc));
	return rc;
}

/* A ratio as a JSON member: a number or null; the last one of an
 * object takes no comma. */
void bench_json_ratio(const char *name, double r, bool last)
{
	if (r < 0)
		printf("  \"%s\": null%s\n", name, last ? "" : ",");
	else
		printf("  \"%s\": %.3f%s\n", name, r, last ? "" : ",");
}
