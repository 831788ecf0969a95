/*
 * Whom libtether, tetherd and tetherctl trust: the directories on the
 * way to a socket (every one up to /), the uid of the process that
 * listens on it, the take-over that needs no observer slot (PROBE), and
 * a `tetherctl get` killed midway.  Real processes: a fake "tetherd"
 * running as uid 65534 that reports every byte it receives, real
 * tetherds, tetherctl run as a child and SIGKILLed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"

#define NOBODY 65534

TestSuite(dirchain, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);
TestSuite(defpath, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);
TestSuite(peer, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);
TestSuite(chain, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);
TestSuite(probe, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(busy, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(get, .init = fx_init_server, .fini = fx_fini, .timeout = 60);
TestSuite(ctl, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);

/* ---- helpers ------------------------------------------------------------ */

/* chown and setuid need root; the suite runs as root under make check. */
static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (chown, setuid)");
}

/* fx.dir/name, made with mode and owner. */
static void mkdir_as(char *buf, size_t size, const char *name, mode_t mode,
		     uid_t uid)
{
	fx_path(buf, size, name);
	cr_assert_eq(mkdir(buf, 0700), 0, "mkdir %s: %s", buf, strerror(errno));
	cr_assert_eq(chown(buf, uid, uid), 0, "chown %s: %s", buf,
		     strerror(errno));
	cr_assert_eq(chmod(buf, mode), 0);
}

static int check(const char *dir, uid_t also, char *err, size_t errsz)
{
	return tp_check_dir_chain(dir, getuid(), also, err, errsz);
}

static int drop_to_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		return -errno;
	return 0;
}

/* ---- a fake tetherd of uid 65534 ------------------------------------------ */

/* What it saw: connections, packets, bytes, fds, and the op of the
 * first packet (-1 if none decoded). */
struct fake_report {
	int err;			/* > 0: could not become uid 65534 */
	int conns;
	int packets;
	long bytes;
	int fds;
	int64_t op;
};

struct fake {
	pid_t pid;
	int stop;			/* closed: report and exit */
	int report;
};

/* One packet from conn, counted; the connection is closed either way
 * (a fake never answers). */
static void fake_read(int conn, struct fake_report *r)
{
	unsigned char buf[4096];
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	struct tp_in in;
	int fds[8];
	ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

	if (n > 0) {
		int k = tp_cmsg_fds(&msg, fds, 8);

		r->packets++;
		r->bytes += n;
		r->fds += k;
		for (int i = 0; i < k && i < 8; i++)
			close(fds[i]);
		if (r->op < 0 && n > (ssize_t)TETHER_FRAME_HDR) {
			if (tp_decode(buf + TETHER_FRAME_HDR,
				      (size_t)n - TETHER_FRAME_HDR, &in) == 0)
				r->op = in.code;
			tp_in_destroy(&in);
		}
	}
	close(conn);
}

/* Accept whatever is queued and read what each sent. */
static void fake_drain(int lfd, struct fake_report *r)
{
	int conn;

	while ((conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct pollfd p = { .fd = conn, .events = POLLIN };

		r->conns++;
		poll(&p, 1, 1000);
		fake_read(conn, r);
	}
}

static void fake_child(const char *sock, int stop, int report)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake_report r = { .op = -1 };
	int lfd;

	strcpy(sa.sun_path, sock);
	/* Bound as root, so that the socket lives in a directory only we
	 * can write; listening as uid 65534, which is what SO_PEERCRED
	 * then reports to whoever connects. */
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
		     0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r.err = errno;
	else if (drop_to_nobody() < 0)
		r.err = errno;
	else if (listen(lfd, 16) < 0)
		r.err = errno;
	if (write(report, r.err ? "E" : "L", 1) != 1 || r.err)
		goto out;
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = stop, .events = POLLIN } };

		if (poll(p, 2, 10 * FX_DEADLINE_MS) <= 0 || p[1].revents)
			break;
		fake_drain(lfd, &r);
	}
	fake_drain(lfd, &r);
out:
	_exit(write(report, &r, sizeof(r)) == sizeof(r) ? 0 : 1);
}

static void fake_start(struct fake *f, const char *sock)
{
	int stop[2], rep[2];
	char c = 0;

	need_root();
	cr_assert_eq(pipe2(stop, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	cr_assert_geq(f->pid = fork(), 0);
	if (f->pid == 0) {
		fx_forked();
		close(stop[1]);
		close(rep[0]);
		fake_child(sock, stop[0], rep[1]);
	}
	fx_track(f->pid);
	close(stop[0]);
	close(rep[1]);
	f->stop = stop[1];
	f->report = rep[0];
	cr_assert_eq(read(f->report, &c, 1), 1);
	if (c != 'L')
		cr_skip_test("fake server could not listen as uid 65534");
}

/* Tell it to finish (after draining what is queued) and read its
 * report. */
static struct fake_report fake_stop(struct fake *f)
{
	struct fake_report r = { .err = -1 };

	close(f->stop);
	cr_assert_eq(tp_read_all(f->report, &r, sizeof(r)), 0);
	close(f->report);
	waitpid(f->pid, NULL, 0);
	return r;
}

/* ---- the check itself ------------------------------------------------------ */

Test(dirchain, ours_and_roots_accepted)
{
	char dir[128], err[256];

	mkdir_as(dir, sizeof(dir), "a", 0700, 0);
	cr_assert_eq(check(dir, TP_UID_NONE, err, sizeof(err)), 0, "%s", err);
	/* /tmp is world-writable but sticky, and fx.dir below it ours */
	cr_assert_eq(check("/tmp", TP_UID_NONE, err, sizeof(err)), 0, "%s",
		     err);
}

Test(dirchain, foreign_directory_refused_with_owner_and_mode)
{
	char dir[128], err[256], want[300];

	need_root();
	mkdir_as(dir, sizeof(dir), "tether-0", 0777, NOBODY);
	cr_assert_eq(check(dir, TP_UID_NONE, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "%s belongs to uid 65534 (mode 0777), not to uid 0 or root",
		 dir);
	cr_assert_str_eq(err, want);
}

Test(dirchain, foreign_parent_refused)
{
	char evil[128], sub[160], err[256];

	need_root();
	mkdir_as(evil, sizeof(evil), "evil", 0755, NOBODY);
	mkdir_as(sub, sizeof(sub), "evil/sub", 0700, 0);
	cr_assert_eq(check(sub, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, evil) && strstr(err, "uid 65534"), "%s", err);
	cr_assert_null(strstr(err, "sub"), "names the wrong one: %s", err);
}

Test(dirchain, named_uid_trusted)
{
	char evil[128], sub[160], err[256];

	need_root();
	mkdir_as(evil, sizeof(evil), "evil", 0755, NOBODY);
	mkdir_as(sub, sizeof(sub), "evil/sub", 0700, NOBODY);
	cr_assert_eq(check(sub, NOBODY, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(check(sub, 1234, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, "not to uid 0, uid 1234 or root"), "%s", err);
}

Test(dirchain, world_and_group_writable_refused)
{
	char ww[128], gw[128], err[256];

	mkdir_as(ww, sizeof(ww), "ww", 0777, 0);
	mkdir_as(gw, sizeof(gw), "gw", 0770, 0);
	cr_assert_eq(check(ww, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, "world-writable (mode 0777)"), "%s", err);
	cr_assert_eq(check(gw, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, "group-writable (mode 0770)"), "%s", err);
}

/* Sticky like /tmp: writable by all, but what matters is the entry
 * below, which must be trusted in turn. */
Test(dirchain, sticky_directory_then_its_entry)
{
	char st[128], ok[160], bad[160], err[256];

	need_root();
	mkdir_as(st, sizeof(st), "sticky", 01777, 0);
	mkdir_as(ok, sizeof(ok), "sticky/ok", 0700, 0);
	mkdir_as(bad, sizeof(bad), "sticky/bad", 0700, NOBODY);
	cr_assert_eq(check(ok, TP_UID_NONE, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(check(bad, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, bad), "%s", err);
}

Test(dirchain, sticky_directory_of_another_uid_refused)
{
	char st[128], sub[160], err[256];

	need_root();
	mkdir_as(st, sizeof(st), "sticky", 01777, NOBODY);
	mkdir_as(sub, sizeof(sub), "sticky/sub", 0700, 0);
	cr_assert_eq(check(sub, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, "(mode 1777)"), "%s", err);
}

/* A symlink another uid planted (it could point it elsewhere after we
 * looked) is refused even when it points somewhere trusted. */
Test(dirchain, symlink_of_another_uid_refused)
{
	char dir[128], link[128], err[256];

	need_root();
	mkdir_as(dir, sizeof(dir), "real", 0700, 0);
	fx_path(link, sizeof(link), "link");
	cr_assert_eq(symlink(dir, link), 0);
	cr_assert_eq(lchown(link, NOBODY, NOBODY), 0);
	cr_assert_eq(check(link, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, "is a symlink belonging to uid 65534"), "%s",
		  err);
}

/* Our own symlink is followed, and its target's chain is what counts. */
Test(dirchain, symlink_target_checked)
{
	char dir[128], evil[128], link[128], link2[128], sub[160], err[256];

	need_root();
	mkdir_as(dir, sizeof(dir), "real", 0700, 0);
	mkdir_as(evil, sizeof(evil), "evil", 0755, NOBODY);
	fx_path(link, sizeof(link), "good");
	fx_path(link2, sizeof(link2), "bad");
	cr_assert_eq(symlink("real", link), 0);
	cr_assert_eq(symlink(evil, link2), 0);
	cr_assert_eq(check(link, TP_UID_NONE, err, sizeof(err)), 0, "%s",
		     err);
	snprintf(sub, sizeof(sub), "%s/../good/.", link);
	cr_assert_eq(check(sub, TP_UID_NONE, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(check(link2, TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_assert(strstr(err, evil), "%s", err);
}

Test(dirchain, relative_path_walks_the_working_directory)
{
	char evil[128], sub[160], err[256], cwd[4096];

	need_root();
	mkdir_as(evil, sizeof(evil), "evil", 0755, NOBODY);
	mkdir_as(sub, sizeof(sub), "evil/sub", 0700, 0);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(sub), 0);
	cr_expect_eq(check(".", TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_expect(strstr(err, evil), "%s", err);
	cr_assert_eq(chdir(fx.dir), 0);
	cr_expect_eq(check("evil", TP_UID_NONE, err, sizeof(err)), -EACCES);
	cr_expect_eq(check(".", TP_UID_NONE, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(chdir(cwd), 0);
}

Test(dirchain, not_a_directory_and_missing)
{
	char file[128], missing[128], err[256];

	fx_path(file, sizeof(file), "file");
	fx_write_file(file, "x", 1);
	fx_path(missing, sizeof(missing), "missing/deeper");
	cr_assert_eq(check(file, TP_UID_NONE, err, sizeof(err)), -ENOTDIR);
	cr_assert(strstr(err, "is not a directory"), "%s", err);
	cr_assert_eq(check(missing, TP_UID_NONE, err, sizeof(err)), -ENOENT);
}

/* ---- (c) the default path: /tmp/tether-UID made first by someone else ---- */

/* Our fx.dir stands in for /tmp, fx.dir/run for /run/user: the real
 * /tmp/tether-0 is not ours to touch while other things may use it. */
static void default_path(char *buf, size_t size)
{
	char run[128];

	unsetenv("TETHER_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	fx_path(run, sizeof(run), "run");
	cr_assert_eq(tp_default_socket_path_in(run, fx.dir, buf, size), 0);
}

Test(defpath, tmp_fallback_made_by_another_uid_is_refused)
{
	char path[160], want[300], dir[128], err[256];
	struct tether *t = (struct tether *)1;
	struct fake f;
	struct fake_report r;
	int rc;

	need_root();
	default_path(path, sizeof(path));
	snprintf(want, sizeof(want), "%s/tether-%u/tetherd.sock", fx.dir,
		 (unsigned)getuid());
	cr_assert_str_eq(path, want);
	/* uid 65534 got there first, and listens in it. */
	snprintf(dir, sizeof(dir), "%s/tether-%u", fx.dir, (unsigned)getuid());
	cr_assert_eq(mkdir(dir, 0777), 0);
	cr_assert_eq(chown(dir, NOBODY, NOBODY), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(check(dir, TP_UID_NONE, err, sizeof(err)), -EACCES);
	snprintf(want, sizeof(want),
		 "%s belongs to uid 65534 (mode 0777), not to uid 0 or root",
		 dir);
	cr_assert_str_eq(err, want);
	fake_start(&f, path);
	rc = tether_connect(path, 0, &t);
	r = fake_stop(&f);
	cr_assert_eq(rc, -EACCES, "connect: %d (%s)", rc,
		     tether_last_error(NULL));
	cr_assert_null(t);
	cr_assert_str_eq(tether_last_error(NULL), want);
	cr_assert_eq(r.conns, 0, "the fake server was even connected to");
	cr_assert_eq(r.bytes, 0);
}

Test(defpath, tetherd_refuses_to_start_there)
{
	char path[160], dir[128];
	struct tether *t = (struct tether *)1;

	need_root();
	default_path(path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s/tether-%u", fx.dir, (unsigned)getuid());
	cr_assert_eq(mkdir(dir, 0777), 0);
	cr_assert_eq(chown(dir, NOBODY, NOBODY), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(fx_start(path, NULL, &t), -EACCES, "%s",
		     tether_last_error(NULL));
	cr_assert_null(t);
	cr_assert(strstr(tether_last_error(NULL), dir) &&
		  strstr(tether_last_error(NULL), "uid 65534"),
		  "'%s'", tether_last_error(NULL));
}

/* ---- (a) the listening process's uid ------------------------------------ */

static void fake_sock(char *sock, size_t size)
{
	char dir[128];

	mkdir_as(dir, sizeof(dir), "fake", 0700, 0);
	snprintf(sock, size, "%s/s.sock", dir);
}

Test(peer, server_of_another_uid_gets_nothing)
{
	char sock[160], want[300];
	struct tether *t = (struct tether *)1;
	struct fake f;
	struct fake_report r;
	int rc;

	fake_sock(sock, sizeof(sock));
	fake_start(&f, sock);
	rc = tether_connect(sock, 0, &t);
	r = fake_stop(&f);
	cr_assert_eq(rc, -EACCES, "connect: %d (%s)", rc,
		     tether_last_error(NULL));
	cr_assert_null(t);
	snprintf(want, sizeof(want),
		 "tetherd at %s runs as uid 65534, not uid 0 or root: refusing "
		 "to talk to it (pass its uid if this is intended)",
		 sock);
	cr_assert_str_eq(tether_last_error(NULL), want);
	cr_assert_eq(r.conns, 1, "connections seen: %d", r.conns);
	cr_assert_eq(r.bytes, 0, "the fake server received %ld bytes",
		     r.bytes);
	cr_assert_eq(r.fds, 0);
}

Test(peer, take_over_and_observe_refused_too)
{
	unsigned flags[] = { TETHER_CONNECT_TAKEOVER, TETHER_CONNECT_OBSERVE };
	char sock[160];
	struct tether *t;
	struct fake f;
	struct fake_report r;

	fake_sock(sock, sizeof(sock));
	fake_start(&f, sock);
	for (int i = 0; i < 2; i++)
		cr_expect_eq(tether_connect(sock, flags[i], &t), -EACCES,
			     "flags %u: %s", flags[i], tether_last_error(NULL));
	r = fake_stop(&f);
	cr_assert_eq(r.bytes, 0, "the fake server received %ld bytes",
		     r.bytes);
}

Test(peer, named_uid_is_talked_to)
{
	char sock[160];
	struct tether *t;
	struct fake f;
	struct fake_report r;
	int rc;

	fake_sock(sock, sizeof(sock));
	fake_start(&f, sock);
	/* It reads the HELLO and never answers: the handshake fails, but
	 * only after the HELLO went out. */
	rc = tether_connect_uid(sock, 0, NOBODY, &t);
	r = fake_stop(&f);
	cr_assert_neq(rc, -EACCES, "%s", tether_last_error(NULL));
	cr_assert_eq(r.packets, 1);
	cr_assert_eq(r.op, TETHER_OP_HELLO);
	cr_assert_eq(r.fds, 2, "HELLO carried %d fds", r.fds);
}

Test(peer, start_talks_to_the_server_it_started)
{
	char sock[160];
	struct tether *t;

	fx_path(sock, sizeof(sock), "own/s.sock");
	cr_assert_eq(fx_start(sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(fx_getpid(t), tether_info(t)->pid);
	tether_disconnect(t);
}

/* ---- (b) a directory chain with a component of another uid ---------------- */

Test(chain, tetherd_refuses_a_foreign_parent)
{
	char evil[128], sock[200];
	struct tether *t = (struct tether *)1;

	need_root();
	mkdir_as(evil, sizeof(evil), "evil", 0755, NOBODY);
	snprintf(sock, sizeof(sock), "%s/sub/s.sock", evil);
	cr_assert_eq(fx_start(sock, NULL, &t), -EACCES, "%s",
		     tether_last_error(NULL));
	cr_assert_null(t);
	/* tetherd said no, not the library after it listened there */
	cr_assert_eq(access(sock, F_OK), -1, "tetherd listened in %s", evil);
	cr_assert(strstr(tether_last_error(NULL), evil) &&
		  strstr(tether_last_error(NULL), "uid 65534"),
		  "'%s'", tether_last_error(NULL));
}

/* A server that was fine when it started; then its directory changed
 * hands.  The client refuses before it connects; naming the uid makes
 * it go ahead. */
Test(chain, client_refuses_a_foreign_parent)
{
	char dir[128], sock[160];
	struct tether *t, *obs = (struct tether *)1;
	pid_t pid;

	need_root();
	fx_path(dir, sizeof(dir), "ok");
	snprintf(sock, sizeof(sock), "%s/sub/s.sock", dir);
	cr_assert_eq(fx_start(sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	pid = tether_info(t)->pid;
	cr_assert_eq(chown(dir, NOBODY, NOBODY), 0);
	cr_assert_eq(tether_connect(sock, TETHER_CONNECT_OBSERVE, &obs),
		     -EACCES);
	cr_assert_null(obs);
	cr_assert(strstr(tether_last_error(NULL), dir) &&
		  strstr(tether_last_error(NULL), "uid 65534"),
		  "'%s'", tether_last_error(NULL));
	cr_assert_eq(tether_connect_uid(sock, TETHER_CONNECT_OBSERVE, NOBODY,
					&obs),
		     0, "%s", tether_last_error(NULL));
	cr_assert_eq(tether_info(obs)->pid, pid);
	tether_disconnect(obs);
	tether_disconnect(t);
}

Test(chain, client_refuses_a_world_writable_directory)
{
	char dir[128], sock[160];
	struct tether *t, *obs;

	fx_path(dir, sizeof(dir), "ww");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	cr_assert_eq(fx_start(sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(tether_connect(sock, TETHER_CONNECT_OBSERVE, &obs),
		     -EACCES);
	cr_assert(strstr(tether_last_error(NULL), "world-writable"), "'%s'",
		  tether_last_error(NULL));
	tether_disconnect(t);
}

Test(chain, client_refuses_a_symlink_of_another_uid)
{
	char dir[128], link[128], sock[160];
	struct tether *t, *obs;

	need_root();
	fx_path(dir, sizeof(dir), "real");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	cr_assert_eq(fx_start(sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	fx_path(link, sizeof(link), "link");
	cr_assert_eq(symlink(dir, link), 0);
	cr_assert_eq(lchown(link, NOBODY, NOBODY), 0);
	snprintf(sock, sizeof(sock), "%s/s.sock", link);
	cr_assert_eq(tether_connect(sock, TETHER_CONNECT_OBSERVE, &obs),
		     -EACCES);
	cr_assert(strstr(tether_last_error(NULL), "symlink"), "'%s'",
		  tether_last_error(NULL));
	tether_disconnect(t);
}

/* ---- (d) PROBE, and a take-over with every observer slot taken ------------ */

struct probe_answer {
	int err;
	int64_t pid;
	int64_t generation;
	bool observer;
};

static int64_t map_int(const msgpack_object *map, const char *key)
{
	int64_t v = -1;
	const msgpack_object *o = tp_map_get(map, key);

	if (o)
		tp_obj_i64(o, &v);
	return v;
}

/* A raw HELLO with flags and fds on a fresh connection; the answer. */
static struct probe_answer probe_raw(const char *sock, unsigned flags,
				     const int *fds, unsigned nfds)
{
	struct probe_answer a = { .err = -1 };
	unsigned char buf[4096];
	struct tp_msg m;
	struct tp_in in;
	ssize_t n;
	int fd = fx_dial(sock);

	cr_assert_geq(fd, 0, "dial: %s", strerror(-fd));
	fx_hello_msg(&m, TETHER_PROTO_VERSION, flags);
	cr_assert_geq(fx_send_fds(fd, tp_msg_data(&m), tp_msg_size(&m), fds,
				  nfds), 0);
	tp_msg_destroy(&m);
	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_gt(n, (ssize_t)TETHER_FRAME_HDR, "no answer");
	cr_assert_eq(tp_decode(buf + TETHER_FRAME_HDR,
			       (size_t)n - TETHER_FRAME_HDR, &in),
		     0);
	a.err = (int)in.code;
	if (a.err == 0) {
		a.pid = map_int(in.body, "pid");
		a.generation = map_int(in.body, "generation");
		a.observer = tp_map_get(in.body, "observer") &&
			     tp_map_get(in.body, "observer")->via.boolean;
	}
	tp_in_destroy(&in);
	/* The server closes after its answer. */
	cr_assert(fx_wait_eof(fd), "PROBE connection left open");
	close(fd);
	return a;
}

Test(probe, answers_the_status_and_leaves_nothing)
{
	struct tether_status st;
	struct probe_answer a;
	int before;

	cr_assert_eq(tether_status(fx.t, &st), 0);
	before = fx_wait_fds(fx.pid, (int)(st.nfds + st.ninternal));
	a = probe_raw(fx.sock, TETHER_HELLO_PROBE, NULL, 0);
	cr_assert_eq(a.err, 0);
	cr_assert_eq(a.pid, fx.pid);
	cr_assert_eq((uint64_t)a.generation, tether_info(fx.t)->generation);
	cr_assert(a.observer);
	cr_assert_eq(fx_wait_fds(fx.pid, before), before);
	/* the controller is still the controller, generation unchanged */
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(st.generation, tether_info(fx.t)->generation);
}

Test(probe, fds_sent_along_are_closed)
{
	int sp[2], dp[2], pass[2];
	struct probe_answer a;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp), 0);
	pass[0] = sp[1];
	pass[1] = dp[1];
	a = probe_raw(fx.sock, TETHER_HELLO_PROBE, pass, 2);
	close(sp[1]);
	close(dp[1]);
	cr_assert_eq(a.err, 0);
	cr_assert(fx_wait_eof(sp[0]), "server kept the syscall socket");
	cr_assert(fx_wait_eof(dp[0]), "server kept the data socket");
	close(sp[0]);
	close(dp[0]);
}

Test(probe, with_other_flags_is_einval)
{
	struct probe_answer a = probe_raw(
		fx.sock, TETHER_HELLO_PROBE | TETHER_HELLO_TAKEOVER, NULL, 0);

	cr_assert_eq(a.err, EINVAL);
}

Test(probe, read_only_uid_may_probe)
{
	const char *extra[] = { "--read-only-uid", "65534", NULL };
	char sock[160];
	struct tether *t;
	int p[2], err = -1;
	pid_t child;

	need_root();
	fx_path(sock, sizeof(sock), "ro.sock");
	cr_assert_eq(fx_start(sock, extra, &t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(chmod(fx.dir, 0711), 0);
	cr_assert_eq(chmod(sock, 0666), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_geq(child = fork(), 0);
	if (child == 0) {
		struct tp_msg m;
		int rc = 1000;

		/* No assertions here: this is not the test's process. */
		fx_forked();
		fx_hello_msg(&m, TETHER_PROTO_VERSION, TETHER_HELLO_PROBE);
		if (drop_to_nobody() == 0)
			rc = fx_handshake(sock, tp_msg_data(&m),
					  tp_msg_size(&m), NULL, 0, NULL, 0);
		_exit(write(p[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 1);
	}
	close(p[1]);
	cr_assert_eq(tp_read_all(p[0], &err, sizeof(err)), 0);
	close(p[0]);
	waitpid(child, NULL, 0);
	cr_assert_eq(err, 0, "PROBE as a read-only uid: %d", err);
	tether_disconnect(t);
}

Test(probe, take_over_with_every_observer_slot_taken)
{
	enum { MAX = 300 };
	struct tether *obs[MAX], *t;
	pid_t pid = fx.pid;
	int rc, n;

	/* As many observers of our uid as the server takes. */
	for (n = 0; n < MAX; n++)
		if ((rc = tether_connect(fx.sock, TETHER_CONNECT_OBSERVE,
					 &obs[n])) < 0)
			break;
	cr_assert_lt(n, MAX, "no observer quota");
	cr_assert_eq(rc, -EAGAIN, "observer %d: %d", n, rc);
	cr_assert(strstr(tether_last_error(NULL), "too many observers"), "%s",
		  tether_last_error(NULL));
	rc = tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t);
	cr_assert_eq(rc, 0, "take-over: %d (%s)", rc, tether_last_error(NULL));
	cr_assert_eq(fx_getpid(t), pid);
	cr_assert_lt(fx_getpid(fx.t), 0, "the old controller still works");
	for (int i = 0; i < n; i++)
		tether_disconnect(obs[i]);
	tether_disconnect(t);
}

/* ---- EAGAIN: a server busy with handshakes ------------------------------- */

/* A kid that holds every handshake slot (16 silent connections) for
 * *arg ms, then goes. */
static void handshake_hog(void *arg)
{
	long ms = *(const int *)arg;

	for (int i = 0; i < 16; i++)
		if (fx_dial(fx.sock) < 0)
			kid_fail("dial %d", i);
	kid_say("HELD");
	kit_nap_ms(ms);
}

/* Start one, and wait until the server has accepted every one. */
static void hog_handshakes(struct kid *k, int hold_ms)
{
	static int ms;
	struct tether_status st;
	int base;

	cr_assert_eq(tether_status(fx.t, &st), 0);
	base = fx_wait_fds(fx.pid, (int)(st.nfds + st.ninternal));
	ms = hold_ms;
	kid_start(k, handshake_hog, &ms);
	kid_line(k, "HELD", NULL, 0);
	/* every one accepted before we go on */
	cr_assert_eq(fx_wait_fds(fx.pid, base + 16), base + 16);
}

Test(busy, handshake_eagain_is_retried)
{
	struct tether *obs;
	struct kid hog;
	int rc;

	hog_handshakes(&hog, 300);
	rc = tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &obs);
	cr_assert_eq(rc, 0, "%d (%s)", rc, tether_last_error(NULL));
	tether_disconnect(obs);
	kid_reap(&hog);
}

Test(busy, handshake_eagain_gives_up_after_about_2s)
{
	struct tether *obs;
	struct kid hog;
	int64_t t0, took;
	int rc;

	hog_handshakes(&hog, 4000);
	t0 = kit_now_ms();
	rc = tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &obs);
	took = kit_now_ms() - t0;
	cr_assert_eq(rc, -EAGAIN, "%d (%s)", rc, tether_last_error(NULL));
	cr_assert(strstr(tether_last_error(NULL), "too many handshakes"), "%s",
		  tether_last_error(NULL));
	cr_assert(took >= 1500 && took < 4000, "gave up after %lld ms",
		  (long long)took);
	kid_kill(&hog);
}

/* ---- (e) tetherctl get, killed midway ------------------------------------ */

static const char *tetherctl(void)
{
	const char *p = getenv("TETHERCTL");

	if (!p || !*p)
		cr_assert_fail("TETHERCTL is not set (make check exports it)");
	return p;
}

/* tetherctl ARGS as a child, with TETHER_SERVER_UID set to env_uid
 * (NULL: unset); its stderr into err.  Returns the child. */
static pid_t ctl_spawn(const char *const *args, const char *env_uid,
		       int *errfd)
{
	const char *argv[16] = { "tetherctl" };
	int p[2], n = 1;
	pid_t child;

	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_geq(child = fork(), 0);
	if (child == 0) {
		fx_forked();
		if (env_uid)
			setenv("TETHER_SERVER_UID", env_uid, 1);
		else
			unsetenv("TETHER_SERVER_UID");
		dup2(p[1], 2);
		execv(tetherctl(), (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	*errfd = p[0];
	return child;
}

/* Run it to the end: exit status, stderr in err. */
static int ctl_run(const char *const *args, const char *env_uid, char *err,
		   size_t errsz)
{
	int fd, st;
	size_t len = 0;
	ssize_t n;
	pid_t child = ctl_spawn(args, env_uid, &fd);

	while (len + 1 < errsz &&
	       (n = read(fd, err + len, errsz - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = '\0';
	close(fd);
	cr_assert_eq(waitpid(child, &st, 0), child);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* What the directory holds, names joined by ' ', sorted-insensitive
 * enough for the tests: they compare small fixed sets. */
static int dir_entries(const char *dir, char *buf, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	buf[0] = '\0';
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		strncat(buf, de->d_name, size - strlen(buf) - 2);
		strcat(buf, " ");
	}
	closedir(d);
	return n;
}

/* Bytes tetherctl has written so far (wchar of /proc/PID/io). */
static long long written(pid_t pid)
{
	char path[64], buf[512], *p;
	long long v = -1;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "wchar:")))
		v = strtoll(p + 6, NULL, 10);
	return v;
}

#define BIG (200u << 20)

/* fx.dir/big: BIG bytes, each 1 MiB block numbered. */
static void make_big(char *path, size_t size)
{
	static unsigned char block[1 << 20];
	int fd;

	fx_path(path, size, "big");
	cr_assert_geq(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				0644),
		      0);
	for (unsigned i = 0; i < BIG / sizeof(block); i++) {
		memset(block, 'a' + (int)(i % 26), sizeof(block));
		memcpy(block, &i, sizeof(i));
		cr_assert_eq(tp_write_all(fd, block, sizeof(block)), 0);
	}
	close(fd);
}

static bool same_file(const char *a, const char *b)
{
	static char x[1 << 20], y[1 << 20];
	int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
	bool same = fa >= 0 && fb >= 0;
	ssize_t n, m;

	while (same) {
		n = read(fa, x, sizeof(x));
		m = read(fb, y, sizeof(y));
		same = n == m && n >= 0 && !memcmp(x, y, (size_t)n);
		if (n <= 0)
			break;
	}
	close(fa);
	close(fb);
	return same;
}

/* The fixture's controller steps aside: tetherctl is the controller. */
static void let_tetherctl_attach(void)
{
	tether_disconnect(fx.t);
	fx.t = NULL;
}

Test(get, killed_midway_leaves_nothing_and_a_whole_get_works)
{
	char big[128], out[128], local[160], keep[160], err[512];
	char before[256], after[256];
	const char *args[] = { "-s", fx.sock, "--take-over", "get", big, local,
			       NULL };
	int fd, st, n;
	pid_t child;

	make_big(big, sizeof(big));
	mkdir_as(out, sizeof(out), "out", 0755, getuid());
	snprintf(keep, sizeof(keep), "%s/keep", out);
	fx_write_file(keep, "k", 1);
	snprintf(local, sizeof(local), "%s/local", out);
	n = dir_entries(out, before, sizeof(before));
	let_tetherctl_attach();

	child = ctl_spawn(args, NULL, &fd);
	/* Some bytes arrived (a few MiB), far from all of them. */
	for (int i = 0; i < 100000 && written(child) < (8 << 20); i++) {
		struct timespec ts = { 0, 200 * 1000 };

		nanosleep(&ts, NULL);
	}
	cr_assert_lt(written(child), (long long)BIG, "finished too soon");
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, &st, 0), child);
	close(fd);
	cr_assert(WIFSIGNALED(st), "tetherctl get ended before the kill");
	cr_assert_eq(dir_entries(out, after, sizeof(after)), n,
		     "before: %s; after the kill: %s", before, after);
	cr_assert_str_eq(after, before);
	cr_assert_eq(access(local, F_OK), -1, "LOCAL exists");

	/* the same get, left alone: a whole file, right content */
	cr_assert_eq(ctl_run(args, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert(same_file(big, local), "LOCAL differs from the server's");
	cr_assert_eq(dir_entries(out, after, sizeof(after)), n + 1, "%s",
		     after);
}

/* The new file replaces the old one whole; the umask applies. */
Test(get, replaces_an_existing_file)
{
	char src[128], local[128], err[512];
	const char *args[] = { "-s", fx.sock, "--take-over", "get", src, local,
			       NULL };
	struct stat st;
	char buf[16] = "";
	int fd;

	fx_path(src, sizeof(src), "src");
	fx_write_file(src, "new content", 11);
	fx_path(local, sizeof(local), "local");
	fx_write_file(local, "old, and longer", 15);
	let_tetherctl_attach();
	umask(027);
	cr_assert_eq(ctl_run(args, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat(local, &st), 0);
	cr_assert_eq(st.st_size, 11);
	cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
	cr_assert_geq(fd = open(local, O_RDONLY | O_CLOEXEC), 0);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 11);
	close(fd);
	cr_assert_str_eq(buf, "new content");
}

/* Where O_TMPFILE is missing a killed get leaves its hidden temporary;
 * the next get into that directory removes those whose pid is gone. */
Test(get, temporaries_of_dead_gets_are_removed)
{
	char src[128], local[128], dead1[160], dead2[160], live[160];
	char other[160], err[512];
	const char *args[] = { "-s", fx.sock, "--take-over", "get", src, local,
			       NULL };
	pid_t gone;

	cr_assert_geq(gone = fork(), 0);
	if (gone == 0)
		_exit(0);
	cr_assert_eq(waitpid(gone, NULL, 0), gone);
	fx_path(src, sizeof(src), "src");
	fx_write_file(src, "data", 4);
	fx_path(local, sizeof(local), "local");
	snprintf(dead1, sizeof(dead1), "%s/.other.tether-get-%d", fx.dir,
		 (int)gone);
	/* what tetherctl left before it learnt O_TMPFILE */
	snprintf(dead2, sizeof(dead2), "%s/local.tether-get-%d", fx.dir,
		 (int)gone);
	snprintf(live, sizeof(live), "%s/.local.tether-get-%d", fx.dir,
		 (int)getpid());
	snprintf(other, sizeof(other), "%s/.local.tether-get-x1", fx.dir);
	fx_write_file(dead1, "1", 1);
	fx_write_file(dead2, "2", 1);
	fx_write_file(live, "3", 1);
	fx_write_file(other, "4", 1);
	let_tetherctl_attach();
	cr_assert_eq(ctl_run(args, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(access(dead1, F_OK), -1, "%s left", dead1);
	cr_assert_eq(access(dead2, F_OK), -1, "%s left", dead2);
	cr_assert_eq(access(live, F_OK), 0, "a running pid's was removed");
	cr_assert_eq(access(other, F_OK), 0, "not a temporary, removed");
	cr_assert_eq(access(local, F_OK), 0);
}

Test(get, directory_is_eisdir_and_devices_are_written_to)
{
	char src[128], err[512];
	const char *todir[] = { "-s", fx.sock, "--take-over", "get", src,
				fx.dir, NULL };
	const char *tonull[] = { "-s", fx.sock, "--take-over", "get", src,
				 "/dev/null", NULL };
	struct stat st;

	fx_path(src, sizeof(src), "src");
	fx_write_file(src, "data", 4);
	let_tetherctl_attach();
	cr_assert_eq(ctl_run(todir, NULL, err, sizeof(err)), 1, "%s", err);
	cr_assert(strstr(err, strerror(EISDIR)), "%s", err);
	cr_assert_eq(ctl_run(tonull, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(stat("/dev/null", &st), 0);
	cr_assert(S_ISCHR(st.st_mode), "/dev/null was replaced");
}

/* ---- (f) tetherctl --server-uid and TETHER_SERVER_UID -------------------- */

Test(ctl, bad_server_uid_is_a_usage_error)
{
	const char *bad[] = { "abc", "-1", "", "12x", "4294967295",
			      "99999999999999999999" };
	char sock[128], err[512];

	fx_path(sock, sizeof(sock), "none.sock");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { "-s", sock, "--server-uid", bad[i],
				       "status", NULL };
		const char *plain[] = { "-s", sock, "status", NULL };

		cr_expect_eq(ctl_run(args, NULL, err, sizeof(err)), 2,
			     "--server-uid '%s': %s", bad[i], err);
		cr_expect(strstr(err, "--server-uid"), "%s", err);
		if (!*bad[i])
			continue;	/* an empty variable is no variable */
		cr_expect_eq(ctl_run(plain, bad[i], err, sizeof(err)), 2,
			     "TETHER_SERVER_UID='%s': %s", bad[i], err);
		cr_expect(strstr(err, "TETHER_SERVER_UID"), "%s", err);
	}
}

/* A server of uid 65534 is refused (exit 3, nothing sent) unless named,
 * by option or by variable; the option wins over the variable. */
Test(ctl, server_uid_names_whom_to_trust)
{
	struct {
		const char *opt;
		const char *env;
		int want_exit;
		bool want_hello;
	} cases[] = {
		{ NULL, NULL, 3, false },
		{ "65534", NULL, 3, true },
		{ NULL, "65534", 3, true },
		{ "0", "65534", 3, false },
	};
	char sock[160], err[512];

	fake_sock(sock, sizeof(sock));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *with[] = { "-s", sock, "--server-uid", cases[i].opt,
				       "status", NULL };
		const char *without[] = { "-s", sock, "status", NULL };
		struct fake f;
		struct fake_report r;
		int ex;

		fake_start(&f, sock);
		ex = ctl_run(cases[i].opt ? with : without, cases[i].env, err,
			     sizeof(err));
		r = fake_stop(&f);
		unlink(sock);
		/* the fake never answers: exit 3 either way */
		cr_expect_eq(ex, cases[i].want_exit, "case %zu: %s", i, err);
		cr_expect_eq(r.op == TETHER_OP_HELLO, cases[i].want_hello,
			     "case %zu: fake saw op %lld, %ld bytes (%s)", i,
			     (long long)r.op, r.bytes, err);
		if (!cases[i].want_hello) {
			cr_expect_eq(r.bytes, 0, "case %zu", i);
			cr_expect(strstr(err, "runs as uid 65534"),
				  "case %zu: %s", i, err);
		}
	}
}
