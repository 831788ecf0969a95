/*
 * bench_common: timing, series, the raw ping-pong and the report (see
 * bench_common.h for what is here and why).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

const char *const bench_pin_names[] = { "same", "cross", "none" };

struct bench_layout bench_layout = { 30, 2 };

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

/* The same as a value: with CLOCK_MONOTONIC it cannot fail, and a
 * run's time is a difference. */
double bench_now_ns(void)
{
	double ns = 0;

	bench_now(&ns);
	return ns;
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

/* ---- calls without arguments ---------------------------------------- */

static volatile long bench_sink;

int bench_direct(void *ctx, long n)
{
	const struct bench_nullcall *c = ctx;

	for (long i = 0; i < n; i++)
		bench_sink = syscall(c->nr);
	return 0;
}

int bench_tether(void *ctx, long n)
{
	const struct bench_nullcall *c = ctx;

	for (long i = 0; i < n; i++) {
		long r = 0;
		int rc = tether_syscall(c->t, c->nr, 0, NULL, &r);

		if (rc < 0)
			return rc;
		if (r <= 0)
			return r < 0 ? (int)r : -EPROTO;
		bench_sink = r;
	}
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
 * count gives the upper middle value (a fixed-run row cut short, as
 * these benches always reported it), or with mean_even the mean of the
 * middle two (where the user picks the count, --rounds). */
double bench_median(const struct bench_series *s)
{
	double v[BENCH_SERIES_MAX];

	if (s->n == 0)
		return -1;
	bench_sorted(s, v);
	if (s->mean_even && s->n % 2 == 0)
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
	if (pin == PIN_CROSS && bench_pin_pid(0, BENCH_CPU_PEER) < 0)
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
	int rc;

	if (pp->fd >= 0)
		close(pp->fd);
	pp->fd = -1;
	free(pp->buf);
	pp->buf = NULL;
	if (pp->pid <= 0)
		return 0;
	rc = bench_reap(pp->pid);
	pp->pid = -1;
	return rc;
}

/* ---- reporting -------------------------------------------------------- */

double bench_in(double ns, struct bench_unit u)
{
	if (ns <= 0)
		return -1;
	return u.per_s > 0 ? u.per_s / (ns / 1e9) : ns / u.div;
}

void bench_print_head(enum bench_pin pin)
{
	printf("pin mode: %s    cpus online: %ld\n", bench_pin_names[pin],
	       sysconf(_SC_NPROCESSORS_ONLN));
}

void bench_json_head(enum bench_pin pin)
{
	printf("{\n  \"pin\": \"%s\",\n  \"cpus_online\": %ld,\n",
	       bench_pin_names[pin], sysconf(_SC_NPROCESSORS_ONLN));
}

void bench_print_heads(const char *label, const char *a, const char *b,
		       const char *c)
{
	printf("%-*s %12s %12s %12s\n", bench_layout.width, label, a, b, c);
}

void bench_print_cells(const char *name, const struct bench_series *s,
		       struct bench_unit u)
{
	int w = bench_layout.width;

	if (s->n == 0) {
		printf("%-*s %12s %12s %12s", w, name, "n/a", "-", "-");
		return;
	}
	printf("%-*s %12.1f %12.1f %12.1f", w, name,
	       bench_in(bench_median(s), u),
	       bench_in(bench_extreme(s, false), u),
	       bench_in(bench_extreme(s, true), u));
}

void bench_print_row(const char *name, const struct bench_series *s,
		     struct bench_unit u)
{
	bench_print_cells(name, s, u);
	printf("\n");
}

void bench_print_ratio(const char *name, double r)
{
	if (r < 0)
		printf("%-*s %12s\n", bench_layout.width, name, "n/a");
	else
		printf("%-*s %12.*f\n", bench_layout.width, name,
		       bench_layout.ratio_digits, r);
}

const char *bench_verdict(double r, double target, bool at_most)
{
	if (r < 0)
		return "not measured";
	return (at_most ? r <= target : r >= target) ? "met" : "NOT met";
}

void bench_json_series(const char *name, const struct bench_series *s,
		       struct bench_unit u)
{
	const char *sep = *u.key ? "_" : "";

	printf("  \"%s\": {\"median%s%s\": ", name, sep, u.key);
	if (s->n)
		printf("%.1f", bench_in(bench_median(s), u));
	else
		printf("null");
	printf(", \"%s%s%s\": [", u.runs ? u.runs : "runs", sep, u.key);
	for (int i = 0; i < s->n; i++)
		printf("%s%.1f", i ? ", " : "", bench_in(s->ns[i], u));
	printf("]},\n");
}

void bench_json_ratio(const char *name, double r, bool last)
{
	if (r < 0)
		printf("  \"%s\": null%s\n", name, last ? "" : ",");
	else
		printf("  \"%s\": %.3f%s\n", name, r, last ? "" : ",");
}

void bench_json_met(const char *name, double r, double target,
		    bool at_most, bool last)
{
	const char *v = bench_verdict(r, target, at_most);

	printf("  \"%s\": %s%s\n", name, r < 0 ? "null" :
	       strcmp(v, "met") ? "false" : "true", last ? "" : ",");
}

int bench_fail(const char *what, int rc)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(-rc));
	return rc;
}

void bench_tether_failed(struct tether *t, const char *what, int rc,
			 bool *ok, int *err)
{
	fprintf(stderr, "bench: %s: %s (%s)\n", what, strerror(-rc),
		t ? tether_last_error(t) : "");
	*ok = false;
	*err = rc;
}
