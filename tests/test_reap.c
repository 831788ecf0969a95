/*
 * SUBMIT and REAP (tether_submit_many, tether_reap) against a real
 * tetherd, with real pipes: many calls in one frame, completions many a
 * frame, in the order they completed and under their ids; the bounds
 * (entries per frame, an oversized frame, the job quota, buffer bytes,
 * one waiting REAP), each refused with its errno while the server goes
 * on; a controller SIGKILLed while its REAP waits (its completions
 * parked for the next one, or dropped with DETACH_CANCEL); CANCEL.
 *
 * Nothing here times anything: waits are for events (a kid's report, a
 * kid blocked in a syscall, PENDING's state) up to generous deadlines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kit.h"
#include "messages.h"

TestSuite(submit, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(bounds, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(detach, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(cancel, .init = fx_init_server, .fini = fx_fini, .timeout = 30);

#define NPIPES 1000
#define MIB (1u << 20)

/* ---- helpers ------------------------------------------------------------ */

static void write_call(struct tether_call *c, int fd, const void *p, size_t n)
{
	fx_call_init(c, SYS_write, 3);
	c->args[0] = TETHER_INT(fd);
	c->args[1] = TETHER_IN(p, n);
	c->args[2] = TETHER_INT(n);
}

static void submit_ok(struct tether *t, struct tether_call *calls, size_t n)
{
	int rc = tether_submit_many(t, calls, n, 0);

	cr_assert_eq(rc, 0, "submit of %zu: %s (%s)", n, strerror(-rc),
		     tether_last_error(t));
	for (size_t i = 0; i < n; i++)
		cr_assert_gt(calls[i].async_id, 0, "entry %zu has no id", i);
}

/* One REAP: how many it returned. */
static int reap_ok(struct tether *t, struct tether_call **done, size_t max,
		   size_t min, int64_t wait)
{
	int n = tether_reap(t, done, max, min, wait);

	cr_assert_geq(n, 0, "reap: %s (%s)", strerror(-n),
		      tether_last_error(t));
	return n;
}

/* Submit n calls by frames of TETHER_SUBMIT_MAX, then reap them all:
 * each must come back exactly once.  The number of REAPs it took. */
static int submit_reap_all(struct tether *t, struct tether_call *calls,
			   size_t n)
{
	static struct tether_call *done[TETHER_SUBMIT_MAX];
	size_t got = 0;
	int reaps = 0;

	for (size_t base = 0; base < n; base += TETHER_SUBMIT_MAX)
		submit_ok(t, calls + base, n - base < TETHER_SUBMIT_MAX
					   ? n - base : TETHER_SUBMIT_MAX);
	while (got < n) {
		int k = reap_ok(t, done, TETHER_SUBMIT_MAX, 1, FX_DEADLINE_MS);

		cr_assert_gt(k, 0, "reap: nothing within %d ms, %zu of %zu",
			     FX_DEADLINE_MS, got, n);
		for (int i = 0; i < k; i++)
			cr_assert(done[i] >= calls && done[i] < calls + n,
				  "reaped a call that was not submitted");
		got += (size_t)k;
		reaps++;
	}
	cr_assert_eq(tether_submitted(t), 0);
	return reaps;
}

static int g_pfd[NPIPES][2];

/* NPIPES pipes in the server, their pipe2 calls in one SUBMIT. */
static void make_pipes(struct tether *t, int n)
{
	static struct tether_call calls[NPIPES];

	for (int i = 0; i < n; i++) {
		fx_call_init(&calls[i], SYS_pipe2, 2);
		calls[i].args[0] = TETHER_OUT(g_pfd[i], 8);
		calls[i].args[1] = TETHER_INT(O_CLOEXEC);
	}
	submit_reap_all(t, calls, (size_t)n);
	for (int i = 0; i < n; i++)
		cr_assert(calls[i].ret == 0 && calls[i].args[0].returned == 8,
			  "pipe2 #%d: %ld", i, calls[i].ret);
}

static void close_pipes(struct tether *t, int n)
{
	static struct tether_call calls[2 * NPIPES];

	for (int i = 0; i < 2 * n; i++) {
		fx_call_init(&calls[i], SYS_close, 1);
		calls[i].args[0] = TETHER_INT(g_pfd[i / 2][i % 2]);
	}
	submit_reap_all(t, calls, 2 * (size_t)n);
	for (int i = 0; i < 2 * n; i++)
		cr_assert_eq(calls[i].ret, 0, "close #%d: %ld", i,
			     calls[i].ret);
}

/* A SUBMIT entry by hand: [read, [fd, [OUT, n], n]]. */
static void raw_read_entry(struct tp_w *w, int fd, int64_t n)
{
	tp_w_array(w, 2);
	tp_w_i64(w, SYS_read);
	tp_w_array(w, 3);
	tp_w_i64(w, fd);
	tp_w_array(w, 2);
	tp_w_i64(w, TETHER_ARGTAG_OUT);
	tp_w_i64(w, n);
	tp_w_i64(w, n);
}

/* Poll until id is in state want ("" once it is not listed), or fail. */
static void wait_state(struct tether *t, uint64_t id, const char *want)
{
	char st[16];

	cr_assert(fx_wait_state(t, id, want, st, sizeof(st)),
		  "request %llu is \"%s\", not \"%s\"",
		  (unsigned long long)id, st, want);
}

/* ---- submit -------------------------------------------------------------- */

/* 1,000 pipes made in one SUBMIT, 1,000 reads submitted in one frame,
 * 1,000 writes in another; every read gets its pipe's bytes under its
 * own id, the 2,000 completions come in a few frames, and the server's
 * fds are back where they were. */
Test(submit, thousand_reads_in_one_frame_reaped_in_bulk)
{
	static struct tether_call calls[2 * NPIPES];
	static struct tether_call *done[TETHER_SUBMIT_MAX];
	static unsigned char in[NPIPES][16], out[NPIPES][16];
	static bool seen[2 * NPIPES];
	int before = fx_settled_fds(fx.pid), reaps = 0;
	size_t got = 0;

	make_pipes(fx.t, NPIPES);
	for (int i = 0; i < NPIPES; i++) {
		memset(in[i], (int)(i % 251 + 1), sizeof(in[i]));
		fx_read_call(&calls[i], g_pfd[i][0], out[i], sizeof(out[i]));
	}
	submit_ok(fx.t, calls, NPIPES);
	/* Nothing written yet: nothing completes, nothing is lost. */
	cr_assert_eq(reap_ok(fx.t, done, TETHER_SUBMIT_MAX, 0, 0), 0);
	cr_assert_eq(tether_submitted(fx.t), NPIPES);
	for (int i = 0; i < NPIPES; i++)
		write_call(&calls[NPIPES + i], g_pfd[i][1], in[i],
			   sizeof(in[i]));
	submit_ok(fx.t, calls + NPIPES, NPIPES);
	while (got < 2 * NPIPES) {
		int k = reap_ok(fx.t, done, TETHER_SUBMIT_MAX, 1,
				FX_DEADLINE_MS);

		cr_assert_gt(k, 0, "nothing reaped, %zu of %d", got,
			     2 * NPIPES);
		for (int j = 0; j < k; j++) {
			size_t i = (size_t)(done[j] - calls);

			cr_assert_lt(i, 2 * NPIPES);
			cr_assert_not(seen[i], "call %zu reaped twice", i);
			seen[i] = true;
		}
		got += (size_t)k;
		reaps++;
	}
	cr_log_info("2,000 completions in %d REAP replies", reaps);
	cr_expect_lt(reaps, 2 * NPIPES / 10, "%d REAPs for 2,000 completions",
		     reaps);
	for (int i = 0; i < NPIPES; i++) {
		cr_assert_eq(calls[i].ret, 16, "read %d: %ld", i, calls[i].ret);
		cr_assert_eq(calls[i].args[1].returned, 16);
		cr_assert_arr_eq(out[i], in[i], 16, "read %d got other bytes",
				 i);
		cr_assert_eq(calls[NPIPES + i].ret, 16, "write %d: %ld", i,
			     calls[NPIPES + i].ret);
	}
	close_pipes(fx.t, NPIPES);
	fx_expect_fds(fx.pid, before, "after closing the pipes");
}

/* Completions come in the order the calls completed, not submitted,
 * each under the id its submit gave. */
Test(submit, completions_in_completion_order)
{
	struct tether_call calls[3], *done[3];
	char buf[3][8];
	int p[3][2];

	for (int i = 0; i < 3; i++) {
		cr_assert_eq(fx_pipe2(fx.t, p[i], O_CLOEXEC), 0);
		fx_read_call(&calls[i], p[i][0], buf[i], sizeof(buf[i]));
	}
	submit_ok(fx.t, calls, 3);
	cr_assert(calls[0].async_id < calls[1].async_id &&
		  calls[1].async_id < calls[2].async_id);
	for (int k = 0, order[3] = { 2, 0, 1 }; k < 3; k++) {
		int i = order[k];

		cr_assert_eq(fx_write(fx.t, p[i][1], "abc", 3), 3);
		cr_assert_eq(reap_ok(fx.t, done, 3, 1, FX_DEADLINE_MS), 1);
		cr_assert_eq(done[0], &calls[i], "completion %d is not call %d",
			     k, i);
		cr_assert_eq(calls[i].ret, 3);
		cr_assert(!memcmp(buf[i], "abc", 3));
	}
	cr_assert_eq(tether_submitted(fx.t), 0);
}

/* Calls that cannot block run at once, in entry order: one REAP that
 * does not wait finds them all. */
Test(submit, direct_calls_complete_at_submit_in_entry_order)
{
	struct tether_call calls[10], *done[10];

	for (int i = 0; i < 10; i++)
		fx_call_init(&calls[i], SYS_getpid, 0);
	submit_ok(fx.t, calls, 10);
	cr_assert_eq(reap_ok(fx.t, done, 10, 10, 0), 10);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(done[i], &calls[i], "completion %d out of order",
			     i);
		cr_assert_eq(calls[i].ret, fx.pid);
	}
}

/* A REAP waiting for more than will ever come is answered once the last
 * submitted call completes; max caps one reply. */
Test(submit, min_beyond_outstanding_and_max)
{
	struct tether_call calls[4], *done[4];
	char buf[8];
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	for (int i = 0; i < 3; i++)
		fx_call_init(&calls[i], SYS_getpid, 0);
	fx_read_call(&calls[3], p[0], buf, sizeof(buf));
	submit_ok(fx.t, calls, 4);
	cr_assert_eq(reap_ok(fx.t, done, 2, 0, 0), 2, "max 2");
	cr_assert_eq(fx_write(fx.t, p[1], "z", 1), 1);
	cr_assert_eq(reap_ok(fx.t, done, 4, 4, FX_DEADLINE_MS), 2,
		     "min 4 with 2 outstanding");
	cr_assert_eq(tether_submitted(fx.t), 0);
	/* Nothing outstanding: answered at once, empty. */
	cr_assert_eq(reap_ok(fx.t, done, 4, 4, -1), 0);
}

/* Four 1 MiB preads of a file: a REAP frame holds one of them (two
 * would pass 2 MiB), the rest wait for the next REAPs. */
Test(submit, big_completions_split_across_frames)
{
	static char buf[4][MIB], data[MIB];
	struct tether_call calls[4], *done[4];
	char path[128];
	long fd;

	memset(data, 'q', sizeof(data));
	fx_path(path, sizeof(path), "big");
	fx_write_file(path, data, sizeof(data));
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 4; i++) {
		fx_call_init(&calls[i], SYS_pread64, 4);
		calls[i].args[0] = TETHER_INT(fd);
		calls[i].args[1] = TETHER_OUT(buf[i], MIB);
		calls[i].args[2] = TETHER_INT(MIB);
		calls[i].args[3] = TETHER_INT(0);
	}
	submit_ok(fx.t, calls, 4);
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(reap_ok(fx.t, done, 4, 1, FX_DEADLINE_MS), 1,
			     "REAP %d", k);
		cr_assert_eq(done[0]->ret, MIB, "pread %d: %ld", k,
			     done[0]->ret);
		cr_assert_eq(done[0]->args[1].returned, MIB);
		cr_assert(!memcmp(done[0]->args[1].out, data, MIB));
	}
	cr_assert_eq(fx_close(fx.t, (int)fd), 0);
}

/* ---- bounds ---------------------------------------------------------- */

/* [id, SUBMIT, [entries]] of n getpids by hand, its reply's errno and
 * text. */
static int raw_submit(struct fx_raw *r, uint32_t n, char *text, size_t size)
{
	struct fx_frame f;
	struct tp_msg m;
	uint64_t id = fx_raw_begin(r, &m, TETHER_OP_SUBMIT);
	int code;

	tp_w_array(&m.w, 1);
	tp_w_array(&m.w, n);
	for (uint32_t i = 0; i < n; i++) {
		tp_w_array(&m.w, 2);
		tp_w_i64(&m.w, SYS_getpid);
		tp_w_array(&m.w, 0);
	}
	fx_raw_send(r, &m);
	code = fx_raw_reply(r, id, &f);
	cr_assert_geq(code, 0, "no reply to SUBMIT");
	fx_frame_text(&f, text, size);
	fx_frame_free(&f);
	return code;
}

/* 1,025 entries (one too many): E2BIG naming the limit, nothing runs;
 * 1,024 on the same connection then go. */
Test(bounds, too_many_entries_is_e2big)
{
	struct fx_raw r;
	char text[256];
	struct tether_call c;

	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	cr_assert_eq(raw_submit(&r, TETHER_SUBMIT_MAX + 1, text, sizeof(text)),
		     E2BIG, "SUBMIT of 1025");
	cr_expect(strstr(text, "1025 entries (1 to 1024)"), "text: %s", text);
	cr_assert_eq(raw_submit(&r, TETHER_SUBMIT_MAX, text, sizeof(text)),
		     0, "SUBMIT of 1024: %s", text);
	cr_assert_eq(raw_submit(&r, 0, text, sizeof(text)), E2BIG);
	fx_raw_close(&r);
	/* The library refuses them before sending. */
	cr_assert_eq(fx_reattach(), 0);
	fx_call_init(&c, SYS_getpid, 0);
	cr_assert_eq(tether_submit_many(fx.t, &c, 0, 0), -E2BIG);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* A frame over the limit: refused with E2BIG, its bytes skipped, and the
 * connection and the server go on (a SUBMIT after it runs). */
Test(bounds, oversized_frame_refused_server_keeps_running)
{
	static char big[1024 * 1024];
	static struct tether_call calls[3];
	struct fx_raw r;
	unsigned char hdr[4];
	char text[256];

	/* The library will not build it. */
	for (int i = 0; i < 3; i++)
		write_call(&calls[i], 1, big, sizeof(big));
	cr_assert_eq(tether_submit_many(fx.t, calls, 3, 0), -EMSGSIZE,
		     "3 MiB of in buffers: %s", tether_last_error(fx.t));
	cr_assert_eq(tether_submitted(fx.t), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	/* By hand: a header announcing 3 MiB, then the bytes. */
	fx_raw_attach(&r);
	tp_put_be32(hdr, 3u * MIB);
	cr_assert_eq(fx_send_bytes(r.sfd, hdr, 4), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(fx_send_bytes(r.sfd, big, sizeof(big)), 0);
	cr_assert_eq(raw_submit(&r, 5, text, sizeof(text)), 0, "after: %s",
		     text);
	fx_raw_close(&r);
	cr_assert_eq(fx_reattach(), 0);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* An entry the server refuses fails the whole SUBMIT, naming the entry;
 * none of the others ran. */
Test(bounds, bad_entry_fails_whole_submit)
{
	struct fx_raw r;
	struct fx_frame f;
	struct tp_msg m;
	struct tether_pending *v;
	char text[256];
	uint64_t id;
	size_t n;
	int code, p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	id = fx_raw_begin(&r, &m, TETHER_OP_SUBMIT);
	tp_w_array(&m.w, 1);
	tp_w_array(&m.w, 3);
	for (int i = 0; i < 2; i++)	/* two reads of the pipe */
		raw_read_entry(&m.w, p[0], 8);
	tp_w_array(&m.w, 2);		/* seven arguments */
	tp_w_i64(&m.w, SYS_getpid);
	tp_w_array(&m.w, 7);
	for (int i = 0; i < 7; i++)
		tp_w_i64(&m.w, 0);
	fx_raw_send(&r, &m);
	code = fx_raw_reply(&r, id, &f);
	fx_frame_text(&f, text, sizeof(text));
	fx_frame_free(&f);
	cr_assert_neq(code, 0, "a 7-argument entry was accepted");
	cr_expect(strstr(text, "(entry 2)"), "text: %s", text);
	fx_raw_close(&r);
	cr_assert_eq(fx_reattach(), 0);
	cr_assert_eq(tether_pending(fx.t, &v, &n), 0);
	cr_expect_eq(n, 0, "%zu requests started", n);
	free(v);
}

Test(bounds, reap_arguments_out_of_range)
{
	struct tether_call *done[1];
	struct fx_raw r;
	struct fx_frame f;
	struct tp_msg m;
	struct tp_reap q = { .has = TP_REAP_MIN | TP_REAP_MAX,
			     .min = 1, .max = TETHER_SUBMIT_MAX + 1 };
	char text[256];
	uint64_t id;

	cr_assert_eq(tether_reap(fx.t, done, 0, 0, 0), -EINVAL);
	cr_assert_eq(tether_reap(fx.t, done, 1, 2, 0), -EINVAL);
	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	id = fx_raw_begin(&r, &m, TETHER_OP_REAP);
	tp_pack_reap(&m.w, &q);
	fx_raw_send(&r, &m);
	cr_assert_eq(fx_raw_reply(&r, id, &f), EINVAL);
	cr_expect(strstr(fx_frame_text(&f, text, sizeof(text)),
			 "max 1025 completions (1 to 1024)"), "text: %s", text);
	fx_frame_free(&f);
	q.max = 2;
	q.min = 3;
	id = fx_raw_begin(&r, &m, TETHER_OP_REAP);
	tp_pack_reap(&m.w, &q);
	fx_raw_send(&r, &m);
	cr_assert_eq(fx_raw_reply(&r, id, NULL), EINVAL);
	fx_raw_close(&r);
}

/* One REAP may wait per connection: a second is EBUSY, the first is
 * still answered when its call completes. */
Test(bounds, second_waiting_reap_is_ebusy)
{
	struct fx_raw r;
	struct fx_frame f;
	struct tp_msg m;
	struct tp_reap q = { .has = TP_REAP_MIN, .min = 1 };
	struct tp_reap_reply rep;
	struct tp_err e;
	uint64_t first, id;
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	id = fx_raw_begin(&r, &m, TETHER_OP_SUBMIT);
	tp_w_array(&m.w, 1);
	tp_w_array(&m.w, 1);
	raw_read_entry(&m.w, p[0], 4);
	fx_raw_send(&r, &m);
	cr_assert_eq(fx_raw_reply(&r, id, NULL), 0);
	first = fx_raw_begin(&r, &m, TETHER_OP_REAP);
	tp_pack_reap(&m.w, &q);
	fx_raw_send(&r, &m);
	id = fx_raw_begin(&r, &m, TETHER_OP_REAP);
	tp_pack_reap(&m.w, &q);
	fx_raw_send(&r, &m);
	cr_assert_eq(fx_raw_reply(&r, id, NULL), EBUSY);
	/* A write on the same connection completes the read. */
	{
		struct tp_msg w;
		uint64_t wid = fx_raw_begin(&r, &w, TETHER_OP_SYSCALL);

		tp_w_array(&w.w, 2);
		tp_w_i64(&w.w, SYS_write);
		tp_w_array(&w.w, 3);
		tp_w_i64(&w.w, p[1]);
		tp_w_bin(&w.w, "wxyz", 4);
		tp_w_i64(&w.w, 4);
		fx_raw_send(&r, &w);
		cr_assert_eq(fx_raw_reply(&r, wid, NULL), 0);
	}
	cr_assert_eq(fx_raw_reply(&r, first, &f), 0);
	cr_assert_eq(tp_unpack_reap_reply(f.in.body, &rep, &e), 0, "%s",
		     e.msg);
	cr_expect_eq(rep.completions.n, 1);
	cr_expect_eq(rep.running, 0);
	fx_frame_free(&f);
	fx_raw_close(&r);
}

/* The connection's job quota bounds submitted calls: 4,096 reads of one
 * empty pipe fill it, and the next SUBMIT is EAGAIN, saying so. */
Test(bounds, job_quota_is_eagain)
{
	static struct tether_call calls[4096];
	static char sink[4];
	struct tether_call one;
	int p[2], rc;

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	for (int i = 0; i < 4096; i++)
		fx_read_call(&calls[i], p[0], sink, sizeof(sink));
	for (int i = 0; i < 4; i++)
		submit_ok(fx.t, calls + i * 1024, 1024);
	fx_read_call(&one, p[0], sink, sizeof(sink));
	rc = tether_submit_many(fx.t, &one, 1, 0);
	cr_assert_eq(rc, -EAGAIN, "submit past the quota: %s",
		     strerror(-rc));
	cr_expect(strstr(tether_last_error(fx.t), "room for 0 more"),
		  "text: %s", tether_last_error(fx.t));
	cr_assert_eq(tether_submitted(fx.t), 4096);
	/* Everything else still works. */
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* Buffer bytes per connection: 64 MiB of 1 MiB reads are taken, one
 * more page is EAGAIN. */
Test(bounds, buffer_bytes_are_bounded)
{
	static char sink[MIB];
	static struct tether_call calls[65];
	int p[2], rc;

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	for (int i = 0; i < 65; i++)
		fx_read_call(&calls[i], p[0], sink, i < 64 ? MIB : 4096);
	submit_ok(fx.t, calls, 64);
	rc = tether_submit_many(fx.t, calls + 64, 1, 0);
	cr_assert_eq(rc, -EAGAIN, "a page past 64 MiB: %s", strerror(-rc));
	cr_expect(strstr(tether_last_error(fx.t), "reap some first"),
		  "text: %s", tether_last_error(fx.t));
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* ---- detach ---------------------------------------------------------- */

struct reaper {
	int fd;				/* the server pipe's read end */
	unsigned flags;
};

/* Submit three reads of fd, say their ids, then REAP all three. */
static void kid_reaper(void *arg)
{
	const struct reaper *rp = arg;
	struct tether *t = kid_connect();
	struct tether_call c[3], *done[3];
	char buf[3][8];
	int rc;

	for (int i = 0; i < 3; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].nr = SYS_read;
		c[i].nargs = 3;
		c[i].args[0] = TETHER_INT(rp->fd);
		c[i].args[1] = TETHER_OUT(buf[i], sizeof(buf[i]));
		c[i].args[2] = TETHER_INT(1);
		c[i].flags = rp->flags;
	}
	if ((rc = tether_submit_many(t, c, 3, 0)) < 0)
		kid_fail("submit: %s", tether_last_error(t));
	kid_say("IDS %llu %llu %llu", (unsigned long long)c[0].async_id,
		(unsigned long long)c[1].async_id,
		(unsigned long long)c[2].async_id);
	rc = tether_reap(t, done, 3, 3, -1);
	kid_say("REAPED %d", rc);
	kid_hold();
}

/* A kid with three reads of p[0] submitted, one of them completed and
 * queued, blocked in its REAP of all three; then SIGKILLed. */
static void kill_mid_reap(struct reaper *rp, const int p[2], uint64_t ids[3])
{
	struct kid k;
	char rest[96];
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	unsigned long long a, b, c;

	tether_disconnect(fx.t);
	fx.t = NULL;
	kid_start(&k, kid_reaper, rp);
	kid_line(&k, "IDS", rest, sizeof(rest));
	cr_assert_eq(sscanf(rest, "%llu %llu %llu", &a, &b, &c), 3);
	ids[0] = a;
	ids[1] = b;
	ids[2] = c;
	/* Blocked reading the REAP's answer: the REAP has been sent. */
	while (fx_blocked_in(k.pid) != SYS_read &&
	       fx_blocked_in(k.pid) != SYS_recvfrom &&
	       fx_blocked_in(k.pid) != SYS_poll) {
		cr_assert_lt(kit_now_ms(), end, "kid never waited in REAP");
		kit_nap_ms(5);
	}
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	(void)p;
}

/* Killed while its REAP waits: the server survives, the completion that
 * was queued is parked, the reads still running complete later and are
 * parked too, and the next controller collects all three. */
Test(detach, sigkill_mid_reap_parks_results)
{
	struct reaper rp = { 0 };
	struct tether_call c;
	uint64_t ids[3];
	char buf[8], got[3];
	int p[2], before = fx_settled_fds(fx.pid);

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	rp.fd = p[0];
	/* One byte ready: the first read completes at once, the other two
	 * wait. */
	cr_assert_eq(fx_write(fx.t, p[1], "a", 1), 1);
	kill_mid_reap(&rp, p, ids);
	cr_assert_eq(fx_getpid(fx.t), fx.pid, "server after the kill");
	wait_state(fx.t, ids[0], "done");
	cr_assert_eq(fx_write(fx.t, p[1], "bc", 2), 2);
	for (int i = 0; i < 3; i++) {
		wait_state(fx.t, ids[i], "done");
		fx_read_call(&c, p[0], buf, sizeof(buf));
		cr_assert_eq(tether_collect(fx.t, ids[i], 0, &c), 0,
			     "collect %llu: %s", (unsigned long long)ids[i],
			     tether_last_error(fx.t));
		cr_assert_eq(c.ret, 1);
		got[i] = buf[0];
	}
	/* The two waiting reads take 'b' and 'c' in the ring's order. */
	cr_assert_eq(got[0], 'a');
	cr_assert((got[1] == 'b' && got[2] == 'c') ||
		  (got[1] == 'c' && got[2] == 'b'), "reads got %.3s", got);
	cr_assert_eq(fx_close(fx.t, p[0]), 0);
	cr_assert_eq(fx_close(fx.t, p[1]), 0);
	fx_expect_fds(fx.pid, before, "after the pipe closed");
}

/* With DETACH_CANCEL the same kill drops them: the queued completion
 * and the running reads are gone, and the pipe keeps what nobody read. */
Test(detach, sigkill_mid_reap_detach_cancel_drops)
{
	struct reaper rp = { .flags = TETHER_CALL_DETACH_CANCEL };
	uint64_t ids[3];
	char buf[8] = { 0 };
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	rp.fd = p[0];
	cr_assert_eq(fx_write(fx.t, p[1], "a", 1), 1);
	kill_mid_reap(&rp, p, ids);
	for (int i = 0; i < 3; i++)
		wait_state(fx.t, ids[i], "");
	cr_assert_eq(fx_write(fx.t, p[1], "z", 1), 1);
	cr_assert_eq(fx_read(fx.t, p[0], buf, sizeof(buf)), 1);
	cr_expect_eq(buf[0], 'z', "a cancelled read took the byte");
}

/* ---- read buffers are zeroed after the call, not before -------------- */

/* A read's buffer comes from the arena unzeroed; what the read did not
 * write is zeroed before the reply: a short read, a failed one, with
 * NOTRIM (the whole buffer comes back), never shows the bytes of the
 * read before it in the same slot -- submitted (ring), blocking (ring)
 * and non-blocking (run directly). */
static void short_reads_show_no_earlier_bytes(int flags)
{
	enum { N = 4096 };
	static char full[N], got[N], zero[N];
	struct tether_call c, *cp = &c, *done[1];
	int p[2];

	memset(full, 'X', sizeof(full));
	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC | flags), 0);
	for (int round = 0; round < 8; round++) {
		/* a full read leaves X's in the slot */
		cr_assert_eq(fx_write(fx.t, p[1], full, N), N);
		fx_read_call(&c, p[0], got, N);
		if (round & 1) {
			submit_ok(fx.t, &c, 1);
			cr_assert_eq(reap_ok(fx.t, done, 1, 1, FX_DEADLINE_MS), 1);
		} else {
			cr_assert_eq(tether_call(fx.t, &c), 0);
		}
		cr_assert_eq(c.ret, N);
		/* then 3 bytes into the whole buffer, sent back whole */
		cr_assert_eq(fx_write(fx.t, p[1], "abc", 3), 3);
		fx_read_call(&c, p[0], got, N);
		c.flags = TETHER_CALL_NOTRIM;
		memset(got, '?', sizeof(got));
		if (round & 1) {
			submit_ok(fx.t, cp, 1);
			cr_assert_eq(reap_ok(fx.t, done, 1, 1, FX_DEADLINE_MS), 1);
		} else {
			cr_assert_eq(tether_call(fx.t, &c), 0);
		}
		cr_assert_eq(c.ret, 3);
		cr_assert_eq(c.args[1].returned, N);
		cr_assert_eq(memcmp(got, "abc", 3), 0);
		cr_assert_eq(memcmp(got + 3, zero, N - 3), 0,
			     "round %d: earlier bytes after a short read", round);
		/* a failed read (a closed fd) sends back zeros only */
		cr_assert_eq(fx_write(fx.t, p[1], full, N), N);
		fx_read_call(&c, p[0], got, N);
		cr_assert_eq(tether_call(fx.t, &c), 0);
		fx_read_call(&c, 1 << 20, got, N);
		c.flags = TETHER_CALL_NOTRIM;
		cr_assert_eq(tether_call(fx.t, &c), 0);
		cr_assert_eq(c.ret, -EBADF);
		cr_assert_eq(memcmp(got, zero, N), 0,
			     "round %d: earlier bytes after a failed read", round);
	}
	cr_assert_eq(fx_close(fx.t, p[0]), 0);
	cr_assert_eq(fx_close(fx.t, p[1]), 0);
}

Test(submit, short_read_never_shows_earlier_bytes_blocking)
{
	short_reads_show_no_earlier_bytes(0);
}

Test(submit, short_read_never_shows_earlier_bytes_nonblocking)
{
	short_reads_show_no_earlier_bytes(O_NONBLOCK);
}

/* ---- a controller that stops reading its REAP replies ------------------ */

#define STALL_READS 512			/* reads of 64 KiB: 32 MiB in all */
#define STALL_READ (64u << 10)
#define STALL_REAPS 24			/* 31 completions a reply: more than enough */

struct stall {
	int zero;			/* the server's /dev/zero */
};

static int stall_pack_entry(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct stall *st = ctx;
	struct tp_syscall_req s = {
		.has = TP_SYSCALL_FLAGS,
		.nr = SYS_read,
		.flags = TETHER_CALL_DETACH_CANCEL,
		.args = { .n = 3, .a = {
			{ .kind = TP_A_INT, .v = (uint64_t)st->zero },
			{ .kind = TP_A_OUT, .v = STALL_READ },
			{ .kind = TP_A_INT, .v = STALL_READ } } },
	};

	(void)i;
	return tp_pack_syscall(w, &s);
}

/* By hand (libtether reads every reply): SUBMIT 512 reads of 64 KiB,
 * read its ids, then send 24 REAPs and never read their replies -- 32
 * MiB that no socket buffer holds. */
static void kid_stalled_reaper(void *arg)
{
	struct stall *st = arg;
	struct tp_submit sub = {
		.entries = { .n = STALL_READS, .each = stall_pack_entry,
			     .ctx = st },
	};
	struct tp_reap reap = { .has = TP_REAP_MIN | TP_REAP_MAX,
				.min = 1, .max = TETHER_SUBMIT_MAX };
	struct tp_rbuf rb = { 0 };
	struct fx_frame f;
	struct tp_msg m;
	int sfd = -1, rc = -EBUSY;

	for (int i = 0; i < 200 && rc == -EBUSY; i++)
		if ((rc = fx_attach_raw(fx.sock, 0, &sfd, NULL)) == -EBUSY)
			kit_nap_ms(10);
	if (rc < 0)
		kid_fail("attach: %s", strerror(-rc));
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_SUBMIT);
	tp_pack_submit(&m.w, &sub);
	if (fx_send_msg(sfd, &m) < 0)
		kid_fail("sending SUBMIT");
	tp_msg_destroy(&m);
	if ((rc = fx_recv_frame(sfd, &rb, &f)) < 0 || f.rc || f.in.code)
		kid_fail("SUBMIT reply: %d %d %lld", rc, f.rc,
			 (long long)f.in.code);
	fx_frame_free(&f);
	for (unsigned i = 0; i < STALL_REAPS; i++) {
		tp_msg_init(&m);
		tp_msg_request(&m, 2 + i, TETHER_OP_REAP);
		tp_pack_reap(&m.w, &reap);
		if (fx_send_msg(sfd, &m) < 0)
			kid_fail("sending REAP %u", i);
		tp_msg_destroy(&m);
	}
	kid_say("STALLED");
	kid_hold();
}

/* REAP replies far larger than the socket holds, to a controller that
 * stops reading them, then is SIGKILLed: the server stays responsive
 * (it stops reading that peer, its queue bounded), its memory grows by
 * no more than the peer's bounds (buffers and unsent replies), and once
 * the kid is gone its completions are dropped (DETACH_CANCEL), its fds
 * and memory given back. */
Test(detach, stalled_reaper_of_big_replies_then_sigkill)
{
	struct stall st;
	struct tether *obs;
	struct tether_pending *v;
	struct kid k;
	size_t n;
	long rss0, rss, rss1;
	int before, rc;
	int64_t end;

	st.zero = (int)fx_openat(fx.t, AT_FDCWD, "/dev/zero",
				 O_RDONLY | O_CLOEXEC, 0);
	cr_assert_geq(st.zero, 0);
	before = fx_settled_fds(fx.pid);
	rss0 = fx_status_field(fx.pid, "VmRSS");
	tether_disconnect(fx.t);
	fx.t = NULL;
	kid_start(&k, kid_stalled_reaper, &st);
	kid_line(&k, "STALLED", NULL, 0);
	kid_line(&k, "HOLD", NULL, 0);
	/* The server answers an observer while the kid's replies pile up:
	 * every read done, and kept (queued or in replies not yet read). */
	obs = fx_observe(fx.sock);
	cr_assert_not_null(obs);
	end = kit_now_ms() + FX_DEADLINE_MS;
	for (;;) {
		size_t done = 0;

		rc = tether_pending(obs, &v, &n);
		cr_assert_eq(rc, 0, "pending: %s", tether_last_error(obs));
		for (size_t i = 0; i < n; i++)
			done += !strcmp(v[i].state, "done");
		free(v);
		if (done == n)
			break;
		cr_assert_lt(kit_now_ms(), end, "%zu of %zu reads done",
			     done, n);
		kit_nap_ms(10);
	}
	rss = fx_status_field(fx.pid, "VmRSS");
	cr_log_info("tetherd VmRSS %ld kB before, %ld kB with the stalled "
		    "reaper", rss0, rss);
	/* 32 MiB of reads (under the 64 MiB of buffers a connection may
	 * hold) plus at most 64 MiB of unsent replies. */
	cr_expect_lt(rss - rss0, 128 * 1024, "VmRSS grew by %ld kB",
		     rss - rss0);
	tether_disconnect(obs);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	cr_assert_eq(fx_getpid(fx.t), fx.pid, "server after the kill");
	end = kit_now_ms() + FX_DEADLINE_MS;
	for (;;) {
		rc = tether_pending(fx.t, &v, &n);
		cr_assert_eq(rc, 0);
		free(v);
		if (n == 0)
			break;
		cr_assert_lt(kit_now_ms(), end, "%zu calls left", n);
		kit_nap_ms(10);
	}
	fx_expect_fds(fx.pid, before, "after the stalled reaper");
	rss1 = fx_status_field(fx.pid, "VmRSS");
	cr_log_info("tetherd VmRSS %ld kB after the kill", rss1);
	cr_expect_lt(rss1 - rss0, 32 * 1024, "VmRSS still %ld kB over",
		     rss1 - rss0);
	cr_assert_eq(fx_close(fx.t, st.zero), 0);
}

/* ---- cancel ---------------------------------------------------------- */

/* CANCEL of a submitted read: it completes with -ECANCELED into the
 * queue; CANCEL of a queued completion is EALREADY. */
Test(cancel, submitted_read_reaps_ecanceled)
{
	struct tether_call c[2], *done[2];
	char buf[2][8];
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	fx_read_call(&c[0], p[0], buf[0], sizeof(buf[0]));
	fx_call_init(&c[1], SYS_getpid, 0);
	submit_ok(fx.t, c, 2);
	cr_assert_eq(tether_cancel(fx.t, c[1].async_id), -EALREADY);
	cr_assert_eq(tether_cancel(fx.t, c[0].async_id), 0);
	cr_assert_eq(reap_ok(fx.t, done, 2, 2, FX_DEADLINE_MS), 2);
	cr_assert_eq(done[0], &c[1]);
	cr_assert_eq(done[1], &c[0]);
	cr_assert_eq(c[0].ret, -ECANCELED);
	cr_assert_eq(tether_cancel(fx.t, c[0].async_id), -ENOENT);
}

/* COLLECT of a queued completion takes it: the REAP does not see it. */
Test(cancel, collect_takes_a_queued_completion)
{
	struct tether_call c, r, *done[1];
	char st[16];

	fx_call_init(&c, SYS_getpid, 0);
	submit_ok(fx.t, &c, 1);
	fx_pending_state(fx.t, c.async_id, st, sizeof(st));
	cr_assert_str_eq(st, "done");
	fx_call_init(&r, SYS_getpid, 0);
	cr_assert_eq(tether_collect(fx.t, c.async_id, 0, &r), 0, "%s",
		     tether_last_error(fx.t));
	cr_assert_eq(r.ret, fx.pid);
	cr_assert_eq(reap_ok(fx.t, done, 1, 0, 0), 0);
	cr_assert_eq(tether_submitted(fx.t), 0, "a collected call still "
		     "counted as submitted");
}

/* PENDING a page at a time: 5,120 calls out are more than one reply of
 * every call could carry (msgpack objects past TP_OBJS_MAX, from ~4,100
 * entries: tetherctl pending said "malformed reply from server"), and
 * each is listed once, to the controller and to an observer alike. */
Test(submit, pending_lists_five_thousand_calls_once_each)
{
	enum { N = 5 * TETHER_SUBMIT_MAX };
	static struct tether_call calls[N];
	static unsigned char out[N][8];
	struct tether *obs = fx_observe(fx.sock);
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	for (int i = 0; i < N; i++)
		fx_read_call(&calls[i], p[0], out[i], sizeof(out[i]));
	/* 4,096 a connection at most: the rest from the next controller,
	 * the first ones running on, detached. */
	for (int base = 0; base < N; base += TETHER_SUBMIT_MAX) {
		if (base == 4 * TETHER_SUBMIT_MAX)
			cr_assert_eq(fx_reattach(), 0);
		submit_ok(fx.t, calls + base, TETHER_SUBMIT_MAX);
	}
	for (int who = 0; who < 2; who++) {
		struct tether *t = who ? obs : fx.t;
		struct tether_pending *v = NULL;
		size_t n = 0, found = 0;
		int rc = tether_pending(t, &v, &n);

		cr_assert_eq(rc, 0, "PENDING of %d calls: %s", N,
			     tether_last_error(t));
		cr_assert_eq(n, (size_t)N, "%zu listed", n);
		for (size_t i = 1; i < n; i++)
			cr_assert_gt(v[i - 1].id, v[i].id,
				     "not newest first, or twice: %zu", i);
		for (int i = 0; i < N; i++)
			found += fx_pending_find(v, n, calls[i].async_id) != NULL;
		cr_assert_eq(found, (size_t)N);
		tether_free(v);
	}
	tether_disconnect(obs);
}
