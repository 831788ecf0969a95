/*
 * bench_common: the harness the benches share, so that their baselines
 * and statistics are computed one way.  What each bench prints (table,
 * JSON) stays in the bench: its format is its own contract.
 *
 *   pinning    --pin same|cross|none: the bench on BENCH_CPU_CLIENT, its
 *              peers (children, tetherd) on BENCH_CPU_PEER in cross mode
 *   options    the --pin word, a bounded integer
 *   timing     the monotonic clock, one warmed-up timed measurement
 *   series     per-run values: median, extremes, ratios
 *   ping-pong  the raw baseline: a child on a socketpair answering a
 *              request frame of a given size with a reply frame
 *   tetherd    starting one pinned, in a private directory; removing
 *              that directory
 *   reporting  a failure line on stderr, a ratio as a JSON member
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tether.h"

#define BENCH_CPU_CLIENT 0
#define BENCH_CPU_PEER 1
#define BENCH_SERIES_MAX 1000		/* runs (or rounds) a series holds */

enum bench_pin { PIN_SAME, PIN_CROSS, PIN_NONE };

extern const char *const bench_pin_names[];	/* by enum bench_pin */

/* Per-run values (ns, mostly); n is how many runs completed. */
struct bench_series {
	double ns[BENCH_SERIES_MAX];
	int n;
};

/* n calls of whatever is measured; 0 or -errno. */
typedef int (*bench_fn)(void *ctx, long n);

/* The raw ping-pong: we write req, the child answers rep. */
struct bench_pingpong {
	int fd;
	pid_t pid;
	const void *req;
	size_t reqlen;
	const void *rep;
	size_t replen;
	unsigned char *buf;		/* either frame fits */
};

/* A tetherd of our own, on DIR/tetherd.sock in a private directory. */
struct bench_tetherd {
	struct tether *t;
	char dir[64];
	char sock[128];
	bool have_dir;
};

int bench_parse_pin(const char *s, enum bench_pin *pin);
int bench_parse_long(const char *s, long min, long max, long *v);

int bench_pin_self(int cpu);
int bench_pin_client(enum bench_pin pin);
int bench_cpu_list(pid_t pid, char *buf, size_t size);

int bench_now(double *ns);
int bench_measure(bench_fn fn, void *ctx, long warmup, long n,
		  struct bench_series *s);

double bench_median(const struct bench_series *s);
double bench_median_mean(const struct bench_series *s);
double bench_extreme(const struct bench_series *s, bool max);
double bench_ratio(double a, double b);

int bench_write_full(int fd, const void *buf, size_t len);
int bench_read_full(int fd, void *buf, size_t len);

int bench_pingpong_start(struct bench_pingpong *pp, const void *req,
			 size_t reqlen, const void *rep, size_t replen,
			 enum bench_pin pin);
int bench_pingpong_run(void *ctx, long n);
int bench_pingpong_stop(struct bench_pingpong *pp);

int bench_start_pinned(const struct tether_start_opts *so,
		       enum bench_pin pin, struct tether **t);
int bench_tetherd_start(struct bench_tetherd *bd, const char *tetherd,
			enum bench_pin pin);
int bench_tetherd_stop(struct bench_tetherd *bd);
int bench_rmdir(const char *path, int depth);

int bench_fail(const char *what, int rc);
void bench_json_ratio(const char *name, double r, bool last);

#endif
