/*
 * Syscalls through the server's io_uring, with a real tetherd and real
 * processes: a blocking read that survives its controller's SIGKILL and
 * is collected by the next one, 1,000 reads in flight at once, ASYNC /
 * COLLECT / CANCEL, per-request timeouts, DETACH_CANCEL, O_NONBLOCK fds
 * that must not go through the ring, BATCH (failures with and without
 * STOP, result references), the parked-result budget (count and bytes),
 * and that the server keeps serving while a read blocks in its ring.
 *
 * Controllers that are to be killed run in forked children ("kids")
 * that report through a pipe and never call Criterion.  Every fd-leak
 * check counts the SERVER's /proc/PID/fd.  Waits poll up to generous
 * deadlines; the one timing the issue asks for (reconnect within 100 ms)
 * is logged and asserted against a bound ten times as generous.
 *
 * Tests whose comment starts with "BUG" fail against the current server
 * or library on purpose: each comment gives the diagnosis and a
 * reproducer.  They are left in, not fixed here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"

TestSuite(reconnect, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(many, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(cancel, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(collect, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(timeout, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(detach_cancel, .init = fx_init_server, .fini = fx_fini,
	  .timeout = 30);
TestSuite(direct, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(batch, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(parked, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(liveness, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(frame, .init = fx_init_server, .fini = fx_fini, .timeout = 30);

#define PARKED_MAX 4096			/* TD_PARKED_MAX */
#define PARKED_BYTES (64u << 20)	/* TD_PARKED_BYTES */
#define MIB (1u << 20)

/* What a reading kid does: attach, say so, read fd (blocking, through
 * the server's ring), report the result if it ever comes. */
struct reader {
	int fd;
	size_t count;
	unsigned flags;
};

static void kid_reader(void *arg)
{
	const struct reader *rd = arg;
	struct tether *t = kid_connect();
	char buf[256];
	struct tether_call c = { .nr = SYS_read, .nargs = 3,
				 .flags = rd->flags };
	int rc;

	c.args[0] = TETHER_INT(rd->fd);
	c.args[1] = TETHER_OUT(buf, rd->count);
	c.args[2] = TETHER_INT(rd->count);
	kid_say("READING %llu",
		(unsigned long long)tether_info(t)->generation);
	rc = tether_call(t, &c);
	kid_say("DONE %d %ld", rc, c.ret);
	for (;;)
		pause();
}

/* ---- small helpers ---------------------------------------------------- */

/* A pipe in the server, its fds in fds[0..1]. */
static void srv_pipe(struct tether *t, int fds[2], int flags)
{
	int rc = fx_pipe2(t, fds, flags);

	cr_assert_eq(rc, 0, "pipe2: %s (%s)", strerror(-rc),
		     tether_last_error(t));
}

/* Run c through t: the library must accept it. */
static void call_ok(struct tether *t, struct tether_call *c)
{
	int rc = tether_call(t, c);

	cr_assert_eq(rc, 0, "tether_call nr %ld: %s (%s)", c->nr,
		     strerror(-rc), tether_last_error(t));
}

/* write(fd, p, n) in the server; the whole of it must go. */
static void srv_write(struct tether *t, int fd, const void *p, size_t n)
{
	struct tether_call c = { .nr = SYS_write, .nargs = 3 };

	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_IN(p, n);
	c.args[2] = TETHER_INT(n);
	call_ok(t, &c);
	cr_assert_eq(c.ret, (long)n, "write(%d, %zu): %ld", fd, n, c.ret);
}

static void srv_close(struct tether *t, int fd)
{
	struct tether_call c = { .nr = SYS_close, .nargs = 1 };

	c.args[0] = TETHER_INT(fd);
	call_ok(t, &c);
	cr_assert_eq(c.ret, 0, "close(%d): %ld", fd, c.ret);
}

/* read(fd, buf, n) with flags and timeout filled into *c. */
static void read_call(struct tether_call *c, int fd, void *buf, size_t n,
		      unsigned flags, uint64_t timeout_ms)
{
	fx_read_call(c, fd, buf, n);
	c->flags = flags;
	c->timeout_ms = timeout_ms;
}

/* Nothing took from the pipe p: a byte written now is what the next
 * read of p[0] gets, whole (what: which read should have taken none). */
static void pipe_untouched(const int p[2], char byte, const char *what)
{
	struct tether_call c;
	char b[4] = { 0 };

	srv_write(fx.t, p[1], &byte, 1);
	read_call(&c, p[0], b, sizeof(b), 0, FX_DEADLINE_MS);
	call_ok(fx.t, &c);
	cr_expect_eq(c.ret, 1, "after %s, a read got %ld bytes", what, c.ret);
	cr_expect_eq(b[0], byte, "after %s, a read got '%c'", what, b[0]);
}

/* An ASYNC read: its id. */
static uint64_t async_read(struct tether *t, int fd, size_t n, unsigned flags)
{
	static char sink[256];
	struct tether_call c;

	cr_assert_leq(n, sizeof(sink));
	read_call(&c, fd, sink, n, TETHER_CALL_ASYNC | flags, 0);
	call_ok(t, &c);
	cr_assert_gt(c.async_id, 0, "ASYNC read got no id");
	return c.async_id;
}

static void pending_ok(struct tether *t, struct tether_pending **v,
		       size_t *n)
{
	int rc = tether_pending(t, v, n);

	cr_assert_eq(rc, 0, "tether_pending: %s (%s)", strerror(-rc),
		     tether_last_error(t));
}

/* Poll until request id no longer runs, or ms have passed: its state
 * then into st ("" when it is not listed). */
static void wait_stopped(struct tether *t, uint64_t id, char *st,
			 size_t size, int64_t ms)
{
	for (int64_t end = kit_now_ms() + ms;;) {
		fx_pending_state(t, id, st, size);
		if (strcmp(st, "running") || kit_now_ms() > end)
			return;
		kit_nap_ms(10);
	}
}

/* Poll (through t) for a running read submitted by the controller of
 * generation gen; its id. */
static uint64_t wait_running_read(struct tether *t, uint64_t gen)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	for (;;) {
		struct tether_pending *v;
		uint64_t id = 0;
		size_t n;

		pending_ok(t, &v, &n);
		for (size_t i = 0; i < n && !id; i++)
			if (v[i].generation == gen && v[i].nr == SYS_read &&
			    !strcmp(v[i].state, "running") && !v[i].batch)
				id = v[i].id;
		free(v);
		if (id)
			return id;
		cr_assert_lt(kit_now_ms(), end, "no running read of generation "
			     "%llu in PENDING", (unsigned long long)gen);
		kit_nap_ms(10);
	}
}

/* A kid blocked in a read of fd through the ring (PENDING says so, as
 * seen through obs); *id gets the request's id. */
static uint64_t start_blocked_reader(struct kid *k, struct reader *rd,
				     struct tether *obs, uint64_t *id)
{
	char rest[64];
	uint64_t gen;

	kid_start(k, kid_reader, rd);
	kid_line(k, "READING", rest, sizeof(rest));
	gen = strtoull(rest, NULL, 10);
	cr_assert_gt(gen, 0);
	*id = wait_running_read(obs, gen);
	return gen;
}

/* Records from tether_collect_record(), copied into the test's own
 * struct: their block (which the copy's buffers point into) is freed by
 * record_release(). */
static struct {
	const struct tether_call *copy;
	struct tether_call *block;
} g_records[8];

/* Collect id as a record the library allocates; the call must have
 * been collected. */
static void collect_record(struct tether *t, uint64_t id, int64_t wait,
			   struct tether_call *c)
{
	struct tether_call *rec;
	size_t i = 0;
	int rc;

	rc = tether_collect_record(t, id, wait, &rec);
	cr_assert_eq(rc, 0, "tether_collect_record %llu: %s (%s)",
		     (unsigned long long)id, strerror(-rc),
		     tether_last_error(t));
	while (i < 8 && g_records[i].block)
		i++;
	cr_assert_lt(i, 8, "more than 8 records held");
	*c = *rec;
	g_records[i].copy = c;
	g_records[i].block = rec;
}

/* A collect_record()'s block; nothing for any other call. */
static void record_release(const struct tether_call *c)
{
	for (size_t i = 0; i < 8; i++)
		if (g_records[i].copy == c && g_records[i].block) {
			tether_free(g_records[i].block);
			g_records[i].block = NULL;
			g_records[i].copy = NULL;
		}
}

/* ---- raw PENDING: the budget figures the library does not expose ------ */

struct raw_pending {
	size_t n;
	int64_t parked_lost;
	int64_t parked_bytes;
};

static struct raw_pending raw_pending(void)
{
	struct raw_pending p = { 0, -1, -1 };
	struct tp_rbuf rb = { 0 };
	struct fx_frame f;
	struct tp_msg m;
	int sfd, rc;

	rc = fx_attach_raw(fx.sock, TETHER_HELLO_OBSERVE, &sfd, NULL);
	cr_assert_eq(rc, 0, "raw observer: %s", strerror(-rc));
	tp_msg_init(&m);
	tp_msg_request(&m, 5, TETHER_OP_PENDING);
	msgpack_pack_array(&m.pk, 0);
	cr_assert_eq(fx_send_msg(sfd, &m), 0);
	tp_msg_destroy(&m);
	rc = fx_recv_frame(sfd, &rb, &f);
	cr_assert_eq(rc, 0, "PENDING reply: %s", strerror(-rc));
	cr_assert_eq(f.rc, 0);
	cr_assert_eq(f.in.code, 0, "PENDING refused: %lld",
		     (long long)f.in.code);
	cr_assert_not_null(tp_obj_array(tp_map_get(f.in.body, "pending"),
					&p.n));
	cr_assert_eq(tp_obj_i64(tp_map_get(f.in.body, "parked_lost"),
				&p.parked_lost), 0);
	cr_assert_eq(tp_obj_i64(tp_map_get(f.in.body, "parked_bytes"),
				&p.parked_bytes), 0);
	fx_frame_free(&f);
	tp_rbuf_free(&rb);
	close(sfd);
	return p;
}

/* ======================================================================
 * reconnect: a read in flight survives its controller
 * ==================================================================== */

/* Controller A (a kid) blocks in read(2) of an empty, blocking pipe and
 * is SIGKILLed; controller B attaches at once (the issue says within
 * 100 ms; asserted under 1000 ms, the measured value logged), finds the
 * read still running in PENDING, writes to the pipe through the server
 * and collects the read's bytes. */
Test(reconnect, read_in_flight_survives_kill_and_is_collected)
{
	struct reader rd = { .count = 64 };
	struct tether *obs, *t = NULL;
	struct tether_call c;
	struct kid k;
	uint64_t id, gen;
	int64_t t0, ms;
	char st[16];
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	gen = start_blocked_reader(&k, &rd, obs, &id);
	tether_disconnect(obs);
	kid_kill(&k);

	t0 = kit_now_ms();
	rc = fx_connect_retry(fx.sock, 0, &t);
	ms = kit_now_ms() - t0;
	cr_assert_eq(rc, 0, "controller B: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.t = t;
	cr_log_info("reconnect with a read in flight took %lld ms",
		    (long long)ms);
	cr_expect_lt(ms, 1000, "reconnect took %lld ms (issue: 100 ms)",
		     (long long)ms);
	cr_assert_gt(tether_info(t)->generation, gen);

	fx_pending_state(t, id, st, sizeof(st));
	cr_assert_str_eq(st, "running", "request %llu after A died",
			 (unsigned long long)id);
	srv_write(t, p[1], "hello", 5);
	collect_record(t, id, -1, &c);
	cr_expect_eq(c.nr, SYS_read);
	cr_expect_eq(c.ret, 5, "read returned %ld", c.ret);
	cr_assert_eq(c.nargs, 3);
	cr_expect_eq((int)c.args[0].value, p[0]);
	cr_assert_eq(c.args[1].kind, TETHER_ARG_OUT);
	cr_expect_eq(c.args[1].returned, 5);
	cr_expect(c.args[1].out && !memcmp(c.args[1].out, "hello", 5),
		  "collected bytes differ");
	cr_expect_eq(c.args[2].value, 64);
	record_release(&c);
	/* Collected means gone. */
	fx_pending_state(t, id, st, sizeof(st));
	cr_expect_str_empty(st, "request %llu still listed as %s",
			    (unsigned long long)id, st);
}

/* The record of a read whose controller died says who submitted it. */
Test(reconnect, pending_entry_of_dead_controller_names_its_generation)
{
	struct reader rd = { .count = 8 };
	struct tether *obs;
	struct tether_pending *v;
	const struct tether_pending *e;
	struct kid k;
	uint64_t id, gen;
	size_t n;
	int p[2];

	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	gen = start_blocked_reader(&k, &rd, obs, &id);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	pending_ok(fx.t, &v, &n);
	e = fx_pending_find(v, n, id);
	cr_assert_not_null(e, "request %llu not in PENDING",
			   (unsigned long long)id);
	cr_expect_eq(e->generation, gen);
	cr_expect_eq(e->nr, SYS_read);
	cr_expect(!e->batch);
	cr_expect(!e->waited, "nobody waits for a dead controller's read");
	cr_expect_gt(e->since_ms, 0);
	free(v);
	tether_disconnect(obs);
	/* Let it finish so nothing is left running. */
	srv_write(fx.t, p[1], "x", 1);
}

/* ======================================================================
 * many: 1,000 reads in flight at once
 * ==================================================================== */

#define NPIPES 1000
#define CHUNK 250			/* entries per BATCH (max 256) */

static int g_pfd[NPIPES][2];

/* Pipes in the server by BATCHes of pipe2. */
static void make_pipes(struct tether *t, int n)
{
	static struct tether_call calls[CHUNK];

	for (int base = 0; base < n; base += CHUNK) {
		int m = n - base < CHUNK ? n - base : CHUNK, at, rc;

		for (int i = 0; i < m; i++) {
			memset(&calls[i], 0, sizeof(calls[i]));
			calls[i].nr = SYS_pipe2;
			calls[i].nargs = 2;
			calls[i].args[0] = TETHER_OUT(g_pfd[base + i], 8);
			calls[i].args[1] = TETHER_INT(0);
		}
		rc = tether_batch(t, calls, (size_t)m, TETHER_BATCH_STOP, &at);
		cr_assert_eq(rc, 0, "batch of pipe2: %s (%s)", strerror(-rc),
			     tether_last_error(t));
		cr_assert_eq(at, -1, "pipe2 #%d failed: %ld", base + at,
			     at >= 0 ? calls[at].ret : 0);
		for (int i = 0; i < m; i++)
			cr_assert(calls[i].ret == 0 &&
				  calls[i].args[0].returned == 8,
				  "pipe2 #%d: %ld", base + i, calls[i].ret);
	}
}

/* close every fd of the pipes by BATCHes. */
static void close_pipes(struct tether *t, int n)
{
	static struct tether_call calls[CHUNK];
	int fds = 2 * n;

	for (int base = 0; base < fds; base += CHUNK) {
		int m = fds - base < CHUNK ? fds - base : CHUNK, at, rc;

		for (int i = 0; i < m; i++) {
			memset(&calls[i], 0, sizeof(calls[i]));
			calls[i].nr = SYS_close;
			calls[i].nargs = 1;
			calls[i].args[0] = TETHER_INT(
				g_pfd[(base + i) / 2][(base + i) % 2]);
		}
		rc = tether_batch(t, calls, (size_t)m, 0, &at);
		cr_assert_eq(rc, 0, "batch of close: %s", strerror(-rc));
		for (int i = 0; i < m; i++)
			cr_assert_eq(calls[i].ret, 0, "close #%d: %ld",
				     base + i, calls[i].ret);
	}
}

static unsigned char byte_of(int i)
{
	return (unsigned char)(i % 251 + 1);
}

/* 1,000 pipes, 1,000 ASYNC reads in flight, one byte written to each
 * pipe, 1,000 results collected: each the right byte, each exactly once;
 * the server's fds are back where they were. */
Test(many, thousand_reads_in_flight_each_collected_once)
{
	static uint64_t ids[NPIPES];
	static struct tether_call calls[CHUNK];
	static unsigned char bytes[NPIPES];
	static bool seen[NPIPES];
	struct tether_pending *v;
	struct tether_call c;
	int before = fx_settled_fds(fx.pid), running = 0;
	size_t n;

	make_pipes(fx.t, NPIPES);
	for (int i = 0; i < NPIPES; i++) {
		ids[i] = async_read(fx.t, g_pfd[i][0], 1, 0);
		for (int j = 0; j < i; j++)
			if (ids[j] == ids[i])
				cr_assert_fail("id %llu given twice",
					       (unsigned long long)ids[i]);
	}
	pending_ok(fx.t, &v, &n);
	for (size_t i = 0; i < n; i++)
		running += !strcmp(v[i].state, "running");
	free(v);
	cr_assert_eq(running, NPIPES, "%d of %d reads running", running,
		     NPIPES);

	/* One byte into each pipe, by BATCHes of write (through the ring,
	 * one after another). */
	for (int base = 0; base < NPIPES; base += CHUNK) {
		int at, rc;

		for (int i = 0; i < CHUNK; i++) {
			bytes[base + i] = byte_of(base + i);
			memset(&calls[i], 0, sizeof(calls[i]));
			calls[i].nr = SYS_write;
			calls[i].nargs = 3;
			calls[i].args[0] = TETHER_INT(g_pfd[base + i][1]);
			calls[i].args[1] = TETHER_IN(&bytes[base + i], 1);
			calls[i].args[2] = TETHER_INT(1);
		}
		rc = tether_batch(fx.t, calls, CHUNK, 0, &at);
		cr_assert_eq(rc, 0, "batch of write: %s", strerror(-rc));
		for (int i = 0; i < CHUNK; i++)
			cr_assert_eq(calls[i].ret, 1, "write #%d: %ld",
				     base + i, calls[i].ret);
	}

	/* Collect, each into a record that names its fd. */
	for (int i = 0; i < NPIPES; i++) {
		int idx = -1;

		collect_record(fx.t, ids[i], FX_DEADLINE_MS, &c);
		cr_assert_eq(c.nr, SYS_read);
		cr_assert_eq(c.nargs, 3);
		for (int j = 0; j < NPIPES && idx < 0; j++)
			if (g_pfd[j][0] == (int)c.args[0].value)
				idx = j;
		cr_assert_eq(idx, i, "id %llu read fd %d, submitted on fd %d",
			     (unsigned long long)ids[i], (int)c.args[0].value,
			     g_pfd[i][0]);
		cr_assert(!seen[idx], "pipe %d collected twice", idx);
		seen[idx] = true;
		cr_assert_eq(c.ret, 1, "read #%d: %ld", i, c.ret);
		cr_assert_eq(c.args[1].returned, 1);
		cr_assert_eq(((unsigned char *)c.args[1].out)[0], byte_of(i),
			     "read #%d got %u, want %u", i,
			     ((unsigned char *)c.args[1].out)[0], byte_of(i));
		record_release(&c);
	}
	/* Exactly once: nothing left, a second collect finds nothing. */
	pending_ok(fx.t, &v, &n);
	free(v);
	cr_expect_eq(n, 0, "%zu requests left after collecting all", n);
	memset(&c, 0, sizeof(c));
	cr_expect_eq(tether_collect(fx.t, ids[0], 0, &c), -ENOENT);
	memset(&c, 0, sizeof(c));
	cr_expect_eq(tether_collect(fx.t, ids[NPIPES - 1], 0, &c), -ENOENT);

	close_pipes(fx.t, NPIPES);
	fx_expect_fds(fx.pid, before, "after closing the 1,000 pipes");
}

/* The server raises its soft RLIMIT_NOFILE to min(hard, 65536), so
 * thousands of pipes fit. */
Test(many, server_fd_limit_is_raised)
{
	struct rlimit ours, srv;
	rlim_t want;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &ours), 0);
	cr_assert_eq(prlimit(fx.pid, RLIMIT_NOFILE, NULL, &srv), 0,
		     "prlimit: %s", strerror(errno));
	want = ours.rlim_max < 65536 ? ours.rlim_max : 65536;
	if (ours.rlim_cur > want)
		want = ours.rlim_cur;	/* never lowered */
	cr_log_info("server RLIMIT_NOFILE %llu/%llu",
		    (unsigned long long)srv.rlim_cur,
		    (unsigned long long)srv.rlim_max);
	cr_expect_eq(srv.rlim_cur, want, "soft limit %llu, want %llu",
		     (unsigned long long)srv.rlim_cur,
		     (unsigned long long)want);
	cr_expect_eq(srv.rlim_max, ours.rlim_max);
}

/* ======================================================================
 * cancel
 * ==================================================================== */

/* CANCEL of an ASYNC read of an empty pipe: the result is -ECANCELED. */
Test(cancel, running_read_collects_ecanceled)
{
	struct tether_call c;
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 16, 0);
	rc = tether_cancel(fx.t, id);
	cr_assert_eq(rc, 0, "tether_cancel: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.ret, -ECANCELED, "cancelled read: %ld", c.ret);
	cr_expect_eq(c.args[1].returned, 0);
	record_release(&c);
}

/* The cancelled read took nothing: a byte written afterwards is still
 * in the pipe. */
Test(cancel, cancelled_read_consumes_nothing)
{
	char st[16];
	uint64_t id;
	int p[2];

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 16, 0);
	cr_assert_eq(tether_cancel(fx.t, id), 0);
	cr_assert(fx_wait_state(fx.t, id, "done", st, sizeof(st)),
		  "cancelled read not done");
	pipe_untouched(p, 'z', "the cancel");
}

/* CANCEL of a request that has completed (parked, not collected):
 * -EALREADY, and its result is untouched. */
Test(cancel, finished_request_is_ealready)
{
	struct tether_call c;
	char st[16];
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	srv_write(fx.t, p[1], "ab", 2);
	id = async_read(fx.t, p[0], 16, 0);
	cr_assert(fx_wait_state(fx.t, id, "done", st, sizeof(st)),
		  "read of a full pipe never completed");
	rc = tether_cancel(fx.t, id);
	cr_expect_eq(rc, -EALREADY, "cancel of a finished request: %d", rc);
	collect_record(fx.t, id, 0, &c);
	cr_expect_eq(c.ret, 2);
	cr_expect(c.args[1].returned == 2 && !memcmp(c.args[1].out, "ab", 2));
	record_release(&c);
}

Test(cancel, unknown_id_is_enoent)
{
	cr_expect_eq(tether_cancel(fx.t, 987654321), -ENOENT);
}

/* The id of an ASYNC read that has been collected. */
static uint64_t collected_id(void)
{
	struct tether_call c;
	uint64_t id;
	int p[2];

	srv_pipe(fx.t, p, 0);
	srv_write(fx.t, p[1], "a", 1);
	id = async_read(fx.t, p[0], 1, 0);
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	record_release(&c);
	return id;
}

/* A collected id is unknown: -ENOENT. */
Test(cancel, collected_id_is_enoent)
{
	cr_expect_eq(tether_cancel(fx.t, collected_id()), -ENOENT);
}

/* ======================================================================
 * collect
 * ==================================================================== */

Test(collect, unknown_id_is_enoent)
{
	struct tether_call c = { 0 };

	cr_expect_eq(tether_collect(fx.t, 987654321, 0, &c), -ENOENT);
}

Test(collect, second_collect_is_enoent)
{
	struct tether_call c = { 0 };

	cr_expect_eq(tether_collect(fx.t, collected_id(), 0, &c), -ENOENT);
}

/* wait_ms 0 on a running request: -EAGAIN, and it goes on. */
Test(collect, no_wait_on_running_is_eagain)
{
	struct tether_call c = { 0 };
	uint64_t id;
	char st[16];
	int p[2];

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 4, 0);
	cr_expect_eq(tether_collect(fx.t, id, 0, &c), -EAGAIN);
	fx_pending_state(fx.t, id, st, sizeof(st));
	cr_expect_str_eq(st, "running");
	cr_assert_eq(tether_cancel(fx.t, id), 0);
}

/* A collect that waits 200 ms for a read that never completes: the
 * collect times out (-ETIMEDOUT), the read goes on and can be collected
 * after data arrives. */
Test(collect, wait_runs_out_and_request_goes_on)
{
	struct tether_call c = { 0 };
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 4, 0);
	rc = tether_collect(fx.t, id, 200, &c);
	cr_assert_eq(rc, -ETIMEDOUT, "collect with 200 ms: %d", rc);
	srv_write(fx.t, p[1], "ok", 2);
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.ret, 2);
	record_release(&c);
}

/* Collect into the caller's own call shape: out buffers copied there. */
Test(collect, into_callers_buffers)
{
	struct tether_call c;
	char buf[8] = { 0 };
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], sizeof(buf), 0);
	srv_write(fx.t, p[1], "xyz", 3);
	read_call(&c, p[0], buf, sizeof(buf), 0, 0);
	rc = tether_collect(fx.t, id, FX_DEADLINE_MS, &c);
	cr_assert_eq(rc, 0, "collect: %s", strerror(-rc));
	cr_expect_eq(c.ret, 3);
	cr_expect_eq(c.args[1].returned, 3);
	cr_expect_str_eq(buf, "xyz");
}

/* ======================================================================
 * timeout
 * ==================================================================== */

/* timeout_ms 200 on a read of an empty pipe: ret -ETIMEDOUT, not before
 * the 200 ms. */
Test(timeout, read_of_empty_pipe_is_etimedout)
{
	struct tether_call c;
	char b[8];
	int64_t t0, ms;
	int p[2];

	srv_pipe(fx.t, p, 0);
	read_call(&c, p[0], b, sizeof(b), 0, 200);
	t0 = kit_now_ms();
	call_ok(fx.t, &c);
	ms = kit_now_ms() - t0;
	cr_log_info("timed-out read returned after %lld ms", (long long)ms);
	cr_expect_eq(c.ret, -ETIMEDOUT, "read: %ld", c.ret);
	cr_expect_geq(ms, 150, "timed out after only %lld ms", (long long)ms);
	cr_expect_lt(ms, 5000);
}

/* The timed-out read took nothing from the pipe and left nothing
 * behind in PENDING. */
Test(timeout, timed_out_read_leaves_no_trace)
{
	struct tether_call c;
	struct tether_pending *v;
	char b[8] = { 0 };
	size_t n;
	int p[2];

	srv_pipe(fx.t, p, 0);
	read_call(&c, p[0], b, sizeof(b), 0, 100);
	call_ok(fx.t, &c);
	cr_assert_eq(c.ret, -ETIMEDOUT);
	pending_ok(fx.t, &v, &n);
	free(v);
	cr_expect_eq(n, 0, "%zu requests listed after the timeout", n);
	pipe_untouched(p, 'q', "the timeout");
}

/* A read with data waiting, and a generous timeout: it returns normally. */
Test(timeout, read_that_completes_first_returns_normally)
{
	struct tether_call c;
	char b[8] = { 0 };
	int p[2];

	srv_pipe(fx.t, p, 0);
	srv_write(fx.t, p[1], "fast", 4);
	read_call(&c, p[0], b, sizeof(b), 0, 5000);
	call_ok(fx.t, &c);
	cr_expect_eq(c.ret, 4, "read: %ld", c.ret);
	cr_expect_eq(c.args[1].returned, 4);
	cr_expect(!memcmp(b, "fast", 4));
}

/* An ASYNC read with a 1 s timeout that data reaches first: the
 * collected result is the data, not -ETIMEDOUT; and the server is fine
 * once the (disarmed) timeout would have fired. */
Test(timeout, async_read_completed_by_later_write_returns_data)
{
	struct tether_call c;
	char b[8] = { 0 };
	uint64_t id;
	int p[2];

	srv_pipe(fx.t, p, 0);
	read_call(&c, p[0], b, sizeof(b), TETHER_CALL_ASYNC, 1000);
	call_ok(fx.t, &c);
	id = c.async_id;
	srv_write(fx.t, p[1], "late", 4);
	read_call(&c, p[0], b, sizeof(b), 0, 0);
	cr_assert_eq(tether_collect(fx.t, id, FX_DEADLINE_MS, &c), 0);
	cr_expect_eq(c.ret, 4, "read: %ld", c.ret);
	cr_expect(!memcmp(b, "late", 4));
	kit_nap_ms(1100);
	cr_expect_eq(fx_getpid(fx.t), fx.pid);
}

/* BUG (server/exec/async.c td_ring_result): a nanosleep longer than its
 * timeout_ms reports -EINTR, not -ETIMEDOUT.  nanosleep is a ring call,
 * and tether-protocol(7) says a ring call that runs out of time reports
 * -ETIMEDOUT (only poll reports 0 instead); but for SYS_nanosleep any
 * -ECANCELED completion becomes -EINTR, without looking at inf->timed /
 * inf->cancelled as the default case does, so a linked-timeout expiry
 * looks the same as a CANCEL.  Reproducer:
 *   tetherctl call --timeout 0.2 nanosleep \
 *       x:02000000000000000000000000000000 0
 *   -> nanosleep(...) = -1 EINTR (Interrupted system call)
 * Fix: return -ETIMEDOUT when inf->timed && !inf->cancelled. */
Test(timeout, nanosleep_past_its_timeout_is_etimedout)
{
	/* {tv_sec 2, tv_nsec 0} */
	static const unsigned char ts[16] = { 2 };
	struct tether_call c = { .nr = SYS_nanosleep, .nargs = 2,
				 .timeout_ms = 200 };

	c.args[0] = TETHER_IN(ts, sizeof(ts));
	c.args[1] = TETHER_INT(0);
	call_ok(fx.t, &c);
	cr_expect_eq(c.ret, -ETIMEDOUT, "nanosleep(2 s) with 200 ms: %ld",
		     c.ret);
}

/* poll(2) with a timeout of its own goes through the ring with that
 * timeout linked: 0 on an empty pipe. */
Test(timeout, poll_of_empty_pipe_times_out_with_zero)
{
	struct pollfd pfd = { .events = POLLIN };
	struct tether_call c = { .nr = SYS_poll, .nargs = 3 };
	int p[2];

	srv_pipe(fx.t, p, 0);
	pfd.fd = p[0];
	c.args[0] = TETHER_INOUT(&pfd, sizeof(pfd), sizeof(pfd));
	c.args[1] = TETHER_INT(1);
	c.args[2] = TETHER_INT(100);
	call_ok(fx.t, &c);
	cr_expect_eq(c.ret, 0, "poll(100 ms): %ld", c.ret);
}

/* BUG (server/exec/async.c td_ring_submit): poll(fd, 1, 0) of a fd that is
 * not ready never returns; it must not wait at all.  poll_ms 0 sets
 * `ms` to 0 ("(!ms || poll_ms < ms)" holds even when the request has a
 * timeout_ms of its own, which is thereby dropped too), and "if (ms)"
 * then links no timeout, so the IORING_OP_POLL_ADD waits for ever and a
 * synchronous caller hangs.  Reproducer (pipe2 gave 3/4):
 *   tetherctl call pipe2 @8 0
 *   timeout 3 tetherctl call poll @8:x:0300000001000000 1 0   # hangs
 * Fix: run poll with timeout 0 directly (or complete it at once).  Sent
 * ASYNC here so the test cannot hang; the request is cancelled at the
 * end. */
Test(timeout, poll_with_zero_timeout_returns_at_once)
{
	struct pollfd pfd = { .events = POLLIN };
	struct tether_call c = { .nr = SYS_poll, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	pfd.fd = p[0];
	c.args[0] = TETHER_INOUT(&pfd, sizeof(pfd), sizeof(pfd));
	c.args[1] = TETHER_INT(1);
	c.args[2] = TETHER_INT(0);
	call_ok(fx.t, &c);
	/* poll(..., 0) never blocks, so the server runs it at once even
	 * when asked for ASYNC: then there is no id, just the result. */
	id = c.async_id;
	if (id) {
		rc = tether_collect(fx.t, id, 2000, &c);
		if (rc == -ETIMEDOUT)
			tether_cancel(fx.t, id);
		cr_assert_eq(rc, 0, "poll(fd, 1, 0) still running after 2 s: "
			     "%d", rc);
	}
	cr_expect_eq(c.ret, 0, "poll(0): %ld", c.ret);
}

/* ======================================================================
 * detach_cancel
 * ==================================================================== */

/* A kid blocked in a DETACH_CANCEL read is SIGKILLed: the read is
 * cancelled, not left running, so a byte written afterwards stays in
 * the pipe. */
/* A kid's DETACH_CANCEL read of p[0] (a fresh pipe in the server), the
 * kid SIGKILLed, fx.t attached again: the read's id, and in st its
 * state once it no longer runs. */
static uint64_t killed_detach_cancel_read(int p[2], char *st, size_t size)
{
	struct reader rd = { .count = 8, .flags = TETHER_CALL_DETACH_CANCEL };
	struct tether *obs;
	struct kid k;
	uint64_t id;

	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	start_blocked_reader(&k, &rd, obs, &id);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	tether_disconnect(obs);
	wait_stopped(fx.t, id, st, size, FX_DEADLINE_MS);
	return id;
}

Test(detach_cancel, killed_controllers_read_is_cancelled)
{
	char st[16];
	int p[2];

	killed_detach_cancel_read(p, st, sizeof(st));
	/* Not running any more (gone, or at most a cancelled record). */
	cr_assert_str_neq(st, "running", "DETACH_CANCEL read still running");
	pipe_untouched(p, 'k', "the kill");
}

/* BUG (spec vs server, server/exec/async.c td_async_conn_closed): a killed
 * controller's DETACH_CANCEL read must leave nothing in PENDING --
 * cancelled, not parked.  tether_proto.h says DETACH_CANCEL means
 * "cancel, don't park, if we detach" (and so does the issue), but
 * td_async_conn_closed() only sets inf->to = NULL and submits the
 * cancel; the -ECANCELED completion then finds nobody waiting and
 * td_inflight_finish() parks it, so PENDING lists it as "done" until
 * someone collects it (tether-protocol(7) documents exactly that: "the
 * cancelled result is parked" -- the two documents disagree).
 * Reproducer: tetherctl call --detach-cancel read 3 @64 64 & (empty
 * pipe), kill -9 it, tetherctl pending -> "read done".  Fix: free the
 * inflight when a DETACH_CANCEL request's cancel completes with nobody
 * waiting (or mark it and drop it in td_inflight_finish). */
Test(detach_cancel, killed_controllers_read_is_not_parked)
{
	char st[16];
	int p[2];
	uint64_t id = killed_detach_cancel_read(p, st, sizeof(st));

	/* Once it is no longer running it must be gone, not parked. */
	cr_expect_str_empty(st, "DETACH_CANCEL request %llu still in PENDING "
			    "(\"%s\") after its controller died",
			    (unsigned long long)id, st);
}

/* BUG (server/exec/async.c td_async_conn_closed): a controller that
 * detaches (tether_disconnect) with an ASYNC DETACH_CANCEL read in
 * flight leaves the read running; it must be cancelled, with nothing of
 * it left in PENDING.  cancel_on_detach is only
 * looked at for requests whose answer goes to the closing connection
 * (inf->to == c); an ASYNC request never has inf->to set (its id was the
 * answer), so DETACH_CANCEL is silently ignored for every ASYNC call and
 * the read runs on -- and would eat the next controller's data.
 * Reproducer: tetherctl call --async --detach-cancel read 3 @64 64 (3 an
 * empty pipe); tetherctl pending -> "read running" for ever.  Fix:
 * remember the submitting connection (or its generation) in the
 * inflight and cancel its cancel_on_detach requests on close. */
Test(detach_cancel, async_request_of_detached_controller_is_cancelled)
{
	uint64_t id;
	char st[16] = "";
	int p[2];

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 8, TETHER_CALL_DETACH_CANCEL);
	cr_assert_eq(fx_reattach(), 0);
	wait_stopped(fx.t, id, st, sizeof(st), 2000);
	cr_expect_str_neq(st, "running", "ASYNC DETACH_CANCEL read %llu runs "
			  "on after its controller detached",
			  (unsigned long long)id);
	cr_expect_str_empty(st, "request %llu left in PENDING as %s",
			    (unsigned long long)id, st);
	if (!strcmp(st, "running"))
		tether_cancel(fx.t, id);
}

/* Without DETACH_CANCEL the same detach parks the result: the read
 * goes on and the next controller collects it. */
Test(detach_cancel, without_the_flag_the_async_read_goes_on)
{
	struct tether_call c;
	uint64_t id;
	char st[16];
	int p[2];

	srv_pipe(fx.t, p, 0);
	id = async_read(fx.t, p[0], 8, 0);
	cr_assert_eq(fx_reattach(), 0);
	fx_pending_state(fx.t, id, st, sizeof(st));
	cr_assert_str_eq(st, "running");
	srv_write(fx.t, p[1], "on", 2);
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.ret, 2);
	record_release(&c);
}

/* ======================================================================
 * direct: what must not go through the ring
 * ==================================================================== */

/* A read of an empty O_NONBLOCK pipe: -EAGAIN at once. */
Test(direct, nonblocking_empty_pipe_read_is_eagain_at_once)
{
	struct tether_call c;
	char b[8];
	int64_t t0, ms;
	int p[2];

	srv_pipe(fx.t, p, O_NONBLOCK);
	read_call(&c, p[0], b, sizeof(b), 0, 0);
	t0 = kit_now_ms();
	call_ok(fx.t, &c);
	ms = kit_now_ms() - t0;
	cr_expect_eq(c.ret, -EAGAIN, "read: %ld", c.ret);
	cr_expect_lt(ms, 1000, "took %lld ms", (long long)ms);
}

/* ... and it did not go through the ring: it took no request id (the
 * ids of two ASYNC ring calls around it are consecutive) and nothing
 * is pending.  Same with a timeout given (ignored for direct calls). */
Test(direct, nonblocking_read_takes_no_ring_id)
{
	struct tether_call c;
	struct tether_pending *v;
	char b[8];
	uint64_t a, z;
	size_t n;
	int p[2], q[2];

	srv_pipe(fx.t, q, 0);
	srv_pipe(fx.t, p, O_NONBLOCK);
	a = async_read(fx.t, q[0], 1, 0);
	read_call(&c, p[0], b, sizeof(b), 0, 0);
	call_ok(fx.t, &c);
	cr_expect_eq(c.ret, -EAGAIN);
	z = async_read(fx.t, q[0], 1, 0);
	cr_expect_eq(z, a + 1, "ids %llu then %llu: the nonblocking read went "
		     "through the ring", (unsigned long long)a,
		     (unsigned long long)z);
	pending_ok(fx.t, &v, &n);
	free(v);
	cr_expect_eq(n, 2);
	tether_cancel(fx.t, a);
	tether_cancel(fx.t, z);
}

/* SYNC: never through the ring (a regular-file read with SYNC|ASYNC
 * is answered with its result, not an id). */
Test(direct, sync_flag_keeps_a_call_out_of_the_ring)
{
	struct tether_call c;
	char path[160], b[8] = { 0 };
	int fd;

	fx_path(path, sizeof(path), "f");
	fx_write_file(path, "data", 4);
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);
	cr_assert_geq(fd, 0);
	read_call(&c, fd, b, sizeof(b), TETHER_CALL_SYNC | TETHER_CALL_ASYNC,
		  0);
	call_ok(fx.t, &c);
	cr_expect_eq(c.async_id, 0, "a SYNC call got an async id");
	cr_expect_eq(c.ret, 4);
	cr_expect(!memcmp(b, "data", 4));
}

/* ======================================================================
 * batch
 * ==================================================================== */

static void batch_ok(struct tether_call *calls, size_t n, unsigned flags,
		     int *at)
{
	int rc = tether_batch(fx.t, calls, n, flags, at);

	cr_assert_eq(rc, 0, "tether_batch: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
}

/* getpid, close(bad fd), getpid. */
static void fail_in_middle(struct tether_call c[3])
{
	memset(c, 0, 3 * sizeof(*c));
	c[0].nr = SYS_getpid;
	c[1].nr = SYS_close;
	c[1].nargs = 1;
	c[1].args[0] = TETHER_INT(9999);
	c[2].nr = SYS_getpid;
}

/* Without STOP every entry runs; the middle one reports its errno. */
Test(batch, failing_middle_entry_without_stop_runs_all)
{
	struct tether_call c[3];
	int at = 42;

	fail_in_middle(c);
	batch_ok(c, 3, 0, &at);
	cr_expect_eq(c[0].ret, fx.pid);
	cr_expect_eq(c[1].ret, -EBADF);
	cr_expect_eq(c[2].ret, fx.pid, "entry after the failure: %ld",
		     c[2].ret);
	cr_expect_eq(at, -1);
}

/* With STOP the rest report -ECANCELED; stopped_at is the middle. */
Test(batch, failing_middle_entry_with_stop_cancels_the_rest)
{
	struct tether_call c[3];
	int at = 42;

	fail_in_middle(c);
	batch_ok(c, 3, TETHER_BATCH_STOP, &at);
	cr_expect_eq(c[0].ret, fx.pid);
	cr_expect_eq(c[1].ret, -EBADF);
	cr_expect_eq(c[2].ret, -ECANCELED, "entry after the stop: %ld",
		     c[2].ret);
	cr_expect_eq(at, 1);
}

/* STOP: the skipped entry had no effect (a write that never happened). */
Test(batch, stop_skips_side_effects)
{
	struct tether_call c[3], r;
	char b[4];
	int p[2], at;

	srv_pipe(fx.t, p, O_NONBLOCK);
	memset(c, 0, sizeof(c));
	c[0].nr = SYS_getpid;
	c[1].nr = SYS_close;
	c[1].nargs = 1;
	c[1].args[0] = TETHER_INT(9999);
	c[2].nr = SYS_write;
	c[2].nargs = 3;
	c[2].args[0] = TETHER_INT(p[1]);
	c[2].args[1] = TETHER_IN("w", 1);
	c[2].args[2] = TETHER_INT(1);
	batch_ok(c, 3, TETHER_BATCH_STOP, &at);
	cr_assert_eq(at, 1);
	read_call(&r, p[0], b, sizeof(b), 0, 0);
	call_ok(fx.t, &r);
	cr_expect_eq(r.ret, -EAGAIN, "the skipped write happened: %ld",
		     r.ret);
}

/* openat, then read($0), then close($0): one round trip. */
Test(batch, result_reference_open_read_close)
{
	struct tether_call c[3], f;
	char path[160], b[32] = { 0 };
	int at;

	fx_path(path, sizeof(path), "ref");
	fx_write_file(path, "referenced", 10);
	memset(c, 0, sizeof(c));
	c[0].nr = SYS_openat;
	c[0].nargs = 4;
	c[0].args[0] = TETHER_INT(AT_FDCWD);
	c[0].args[1] = TETHER_STR(path);
	c[0].args[2] = TETHER_INT(O_RDONLY);
	c[0].args[3] = TETHER_INT(0);
	c[1].nr = SYS_read;
	c[1].nargs = 3;
	c[1].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 0 };
	c[1].args[1] = TETHER_OUT(b, sizeof(b));
	c[1].args[2] = TETHER_INT(sizeof(b));
	c[2].nr = SYS_close;
	c[2].nargs = 1;
	c[2].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 0 };
	batch_ok(c, 3, TETHER_BATCH_STOP, &at);
	cr_assert_geq(c[0].ret, 0, "openat: %ld", c[0].ret);
	cr_expect_eq(c[1].ret, 10, "read($0): %ld", c[1].ret);
	cr_expect_str_eq(b, "referenced");
	cr_expect_eq(c[2].ret, 0, "close($0): %ld", c[2].ret);
	cr_expect_eq(at, -1);
	/* The fd really is closed. */
	memset(&f, 0, sizeof(f));
	f.nr = SYS_fcntl;
	f.nargs = 2;
	f.args[0] = TETHER_INT(c[0].ret);
	f.args[1] = TETHER_INT(F_GETFD);
	call_ok(fx.t, &f);
	cr_expect_eq(f.ret, -EBADF);
}

/* A reference to a later entry (and to itself) is -EINVAL for that
 * entry; without STOP the others run. */
Test(batch, reference_to_later_entry_is_einval)
{
	struct tether_call c[3];
	int at;

	memset(c, 0, sizeof(c));
	c[0].nr = SYS_getpid;
	c[1].nr = SYS_dup;
	c[1].nargs = 1;
	c[1].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 2 };
	c[2].nr = SYS_dup;
	c[2].nargs = 1;
	c[2].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 2 };
	batch_ok(c, 3, 0, &at);
	cr_expect_eq(c[0].ret, fx.pid);
	cr_expect_eq(c[1].ret, -EINVAL, "reference to a later entry: %ld",
		     c[1].ret);
	cr_expect_eq(c[2].ret, -EINVAL, "reference to itself: %ld", c[2].ret);
	cr_expect_eq(at, -1);
}

/* A reference to an entry that failed is -ECANCELED (and the failure
 * itself stays as it was). */
Test(batch, reference_to_failed_entry_is_ecanceled)
{
	struct tether_call c[2];
	char b[8];
	int at;

	memset(c, 0, sizeof(c));
	c[0].nr = SYS_openat;
	c[0].nargs = 4;
	c[0].args[0] = TETHER_INT(AT_FDCWD);
	c[0].args[1] = TETHER_STR("/nonexistent/tether-test");
	c[0].args[2] = TETHER_INT(O_RDONLY);
	c[0].args[3] = TETHER_INT(0);
	c[1].nr = SYS_read;
	c[1].nargs = 3;
	c[1].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 0 };
	c[1].args[1] = TETHER_OUT(b, sizeof(b));
	c[1].args[2] = TETHER_INT(sizeof(b));
	batch_ok(c, 2, 0, &at);
	cr_expect_eq(c[0].ret, -ENOENT);
	cr_expect_eq(c[1].ret, -ECANCELED, "read($0) of a failed openat: %ld",
		     c[1].ret);
}

/* A reference outside BATCH is refused by the server. */
Test(batch, reference_outside_batch_is_refused)
{
	struct tether_call c = { .nr = SYS_dup, .nargs = 1 };

	c.args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					 .value = 0 };
	cr_expect_eq(tether_call(fx.t, &c), -EINVAL);
}

/* Entries that may block run through the ring, in order: a write to a
 * pipe, a read of it, then a timed read of the now empty pipe, which
 * reports -ETIMEDOUT from its own timeout. */
Test(batch, ring_entries_run_in_order_with_their_own_timeouts)
{
	struct tether_call c[3];
	char b[8] = { 0 }, b2[8];
	int p[2], at;

	srv_pipe(fx.t, p, 0);
	memset(c, 0, sizeof(c));
	c[0].nr = SYS_write;
	c[0].nargs = 3;
	c[0].args[0] = TETHER_INT(p[1]);
	c[0].args[1] = TETHER_IN("seq", 3);
	c[0].args[2] = TETHER_INT(3);
	read_call(&c[1], p[0], b, sizeof(b), 0, 0);
	read_call(&c[2], p[0], b2, sizeof(b2), 0, 200);
	batch_ok(c, 3, 0, &at);
	cr_expect_eq(c[0].ret, 3);
	cr_expect_eq(c[1].ret, 3);
	cr_expect_str_eq(b, "seq");
	cr_expect_eq(c[2].ret, -ETIMEDOUT, "timed read: %ld", c[2].ret);
}

/* A kid that runs BATCH [read(fd, 4), getpid]; the read blocks. */
static void kid_batcher(void *arg)
{
	const struct reader *rd = arg;
	struct tether_call c[2];
	struct tether *t = kid_connect();
	char buf[4];
	int rc, at = -2;

	memset(c, 0, sizeof(c));
	c[0].nr = SYS_read;
	c[0].nargs = 3;
	c[0].args[0] = TETHER_INT(rd->fd);
	c[0].args[1] = TETHER_OUT(buf, sizeof(buf));
	c[0].args[2] = TETHER_INT(sizeof(buf));
	c[1].nr = SYS_getpid;
	kid_say("BATCHING %llu",
		(unsigned long long)tether_info(t)->generation);
	rc = tether_batch(t, c, 2, 0, &at);
	kid_say("DONE %d %d", rc, at);
	for (;;)
		pause();
}

/* A kid blocked in a BATCH, SIGKILLed; we are attached again and have
 * the batch's id (running, as PENDING says). */
static uint64_t orphan_batch(struct kid *k, int fd)
{
	static struct reader rd;
	struct tether_pending *v;
	struct tether *obs;
	char rest[64];
	uint64_t gen, id = 0;
	int64_t end;
	size_t n;

	rd.fd = fd;
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	kid_start(k, kid_batcher, &rd);
	kid_line(k, "BATCHING", rest, sizeof(rest));
	gen = strtoull(rest, NULL, 10);
	for (end = kit_now_ms() + FX_DEADLINE_MS; !id; kit_nap_ms(10)) {
		pending_ok(obs, &v, &n);
		for (size_t i = 0; i < n; i++)
			if (v[i].batch && v[i].generation == gen &&
			    !strcmp(v[i].state, "running"))
				id = v[i].id;
		free(v);
		cr_assert(id || kit_now_ms() < end, "no running batch of "
			  "generation %llu", (unsigned long long)gen);
	}
	tether_disconnect(obs);
	kid_kill(k);
	cr_assert_eq(fx_reattach(), 0);
	return id;
}

/* A batch whose controller died goes on and is parked: PENDING lists it
 * (nr -1, batch); collected after the data comes it gives nr -1 and ret
 * = the number of entries that ran, both. */
Test(batch, parked_batch_of_killed_controller_is_collected)
{
	struct tether_pending *v;
	const struct tether_pending *e;
	struct tether_call c;
	struct kid k;
	uint64_t id;
	size_t n;
	int p[2];

	srv_pipe(fx.t, p, 0);
	id = orphan_batch(&k, p[0]);
	pending_ok(fx.t, &v, &n);
	e = fx_pending_find(v, n, id);
	cr_assert_not_null(e);
	cr_expect_eq(e->nr, -1);
	cr_expect(e->batch);
	free(v);
	srv_write(fx.t, p[1], "ab", 2);
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.nr, -1);
	cr_expect_eq(c.ret, 2, "entries that ran: %ld", c.ret);
	record_release(&c);
}

/* CANCEL of a batch's running entry ends the batch: one entry ran (the
 * cancelled read), and the read took nothing from the pipe. */
Test(batch, cancel_of_running_batch_ends_it)
{
	struct tether_call c;
	struct kid k;
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	id = orphan_batch(&k, p[0]);
	rc = tether_cancel(fx.t, id);
	cr_assert_eq(rc, 0, "cancel of a batch: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	collect_record(fx.t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.nr, -1);
	cr_expect_eq(c.ret, 1, "entries that ran: %ld", c.ret);
	record_release(&c);
	pipe_untouched(p, 'c', "the batch's cancel");
}

/* ======================================================================
 * parked: the budget for results nobody waits for
 * ==================================================================== */

/* ASYNC pread64s of a 1 MiB regular file (ASYNC puts them in the ring),
 * count of them, each parked with 1 MiB: their ids into ids. */
static int park_mib_reads(uint64_t *ids, int count)
{
	static char sink[1];
	char path[160];
	int fd;

	fx_path(path, sizeof(path), "mib");
	{
		char *data = malloc(MIB);

		cr_assert_not_null(data);
		for (size_t i = 0; i < MIB; i++)
			data[i] = (char)('a' + i % 26);
		fx_write_file(path, data, MIB);
		free(data);
	}
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);
	cr_assert_geq(fd, 0, "openat: %d", fd);
	for (int i = 0; i < count; i++) {
		struct tether_call c = { .nr = SYS_pread64, .nargs = 4,
					 .flags = TETHER_CALL_ASYNC };

		c.args[0] = TETHER_INT(fd);
		/* The library never touches out for an ASYNC call. */
		c.args[1] = (struct tether_arg){ .kind = TETHER_ARG_OUT,
						 .out = sink, .size = MIB };
		c.args[2] = TETHER_INT(MIB);
		c.args[3] = TETHER_INT(0);
		call_ok(fx.t, &c);
		cr_assert_gt(c.async_id, 0, "pread64 #%d ran directly", i);
		ids[i] = c.async_id;
	}
	return fd;
}

/* Every one of ids completed (not running), as seen through t. */
static void wait_all_done(struct tether *t, const uint64_t *ids, int n)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	for (;;) {
		struct tether_pending *v;
		size_t m;
		int left = 0;

		pending_ok(t, &v, &m);
		for (int i = 0; i < n; i++) {
			const struct tether_pending *e = fx_pending_find(v, m,
								      ids[i]);

			cr_assert_not_null(e, "request %llu missing",
					   (unsigned long long)ids[i]);
			left += !strcmp(e->state, "running");
		}
		free(v);
		if (!left)
			return;
		cr_assert_lt(kit_now_ms(), end, "%d requests still running",
			     left);
		kit_nap_ms(10);
	}
}

#define NBIG 70				/* 70 MiB > the 64 MiB budget */

/* 70 results of 1 MiB parked (the controller detaches and a new one
 * looks): some fit in the 64 MiB, the rest are "lost"; every one is
 * listed, and the done ones come back whole. */
Test(parked, byte_budget_marks_the_overflow_lost)
{
	static uint64_t ids[NBIG];
	struct tether_pending *v;
	struct tether_call c;
	int done = 0, lost = 0, first_done = -1;
	size_t n;

	park_mib_reads(ids, NBIG);
	wait_all_done(fx.t, ids, NBIG);
	cr_assert_eq(fx_reattach(), 0);
	pending_ok(fx.t, &v, &n);
	cr_assert_eq(n, NBIG, "%zu requests listed, %d parked", n, NBIG);
	for (int i = 0; i < NBIG; i++) {
		const struct tether_pending *e = fx_pending_find(v, n, ids[i]);

		cr_assert_not_null(e);
		cr_expect_eq(e->nr, SYS_pread64);
		if (!strcmp(e->state, "done")) {
			done++;
			if (first_done < 0)
				first_done = i;
		} else if (!strcmp(e->state, "lost")) {
			lost++;
		} else {
			cr_assert_fail("request %llu in state \"%s\"",
				       (unsigned long long)ids[i], e->state);
		}
	}
	free(v);
	cr_log_info("%d done, %d lost", done, lost);
	cr_expect_gt(lost, 0, "70 MiB parked and nothing lost");
	cr_expect_gt(done, 0);
	cr_expect_leq((uint64_t)done * MIB, PARKED_BYTES,
		      "%d MiB kept in a 64 MiB budget", done);
	cr_assert_geq(first_done, 0);
	collect_record(fx.t, ids[first_done], 0, &c);
	cr_expect_eq(c.ret, (long)MIB);
	cr_expect_eq(c.args[1].returned, MIB, "done record has %zu bytes",
		     c.args[1].returned);
	cr_expect(c.args[1].out && !memcmp(c.args[1].out, "abcdefgh", 8));
	record_release(&c);
}

/* NBIG MiB reads parked, some of them past the byte budget: the id of
 * one whose bytes were dropped ("lost"). */
static uint64_t lost_record(void)
{
	static uint64_t ids[NBIG];
	struct tether_pending *v;
	uint64_t lost_id = 0;
	size_t n;

	park_mib_reads(ids, NBIG);
	wait_all_done(fx.t, ids, NBIG);
	pending_ok(fx.t, &v, &n);
	for (size_t i = 0; i < n && !lost_id; i++)
		if (!strcmp(v[i].state, "lost"))
			lost_id = v[i].id;
	free(v);
	cr_assert_gt(lost_id, 0, "nothing lost");
	return lost_id;
}

/* Collecting a lost record gives its ret, but no bytes: the server
 * sends {state "lost", data_lost true, nr, ret} and no "result"; the
 * library then fails the collect with -ENODATA ("result N kept, but its
 * out buffers were dropped"), with c.ret set and every returned 0, and
 * allocates nothing.  (This -ENODATA is not in libtether(3)'s error list
 * for tether_collect(), nor in tether.h: documentation gap.) */
Test(parked, lost_record_collects_ret_without_bytes)
{
	uint64_t lost_id = lost_record();
	struct tether_call c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = tether_collect(fx.t, lost_id, 0, &c);
	cr_expect_eq(rc, -ENODATA, "collect of a lost record: %d (%s)", rc,
		     tether_last_error(fx.t));
	cr_expect_eq(c.ret, (long)MIB, "lost record's ret: %ld", c.ret);
	cr_expect_eq(c.nr, SYS_pread64);
	cr_expect_eq(c.nargs, 0, "arguments decoded for a lost record");
	record_release(&c);
}

/* The same into the caller's own buffers: ret, and 0 bytes returned. */
Test(parked, lost_record_into_callers_buffers_returns_no_bytes)
{
	static char buf[MIB];
	struct tether_call c = { .nr = SYS_pread64, .nargs = 4 };
	uint64_t lost_id = lost_record();
	int rc;

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_OUT(buf, MIB);
	c.args[2] = TETHER_INT(MIB);
	c.args[3] = TETHER_INT(0);
	c.args[1].returned = 12345;
	rc = tether_collect(fx.t, lost_id, 0, &c);
	cr_expect_eq(rc, -ENODATA, "collect of a lost record: %d", rc);
	cr_expect_eq(c.ret, (long)MIB);
	cr_expect_eq(c.args[1].returned, 0, "%zu bytes of a lost record",
		     c.args[1].returned);
	cr_expect_eq(buf[0], 0, "bytes written for a lost record");
}

/* A lost record is delivered once, like any other: a second collect
 * finds nothing. */
Test(parked, lost_record_is_gone_after_its_collect)
{
	uint64_t lost_id = lost_record();
	struct tether_call c;

	memset(&c, 0, sizeof(c));
	cr_assert_eq(tether_collect(fx.t, lost_id, 0, &c), -ENODATA);
	memset(&c, 0, sizeof(c));
	cr_expect_eq(tether_collect(fx.t, lost_id, 0, &c), -ENOENT);
}

/* The server's own figures (raw PENDING): parked_bytes within 64 MiB,
 * parked_lost = the lost entries. */
Test(parked, parked_bytes_stay_within_budget)
{
	static uint64_t ids[NBIG];
	struct tether_pending *v;
	struct raw_pending r;
	int lost = 0;
	size_t n;

	park_mib_reads(ids, NBIG);
	wait_all_done(fx.t, ids, NBIG);
	pending_ok(fx.t, &v, &n);
	for (size_t i = 0; i < n; i++)
		lost += !strcmp(v[i].state, "lost");
	free(v);
	r = raw_pending();
	cr_log_info("parked_bytes %lld, parked_lost %lld, %d lost listed",
		    (long long)r.parked_bytes, (long long)r.parked_lost, lost);
	cr_expect_eq(r.n, n);
	cr_expect_eq(r.parked_lost, lost);
	cr_expect_leq(r.parked_bytes, (int64_t)PARKED_BYTES,
		      "parked_bytes %lld over the 64 MiB budget",
		      (long long)r.parked_bytes);
}

/* A lost record keeps its return value, not its bytes: four rounds of
 * 70 MiB parked leave the server with the 64 MiB budget and little
 * more.  Before: each lost record kept the 1 MiB buffer its bytes had
 * been packed into, and the server grew by every round. */
Test(parked, lost_records_keep_no_memory)
{
	static uint64_t ids[NBIG];
	long rss;

	for (int round = 0; round < 4; round++) {
		park_mib_reads(ids, NBIG);
		wait_all_done(fx.t, ids, NBIG);
	}
	rss = fx_status_field(fx.pid, "VmRSS");
	cr_log_info("tetherd VmRSS %ld kB after %d MiB parked, parked_bytes "
		    "%lld", rss, 4 * NBIG,
		    (long long)raw_pending().parked_bytes);
	/* ASan keeps freed memory in quarantine */
	if (!fx_sanitized(fx.pid))
		cr_expect_lt(rss, 160L << 10, "tetherd holds %ld kB for a 64 "
			     "MiB budget", rss);
}

/* PENDING's count goes down by one per collect, and the byte figure
 * returns to 0 once everything is collected. */
Test(parked, counts_consistent_while_collecting)
{
	static uint64_t ids[NBIG];
	struct tether_pending *v;
	struct tether_call c;
	size_t n;

	park_mib_reads(ids, NBIG);
	wait_all_done(fx.t, ids, NBIG);
	for (int i = 0; i < NBIG; i++) {
		int rc;

		memset(&c, 0, sizeof(c));
		rc = tether_collect(fx.t, ids[i], 0, &c);
		cr_assert(rc == 0 || rc == -ENODATA, "collect %llu: %d (%s)",
			  (unsigned long long)ids[i], rc,
			  tether_last_error(fx.t));
		record_release(&c);
		if (i % 10 == 9 || i == NBIG - 1) {
			pending_ok(fx.t, &v, &n);
			free(v);
			cr_assert_eq(n, (size_t)(NBIG - i - 1),
				     "%zu listed after %d collects", n, i + 1);
		}
	}
	cr_expect_eq(raw_pending().parked_bytes, 0);
}

/* Past 4,096 parked results the rest are "lost" (small results: the
 * count, not the bytes, is what runs out). */
Test(parked, count_budget_marks_the_overflow_lost)
{
	enum { N = PARKED_MAX + 4 };
	static uint64_t ids[N];
	static char sink[1];
	struct tether_pending *v;
	struct raw_pending r;
	char path[160];
	int fd, lost = 0, done = 0;
	size_t n;

	fx_path(path, sizeof(path), "small");
	fx_write_file(path, "s", 1);
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < N; i++) {
		struct tether_call c = { .nr = SYS_pread64, .nargs = 4,
					 .flags = TETHER_CALL_ASYNC };

		c.args[0] = TETHER_INT(fd);
		c.args[1] = TETHER_OUT(sink, 1);
		c.args[2] = TETHER_INT(1);
		c.args[3] = TETHER_INT(0);
		call_ok(fx.t, &c);
		cr_assert_gt(c.async_id, 0);
		ids[i] = c.async_id;
	}
	cr_assert_eq(fx_reattach(), 0);
	pending_ok(fx.t, &v, &n);
	cr_assert_eq(n, N);
	for (int i = 0; i < N; i++)
		cr_assert_not_null(fx_pending_find(v, n, ids[i]),
				   "request %llu not listed",
				   (unsigned long long)ids[i]);
	for (size_t i = 0; i < n; i++) {
		lost += !strcmp(v[i].state, "lost");
		done += !strcmp(v[i].state, "done");
	}
	free(v);
	cr_expect_eq(done, PARKED_MAX, "%d kept", done);
	cr_expect_eq(lost, N - PARKED_MAX, "%d lost", lost);
	r = raw_pending();
	cr_expect_eq(r.parked_lost, N - PARKED_MAX);
}

/* ======================================================================
 * liveness: the server serves while a read blocks in its ring
 * ==================================================================== */

/* STATUS from an observer answers while the controller's read blocks. */
Test(liveness, observer_status_while_read_blocks)
{
	struct reader rd = { .count = 8 };
	struct tether_status st;
	struct tether *obs;
	struct kid k;
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	start_blocked_reader(&k, &rd, obs, &id);
	rc = tether_status(obs, &st);
	cr_assert_eq(rc, 0, "STATUS: %s", strerror(-rc));
	cr_expect(st.attached);
	cr_expect_eq(st.controller_pid, k.pid);
	cr_expect_eq(st.pid, fx.pid);
	tether_disconnect(obs);
}

/* A new controller's handshake is answered while the read blocks:
 * plainly -EBUSY naming the attached controller, and with TAKEOVER it
 * attaches and works; the read is parked for it. */
Test(liveness, new_controller_handshake_while_read_blocks)
{
	struct reader rd = { .count = 8 };
	struct tether *obs, *t = NULL;
	struct tether_call c;
	char want[64], st[16];
	struct kid k;
	uint64_t id;
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	start_blocked_reader(&k, &rd, obs, &id);
	tether_disconnect(obs);
	rc = tether_connect(fx.sock, 0, &t);
	cr_assert_eq(rc, -EBUSY, "plain attach: %d", rc);
	snprintf(want, sizeof(want), "pid %d", (int)k.pid);
	cr_expect(strstr(tether_last_error(NULL), want), "refusal: \"%s\"",
		  tether_last_error(NULL));
	rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);
	cr_assert_eq(rc, 0, "take-over: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.t = t;
	cr_expect_eq(fx_getpid(t), fx.pid);
	fx_pending_state(t, id, st, sizeof(st));
	cr_expect_str_eq(st, "running");
	srv_write(t, p[1], "tk", 2);
	collect_record(t, id, FX_DEADLINE_MS, &c);
	cr_expect_eq(c.ret, 2);
	record_release(&c);
	kid_kill(&k);
}

/* After a read in flight, its controller's death, a reattach, the
 * write, the collect and closing the pipe, the server holds the fds it
 * held before. */
Test(liveness, server_fds_back_to_baseline_after_collect)
{
	struct reader rd = { .count = 8 };
	struct tether *obs;
	struct tether_call c;
	struct kid k;
	uint64_t id;
	int before, p[2];

	before = fx_settled_fds(fx.pid);
	srv_pipe(fx.t, p, 0);
	rd.fd = p[0];
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	start_blocked_reader(&k, &rd, obs, &id);
	tether_disconnect(obs);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	srv_write(fx.t, p[1], "bye", 3);
	collect_record(fx.t, id, -1, &c);
	cr_expect_eq(c.ret, 3);
	record_release(&c);
	srv_close(fx.t, p[0]);
	srv_close(fx.t, p[1]);
	fx_expect_fds(fx.pid, before, "after the collect and close");
}

/* A nanosleep through the ring does not hold the server up: an observer
 * gets STATUS while a kid's 300 ms sleep is in flight. */
static void kid_sleeper(void *arg)
{
	/* {int64 tv_sec 0, int64 tv_nsec 300,000,000 = 0x11e1a300}, LE */
	static const unsigned char ts[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0xa3, 0xe1, 0x11, 0, 0, 0, 0,
	};
	struct tether_call c = { .nr = SYS_nanosleep, .nargs = 2 };
	struct tether *t = NULL;
	int64_t t0;
	int rc;

	(void)arg;
	t = kid_connect();
	c.args[0] = TETHER_IN(ts, sizeof(ts));
	c.args[1] = TETHER_INT(0);
	kid_say("SLEEPING");
	t0 = kit_now_ms();
	rc = tether_call(t, &c);
	kid_say("SLEPT %d %ld %lld", rc, c.ret, (long long)(kit_now_ms() - t0));
	for (;;)
		pause();
}

Test(liveness, nanosleep_in_ring_does_not_block_status)
{
	struct tether_status st;
	struct tether *obs;
	char rest[128];
	struct kid k;
	long rc, ret;
	long long ms;

	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	kid_start(&k, kid_sleeper, NULL);
	kid_line(&k, "SLEEPING", NULL, 0);
	/* The sleep is in the ring now (PENDING says so), then STATUS. */
	for (int64_t end = kit_now_ms() + FX_DEADLINE_MS, seen = 0; !seen;) {
		struct tether_pending *v;
		size_t n;

		pending_ok(obs, &v, &n);
		for (size_t i = 0; i < n; i++)
			seen |= v[i].nr == SYS_nanosleep &&
				!strcmp(v[i].state, "running");
		free(v);
		if (!seen) {
			cr_assert_lt(kit_now_ms(), end,
				     "no nanosleep in PENDING");
			kit_nap_ms(5);
		}
	}
	cr_assert_eq(tether_status(obs, &st), 0);
	cr_expect_eq(st.controller_pid, k.pid);
	kid_line(&k, "SLEPT", rest, sizeof(rest));
	cr_assert_eq(sscanf(rest, "%ld %ld %lld", &rc, &ret, &ms), 3);
	cr_expect_eq(rc, 0);
	cr_expect_eq(ret, 0, "nanosleep: %ld", ret);
	cr_expect_geq(ms, 250, "300 ms sleep took %lld ms", ms);
	tether_disconnect(obs);
	kid_kill(&k);
}

/* SHUTDOWN with a read still in the ring and a result parked: the
 * server cancels what runs and exits. */
Test(liveness, shutdown_with_requests_in_flight_exits)
{
	int p[2], rc;

	srv_pipe(fx.t, p, 0);
	async_read(fx.t, p[0], 8, 0);
	srv_write(fx.t, p[1], "x", 1);
	async_read(fx.t, p[0], 8, 0);	/* completes: parked */
	async_read(fx.t, p[0], 8, 0);	/* runs */
	rc = tether_shutdown(fx.t);
	cr_assert_eq(rc, 0, "shutdown: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	cr_expect(fx_wait_gone(fx.pid), "server still runs after SHUTDOWN");
}

/* ======================================================================
 * frame: answers that could not fit one frame
 * ==================================================================== */

/* A kid sleeps 300 ms in the ring with a 3 MiB out buffer, which a
 * waiting controller gets over the data socket. */
static void kid_big_sleeper(void *arg)
{
	static const int64_t ts[2] = { 0, 300 * 1000 * 1000 };
	static char rem[3 * MIB];
	struct tether_call c = { .nr = SYS_nanosleep, .nargs = 2 };
	struct tether *t = NULL;
	int rc;

	(void)arg;
	t = kid_connect();
	c.args[0] = TETHER_IN(ts, sizeof(ts));
	c.args[1] = TETHER_OUT(rem, sizeof(rem));
	kid_say("SLEEPING");
	rc = tether_call(t, &c);
	kid_say("SLEPT %d %ld", rc, c.ret);
	for (;;)
		pause();
}

/* Its controller killed, that call is parked, and a parked record
 * carries every byte in one frame: 3 MiB cannot.  It is kept as "lost"
 * with its ret and the collect says -ENODATA instead of never
 * answering. */
Test(frame, parked_result_bigger_than_a_frame_is_lost_not_hung)
{
	struct tether_call r;
	struct tether *obs;
	struct kid k;
	uint64_t id = 0;
	int rc;

	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	kid_start(&k, kid_big_sleeper, NULL);
	kid_line(&k, "SLEEPING", NULL, 0);
	for (int64_t end = kit_now_ms() + FX_DEADLINE_MS; !id; kit_nap_ms(5)) {
		struct tether_pending *v;
		size_t n;

		pending_ok(obs, &v, &n);
		for (size_t i = 0; i < n; i++)
			if (v[i].nr == SYS_nanosleep && v[i].waited)
				id = v[i].id;
		free(v);
		cr_assert(id || kit_now_ms() < end, "no nanosleep in PENDING");
	}
	tether_disconnect(obs);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0);
	memset(&r, 0, sizeof(r));
	rc = tether_collect(fx.t, id, FX_DEADLINE_MS, &r);
	cr_expect_eq(rc, -ENODATA, "collect of a 3 MiB record: %d (%s)", rc,
		     tether_last_error(fx.t));
	cr_expect_eq(r.ret, 0, "its ret: %ld", r.ret);
	record_release(&r);
	cr_expect_eq(fx_getpid(fx.t), fx.pid, "connection still works");
}

/* Outs that could not come back in a frame are refused before the
 * call is sent, and the connection goes on. */
Test(frame, outs_bigger_than_a_frame_are_e2big)
{
	static char sink[3][MIB];
	struct tether_call c = { .nr = SYS_getpid, .nargs = 3 };
	int rc;

	for (int i = 0; i < 3; i++)
		c.args[i] = TETHER_OUT(sink[i], MIB);
	rc = tether_call(fx.t, &c);
	cr_expect_eq(rc, -E2BIG, "getpid with 3 MiB of outs: %d (%s)", rc,
		     tether_last_error(fx.t));
	cr_expect_eq(fx_getpid(fx.t), fx.pid, "connection still works");
}

/* A batch whose out buffers could not come back in one frame is refused
 * before anything runs. */
Test(frame, batch_too_big_to_answer_is_e2big)
{
	static char bufs[40][64 * 1024];
	struct tether_call c[40];
	int p[2], stopped = 0;

	srv_pipe(fx.t, p, O_NONBLOCK);
	srv_write(fx.t, p[1], "x", 1);
	for (int i = 0; i < 40; i++) {
		c[i] = (struct tether_call){ .nr = SYS_read, .nargs = 3 };
		c[i].args[0] = TETHER_INT(p[0]);
		c[i].args[1] = TETHER_OUT(bufs[i], sizeof(bufs[i]));
		c[i].args[2] = TETHER_INT(sizeof(bufs[i]));
	}
	cr_expect_eq(tether_batch(fx.t, c, 40, 0, &stopped), -E2BIG, "%s",
		     tether_last_error(fx.t));
	/* Nothing ran: the byte is still in the pipe. */
	c[0].nargs = 3;
	call_ok(fx.t, &c[0]);
	cr_expect_eq(c[0].ret, 1, "the pipe's byte: %ld", c[0].ret);
}

/* A [3, k] reference is checked once it is a number: munmap of remote
 * memory through an earlier entry's result is refused like a direct one,
 * and the memory stays. */
Test(frame, batch_reference_cannot_unmap_remote_memory)
{
	struct tether_call c[2];
	uint64_t addr;
	char b[4] = { 0 };
	int stopped = 0, mfd;

	cr_assert_eq(tether_mem_alloc(fx.t, 4096, &addr), 0);
	cr_assert_eq(tether_mem_write(fx.t, addr, "keep", 4), 0);
	/* Entry 0 returns the address: an lseek of a memfd to it does. */
	c[0] = (struct tether_call){ .nr = SYS_memfd_create, .nargs = 2 };
	c[0].args[0] = TETHER_STR("addr");
	c[0].args[1] = TETHER_INT(0);
	call_ok(fx.t, &c[0]);
	cr_assert_geq(mfd = (int)c[0].ret, 0);
	c[0] = (struct tether_call){ .nr = SYS_lseek, .nargs = 3 };
	c[0].args[0] = TETHER_INT(mfd);
	c[0].args[1] = TETHER_INT(addr);
	c[0].args[2] = TETHER_INT(SEEK_SET);
	c[1] = (struct tether_call){ .nr = SYS_munmap, .nargs = 2 };
	c[1].args[0] = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					    .value = 0 };
	c[1].args[1] = TETHER_INT(4096);
	cr_assert_eq(tether_batch(fx.t, c, 2, 0, &stopped), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq((uint64_t)c[0].ret, addr, "lseek returned %ld", c[0].ret);
	cr_expect_eq(c[1].ret, -EPERM, "munmap via [3,0]: %ld", c[1].ret);
	cr_assert_eq(tether_mem_read(fx.t, addr, b, 4), 0);
	cr_expect_eq(memcmp(b, "keep", 4), 0);
}
