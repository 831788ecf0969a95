/*
 * The syscall policy on a real tetherd: refused in user space with the
 * rule that refused it, refused again by the kernel's seccomp filter and
 * the ring's restrictions when the user-space check is compiled out
 * (tests/tetherd-unchecked), who may connect and what a read-only peer
 * may do, and that no policy behaves as before.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"
#include "systab.h"

/* The line numbers below are the contract of the messages. */
static const char policy_text[] =
	"# tests/test_policy_server.c\n"		/* 1 */
	"default deny EPERM\n"				/* 2 */
	"allow getpid\n"				/* 3 */
	"allow @info\n"					/* 4 */
	"allow openat arg2 & O_ACCMODE == O_RDONLY\n"	/* 5 */
	"allow read\n"					/* 6 */
	"allow close\n"					/* 7 */
	"allow kill arg1 == SIGTERM\n"			/* 8 */
	"deny fchmodat EACCES\n"			/* 9 */
	"allow fstat\n"					/* 10 */
	"allow getpgid arg0 != 1\n";			/* 11 */

static char policy_path[256], log_path[256];

static void pol_init(void)
{
	fx_init_dir();
	fx_path(policy_path, sizeof(policy_path), "test.policy");
	fx_path(log_path, sizeof(log_path), "tetherd.log");
	fx_write_file(policy_path, policy_text, strlen(policy_text));
}

TestSuite(user, .init = pol_init, .fini = fx_fini, .timeout = 30);
TestSuite(kernel, .init = pol_init, .fini = fx_fini, .timeout = 30);
TestSuite(access, .init = pol_init, .fini = fx_fini, .timeout = 30);
TestSuite(none, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);

/* tetherd (or the unchecked build) with the policy and a log. */
static void start_policy(bool unchecked)
{
	const char *extra[] = { "--policy", policy_path, NULL };
	struct tether_start_opts so = { .socket_path = fx.sock,
					.log_path = log_path,
					.policy = policy_path };
	int rc;

	if (!unchecked) {
		so.tetherd = fx_tetherd();
		so.policy = NULL;
		so.extra_args = extra;	/* the same, through extra args */
	} else {
		so.tetherd = getenv("TETHERD_UNCHECKED");
		cr_assert(so.tetherd, "TETHERD_UNCHECKED is not set");
	}
	rc = tether_start(&so, &fx.t);
	cr_assert_eq(rc, 0, "start: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.pid = tether_info(fx.t)->pid;
	fx_track(fx.pid);
}

/* One syscall; returns the library's rc, the syscall's in *ret. */
/* Up to three arguments: as many as the syscall takes. */
static int call3(long nr, struct tether_arg a0, struct tether_arg a1,
		 struct tether_arg a2, long *ret)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(nr);
	struct tether_call c = { .nr = nr, .nargs = sc ? sc->max_args : 3,
				 .args = { a0, a1, a2 } };
	int rc;

	if (c.nargs > 3)
		c.nargs = 3;
	rc = tether_call(fx.t, &c);

	*ret = c.ret;
	return rc;
}

static bool file_has(const char *path, const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* The server still answers, with its own pid. */
static void alive(void)
{
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_not(fx_gone(fx.pid));
}

/* ---- user space: the first enforcement --------------------------------- */

Test(user, allowed_calls_run)
{
	char path[256];
	long ret;

	start_policy(false);
	alive();
	fx_path(path, sizeof(path), "test.policy");
	cr_assert_eq(call3(SYS_openat, TETHER_INT(AT_FDCWD), TETHER_STR(path),
			   TETHER_INT(O_RDONLY | O_CLOEXEC), &ret), 0);
	cr_assert_geq(ret, 0, "openat for reading: %ld", ret);
	cr_assert_eq(call3(SYS_close, TETHER_INT(ret), TETHER_INT(0),
			   TETHER_INT(0), &ret), 0);
	cr_assert_eq(ret, 0);
}

Test(user, denied_by_default_names_the_default)
{
	char path[256];
	long ret;
	int rc;

	start_policy(false);
	fx_path(path, sizeof(path), "made-by-policy-test");
	rc = call3(SYS_mkdirat, TETHER_INT(AT_FDCWD), TETHER_STR(path),
		   TETHER_INT(0700), &ret);
	cr_assert_eq(rc, -EPERM, "got %d (%s)", rc, tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), "denied by policy"),
		  "%s", tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), policy_path),
		  "%s", tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), "default: deny EPERM"),
		  "%s", tether_last_error(fx.t));
	cr_assert_eq(access(path, F_OK), -1, "the directory was made");
	alive();
}

Test(user, deny_rule_answers_its_errno_and_line)
{
	char path[256];
	long ret;
	int rc;

	start_policy(false);
	fx_path(path, sizeof(path), "test.policy");
	rc = call3(SYS_fchmodat, TETHER_INT(AT_FDCWD), TETHER_STR(path),
		   TETHER_INT(0777), &ret);
	cr_assert_eq(rc, -EACCES, "got %d (%s)", rc, tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), "line 9"), "%s",
		  tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), "deny fchmodat"), "%s",
		  tether_last_error(fx.t));
}

Test(user, argument_condition_decides)
{
	char path[256];
	long ret;
	int rc;

	start_policy(false);
	fx_path(path, sizeof(path), "written");
	rc = call3(SYS_openat, TETHER_INT(AT_FDCWD), TETHER_STR(path),
		   TETHER_INT(O_WRONLY | O_CREAT | O_CLOEXEC), &ret);
	cr_assert_eq(rc, -EPERM, "got %d", rc);
	cr_assert_eq(access(path, F_OK), -1, "the file was created");
	/* kill: SIGTERM only.  To a pid that cannot exist: ESRCH means the
	 * kernel ran it. */
	cr_assert_eq(call3(SYS_kill, TETHER_INT(4194304 + 1),
			   TETHER_INT(SIGTERM), TETHER_INT(0), &ret), 0);
	cr_assert_eq(ret, -ESRCH);
	rc = call3(SYS_kill, TETHER_INT(4194304 + 1), TETHER_INT(SIGKILL),
		   TETHER_INT(0), &ret);
	cr_assert_eq(rc, -EPERM, "got %d", rc);
	alive();
}

/* The kernel reads a pid or a signal from the low 32 bits of its
 * register: the policy must see what the kernel will.  Before, pid 1 +
 * 2^32 passed "arg0 != 1" and the kernel ran getpgid(1) -- a deny rule
 * on pid N let N + 2^32 through the same way. */
Test(user, numbers_are_checked_as_the_kernel_reads_them)
{
	long ret;
	int rc;

	start_policy(false);
	rc = call3(SYS_getpgid, TETHER_INT((1ULL << 32) + 1), TETHER_INT(0),
		   TETHER_INT(0), &ret);
	cr_expect_eq(rc, -EPERM, "getpgid(1 + 2^32): %d, ret %ld", rc, ret);
	cr_assert_eq(call3(SYS_getpgid, TETHER_INT(0), TETHER_INT(0),
			   TETHER_INT(0), &ret), 0);
	cr_expect_gt(ret, 0);
	/* SIGTERM + 2^32 is SIGTERM: allowed, and the kernel ran it. */
	rc = call3(SYS_kill, TETHER_INT(4194304 + 1),
		   TETHER_INT((1ULL << 32) + SIGTERM), TETHER_INT(0), &ret);
	cr_expect_eq(rc, 0, "kill(.., SIGTERM + 2^32): %d", rc);
	cr_expect_eq(ret, -ESRCH);
	/* -1 is -1 however it is written: sign-extended or not */
	rc = call3(SYS_kill, TETHER_INT(0xffffffffULL), TETHER_INT(SIGKILL),
		   TETHER_INT(0), &ret);
	cr_expect_eq(rc, -EPERM, "kill(-1 as 2^32 - 1, SIGKILL): %d", rc);
	alive();
}

Test(user, denied_calls_are_audited)
{
	long ret;

	start_policy(false);
	cr_assert_eq(call3(SYS_getpgrp, TETHER_INT(0), TETHER_INT(0),
			   TETHER_INT(0), &ret), -EPERM);
	for (int i = 0; i < 100 && !file_has(log_path, "audit:"); i++)
		kit_nap_ms(10);
	cr_assert(file_has(log_path, "audit:"), "no audit line in the log");
	cr_assert(file_has(log_path, "denied by policy"));
}

Test(user, async_request_refused_before_submission)
{
	char path[256];
	struct tether_call c = { .nr = SYS_openat, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	int rc;

	start_policy(false);
	fx_path(path, sizeof(path), "async-written");
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(path);
	c.args[2] = TETHER_INT(O_WRONLY | O_CREAT | O_CLOEXEC);
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, -EPERM, "got %d", rc);
	cr_assert(strstr(tether_last_error(fx.t), "line") ||
		  strstr(tether_last_error(fx.t), "default"));
	cr_assert_eq(access(path, F_OK), -1);
	alive();
}

/* An entry that uses an earlier result is a number only at its turn:
 * checked then, refused alone, and the batch goes on. */
Test(user, batch_entry_with_a_reference_checked_at_its_turn)
{
	struct tether_call c[3] = {
		{ .nr = SYS_openat, .nargs = 3 },
		{ .nr = SYS_fsync, .nargs = 1 },	/* default: deny */
		{ .nr = SYS_close, .nargs = 1 },
	};
	const struct tether_arg first = { .kind = TETHER_ARG_RESULT,
					  .value = 0 };
	int at = 0, rc;

	start_policy(false);
	c[0].args[0] = TETHER_INT(AT_FDCWD);
	c[0].args[1] = TETHER_STR(policy_path);
	c[0].args[2] = TETHER_INT(O_RDONLY | O_CLOEXEC);
	c[1].args[0] = first;
	c[2].args[0] = first;
	rc = tether_batch(fx.t, c, 3, 0, &at);
	cr_assert_eq(rc, 0, "tether_batch: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
	cr_assert_geq(c[0].ret, 0, "openat: %ld", c[0].ret);
	cr_assert_eq(c[1].ret, -EPERM, "fsync of entry 0's fd: %ld",
		     c[1].ret);
	cr_assert_eq(c[2].ret, 0, "close of entry 0's fd: %ld", c[2].ret);
	for (int i = 0; i < 100 && !file_has(log_path, "syscall 74 denied");
	     i++)
		kit_nap_ms(10);
	cr_assert(file_has(log_path, "syscall 74 denied by policy"));
	alive();
}

Test(user, server_ops_doing_a_syscalls_work_are_checked)
{
	char path[256];
	int rc;

	start_policy(false);
	fx_path(path, sizeof(path), "put-target");
	/* PUT writes a file: openat for writing, which the policy denies. */
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	rc = tether_put(fx.t, fd, path, 0600, NULL);
	close(fd);
	cr_assert_eq(rc, -EPERM, "got %d (%s)", rc, tether_last_error(fx.t));
	cr_assert(strstr(tether_last_error(fx.t), "PUT"), "%s",
		  tether_last_error(fx.t));
	cr_assert_eq(access(path, F_OK), -1);
	alive();
}

Test(user, policy_verb_lists_the_rules)
{
	struct tether_policy *p;

	start_policy(false);
	cr_assert_eq(tether_policy(fx.t, &p), 0);
	cr_assert(p->active);
	cr_assert_str_eq(p->path, policy_path);
	cr_assert(strstr(p->default_rule, "deny EPERM"), "%s",
		  p->default_rule);
	cr_assert_gt(p->nrules, 8, "%zu rules", p->nrules);
	bool seen = false;
	for (size_t i = 0; i < p->nrules; i++)
		seen |= strstr(p->rules[i], "5: allow openat") != NULL;
	cr_assert(seen, "no rule for line 5");
	cr_assert_null(p->rules[p->nrules], "rules[] not NULL-ended");
	tether_free(p);
}

Test(user, bad_policy_refuses_to_start_with_file_and_line)
{
	static const char bad[] = "default deny\nallow nosuchcall\n";
	const char *extra[] = { "--policy", policy_path, NULL };
	struct tether *t;
	int rc;

	fx_write_file(policy_path, bad, strlen(bad));
	rc = fx_start(fx.sock, extra, &t);
	cr_assert_lt(rc, 0);
	cr_assert(strstr(tether_last_error(NULL), ":2:"), "%s",
		  tether_last_error(NULL));
}

/* ---- the kernel: the second enforcement --------------------------------- */

Test(kernel, filter_and_no_new_privs_are_on)
{
	start_policy(false);
	cr_assert_eq(fx_status_field(fx.pid, "Seccomp"), 2);
	cr_assert_eq(fx_status_field(fx.pid, "NoNewPrivs"), 1);
}

Test(kernel, denied_syscall_refused_by_seccomp_without_the_check)
{
	char target[256], link[256];
	long ret;

	start_policy(true);
	fx_path(target, sizeof(target), "test.policy");
	fx_path(link, sizeof(link), "link");
	/* symlinkat: denied by default, and not something the server
	 * needs: nothing in user space stops it in this build. */
	cr_assert_eq(call3(SYS_symlinkat, TETHER_STR(target),
			   TETHER_INT(AT_FDCWD), TETHER_STR(link), &ret), 0,
		     "%s", tether_last_error(fx.t));
	cr_assert_eq(ret, -EPERM, "symlinkat returned %ld", ret);
	cr_assert_eq(access(link, F_OK), -1, "the link was made");
	/* The rule's own errno comes from the kernel too. */
	cr_assert_eq(call3(SYS_fchmodat, TETHER_INT(AT_FDCWD),
			   TETHER_STR(target), TETHER_INT(0777), &ret), 0);
	cr_assert_eq(ret, -EACCES, "fchmodat returned %ld", ret);
	struct stat st;
	cr_assert_eq(stat(target, &st), 0);
	cr_assert_neq(st.st_mode & 0777, 0777);
	alive();
}

Test(kernel, conditional_rule_enforced_by_seccomp)
{
	long ret;

	start_policy(true);
	cr_assert_eq(call3(SYS_kill, TETHER_INT(4194304 + 1),
			   TETHER_INT(SIGTERM), TETHER_INT(0), &ret), 0);
	cr_assert_eq(ret, -ESRCH);
	/* kill is something the server needs for itself (workers): the
	 * filter lets it through, and only user space refuses SIGKILL.
	 * What the server needs is listed in tetherd(8). */
	alive();
}

Test(kernel, denied_ring_op_refused_by_the_ring)
{
	struct tether_call c = { .nr = SYS_fsync, .nargs = 1,
				 .flags = TETHER_CALL_ASYNC,
				 .args = { TETHER_INT(0) } };
	int rc;

	start_policy(true);
	/* fsync is something the server needs itself, so the seccomp
	 * filter lets the syscall through; the policy allows no fsync, so
	 * the ring was locked without IORING_OP_FSYNC.  Submitted anyway
	 * (this build skips the user-space check), the ring refuses it. */
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, 0, "got %d (%s)", rc, tether_last_error(fx.t));
	rc = tether_collect(fx.t, c.async_id, FX_DEADLINE_MS, &c);
	cr_assert_eq(rc, 0, "collect: %d (%s)", rc, tether_last_error(fx.t));
	cr_assert_eq(c.ret, -EACCES, "the ring ran fsync: %ld", c.ret);
	alive();
}

/* ---- who may connect ----------------------------------------------------- */

struct peer_result {
	int connect_rc;
	int status_rc;
	int fds_rc;
	int call_rc;
	char text[256];
};

/* As uid 65534 (and gid 65534 when as_group): connect with flags, then
 * try status, list fds and a syscall. */
static struct peer_result as_peer(unsigned flags, bool as_group)
{
	struct peer_result r = { .connect_rc = -999 };
	pid_t child;
	int p[2], st;

	cr_assert_eq(chmod(fx.dir, 0711), 0);
	cr_assert_eq(chmod(fx.sock, 0666), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_geq(child = fork(), 0);
	if (child == 0) {
		struct tether *t;
		struct tether_status s;
		struct tether_fdinfo *v = NULL, *iv = NULL;
		size_t n = 0, ni = 0;

		fx_forked();
		close(p[0]);
		if ((as_group && (setgroups(0, NULL) < 0 ||
				  setgid(65534) < 0)) ||
		    setuid(65534) < 0) {
			r.connect_rc = -1000 - errno;
		} else {
			r.connect_rc = tether_connect(fx.sock, flags, &t);
			snprintf(r.text, sizeof(r.text), "%s",
				 tether_last_error(NULL));
			if (r.connect_rc == 0) {
				r.status_rc = tether_status(t, &s);
				r.fds_rc = tether_list_fds(t, &v, &n, &iv, &ni);
				free(v);
				free(iv);
				r.call_rc = (int)fx_getpid(t);
				snprintf(r.text, sizeof(r.text), "%s",
					 tether_last_error(t));
				tether_disconnect(t);
			}
		}
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(p[0]);
	waitpid(child, &st, 0);
	return r;
}

Test(access, read_only_peer_can_list_but_not_call)
{
	const char *extra[] = { "--read-only-uid", "65534", "--log", log_path,
				NULL };
	struct peer_result r;

	cr_assert_eq(fx_start(fx.sock, extra, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	/* Attaching as a controller: refused, and the text says why. */
	r = as_peer(0, false);
	cr_assert_eq(r.connect_rc, -EACCES, "got %d (%s)", r.connect_rc,
		     r.text);
	cr_assert(strstr(r.text, "read-only"), "%s", r.text);
	/* Observing: status and fds yes, a syscall no. */
	r = as_peer(TETHER_CONNECT_OBSERVE, false);
	cr_assert_eq(r.connect_rc, 0, "got %d (%s)", r.connect_rc, r.text);
	cr_assert_eq(r.status_rc, 0);
	cr_assert_eq(r.fds_rc, 0);
	cr_assert_lt(r.call_rc, 0, "a read-only peer ran getpid");
	alive();
	cr_assert(file_has(log_path, "audit:"), "refusal not audited");
}

Test(access, allow_gid_admits_the_group)
{
	const char *extra[] = { "--allow-gid", "65534", NULL };
	struct peer_result r;

	cr_assert_eq(fx_start(fx.sock, extra, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	tether_disconnect(fx.t);
	fx.t = NULL;
	r = as_peer(0, true);
	cr_assert_eq(r.connect_rc, 0, "got %d (%s)", r.connect_rc, r.text);
	cr_assert_eq(r.call_rc, fx.pid, "getpid as the group: %d (%s)",
		     r.call_rc, r.text);
	/* The same uid without the group is a stranger. */
	r = as_peer(0, false);
	cr_assert_eq(r.connect_rc, -EACCES, "got %d (%s)", r.connect_rc,
		     r.text);
}

Test(access, bad_gid_list_refuses_to_start)
{
	const char *extra[] = { "--allow-gid", "x1", NULL };
	struct tether *t;

	cr_assert_lt(fx_start(fx.sock, extra, &t), 0);
}

/* ---- no policy: as before ------------------------------------------------ */

Test(none, no_policy_means_no_filter_and_everything_runs)
{
	struct tether_policy *p;
	char path[256];
	long ret;

	cr_assert_eq(fx_start(fx.sock, NULL, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	cr_assert_eq(tether_policy(fx.t, &p), 0);
	cr_assert_not(p->active);
	tether_free(p);
	cr_assert_eq(fx_status_field(fx.pid, "Seccomp"), 0);
	fx_path(path, sizeof(path), "made");
	cr_assert_eq(call3(SYS_mkdirat, TETHER_INT(AT_FDCWD), TETHER_STR(path),
			   TETHER_INT(0700), &ret), 0);
	cr_assert_eq(ret, 0);
	cr_assert_eq(access(path, F_OK), 0);
}
