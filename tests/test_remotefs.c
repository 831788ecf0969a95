/*
 * test_remotefs: a file on a filesystem whose server stops answering
 * never stops the loop (rule 7).
 *
 * On FUSE (and NFS, CIFS ...) a read, an fstat, even a close asks a
 * daemon, and waits as long as it does.  tests/fuse_stall mounts a FUSE
 * filesystem of one file on the test's directory and parks the next
 * READ, FLUSH or GETATTR on command -- so the test knows the server is
 * waiting on it -- then answers when told.  Each test checks that while
 * the request is parked an observer's STATUS is answered, that what was
 * asked completes once the daemon answers, and that no fd is left.
 *
 *   fuse/          a controller's read, fstat and close, synchronous
 *                  (they ran in the loop) and ASYNC (the ring's first
 *                  try runs in the loop's io_uring_enter); GC and
 *                  close_range closing such a file; LIST_FDS and labels
 *                  (they fstat'ed every fd); GET streamed and through a
 *                  passed fd; SPAWN with such a file in its fd map;
 *                  TAKE of such a file (seen for what it is).
 *   fusepolicy/    the same read under --policy (seccomp and the ring's
 *                  restrictions hold the server too).
 *
 * Needs root and /dev/fuse (mount(2)); skipped, saying so, without.
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
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

#define FZ_SIZE 8192			/* tests/fuse_stall.c's file */

TestSuite(fuse, .init = fx_init_server, .fini = fx_fini_all, .timeout = 60);
TestSuite(fusepolicy, .init = fx_init_dir, .fini = fx_fini_all, .timeout = 60);

/* ---- the FUSE daemon ------------------------------------------------- */

static struct {
	pid_t pid;
	int ctl;			/* its stdin: commands */
	int out;			/* its stdout: lines */
	char dir[256];
	char file[300];
} fz = { .pid = -1, .ctl = -1, .out = -1 };

/* The daemon's next line into line: false at its end, or if none came
 * within FX_DEADLINE_MS. */
static bool fz_line(char *line, size_t size)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	size_t n = 0;

	while (n < size - 1) {
		struct pollfd p = { fz.out, POLLIN, 0 };
		int left = (int)(end - kit_now_ms());

		if (left <= 0)
			break;
		if (poll(&p, 1, left) <= 0)
			continue;
		if (read(fz.out, &line[n], 1) != 1)
			break;
		if (line[n] == '\n') {
			line[n] = '\0';
			return true;
		}
		n++;
	}
	line[n] = '\0';
	return false;
}

/* The daemon's next line, which must be want. */
static void fz_expect(const char *want)
{
	char line[128];

	cr_assert(fz_line(line, sizeof(line)),
		  "fuse_stall said no \"%s\" (got \"%s\")", want, line);
	cr_assert_str_eq(line, want);
}

static void fz_cmd(char c)
{
	cr_assert_eq(write(fz.ctl, &c, 1), 1);
}

/* Unmounted and gone (also from the fixture's end, through atexit-free
 * fini: a test that failed midway leaves it to fz_stop). */
static void fz_stop(void)
{
	if (fz.pid > 0) {
		kill(fz.pid, SIGKILL);	/* requests still waiting: ENOTCONN */
		waitpid(fz.pid, NULL, 0);
		fx_untrack(fz.pid);
		fz.pid = -1;
	}
	if (fz.dir[0])
		umount2(fz.dir, MNT_DETACH);
	if (fz.ctl >= 0)
		close(fz.ctl);
	if (fz.out >= 0)
		close(fz.out);
	fz.ctl = fz.out = -1;
}

/* Mount the daemon on the test's directory, or skip the test. */
static void fz_start(void)
{
	const char *bin = getenv("FUSE_STALL");
	int in[2], out[2];
	char why[256] = "";

	if (access("/dev/fuse", R_OK | W_OK) < 0 || geteuid() != 0)
		cr_skip_test("needs root and /dev/fuse");
	cr_assert(bin, "FUSE_STALL is not set (make check sets it)");
	fx_path(fz.dir, sizeof(fz.dir), "fuse");
	snprintf(fz.file, sizeof(fz.file), "%s/f", fz.dir);
	cr_assert_eq(mkdir(fz.dir, 0700), 0);
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	fz.pid = fork();
	cr_assert_geq(fz.pid, 0);
	if (fz.pid == 0) {
		/* A test killed at its timeout takes the daemon along: the
		 * mount's callers then get ENOTCONN instead of waiting. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		execl(bin, bin, fz.dir, (char *)NULL);
		_exit(127);
	}
	fx_track(fz.pid);
	close(in[0]);
	close(out[1]);
	fz.ctl = in[1];
	fz.out = out[0];
	/* READY, or why not (a container without the right to mount). */
	if (fz_line(why, sizeof(why)) && !strcmp(why, "READY"))
		return;
	fz_stop();
	fz.dir[0] = '\0';
	cr_skip_test("no FUSE mount here: %s", why);
}

/* ---- the server --------------------------------------------------------- */

static void detach_fx(void)
{
	if (fx.t)
		tether_disconnect(fx.t);
	fx.t = NULL;
}

static void attach_fx(void)
{
	int rc;

	if (fx.t)
		return;
	rc = fx_connect_retry(fx.sock, 0, &fx.t);
	cr_assert_eq(rc, 0, "attach: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
}

/* An observer's STATUS answers, now: the loop is not waiting. */
static void status_answers(const char *while_what)
{
	struct tether_status st;
	struct tether *obs = fx_observe(fx.sock);
	int64_t t0 = kit_now_ms();
	int rc = tether_status(obs, &st);

	cr_assert_eq(rc, 0, "STATUS while %s: %s (%s)", while_what,
		     strerror(-rc), tether_last_error(obs));
	cr_expect_lt(kit_now_ms() - t0, FX_DEADLINE_MS,
		     "STATUS while %s took %lld ms", while_what,
		     (long long)(kit_now_ms() - t0));
	tether_disconnect(obs);
}

static long srv_call(long nr, unsigned n, const long *a)
{
	struct tether_call c = { .nr = nr, .nargs = n };
	int rc;

	for (unsigned i = 0; i < n; i++)
		c.args[i] = TETHER_INT(a[i]);
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, 0, "syscall %ld: %s (%s)", nr, strerror(-rc),
		     tether_last_error(fx.t));
	return c.ret;
}

static int fz_open(void)
{
	long fd = fx_openat(fx.t, AT_FDCWD, fz.file, O_RDONLY | O_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "openat %s: %s (%s)", fz.file, strerror(-fd),
		      tether_last_error(fx.t));
	return (int)fd;
}

/* The server is back where it was: alive, base fds (the daemon has
 * answered every FLUSH by now). */
static void finish(int base)
{
	attach_fx();
	cr_assert_not(fx_gone(fx.pid), "tetherd is gone");
	fx_expect_fds(fx.pid, base, "after the daemon answered");
	fz_stop();
}

/* A kid, fn(arg), makes the server ask the daemon what park parks
 * (fuse_stall's commands): the kid says start, the daemon parked; STATUS
 * is answered meanwhile (and, if waits, the kid says nothing more: what
 * it asked is what is held); once the daemon answers, the kid says done,
 * its rest into out. */
static void kid_while_parked(void (*fn)(void *), void *arg, const char *park,
			     const char *parked, bool waits, const char *start,
			     const char *done, char *out, size_t size)
{
	struct kid k;

	for (const char *p = park; *p; p++)
		fz_cmd(*p);
	kid_start(&k, fn, arg);
	kid_line(&k, start, NULL, 0);
	fz_expect(parked);
	status_answers(parked);
	cr_assert(!waits || !kid_line_within(&k, done, out, size, 0),
		  "%s %s while the daemon held its request", done, out);
	fz_cmd('r');
	fz_expect("RESUMED");
	kid_line(&k, done, out, size);
	kid_reap(&k);
}

/* ---- a controller's calls ------------------------------------------------ */

/* What a kid runs as the controller: one call on fd, synchronous. */
struct fz_call {
	long nr;
	int fd;
};

static void kid_fz_call(void *arg)
{
	const struct fz_call *fc = arg;
	struct tether_call c = { .nr = fc->nr, .nargs = 1 };
	struct tether *t = kid_connect();
	char buf[200];
	struct stat st;
	int rc;

	c.args[0] = TETHER_INT(fc->fd);
	if (fc->nr == SYS_read) {
		c.nargs = 3;
		c.args[1] = TETHER_OUT(buf, 100);
		c.args[2] = TETHER_INT(100);
	} else if (fc->nr == SYS_fstat) {
		c.nargs = 2;
		c.args[1] = TETHER_OUT(&st, sizeof(st));
	} else if (fc->nr == SYS_epoll_wait) {
		c.nargs = 4;
		c.args[1] = TETHER_OUT(buf, 4 * sizeof(struct epoll_event));
		c.args[2] = TETHER_INT(4);
		c.args[3] = TETHER_INT(0);
	}
	kid_say("CALLING");
	rc = tether_call(t, &c);
	if (rc < 0)
		kid_fail("syscall %ld: %s", fc->nr, tether_last_error(t));
	if (fc->nr == SYS_read && c.ret == 100 && memcmp(buf, "abcdefgh", 8))
		kid_fail("read the wrong bytes: %.8s", buf);
	if (fc->nr == SYS_fstat && c.ret == 0 && st.st_size != FZ_SIZE)
		kid_fail("fstat: size %lld", (long long)st.st_size);
	kid_say("CALLED %ld", c.ret);
	tether_disconnect(t);
}

/* A kid's read of the server's fd while its READ is parked: 100 bytes
 * once the daemon answers; then fx.t is attached again and closes it. */
static void kid_read_waits(int fd)
{
	struct fz_call fc = { .nr = SYS_read, .fd = fd };
	char done[64];

	detach_fx();
	kid_while_parked(kid_fz_call, &fc, "R", "PARKED READ", true,
			 "CALLING", "CALLED", done, sizeof(done));
	cr_expect_eq(strtol(done, NULL, 10), 100, "read returned %s", done);
	attach_fx();
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd }), 0);
}

/* read, fstat and close of the file, each while the daemon holds what
 * it asks.  Before: each ran in the loop, which waited with it (STATUS
 * was not answered until the daemon was). */
Test(fuse, a_controllers_calls_on_a_stalled_file_wait_off_the_loop)
{
	static const struct {
		long nr;
		const char *park;
		const char *parked;
		long ret;
	} step[] = {
		{ SYS_read, "R", "PARKED READ", 100 },
		{ SYS_fstat, "G", "PARKED GETATTR", 0 },
		{ SYS_close, "F", "PARKED FLUSH", 0 },
	};
	char done[64];
	int base;

	fz_start();
	base = fx_settled_fds(fx.pid);
	struct fz_call fc = { .fd = fz_open() };

	detach_fx();
	for (size_t i = 0; i < sizeof(step) / sizeof(step[0]); i++) {
		fc.nr = step[i].nr;
		kid_while_parked(kid_fz_call, &fc, step[i].park,
				 step[i].parked, true, "CALLING", "CALLED",
				 done, sizeof(done));
		cr_expect_eq(strtol(done, NULL, 10), step[i].ret,
			     "syscall %ld returned %s", step[i].nr, done);
	}
	finish(base);
}

/* An ASYNC read of the server's fd while its READ is parked: answered
 * with an id at once, STATUS answered meanwhile, 100 bytes once the
 * daemon answers; then the fd is closed. */
static void async_read_waits(int fd, const char *while_what)
{
	struct tether_call c = { .nr = SYS_read, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	char buf[100];
	uint64_t id;

	fz_cmd('R');
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	cr_assert_eq(tether_call(fx.t, &c), 0, "%s", tether_last_error(fx.t));
	cr_assert_gt(c.async_id, 0, "the read ran at once: %ld", c.ret);
	id = c.async_id;
	fz_expect("PARKED READ");
	status_answers(while_what);
	fz_cmd('r');
	fz_expect("RESUMED");
	memset(&c, 0, sizeof(c));
	cr_assert_eq(tether_collect(fx.t, id, FX_DEADLINE_MS, &c), 0, "%s",
		     tether_last_error(fx.t));
	cr_expect_eq(c.ret, 100, "the read returned %ld", c.ret);
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd }), 0);
}

/* The same read ASYNC: the ring took it, and the ring's first try of a
 * read runs inside the loop's io_uring_enter.  Before: the READ was
 * asked from there, and the ASYNC request's own answer never came. */
Test(fuse, async_calls_on_a_stalled_file_wait_off_the_loop)
{
	int base;

	fz_start();
	base = fx_settled_fds(fx.pid);
	async_read_waits(fz_open(), "an ASYNC read is parked");
	finish(base);
}

/* The file comes in another way: TAKE passes the test's own fd of it.
 * Routing looks at a call's fds only while a remote file may be in the
 * table (server/fds/fdcount.c), and TAKE is one of the ways one comes
 * in.  Had it gone unseen, the read would have gone to the ring. */
Test(fuse, a_taken_file_is_seen_for_what_it_is)
{
	int base, mine, fd;

	fz_start();
	base = fx_settled_fds(fx.pid);
	mine = open(fz.file, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(mine, 0, "open %s: %s", fz.file, strerror(errno));
	fd = tether_take(fx.t, mine, NULL);
	cr_assert_geq(fd, 0, "TAKE: %s", tether_last_error(fx.t));
	async_read_waits(fd, "a read of a taken file is parked");
	close(mine);
	finish(base);
}

/* ---- what the server closes in bulk ------------------------------------ */

/* close_range and GC close in the loop; a FUSE file's close sends a
 * FLUSH.  Now it is hidden at once (the controller's calls on it are
 * EBADF, GC does not list it again) and a helper closes it.  Before:
 * the loop waited for the daemon. */
Test(fuse, gc_and_close_range_leave_a_stalled_file_to_a_helper)
{
	int base, fd1, fd2, fd3, *closed = NULL;
	size_t n = 0;
	bool listed = false;

	fz_start();
	base = fx_settled_fds(fx.pid);
	fd1 = fz_open();
	fd2 = fz_open();
	fd3 = fz_open();
	fz_cmd('F');
	cr_assert_eq(srv_call(SYS_close_range, 3, (long[]){ fd1, fd1, 0 }), 0);
	fz_expect("PARKED FLUSH");
	status_answers("close_range's FLUSH is parked");
	cr_expect_eq(srv_call(SYS_fcntl, 2, (long[]){ fd1, F_GETFD }), -EBADF,
		     "fd %d, closed by close_range, is still the controller's",
		     fd1);
	cr_assert_eq(tether_gc(fx.t, &fd3, 1, 0, &closed, &n), 0, "GC: %s",
		     tether_last_error(fx.t));
	for (size_t i = 0; i < n; i++) {
		cr_expect_neq(closed[i], fd1, "GC closed fd %d again", fd1);
		cr_expect_neq(closed[i], fd3, "GC closed the kept fd %d", fd3);
		listed |= closed[i] == fd2;
	}
	tether_free(closed);
	cr_expect(listed, "GC did not list fd %d", fd2);
	status_answers("two FLUSHes wait");
	/* The numbers stay taken while their FLUSHes wait: the next open
	 * gets another, and it is the controller's.  Before: it got fd1's,
	 * freed by the kernel but still recorded as closing (EBADF). */
	{
		long nfd = fx_openat(fx.t, AT_FDCWD, "/dev/null",
				     O_RDONLY | O_CLOEXEC, 0);

		cr_assert_geq(nfd, 0, "openat /dev/null: %ld", nfd);
		cr_expect_neq(nfd, fd1, "fd %d reused while its FLUSH waits",
			      fd1);
		cr_expect_eq(srv_call(SYS_fcntl, 2, (long[]){ nfd, F_GETFD }),
			     FD_CLOEXEC, "the new fd %ld is not usable", nfd);
		cr_assert_eq(srv_call(SYS_close, 1, (long[]){ nfd }), 0);
	}
	fz_cmd('r');
	fz_expect("RESUMED");
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd3 }), 0);
	finish(base);
}

/* ---- what the server looks at ------------------------------------------ */

/* LIST_FDS and labels looked at every fd with fstat, which on FUSE asks
 * for the attributes (the daemon caches none).  Before: the GETATTR was
 * parked with the loop. */
Test(fuse, list_fds_and_labels_do_not_ask_the_daemon)
{
	struct tether_fdinfo *v = NULL;
	struct tether *obs;
	size_t n = 0;
	bool seen = false;
	char line[64];
	struct pollfd p;
	int base, fd;

	fz_start();
	base = fx_settled_fds(fx.pid);
	fd = fz_open();
	cr_assert_eq(tether_label(fx.t, fd, "on-fuse"), 0, "%s",
		     tether_last_error(fx.t));
	fz_cmd('G');
	obs = fx_observe(fx.sock);
	cr_assert_eq(tether_list_fds(obs, &v, &n, NULL, NULL), 0, "%s",
		     tether_last_error(obs));
	for (size_t i = 0; i < n; i++)
		if (v[i].fd == fd) {
			seen = true;
			cr_expect_str_eq(v[i].label, "on-fuse");
			cr_expect_str_eq(v[i].target, fz.file);
			cr_expect_str_eq(v[i].kind, "regular");
		}
	tether_free(v);
	tether_disconnect(obs);
	cr_expect(seen, "LIST_FDS did not list fd %d", fd);
	cr_expect_eq(tether_fd_by_label(fx.t, "on-fuse"), fd);
	/* Nothing was asked of the daemon, so nothing is parked. */
	p = (struct pollfd){ fz.out, POLLIN, 0 };
	if (poll(&p, 1, 0) > 0) {
		ssize_t k = read(fz.out, line, sizeof(line) - 1);

		line[k > 0 ? k : 0] = '\0';
		cr_expect_fail("the daemon was asked: %s", line);
	}
	fz_cmd('r');
	fz_expect("RESUMED");
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd }), 0);
	finish(base);
}

/* ---- GET ---------------------------------------------------------------- */

struct fz_get {
	const char *path;
	bool stream;			/* TETHER_NO_FDPASS */
};

static void kid_fz_get(void *arg)
{
	const struct fz_get *g = arg;
	struct tether_xfer x = TETHER_XFER_INIT;
	char local[300], buf[FZ_SIZE];
	struct tether *t;
	int fd, rc;

	if (g->stream)
		setenv("TETHER_NO_FDPASS", "1", 1);
	t = kid_connect();
	snprintf(local, sizeof(local), "%s/got", fx.dir);
	fd = open(local, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		kid_fail("open %s: %s", local, strerror(errno));
	kid_say("GETTING");
	if ((rc = tether_get(t, g->path, fd, &x)) < 0)
		kid_fail("GET %s: %s", g->path, tether_last_error(t));
	if (pread(fd, buf, sizeof(buf), 0) != FZ_SIZE ||
	    memcmp(buf, "abcdefghijklmnopqrstuvwxyzabcd", 30))
		kid_fail("GET brought the wrong bytes");
	kid_say("GOT %llu", (unsigned long long)x.bytes);
	close(fd);
	tether_disconnect(t);
}

/* A GET of the file while the daemon holds the FLUSH of the server's
 * copy: the opener's own close goes through (the first FLUSH), then the
 * loop moves the fd it was handed into its band, whose first number is
 * closed -- by a helper now.  Before: in the loop, which waited. */
static void get_waits_off_the_loop(bool stream)
{
	struct fz_get g = { .path = fz.file, .stream = stream };
	char done[64];
	int base;

	fz_start();
	base = fx_settled_fds(fx.pid);
	detach_fx();
	/* The GET need not wait for that FLUSH: its READs may come first. */
	kid_while_parked(kid_fz_get, &g, "+F", "PARKED FLUSH", false,
			 "GETTING", "GOT", done, sizeof(done));
	cr_expect_eq(strtoull(done, NULL, 10), FZ_SIZE, "GET moved %s", done);
	finish(base);
}

Test(fuse, get_streamed_waits_off_the_loop)
{
	get_waits_off_the_loop(true);
}

Test(fuse, get_through_a_passed_fd_waits_off_the_loop)
{
	get_waits_off_the_loop(false);
}

/* ---- SPAWN ---------------------------------------------------------------- */

static void kid_fz_spawn(void *arg)
{
	const int (*map)[2] = arg;
	const char *argv[] = { "/bin/true", NULL };
	struct tether_spawn sp = TETHER_SPAWN_INIT;
	struct tether *t = kid_connect();
	pid_t pid = 0;
	int rc;

	sp.argv = argv;
	sp.fds = map;
	sp.nfds = 1;
	kid_say("SPAWNING");
	if ((rc = tether_spawn(t, &sp, &pid)) < 0)
		kid_fail("SPAWN: %s", tether_last_error(t));
	kid_say("SPAWNED %d", (int)pid);
	tether_disconnect(t);
}

/* A worker gets the file as its fd 3: the server holds a copy from the
 * request to the clone.  Before: the copy was made in the loop by a dup
 * and a close of the dup's first number, whose FLUSH the loop waited
 * for. */
Test(fuse, spawn_with_a_stalled_file_in_its_fd_map)
{
	int map[1][2], base;
	char done[64];

	fz_start();
	base = fx_settled_fds(fx.pid);
	map[0][0] = 3;
	map[0][1] = fz_open();
	detach_fx();
	/* The child's exec closes its copies first: the spawn waits. */
	kid_while_parked(kid_fz_spawn, map, "F", "PARKED FLUSH", true,
			 "SPAWNING", "SPAWNED", done, sizeof(done));
	cr_expect_gt(strtol(done, NULL, 10), 0, "SPAWNED %s", done);
	attach_fx();
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ map[0][1] }), 0);
	finish(base);
}

/* epoll_wait with a zero timeout cannot wait, so it runs in the loop;
 * but a set holding the file polls it there, and FUSE asks its daemon
 * (FUSE_POLL).  Before: epoll_wait went to a helper only because the
 * check read its count as the timeout; with that fixed alone, the parked
 * POLL held the loop. */
Test(fuse, epoll_wait_on_a_set_with_a_stalled_file)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct tether_call c = { .nr = SYS_epoll_ctl, .nargs = 4 };
	struct fz_call fc = { .nr = SYS_epoll_wait };
	char done[64];
	int base, fd;

	fz_start();
	base = fx_settled_fds(fx.pid);
	fd = fz_open();
	fc.fd = (int)srv_call(SYS_epoll_create1, 1, (long[]){ EPOLL_CLOEXEC });
	cr_assert_geq(fc.fd, 0, "epoll_create1: %d", fc.fd);
	ev.data.fd = fd;
	c.args[0] = TETHER_INT(fc.fd);
	c.args[1] = TETHER_INT(EPOLL_CTL_ADD);
	c.args[2] = TETHER_INT(fd);
	c.args[3] = TETHER_IN(&ev, sizeof(ev));
	cr_assert_eq(tether_call(fx.t, &c), 0, "%s", tether_last_error(fx.t));
	cr_assert_eq(c.ret, 0, "epoll_ctl: %ld", c.ret);
	detach_fx();
	kid_while_parked(kid_fz_call, &fc, "P", "PARKED POLL", true,
			 "CALLING", "CALLED", done, sizeof(done));
	cr_expect_eq(strtol(done, NULL, 10), 1, "epoll_wait returned %s",
		     done);
	attach_fx();
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fc.fd }), 0);
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd }), 0);
	finish(base);
}

/* ---- memory and stacked filesystems ------------------------------------ */

/* A mapping of the file in tetherd's memory would fault in the loop at
 * any later touch (mlock, a shared futex, a buffer the kernel copies):
 * refused.  Before: mmap went to a helper, and an mlock of the mapping
 * then waited in the loop for the daemon (a hostile walk-through). */
Test(fuse, mapping_a_remote_file_is_refused)
{
	struct tether_call c = { .nr = SYS_mmap, .nargs = 6 };
	int base, fd, rc;

	fz_start();
	base = fx_settled_fds(fx.pid);
	fd = fz_open();
	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(FZ_SIZE);
	c.args[2] = TETHER_INT(PROT_READ);
	c.args[3] = TETHER_INT(MAP_PRIVATE);
	c.args[4] = TETHER_INT(fd);
	c.args[5] = TETHER_INT(0);
	rc = tether_call(fx.t, &c);
	cr_expect_eq(rc, -EPERM, "mmap: rc %d ret %ld (%s)", rc, c.ret,
		     tether_last_error(fx.t));
	cr_expect(strstr(tether_last_error(fx.t), "remote filesystem"), "%s",
		  tether_last_error(fx.t));
	cr_assert_eq(srv_call(SYS_close, 1, (long[]){ fd }), 0);
	finish(base);
}

/* overlayfs over the FUSE mount: local by its own magic, remote by its
 * layer.  Before: overlayfs counted as local, and a read through it ran
 * in the loop and waited for the daemon (a hostile walk-through). */
Test(fuse, an_overlay_on_a_stalled_fuse_is_remote)
{
	char ovl[256], up[256], wk[256], opts[900], path[300];
	int base, fd;

	fz_start();
	fx_path(ovl, sizeof(ovl), "ovl");
	fx_path(up, sizeof(up), "up");
	fx_path(wk, sizeof(wk), "wk");
	cr_assert_eq(mkdir(ovl, 0700), 0);
	cr_assert_eq(mkdir(up, 0700), 0);
	cr_assert_eq(mkdir(wk, 0700), 0);
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
		 fz.dir, up, wk);
	if (mount("overlay", ovl, "overlay", 0, opts) < 0)
		cr_skip_test("no overlay mount here: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/f", ovl);
	base = fx_settled_fds(fx.pid);
	fd = (int)fx_openat(fx.t, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
	cr_assert_geq(fd, 0, "openat %s: %s", path, tether_last_error(fx.t));
	kid_read_waits(fd);
	umount2(ovl, MNT_DETACH);
	finish(base);
}

/* ---- under a policy ------------------------------------------------------ */

/* Under --policy the seccomp filter and the ring's restrictions hold
 * the server too: what it needs to tell remote files (statx, statmount,
 * which libseccomp 2.5.4 does not know by name) and to keep them off the
 * loop must still pass. */
Test(fusepolicy, a_stalled_file_under_a_policy)
{
	static const char policy[] = "default deny EPERM\n"
				     "allow openat\nallow read\n"
				     "allow close\nallow fstat\n";
	const char *extra[] = { "--policy", NULL, NULL };
	char path[256];
	int base;

	fx_path(path, sizeof(path), "policy");
	fx_write_file(path, policy, sizeof(policy) - 1);
	extra[1] = path;
	fx_start_server(extra);
	attach_fx();
	fz_start();
	base = fx_settled_fds(fx.pid);
	kid_read_waits(fz_open());
	finish(base);
}
