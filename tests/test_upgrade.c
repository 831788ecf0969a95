/*
 * UPGRADE with real binaries: the server execs tests/tetherd-unchecked
 * (the same sources built apart, reporting "+unchecked") in its own
 * process, and back.  Everything it held must be there after: the pid,
 * 3 workers writing output (same pids, the bytes captured before, more
 * after), 1,000 fds with their FD_CLOEXEC flags, a label, a parked
 * result; a call in flight is cancelled and reported as such.  A binary
 * that cannot read the state gives it back to the old one; bad binaries,
 * a policy and remote memory are refused before anything is touched; a
 * controller SIGKILLed mid-upgrade costs nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"
#include "messages.h"

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NWORKERS 3
#define NFDS 1000

TestSuite(upgrade, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 60);

static void fallback_init(void)
{
	/* Read only by the unchecked build: it then knows no state. */
	setenv("TETHERD_TEST_STATE_MAX", "0", 1);
	fx_init_server();
	unsetenv("TETHERD_TEST_STATE_MAX");
}
TestSuite(upgrade_fallback, .init = fallback_init, .fini = fx_fini_all,
	  .timeout = 60);

static const char *unchecked(void)
{
	const char *p = getenv("TETHERD_UNCHECKED");

	cr_assert(p && *p, "TETHERD_UNCHECKED is not set");
	return p;
}

static int do_upgrade(const char *binary, struct tether_upgrade_result *res)
{
	*res = (struct tether_upgrade_result){ .struct_size = sizeof(*res) };
	return tether_upgrade(fx.t, fx.sock, 0, binary, 30000, res);
}

static void upgrade_ok(const char *binary, unsigned n)
{
	struct tether_upgrade_result res;
	int rc = do_upgrade(binary, &res);

	cr_assert_eq(rc, 0, "tether_upgrade(%s): %s (%s)", binary,
		     strerror(-rc), tether_last_error(fx.t));
	cr_expect_eq(res.pid, fx.pid);
	cr_expect_eq(res.upgrades, n);
	cr_expect_eq(tether_info(fx.t)->pid, fx.pid);
}

/* Bytes of worker target's log so far, into buf (NUL-ended). */
struct logbuf {
	char b[1 << 16];
	size_t n;
};

static int log_cb(const void *data, size_t len, uint64_t off, void *arg)
{
	struct logbuf *lb = arg;

	(void)off;
	if (lb->n + len >= sizeof(lb->b))
		len = sizeof(lb->b) - 1 - lb->n;
	memcpy(lb->b + lb->n, data, len);
	lb->n += len;
	lb->b[lb->n] = '\0';
	return 0;
}

static void read_log(const char *target, struct logbuf *lb)
{
	int rc;

	lb->n = 0;
	lb->b[0] = '\0';
	rc = tether_logs(fx.t, target, 0, false, log_cb, lb);
	cr_assert_eq(rc, 0, "logs %s: %s (%s)", target, strerror(-rc),
		     tether_last_error(fx.t));
}

/* 1 if pid's fd has FD_CLOEXEC, per /proc/PID/fdinfo. */
static int fd_cloexec(pid_t pid, int fd)
{
	unsigned long flags = 0;
	char path[64], line[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = fopen(path, "re");
	cr_assert(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return flags & O_CLOEXEC ? 1 : 0;
}

static long srv_call(long nr, unsigned nargs, uint64_t a0, uint64_t a1,
		     uint64_t a2)
{
	struct tether_arg args[3] = { TETHER_INT(a0), TETHER_INT(a1),
				      TETHER_INT(a2) };

	return fx_syscall(fx.t, nr, nargs, args);
}

/* An ASYNC read of fd into buf: its id. */
static uint64_t async_read(int fd, char *buf, size_t n)
{
	struct tether_call c = {
		.nr = SYS_read, .nargs = 3, .flags = TETHER_CALL_ASYNC,
		.args = { TETHER_INT(fd), TETHER_OUT(buf, n), TETHER_INT(n) },
	};

	cr_assert_eq(tether_call(fx.t, &c), 0, "%s", tether_last_error(fx.t));
	cr_assert_gt(c.async_id, 0);
	return c.async_id;
}

/* Until PENDING says id is done (parked). */
static void wait_parked(uint64_t id)
{
	for (int tries = 0; tries < 500; tries++) {
		struct tether_pending *v;
		size_t n;
		bool done = false;

		cr_assert_eq(tether_pending(fx.t, &v, &n), 0);
		for (size_t i = 0; i < n; i++)
			if (v[i].id == id && !strcmp(v[i].state, "done"))
				done = true;
		tether_free(v);
		if (done)
			return;
		usleep(10000);
	}
	cr_assert_fail("request %llu never completed", (unsigned long long)id);
}

/* "wN 0\nwN 1\n..." with no line missing: no byte was lost while
 * the server was between binaries. */
static void expect_unbroken(const char *label, const char *log)
{
	char want[64];
	long k = 0;

	for (const char *p = log; *p; k++) {
		const char *nl = strchr(p, '\n');
		int n = snprintf(want, sizeof(want), "%s %ld", label, k);

		if (!nl)
			break;	/* a line still being written */
		cr_assert(nl - p == n && !memcmp(p, want, (size_t)n),
			  "%s's log: line %ld is \"%.*s\", want \"%s\"", label,
			  k, (int)(nl - p), p, want);
		p = nl + 1;
	}
	cr_expect_gt(k, 0, "%s's log is empty", label);
}

Test(upgrade, keeps_everything)
{
	pid_t wpid[NWORKERS];
	int dups[NFDS];
	struct logbuf before[NWORKERS], after;
	struct tether_status st0, st1;
	struct tether_call c;
	uint64_t parked_id, inflight_id;
	char sink[16], label[16];
	int p[2], devnull;

	/* workers, writing as they go */
	for (int i = 0; i < NWORKERS; i++) {
		struct tether_spawn sp = TETHER_SPAWN_INIT;
		char script[128];

		snprintf(label, sizeof(label), "w%d", i);
		snprintf(script, sizeof(script), "i=0; while :; do echo %s "
			 "$i; i=$((i+1)); sleep 0.02; done", label);
		sp.argv = ARGV("/bin/sh", "-c", script);
		sp.label = label;
		sp.capture = true;
		wpid[i] = fx_spawn_ok(fx.t, &sp);
	}
	/* 1,000 fds, every other one FD_CLOEXEC, and a label */
	devnull = (int)fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	cr_assert_geq(devnull, 0);
	cr_assert_eq(tether_label(fx.t, devnull, "devnull"), 0);
	for (int i = 0; i < NFDS; i++) {
		dups[i] = (int)srv_call(SYS_fcntl, 3, (uint64_t)devnull,
					i % 2 ? F_DUPFD_CLOEXEC : F_DUPFD, 3);
		cr_assert_geq(dups[i], 0, "dup %d: %s", i, strerror(-dups[i]));
	}
	/* a parked result (a read that had its bytes), and a call still in
	 * flight (a read nobody writes for) */
	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(fx_write(fx.t, p[1], "abc", 3), 3);
	parked_id = async_read(p[0], sink, sizeof(sink));
	wait_parked(parked_id);
	inflight_id = async_read(p[0], sink, sizeof(sink));
	/* output captured so far */
	for (int i = 0; i < NWORKERS; i++) {
		snprintf(label, sizeof(label), "w%d", i);
		do
			read_log(label, &before[i]);
		while (before[i].n < 8 && usleep(10000) == 0);
	}
	cr_assert_eq(tether_status(fx.t, &st0), 0);
	/* an observer is attached through it all */
	struct tether *obs = fx_observe(fx.sock);

	upgrade_ok(unchecked(), 1);

	cr_assert(fx_alive(fx.pid), "the server's pid is gone");
	cr_assert_eq(tether_status(fx.t, &st1), 0);
	cr_expect_eq(st1.pid, fx.pid);
	cr_expect_eq(st1.nfds, st0.nfds, "fds %u before, %u after", st0.nfds,
		     st1.nfds);
	cr_expect_eq(st1.nchildren, NWORKERS);
	cr_expect_eq(tether_fd_by_label(fx.t, "devnull"), devnull);
	for (int i = 0; i < NFDS; i += 97)
		cr_expect_eq(fd_cloexec(fx.pid, dups[i]), i % 2,
			     "fd %d lost its FD_CLOEXEC flag (or gained one)",
			     dups[i]);
	/* the workers: same processes, still the server's children, their
	 * output kept and still coming */
	for (int i = 0; i < NWORKERS; i++) {
		struct fx_pstat ps;

		cr_assert(fx_read_pstat(wpid[i], &ps) && ps.state != 'Z',
			  "worker %d is gone", (int)wpid[i]);
		cr_expect_eq(ps.ppid, fx.pid);
		snprintf(label, sizeof(label), "w%d", i);
		do
			read_log(label, &after);
		while (after.n <= before[i].n + 16 && usleep(10000) == 0);
		cr_expect(!memcmp(after.b, before[i].b, before[i].n),
			  "%s's log changed across the upgrade", label);
		expect_unbroken(label, after.b);
	}
	/* the parked result, and the cancelled one */
	memset(&c, 0, sizeof(c));
	cr_assert_eq(tether_collect(fx.t, parked_id, 0, &c), 0,
		     "parked result: %s", tether_last_error(fx.t));
	cr_expect_eq(c.ret, 3);
	memset(&c, 0, sizeof(c));
	cr_assert_eq(tether_collect(fx.t, inflight_id, 5000, &c), 0,
		     "in-flight result: %s", tether_last_error(fx.t));
	cr_expect_eq(c.ret, -ECANCELED, "in-flight read: %ld", c.ret);
	/* and back to the first binary: nothing more is lost */
	upgrade_ok(fx_tetherd(), 2);
	cr_assert_eq(tether_status(fx.t, &st1), 0);
	cr_expect_eq(st1.nfds, st0.nfds);
	cr_expect_eq(st1.nchildren, NWORKERS);
	tether_disconnect(obs);
}

Test(upgrade_fallback, old_binary_resumes)
{
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	struct tether_upgrade_result res;
	struct tether_status st;
	pid_t w;
	int rc;

	sp.argv = ARGV("/bin/sleep", "600");
	sp.label = "sleeper";
	w = fx_spawn_ok(fx.t, &sp);
	/* Twice: the second failure says the same as the first, and must
	 * be told as promptly. */
	for (int i = 0; i < 2; i++) {
		int64_t t0 = kit_now_ms();

		res = (struct tether_upgrade_result){
			.struct_size = sizeof(res) };
		rc = tether_upgrade(fx.t, fx.sock, 0, unchecked(), 10000,
				    &res);
		cr_assert_eq(rc, -ENOEXEC, "upgrade %d: %s (%s)", i,
			     strerror(-rc), tether_last_error(fx.t));
		cr_expect(kit_now_ms() - t0 < 8000, "upgrade %d took %lld ms",
			  i, (long long)(kit_now_ms() - t0));
		cr_expect(strstr(res.error, "state version"), "error: %s",
			  res.error);
		cr_expect(strstr(res.error, "old binary resumed"),
			  "error: %s", res.error);
		cr_expect_eq(res.upgrades, 0);
		cr_expect(!strstr(res.to_version, "unchecked"), "now %s",
			  res.to_version);
		cr_assert_eq(tether_status(fx.t, &st), 0);
		cr_expect_eq(st.pid, fx.pid);
		cr_expect_eq(st.nchildren, 1);
		cr_expect(fx_alive(w));
	}
}

/* Refused before anything is touched: the server answers, unchanged. */
static void refused(const char *binary, int err)
{
	struct tether_upgrade_result res;
	struct tether_status st;
	int rc = do_upgrade(binary, &res);

	cr_expect_eq(rc, -err, "upgrade to %s: %s (%s), want %s", binary,
		     strerror(-rc), tether_last_error(fx.t), strerror(err));
	cr_assert_eq(tether_status(fx.t, &st), 0, "no answer after refusing "
		     "%s", binary);
	cr_expect_eq(st.pid, fx.pid);
}

Test(upgrade, refuses_bad_binaries)
{
	char script[256], writable[256], cmd[600];

	fx_path(script, sizeof(script), "script");
	fx_write_file(script, "#!/bin/sh\nexit 0\n", 17);
	chmod(script, 0755);
	refused(script, ENOEXEC);
	fx_path(writable, sizeof(writable), "tetherd-copy");
	snprintf(cmd, sizeof(cmd), "cp %s %s && chmod 0775 %s", fx_tetherd(),
		 writable, writable);
	cr_assert_eq(system(cmd), 0);
	refused(writable, EPERM);
	refused("relative/tetherd", EINVAL);
	refused("/nonexistent/tetherd", ENOENT);
	refused("/etc", EACCES);
}

Test(upgrade, refuses_remote_memory)
{
	uint64_t addr;

	cr_assert_eq(tether_mem_alloc(fx.t, 4096, &addr), 0);
	refused(unchecked(), EBUSY);
	cr_assert_eq(tether_mem_free(fx.t, addr), 0);
	upgrade_ok(unchecked(), 1);
}

Test(upgrade, refused_under_policy, .init = fx_init_dir)
{
	fx_start_policy("default allow\n");
	refused(unchecked(), ENOTSUP);
}

/* The controller dies right after asking: the server finishes (or never
 * starts) the upgrade on its own, and the next controller finds it all.
 * A next controller that attached while the dead one's request was being
 * checked is told the server is upgrading (EAGAIN), and comes back. */
Test(upgrade, controller_killed_mid_upgrade)
{
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	struct tether_status st;
	int64_t end = kit_now_ms() + 20000;
	pid_t w, kid;
	int status, rc;

	sp.argv = ARGV("/bin/sleep", "600");
	w = fx_spawn_ok(fx.t, &sp);
	tether_disconnect(fx.t);
	fx.t = NULL;
	kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0) {
		struct tether *t;
		struct tether_upgrade_result res = {
			.struct_size = sizeof(res) };

		fx_forked();
		if (tether_connect(fx.sock, 0, &t) < 0)
			_exit(3);
		tether_upgrade(t, fx.sock, 0, unchecked(), 30000, &res);
		_exit(0);
	}
	fx_track(kid);
	usleep(2000);
	kill(kid, SIGKILL);
	waitpid(kid, &status, 0);
	fx_untrack(kid);
	for (;;) {
		rc = fx_reattach();
		cr_assert_eq(rc, 0, "reattach: %s (%s)", strerror(-rc),
			     tether_last_error(NULL));
		rc = tether_status(fx.t, &st);
		if (rc != -EAGAIN || kit_now_ms() > end)
			break;
		cr_assert(strstr(tether_last_error(fx.t), "upgrading"),
			  "EAGAIN: %s", tether_last_error(fx.t));
		kit_nap_ms(10);
	}
	cr_assert_eq(rc, 0, "status after reattach: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	cr_expect_eq(st.pid, fx.pid);
	cr_expect_eq(st.nchildren, 1);
	cr_expect(fx_alive(w));
}

/* A peer connected before the drain and not yet said HELLO is held
 * through the exec: the new binary answers it.  (Dropped, it saw its
 * connection reset by an upgrade it knew nothing of.) */
Test(upgrade, handshake_in_progress_is_answered_by_the_new_binary)
{
	struct tp_msg m;
	char text[256];
	int ours[2], fd, rc;

	fd = fx_dial(fx.sock);
	cr_assert_geq(fd, 0);
	/* Accepted, and its handshake waiting for the HELLO: a STATUS on
	 * the controller's connection is a turn of the loop after it. */
	kit_nap_ms(20);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	upgrade_ok(unchecked(), 1);
	fx_hello_msg(&m, TETHER_PROTO_VERSION, TETHER_HELLO_OBSERVE);
	rc = fx_hello_pairs_on(fd, &m, text, sizeof(text), ours);
	tp_msg_destroy(&m);
	cr_assert_eq(rc, 0, "the held HELLO: %s (%s)",
		     rc < 0 ? strerror(-rc) : strerror(rc), text);
	close(ours[0]);
	close(ours[1]);
}

/* A peer attached at an upgrade is told why it is closed. */
Test(upgrade, an_observer_is_told_the_server_is_upgrading)
{
	struct tether *obs = fx_observe(fx.sock);
	struct tether_status st;
	int rc;

	upgrade_ok(unchecked(), 1);
	rc = tether_status(obs, &st);
	cr_expect_eq(rc, -EAGAIN, "observer after upgrade: %s (%s)",
		     strerror(-rc), tether_last_error(obs));
	cr_expect(strstr(tether_last_error(obs), "upgrading"), "%s",
		  tether_last_error(obs));
	cr_expect_eq(tether_last_cause(obs), TETHER_CAUSE_CONNECTION);
	tether_disconnect(obs);
}

/* A call running when the drain begins is cancelled: its answer comes
 * before the notice that the server is upgrading, or its result is
 * parked for the next controller -- never behind the notice, where the
 * peer stops reading and it would be lost. */
Test(upgrade, a_running_call_is_answered_before_the_notice_or_parked)
{
	struct tp_upgrade up = { .has = TP_UPGRADE_BINARY };
	struct tether_pending *pv;
	struct tether_call c;
	struct fx_frame f;
	struct fx_raw r;
	struct tp_msg m;
	uint64_t call_id, up_id, parked = 0;
	bool noticed = false, answered = false, late = false;
	size_t n;

	tether_disconnect(fx.t);
	fx.t = NULL;
	fx_raw_attach(&r);
	call_id = fx_raw_begin(&r, &m, TETHER_OP_SYSCALL);
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_uint64(&m.pk, SYS_pause);
	msgpack_pack_array(&m.pk, 0);
	fx_raw_send(&r, &m);
	up_id = fx_raw_begin(&r, &m, TETHER_OP_UPGRADE);
	up.binary = tp_str(unchecked());
	cr_assert_eq(tp_pack_upgrade(&m.w, &up), 0);
	fx_raw_send(&r, &m);
	cr_assert_eq(fx_raw_reply(&r, up_id, NULL), 0);
	/* Everything else until the end of the connection. */
	while (fx_recv_frame(r.sfd, &r.rb, &f) == 0) {
		late |= noticed && f.in.id == call_id;
		answered |= f.in.id == call_id;
		noticed |= f.in.id == 0 && f.in.code == EAGAIN;
		fx_frame_free(&f);
	}
	fx_raw_close(&r);
	cr_expect(noticed, "no upgrade notice before the close");
	cr_expect(!late, "the running call was answered after the notice");
	cr_assert_eq(fx_reattach(), 0);
	cr_assert_eq(tether_pending(fx.t, &pv, &n), 0, "%s",
		     tether_last_error(fx.t));
	for (size_t i = 0; i < n; i++)
		if (pv[i].nr == SYS_pause)
			parked = pv[i].id;
	tether_free(pv);
	cr_assert(answered || parked, "the cancelled call was lost");
	if (!parked)
		return;
	memset(&c, 0, sizeof(c));
	cr_assert_eq(tether_collect(fx.t, parked, 5000, &c), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq(c.ret, -ECANCELED, "parked pause: %ld", c.ret);
}

/* An observer that asks and stops reading (a debugging session
 * suspended with ^Z, or a peer that means it) leaves answers queued that
 * never go out: the drain closes it all the same rather than give the
 * owner's upgrade up. */
Test(upgrade, a_stalled_observer_does_not_hold_the_upgrade_off)
{
	unsigned sent;
	int sfd, dfd;

	cr_assert_eq(fx_attach_raw(fx.sock, TETHER_HELLO_OBSERVE, &sfd, &dfd),
		     0);
	/* STATUS after STATUS, none of the answers read, until the server
	 * stops reading us: its queue to us is then long and stays so. */
	sent = fx_flood_status(sfd);
	cr_assert_gt(sent, 100u);
	upgrade_ok(unchecked(), 1);
	close(sfd);
	close(dfd);
}

/* A binary that passes every check and still does not exec (an ELF
 * header and junk: execveat fails with ENOEXEC, the old binary goes on).
 * Nothing is lost, no fd is left behind, the failure is said each time
 * -- also when it is the same failure again, which a supervisor retrying
 * a broken package meets -- and the next good upgrade goes through. */
Test(upgrade, an_exec_that_fails_goes_on_as_before)
{
	static const char junk[64] = "\177ELF\2\1\1junk, not a program";
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	struct tether_upgrade_result res;
	struct tether_status st;
	char bogus[256];
	int64_t t0;
	pid_t w;
	int nfds, rc;

	sp.argv = ARGV("/bin/sleep", "600");
	w = fx_spawn_ok(fx.t, &sp);
	fx_path(bogus, sizeof(bogus), "bogus-elf");
	fx_write_file(bogus, junk, sizeof(junk));
	cr_assert_eq(chmod(bogus, 0755), 0);
	nfds = fx_nfds(fx.pid);
	for (int i = 0; i < 2; i++) {
		res = (struct tether_upgrade_result){
			.struct_size = sizeof(res) };
		t0 = kit_now_ms();
		rc = tether_upgrade(fx.t, fx.sock, 0, bogus, 10000, &res);
		cr_assert_eq(rc, -ENOEXEC, "upgrade %d to junk: %s (%s)", i,
			     strerror(-rc), tether_last_error(fx.t));
		cr_expect(kit_now_ms() - t0 < 8000, "upgrade %d took %lld ms "
			  "to say it failed", i, (long long)(kit_now_ms() - t0));
		cr_expect(strstr(res.error, "execveat"), "error: %s",
			  res.error);
		cr_expect_eq(res.pid, fx.pid);
		cr_assert_eq(tether_status(fx.t, &st), 0, "%s",
			     tether_last_error(fx.t));
		cr_expect_eq(st.pid, fx.pid);
		cr_expect_eq(st.nchildren, 1);
		cr_expect(fx_alive(w));
		cr_expect_eq(fx_nfds(fx.pid), nfds, "tetherd had %d fds, now "
			     "%d", nfds, fx_nfds(fx.pid));
	}
	upgrade_ok(unchecked(), 1);
	cr_expect(fx_alive(w));
}

/* A caller built against an older struct tether_upgrade_result (its
 * struct_size smaller) gets no more than it has room for. */
Test(upgrade, the_result_fills_no_more_than_struct_size)
{
	struct {
		struct tether_upgrade_result r;
		unsigned char canary[64];
	} u;
	size_t part = offsetof(struct tether_upgrade_result, to_version);
	int rc;

	memset(&u, 0xa5, sizeof(u));
	u.r.struct_size = part;
	rc = tether_upgrade(fx.t, fx.sock, 0, unchecked(), 30000, &u.r);
	cr_assert_eq(rc, 0, "%s (%s)", strerror(-rc), tether_last_error(fx.t));
	cr_expect_eq(u.r.struct_size, part);
	cr_expect_eq(u.r.pid, fx.pid);
	cr_expect_eq(u.r.upgrades, 1);
	for (size_t i = part; i < sizeof(u.r); i++)
		cr_assert_eq(((unsigned char *)&u.r)[i], 0xa5, "byte %zu of "
			     "%zu written past struct_size %zu", i,
			     sizeof(u.r), part);
	u.r.struct_size = 3;
	rc = tether_upgrade(fx.t, fx.sock, 0, unchecked(), 30000, &u.r);
	cr_expect_eq(rc, -EINVAL, "struct_size 3: %s", strerror(-rc));
}

/* Only the controller may upgrade: an observer is refused and nothing
 * changes. */
Test(upgrade, observer_is_refused)
{
	struct tether_upgrade_result res = { .struct_size = sizeof(res) };
	struct tether *obs = fx_observe(fx.sock);
	struct tether_status st;
	int rc = tether_upgrade(obs, fx.sock, TETHER_CONNECT_OBSERVE,
				unchecked(), 30000, &res);

	cr_expect_eq(rc, -EBUSY, "observer upgrade: %s (%s)", strerror(-rc),
		     tether_last_error(obs));
	tether_disconnect(obs);
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_expect_eq(st.pid, fx.pid);
}
