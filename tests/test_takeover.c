/*
 * A controller that is taken over hears who took over: the server's
 * taken_over notice ([0, ECONNABORTED, {text, pid, uid, generation}])
 * before it drops the old connection, tether_taken_over() on the old
 * handle, and the same -ECONNABORTED from every later call.  The old
 * controller may be idle, blocked in a call (a read that never
 * returns, LOGS --follow) or not reading at all (its socket full): the
 * first two notice at once, the last one costs the server nothing.
 * Real servers, real processes: the old controllers run in kids.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kit.h"
#include "messages.h"

TestSuite(taken, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 60);

/* ---- helpers ---------------------------------------------------------- */

/* Until pid sits in read(2) (its request sent, waiting for the reply):
 * false if it never did within the deadline. */
static bool wait_blocked_in_read(pid_t pid)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	while (kit_now_ms() < end) {
		if (fx_blocked_in(pid) == SYS_read)
			return true;
		kit_nap_ms(5);
	}
	return false;
}

static struct tether *take_over(void)
{
	struct tether *t = NULL;
	int rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);

	cr_assert_eq(rc, 0, "take-over: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	return t;
}

/* The kid's report of how its blocked call ended: "GOT rc pid uid". */
static void expect_taken_report(struct kid *k, pid_t by)
{
	char line[256];
	long rc, pid, uid;

	kid_line(k, "GOT", line, sizeof(line));
	cr_assert_eq(sscanf(line, "%ld %ld %ld", &rc, &pid, &uid), 3,
		     "report: %s", line);
	cr_assert_eq(rc, -ECONNABORTED, "the blocked call returned %ld "
		     "(%s), want -ECONNABORTED", rc, line);
	cr_assert_eq(pid, by, "taken over by pid %ld, want %d", pid, (int)by);
	cr_assert_eq(uid, (long)getuid());
	kid_line(k, "TEXT", line, sizeof(line));
	cr_assert(strstr(line, "taken over by pid"), "error text: %s", line);
	kid_reap(k);
}

/* In a kid: how the call that returned rc ended, for the test. */
static void kid_report(struct tether *t, int rc)
{
	pid_t pid = 0;
	uid_t uid = 0;

	if (tether_taken_over(t, &pid, &uid) != 1)
		kid_fail("call ended (%d, %s) but tether_taken_over says no",
			 rc, tether_last_error(t));
	kid_say("GOT %d %d %u", rc, (int)pid, (unsigned)uid);
	kid_say("TEXT %s", tether_last_error(t));
	tether_disconnect(t);
}

/* ---- an idle controller ------------------------------------------------- */

static void take_over_and_hold(void *arg)
{
	struct tether *t = NULL;

	(void)arg;
	if (tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t) < 0)
		kid_fail("take-over: %s", tether_last_error(NULL));
	kid_say("TOOK");
	kid_hold();
}

Test(taken, old_handle_names_the_new_controller)
{
	char want[96], text[256];
	pid_t pid = 0;
	uid_t uid = 1;
	struct kid k;
	long r;

	cr_assert_eq(tether_taken_over(fx.t, &pid, &uid), 0);
	cr_assert_eq(tether_taken_over(NULL, &pid, &uid), 0);
	kid_start(&k, take_over_and_hold, NULL);
	kid_line(&k, "TOOK", NULL, 0);

	r = fx_getpid(fx.t);
	snprintf(text, sizeof(text), "%s", tether_last_error(fx.t));
	cr_assert_eq(r, -ECONNABORTED, "old controller's call: %ld (%s)", r,
		     text);
	cr_assert_eq(tether_taken_over(fx.t, &pid, &uid), 1);
	cr_assert_eq(pid, k.pid, "pid %d, want the kid's %d", (int)pid,
		     (int)k.pid);
	cr_assert_eq(uid, getuid());
	snprintf(want, sizeof(want), "taken over by pid %d uid %u",
		 (int)k.pid, (unsigned)getuid());
	cr_assert_str_eq(text, want);
	/* NULLs are fine, and the answer stays. */
	cr_assert_eq(tether_taken_over(fx.t, NULL, NULL), 1);
	/* Every later call fails the same way, at once. */
	cr_assert_eq(tether_label(fx.t, 0, "x"), -ECONNABORTED);
	cr_assert_str_eq(tether_last_error(fx.t), want);
	cr_assert_eq(tether_take(fx.t, 0, NULL), -ECONNABORTED);
	kid_kill(&k);
}

/* A handle that lost its server some other way was not taken over. */
Test(taken, a_dead_server_is_not_a_take_over)
{
	long r;

	kill(fx.pid, SIGKILL);
	cr_assert(fx_wait_gone(fx.pid));
	r = fx_getpid(fx.t);
	cr_assert(r == -ECONNRESET || r == -EPIPE, "got %ld (%s)", r,
		  tether_last_error(fx.t));
	cr_assert_eq(tether_taken_over(fx.t, NULL, NULL), 0);
}

/* ---- a controller blocked in a call ------------------------------------- */

/* The server's read end of a pipe nobody writes to, labeled so it
 * outlives fx.t, which then lets go. */
static int idle_pipe(void)
{
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(tether_label(fx.t, p[0], "never"), 0);
	cr_assert_eq(tether_label(fx.t, p[1], "writer"), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	return p[0];
}

static void blocked_read(void *arg)
{
	struct tether *t = kid_connect();
	char buf[16];
	long ret = 0;
	int rc;

	kid_say("READY");
	rc = tether_read(t, *(int *)arg, buf, sizeof(buf), &ret);
	kid_report(t, rc);
}

Test(taken, a_blocked_call_returns_at_the_take_over)
{
	int fd = idle_pipe();
	struct tether *t;
	struct kid k;

	kid_start(&k, blocked_read, &fd);
	kid_line(&k, "READY", NULL, 0);
	cr_assert(wait_blocked_in_read(k.pid), "the kid never blocked");
	t = take_over();
	expect_taken_report(&k, getpid());
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}

static int count_bytes(const void *data, size_t len, uint64_t off, void *arg)
{
	(void)data;
	(void)off;
	if (len && !(*(int *)arg)++)
		kid_say("STREAMING");
	return 0;
}

/* LOGS --follow of a worker that goes on running: a stream that only a
 * lost connection ends. */
static void blocked_logs(void *arg)
{
	struct tether *t = kid_connect();
	int chunks = 0, rc;

	(void)arg;
	rc = tether_logs(t, "ticker", 0, true, count_bytes, &chunks);
	kid_report(t, rc);
}

Test(taken, logs_follow_returns_at_the_take_over)
{
	const char *argv[] = { "sh", "-c", "echo tick; exec sleep 60", NULL };
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	struct tether *t;
	struct kid k;
	pid_t w;

	sp.argv = argv;
	sp.label = "ticker";
	sp.capture = true;
	cr_assert_eq(tether_spawn(fx.t, &sp, &w), 0, "spawn: %s",
		     tether_last_error(fx.t));
	tether_disconnect(fx.t);
	fx.t = NULL;
	kid_start(&k, blocked_logs, NULL);
	kid_line(&k, "STREAMING", NULL, 0);
	cr_assert(wait_blocked_in_read(k.pid), "the kid never blocked");
	t = take_over();
	expect_taken_report(&k, getpid());
	cr_assert_eq(tether_kill(t, "ticker", SIGKILL), 0);
	tether_disconnect(t);
}

/* ---- the notice on the wire ------------------------------------------- */

/* Replies the old controller had not read come first, then the notice,
 * then the end. */
Test(taken, the_notice_follows_unread_replies_on_the_wire)
{
	struct fx_frame f;
	struct fx_raw r;
	struct tp_taken_over n;
	struct tp_err e;
	struct tp_msg m;
	struct tether *t;
	uint64_t ids[3];

	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	for (int i = 0; i < 3; i++) {
		ids[i] = fx_raw_begin(&r, &m, TETHER_OP_STATUS);
		tp_w_array(&m.w, 0);
		fx_raw_send(&r, &m);
	}
	/* All three answered before anyone takes over. */
	cr_assert_eq(fx_raw_reply(&r, ids[2], NULL), 0);
	t = take_over();
	cr_assert_eq(fx_recv_frame(r.sfd, &r.rb, &f), 0);
	cr_assert_eq(f.in.id, 0, "a notice has id 0, got %llu",
		     (unsigned long long)f.in.id);
	cr_assert_eq(f.in.code, ECONNABORTED);
	cr_assert_eq(tp_unpack_taken_over(f.in.body, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(n.pid, getpid());
	cr_assert_eq(n.uid, (int64_t)getuid());
	cr_assert_eq(n.generation, tether_info(t)->generation);
	cr_assert(n.text.n && !strncmp(n.text.p, "taken over by pid ", 18),
		  "text: %.*s", (int)n.text.n, n.text.p);
	fx_frame_free(&f);
	cr_assert(fx_wait_eof(r.sfd), "old connection not closed");
	fx_raw_close(&r);
	tether_disconnect(t);
}

/* ---- an old controller that stopped reading ----------------------------- */

/* Whether the server's log (fx.sock.log) says needle, within the
 * deadline. */
static bool log_says(const char *needle)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	char path[200], line[1024];

	snprintf(path, sizeof(path), "%s.log", fx.sock);
	do {
		FILE *f = fopen(path, "r");

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, needle)) {
				fclose(f);
				return true;
			}
		if (f)
			fclose(f);
		kit_nap_ms(10);
	} while (kit_now_ms() < end);
	return false;
}

Test(taken, a_full_old_controller_costs_the_server_nothing)
{
	struct tether *t, *o;
	struct tether_status st;
	struct fx_raw r;
	unsigned sent;
	int before;

	before = fx_settled_fds(fx.pid);
	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	sent = fx_flood_status(r.sfd);
	cr_log_info("%u requests before the socket filled", sent);
	/* The server is stuck on nothing: an observer gets its answer
	 * while the old controller's replies pile up. */
	o = fx_observe(fx.sock);
	cr_assert_eq(tether_status(o, &st), 0, "%s", tether_last_error(o));
	cr_assert(st.attached);
	t = take_over();
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_eq(tether_status(o, &st), 0, "%s", tether_last_error(o));
	cr_assert_eq(st.controller_pid, getpid());
	tether_disconnect(o);
	/* It really was full: the notice had no room, and went. */
	cr_assert(log_says("take-over notice not delivered"),
		  "no 'not delivered' in %s.log", fx.sock);
	/* The old connection's sockets and queue are gone: the new
	 * controller holds what fx.t held. */
	fx_expect_fds(fx.pid, before, "after taking over a full controller");
	cr_assert(fx_wait_eof(r.sfd), "old connection not closed");
	fx_raw_close(&r);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}
