/*
 * tether_connect_url on a real server, its relay and a real tetherctl
 * dial-stdio, with a stand-in for ssh first on PATH (a script that runs
 * the remote command here: tests/scenario_ssh.sh does the same through
 * a real sshd).  URLs refused by name; a handle that works but cannot
 * pass fds; a disconnect that has left the server when it returns; ssh
 * killed under a handle; a controller killed with its relay alive.
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
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "kit.h"

static char url[256];

/* The children the fixture has (its server among them): not relays. */
static pid_t before[16];
static int nbefore;

struct kids {
	pid_t ppid, last;
	bool record;
};

static bool is_kid(const struct fx_pstat *ps, void *arg)
{
	struct kids *k = arg;

	if (ps->ppid != k->ppid || ps->state == 'Z')
		return false;
	for (int i = 0; i < nbefore; i++)
		if (ps->pid == before[i])
			return false;
	if (k->record && nbefore < 16)
		before[nbefore++] = ps->pid;
	k->last = ps->pid;
	return true;
}

/* How many live children ppid has besides the fixture's, the last one
 * in *last. */
static int kids_of(pid_t ppid, pid_t *last)
{
	struct kids k = { ppid, 0, false };
	int n = fx_procs(is_kid, &k);

	if (last)
		*last = k.last;
	return n;
}

/* The fake ssh: runs its last argument (the remote command) with sh. */
static void remote_init(void)
{
	char bin[128], ssh[160], path[4096];
	const char *ctl = getenv("TETHERCTL");
	FILE *f;

	fx_init_server();
	tether_disconnect(fx.t);
	fx.t = NULL;
	cr_assert(ctl, "TETHERCTL is not set (make check exports it)");
	snprintf(bin, sizeof(bin), "%s/bin", fx.dir);
	snprintf(ssh, sizeof(ssh), "%s/ssh", bin);
	cr_assert_eq(mkdir(bin, 0700), 0);
	cr_assert(f = fopen(ssh, "w"));
	/* one process from the relay's fork to dial-stdio: killing it is
	 * killing what ssh would be */
	fprintf(f, "#!/bin/sh\nfor a; do last=$a; done\n"
		   "exec sh -c \"exec $last\"\n");
	fclose(f);
	cr_assert_eq(chmod(ssh, 0700), 0);
	snprintf(path, sizeof(path), "%s:%s", bin, getenv("PATH"));
	setenv("PATH", path, 1);
	setenv("TETHER_REMOTE_TETHERCTL", ctl, 1);
	snprintf(url, sizeof(url), "ssh://me@here:22%s", fx.sock);
	nbefore = 0;
	fx_procs(is_kid, &(struct kids){ getpid(), 0, true });
}

TestSuite(url, .timeout = 30);
TestSuite(remote, .init = remote_init, .fini = fx_fini, .timeout = 60);

static void refused(const char *u, const char *needle)
{
	struct tether *t = (struct tether *)1;
	int rc = tether_connect_url(u, 0, TETHER_UID_NONE, &t);

	cr_assert_eq(rc, -EINVAL, "%s: %d (%s)", u, rc, tether_last_error(NULL));
	cr_assert_null(t);
	cr_assert(strstr(tether_last_error(NULL), needle), "%s: '%s'", u,
		  tether_last_error(NULL));
	cr_assert_eq(tether_last_cause(NULL), TETHER_CAUSE_CONNECTION);
}

/* Nothing is run for a URL that cannot be meant. */
Test(url, malformed_urls_are_refused_by_name)
{
	refused("ftp://host/x", "not ssh://");
	refused("ssh://", "bad user or host");
	refused("ssh://@host/x", "bad user or host");
	refused("ssh://-oProxyCommand=x/s", "bad user or host");
	refused("ssh://-l@host/s", "bad user or host");
	refused("ssh://host:0/s", "bad port");
	refused("ssh://host:65536/s", "bad port");
	refused("ssh://host:22x/s", "bad port");
	refused("ssh://host:/s", "bad port");
	refused("ssh://[::1/s", "without ']'");
	refused("ssh://[::1]x/s", "junk after");
	refused("ssh://host/s?x=1", "no query");
}

Test(url, unknown_flags_are_refused)
{
	struct tether *t;

	cr_assert_eq(tether_connect_url("ssh://host/s", 0x100, TETHER_UID_NONE,
					&t), -EINVAL);
}

static struct tether *remote(unsigned flags)
{
	struct tether *t = NULL;
	int rc = tether_connect_url(url, flags, TETHER_UID_NONE, &t);

	cr_assert_eq(rc, 0, "connect %s: %d (%s)", url, rc,
		     tether_last_error(NULL));
	return t;
}

/* unix:// is the local socket, and passes fds. */
Test(remote, unix_url_is_local)
{
	char u[160];
	struct tether *t;

	snprintf(u, sizeof(u), "unix://%s", fx.sock);
	cr_assert_eq(tether_connect_url(u, 0, TETHER_UID_NONE, &t), 0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_geq(tether_give(t, 0), 0);
	tether_disconnect(t);
}

Test(remote, calls_work_and_fds_are_refused)
{
	struct tether *t = remote(0);
	struct tether_status st;
	int rc;

	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert(tether_info(t)->attached);
	cr_assert_eq(tether_status(t, &st), 0);
	cr_assert_eq(st.pid, fx.pid);
	rc = tether_give(t, 0);
	cr_assert_eq(rc, -EOPNOTSUPP);
	cr_assert(strstr(tether_last_error(t), "fds cannot cross"), "%s",
		  tether_last_error(t));
	cr_assert_eq(tether_last_cause(t), TETHER_CAUSE_REQUEST);
	cr_assert_eq(tether_take(t, 0, NULL), -EOPNOTSUPP);
	/* the connection is intact after the refusals */
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}

/* A disconnect returns once the far side has let go: the next connect,
 * without take-over, is never refused as a second controller. */
Test(remote, disconnect_has_left_when_it_returns)
{
	for (int i = 0; i < 10; i++) {
		struct tether *t = remote(0);

		cr_assert_eq(fx_getpid(t), fx.pid, "round %d", i);
		tether_disconnect(t);
	}
	/* and every relay was reaped */
	cr_assert_eq(kids_of(getpid(), NULL), 0);
}

/* The remote side refusing: the far side's errno, cause and words. */
Test(remote, conflict_comes_back_as_itself)
{
	struct tether *a = remote(0), *b = NULL;
	int rc = tether_connect_url(url, 0, TETHER_UID_NONE, &b);

	cr_assert_eq(rc, -EBUSY, "%d (%s)", rc, tether_last_error(NULL));
	cr_assert_eq(tether_last_cause(NULL), TETHER_CAUSE_CONFLICT);
	cr_assert(strstr(tether_last_error(NULL), "attached by pid"), "%s",
		  tether_last_error(NULL));
	b = remote(TETHER_CONNECT_OBSERVE);
	cr_assert(tether_info(b)->observer);
	tether_disconnect(b);
	b = remote(TETHER_CONNECT_TAKEOVER);
	cr_assert_eq(fx_getpid(b), fx.pid);
	cr_assert_eq(fx_getpid(a), -ECONNABORTED);
	cr_assert_eq(tether_taken_over(a, NULL, NULL), 1);
	tether_disconnect(a);
	tether_disconnect(b);
}

/* Our relay's child: the stand-in ssh (or what it exec'd). */
static pid_t ssh_of_relay(void)
{
	pid_t relay = 0, ssh = 0;

	cr_assert_eq(kids_of(getpid(), &relay), 1, "one relay, not %d",
		     kids_of(getpid(), NULL));
	cr_assert_eq(kids_of(relay, &ssh), 1, "one ssh under relay %d",
		     (int)relay);
	return ssh;
}

static bool server_detached(void)
{
	struct tether *o = fx_observe(fx.sock);
	struct tether_status st;
	bool d = o && tether_status(o, &st) == 0 && !st.attached;

	tether_disconnect(o);
	return d;
}

static void until_detached(void)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	while (!server_detached() && kit_now_ms() < end)
		kit_nap_ms(20);
	cr_assert(server_detached(), "the server still has a controller");
}

/* ssh dies under a handle: its next call fails as on a lost
 * connection, the server sees the controller go, a new one attaches. */
Test(remote, ssh_killed_is_a_lost_connection)
{
	struct tether *t = remote(0);
	long ret;
	int rc;

	pid_t ssh;

	cr_assert_eq(fx_getpid(t), fx.pid);
	ssh = ssh_of_relay();
	cr_assert_eq(kill(ssh, SIGKILL), 0);
	cr_assert(fx_wait_gone(ssh));
	rc = tether_getpid(t, &ret);
	cr_assert_lt(rc, 0);
	cr_assert_eq(tether_last_cause(t), TETHER_CAUSE_CONNECTION, "%d: %s",
		     rc, tether_last_error(t));
	tether_disconnect(t);
	until_detached();
	t = remote(0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	tether_disconnect(t);
}

/* A controller killed -9: its relay sees the sockets close and ends
 * the far side; the server sees an ordinary controller death. */
Test(remote, controller_killed_ends_relay_and_far_side)
{
	int ready[2];
	char c;
	pid_t kid;

	cr_assert_eq(pipe(ready), 0);
	kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0) {
		struct tether *t;

		fx_forked();
		if (tether_connect_url(url, 0, TETHER_UID_NONE, &t) < 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	fx_track(kid);
	close(ready[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	cr_assert(!server_detached());
	cr_assert_eq(kill(kid, SIGKILL), 0);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);
	fx_untrack(kid);
	until_detached();
}

static int connect_with(const char *remote_prog, struct tether **t)
{
	int rc;

	setenv("TETHER_REMOTE_TETHERCTL", remote_prog, 1);
	rc = tether_connect_url(url, 0, TETHER_UID_NONE, t);
	setenv("TETHER_REMOTE_TETHERCTL", getenv("TETHERCTL"), 1);
	return rc;
}

/* The far side is not dial-stdio: a login banner on stdout, or no
 * tetherctl at all; each named, nothing hangs, nothing is left. */
Test(remote, far_side_that_is_not_dial_stdio)
{
	char prog[160];
	struct tether *t = NULL;
	FILE *f;
	int rc;

	snprintf(prog, sizeof(prog), "%s/banner", fx.dir);
	cr_assert(f = fopen(prog, "w"));
	fprintf(f, "#!/bin/sh\necho 'Welcome to the server!'\nexec cat\n");
	fclose(f);
	cr_assert_eq(chmod(prog, 0700), 0);
	rc = connect_with(prog, &t);
	cr_assert_eq(rc, -EPROTO, "%d (%s)", rc, tether_last_error(NULL));
	cr_assert(strstr(tether_last_error(NULL), "not tetherctl dial-stdio"),
		  "%s", tether_last_error(NULL));
	rc = connect_with("/nonexistent/tetherctl", &t);
	cr_assert_eq(rc, -ECONNREFUSED, "%d (%s)", rc, tether_last_error(NULL));
	cr_assert(strstr(tether_last_error(NULL), "no tetherctl there"), "%s",
		  tether_last_error(NULL));
	cr_assert_null(t);
	cr_assert_eq(kids_of(getpid(), NULL), 0, "a relay is left");
}
