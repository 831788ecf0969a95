/*
 * libtether's conventions (libtether(3), Conventions), each held to on a
 * real server: the return value is the library's status and a syscall's
 * result never takes its place; what the library allocates is one block
 * for tether_free(); option structures read only as far as their
 * struct_size.  Under ASan every test here also checks that one
 * tether_free() releases everything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "fixture.h"

TestSuite(result, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(blocks, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(options, .init = fx_init_server, .fini = fx_fini, .timeout = 30);

#define SENTINEL 0x5a5a5a5aL

/* ---- the return value is the library's, the result the syscall's ---- */

/* close(2) of a descriptor the server does not have: the request ran,
 * so the library succeeded; the syscall's failure is in *ret. */
Test(result, syscall_failure_is_a_result_not_a_status)
{
	long ret = SENTINEL;
	int rc = tether_close(fx.t, 999, &ret);

	cr_assert_eq(rc, 0, "tether_close: %d (%s)", rc,
		     tether_last_error(fx.t));
	cr_assert_eq(ret, -EBADF, "close(999) gave %ld", ret);
	rc = tether_syscall(fx.t, SYS_close, 1,
			    (struct tether_arg[]){ TETHER_INT(999) }, &ret);
	cr_assert_eq(rc, 0);
	cr_assert_eq(ret, -EBADF);
}

/* The server gone: the library fails, and *ret is not touched -- there
 * was no syscall. */
Test(result, library_failure_leaves_ret_alone)
{
	long ret = SENTINEL;
	int rc;

	cr_assert_eq(kill(fx.pid, SIGKILL), 0);
	cr_assert(fx_wait_gone(fx.pid));
	rc = tether_getpid(fx.t, &ret);
	cr_assert_lt(rc, 0, "getpid on a dead server: %d", rc);
	cr_expect(rc == -ECONNRESET || rc == -EPIPE, "status %d (%s)", rc,
		  strerror(-rc));
	cr_assert_eq(ret, SENTINEL, "*ret written on a library failure");
}

/* Six arguments at most: a status with its text, not a syscall's. */
Test(result, too_many_arguments_is_a_status_with_text)
{
	struct tether_arg a[7] = { TETHER_INT(0) };
	long ret = SENTINEL;
	int rc = tether_syscall(fx.t, SYS_getpid, 7, a, &ret);

	cr_assert_eq(rc, -E2BIG);
	cr_assert_eq(ret, SENTINEL);
	cr_assert(strstr(tether_last_error(fx.t), "arguments"), "text '%s'",
		  tether_last_error(fx.t));
}

/* A failed pipe2 writes no descriptors; a good one holds both. */
Test(result, pipe2_writes_fds_only_on_success)
{
	int fds[2] = { -7, -7 };
	long ret = SENTINEL;

	cr_assert_eq(tether_pipe2(fx.t, fds, -1, &ret), 0);
	cr_assert_eq(ret, -EINVAL, "pipe2 with bad flags: %ld", ret);
	cr_assert(fds[0] == -7 && fds[1] == -7, "fds written on failure");
	cr_assert_eq(tether_pipe2(fx.t, fds, O_CLOEXEC, &ret), 0);
	cr_assert_eq(ret, 0);
	cr_assert(tether_fd_held(fx.t, fds[0]) && tether_fd_held(fx.t, fds[1]));
	cr_assert_eq(tether_close(fx.t, fds[0], NULL), 0);
	cr_assert_not(tether_fd_held(fx.t, fds[0]), "closed fd still held");
}

/* openat's new fd is the result, held by the handle; ret may be NULL. */
Test(result, openat_result_is_the_fd_and_is_held)
{
	long fd = SENTINEL;

	cr_assert_eq(tether_openat(fx.t, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY,
				   0, &fd), 0);
	cr_assert_geq(fd, 0, "openat /: %ld", fd);
	cr_assert(tether_fd_held(fx.t, (int)fd));
	cr_assert_eq(tether_openat(fx.t, AT_FDCWD, "/nonexistent/x", O_RDONLY,
				   0, &fd), 0);
	cr_assert_eq(fd, -ENOENT);
	cr_assert_eq(tether_getpid(fx.t, NULL), 0, "ret NULL refused");
}

/* ---- one block for everything the library hands out ----------------- */

/* A worker that runs until stopped, with a three-word argv. */
static void spawn_sleeper(const char *label)
{
	const char *argv[] = { "sh", "-c", "sleep 30", NULL };
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	int rc;

	sp.argv = argv;
	sp.label = label;
	rc = tether_spawn(fx.t, &sp, NULL);
	cr_assert_eq(rc, 0, "spawn: %s (%s)", strerror(-rc),
		     tether_last_error(fx.t));
}

/* ps: the records and every argv string in one block, which one
 * tether_free() releases (ASan's leak check holds us to it). */
Test(blocks, ps_is_one_block_with_its_argv)
{
	struct tether_worker *v;
	size_t n = 0;
	char *lo, *hi;

	spawn_sleeper("one");
	spawn_sleeper("two");
	cr_assert_eq(tether_ps(fx.t, &v, &n), 0);
	cr_assert_eq(n, 2);
	lo = (char *)v;
	hi = lo + malloc_usable_size(v);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(v[i].argv);
		cr_assert_str_eq(v[i].argv[0], "sh");
		cr_assert_str_eq(v[i].argv[2], "sleep 30");
		cr_assert_null(v[i].argv[3]);
		for (size_t k = 0; k < 3; k++)
			cr_assert((char *)v[i].argv[k] >= lo &&
				  (char *)v[i].argv[k] < hi,
				  "argv string outside the block");
		cr_assert(((uintptr_t)v[i].argv % sizeof(void *)) == 0,
			  "argv array misaligned");
	}
	tether_free(v);
	cr_assert_eq(tether_stop(fx.t, "one", 0, NULL), 0);
	cr_assert_eq(tether_stop(fx.t, "two", 0, NULL), 0);
}

/* wait and stop fill the caller's record: nothing in it to free. */
Test(blocks, single_records_carry_no_allocation)
{
	struct tether_worker w;

	spawn_sleeper("lone");
	memset(&w, 0xff, sizeof(w));
	cr_assert_eq(tether_wait(fx.t, "lone", 0, &w), 0);
	cr_assert_null(w.argv, "tether_wait allocated an argv");
	cr_assert_eq(tether_stop(fx.t, "lone", 0, &w), 0);
	cr_assert_null(w.argv, "tether_stop allocated an argv");
}

/* A record nobody here submitted: number, arguments, bytes, result in
 * one block; its buffers aligned for a struct. */
Test(blocks, collect_record_is_one_block)
{
	struct tether_call c = { .nr = SYS_read, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	struct tether_call *rec;
	char buf[16];
	int p[2];
	long ret;

	cr_assert_eq(tether_pipe2(fx.t, p, O_CLOEXEC, &ret), 0);
	cr_assert_eq(ret, 0);
	c.args[0] = TETHER_INT(p[0]);
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	cr_assert_eq(tether_call(fx.t, &c), 0);
	cr_assert_gt(c.async_id, 0);
	cr_assert_eq(tether_write(fx.t, p[1], "record", 6, &ret), 0);
	cr_assert_eq(ret, 6);
	cr_assert_eq(tether_collect_record(fx.t, c.async_id, FX_DEADLINE_MS,
					   &rec), 0,
		     "%s", tether_last_error(fx.t));
	cr_assert_eq(rec->nr, SYS_read);
	cr_assert_eq(rec->ret, 6);
	cr_assert_eq(rec->nargs, 3);
	cr_assert_eq((int)rec->args[0].value, p[0]);
	cr_assert_eq(rec->args[1].kind, TETHER_ARG_OUT);
	cr_assert_eq(rec->args[1].returned, 6);
	cr_assert(!memcmp(rec->args[1].out, "record", 6));
	cr_assert(((uintptr_t)rec->args[1].out % 16) == 0,
		  "buffer misaligned in the block");
	cr_assert((char *)rec->args[1].out > (char *)rec &&
		  (char *)rec->args[1].out < (char *)rec +
		  malloc_usable_size(rec), "buffer outside the block");
	tether_free(rec);
}

/* The policy answer as one block, even with no policy. */
Test(blocks, policy_is_one_block)
{
	struct tether_policy *p = NULL;

	cr_assert_eq(tether_policy(fx.t, &p), 0);
	cr_assert_not_null(p);
	cr_assert_not(p->active);
	cr_assert_eq(p->nrules, 0);
	cr_assert_null(p->rules[0], "rules[] not NULL-ended");
	tether_free(p);
	tether_free(NULL);
}

/* ---- option structures read as far as their struct_size ------------- */

/* A structure from a newer header: zero past what we know is fine;
 * anything set there is refused (E2BIG), before anything runs. */
Test(options, unknown_tail_must_be_zero)
{
	const char *argv[] = { "true", NULL };
	struct {
		struct tether_spawn sp;
		uint64_t newer[2];
	} big;
	pid_t pid = 0;
	int rc;

	memset(&big, 0, sizeof(big));
	big.sp.struct_size = sizeof(big);
	big.sp.argv = argv;
	rc = tether_spawn(fx.t, &big.sp, &pid);
	cr_assert_eq(rc, 0, "zero tail refused: %s", tether_last_error(fx.t));
	cr_assert_gt(pid, 0);
	big.newer[1] = 1;
	pid = 0;
	rc = tether_spawn(fx.t, &big.sp, &pid);
	cr_assert_eq(rc, -E2BIG, "a set unknown field: %d", rc);
	cr_assert_eq(pid, 0);
	cr_assert(strstr(tether_last_error(fx.t), "struct_size"), "'%s'",
		  tether_last_error(fx.t));
}

/* 0 is the 1.0 layout; a size that cannot hold struct_size itself is
 * refused. */
Test(options, zero_is_the_first_layout_and_tiny_is_refused)
{
	const char *argv[] = { "true", NULL };
	struct tether_spawn sp = { .argv = argv };

	cr_assert_eq(sp.struct_size, 0);
	cr_assert_eq(tether_spawn(fx.t, &sp, NULL), 0, "%s",
		     tether_last_error(fx.t));
	sp.struct_size = 4;
	cr_assert_eq(tether_spawn(fx.t, &sp, NULL), -EINVAL);
}

/* Output fields past the caller's struct_size are not written: an older
 * caller's structure ends before them. */
Test(options, output_stops_at_the_callers_size)
{
	char path[256];
	struct tether_xfer x;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	fx_path(path, sizeof(path), "small");
	fx_write_file(path, "twelve bytes", 12);
	memset(&x, 0x77, sizeof(x));
	x.struct_size = offsetof(struct tether_xfer, remote_bytes);
	x.progress = NULL;
	x.progress_arg = NULL;
	cr_assert_eq(tether_get(fx.t, path, fd, &x), 0, "%s",
		     tether_last_error(fx.t));
	cr_assert_eq(x.size, 12);
	cr_assert_eq(x.bytes, 12);
	cr_assert_eq(x.remote_bytes, 0x7777777777777777ULL,
		     "a field past struct_size was written");
	cr_assert_eq(x.struct_size, offsetof(struct tether_xfer, remote_bytes));
	close(fd);
}

/* tether_status_ex: what STATUS says beyond struct tether_status, and
 * no more of it than the caller's struct_size. */
Test(options, status_ex_says_the_rest_and_stops_at_the_callers_size)
{
	struct {
		struct tether_status_ex x;
		unsigned char canary[64];
	} u;
	struct tether_status_ex x = { .struct_size = sizeof(x) };
	struct tether_status st;
	struct tether *obs;
	struct rlimit rl;
	size_t part = offsetof(struct tether_status_ex, upgrades);

	cr_assert_eq(prlimit(fx.pid, RLIMIT_NOFILE, NULL, &rl), 0);
	obs = fx_observe(fx.sock);
	cr_assert_eq(tether_status_ex(fx.t, &st, &x), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq(st.pid, fx.pid);
	cr_expect_str_eq(x.server_version, PACKAGE_VERSION);
	cr_expect(x.arch[0], "no arch");
	cr_expect_eq(x.binary[0], '/', "binary: %s", x.binary);
	cr_expect_eq(x.upgrades, 0);
	cr_expect_eq(x.upgrade_failures, 0);
	cr_expect_str_eq(x.upgrade_error, "");
	cr_expect_eq(x.observers, 1);
	cr_expect_gt(x.helpers, 0);
	cr_expect_geq(x.helpers, x.helpers_busy);
	cr_expect_geq(x.jobs, 0);
	cr_expect_eq(x.fd_limit, (int64_t)rl.rlim_cur);
	cr_expect_eq(x.fd_limit_max, (int64_t)rl.rlim_max);
	cr_expect_eq(x.spare_fds, 8, "TD_SPARE_FDS held: %lld",
		     (long long)x.spare_fds);
	tether_disconnect(obs);
	/* An older caller's structure ends before the numbers. */
	memset(&u, 0xa5, sizeof(u));
	u.x.struct_size = part;
	cr_assert_eq(tether_status_ex(fx.t, &st, &u.x), 0);
	cr_expect_str_eq(u.x.server_version, PACKAGE_VERSION);
	cr_expect_eq(u.x.struct_size, part);
	for (size_t i = part; i < sizeof(u); i++)
		cr_assert_eq(((unsigned char *)&u)[i], 0xa5, "byte %zu written "
			     "past struct_size %zu", i, part);
	u.x.struct_size = 3;
	cr_expect_eq(tether_status_ex(fx.t, &st, &u.x), -EINVAL);
	cr_expect_eq(tether_status_ex(fx.t, &st, NULL), 0);
}

/* ---- why a request failed: tether_last_cause ------------------------ */

TestSuite(cause, .init = fx_init_server, .fini = fx_fini, .timeout = 30);

/* The syscall's own failure is SYSCALL; a success leaves NONE. */
Test(cause, syscall_failure_and_success)
{
	long ret = SENTINEL;

	cr_assert_eq(tether_close(fx.t, 999, &ret), 0);
	cr_assert_eq(ret, -EBADF);
	cr_expect_eq(tether_last_cause(fx.t), TETHER_CAUSE_SYSCALL);
	cr_assert_eq(tether_getpid(fx.t, &ret), 0);
	cr_expect_eq(tether_last_cause(fx.t), TETHER_CAUSE_NONE);
}

/* A request the server refuses for its own reasons is REQUEST. */
Test(cause, refused_request)
{
	int rc = tether_label(fx.t, 999, "nothing");

	cr_assert_lt(rc, 0);
	cr_expect_eq(tether_last_cause(fx.t), TETHER_CAUSE_REQUEST,
		     "cause %d (%s)", tether_last_cause(fx.t),
		     tether_last_error(fx.t));
}

/* An observer sending a request that changes something: EBUSY, ROLE. */
Test(cause, observer_control_op_is_role)
{
	struct tether *o = fx_observe(fx.sock);
	long ret = SENTINEL;
	int rc;

	rc = tether_getpid(o, &ret);
	cr_assert_eq(rc, -EBUSY, "getpid as an observer: %d (%s)", rc,
		     tether_last_error(o));
	cr_expect_eq(tether_last_cause(o), TETHER_CAUSE_ROLE);
	cr_expect_eq(ret, SENTINEL);
	tether_disconnect(o);
}

/* A second controller without take-over: EBUSY, CONFLICT, read through
 * tether_last_cause(NULL) since no handle came back. */
Test(cause, second_controller_is_conflict)
{
	struct tether *t2 = NULL;
	int rc = tether_connect(fx.sock, 0, &t2);

	cr_assert_eq(rc, -EBUSY, "second connect: %d", rc);
	cr_assert_null(t2);
	cr_expect_eq(tether_last_cause(NULL), TETHER_CAUSE_CONFLICT);
}

/* The call's own timeout: a 0 status, ret -ETIMEDOUT and TIMEOUT, told
 * apart from a syscall that returned ETIMEDOUT itself. */
Test(cause, call_timeout)
{
	int p[2] = { -1, -1 };
	char buf[8];
	struct tether_call c = {
		.nr = SYS_read,
		.nargs = 3,
		.timeout_ms = 100,
	};
	int rc;

	long pret = SENTINEL;

	cr_assert_eq(tether_pipe2(fx.t, p, 0, &pret), 0, "%s",
		     tether_last_error(fx.t));
	cr_assert_eq(pret, 0);
	c.args[0] = TETHER_INT(p[0]);
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, 0, "%d (%s)", rc, tether_last_error(fx.t));
	cr_assert_eq(c.ret, -ETIMEDOUT, "ret %ld", c.ret);
	cr_expect_eq(tether_last_cause(fx.t), TETHER_CAUSE_TIMEOUT);
}

/* A server gone: CONNECTION. */
Test(cause, lost_server_is_connection)
{
	long ret;

	cr_assert_eq(kill(fx.pid, SIGKILL), 0);
	cr_assert(fx_wait_gone(fx.pid));
	cr_assert_lt(tether_getpid(fx.t, &ret), 0);
	cr_expect_eq(tether_last_cause(fx.t), TETHER_CAUSE_CONNECTION);
}
