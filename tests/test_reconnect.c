/*
 * Reconnect after a controller crash, with real processes and real
 * SIGKILLs: controllers that die at every step of their life, labels
 * bound to files, LIST_FDS kinds, take-over and observers, attach/detach
 * soak, GC of 10,000 orphans, and handshakes beyond test_server.c's.
 *
 * Controllers that are to be killed run in forked children ("kids") and
 * report their progress, one line at a time, through a pipe.  Kids never
 * call Criterion; they report "FAIL ..." and exit instead.  Every fd-leak
 * assertion counts the SERVER's /proc/PID/fd, never ours.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"

TestSuite(crash, .init = fx_init_dir, .fini = fx_fini, .timeout = 60);
TestSuite(handshake_crash, .init = fx_init_server, .fini = fx_fini,
	  .timeout = 60);
TestSuite(labels, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(list_fds, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(takeover, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(observer, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(soak, .init = fx_init_server, .fini = fx_fini, .timeout = 120);
TestSuite(hello_gen, .init = fx_init_server, .fini = fx_fini, .timeout = 30);

/* ---- small helpers ---------------------------------------------------- */

/* tether_connect/tether_reconnect, retrying while the server has not yet
 * seen the previous controller go (-EBUSY). */
static int attach_retry(bool reconnect, const char *sock, unsigned flags,
			struct tether **out, long nap)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	int rc;

	for (;;) {
		rc = reconnect ? tether_reconnect(sock, flags, out)
			       : tether_connect(sock, flags, out);
		if (rc != -EBUSY || kit_now_ms() > end)
			return rc;
		kit_nap_us(nap);
	}
}

/* /proc/PID/status VmRSS in kB, which must be there. */
static long vm_rss_kb(pid_t pid)
{
	long kb = fx_status_field(pid, "VmRSS");

	cr_assert_geq(kb, 0, "no VmRSS in /proc/%d/status", (int)pid);
	return kb;
}

static struct tether *must_reconnect(const char *sock)
{
	struct tether *t = NULL;
	int rc = attach_retry(true, sock, 0, &t, 10000);

	cr_assert_eq(rc, 0, "tether_reconnect: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	return t;
}

static void list_fds(struct tether *t, struct tether_fdinfo **v, size_t *n,
		     struct tether_fdinfo **iv, size_t *ni)
{
	int rc = tether_list_fds(t, v, n, iv, ni);

	cr_assert_eq(rc, 0, "tether_list_fds: %s (%s)", strerror(-rc),
		     tether_last_error(t));
}

static const struct tether_fdinfo *find_fd(const struct tether_fdinfo *v,
					   size_t n, int fd)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].fd == fd)
			return &v[i];
	return NULL;
}

/* LIST_FDS's entry for fd (copied), which must be there. */
static struct tether_fdinfo fd_entry(struct tether *t, int fd)
{
	struct tether_fdinfo *v, *iv, fi;
	const struct tether_fdinfo *p;
	size_t n, ni;

	list_fds(t, &v, &n, &iv, &ni);
	p = find_fd(v, n, fd);
	cr_assert_not_null(p, "fd %d missing from LIST_FDS", fd);
	fi = *p;
	free(v);
	free(iv);
	return fi;
}

static long call_ok(struct tether *t, long nr, unsigned nargs,
		    struct tether_arg *a)
{
	long r = fx_syscall(t, nr, nargs, a);

	cr_assert_geq(r, 0, "syscall %ld: %s (%s)", nr, strerror((int)-r),
		      tether_last_error(t));
	return r;
}

/* A file in the test dir, opened in the server through t (held). */
static int srv_open(struct tether *t, const char *name)
{
	char path[160];
	int fd;

	fx_path(path, sizeof(path), name);
	fd = fx_openat(t, AT_FDCWD, path, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0, "openat %s: %s", path, strerror(-fd));
	return fd;
}

static void must_label(struct tether *t, int fd, const char *name)
{
	int rc = tether_label(t, fd, name);

	cr_assert_eq(rc, 0, "label fd %d \"%s\": %s (%s)", fd, name,
		     strerror(-rc), tether_last_error(t));
}

static int int_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static bool str_has(const char *s, const char *needle)
{
	return s && strstr(s, needle);
}

/* Sanitizer reports of the server land in its log (fx.sock.log).
 * fx_fini scans it too, but an assertion in .fini does not fail the
 * test in Criterion: check here, inside the test. */
static void log_clean(void)
{
	char path[200], *buf = NULL;
	size_t cap = 0, len = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "%s.log", fx.sock);
	if (!(f = fopen(path, "r")))
		return;
	do {
		if (len + 65536 + 1 > cap) {
			cap = cap ? 2 * cap : 65536 + 1;
			cr_assert_not_null(buf = realloc(buf, cap));
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (!buf)
		return;
	buf[len] = '\0';
	{
		const char *hit = strstr(buf, "runtime error");
		char excerpt[1024] = "";

		if (!hit)
			hit = strstr(buf, "Sanitizer");
		if (hit)
			snprintf(excerpt, sizeof(excerpt), "%s", hit);
		free(buf);
		cr_assert(!hit, "sanitizer report in %s:\n%s", path, excerpt);
	}
}

/* ---- raw HELLO with a generation (fx_hello_msg has none) ------------- */

static void hello_msg(struct tp_msg *m, uint64_t flags, bool with_gen,
		      uint64_t gen)
{
	tp_msg_init(m);
	tp_msg_request(m, 9, TETHER_OP_HELLO);
	msgpack_pack_array(&m->pk, with_gen ? 4 : 3);
	msgpack_pack_uint64(&m->pk, TETHER_PROTO_VERSION);
	msgpack_pack_uint64(&m->pk, flags);
	msgpack_pack_int(&m->pk, getpid());
	if (with_gen)
		msgpack_pack_uint64(&m->pk, gen);
}

/* A complete handshake by hand.  Returns the answer's err (0 attached,
 * > 0 refused, with its text) or -errno; on success ours[] are our ends
 * of the syscall and data sockets, else closed. */
static int raw_hello(const char *sock, uint64_t flags, bool with_gen,
		     uint64_t gen, char *text, size_t textsz, int ours[2])
{
	int mine[2], rc;
	struct tp_msg m;

	hello_msg(&m, flags, with_gen, gen);
	if ((rc = tp_msg_finish(&m)) == 0)
		rc = fx_hello_pairs(sock, &m, text, textsz, mine);
	tp_msg_destroy(&m);
	if (rc == 0 && ours) {
		ours[0] = mine[0];
		ours[1] = mine[1];
	} else if (rc == 0) {
		close(mine[0]);
		close(mine[1]);
	}
	return rc;
}

/* ---- recovery: what a new controller must find after a crash --------- */

#define WANT_MAX 16

struct want {
	int n;
	int fd[WANT_MAX];
	const char *label[WANT_MAX];	/* NULL: an orphan */
};

static void want_add(struct want *w, int fd, const char *label)
{
	cr_assert_lt(w->n, WANT_MAX);
	w->fd[w->n] = fd;
	w->label[w->n] = label;
	w->n++;
}

/* fds listed must be exactly 0-2 and w's, labels as in w. */
static void check_listing(struct tether *t, const struct want *w,
			  bool orphans_gone)
{
	struct tether_fdinfo *v, *iv;
	size_t n, ni, expect = 3;

	list_fds(t, &v, &n, &iv, &ni);
	for (int i = 0; i < w->n; i++) {
		const struct tether_fdinfo *fi = find_fd(v, n, w->fd[i]);

		if (orphans_gone && !w->label[i]) {
			cr_assert_null(fi, "orphan fd %d still open after GC",
				       w->fd[i]);
			continue;
		}
		expect++;
		cr_assert_not_null(fi, "fd %d (%s) missing from LIST_FDS",
				   w->fd[i], w->label[i] ? w->label[i] : "-");
		cr_assert_str_eq(fi->label, w->label[i] ? w->label[i] : "",
				 "fd %d label", w->fd[i]);
		cr_assert(!fi->internal, "fd %d listed as internal", w->fd[i]);
	}
	for (size_t i = 0; i < n; i++) {
		cr_assert(!v[i].internal && !v[i].role[0],
			  "controller list has internal fd %d (%s)", v[i].fd,
			  v[i].role);
		if (v[i].fd <= 2)
			continue;
		bool known = false;

		for (int j = 0; j < w->n; j++)
			known |= w->fd[j] == v[i].fd;
		cr_assert(known, "unexpected fd %d (%s, %s) in the server",
			  v[i].fd, v[i].kind, v[i].target);
	}
	cr_assert_eq(n, expect, "LIST_FDS shows %zu fds, expected %zu", n,
		     expect);
	for (size_t i = 0; i < ni; i++)
		cr_assert(iv[i].internal && iv[i].role[0],
			  "internal entry fd %d lacks internal/role", iv[i].fd);
	free(v);
	free(iv);
}

/* The server lost its controller; it holds `idle` fds now (no
 * connection).  Reconnect, find w, collect the orphans, leak nothing. */
static void recover(const char *sock, pid_t spid, int idle,
		    const struct want *w)
{
	int orphans[WANT_MAX], norph = 0, *closed = NULL, rc;
	size_t nclosed = 0;
	struct tether *t;

	for (int i = 0; i < w->n; i++)
		if (!w->label[i])
			orphans[norph++] = w->fd[i];
	qsort(orphans, (size_t)norph, sizeof(int), int_cmp);

	t = must_reconnect(sock);
	cr_assert_eq(tether_info(t)->pid, spid);
	check_listing(t, w, false);
	for (int i = 0; i < w->n; i++)
		cr_assert_eq(tether_fd_held(t, w->fd[i]), w->label[i] != NULL,
			     "fd %d (%s): held is %d", w->fd[i],
			     w->label[i] ? w->label[i] : "orphan",
			     tether_fd_held(t, w->fd[i]));
	fx_expect_fds(spid, idle + 2, "with the new controller attached");

	rc = tether_gc_held(t, 0, &closed, &nclosed);
	cr_assert_eq(rc, 0, "tether_gc_held: %s (%s)", strerror(-rc),
		     tether_last_error(t));
	qsort(closed, nclosed, sizeof(int), int_cmp);
	cr_assert_eq(nclosed, (size_t)norph, "GC closed %zu fds, orphans %d",
		     nclosed, norph);
	for (int i = 0; i < norph; i++)
		cr_assert_eq(closed[i], orphans[i], "GC closed fd %d, orphan "
			     "%d", closed[i], orphans[i]);
	free(closed);
	check_listing(t, w, true);
	fx_expect_fds(spid, idle + 2 - norph, "after GC");
	tether_disconnect(t);
	/* The server closes its ends of our sockets itself. */
	fx_expect_fds(spid, idle - norph, "after the new controller detached");
	log_clean();
}

/* ---- 1. a controller killed at every step of its life ---------------- */

enum stage {
	ST_STARTED,		/* tether_start returned */
	ST_OPENED,		/* files, a directory and a pipe open */
	ST_LABELED,		/* two of them labeled */
	ST_PERSISTENT,		/* made persistent */
	ST_MORE,		/* another file opened and labeled after */
	ST_MIDREQ,		/* inside a 400 ms nanosleep in the server */
};

static void life(void *arg)
{
	enum stage stop = *(const enum stage *)arg;
	char path[160];
	struct timespec ts = { 0, 400 * 1000 * 1000 };
	/* Direct, not through the ring, so /proc/PID/syscall shows it. */
	struct tether_call c = { .nr = SYS_nanosleep, .nargs = 2,
				 .flags = TETHER_CALL_SYNC };
	struct tether *t = kid_start_server();
	int fd[4], p[2], rc;

	if (stop == ST_STARTED)
		kid_hold();

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%c", fx.dir, 'a' + i);
		if ((fd[i] = fx_openat(t, AT_FDCWD, path,
					   O_RDWR | O_CREAT, 0600)) < 0)
			kid_fail("openat %s: %s", path, strerror(-fd[i]));
	}
	if ((fd[2] = fx_openat(t, AT_FDCWD, fx.dir,
				   O_RDONLY | O_DIRECTORY, 0)) < 0)
		kid_fail("openat dir: %s", strerror(-fd[2]));
	if ((rc = fx_pipe2(t, p, 0)) < 0)
		kid_fail("pipe2: %s", strerror(-rc));
	kid_say("FDS %d %d %d %d %d", fd[0], fd[1], fd[2], p[0], p[1]);
	if (stop == ST_OPENED)
		kid_hold();

	if ((rc = tether_label(t, fd[0], "db")) < 0 ||
	    (rc = tether_label(t, p[0], "pipe.r")) < 0)
		kid_fail("label: %s (%s)", strerror(-rc), tether_last_error(t));
	kid_say("LABELED");
	if (stop == ST_LABELED)
		kid_hold();

	if ((rc = tether_make_persistent(t)) < 0)
		kid_fail("make persistent: %s", strerror(-rc));
	kid_say("PERSISTENT");
	if (stop == ST_PERSISTENT)
		kid_hold();

	snprintf(path, sizeof(path), "%s/c", fx.dir);
	if ((fd[3] = fx_openat(t, AT_FDCWD, path, O_RDWR | O_CREAT,
				   0600)) < 0 ||
	    (rc = tether_label(t, fd[3], "late")) < 0)
		kid_fail("late file: %d %s", fd[3], tether_last_error(t));
	kid_say("MORE %d", fd[3]);
	if (stop == ST_MORE)
		kid_hold();

	c.args[0] = TETHER_IN(&ts, sizeof(ts));
	c.args[1] = TETHER_INT(0);
	kid_say("CALLING");
	rc = tether_call(t, &c);
	kid_say("CALLED %d %ld", rc, c.ret);
	kid_hold();
}

struct life_run {
	struct kid k;
	pid_t spid;
	struct want w;
};

/* Run a kid up to stop; parse what it reports on the way. */
static void life_run(struct life_run *r, enum stage stop)
{
	static enum stage st;
	char rest[256];
	int a, b, d, p0, p1;

	memset(r, 0, sizeof(*r));
	st = stop;
	kid_start(&r->k, life, &st);
	r->spid = (pid_t)kid_num(&r->k, "SERVER");
	cr_assert_gt(r->spid, 0);
	fx_track(r->spid);
	if (stop >= ST_OPENED) {
		kid_line(&r->k, "FDS", rest, sizeof(rest));
		cr_assert_eq(sscanf(rest, "%d %d %d %d %d", &a, &b, &d, &p0,
				    &p1), 5, "FDS line: %s", rest);
		want_add(&r->w, a, stop >= ST_LABELED ? "db" : NULL);
		want_add(&r->w, b, NULL);
		want_add(&r->w, d, NULL);
		want_add(&r->w, p0, stop >= ST_LABELED ? "pipe.r" : NULL);
		want_add(&r->w, p1, NULL);
	}
	if (stop >= ST_MORE)
		want_add(&r->w, (int)kid_num(&r->k, "MORE"), "late");
	if (stop == ST_MIDREQ)
		kid_line(&r->k, "CALLING", NULL, 0);
	else
		kid_line(&r->k, "HOLD", NULL, 0);
}

/* (a) Not yet persistent: the server dies with its controller. */
static void killed_before_persistent(enum stage stop)
{
	struct life_run r;
	struct tether *t = NULL;
	int rc;

	life_run(&r, stop);
	cr_assert(!fx_gone(r.spid), "server %d gone before the kill",
		  (int)r.spid);
	kid_kill(&r.k);
	cr_assert(fx_wait_gone(r.spid), "server %d outlived its "
		  "non-persistent controller", (int)r.spid);
	/* The dead server's ring is torn down asynchronously, and with it
	 * the listening socket its pending accept holds: for a moment a
	 * connect may still succeed and then be reset (read: ECONNRESET;
	 * the HELLO's write: EPIPE). */
	for (int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	     ((rc = tether_connect(fx.sock, 0, &t)) == -ECONNRESET ||
	      rc == -EPIPE) &&
	     kit_now_ms() < end;)
		kit_nap_ms(10);
	cr_assert_eq(rc, -ECONNREFUSED, "connect to the dead server: %d "
		     "(%s)", rc, tether_last_error(NULL));
}

Test(crash, killed_after_start_takes_the_server_along)
{
	killed_before_persistent(ST_STARTED);
}

Test(crash, killed_after_opening_takes_the_server_along)
{
	killed_before_persistent(ST_OPENED);
}

Test(crash, killed_after_labeling_takes_the_server_along)
{
	killed_before_persistent(ST_LABELED);
}

/* (b) Persistent: the server survives, a new controller recovers. */
static void killed_after_persistent(enum stage stop)
{
	struct life_run r;
	int before;

	life_run(&r, stop);
	before = fx_settled_fds(r.spid);
	kid_kill(&r.k);
	/* The dead controller's two sockets go; the server stays. */
	fx_expect_fds(r.spid, before - 2, "after its controller was killed");
	cr_assert(!fx_gone(r.spid), "persistent server %d died with its "
		  "controller", (int)r.spid);
	recover(fx.sock, r.spid, before - 2, &r.w);
}

Test(crash, killed_right_after_persist_server_survives)
{
	killed_after_persistent(ST_PERSISTENT);
}

Test(crash, killed_after_more_work_server_survives)
{
	killed_after_persistent(ST_MORE);
}

/* (c) Killed while its request runs: the server finishes it, drops the
 * answer, and serves the next controller. */
Test(crash, killed_mid_request_server_finishes_and_serves_next)
{
	struct life_run r;
	int64_t end;
	long nr = -1;
	int before;

	life_run(&r, ST_MIDREQ);
	/* Make sure the server is inside the nanosleep when we kill. */
	end = kit_now_ms() + FX_DEADLINE_MS;
	while ((nr = fx_blocked_in(r.spid)) != SYS_nanosleep && kit_now_ms() < end)
		kit_nap_us(1000);
	if (nr != SYS_nanosleep)
		cr_log_info("could not see the server in nanosleep "
			    "(/proc/%d/syscall says %ld); killing anyway",
			    (int)r.spid, nr);
	before = fx_nfds(r.spid);
	kid_kill(&r.k);
	fx_expect_fds(r.spid, before - 2, "after the mid-request kill");
	cr_assert(!fx_gone(r.spid));
	recover(fx.sock, r.spid, before - 2, &r.w);
}

/* ---- 1(d). killed mid-handshake -------------------------------------- */

/* fx's server, with files opened and labeled by fx.t, then fx.t gone.
 * Returns its idle fd count. */
static int handshake_setup(struct want *w)
{
	int p[2], before;

	memset(w, 0, sizeof(*w));
	want_add(w, srv_open(fx.t, "a"), "db");
	want_add(w, srv_open(fx.t, "b"), NULL);
	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	want_add(w, p[0], "pipe.r");
	want_add(w, p[1], NULL);
	must_label(fx.t, w->fd[0], "db");
	must_label(fx.t, p[0], "pipe.r");
	before = fx_settled_fds(fx.pid);
	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_expect_fds(fx.pid, before - 2, "after fx.t detached");
	return before - 2;
}

static void dial_and_hold(void *arg)
{
	int fd = fx_dial(fx.sock);

	(void)arg;
	if (fd < 0)
		kid_fail("dial: %s", strerror(-fd));
	kid_say("DIALED");
	kid_hold();
}

Test(handshake_crash, killed_before_hello)
{
	struct want w;
	struct kid k;
	int idle = handshake_setup(&w);

	kid_start(&k, dial_and_hold, NULL);
	kid_line(&k, "HOLD", NULL, 0);
	/* Accepted: the handshake socket is the server's now. */
	fx_expect_fds(fx.pid, idle + 1, "with a handshake pending");
	kid_kill(&k);
	fx_expect_fds(fx.pid, idle, "after the silent peer was killed");
	recover(fx.sock, fx.pid, idle, &w);
}

static void hello_and_hold(void *arg)
{
	int sp[2], dp[2], pass[2], fd;
	struct tp_msg m;

	(void)arg;
	if ((fd = fx_dial(fx.sock)) < 0)
		kid_fail("dial: %s", strerror(-fd));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0)
		kid_fail("socketpair: %s", strerror(errno));
	pass[0] = sp[1];
	pass[1] = dp[1];
	hello_msg(&m, 0, false, 0);
	if (tp_msg_finish(&m) < 0)
		kid_fail("hello too large");
	if (fx_send_fds(fd, tp_msg_data(&m), tp_msg_size(&m), pass, 2) < 0)
		kid_fail("sendmsg: %s", strerror(errno));
	/* As the library does: the server holds those ends now. */
	close(sp[1]);
	close(dp[1]);
	kid_say("SENT");
	kid_hold();			/* never reads the answer */
}

Test(handshake_crash, killed_after_hello_before_the_answer)
{
	struct tether_status st;
	struct tether *obs;
	struct want w;
	struct kid k;
	int idle = handshake_setup(&w);

	kid_start(&k, hello_and_hold, NULL);
	kid_line(&k, "HOLD", NULL, 0);
	/* The server attached it: handshake closed, two sockets kept. */
	fx_expect_fds(fx.pid, idle + 2, "with the HELLO handled");
	obs = fx_observe(fx.sock);
	cr_assert_eq(tether_status(obs, &st), 0);
	cr_assert(st.attached);
	cr_assert_eq(st.controller_pid, k.pid);
	tether_disconnect(obs);
	fx_expect_fds(fx.pid, idle + 2, "after the observer detached");
	kid_kill(&k);
	fx_expect_fds(fx.pid, idle, "after the half-attached kid was killed");
	recover(fx.sock, fx.pid, idle, &w);
}

/* ---- 2. labels are bound to the file ---------------------------------- */

static void label_gone(struct tether *t, int fd, const char *name)
{
	struct tether_fdinfo *v;
	const struct tether_fdinfo *fi;
	size_t n;
	int rc;

	list_fds(t, &v, &n, NULL, NULL);
	if ((fi = find_fd(v, n, fd)))
		cr_assert_str_eq(fi->label, "", "fd %d still labeled", fd);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_neq(v[i].label, name, "label %s now on fd %d",
				  name, v[i].fd);
	free(v);
	rc = tether_fd_by_label(t, name);
	cr_assert_eq(rc, -ENOENT, "tether_fd_by_label(%s) = %d", name, rc);
	log_clean();
}

Test(labels, label_is_listed_and_found)
{
	int fd = srv_open(fx.t, "f");

	must_label(fx.t, fd, "db");
	cr_assert_str_eq(fd_entry(fx.t, fd).label, "db");
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), fd);
}

Test(labels, close_drops_label)
{
	int fd = srv_open(fx.t, "f");

	must_label(fx.t, fd, "db");
	cr_assert_eq(fx_close(fx.t, fd), 0);
	label_gone(fx.t, fd, "db");
}

Test(labels, close_then_reuse_of_the_number_is_unlabeled)
{
	int fd = srv_open(fx.t, "f"), fd2;

	must_label(fx.t, fd, "db");
	cr_assert_eq(fx_close(fx.t, fd), 0);
	fd2 = srv_open(fx.t, "g");
	cr_assert_eq(fd2, fd, "the number was not reused");
	label_gone(fx.t, fd2, "db");
}

Test(labels, dup2_over_labeled_fd_drops_label)
{
	int fd = srv_open(fx.t, "f"), other = srv_open(fx.t, "g");
	struct tether_arg a[2] = { TETHER_INT(other), TETHER_INT(fd) };

	must_label(fx.t, fd, "db");
	cr_assert_eq(call_ok(fx.t, SYS_dup2, 2, a), fd);
	label_gone(fx.t, fd, "db");
}

Test(labels, dup3_over_labeled_fd_drops_label)
{
	int fd = srv_open(fx.t, "f"), other = srv_open(fx.t, "g");

	must_label(fx.t, fd, "db");
	cr_assert_eq(fx_dup3(fx.t, other, fd, 0), fd);
	label_gone(fx.t, fd, "db");
}

Test(labels, dup2_onto_itself_keeps_label)
{
	int fd = srv_open(fx.t, "f");
	struct tether_arg a[2] = { TETHER_INT(fd), TETHER_INT(fd) };

	must_label(fx.t, fd, "db");
	cr_assert_eq(call_ok(fx.t, SYS_dup2, 2, a), fd);
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), fd);
}

Test(labels, close_range_over_labeled_fd_drops_label)
{
	int lo = srv_open(fx.t, "f"), fd = srv_open(fx.t, "g"),
	    hi = srv_open(fx.t, "h");
	struct tether_arg a[3] = { TETHER_INT(lo), TETHER_INT(hi),
				   TETHER_INT(0) };

	must_label(fx.t, fd, "db");
	cr_assert_eq(call_ok(fx.t, SYS_close_range, 3, a), 0);
	label_gone(fx.t, fd, "db");
}

Test(labels, close_range_cloexec_keeps_label)
{
	int fd = srv_open(fx.t, "f");
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_INT(fd),
				   TETHER_INT(CLOSE_RANGE_CLOEXEC) };

	must_label(fx.t, fd, "db");
	cr_assert_eq(call_ok(fx.t, SYS_close_range, 3, a), 0);
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), fd);
	cr_assert(fd_entry(fx.t, fd).cloexec);
}

Test(labels, label_survives_reconnect)
{
	int fd = srv_open(fx.t, "f");
	struct tether *t;

	must_label(fx.t, fd, "db");
	tether_disconnect(fx.t);
	fx.t = NULL;
	t = must_reconnect(fx.sock);
	cr_assert_eq(tether_fd_by_label(t, "db"), fd);
	cr_assert(tether_fd_held(t, fd));
	tether_disconnect(t);
	t = must_reconnect(fx.sock);
	cr_assert_eq(tether_fd_by_label(t, "db"), fd, "second reconnect");
	cr_assert_eq(tether_info(t)->nlabels, 1u);
	tether_disconnect(t);
}

/* A reconnect holds the labeled fds and nothing else the server has. */
Test(labels, reconnect_holds_the_labeled_fds_only)
{
	int a = srv_open(fx.t, "a"), b = srv_open(fx.t, "b");
	int c = srv_open(fx.t, "c"), held[8];
	struct tether *t;

	must_label(fx.t, b, "only-b");
	tether_disconnect(fx.t);
	fx.t = NULL;
	t = must_reconnect(fx.sock);
	cr_assert_eq(tether_fds_held(t, held, 8), 1u);
	cr_assert_eq(held[0], b);
	cr_assert(!tether_fd_held(t, a) && !tether_fd_held(t, c));
	tether_disconnect(t);
}

/* 3,000 labeled fds whose targets are 1 KiB each (the most a listing
 * reports) are more than one 2 MiB frame: the reconnect takes them a
 * page at a time, and holds every one. */
Test(labels, reconnect_holds_more_labels_than_one_frame_lists)
{
	enum { N = 3000 };
	char path[1200], name[32];
	size_t len;
	int first = -1, last = -1;
	struct tether *t;

	fx_path(path, sizeof(path), "");
	len = strlen(path);
	/* Four directories of 250 characters: a 1 KiB target. */
	for (int d = 0; d < 4; d++) {
		path[len++] = '/';
		memset(path + len, 'a' + d, 250);
		len += 250;
		path[len] = '\0';
		cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST,
			  "mkdir: %s", strerror(errno));
	}
	strcpy(path + len, "/f");
	fx_write_file(path, "x", 1);
	for (int i = 0; i < N; i++) {
		int fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);

		cr_assert_geq(fd, 0, "open %d: %s", i, strerror(-fd));
		snprintf(name, sizeof(name), "long-%d", i);
		must_label(fx.t, fd, name);
		first = first < 0 ? fd : first;
		last = fd;
	}
	tether_disconnect(fx.t);
	fx.t = NULL;
	t = must_reconnect(fx.sock);
	cr_assert_eq(tether_fds_held(t, NULL, 0), (size_t)N);
	cr_assert(tether_fd_held(t, first) && tether_fd_held(t, last));
	cr_assert_eq(tether_fd_by_label(t, "long-2999"), last);
	tether_disconnect(t);
}

Test(labels, label_of_unopened_fd_is_ebadf)
{
	int rc = tether_label(fx.t, 1000, "nope");

	cr_assert_eq(rc, -EBADF, "got %d", rc);
}

Test(labels, label_of_internal_fd_is_ebadf)
{
	int rc = tether_label(fx.t, tether_info(fx.t)->syscall_fd, "sock");

	cr_assert_eq(rc, -EBADF, "got %d", rc);
}

Test(labels, duplicate_name_on_another_fd_is_eexist)
{
	int a = srv_open(fx.t, "f"), b = srv_open(fx.t, "g"), rc;

	must_label(fx.t, a, "db");
	rc = tether_label(fx.t, b, "db");
	cr_assert_eq(rc, -EEXIST, "got %d", rc);
	cr_assert(str_has(tether_last_error(fx.t), "db"), "text: %s",
		  tether_last_error(fx.t));
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), a);
	cr_assert_str_eq(fd_entry(fx.t, b).label, "");
}

Test(labels, same_name_same_fd_is_idempotent)
{
	int fd = srv_open(fx.t, "f");

	must_label(fx.t, fd, "db");
	must_label(fx.t, fd, "db");
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), fd);
}

Test(labels, relabel_renames)
{
	int fd = srv_open(fx.t, "f");
	struct tether_status st;

	must_label(fx.t, fd, "old");
	must_label(fx.t, fd, "new");
	cr_assert_eq(tether_fd_by_label(fx.t, "new"), fd);
	cr_assert_eq(tether_fd_by_label(fx.t, "old"), -ENOENT);
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(st.nlabels, 1u);
}

Test(labels, unlabel_missing_is_enoent)
{
	int rc = tether_unlabel(fx.t, "never");

	cr_assert_eq(rc, -ENOENT, "got %d", rc);
}

Test(labels, unlabel_removes_and_keeps_fd)
{
	int fd = srv_open(fx.t, "f");

	must_label(fx.t, fd, "db");
	cr_assert_eq(tether_unlabel(fx.t, "db"), 0);
	label_gone(fx.t, fd, "db");
	cr_assert_eq(fx_lseek(fx.t, fd, 0, SEEK_SET), 0, "fd closed");
}

static void bad_name(const char *name)
{
	int fd = srv_open(fx.t, "f"), rc = tether_label(fx.t, fd, name);

	cr_assert_eq(rc, -EINVAL, "label of %zu bytes: got %d", strlen(name),
		     rc);
	cr_assert_str_eq(fd_entry(fx.t, fd).label, "");
}

Test(labels, name_with_newline_is_einval)
{
	bad_name("a\nb");
}

Test(labels, name_with_escape_is_einval)
{
	bad_name("\033[31mred");
}

Test(labels, name_with_del_is_einval)
{
	bad_name("a\177");
}

Test(labels, empty_name_is_einval)
{
	bad_name("");
}

Test(labels, name_of_256_bytes_is_einval)
{
	char name[257];

	memset(name, 'n', 256);
	name[256] = '\0';
	bad_name(name);
}

Test(labels, name_of_255_bytes_is_fine)
{
	char name[256];
	int fd = srv_open(fx.t, "f");

	memset(name, 'n', 255);
	name[255] = '\0';
	must_label(fx.t, fd, name);
	cr_assert_str_eq(fd_entry(fx.t, fd).label, name);
}

Test(labels, utf8_name_is_fine)
{
	int fd = srv_open(fx.t, "f");

	must_label(fx.t, fd, "base de donn\xc3\xa9" "es");
	cr_assert_eq(tether_fd_by_label(fx.t, "base de donn\xc3\xa9" "es"),
		     fd);
}

/* ---- 3. LIST_FDS kinds ------------------------------------------------- */

static int srv_call_fd(long nr, unsigned nargs, struct tether_arg *a)
{
	int fd = (int)call_ok(fx.t, nr, nargs, a);

	tether_fd_hold(fx.t, fd);
	return fd;
}

static void kind_is(int fd, const char *kind)
{
	struct tether_fdinfo fi = fd_entry(fx.t, fd);

	cr_assert_str_eq(fi.kind, kind, "fd %d (%s)", fd, fi.target);
	cr_assert(!fi.internal);
	cr_assert_str_eq(fi.role, "");
}

Test(list_fds, regular)
{
	char path[160];
	int fd = srv_open(fx.t, "f");

	fx_path(path, sizeof(path), "f");
	kind_is(fd, "regular");
	cr_assert_str_eq(fd_entry(fx.t, fd).target, path);
	cr_assert_eq(fd_entry(fx.t, fd).flags & O_ACCMODE, O_RDWR);
}

Test(list_fds, directory)
{
	int fd = fx_openat(fx.t, AT_FDCWD, fx.dir, O_RDONLY | O_DIRECTORY,
			       0);

	cr_assert_geq(fd, 0);
	kind_is(fd, "directory");
	cr_assert_str_eq(fd_entry(fx.t, fd).target, fx.dir);
}

Test(list_fds, pipe)
{
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	kind_is(p[0], "pipe");
	kind_is(p[1], "pipe");
	cr_assert_eq(fd_entry(fx.t, p[1]).flags & O_ACCMODE, O_WRONLY);
}

Test(list_fds, unix_stream_socketpair)
{
	int sv[2] = { -1, -1 };
	struct tether_arg a[4] = { TETHER_INT(AF_UNIX), TETHER_INT(SOCK_STREAM),
				   TETHER_INT(0), TETHER_OUT(sv, sizeof(sv)) };
	struct tether_fdinfo fi;

	cr_assert_eq(call_ok(fx.t, SYS_socketpair, 4, a), 0);
	for (int i = 0; i < 2; i++) {
		kind_is(sv[i], "socket");
		fi = fd_entry(fx.t, sv[i]);
		cr_assert_str_eq(fi.family, "unix");
		cr_assert_str_eq(fi.socktype, "stream");
	}
}

Test(list_fds, inet_dgram_socket)
{
	struct tether_arg a[3] = { TETHER_INT(AF_INET), TETHER_INT(SOCK_DGRAM),
				   TETHER_INT(0) };
	long fd = fx_syscall(fx.t, SYS_socket, 3, a);
	struct tether_fdinfo fi;

	if (fd == -EAFNOSUPPORT || fd == -EACCES || fd == -EPERM)
		cr_skip_test("no AF_INET here (%ld)", fd);
	cr_assert_geq(fd, 0, "socket: %s", strerror((int)-fd));
	fi = fd_entry(fx.t, (int)fd);
	cr_assert_str_eq(fi.kind, "socket");
	cr_assert_str_eq(fi.family, "inet");
	cr_assert_str_eq(fi.socktype, "dgram");
}

Test(list_fds, eventfd)
{
	struct tether_arg a[2] = { TETHER_INT(0), TETHER_INT(0) };

	kind_is(srv_call_fd(SYS_eventfd2, 2, a), "eventfd");
}

Test(list_fds, signalfd)
{
	uint64_t mask = 1ull << (SIGUSR1 - 1);
	struct tether_arg a[4] = { TETHER_INT(-1), TETHER_IN(&mask, 8),
				   TETHER_INT(8), TETHER_INT(0) };

	kind_is(srv_call_fd(SYS_signalfd4, 4, a), "signalfd");
}

Test(list_fds, memfd)
{
	struct tether_arg a[2] = { TETHER_STR("tt-memfd"), TETHER_INT(0) };
	int fd = srv_call_fd(SYS_memfd_create, 2, a);

	kind_is(fd, "memfd");
	cr_assert(str_has(fd_entry(fx.t, fd).target, "tt-memfd"));
}

Test(list_fds, pidfd_of_the_server_itself)
{
	struct tether_arg a[2] = { TETHER_INT(fx.pid), TETHER_INT(0) };
	long fd = fx_syscall(fx.t, SYS_pidfd_open, 2, a);

	if (fd == -ENOSYS)
		cr_skip_test("no pidfd_open");
	cr_assert_geq(fd, 0, "pidfd_open: %s", strerror((int)-fd));
	kind_is((int)fd, "pidfd");
}

Test(list_fds, tty_from_ptmx)
{
	int fd, lfd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (lfd < 0)
		cr_skip_test("/dev/ptmx: %s", strerror(errno));
	close(lfd);
	fd = fx_openat(fx.t, AT_FDCWD, "/dev/ptmx", O_RDWR | O_NOCTTY, 0);
	cr_assert_geq(fd, 0, "ptmx in the server: %s", strerror(-fd));
	kind_is(fd, "tty");
}

Test(list_fds, chardev_dev_null)
{
	int fd = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);

	cr_assert_geq(fd, 0);
	kind_is(fd, "chardev");
}

Test(list_fds, cloexec_reflects_o_cloexec)
{
	char path[160];
	int with, without;

	fx_path(path, sizeof(path), "f");
	fx_write_file(path, "x", 1);
	with = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	without = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);
	cr_assert_geq(with, 0);
	cr_assert_geq(without, 0);
	cr_assert(fd_entry(fx.t, with).cloexec);
	cr_assert(!fd_entry(fx.t, without).cloexec);
}

/* More fds than three pages hold (1,024 each): every one listed once,
 * in order, across the pages. */
Test(list_fds, pages_list_every_fd_once_in_order)
{
	static struct tether_call calls[256];
	struct tether_fdinfo *v = NULL;
	int fd = srv_open(fx.t, "paged"), made = 0, stopped, rc;
	size_t n = 0, seen = 0;

	while (made < 3300) {
		for (int i = 0; i < 256; i++) {
			calls[i] = (struct tether_call){ .nr = SYS_dup,
							 .nargs = 1 };
			calls[i].args[0] = TETHER_INT(fd);
		}
		rc = tether_batch(fx.t, calls, 256, TETHER_BATCH_STOP,
				  &stopped);
		cr_assert_eq(rc, 0, "batch: %s", tether_last_error(fx.t));
		cr_assert_eq(stopped, -1, "dup failed: %ld",
			     calls[stopped].ret);
		made += 256;
	}
	rc = tether_list_fds(fx.t, &v, &n, NULL, NULL);
	cr_assert_eq(rc, 0, "%s", tether_last_error(fx.t));
	cr_assert_geq(n, (size_t)made + 1);
	for (size_t i = 0; i < n; i++) {
		cr_assert(!v[i].internal);
		if (i)
			cr_assert_gt(v[i].fd, v[i - 1].fd, "entry %zu", i);
		seen += v[i].fd == fd;
	}
	cr_assert_eq(seen, 1u);
	tether_free(v);
}

Test(list_fds, internal_fds_listed_apart_with_roles)
{
	static const char *const roles[] = { "listen", "io_uring",
					     "syscall socket", "data socket",
					     "lock", "signalfd" };
	const struct tether_status *info = tether_info(fx.t);
	struct tether_status st;
	struct tether_fdinfo *v, *iv;
	const struct tether_fdinfo *fi;
	size_t n, ni;

	srv_open(fx.t, "f");
	list_fds(fx.t, &v, &n, &iv, &ni);
	cr_assert_geq(ni, sizeof(roles) / sizeof(roles[0]));
	for (size_t i = 0; i < ni; i++) {
		cr_assert(iv[i].internal, "internal fd %d not marked",
			  iv[i].fd);
		cr_assert_neq(iv[i].role[0], '\0', "fd %d has no role",
			      iv[i].fd);
		cr_assert_null(find_fd(v, n, iv[i].fd),
			       "internal fd %d also among the controller's",
			       iv[i].fd);
	}
	for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
		bool found = false;

		for (size_t i = 0; i < ni; i++)
			found |= !strcmp(iv[i].role, roles[r]);
		cr_assert(found, "no internal fd with role \"%s\"", roles[r]);
	}
	for (size_t i = 0; i < n; i++)
		cr_assert(!v[i].internal && !v[i].role[0],
			  "fd %d in the controller list is internal", v[i].fd);
	cr_assert_not_null(fi = find_fd(iv, ni, info->syscall_fd));
	cr_assert_str_eq(fi->role, "syscall socket");
	cr_assert_str_eq(fi->family, "unix");
	cr_assert_str_eq(fi->socktype, "stream");
	cr_assert_not_null(fi = find_fd(iv, ni, info->data_fd));
	cr_assert_str_eq(fi->role, "data socket");
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(ni, st.ninternal,
		     "STATUS says %u internal fds, LIST_FDS shows %zu",
		     st.ninternal, ni);
	cr_assert_eq(n, st.nfds, "STATUS says %u fds, LIST_FDS shows %zu",
		     st.nfds, n);
	cr_assert_eq(n + ni, (size_t)fx_settled_fds(fx.pid),
		     "LIST_FDS covers %zu + %zu fds, /proc shows %d", n, ni,
		     fx_nfds(fx.pid));
	free(v);
	free(iv);
}

/* ---- 4. take-over ------------------------------------------------------ */

Test(takeover, second_controller_is_ebusy_naming_the_pid)
{
	char want[64];
	struct tether *t = NULL;
	int before = fx_settled_fds(fx.pid), rc;

	rc = tether_connect(fx.sock, 0, &t);
	cr_assert_eq(rc, -EBUSY, "second controller: %d", rc);
	cr_assert_null(t);
	snprintf(want, sizeof(want), "attached by pid %d", (int)getpid());
	cr_assert(str_has(tether_last_error(NULL), want), "text: \"%s\"",
		  tether_last_error(NULL));
	fx_expect_fds(fx.pid, before, "after the refused attach");
	cr_assert_eq(fx_getpid(fx.t), fx.pid, "first controller hurt");
}

/* The server sends its taken_over notice [0, ECONNABORTED, {text, pid,
 * uid, generation}] on the old syscall socket and closes it; the old
 * handle's next request fails to send (EPIPE), and the library reports
 * the notice waiting in its receive queue instead (tests/test_takeover.c
 * has the rest). */
Test(takeover, takeover_wins_and_old_call_fails_taken_over)
{
	struct tether *t = NULL;
	struct tether_status st;
	uint64_t g0 = tether_info(fx.t)->generation;
	char text[256];
	long r;
	int rc, before = fx_settled_fds(fx.pid);

	rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);
	cr_assert_eq(rc, 0, "take-over: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_gt(tether_info(t)->generation, g0);
	/* Old sockets closed by the server, new ones in: same count. */
	rc = fx_wait_fds(fx.pid, before);
	cr_assert_eq(tether_status(t, &st), 0);
	tether_disconnect(t);
	cr_assert_eq(rc, before, "server holds %d fds after the take-over, "
		     "expected %d", rc, before);
	cr_assert(st.attached);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert_gt(st.generation, g0);
	r = fx_getpid(fx.t);
	snprintf(text, sizeof(text), "%s", tether_last_error(fx.t));
	cr_assert(r == -ECONNABORTED || r == -ECONNRESET,
		  "old controller's call: %ld (%s), want -ECONNABORTED", r,
		  text);
	cr_assert(str_has(text, "taken over"),
		  "old controller's error: \"%s\"", text);
}

/* The old controller asks again after the take-over: every call fails
 * the same way, none reaches the server. */
Test(takeover, old_controller_stays_disconnected)
{
	struct tether *t = NULL;
	int p[2];

	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t), 0);
	fx_getpid(fx.t);
	cr_assert_lt(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_lt(tether_label(fx.t, 0, "x"), 0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}

/* A controller that connects, then blocks on the barrier at KID_FD;
 * once released, it calls, reports how that failed, and tries a plain
 * attach. */
static void stoppable_controller(void *arg)
{
	struct tether *t = NULL, *t2 = NULL;
	char buf[1];
	long r;
	int rc;

	(void)arg;
	rc = attach_retry(false, fx.sock, 0, &t, 10000);
	if (rc < 0)
		kid_fail("connect: %s (%s)", strerror(-rc),
			 tether_last_error(NULL));
	kid_say("CONNECTED %llu",
		(unsigned long long)tether_info(t)->generation);
	if (read(KID_FD, buf, 1) < 0)
		kid_fail("barrier: %s", strerror(errno));
	r = fx_getpid(t);
	kid_say("LOST %ld %s", r, tether_last_error(t));
	rc = tether_connect(fx.sock, 0, &t2);
	kid_say("RETRY %d", rc);
	r = fx_getpid(t);
	kid_say("AGAIN %ld", r);
	kid_hold();
}

/* The woken controller's failure is only required to be a failure here;
 * its code and text are takeover_wins_and_old_call_fails_taken_over's. */
Test(takeover, takeover_of_a_stopped_controller)
{
	struct tether *t = NULL;
	struct tether_status st;
	char rest[300], *text;
	uint64_t gen;
	int bar[2], ws, rc;
	long r;
	struct kid k;

	tether_disconnect(fx.t);
	fx.t = NULL;
	cr_assert_eq(pipe2(bar, O_CLOEXEC), 0);
	kid_start_with(&k, stoppable_controller, NULL, bar[0], false);
	close(bar[0]);
	kid_num(&k, "CONNECTED");
	cr_assert_eq(kill(k.pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(k.pid, &ws, WUNTRACED), k.pid);
	cr_assert(WIFSTOPPED(ws));

	rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);
	cr_assert_eq(rc, 0, "take-over of a stopped controller: %s (%s)",
		     strerror(-rc), tether_last_error(NULL));
	cr_assert_eq(fx_getpid(t), fx.pid);
	gen = tether_info(t)->generation;

	cr_assert_eq(kill(k.pid, SIGCONT), 0);
	cr_assert_eq(write(bar[1], "g", 1), 1);
	kid_line(&k, "LOST", rest, sizeof(rest));
	r = strtol(rest, &text, 10);
	cr_assert_lt(r, 0, "woken controller's call succeeded: %s", rest);
	cr_assert_eq(kid_num(&k, "RETRY"), -EBUSY);
	cr_assert_lt(kid_num(&k, "AGAIN"), 0);
	/* The new controller is undisturbed, then and after the kill. */
	cr_assert_eq(fx_getpid(t), fx.pid);
	kid_kill(&k);
	close(bar[1]);
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_eq(tether_status(t, &st), 0);
	cr_assert(st.attached);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert_eq(st.generation, gen);
	tether_disconnect(t);
}

/* Waits on the barrier, then take-over through the library. */
static void racing_takeover(void *arg)
{
	struct tether *t = NULL;
	char buf[1];
	int rc;

	(void)arg;
	kid_say("WAITING");
	if (read(KID_FD, buf, 1) < 0)
		kid_fail("barrier: %s", strerror(errno));
	rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);
	kid_say("RC %d %llu", rc,
		rc == 0 ? (unsigned long long)tether_info(t)->generation : 0);
	kid_hold();
}

/* Waits on the barrier, then take-over by hand, naming the generation
 * it saw: compare-and-swap. */
static void racing_cas_takeover(void *arg)
{
	uint64_t gen = *(const uint64_t *)arg;
	char buf[1], text[256];
	int ours[2], rc;

	kid_say("WAITING");
	if (read(KID_FD, buf, 1) < 0)
		kid_fail("barrier: %s", strerror(errno));
	rc = raw_hello(fx.sock, TETHER_HELLO_TAKEOVER, true, gen, text,
		       sizeof(text), ours);
	kid_say("RC %d %s", rc > 0 ? -rc : rc, text);
	kid_hold();
}

struct race {
	struct kid k[2];
	int rc[2];
	uint64_t g0;
	struct tether_status st;
};

static void race(struct race *r, void (*fn)(void *), void *arg)
{
	int bar[2];
	char rest[300];
	struct tether *obs;

	r->g0 = tether_info(fx.t)->generation;
	cr_assert_eq(pipe2(bar, O_CLOEXEC), 0);
	for (int i = 0; i < 2; i++)
		kid_start_with(&r->k[i], fn, arg, bar[0], false);
	close(bar[0]);
	for (int i = 0; i < 2; i++)
		kid_line(&r->k[i], "WAITING", NULL, 0);
	close(bar[1]);			/* release both at once */
	for (int i = 0; i < 2; i++) {
		kid_line(&r->k[i], "RC", rest, sizeof(rest));
		r->rc[i] = (int)strtol(rest, NULL, 10);
		cr_assert(r->rc[i] == 0 || r->rc[i] == -EBUSY,
			  "kid %d's take-over: %s", (int)r->k[i].pid, rest);
	}
	obs = fx_observe(fx.sock);
	cr_assert_eq(tether_status(obs, &r->st), 0);
	tether_disconnect(obs);
}

Test(takeover, two_racing_takeovers_end_consistent)
{
	struct race r;
	unsigned wins;

	race(&r, racing_takeover, NULL);
	wins = (r.rc[0] == 0) + (r.rc[1] == 0);
	cr_log_info("racing take-overs: rc %d, %d; pid %d attached, "
		    "generation %llu -> %llu", r.rc[0], r.rc[1],
		    (int)r.st.controller_pid, (unsigned long long)r.g0,
		    (unsigned long long)r.st.generation);
	cr_assert_geq(wins, 1u, "neither take-over won");
	cr_assert(r.st.attached, "no controller attached after the race");
	cr_assert(r.st.controller_pid == r.k[0].pid ||
		  r.st.controller_pid == r.k[1].pid,
		  "attached pid %d is neither racer (%d, %d)",
		  (int)r.st.controller_pid, (int)r.k[0].pid, (int)r.k[1].pid);
	for (int i = 0; i < 2; i++)
		if (r.rc[i] != 0)
			cr_assert_neq(r.st.controller_pid, r.k[i].pid,
				      "the refused racer is attached");
	cr_assert_eq(r.st.generation, r.g0 + wins,
		     "generation %llu after %u wins from %llu",
		     (unsigned long long)r.st.generation, wins,
		     (unsigned long long)r.g0);
	/* The library's HELLO names no generation (controller/lib/reconnect.c
	 * sends [version, flags, pid]): both may win, one after the other.
	 * Exactly one is asserted for the raw compare-and-swap below. */
	cr_assert_lt(fx_getpid(fx.t), 0, "fx.t survived the take-overs");
}

Test(takeover, two_racing_cas_takeovers_exactly_one_wins)
{
	struct race r;
	uint64_t g0 = tether_info(fx.t)->generation;
	int winner;

	race(&r, racing_cas_takeover, &g0);
	cr_assert_eq((r.rc[0] == 0) + (r.rc[1] == 0), 1,
		     "CAS take-over: rc %d and %d, want exactly one 0",
		     r.rc[0], r.rc[1]);
	winner = r.rc[0] == 0 ? 0 : 1;
	cr_assert(r.st.attached);
	cr_assert_eq(r.st.controller_pid, r.k[winner].pid);
	cr_assert_eq(r.st.generation, g0 + 1);
}

/* ---- observers ---------------------------------------------------------- */

Test(observer, status_while_a_controller_is_attached)
{
	struct tether *obs = fx_observe(fx.sock);
	struct tether_status st;

	cr_assert(tether_info(obs)->observer);
	cr_assert_eq(tether_status(obs, &st), 0);
	cr_assert(st.observer);
	cr_assert(st.attached);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert_eq(st.generation, tether_info(fx.t)->generation,
		     "an observer must not bump the generation");
	tether_disconnect(obs);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(observer, list_fds_while_a_controller_is_attached)
{
	int fd = srv_open(fx.t, "f");
	struct tether *obs = fx_observe(fx.sock);
	struct tether_fdinfo *v;
	size_t n;

	must_label(fx.t, fd, "db");
	list_fds(obs, &v, &n, NULL, NULL);
	cr_assert_not_null(find_fd(v, n, fd));
	cr_assert_str_eq(find_fd(v, n, fd)->label, "db");
	free(v);
	tether_disconnect(obs);
}

static void observer_refused(int rc, struct tether *obs, const char *what)
{
	cr_assert_eq(rc, -EBUSY, "observer %s: %d (%s)", what, rc,
		     tether_last_error(obs));
	cr_assert_eq(fx_getpid(fx.t), fx.pid, "controller hurt by %s",
		     what);
	tether_disconnect(obs);
}

Test(observer, syscall_refused)
{
	struct tether *obs = fx_observe(fx.sock);
	struct tether_call c = { .nr = SYS_getpid };

	observer_refused(tether_call(obs, &c), obs, "SYSCALL");
}

Test(observer, label_refused)
{
	int fd = srv_open(fx.t, "f");
	struct tether *obs = fx_observe(fx.sock);

	observer_refused(tether_label(obs, fd, "x"), obs, "LABEL");
	cr_assert_str_eq(fd_entry(fx.t, fd).label, "");
}

Test(observer, unlabel_refused)
{
	int fd = srv_open(fx.t, "f");
	struct tether *obs;

	must_label(fx.t, fd, "db");
	obs = fx_observe(fx.sock);
	observer_refused(tether_unlabel(obs, "db"), obs, "UNLABEL");
	cr_assert_eq(tether_fd_by_label(fx.t, "db"), fd);
}

Test(observer, gc_refused)
{
	int fd = srv_open(fx.t, "f");
	struct tether *obs = fx_observe(fx.sock);

	observer_refused(tether_gc(obs, NULL, 0, 0, NULL, NULL), obs, "GC");
	cr_assert_geq(fx_lseek(fx.t, fd, 0, SEEK_SET), 0, "fd closed");
}

Test(observer, gc_dry_run_refused_too)
{
	struct tether *obs = fx_observe(fx.sock);

	observer_refused(tether_gc(obs, NULL, 0, TETHER_GC_DRY_RUN, NULL,
				   NULL), obs, "GC --dry-run");
}

Test(observer, observer_leaves_no_fds)
{
	int before = fx_settled_fds(fx.pid);

	for (int i = 0; i < 20; i++)
		tether_disconnect(fx_observe(fx.sock));
	fx_expect_fds(fx.pid, before, "after 20 observers came and went");
}

/* ---- 5./6. soak: attach/detach cycles, GC of 10,000 fds --------------- */

static void cycle(int i)
{
	struct tether *t = NULL;
	int rc = attach_retry(false, fx.sock, 0, &t, 200);
	long pid;

	cr_assert_eq(rc, 0, "cycle %d: connect: %s (%s)", i, strerror(-rc),
		     tether_last_error(NULL));
	pid = fx_getpid(t);
	cr_assert_eq(pid, fx.pid, "cycle %d: getpid %ld (%s)", i, pid,
		     tether_last_error(t));
	tether_disconnect(t);
}

Test(soak, thousand_attach_detach_cycles_flat_fds_and_rss)
{
	long rss0, rss1;
	int fds0;

	tether_disconnect(fx.t);
	fx.t = NULL;
	for (int i = 0; i < 100; i++)
		cycle(i);
	/* Idle: no controller, nothing pending. */
	fds0 = fx_settled_fds(fx.pid);
	rss0 = vm_rss_kb(fx.pid);
	for (int i = 0; i < 1000; i++)
		cycle(i);
	fx_expect_fds(fx.pid, fds0, "after 1,000 attach/detach cycles");
	rss1 = vm_rss_kb(fx.pid);
	if (fx_sanitized(fx.pid))
		cr_log_info("sanitized tetherd: RSS %ld -> %ld kB not checked",
			    rss0, rss1);
	else
		cr_assert_leq(rss1 - rss0, 1024, "RSS grew %ld -> %ld kB over "
			      "1,000 cycles", rss0, rss1);
	log_clean();
}

#define NDUP 10000

/* NDUP dups of /dev/null in the server; their numbers into v. */
static void make_orphans(int *v)
{
	int null = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);

	cr_assert_geq(null, 0);
	for (int i = 0; i < NDUP; i++) {
		struct tether_arg a[3] = { TETHER_INT(null),
					   TETHER_INT(F_DUPFD),
					   TETHER_INT(0) };
		long fd = fx_syscall(fx.t, SYS_fcntl, 3, a);

		cr_assert_geq(fd, 0, "dup %d: %s (%s)", i, strerror((int)-fd),
			      tether_last_error(fx.t));
		v[i] = (int)fd;
	}
}

Test(soak, list_fds_pages_through_10000)
{
	static int dups[NDUP];
	struct tether_fdinfo *v, *iv;
	size_t n, ni;

	make_orphans(dups);
	list_fds(fx.t, &v, &n, &iv, &ni);
	cr_assert_eq(n + ni, (size_t)fx_settled_fds(fx.pid),
		     "LIST_FDS: %zu + %zu, /proc: %d", n, ni,
		     fx_nfds(fx.pid));
	for (size_t i = 1; i < n; i++)
		cr_assert_gt(v[i].fd, v[i - 1].fd, "fd %d listed after %d",
			     v[i].fd, v[i - 1].fd);
	for (int i = 0; i < NDUP; i += 997)
		cr_assert_not_null(find_fd(v, n, dups[i]));
	cr_assert_geq(n, NDUP + 4u);
	free(v);
	free(iv);
	log_clean();
}

/* Under UBSan this fails in log_clean(): server/fds/gc.c td_gc_kept() calls
 * bsearch(&fd, NULL, 0, ...) when the keep list is empty (UB: bsearch's
 * base is declared nonnull).  Harmless in practice, reported. */
Test(soak, gc_of_10000_orphans)
{
	static int dups[NDUP];
	struct tether_fdinfo *v;
	int base = fx_settled_fds(fx.pid), *closed = NULL, *expect, nexp = 0, rc;
	size_t n, nclosed = 0;
	long soft = 0;
	char path[64], line[256];
	FILE *f;

	/* RLIMIT_NOFILE in the server: min(hard, 65536). */
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)fx.pid);
	cr_assert_not_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Max open files %ld", &soft) == 1)
			break;
	fclose(f);
	cr_assert_geq(soft, NDUP + 300, "server's fd limit %ld", soft);

	make_orphans(dups);
	list_fds(fx.t, &v, &n, NULL, NULL);
	cr_assert_not_null(expect = malloc(n * sizeof(int)));
	for (size_t i = 0; i < n; i++)
		if (v[i].fd > 2 && !v[i].label[0])
			expect[nexp++] = v[i].fd;
	free(v);
	cr_assert_geq(nexp, NDUP + 1);

	rc = tether_gc(fx.t, NULL, 0, 0, &closed, &nclosed);
	cr_assert_eq(rc, 0, "gc: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	cr_assert_eq(nclosed, (size_t)nexp, "GC closed %zu, expected %d",
		     nclosed, nexp);
	qsort(closed, nclosed, sizeof(int), int_cmp);
	for (int i = 0; i < nexp; i++)
		cr_assert_eq(closed[i], expect[i]);
	for (int i = 0; i < NDUP; i++)
		cr_assert(!tether_fd_held(fx.t, dups[i]));
	free(closed);
	free(expect);
	fx_expect_fds(fx.pid, base, "after GC of 10,000 orphans");
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	log_clean();
}

/* ---- 7. handshakes naming a generation, unknown flags ------------------ */

static void refused_hello(uint64_t flags, bool with_gen, uint64_t gen,
			  int want, const char *needle)
{
	char text[256];
	int before = fx_settled_fds(fx.pid);
	int rc = raw_hello(fx.sock, flags, with_gen, gen, text, sizeof(text),
			   NULL);

	cr_assert_eq(rc, want, "HELLO flags 0x%llx gen %llu: %d (%s)",
		     (unsigned long long)flags, (unsigned long long)gen, rc,
		     text);
	if (needle)
		cr_assert(str_has(text, needle), "refusal text: \"%s\"",
			  text);
	fx_expect_fds(fx.pid, before, "after the refused HELLO");
	if (fx.t)
		cr_assert_eq(fx_getpid(fx.t), fx.pid, "controller hurt");
	log_clean();
}

Test(hello_gen, stale_generation_takeover_is_ebusy)
{
	uint64_t stale = tether_info(fx.t)->generation;

	/* Someone else attaches in between: our view goes stale. */
	cr_assert_eq(fx_reattach(), 0);
	cr_assert_gt(tether_info(fx.t)->generation, stale);
	refused_hello(TETHER_HELLO_TAKEOVER, true, stale, EBUSY,
		      "another controller attached meanwhile");
}

Test(hello_gen, future_generation_is_ebusy)
{
	refused_hello(TETHER_HELLO_TAKEOVER, true,
		      tether_info(fx.t)->generation + 100, EBUSY, NULL);
}

Test(hello_gen, current_generation_without_takeover_is_ebusy)
{
	refused_hello(0, true, tether_info(fx.t)->generation, EBUSY,
		      "attached by pid");
}

/* A controller that detached and one that attaches right after it (a
 * shell running tetherctl twice in a row): the server may see the HELLO
 * before the first one's end of file, and must read that end of file
 * then instead of answering EBUSY. */
Test(hello_gen, attach_right_after_a_detach_is_never_busy)
{
	for (int i = 0; i < 200; i++) {
		struct tether *t = NULL;
		int rc;

		tether_disconnect(fx.t);
		fx.t = NULL;
		rc = tether_connect(fx.sock, 0, &t);
		cr_assert_eq(rc, 0, "attach %d right after a detach: %s (%s)",
			     i, strerror(-rc), tether_last_error(NULL));
		fx.t = t;
	}
}

Test(hello_gen, current_generation_takeover_wins)
{
	char text[256];
	uint64_t g = tether_info(fx.t)->generation;
	int before = fx_settled_fds(fx.pid), ours[2], rc;
	struct tether_status st;
	struct tether *obs;

	rc = raw_hello(fx.sock, TETHER_HELLO_TAKEOVER, true, g, text,
		       sizeof(text), ours);
	cr_assert_eq(rc, 0, "CAS take-over at generation %llu: %d (%s)",
		     (unsigned long long)g, rc, text);
	fx_expect_fds(fx.pid, before, "after the CAS take-over");
	obs = fx_observe(fx.sock);
	cr_assert_eq(tether_status(obs, &st), 0);
	cr_assert_eq(st.generation, g + 1);
	cr_assert_eq(st.controller_pid, getpid());
	tether_disconnect(obs);
	cr_assert_lt(fx_getpid(fx.t), 0, "fx.t survived the take-over");
	close(ours[0]);
	close(ours[1]);
}

/* Poll an observer's STATUS until no controller is attached. */
static void wait_detached(void)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	struct tether_status st = { .attached = true };

	while (kit_now_ms() < end) {
		struct tether *obs = fx_observe(fx.sock);

		cr_assert_eq(tether_status(obs, &st), 0);
		tether_disconnect(obs);
		if (!st.attached)
			return;
		kit_nap_ms(10);
	}
	cr_assert_fail("controller pid %d still attached",
		       (int)st.controller_pid);
}

Test(hello_gen, stale_generation_when_detached_is_ebusy)
{
	uint64_t stale = tether_info(fx.t)->generation;

	cr_assert_eq(fx_reattach(), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	wait_detached();
	refused_hello(0, true, stale, EBUSY, "has gone since");
}

Test(hello_gen, unknown_flag_is_einval)
{
	refused_hello(0x10, false, 0, EINVAL, "unknown HELLO flags");
}

Test(hello_gen, high_unknown_flag_is_einval)
{
	refused_hello(0x80000000u, false, 0, EINVAL, "unknown HELLO flags");
}

Test(hello_gen, unknown_flag_with_takeover_is_einval)
{
	refused_hello(TETHER_HELLO_TAKEOVER | 0x100, false, 0, EINVAL,
		      "unknown HELLO flags");
}

Test(hello_gen, unknown_flag_with_observe_is_einval)
{
	refused_hello(TETHER_HELLO_OBSERVE | 0x10, false, 0, EINVAL,
		      "unknown HELLO flags");
}

/* A tetherd that is stopped (or hung) still takes connections and
 * HELLOs into its backlog, but never answers: the handshake gives up
 * after TETHER_CONNECT_TIMEOUT, pipelined or not, and a pipelined
 * handle does not wait a second time.  Once continued, the server
 * serves, and the abandoned handshakes leave no fd behind. */
Test(hello_gen, a_stopped_server_times_the_handshake_out)
{
	struct tether *t = NULL;
	int before = fx_settled_fds(fx.pid), rc;
	int64_t t0;

	setenv("TETHER_CONNECT_TIMEOUT", "1", 1);
	cr_assert_eq(kill(fx.pid, SIGSTOP), 0);
	rc = tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &t);
	cr_assert_eq(rc, -ETIMEDOUT, "connect: %d (%s)", rc,
		     tether_last_error(NULL));
	cr_assert_null(t);
	cr_assert_eq(tether_last_cause(NULL), TETHER_CAUSE_CONNECTION);
	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_OBSERVE |
				    TETHER_CONNECT_PIPELINE, &t), 0);
	cr_assert_eq(tether_getpid(t, NULL), -ETIMEDOUT, "%s",
		     tether_last_error(t));
	t0 = kit_now_ms();
	cr_assert_eq(tether_getpid(t, NULL), -ETIMEDOUT);
	cr_assert_lt(kit_now_ms() - t0, 900, "a second wait for the answer");
	tether_disconnect(t);
	cr_assert_eq(kill(fx.pid, SIGCONT), 0);
	unsetenv("TETHER_CONNECT_TIMEOUT");
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	fx_expect_fds(fx.pid, before, "after the abandoned handshakes");
}
