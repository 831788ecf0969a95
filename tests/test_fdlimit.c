/*
 * A server whose fd table a controller filled (RLIMIT_NOFILE): the
 * next controller must still get in and collect the garbage, whether
 * the one that leaked was SIGKILLed or is still attached.  tetherd runs
 * with a limit of TF_LIMIT (inherited: the test lowers its own first);
 * its spare slots (server/fds/spare.c) are what lets the HELLO and the
 * GC through.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

#define TF_LIMIT 2600		/* tetherd needs 2304 at least */
#define TF_SPARES 8		/* TD_SPARE_FDS */

/* A server with a small fd limit, and no controller attached. */
static void tf_init(void)
{
	struct rlimit rl = { TF_LIMIT, TF_LIMIT };

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		cr_assert_fail("setrlimit: %s", strerror(errno));
	fx_init_dir();
	fx_start_server(NULL);
	tether_disconnect(fx.t);
	fx.t = NULL;
}

TestSuite(fdlimit, .init = tf_init, .fini = fx_fini, .timeout = 60);

/* dup(0) in the server until its table is full: how many it made. */
static long tf_fill(struct tether *t)
{
	long n = 0, ret;

	for (;;) {
		struct tether_arg a[1] = { TETHER_INT(0) };
		int rc = tether_syscall(t, SYS_dup, 1, a, &ret);

		if (rc < 0)
			return -1;
		if (ret == -EMFILE)
			return n;
		if (ret < 0)
			return -1;
		n++;
	}
}

/* The server's spare slots, as LIST_FDS shows them. */
static int tf_spares(struct tether *t)
{
	struct tether_fdinfo *fds = NULL, *own = NULL;
	size_t n = 0, nown = 0;
	int spares = 0;

	if (tether_list_fds(t, &fds, &n, &own, &nown) < 0)
		return -1;
	for (size_t i = 0; i < nown; i++)
		spares += !strcmp(own[i].role, "spare");
	tether_free(fds);
	tether_free(own);
	return spares;
}

/* The spares as STATUS counts them; the limit it says is ours. */
static int64_t tf_status_spares(struct tether *t)
{
	struct tether_status st;
	struct tether_status_ex x = { .struct_size = sizeof(x) };
	int rc = tether_status_ex(t, &st, &x);

	cr_assert_eq(rc, 0, "STATUS: %s", tether_last_error(t));
	cr_expect_eq(x.fd_limit, TF_LIMIT);
	cr_expect_eq(x.fd_limit_max, TF_LIMIT);
	return x.spare_fds;
}

/* GC must close at least want fds, and then the spares come back (they
 * are taken again at most once a second). */
static void tf_gc_and_spares_back(struct tether *t, long want)
{
	int *closed = NULL, spares = -1;
	size_t n = 0;
	int rc = tether_gc(t, NULL, 0, 0, &closed, &n);
	int64_t end;

	cr_assert_eq(rc, 0, "GC in a full table: %s", tether_last_error(t));
	cr_assert_geq((long)n, want, "GC closed %zu, %ld leaked", n, want);
	tether_free(closed);
	for (end = kit_now_ms() + 5000; kit_now_ms() < end; kit_nap_ms(100))
		if ((spares = tf_spares(t)) == TF_SPARES)
			break;
	cr_assert_eq(spares, TF_SPARES, "spares back after the GC: %d",
		     spares);
	cr_expect_eq(tf_status_spares(t), TF_SPARES);
}

Test(fdlimit, a_controller_killed_with_a_full_table_is_replaced_and_gc_empties_it)
{
	int p[2];
	long leaked = -1;
	pid_t kid;
	struct tether *t = NULL;

	cr_assert_eq(pipe(p), 0);
	kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0) {
		struct tether *k = NULL;

		fx_forked();
		close(p[0]);
		if (tether_connect(fx.sock, 0, &k) < 0)
			_exit(1);
		leaked = tf_fill(k);
		if (write(p[1], &leaked, sizeof(leaked)) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	fx_track(kid);
	close(p[1]);
	cr_assert_eq(read(p[0], &leaked, sizeof(leaked)), sizeof(leaked));
	close(p[0]);
	cr_assert_gt(leaked, TF_LIMIT - 1200, "the kid filled %ld", leaked);
	kill(kid, SIGKILL);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);
	fx_untrack(kid);
	/* The dead controller's two sockets free two slots: too few for
	 * the three a new one needs, without the spares. */
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0,
		     "attach after the crash: %s", tether_last_error(NULL));
	cr_assert_gt(fx_getpid(t), 0);
	/* STATUS says what the attach cost: spare slots given up. */
	cr_expect_lt(tf_status_spares(t), TF_SPARES);
	tf_gc_and_spares_back(t, leaked);
	/* Twice: the spares serve again once they are back. */
	cr_assert_eq(tf_fill(t) > 0, true);
	tether_disconnect(t);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0,
		     "second attach: %s", tether_last_error(NULL));
	tf_gc_and_spares_back(t, TF_LIMIT - 1200);
	tether_disconnect(t);
	cr_assert(fx_alive(fx.pid));
}

Test(fdlimit, a_take_over_gets_past_a_live_controller_that_filled_the_table)
{
	struct tether *leaker = NULL, *t = NULL;
	long leaked;

	cr_assert_eq(fx_connect_retry(fx.sock, 0, &leaker), 0);
	leaked = tf_fill(leaker);
	cr_assert_gt(leaked, TF_LIMIT - 1200);
	/* Not a single slot free: the accept itself needs the spares. */
	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t), 0,
		     "take-over at the limit: %s", tether_last_error(NULL));
	cr_assert_eq(tether_getpid(leaker, NULL), -ECONNABORTED);
	tether_disconnect(leaker);
	tf_gc_and_spares_back(t, leaked);
	tether_disconnect(t);
}

Test(fdlimit, a_controller_at_the_limit_can_list_and_gc_its_own_leak)
{
	struct tether *t = NULL;
	struct tether_fdinfo *fds = NULL, *own = NULL;
	size_t n = 0, nown = 0;
	long leaked;

	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0);
	leaked = tf_fill(t);
	cr_assert_gt(leaked, TF_LIMIT - 1200);
	cr_assert_eq(tether_list_fds(t, &fds, &n, &own, &nown), 0,
		     "LIST_FDS in a full table: %s", tether_last_error(t));
	cr_assert_geq((long)n, leaked);
	tether_free(fds);
	tether_free(own);
	tf_gc_and_spares_back(t, leaked);
	tether_disconnect(t);
}
