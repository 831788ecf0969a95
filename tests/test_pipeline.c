/*
 * Requests right behind the HELLO (TETHER_CONNECT_PIPELINE, and the
 * protocol rule under it, tether-protocol(7) HANDSHAKE): they are served
 * after the answer when the HELLO is accepted, and never executed when
 * it is refused -- the server closes the syscall socket with them in it.
 * Real servers, real kids SIGKILLed right after sending; every fd count
 * is the SERVER's /proc/PID/fd.
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
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

TestSuite(pipeline, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 60);
TestSuite(pipeline_refused, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 60);
TestSuite(pipeline_hostile, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 120);

/* ---- helpers ---------------------------------------------------------- */

static struct tether *pipe_connect(unsigned flags)
{
	struct tether *t = NULL;
	int rc = tether_connect(fx.sock, flags | TETHER_CONNECT_PIPELINE, &t);

	cr_assert_eq(rc, 0, "pipelined connect: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	return t;
}

/* The fixture's controller goes, and the server has seen it go. */
static int detach_fixture(void)
{
	tether_disconnect(fx.t);
	fx.t = NULL;
	return fx_settled_fds(fx.pid);
}

/* The server fd labeled label, per an observer's LIST_FDS, or -1. */
static int labeled(const char *label)
{
	struct tether *obs = fx_observe(fx.sock);
	struct tether_fdinfo *v = NULL;
	size_t n = 0;
	int fd = -1, rc;

	rc = tether_list_fds(obs, &v, &n, NULL, NULL);
	cr_assert_eq(rc, 0, "LIST_FDS: %s", tether_last_error(obs));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].label, label))
			fd = v[i].fd;
	free(v);
	tether_disconnect(obs);
	return fd;
}

static int open_here(void)
{
	char path[128];
	int fd;

	fx_path(path, sizeof(path), "here");
	fx_write_file(path, "here\n", 5);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	return fd;
}

/* A HELLO with fresh socket pairs on a new connection, its answer
 * unread: *hs is that connection, ours[] our ends of the syscall and
 * data sockets.  No check beyond sending it: hostile peers do this. */
static int raw_hello(unsigned flags, int *hs, int ours[2])
{
	int sp[2], dp[2], pass[2];
	struct tp_msg m;
	ssize_t n;

	if ((*hs = fx_dial(fx.sock)) < 0)
		return *hs;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0)
		return -errno;
	pass[0] = sp[1];
	pass[1] = dp[1];
	fx_hello_msg(&m, TETHER_PROTO_VERSION, flags);
	n = fx_send_fds(*hs, tp_msg_data(&m), tp_msg_size(&m), pass, 2);
	tp_msg_destroy(&m);
	close(sp[1]);
	close(dp[1]);
	ours[0] = sp[0];
	ours[1] = dp[0];
	return n < 0 ? (int)n : 0;
}

/* A request frame [id, op, body]: body is [] or [label]. */
static void raw_request(struct tp_msg *m, uint64_t id, unsigned op,
			const char *label)
{
	tp_msg_init(m);
	tp_msg_request(m, id, op);
	msgpack_pack_array(&m->pk, label ? 1 : 0);
	if (label) {
		msgpack_pack_str(&m->pk, strlen(label));
		msgpack_pack_str_body(&m->pk, label, strlen(label));
	}
	cr_assert_eq(tp_msg_finish(m), 0);
}

/* The HELLO's answer on hs: its code (0 attached). */
static int raw_answer(int hs, char *text, size_t size)
{
	struct tp_rbuf rb = { 0 };
	struct fx_frame f;
	int rc = fx_recv_frame(hs, &rb, &f), code;

	tp_rbuf_free(&rb);
	if (rc < 0)
		return rc;
	code = (int)f.in.code;
	if (text)
		fx_frame_text(&f, text, size);
	fx_frame_free(&f);
	return code;
}

/* The HELLO for socket pairs sp (syscall) and dp (data), whose near
 * ends may already hold requests: sent with the far ends, which are
 * closed here, and answered "attached". */
static void hello_for_pairs(const int sp[2], const int dp[2], unsigned flags)
{
	int pass[2] = { sp[1], dp[1] }, hs;
	struct tp_msg m;

	cr_assert_geq(hs = fx_dial(fx.sock), 0);
	fx_hello_msg(&m, TETHER_PROTO_VERSION, flags);
	cr_assert_gt(fx_send_fds(hs, tp_msg_data(&m), tp_msg_size(&m), pass,
				 2), 0);
	tp_msg_destroy(&m);
	close(sp[1]);
	close(dp[1]);
	cr_assert_eq(raw_answer(hs, NULL, 0), 0);
	close(hs);
}

/* The answers to requests first..last on fd, in order, each a success. */
static void expect_answers(int fd, uint64_t first, uint64_t last)
{
	struct tp_rbuf rb = { 0 };
	struct fx_frame f;

	for (uint64_t id = first; id <= last; id++) {
		cr_assert_eq(fx_recv_frame(fd, &rb, &f), 0,
			     "answer %llu did not come",
			     (unsigned long long)id);
		cr_assert_eq(f.in.id, id, "answer %llu, expected %llu",
			     (unsigned long long)f.in.id,
			     (unsigned long long)id);
		cr_assert_eq(f.in.code, 0);
		fx_frame_free(&f);
	}
	tp_rbuf_free(&rb);
}

/* ---- accepted: served in order, after the answer ----------------------- */

Test(pipeline, take_then_call_behind_the_hello)
{
	struct tether *t;
	int idle = detach_fixture(), fd = open_here(), sfd;

	t = pipe_connect(0);
	sfd = tether_take(t, fd, "piped");
	close(fd);
	cr_assert_geq(sfd, 0, "take: %s", tether_last_error(t));
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_eq(tether_connect_finish(t), 0);
	cr_assert_eq(tether_info(t)->pid, fx.pid);
	cr_assert(tether_info(t)->attached);
	cr_assert_gt(tether_info(t)->generation, 0);
	tether_disconnect(t);
	cr_assert_eq(labeled("piped"), sfd);
	fx_expect_fds(fx.pid, idle + 1, "with the taken fd, detached");
}

Test(pipeline, call_is_the_first_request)
{
	struct tether *t;

	struct tether *w;
	int cause;

	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cause = tether_last_cause(fx.t);
	detach_fixture();
	t = pipe_connect(0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	/* the answer read on the way leaves no trace in the call's */
	cr_assert_eq(tether_last_cause(t), cause);
	cr_assert_str_eq(tether_last_error(t), "");
	cr_assert_eq(tether_info(t)->pid, fx.pid);
	tether_disconnect(t);
	/* and the one after it waits as before */
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &w), 0);
	cr_assert_eq(fx_getpid(w), fx.pid);
	tether_disconnect(w);
}

/* A first request with a buffer too large to go inline: the SYSCALL
 * goes behind the HELLO, its bytes on the data socket once the answer
 * is in. */
Test(pipeline, a_large_write_is_the_first_request)
{
	size_t size = 4u << 20;
	char *buf = malloc(size);
	struct tether *t;
	long fd, ret = 0;

	cr_assert_not_null(buf);
	memset(buf, 'x', size);
	fd = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_WRONLY, 0);
	cr_assert_geq(fd, 0);
	detach_fixture();
	t = pipe_connect(0);
	cr_assert_eq(tether_write(t, (int)fd, buf, size, &ret), 0, "%s",
		     tether_last_error(t));
	cr_assert_eq(ret, (long)size);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
	free(buf);
}

/* SUBMIT behind the HELLO (a gathered request: the answer is read
 * before it goes), then REAP: every call comes back. */
Test(pipeline, submit_and_reap_as_the_first_requests)
{
	struct tether_call calls[8], *done[8];
	struct tether *t;
	size_t got = 0;
	int n;

	memset(calls, 0, sizeof(calls));
	for (int i = 0; i < 8; i++)
		calls[i].nr = SYS_getpid;
	detach_fixture();
	t = pipe_connect(0);
	cr_assert_eq(tether_submit_many(t, calls, 8, 0), 0, "%s",
		     tether_last_error(t));
	while (got < 8) {
		n = tether_reap(t, done, 8, 1, FX_DEADLINE_MS);
		cr_assert_gt(n, 0, "reap: %d (%s)", n, tether_last_error(t));
		for (int i = 0; i < n; i++)
			cr_assert_eq(done[i]->ret, fx.pid);
		got += (size_t)n;
	}
	tether_disconnect(t);
}

Test(pipeline, info_first_reads_the_answer)
{
	struct tether *t;

	detach_fixture();
	t = pipe_connect(0);
	/* the answer's fields, before any request */
	cr_assert_eq(tether_info(t)->pid, fx.pid);
	cr_assert_eq(tether_connect_finish(t), 0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}

Test(pipeline, a_waiting_connect_has_nothing_to_finish)
{
	cr_assert_eq(tether_connect_finish(fx.t), 0);
	cr_assert_eq(tether_connect_finish(NULL), -EINVAL);
}

Test(pipeline, observer_pipelines_too)
{
	struct tether_status st;
	struct tether *obs = pipe_connect(TETHER_CONNECT_OBSERVE);

	cr_assert_eq(tether_status(obs, &st), 0, "%s", tether_last_error(obs));
	cr_assert(st.observer);
	cr_assert(st.attached, "the fixture's controller is attached");
	cr_assert(tether_info(obs)->observer);
	tether_disconnect(obs);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(pipeline, unknown_connect_flag_is_still_einval)
{
	struct tether *t = NULL;

	cr_assert_eq(tether_connect(fx.sock, 0x80u, &t), -EINVAL);
	cr_assert_null(t);
}

/* The request is in the socket before the HELLO that passes it is even
 * sent: the server's poll on it is armed on a socket already readable,
 * and must fire at once (io_uring checks readiness when it arms). */
Test(pipeline, a_request_queued_before_the_hello_is_served)
{
	int sp[2], dp[2];
	struct tp_msg m;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp), 0);
	raw_request(&m, 5, TETHER_OP_STATUS, NULL);
	cr_assert_eq(fx_send_msg(sp[0], &m), 0);
	tp_msg_destroy(&m);
	hello_for_pairs(sp, dp, TETHER_HELLO_OBSERVE);
	expect_answers(sp[0], 5, 5);
	close(sp[0]);
	close(dp[0]);
}

/* A TAKE keeps the server's fd count known (no rescan at the next
 * attach, which a `tetherctl take` after another would pay): the count
 * a HELLO answer and STATUS give stays exact. */
Test(pipeline, takes_keep_the_fd_count_exact)
{
	struct tether_fdinfo *v = NULL;
	struct tether_status st;
	unsigned before, listed = 0;
	size_t n = 0;

	cr_assert_eq(tether_status(fx.t, &st), 0);
	before = st.nfds;
	for (int i = 0; i < 3; i++) {
		int fd = open_here();

		cr_assert_geq(tether_take(fx.t, fd, NULL), 0);
		close(fd);
	}
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(st.nfds, before + 3, "nfds %u, was %u", st.nfds, before);
	cr_assert_eq(tether_list_fds(fx.t, &v, &n, NULL, NULL), 0);
	for (size_t i = 0; i < n; i++)
		listed += !v[i].internal;
	free(v);
	cr_assert_eq(st.nfds, listed, "nfds %u, LIST_FDS %u", st.nfds, listed);
}

/* ---- refused: nothing queued behind the HELLO runs ----------------------- */

Test(pipeline_refused, take_behind_a_busy_hello_is_never_executed)
{
	const char *const argv[] = { "sleep", "100", NULL };
	struct tether_spawn sp = { .argv = argv, .label = "napper" };
	pid_t worker = fx_spawn_ok(fx.t, &sp);
	int idle = fx_settled_fds(fx.pid), fd = open_here(), rc;
	struct tether *t = pipe_connect(0);

	rc = tether_take(t, fd, "never");
	close(fd);
	cr_assert_eq(rc, -EBUSY, "take: %d (%s)", rc, tether_last_error(t));
	cr_assert(strstr(tether_last_error(t), "attached by pid"),
		  "%s", tether_last_error(t));
	cr_assert_eq(tether_last_cause(t), TETHER_CAUSE_CONFLICT);
	/* the verdict stays: every call, and finish, say it */
	cr_assert_eq(tether_connect_finish(t), -EBUSY);
	cr_assert_eq(fx_getpid(t), -EBUSY);
	cr_assert(strstr(tether_last_error(t), "attached by pid"));
	tether_disconnect(t);
	fx_expect_fds(fx.pid, idle, "after the refused pipelined TAKE");
	cr_assert_eq(labeled("never"), -1);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert(fx_alive(worker), "the worker died");
}

Test(pipeline_refused, openat_behind_a_busy_hello_leaves_no_fd)
{
	struct tether_fdinfo *v = NULL;
	size_t before, after;
	struct tether *t;
	int idle;

	cr_assert_eq(tether_list_fds(fx.t, &v, &before, NULL, NULL), 0);
	free(v);
	idle = fx_settled_fds(fx.pid);
	t = pipe_connect(0);
	cr_assert_eq(fx_openat(t, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY, 0),
		     -EBUSY);
	tether_disconnect(t);
	fx_expect_fds(fx.pid, idle, "after the refused pipelined openat");
	cr_assert_eq(tether_list_fds(fx.t, &v, &after, NULL, NULL), 0);
	free(v);
	cr_assert_eq(after, before, "LIST_FDS: %zu fds, was %zu", after,
		     before);
}

/* A hand-made client: HELLO, then the fd and a TAKE behind it, then
 * killed before it reads anything. */
static void hello_take_and_hold(void *arg)
{
	int hs, ours[2], fd = KID_FD, rc;
	struct tp_msg m;

	(void)arg;
	if ((rc = raw_hello(0, &hs, ours)) < 0)
		kid_fail("hello: %s", strerror(-rc));
	/* a refused HELLO may have had the sockets closed already (EPIPE):
	 * then what was not sent cannot run either */
	tp_send_fds(ours[1], "F", 1, 0, &fd, 1);
	raw_request(&m, 1, TETHER_OP_TAKE, "killed");
	fx_send_msg(ours[0], &m);
	tp_msg_destroy(&m);
	kid_say("SENT");
	kid_hold();
}

Test(pipeline_refused, killed_right_after_sending_behind_a_busy_hello)
{
	int idle = fx_settled_fds(fx.pid), fd = open_here();
	struct kid k;

	kid_start_with(&k, hello_take_and_hold, NULL, fd, false);
	close(fd);
	kid_line(&k, "HOLD", NULL, 0);
	kid_kill(&k);
	fx_expect_fds(fx.pid, idle, "after the refused kid was killed");
	cr_assert_eq(labeled("killed"), -1);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(pipeline, killed_right_after_sending_is_served_then_detached)
{
	int idle = detach_fixture(), fd = open_here(), sfd;
	struct kid k;

	kid_start_with(&k, hello_take_and_hold, NULL, fd, false);
	close(fd);
	kid_line(&k, "HOLD", NULL, 0);
	kid_kill(&k);
	/* what it sent was a request like any: served, in order, then its
	 * end of file detached it; nothing else stays */
	fx_expect_fds(fx.pid, idle + 1, "after the attached kid was killed");
	cr_assert_geq(sfd = labeled("killed"), 0);
	fx.t = NULL;
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(pipeline_refused, raw_requests_behind_a_busy_hello_get_no_answer)
{
	int idle = fx_settled_fds(fx.pid), hs, ours[2];
	char text[256];
	struct tp_msg m;

	cr_assert_eq(raw_hello(0, &hs, ours), 0);
	for (uint64_t id = 1; id <= 10; id++) {
		raw_request(&m, id, TETHER_OP_STATUS, NULL);
		/* may fail once the server has closed its end: fine */
		fx_send_msg(ours[0], &m);
		tp_msg_destroy(&m);
	}
	cr_assert_eq(raw_answer(hs, text, sizeof(text)), EBUSY, "%s", text);
	/* no reply, only the end of the socket */
	cr_assert(fx_wait_eof(ours[0]));
	close(hs);
	close(ours[0]);
	close(ours[1]);
	fx_expect_fds(fx.pid, idle, "after the refused raw client");
}

/* ---- catching up: a controller's buffered calls run during a HELLO -------- */

/* The lowest fd number free in pid (below the internal band). */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	int fd;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		if (access(path, F_OK) < 0)
			return fd;
	}
	return -1;
}

static void wait_stopped(pid_t pid)
{
	struct fx_pstat ps;
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	while (fx_read_pstat(pid, &ps) && ps.state != 'T' &&
	       kit_now_ms() < end)
		kit_nap_ms(1);
	cr_assert(fx_read_pstat(pid, &ps) && ps.state == 'T',
		  "tetherd did not stop");
}

/* A new HELLO finds the attached controller's calls waiting, and runs
 * them first (td_hello_admit's catch-up): they must not reach the
 * sockets that HELLO passes, which the server holds at low numbers
 * until it adopts them.  The server is stopped while the controller
 * queues close(N) -- N the number the HELLO's syscall socket will get
 * -- and a take-over HELLO arrives, so both wait in one batch. */
Test(pipeline, catching_up_never_reaches_a_hellos_sockets)
{
	int osfd, odfd, hs, ours[2], nfree, code;
	char text[256];
	struct tp_msg m;

	detach_fixture();
	cr_assert_eq(fx_attach_raw(fx.sock, 0, &osfd, &odfd), 0);
	nfree = lowest_free_fd(fx.pid);
	cr_assert_geq(nfree, 0);
	cr_assert_eq(kill(fx.pid, SIGSTOP), 0);
	wait_stopped(fx.pid);
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_SYSCALL);
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_int64(&m.pk, SYS_close);
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_int(&m.pk, nfree);
	cr_assert_eq(fx_send_msg(osfd, &m), 0);
	tp_msg_destroy(&m);
	cr_assert_eq(raw_hello(TETHER_HELLO_TAKEOVER, &hs, ours), 0);
	cr_assert_eq(kill(fx.pid, SIGCONT), 0);
	code = raw_answer(hs, text, sizeof(text));
	cr_assert_eq(code, 0, "take-over refused: %d %s", code, text);
	cr_assert(fx_wait_eof(osfd), "the old controller stays");
	close(osfd);
	close(odfd);
	close(hs);
	close(ours[0]);
	close(ours[1]);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* ---- hostile: many requests behind the HELLO ----------------------------- */

#define FLOOD 20000

/* Requests already waiting when the HELLO is read are served in the
 * HELLO's own turn.  Eight 1 MiB answers are more than a peer's queue
 * holds before the server stops reading it: the rest must be read and
 * answered as the first ones drain, not left in the server's buffer
 * with nothing to wake it (a synchronous flush there once did that). */
Test(pipeline_hostile, big_answers_behind_the_hello_resume_as_they_drain)
{
	int sp[2], dp[2], idle = detach_fixture();
	struct tether *t;
	struct tp_msg m;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp), 0);
	/* the requests first: all of them are there when the HELLO is */
	for (uint64_t id = 1; id <= 8; id++) {
		tp_msg_init(&m);
		tp_msg_request(&m, id, TETHER_OP_SYSCALL);
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_int64(&m.pk, SYS_uname);
		msgpack_pack_array(&m.pk, 1);
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
		msgpack_pack_uint64(&m.pk, TETHER_BUF_MAX);
		cr_assert_eq(tp_msg_finish(&m), 0);
		cr_assert_eq(fx_send_msg(sp[0], &m), 0);
		tp_msg_destroy(&m);
	}
	hello_for_pairs(sp, dp, 0);
	expect_answers(sp[0], 1, 8);
	close(sp[0]);
	close(dp[0]);
	t = pipe_connect(0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
	fx_expect_fds(fx.pid, idle, "after both controllers went");
}

/* An oversized frame behind the HELLO, then a request: the frame is
 * refused and skipped while it is still coming (it is larger than any
 * socket buffer, so a writer sends it as the server reads), and the
 * request is answered after it, on the same connection. */
Test(pipeline_hostile, an_oversized_frame_behind_the_hello_is_skipped)
{
	size_t junk = TETHER_FRAME_MAX + 1;
	const unsigned char status[] = { 0, 0, 0, 4, 0x93, 0x3c,
					 TETHER_OP_STATUS, 0x90 };
	unsigned char *buf = malloc(4 + junk + sizeof(status));
	struct tp_rbuf rb = { 0 };
	struct fx_frame f;
	int sp[2], dp[2], st;
	pid_t writer;

	cr_assert_not_null(buf);
	tp_put_be32(buf, (uint32_t)junk);
	memset(buf + 4, 0xc1, junk);
	memcpy(buf + 4 + junk, status, sizeof(status));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp), 0);
	writer = fork();
	cr_assert_geq(writer, 0);
	if (writer == 0) {
		fx_forked();
		_exit(tp_write_all(sp[0], buf, 4 + junk + sizeof(status)) < 0);
	}
	fx_track(writer);
	free(buf);
	hello_for_pairs(sp, dp, TETHER_HELLO_OBSERVE);
	cr_assert_eq(fx_recv_frame(sp[0], &rb, &f), 0);
	cr_assert_eq(f.in.id, 0);
	cr_assert_eq(f.in.code, E2BIG);
	fx_frame_free(&f);
	cr_assert_eq(fx_recv_frame(sp[0], &rb, &f), 0);
	cr_assert_eq(f.in.id, 0x3c);
	cr_assert_eq(f.in.code, 0);
	fx_frame_free(&f);
	tp_rbuf_free(&rb);
	cr_assert_eq(waitpid(writer, &st, 0), writer);
	fx_untrack(writer);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(sp[0]);
	close(dp[0]);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* Write FLOOD STATUS requests on fd, blocking as the server reads. */
static void flood(int fd)
{
	struct tp_msg m;

	for (uint64_t id = 1; id <= FLOOD; id++) {
		raw_request(&m, id, TETHER_OP_STATUS, NULL);
		if (tp_write_all(fd, tp_msg_data(&m), tp_msg_size(&m)) < 0)
			_exit(1);
		tp_msg_destroy(&m);
	}
	_exit(0);
}

Test(pipeline_hostile, a_flood_behind_the_hello_is_served_in_order)
{
	int hs, ours[2], status;
	pid_t writer;

	cr_assert_eq(raw_hello(TETHER_HELLO_OBSERVE, &hs, ours), 0);
	/* the writer blocks once the socket is full: the server reads on
	 * only as its reply queue drains, and nobody reads it yet */
	writer = fork();
	cr_assert_geq(writer, 0);
	if (writer == 0) {
		fx_forked();
		flood(ours[0]);
	}
	fx_track(writer);
	/* meanwhile the server serves everyone else */
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_eq(raw_answer(hs, NULL, 0), 0);
	expect_answers(ours[0], 1, FLOOD);
	cr_assert_eq(waitpid(writer, &status, 0), writer);
	fx_untrack(writer);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(hs);
	close(ours[0]);
	close(ours[1]);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(pipeline_hostile, a_flood_nobody_reads_never_blocks_the_server)
{
	int hs, ours[2], idle = fx_settled_fds(fx.pid);
	struct tp_msg m;
	size_t sent = 0;

	cr_assert_eq(raw_hello(TETHER_HELLO_OBSERVE, &hs, ours), 0);
	/* as much as the socket takes, never reading a reply */
	for (uint64_t id = 1; id <= FLOOD; id++) {
		raw_request(&m, id, TETHER_OP_STATUS, NULL);
		if (send(ours[0], tp_msg_data(&m), tp_msg_size(&m),
			 MSG_DONTWAIT | MSG_NOSIGNAL) <= 0) {
			tp_msg_destroy(&m);
			break;
		}
		tp_msg_destroy(&m);
		sent++;
	}
	cr_assert_gt(sent, 0);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	close(hs);
	close(ours[0]);
	close(ours[1]);
	fx_expect_fds(fx.pid, idle, "after the flooding observer went");
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

/* A kid that connects pipelined while the server has no handshake slot
 * for it, says so, and then asks for its pid. */
static void connect_then_getpid(void *arg)
{
	struct tether *t = NULL;
	int rc;

	(void)arg;
	if ((rc = tether_connect(fx.sock, TETHER_CONNECT_PIPELINE, &t)) < 0)
		kid_fail("connect: %s", tether_last_error(NULL));
	kid_say("CONNECTED");
	kid_say("PID %ld", fx_getpid(t));
	tether_disconnect(t);
}

/* EAGAIN (too many handshakes) comes after the pipelined connect has
 * returned: the library attaches again as tether_connect would, and
 * sends again what it had sent -- the getpid is answered once. */
Test(pipeline_hostile, a_busy_refusal_is_retried_and_the_request_sent_again)
{
	int idle, silent[16], hs_max = 16;
	struct kid k;

	detach_fixture();
	idle = fx_settled_fds(fx.pid);
	for (int i = 0; i < hs_max; i++)
		cr_assert_geq(silent[i] = fx_dial(fx.sock), 0);
	fx_expect_fds(fx.pid, idle + hs_max, "with every handshake slot held");
	kid_start(&k, connect_then_getpid, NULL);
	/* Usually the HELLO goes out before the refusal: the connect
	 * returns, the refusal waits for the getpid.  If the refusal came
	 * first, the connect itself retries: it says CONNECTED only once
	 * the slots are free. */
	kid_line_within(&k, "CONNECTED", NULL, 0, 1000);
	for (int i = 0; i < hs_max; i++)
		close(silent[i]);
	cr_assert_eq(kid_num(&k, "PID"), fx.pid);
	kid_reap(&k);
	fx_expect_fds(fx.pid, idle, "after the retried kid detached");
}
