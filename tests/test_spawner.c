/*
 * Workers and policies, with real processes: a worker's own seccomp
 * policy (SPAWN "policy"), and the spawner of a server that runs under
 * --policy (server/workers/spawner.c).
 *
 * Covered: a worker policy that denies mkdir (the worker runs, mkdir
 * fails, the directory is not there), one with a syntax error (EINVAL,
 * the line in the message), one that denies execve (the spawn fails),
 * the library's checks of the policy file; under a server policy: the
 * spawner is a child of tetherd named tetherd-spawner, workers are
 * tetherd's children (not the spawner's) without the server's filter,
 * exit records, captured output, mapped fds, exec errors and a large
 * request all work through it, a worker policy still applies, a SIGKILLed
 * spawner makes SPAWN fail with EPIPE while the server goes on, a
 * stopped one is given up after its timeout, the spawner goes with the
 * server, and a server policy without execve refuses SPAWN.
 *
 * Clean-up kills whatever descends from the test process (servers,
 * spawners, workers), as tests/test_workers.c does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define WAIT_MS 10000
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void sp_fini(void);

TestSuite(wpolicy, .init = fx_init_server, .fini = sp_fini, .timeout = 30);
TestSuite(spawner, .init = fx_init_dir, .fini = sp_fini, .timeout = 30);

/* ---- /proc ------------------------------------------------------------- */




/* A line of /proc/PID/status as a number ("Seccomp:"), -1 if absent. */
static int status_field(pid_t pid, const char *field)
{
	char path[64], line[256];
	FILE *f;
	int v = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)))
			v = atoi(line + strlen(field));
	fclose(f);
	return v;
}

/* The live children of ppid named comm: how many, the last one seen. */
static int children_named(pid_t ppid, const char *comm, pid_t *last)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		struct fx_pstat ps;
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid <= 0 || !fx_read_pstat(pid, &ps) || ps.ppid != ppid ||
		    ps.state == 'Z' || strcmp(ps.comm, comm))
			continue;
		n++;
		if (last)
			*last = pid;
	}
	closedir(d);
	return n;
}

static pid_t spawner_of(pid_t server)
{
	pid_t pid = 0;
	int n = children_named(server, "tetherd-spawner", &pid);

	cr_assert_eq(n, 1, "server %d has %d tetherd-spawner children",
		     (int)server, n);
	return pid;
}

/* ---- clean-up: everything that descends from us -------------------------- */


static void sp_fini(void)
{
	fx_fini();
	fx_kill_descendants();
}

/* ---- helpers --------------------------------------------------------------- */

/* A policy file in the test directory; its path into path. */
static void policy_file(char *path, size_t size, const char *name,
			const char *text)
{
	fx_path(path, size, name);
	fx_write_file(path, text, strlen(text));
}

/* A server of our own at fx.sock, under the policy in text. */
static void start_policy_server(const char *text)
{
	static char path[256];
	const char *extra[] = { "--policy", path, NULL };
	int rc;

	policy_file(path, sizeof(path), "server.policy", text);
	rc = fx_start(fx.sock, extra, &fx.t);
	cr_assert_eq(rc, 0, "tether_start --policy: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.pid = tether_info(fx.t)->pid;
}

static pid_t spawn_ok(const struct tether_spawn *sp)
{
	pid_t pid = 0;
	int rc = tether_spawn(fx.t, sp, &pid);

	cr_assert_eq(rc, 0, "tether_spawn %s: %s (%s)", sp->argv[0],
		     strerror(-rc), tether_last_error(fx.t));
	cr_assert_gt(pid, 0);
	return pid;
}

/* The spawn must fail with err; its message is returned. */
static const char *spawn_fails(const struct tether_spawn *sp, int err)
{
	pid_t pid = 0;
	int rc = tether_spawn(fx.t, sp, &pid);

	cr_assert_eq(rc, -err, "tether_spawn %s: %d (%s), expected -%s",
		     sp->argv[0], rc, tether_last_error(fx.t), strerror(err));
	return tether_last_error(fx.t);
}

static struct tether_worker wait_end(pid_t pid)
{
	struct tether_worker w;
	char target[32];
	int rc;

	snprintf(target, sizeof(target), "%d", (int)pid);
	rc = tether_wait(fx.t, target, WAIT_MS, &w);
	cr_assert_eq(rc, 0, "tether_wait %s: %s (%s)", target, strerror(-rc),
		     tether_last_error(fx.t));
	cr_assert(!w.timeout, "worker %s still runs", target);
	return w;
}

static void assert_exited(pid_t pid, int code)
{
	struct tether_worker w = wait_end(pid);

	cr_assert_eq(w.state, TETHER_W_EXITED, "worker %d: state %d signal %d",
		     (int)pid, (int)w.state, w.signal);
	cr_assert_eq(w.exit_code, code, "worker %d exited %d, expected %d",
		     (int)pid, w.exit_code, code);
}

/* The first line of a file, "" if there is none. */
static void read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");

	buf[0] = '\0';
	if (f && fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = '\0';
	if (f)
		fclose(f);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* glibc's mkdir() is the mkdir syscall on x86_64, mkdirat elsewhere. */
static const char deny_mkdir[] = "default allow\n"
				 "deny mkdirat EACCES\n"
				 "deny mkdir EACCES\n";

/* sh -c 'mkdir DIR; echo $? > FILE' under policy (NULL: none): the
 * worker exits 0, FILE says what mkdir returned. */
static pid_t spawn_mkdir(const char *policy, const char *dir,
			 const char *result)
{
	char script[1024];
	struct tether_spawn sp = { .argv = ARGV("/bin/sh", "-c", script),
				   .policy = policy };

	snprintf(script, sizeof(script),
		 "mkdir '%s' 2>/dev/null; echo $? > '%s'", dir, result);
	return spawn_ok(&sp);
}

/* ===================================================================== */
/* wpolicy: a worker's own policy, on a server without one              */
/* ===================================================================== */

Test(wpolicy, denied_mkdir_fails_in_the_worker)
{
	char pol[256], dir[256], res[256], line[64];
	pid_t pid;

	policy_file(pol, sizeof(pol), "w.policy", deny_mkdir);
	fx_path(dir, sizeof(dir), "made");
	fx_path(res, sizeof(res), "result");
	pid = spawn_mkdir(pol, dir, res);
	assert_exited(pid, 0);
	read_line(res, line, sizeof(line));
	cr_assert_str_eq(line, "1", "mkdir under the policy returned %s", line);
	cr_assert_not(exists(dir), "%s was made despite the policy", dir);
}

Test(wpolicy, without_a_policy_mkdir_works)
{
	char dir[256], res[256], line[64];
	pid_t pid;

	fx_path(dir, sizeof(dir), "made");
	fx_path(res, sizeof(res), "result");
	pid = spawn_mkdir(NULL, dir, res);
	assert_exited(pid, 0);
	read_line(res, line, sizeof(line));
	cr_assert_str_eq(line, "0");
	cr_assert(exists(dir));
}

Test(wpolicy, worker_runs_under_its_filter_with_no_new_privs)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("sleep", "100"),
				   .policy = pol };
	pid_t pid;

	policy_file(pol, sizeof(pol), "w.policy", deny_mkdir);
	pid = spawn_ok(&sp);
	cr_assert_eq(status_field(pid, "Seccomp:"), 2);
	cr_assert_eq(status_field(pid, "NoNewPrivs:"), 1);
	/* The server itself is not filtered. */
	cr_assert_eq(status_field(fx.pid, "Seccomp:"), 0);
}

Test(wpolicy, syntax_error_is_einval_with_the_line)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("true"), .policy = pol };
	const char *msg;

	policy_file(pol, sizeof(pol), "bad.policy",
		    "# a worker policy\n"
		    "default allow\n"
		    "allow no_such_syscall_anywhere\n");
	msg = spawn_fails(&sp, EINVAL);
	cr_assert(strstr(msg, ":3:"), "no line number 3 in \"%s\"", msg);
	cr_assert(strstr(msg, "bad.policy"), "no file name in \"%s\"", msg);
	cr_assert_eq(children_named(fx.pid, "true", NULL), 0);
}

Test(wpolicy, denied_execve_fails_the_spawn)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("/bin/true"), .policy = pol };
	const char *msg;

	policy_file(pol, sizeof(pol), "noexec.policy",
		    "default allow\ndeny execve EPERM\ndeny execveat EPERM\n");
	msg = spawn_fails(&sp, EPERM);
	cr_assert(strstr(msg, "exec") || strstr(msg, "seccomp"),
		  "the message \"%s\" names neither exec nor seccomp", msg);
}

Test(wpolicy, default_deny_without_execve_fails_the_spawn)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("/bin/true"), .policy = pol };

	policy_file(pol, sizeof(pol), "deny.policy", "default deny EPERM\n");
	spawn_fails(&sp, EPERM);
}

Test(wpolicy, missing_policy_file_is_enoent)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("true"), .policy = pol };

	fx_path(pol, sizeof(pol), "none.policy");
	spawn_fails(&sp, ENOENT);
}

Test(wpolicy, symlinked_policy_file_is_refused)
{
	char pol[256], link[256];
	struct tether_spawn sp = { .argv = ARGV("true"), .policy = link };

	policy_file(pol, sizeof(pol), "w.policy", deny_mkdir);
	fx_path(link, sizeof(link), "link.policy");
	cr_assert_eq(symlink(pol, link), 0);
	spawn_fails(&sp, ELOOP);
}

Test(wpolicy, directory_as_policy_is_einval)
{
	struct tether_spawn sp = { .argv = ARGV("true"), .policy = fx.dir };

	spawn_fails(&sp, EINVAL);
}

Test(wpolicy, policy_over_a_mebibyte_is_refused)
{
	char pol[256];
	struct tether_spawn sp = { .argv = ARGV("true"), .policy = pol };
	size_t size = (1u << 20) + 1;
	char *text = malloc(size);

	cr_assert_not_null(text);
	memset(text, '#', size);
	text[size - 1] = '\n';
	fx_path(pol, sizeof(pol), "big.policy");
	fx_write_file(pol, text, size);
	free(text);
	spawn_fails(&sp, EFBIG);
}

/* ===================================================================== */
/* spawner: a server under --policy                                      */
/* ===================================================================== */

Test(spawner, is_a_child_of_the_server_named_tetherd_spawner)
{
	pid_t sp;

	start_policy_server(deny_mkdir);
	sp = spawner_of(fx.pid);
	cr_assert(fx_alive(sp));
	/* Only its socket and 0-2 (stdin and stdout /dev/null, stderr the
	 * log). */
	cr_assert_eq(fx_count_fds(sp), 4, "the spawner holds %d fds",
		     fx_count_fds(sp));
	cr_assert_eq(status_field(sp, "Seccomp:"), 0);
	cr_assert_eq(status_field(fx.pid, "Seccomp:"), 2);
}

Test(spawner, worker_is_the_servers_child_without_its_filter)
{
	struct tether_spawn sp = { .argv = ARGV("sleep", "100") };
	struct fx_pstat ps;
	pid_t pid;

	start_policy_server(deny_mkdir);
	pid = spawn_ok(&sp);
	cr_assert(fx_read_pstat(pid, &ps), "no /proc entry for worker %d",
		  (int)pid);
	cr_assert_eq(ps.ppid, fx.pid, "worker %d has parent %d, not tetherd %d"
		     " (the spawner is %d)", (int)pid, (int)ps.ppid,
		     (int)fx.pid, (int)spawner_of(fx.pid));
	cr_assert_eq(status_field(pid, "Seccomp:"), 0);
	cr_assert_eq(status_field(pid, "NoNewPrivs:"), 0);
}

Test(spawner, worker_may_do_what_the_server_policy_denies)
{
	char dir[256], res[256], line[64];
	struct tether_call c = { .nr = SYS_mkdirat, .nargs = 3 };
	pid_t pid;
	int rc;

	start_policy_server(deny_mkdir);
	fx_path(dir, sizeof(dir), "made");
	fx_path(res, sizeof(res), "result");
	/* The controller may not... */
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(dir);
	c.args[2] = TETHER_INT(0700);
	rc = tether_call(fx.t, &c);
	cr_assert(rc == -EACCES || (rc == 0 && c.ret == -EACCES),
		  "mkdirat through the server: rc %d ret %ld", rc, c.ret);
	cr_assert_not(exists(dir));
	/* ...the worker may. */
	pid = spawn_mkdir(NULL, dir, res);
	assert_exited(pid, 0);
	read_line(res, line, sizeof(line));
	cr_assert_str_eq(line, "0");
	cr_assert(exists(dir));
}

Test(spawner, worker_policy_applies_through_the_spawner)
{
	char pol[256], dir[256], res[256], line[64];
	pid_t pid;

	start_policy_server("default allow\n");
	policy_file(pol, sizeof(pol), "w.policy", deny_mkdir);
	fx_path(dir, sizeof(dir), "made");
	fx_path(res, sizeof(res), "result");
	pid = spawn_mkdir(pol, dir, res);
	assert_exited(pid, 0);
	read_line(res, line, sizeof(line));
	cr_assert_str_eq(line, "1");
	cr_assert_not(exists(dir));
}

Test(spawner, exit_records_kill_and_ack_work)
{
	struct tether_spawn quick = { .argv = ARGV("sh", "-c", "exit 7") };
	struct tether_spawn slow = { .argv = ARGV("sleep", "100"),
				     .label = "napper" };
	struct tether_worker w;
	pid_t a, b;

	start_policy_server("default allow\n");
	a = spawn_ok(&quick);
	b = spawn_ok(&slow);
	assert_exited(a, 7);
	cr_assert_eq(tether_kill(fx.t, "napper", SIGKILL), 0, "%s",
		     tether_last_error(fx.t));
	w = wait_end(b);
	cr_assert_eq(w.state, TETHER_W_KILLED);
	cr_assert_eq(w.signal, SIGKILL);
	cr_assert_eq(tether_ack(fx.t, "napper"), 0);
	/* The spawner is not an orphan the server reaped. */
	cr_assert(fx_alive(spawner_of(fx.pid)));
}

Test(spawner, exec_errors_still_come_back)
{
	struct tether_spawn sp = { .argv = ARGV("/no/such/program") };
	struct tether_spawn cwd = { .argv = ARGV("true"), .cwd = "/no/such" };
	const char *msg;

	start_policy_server("default allow\n");
	msg = spawn_fails(&sp, ENOENT);
	cr_assert(strstr(msg, "exec"), "message: %s", msg);
	msg = spawn_fails(&cwd, ENOENT);
	cr_assert(strstr(msg, "chdir"), "message: %s", msg);
}

static int log_cb(const void *data, size_t len, uint64_t off, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf);

	(void)off;
	if (have + len < 256) {
		memcpy(buf + have, data, len);
		buf[have + len] = '\0';
	}
	return 0;
}

Test(spawner, captured_output_and_mapped_fds_pass_through)
{
	char out[256], line[64], logged[256] = "", target[16];
	struct tether_spawn sp = { .argv = ARGV("sh", "-c",
						"echo out; echo err >&2; "
						"echo mapped >&5"),
				   .capture = true };
	int fds[1][2];
	pid_t pid;
	int fd;

	start_policy_server("default allow\n");
	fx_path(out, sizeof(out), "mapped.txt");
	fd = fx_openat(fx.t, AT_FDCWD, out,
			   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "openat in the server: %d (%s)", fd,
		      tether_last_error(fx.t));
	fds[0][0] = 5;
	fds[0][1] = fd;
	sp.fds = (const int (*)[2])fds;
	sp.nfds = 1;
	pid = spawn_ok(&sp);
	assert_exited(pid, 0);
	read_line(out, line, sizeof(line));
	cr_assert_str_eq(line, "mapped");
	snprintf(target, sizeof(target), "%d", (int)pid);
	cr_assert_eq(tether_logs(fx.t, target, 0, false, log_cb, logged), 0);
	cr_assert(strstr(logged, "out\n") && strstr(logged, "err\n"),
		  "captured: \"%s\"", logged);
	cr_assert_eq(fx_close(fx.t, fd), 0);
}

Test(spawner, a_large_request_goes_through)
{
	enum { NARGS = 300, ARGLEN = 1000 };
	const char **argv = calloc(NARGS + 5, sizeof(char *));
	char *arg = malloc(ARGLEN + 1), res[256], script[300], line[64];
	struct tether_spawn sp = { 0 };
	pid_t pid;

	cr_assert(argv && arg);
	memset(arg, 'x', ARGLEN);
	arg[ARGLEN] = '\0';
	start_policy_server("default allow\n");
	fx_path(res, sizeof(res), "count");
	snprintf(script, sizeof(script), "echo $# > '%s'", res);
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	for (int i = 0; i < NARGS; i++)
		argv[4 + i] = arg;
	sp.argv = argv;
	pid = spawn_ok(&sp);
	assert_exited(pid, 0);
	read_line(res, line, sizeof(line));
	cr_assert_eq(atoi(line), NARGS, "the worker got %s arguments", line);
	free(arg);
	free(argv);
}

Test(spawner, spawning_leaks_no_server_fd)
{
	struct tether_spawn sp = { .argv = ARGV("true"), .capture = true };
	int before;

	start_policy_server("default allow\n");
	assert_exited(spawn_ok(&sp), 0);
	before = fx_count_fds(fx.pid);
	for (int i = 0; i < 10; i++)
		assert_exited(spawn_ok(&sp), 0);
	cr_assert_eq(fx_wait_fds(fx.pid, before), before);
	cr_assert_eq(fx_count_fds(spawner_of(fx.pid)), 4);
}

Test(spawner, killed_spawner_fails_spawn_with_epipe_and_server_goes_on)
{
	struct tether_spawn sp = { .argv = ARGV("true") };
	struct tether_worker *v;
	const char *msg;
	size_t n;
	pid_t spw;

	start_policy_server("default allow\n");
	assert_exited(spawn_ok(&sp), 0);
	spw = spawner_of(fx.pid);
	cr_assert_eq(kill(spw, SIGKILL), 0);
	cr_assert(fx_wait_gone(spw), "spawner %d still there", (int)spw);
	msg = spawn_fails(&sp, EPIPE);
	cr_assert(strstr(msg, "spawner gone"), "message: %s", msg);
	msg = spawn_fails(&sp, EPIPE);
	cr_assert(strstr(msg, "spawner gone"), "message: %s", msg);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_eq(tether_ps(fx.t, &v, &n), 0);
	tether_free(v);
	cr_assert(fx_alive(fx.pid));
	/* Reaped by the server, not counted as an orphan. */
	cr_assert_eq(children_named(fx.pid, "tetherd-spawner", NULL), 0);
}

Test(spawner, stopped_spawner_times_out_and_is_given_up, .timeout = 40)
{
	struct tether_spawn sp = { .argv = ARGV("true") };
	const char *msg;
	pid_t spw;

	start_policy_server("default allow\n");
	spw = spawner_of(fx.pid);
	cr_assert_eq(kill(spw, SIGSTOP), 0);
	msg = spawn_fails(&sp, ETIMEDOUT);
	cr_assert(strstr(msg, "spawner"), "message: %s", msg);
	cr_assert(fx_wait_gone(spw), "the stuck spawner was not killed");
	msg = spawn_fails(&sp, EPIPE);
	cr_assert(strstr(msg, "spawner gone"), "message: %s", msg);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(spawner, goes_with_the_server)
{
	pid_t spw;

	start_policy_server("default allow\n");
	spw = spawner_of(fx.pid);
	cr_assert_eq(tether_shutdown(fx.t), 0, "%s", tether_last_error(fx.t));
	cr_assert(fx_wait_gone(fx.pid));
	cr_assert(fx_wait_gone(spw), "spawner %d outlived the server",
		  (int)spw);
}

Test(spawner, dies_with_a_killed_server)
{
	pid_t spw;

	start_policy_server("default allow\n");
	spw = spawner_of(fx.pid);
	cr_assert_eq(kill(fx.pid, SIGKILL), 0);
	cr_assert(fx_wait_gone(fx.pid));
	cr_assert(fx_wait_gone(spw), "spawner %d outlived the server",
		  (int)spw);
}

/* What the server itself calls to spawn (pipes, SCM_RIGHTS, memfds, the
 * worker's filter compiled with libseccomp, pidfd_open) must get past
 * its own filter whatever the policy denies. */
Test(spawner, spawning_needs_nothing_a_strict_policy_denies)
{
	enum { NARGS = 100, ARGLEN = 1000 };
	const char **argv = calloc(NARGS + 5, sizeof(char *));
	char *arg = malloc(ARGLEN + 1), pol[256], res[256], script[600];
	char line[64], target[16], logged[256] = "";
	struct tether_spawn sp = { .capture = true, .policy = pol };
	pid_t pid;

	cr_assert(argv && arg);
	memset(arg, 'y', ARGLEN);
	arg[ARGLEN] = '\0';
	start_policy_server("default deny EPERM\nallow execve\n");
	policy_file(pol, sizeof(pol), "w.policy", deny_mkdir);
	fx_path(res, sizeof(res), "made");
	snprintf(script, sizeof(script),
		 "echo $#; mkdir '%s' || echo refused", res);
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = script;
	argv[3] = "sh";
	for (int i = 0; i < NARGS; i++)
		argv[4 + i] = arg;
	sp.argv = argv;
	pid = spawn_ok(&sp);
	assert_exited(pid, 0);
	snprintf(target, sizeof(target), "%d", (int)pid);
	cr_assert_eq(tether_logs(fx.t, target, 0, false, log_cb, logged), 0,
		     "%s", tether_last_error(fx.t));
	snprintf(line, sizeof(line), "%d\n", NARGS);
	cr_assert(strstr(logged, line) && strstr(logged, "refused"),
		  "captured: \"%s\"", logged);
	cr_assert_not(exists(res));
	cr_assert_eq(tether_ack(fx.t, target), 0, "%s", tether_last_error(fx.t));
	free(arg);
	free(argv);
}

Test(spawner, server_policy_without_execve_refuses_spawn)
{
	struct tether_spawn sp = { .argv = ARGV("true") };
	const char *msg;

	start_policy_server("default allow\ndeny execve EPERM\n");
	msg = spawn_fails(&sp, EPERM);
	cr_assert(strstr(msg, "execve"), "message: %s", msg);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

Test(spawner, no_policy_means_no_spawner)
{
	struct tether_spawn sp = { .argv = ARGV("sleep", "100") };
	struct fx_pstat ps;
	pid_t pid;
	int rc;

	rc = fx_start(fx.sock, NULL, &fx.t);
	cr_assert_eq(rc, 0, "tether_start: %s", strerror(-rc));
	fx.pid = tether_info(fx.t)->pid;
	cr_assert_eq(children_named(fx.pid, "tetherd-spawner", NULL), 0);
	pid = spawn_ok(&sp);
	cr_assert(fx_read_pstat(pid, &ps));
	cr_assert_eq(ps.ppid, fx.pid);
}
