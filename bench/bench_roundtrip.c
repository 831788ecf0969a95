/*
 * bench_roundtrip: what one tether syscall costs, against two baselines.
 *
 * Measurements under one CPU pinning: a direct getpid syscall, a raw
 * AF_UNIX socketpair ping-pong between two processes exchanging frames
 * the size of tether's getpid request and reply, and tether_getpid()
 * against a real tetherd; then the same pair for a call with an out
 * buffer (fstat of fd 0 into 144 bytes, which the server places against
 * a guard page) and a ping-pong of its frames' sizes.  Each is run BENCH_RUNS times,
 * interleaved; the median of the per-run means is reported.  Timing is
 * only reported, never judged: the exit status says whether something
 * broke, not whether tether was fast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "proto.h"
#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS 5
/* tether / raw ping-pong: issue 17 asks that it stay <= 1.10 (the
 * first target, 1.25, is met and no longer what is asked) */
#define BENCH_TARGET 1.10

struct bench_opts {
	struct bench_args a;
	long iterations;
	long warmup;
};

/* The two frames of a tether getpid round trip, as the codec builds them,
 * and of an fstat into a 144-byte out buffer. */
struct bench_frames {
	struct tp_msg req;
	struct tp_msg rep;
	struct tp_msg req_out;
	struct tp_msg rep_out;
};

struct bench_results {
	struct bench_series direct;
	struct bench_series raw;
	struct bench_series tether;
	struct bench_series raw_out;
	struct bench_series tether_out;
	bool tether_ok;
	int tether_err;			/* why it is missing, or 0 */
	char cpus_self[64];
	char cpus_raw[64];
	char cpus_tetherd[64];
};

static volatile long bench_sink;

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

#define BENCH_OUT 144			/* sizeof(struct stat) on x86_64 */

/* [id, SYSCALL, [SYS_fstat, [0, [1, 144]]]] and its answer. */
static int bench_build_out(struct tp_msg *req, struct tp_msg *rep,
			   uint64_t id)
{
	static const char zeros[BENCH_OUT];

	tp_msg_request(req, id, TETHER_OP_SYSCALL);
	if (msgpack_pack_array(&req->pk, 2) < 0 ||
	    msgpack_pack_long(&req->pk, SYS_fstat) < 0 ||
	    msgpack_pack_array(&req->pk, 2) < 0 ||
	    msgpack_pack_int(&req->pk, 0) < 0 ||
	    msgpack_pack_array(&req->pk, 2) < 0 ||
	    msgpack_pack_int(&req->pk, TETHER_ARGTAG_OUT) < 0 ||
	    msgpack_pack_int(&req->pk, BENCH_OUT) < 0)
		return -ENOMEM;
	tp_msg_reply(rep, id, 0);
	if (msgpack_pack_array(&rep->pk, 2) < 0 ||
	    msgpack_pack_int64(&rep->pk, 0) < 0 ||
	    msgpack_pack_array(&rep->pk, 2) < 0 ||
	    msgpack_pack_nil(&rep->pk) < 0 ||
	    msgpack_pack_bin(&rep->pk, BENCH_OUT) < 0 ||
	    msgpack_pack_bin_body(&rep->pk, zeros, BENCH_OUT) < 0)
		return -ENOMEM;
	if (tp_msg_finish(req) < 0)
		return -ENOMEM;
	return tp_msg_finish(rep);
}

/* The frames.  The id is one the timed tether loop actually reaches, so
 * it encodes to the same width as most of the library's. */
static int bench_frames_init(struct bench_frames *f, const struct bench_opts *o)
{
	uint64_t id = (uint64_t)o->warmup + (uint64_t)o->iterations;
	int rc;

	tp_msg_init(&f->req);
	tp_msg_init(&f->rep);
	tp_msg_init(&f->req_out);
	tp_msg_init(&f->rep_out);
	rc = bench_build_request(&f->req, id);
	if (rc == 0)
		rc = bench_build_reply(&f->rep, id, (int64_t)getpid());
	if (rc == 0)
		rc = bench_build_out(&f->req_out, &f->rep_out, id);
	return rc;
}

static void bench_frames_destroy(struct bench_frames *f)
{
	tp_msg_destroy(&f->req);
	tp_msg_destroy(&f->rep);
	tp_msg_destroy(&f->req_out);
	tp_msg_destroy(&f->rep_out);
}

/* ---- tether ------------------------------------------------------- */

/* n fstat round trips with a 144-byte out buffer. */
static int bench_tether_out(void *ctx, long n)
{
	struct bench_tetherd *bt = ctx;
	char st[BENCH_OUT];

	for (long i = 0; i < n; i++) {
		struct tether_call c = { .nr = SYS_fstat, .nargs = 2 };
		int rc;

		c.args[0] = TETHER_INT(0);
		c.args[1] = TETHER_OUT(st, sizeof(st));
		if ((rc = tether_call(bt->t, &c)) < 0)
			return rc;
		if (c.ret < 0 || c.args[1].returned != sizeof(st))
			return -EPROTO;
		bench_sink = st[0];
	}
	return 0;
}

/* ---- measuring ------------------------------------------------------- */

/* BENCH_RUNS rounds of the three measurements, interleaved so that a
 * slow stretch of the machine hits all three alike.  A tether failure
 * stops only the tether row. */
static int bench_run_all(const struct bench_opts *o,
			 struct bench_pingpong *raw,
			 struct bench_pingpong *raw_out,
			 struct bench_tetherd *bt, struct bench_results *res)
{
	struct bench_nullcall getpid = { SYS_getpid, bt->t };
	int rc;

	for (int run = 0; run < BENCH_RUNS; run++) {
		rc = bench_measure(bench_direct, &getpid, o->warmup,
				   o->iterations, &res->direct);
		if (rc < 0)
			return bench_fail("direct getpid", rc);
		rc = bench_measure(bench_pingpong_run, raw, o->warmup,
				   o->iterations, &res->raw);
		if (rc < 0)
			return bench_fail("raw ping-pong", rc);
		if (!res->tether_ok)
			continue;
		rc = bench_measure(bench_tether, &getpid, o->warmup,
				   o->iterations, &res->tether);
		if (rc < 0) {
			bench_tether_failed(bt->t, "tether_getpid", rc,
					    &res->tether_ok, &res->tether_err);
			continue;
		}
		rc = bench_measure(bench_pingpong_run, raw_out, o->warmup,
				   o->iterations, &res->raw_out);
		if (rc < 0)
			return bench_fail("raw ping-pong (out buffer)", rc);
		rc = bench_measure(bench_tether_out, bt, o->warmup,
				   o->iterations, &res->tether_out);
		if (rc < 0)
			bench_tether_failed(bt->t, "tether fstat", rc,
					    &res->tether_ok, &res->tether_err);
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* The ratios: tether / raw, tether / direct, and tether / raw with the
 * out buffer. */
static void bench_ratios(const struct bench_results *res, double r[3])
{
	r[0] = bench_ratio(bench_median(&res->tether),
			   bench_median(&res->raw));
	r[1] = bench_ratio(bench_median(&res->tether),
			   bench_median(&res->direct));
	r[2] = bench_ratio(bench_median(&res->tether_out),
			   bench_median(&res->raw_out));
}

/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_frames *f,
			      const struct bench_results *res)
{
	double r[3];

	bench_ratios(res, r);

	bench_layout.width = 28;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, ping-pong child %s, tetherd %s\n",
	       res->cpus_self, res->cpus_raw,
	       res->cpus_tetherd[0] ? res->cpus_tetherd : "n/a");
	printf("iterations: %ld x %d runs (warmup %ld)    "
	       "frames: request %zu B, reply %zu B\n\n",
	       o->iterations, BENCH_RUNS, o->warmup, tp_msg_size(&f->req),
	       tp_msg_size(&f->rep));
	bench_print_heads("", "ns/op median", "min run", "max run");
	bench_print_row("direct getpid", &res->direct, BENCH_NS);
	bench_print_row("raw socketpair ping-pong", &res->raw, BENCH_NS);
	bench_print_row("tether getpid round trip", &res->tether, BENCH_NS);
	printf("\n");
	bench_print_ratio("tether / raw ping-pong", r[0]);
	bench_print_ratio("tether / direct", r[1]);
	printf("target: tether/raw <= %.2f: %s\n", BENCH_TARGET,
	       bench_verdict(r[0], BENCH_TARGET, true));
	printf("\nwith a %d-byte out buffer (guarded): frames %zu B, %zu B\n",
	       BENCH_OUT, tp_msg_size(&f->req_out), tp_msg_size(&f->rep_out));
	bench_print_row("raw ping-pong, same sizes", &res->raw_out, BENCH_NS);
	bench_print_row("tether fstat round trip", &res->tether_out, BENCH_NS);
	bench_print_ratio("tether / raw ping-pong", r[2]);
	printf("target: tether/raw <= %.2f: %s\n", BENCH_TARGET,
	       bench_verdict(r[2], BENCH_TARGET, true));
	if (!res->tether_ok)
		printf("tether row missing: %s\n", strerror(-res->tether_err));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_frames *f,
			     const struct bench_results *res)
{
	double r[3];

	bench_ratios(res, r);

	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\", "
	       "\"tetherd\": \"%s\"},\n", res->cpus_self, res->cpus_raw,
	       res->cpus_tetherd);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n",
	       o->iterations, o->warmup, BENCH_RUNS);
	printf("  \"request_bytes\": %zu,\n  \"reply_bytes\": %zu,\n",
	       tp_msg_size(&f->req), tp_msg_size(&f->rep));
	bench_json_series("direct_getpid", &res->direct, BENCH_NS);
	bench_json_series("raw_pingpong", &res->raw, BENCH_NS);
	bench_json_series("tether_getpid", &res->tether, BENCH_NS);
	bench_json_series("raw_pingpong_out", &res->raw_out, BENCH_NS);
	bench_json_series("tether_fstat_out", &res->tether_out, BENCH_NS);
	bench_json_ratio("ratio_tether_raw", r[0], false);
	bench_json_ratio("ratio_tether_direct", r[1], false);
	bench_json_ratio("ratio_outbuf_tether_raw", r[2], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("target_met", r[0], BENCH_TARGET, true, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 20000, .warmup = 2000 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup, LONG_MAX),
		{ .name = NULL },
	};
	struct bench_frames f;
	struct bench_pingpong raw = { .fd = -1, .pid = -1 };
	struct bench_pingpong raw_out = { .fd = -1, .pid = -1 };
	struct bench_tetherd bt = { 0 };
	struct bench_results res = { 0 };
	int rc, status = 0;

	if (bench_args_parse(argc, argv, "the ping-pong child and tetherd",
			     opts, &o.a) < 0)
		return 2;
	if (bench_setup(o.a.pin) < 0)
		return 1;
	rc = bench_frames_init(&f, &o);
	if (rc < 0) {
		bench_fail("building frames", rc);
		bench_frames_destroy(&f);
		return 1;
	}
	rc = bench_pingpong_start(&raw, tp_msg_data(&f.req),
				  tp_msg_size(&f.req),
				  tp_msg_data(&f.rep), tp_msg_size(&f.rep),
				  o.a.pin);
	if (rc == 0)
		rc = bench_pingpong_start(&raw_out, tp_msg_data(&f.req_out),
					  tp_msg_size(&f.req_out),
					  tp_msg_data(&f.rep_out),
					  tp_msg_size(&f.rep_out), o.a.pin);
	if (rc < 0) {
		bench_fail("starting the ping-pong child", rc);
		status = 1;
		goto out;
	}
	rc = bench_tetherd_start(&bt, NULL, "tetherd", o.a.tetherd, NULL,
				 o.a.pin);
	res.tether_ok = rc == 0;
	res.tether_err = rc;
	if (rc < 0)
		status = 1;
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	bench_cpus(raw.pid, res.cpus_raw, sizeof(res.cpus_raw));
	if (bt.t)
		bench_cpus(bt.pid, res.cpus_tetherd, sizeof(res.cpus_tetherd));
	if (bench_run_all(&o, &raw, &raw_out, &bt, &res) < 0 ||
	    !res.tether_ok)
		status = 1;
	if (o.a.json)
		bench_print_json(&o, &f, &res);
	else
		bench_print_table(&o, &f, &res);
out:
	if (bench_tetherd_stop(&bt) < 0)
		status = 1;
	/* The second child holds a copy of the first one's socket: it goes
	 * first, or the first never sees its EOF. */
	rc = raw_out.pid > 0 ? bench_pingpong_stop(&raw_out) : 0;
	if (rc == 0)
		rc = bench_pingpong_stop(&raw);
	if (rc < 0) {
		bench_fail("ping-pong child", rc);
		status = 1;
	}
	bench_frames_destroy(&f);
	return status;
}
