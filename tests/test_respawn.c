/*
 * What the server keeps of a worker, with real processes: tether_ps_ex()
 * (a STOP's grace shown as "stopping" with its deadline, also once the
 * controller that asked is SIGKILLed; the whole spawn spec) and
 * tether_respawn() (an ended worker started again from that spec, checked
 * through /proc/PID/{cmdline,environ,cwd,fd}; refused while it runs, with
 * EBADF naming a server fd closed meanwhile, the old record kept when the
 * exec fails).  Waits poll up to generous deadlines; nothing asserts how
 * long anything took.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit.h"

#define WAIT_MS FX_WAIT_MS
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

TestSuite(psx, .init = fx_init_server, .fini = fx_fini_all, .timeout = 30);
TestSuite(respawn, .init = fx_init_server, .fini = fx_fini_all,
	  .timeout = 30);

/* tether_ps_ex's record of pid, copied out of *v (freed by the caller):
 * NULL if it is not listed. */
static const struct tether_worker_ex *psx_find(struct tether *t, pid_t pid,
					       struct tether_worker_ex **v)
{
	size_t n;
	int rc = tether_ps_ex(t, v, &n);

	cr_assert_eq(rc, 0, "tether_ps_ex: %s (%s)", strerror(-rc),
		     tether_last_error(t));
	for (size_t i = 0; i < n; i++)
		if ((*v)[i].w.pid == pid)
			return &(*v)[i];
	return NULL;
}

static bool strv_has(const char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

/* /proc/PID/NAME whole, NULs kept: its length. */
static size_t proc_read(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	n = read(fd, buf, size - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* cmdline or environ of a worker just spawned.  SPAWN answers once the
 * exec has replaced the memory (the vfork-style clone resumes there),
 * and the kernel sets where argv and envp lie a moment later, in the
 * new image's loader: until then both read empty. */
static size_t proc_read_args(pid_t pid, const char *name, char *buf,
			     size_t size)
{
	int64_t end = kit_now_ms() + WAIT_MS;
	size_t n;

	while ((n = proc_read(pid, name, buf, size)) == 0 &&
	       kit_now_ms() < end)
		kit_nap_ms(1);
	return n;
}

/* Is the NUL-separated entry s in buf[0..n)? */
static bool nul_list_has(const char *buf, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (!strcmp(buf + i, s))
			return true;
	return false;
}

static void proc_link(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = readlink(path, buf, size - 1);
	cr_assert_geq(n, 0, "readlink %s: %s", path, strerror(errno));
	buf[n] = '\0';
}

/* ===================================================================== */
/* psx: a STOP in progress                                                */
/* ===================================================================== */

static int ready_cb(const void *data, size_t len, uint64_t off, void *arg)
{
	(void)off;
	if (memmem(data, len, "ready", 5))
		*(bool *)arg = true;
	return 0;
}

/* Until the worker's log says "ready": its trap is set, so a SIGTERM
 * sent from now on is ignored, not fatal. */
static void wait_ready(struct tether *t, const char *target)
{
	int64_t end = kit_now_ms() + WAIT_MS;
	bool ready = false;

	while (!ready && kit_now_ms() < end) {
		cr_assert_eq(tether_logs(t, target, 0, false, ready_cb, &ready),
			     0, "%s", tether_last_error(t));
		if (!ready)
			kit_nap_ms(20);
	}
	cr_assert(ready, "%s never said ready", target);
}

static const char *g_stop_target;

/* A controller that asks for a 3 s STOP and is killed while it waits. */
static void kid_stopper(void *arg)
{
	struct tether *t = kid_connect();
	struct tether_worker w;

	(void)arg;
	kid_say("STOPPING");
	tether_stop(t, g_stop_target, 3000, &w);
	kid_fail("tether_stop returned");
}

Test(psx, stopping_with_its_deadline_also_after_the_stopper_died)
{
	struct tether_worker_ex *v = NULL;
	const struct tether_worker_ex *x;
	struct tether *obs;
	struct tether_worker w;
	struct kid k;
	int64_t end;
	pid_t pid;
	int rc;

	/* A worker that ignores SIGTERM: only the grace's SIGKILL ends it. */
	pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sh", "-c", "trap '' TERM; echo ready; "
					 "while :; do sleep 0.05; done"),
		.label = "stubborn", .capture = true });
	wait_ready(fx.t, "stubborn");
	cr_assert_eq(tether_make_persistent(fx.t), 0);
	tether_disconnect(fx.t);
	fx.t = NULL;
	obs = fx_observe(fx.sock);
	g_stop_target = "stubborn";
	kid_start(&k, kid_stopper, NULL);
	kid_line(&k, "STOPPING", NULL, 0);
	/* The observer sees the grace running. */
	end = kit_now_ms() + WAIT_MS;
	for (;;) {
		x = psx_find(obs, pid, &v);
		cr_assert_not_null(x, "pid %d not listed", (int)pid);
		if (x->stopping || kit_now_ms() > end)
			break;
		tether_free(v);
		kit_nap_ms(20);
	}
	cr_assert(x->stopping, "never shown stopping");
	cr_expect_eq(x->stop_signal, SIGTERM);
	cr_expect(x->stop_deadline_ms > 0 && x->stop_deadline_ms <= 3000,
		  "deadline %lld ms for a 3000 ms grace",
		  (long long)x->stop_deadline_ms);
	cr_expect_eq(x->w.state, TETHER_W_RUNNING,
		     "1.0 callers read stopping as running");
	tether_free(v);
	/* The controller that asked dies: the deadline is the server's. */
	kid_kill(&k);
	x = psx_find(obs, pid, &v);
	cr_assert_not_null(x);
	if (x->w.state == TETHER_W_RUNNING) {
		cr_expect(x->stopping, "the stop was forgotten with its "
			  "controller");
		cr_expect(x->stop_deadline_ms <= 3000);
	}
	tether_free(v);
	/* And it runs out: SIGKILL, though nobody waits for the STOP. */
	rc = tether_wait(obs, "stubborn", WAIT_MS, &w);
	cr_assert_eq(rc, 0, "%s", tether_last_error(obs));
	cr_expect_eq(w.state, TETHER_W_KILLED);
	cr_expect_eq(w.signal, SIGKILL, "ended by signal %d", w.signal);
	x = psx_find(obs, pid, &v);
	cr_assert_not_null(x);
	cr_expect(!x->stopping, "still stopping once killed");
	tether_free(v);
	tether_disconnect(obs);
	cr_assert_eq(fx_reattach(), 0);
}

Test(psx, a_worker_not_being_stopped_is_not_stopping)
{
	struct tether_worker_ex *v;
	const struct tether_worker_ex *x;
	pid_t pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sleep", "100"), .label = "calm" });

	x = psx_find(fx.t, pid, &v);
	cr_assert_not_null(x);
	cr_expect(!x->stopping);
	cr_expect_eq(x->stop_deadline_ms, 0);
	cr_expect_eq(x->stop_signal, 0);
	tether_free(v);
}

/* ===================================================================== */
/* psx: the spawn spec                                                    */
/* ===================================================================== */

Test(psx, spec_has_everything_spawn_was_given)
{
	struct tether_rlimit rl = { RLIMIT_NOFILE, 100, 200 };
	struct tether_worker_ex *v;
	const struct tether_worker_ex *x;
	char cwd[256], pol[256];
	int fds[2][2];
	long fd;
	pid_t pid;

	snprintf(cwd, sizeof(cwd), "%s", fx.dir);
	fx_path(pol, sizeof(pol), "w.policy");
	fx_write_file(pol, "default allow\ndeny mkdirat EACCES\n",
		      strlen("default allow\ndeny mkdirat EACCES\n"));
	fd = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tether_label(fx.t, (int)fd, "devnull"), 0,
		     "%s", tether_last_error(fx.t));
	fds[0][0] = 7;
	fds[0][1] = (int)fd;
	fds[1][0] = 8;
	fds[1][1] = 2;
	pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sleep", "100"), .label = "full",
		.env = ARGV("FOO=bar", "EMPTY="), .cwd = cwd, .capture = true,
		.log_max = 123456, .fds = (const int (*)[2])fds, .nfds = 2,
		.setsid = true, .rlimits = &rl, .nrlimits = 1,
		.policy = pol });
	x = psx_find(fx.t, pid, &v);
	cr_assert_not_null(x);
	cr_assert(x->has_spec);
	cr_expect_str_eq(x->w.label, "full");
	cr_expect(strv_has(x->w.argv, "sleep") && strv_has(x->w.argv, "100"));
	cr_expect(!x->argv_truncated && !x->env_truncated);
	cr_expect(strv_has(x->env, "FOO=bar"), "FOO=bar not in env");
	cr_expect(strv_has(x->env, "EMPTY="));
	cr_expect_not_null(x->path);
	cr_expect(x->path && strstr(x->path, "/sleep"), "path %s", x->path);
	cr_expect_str_eq(x->cwd, cwd);
	cr_expect_null(x->user);
	cr_expect_eq(x->uid, getuid());
	cr_expect_eq(x->gid, getgid());
	cr_expect(x->setsid);
	cr_expect_null(x->cgroup);
	cr_assert_eq(x->nfds, 2);
	cr_expect_eq(x->fds[0].child_fd, 7);
	cr_expect_eq(x->fds[0].server_fd, (int)fd);
	cr_expect_str_eq(x->fds[0].label, "devnull");
	cr_expect_eq(x->fds[1].child_fd, 8);
	cr_expect_null(x->fds[1].label);
	cr_assert_eq(x->nrlimits, 1);
	cr_expect_eq(x->rlimits[0].resource, RLIMIT_NOFILE);
	cr_expect_eq(x->rlimits[0].soft, 100);
	cr_expect_eq(x->rlimits[0].hard, 200);
	cr_expect(x->policy_name && strstr(x->policy_name, "w.policy"),
		  "policy_name %s", x->policy_name);
	cr_expect(x->policy_xxh3 && strlen(x->policy_xxh3) == 16);
	cr_expect(x->capture);
	cr_expect_eq(x->log_max, 123456);
	cr_expect(x->log && strstr(x->log, "full"), "log %s", x->log);
	tether_free(v);
}

Test(psx, old_tether_ps_still_works_beside_it)
{
	struct tether_worker *v;
	size_t n;
	pid_t pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sleep", "100"), .env = ARGV("A=1") });

	cr_assert_eq(tether_ps(fx.t, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(v[0].pid, pid);
	cr_expect(strv_has(v[0].argv, "100"));
	tether_free(v);
}

/* ===================================================================== */
/* respawn                                                                */
/* ===================================================================== */

/* sh that exits 7 at first and, once gate exists, stays. */
static void gated(char *script, size_t size, char *gate, size_t gsize)
{
	fx_path(gate, gsize, "gate");
	snprintf(script, size,
		 "if [ -e '%s' ]; then while :; do sleep 0.05; done; fi; exit 7",
		 gate);
}

Test(respawn, same_argv_env_cwd_and_fds_from_proc)
{
	struct tether_respawned r = TETHER_RESPAWNED_INIT;
	struct tether_worker_ex *v;
	const struct tether_worker_ex *x;
	struct tether_worker w;
	char script[512], gate[256], cwd[256], buf[8192], want[512],
		got[512];
	int fds[1][2];
	long fd;
	size_t n;
	pid_t pid;
	int rc, base;

	gated(script, sizeof(script), gate, sizeof(gate));
	snprintf(cwd, sizeof(cwd), "%s", fx.dir);
	fd = fx_openat(fx.t, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	cr_assert_geq(fd, 0);
	fds[0][0] = 5;
	fds[0][1] = (int)fd;
	pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sh", "-c", script), .label = "phoenix",
		.env = ARGV("FOO=bar baz", "SECOND=2"), .cwd = cwd,
		.capture = true, .fds = (const int (*)[2])fds, .nfds = 1 });
	w = fx_wait_end(fx.t, "phoenix");
	cr_assert_eq(w.state, TETHER_W_EXITED);
	cr_assert_eq(w.exit_code, 7);
	fx_write_file(gate, "", 0);
	base = fx_settled_fds(fx.pid);

	rc = tether_respawn(fx.t, "phoenix", &r);
	cr_assert_eq(rc, 0, "tether_respawn: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	cr_assert_gt(r.pid, 0);
	cr_expect_neq(r.pid, pid);
	cr_expect_eq(r.respawned_from, pid);
	cr_expect_str_eq(r.label, "phoenix");

	/* What the kernel says the new process got. */
	n = proc_read_args(r.pid, "cmdline", buf, sizeof(buf));
	cr_expect(n == strlen("sh") + strlen("-c") + strlen(script) + 3 &&
		  !strcmp(buf, "sh") && !strcmp(buf + 3, "-c") &&
		  !strcmp(buf + 6, script), "cmdline differs");
	n = proc_read_args(r.pid, "environ", buf, sizeof(buf));
	cr_expect(nul_list_has(buf, n, "FOO=bar baz"), "FOO not in environ");
	cr_expect(nul_list_has(buf, n, "SECOND=2"));
	proc_link(r.pid, "cwd", got, sizeof(got));
	cr_expect_str_eq(got, cwd);
	proc_link(r.pid, "fd/5", got, sizeof(got));
	snprintf(want, sizeof(want), "fd/%ld", fd);
	proc_link(fx.pid, want, want, sizeof(want));
	cr_expect_str_eq(got, want, "fd 5 is %s, not the server's %s", got,
			 want);
	proc_link(r.pid, "fd/1", got, sizeof(got));
	cr_expect(!strncmp(got, "pipe:", 5), "stdout %s is not the capture",
		  got);

	/* The label names the new worker; the old record is gone. */
	x = psx_find(fx.t, pid, &v);
	cr_expect_null(x, "the old record is still listed");
	tether_free(v);
	x = psx_find(fx.t, r.pid, &v);
	cr_assert_not_null(x);
	cr_expect_str_eq(x->w.label, "phoenix");
	cr_expect_eq(x->w.state, TETHER_W_RUNNING);
	cr_expect(strv_has(x->env, "FOO=bar baz"));
	cr_expect_eq(x->nfds, 1);
	tether_free(v);
	cr_assert_eq(tether_wait(fx.t, "phoenix", 0, &w), 0);
	cr_expect_eq(w.pid, r.pid);

	/* Twice: it ends again, and comes back again. */
	cr_assert_eq(tether_kill(fx.t, "phoenix", SIGKILL), 0);
	fx_wait_end(fx.t, "phoenix");
	cr_assert_eq(tether_respawn(fx.t, "phoenix", NULL), 0,
		     "%s", tether_last_error(fx.t));
	cr_assert_eq(tether_kill(fx.t, "phoenix", SIGKILL), 0);
	fx_wait_end(fx.t, "phoenix");
	cr_assert_eq(tether_ack(fx.t, "phoenix"), 0);
	/* One record per respawn replaced, nothing of it left open. */
	fx_expect_fds(fx.pid, base, "after three respawns and an ack");
}

Test(respawn, a_running_worker_is_ebusy_and_untouched)
{
	pid_t pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sleep", "100"), .label = "alive" });
	int rc = tether_respawn(fx.t, "alive", NULL);

	cr_expect_eq(rc, -EBUSY, "%d (%s)", rc, tether_last_error(fx.t));
	cr_expect(strstr(tether_last_error(fx.t), "still runs"), "%s",
		  tether_last_error(fx.t));
	cr_expect(fx_alive(pid));
	cr_expect_eq(fx_children_named(fx.pid, "sleep", NULL), 1);
}

Test(respawn, a_closed_server_fd_is_ebadf_naming_it)
{
	struct tether_worker_ex *v;
	const struct tether_worker_ex *x;
	char want[128];
	int fds[1][2];
	long fd;
	pid_t pid;
	int rc;

	fd = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	cr_assert_geq(fd, 0);
	fds[0][0] = 9;
	fds[0][1] = (int)fd;
	pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("true"), .label = "needsfd",
		.fds = (const int (*)[2])fds, .nfds = 1 });
	fx_wait_end(fx.t, "needsfd");
	cr_assert_eq(fx_close(fx.t, (int)fd), 0);
	rc = tether_respawn(fx.t, "needsfd", NULL);
	cr_expect_eq(rc, -EBADF, "%d (%s)", rc, tether_last_error(fx.t));
	snprintf(want, sizeof(want), "server fd %ld (the worker's fd 9)", fd);
	cr_expect(strstr(tether_last_error(fx.t), want), "\"%s\" lacks \"%s\"",
		  tether_last_error(fx.t), want);
	/* Nothing started; the record stays for a later try. */
	cr_expect_eq(fx_children_named(fx.pid, "true", NULL), 0);
	x = psx_find(fx.t, pid, &v);
	cr_expect_not_null(x, "the record went with the failed respawn");
	tether_free(v);
}

Test(respawn, a_failed_exec_keeps_the_old_record)
{
	struct tether_worker_ex *v;
	const struct tether_worker_ex *x;
	char prog[256];
	pid_t pid;
	int rc;

	fx_path(prog, sizeof(prog), "prog");
	fx_write_file(prog, "#!/bin/sh\nexit 4\n", strlen("#!/bin/sh\nexit 4\n"));
	cr_assert_eq(chmod(prog, 0700), 0);
	pid = fx_spawn_ok(fx.t, &(struct tether_spawn){ .argv = ARGV(prog),
						    .label = "gone" });
	cr_assert_eq(fx_wait_end(fx.t, "gone").exit_code, 4);
	cr_assert_eq(unlink(prog), 0);
	rc = tether_respawn(fx.t, "gone", NULL);
	cr_expect_eq(rc, -ENOENT, "%d (%s)", rc, tether_last_error(fx.t));
	x = psx_find(fx.t, pid, &v);
	cr_expect_not_null(x, "the old record went with the failed exec");
	if (x)
		cr_expect_eq(x->w.exit_code, 4);
	tether_free(v);
}

Test(respawn, an_unknown_or_acknowledged_worker_is_esrch)
{
	int rc = tether_respawn(fx.t, "nobody", NULL);

	cr_expect_eq(rc, -ESRCH, "%d", rc);
	fx_spawn_ok(fx.t, &(struct tether_spawn){ .argv = ARGV("true"),
					       .label = "acked" });
	fx_wait_end(fx.t, "acked");
	cr_assert_eq(tether_ack(fx.t, "acked"), 0);
	rc = tether_respawn(fx.t, "acked", NULL);
	cr_expect_eq(rc, -ESRCH, "%d", rc);
	cr_expect_eq(tether_respawn(fx.t, "", NULL), -EINVAL);
}

Test(respawn, under_its_own_policy_again)
{
	struct tether_respawned r = TETHER_RESPAWNED_INIT;
	char pol[256], script[512], gate[256];

	gated(script, sizeof(script), gate, sizeof(gate));
	fx_path(pol, sizeof(pol), "w.policy");
	fx_write_file(pol, "default allow\ndeny mkdirat EACCES\n",
		      strlen("default allow\ndeny mkdirat EACCES\n"));
	fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sh", "-c", script), .label = "filtered",
		.policy = pol });
	fx_wait_end(fx.t, "filtered");
	fx_write_file(gate, "", 0);
	cr_assert_eq(tether_respawn(fx.t, "filtered", &r), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq(fx_status_field(r.pid, "Seccomp"), 2,
		     "the respawned worker runs without its filter");
	cr_expect_eq(fx_status_field(r.pid, "NoNewPrivs"), 1);
}

Test(respawn, by_pid_and_not_by_an_observer)
{
	struct tether_respawned r = TETHER_RESPAWNED_INIT;
	struct tether *obs;
	char target[32];
	pid_t pid = fx_spawn_ok(fx.t, &(struct tether_spawn){
		.argv = ARGV("sh", "-c", "exit 0") });

	snprintf(target, sizeof(target), "%d", (int)pid);
	fx_wait_end(fx.t, target);
	obs = fx_observe(fx.sock);
	cr_expect_eq(tether_respawn(obs, target, NULL), -EBUSY,
		     "an observer respawned");
	tether_disconnect(obs);
	cr_assert_eq(tether_respawn(fx.t, target, &r), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq(r.respawned_from, pid);
	cr_expect_str_eq(r.label, "");
	snprintf(target, sizeof(target), "%d", (int)r.pid);
	cr_expect_eq(fx_wait_end(fx.t, target).exit_code, 0);
}
