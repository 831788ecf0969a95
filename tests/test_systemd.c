/*
 * tetherd under a service manager, played by the test: sockets passed
 * as LISTEN_FDS (activation), datagrams read from a real NOTIFY_SOCKET
 * (readiness, status, the fd store), stderr as the journal's stream,
 * a syslog socket, SIGHUP with a rotated log.  The fd store test keeps
 * what tetherd deposits, SIGKILLs it and hands everything back to a new
 * one, as systemd does on Restart=.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

TestSuite(activate, .init = fx_init_dir, .fini = fx_fini, .timeout = 60);
TestSuite(notify, .init = fx_init_dir, .fini = fx_fini, .timeout = 60);
TestSuite(fdstore, .init = fx_init_dir, .fini = fx_fini, .timeout = 60);
TestSuite(journal, .init = fx_init_dir, .fini = fx_fini, .timeout = 60);

/* A socket of type bound at path (mode as umask 077 leaves it, unless
 * mode), listening unless it is a datagram socket. */
static int sd_socket(const char *path, int type, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	old = umask(0077);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0,
		     "bind %s: %s", path, strerror(errno));
	umask(old);
	if (mode)
		cr_assert_eq(chmod(path, mode), 0);
	if (type != SOCK_DGRAM)
		cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/* How the test starts tetherd, as a service manager would. */
struct sd_start {
	const int *fds;			/* at 3.. in tetherd */
	unsigned nfds;
	const char *names;		/* LISTEN_FDNAMES, or NULL */
	const char *notify;		/* NOTIFY_SOCKET, or NULL */
	const char *const *args;	/* after argv[0], NULL-terminated */
	int err;			/* its stderr (-1: fx.dir/err) */
	const char *journal;		/* JOURNAL_STREAM, or NULL */
	bool wrong_pid;			/* LISTEN_PID names someone else */
};

static pid_t sd_spawn(const struct sd_start *s)
{
	char errpath[128], buf[32];
	const char *argv[16] = { "tetherd" };
	pid_t pid;
	int hi[8];

	fx_path(errpath, sizeof(errpath), "err");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid) {
		fx_track(pid);
		return pid;
	}
	fx_forked();
	/* Out of the way first: 3.. may hold what is to be moved. */
	for (unsigned i = 0; i < s->nfds; i++)
		hi[i] = fcntl(s->fds[i], F_DUPFD, 100);
	for (unsigned i = 0; i < s->nfds; i++)
		dup2(hi[i], 3 + (int)i);
	if (s->err >= 0)
		dup2(s->err, 2);
	else
		dup2(open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0600), 2);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
	if (s->nfds) {
		snprintf(buf, sizeof(buf), "%d", (int)getpid() +
						 (s->wrong_pid ? 1 : 0));
		setenv("LISTEN_PID", buf, 1);
		snprintf(buf, sizeof(buf), "%u", s->nfds);
		setenv("LISTEN_FDS", buf, 1);
		if (s->names)
			setenv("LISTEN_FDNAMES", s->names, 1);
	}
	if (s->notify)
		setenv("NOTIFY_SOCKET", s->notify, 1);
	if (s->journal)
		setenv("JOURNAL_STREAM", s->journal, 1);
	for (unsigned i = 0; s->args && s->args[i] && i < 14; i++)
		argv[i + 1] = s->args[i];
	execv(fx_tetherd(), (char *const *)argv);
	_exit(127);
}

/* tetherd must exit by itself, with status 1. */
static void sd_expect_exit1(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	fx_untrack(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1,
		  "tetherd ended with status 0x%x, not exit 1", st);
}

/* The whole of a file (up to size - 1 bytes). */
static void sd_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* fx.dir/err holds needle, once tetherd has exited. */
static void sd_expect_err(const char *needle)
{
	char path[128], buf[8192];

	fx_path(path, sizeof(path), "err");
	sd_read_file(path, buf, sizeof(buf));
	cr_assert(strstr(buf, needle), "stderr lacks \"%s\":\n%s", needle, buf);
}

/* The next datagram on ns within the deadline (its fd, if it carries
 * one, into *fd): false if none came. */
static bool sd_recv(int ns, char *buf, size_t size, int *fd)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, size - 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	struct pollfd p = { .fd = ns, .events = POLLIN };
	ssize_t n;

	if (fd)
		*fd = -1;
	if (poll(&p, 1, FX_DEADLINE_MS) != 1)
		return false;
	n = recvmsg(ns, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	cr_assert_geq(n, 0, "recvmsg: %s", strerror(errno));
	buf[n] = '\0';
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		int got;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		memcpy(&got, CMSG_DATA(cm), sizeof(int));
		cr_assert_eq(cm->cmsg_len, CMSG_LEN(sizeof(int)),
			     "one fd per datagram");
		cr_assert(fd, "an fd nobody expected with \"%s\"", buf);
		*fd = got;
	}
	return true;
}

/* Datagrams until one contains needle (into buf); the test fails if
 * none does within the deadline. */
static void sd_expect(int ns, const char *needle, char *buf, size_t size,
		      int *fd)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	while (kit_now_ms() < end) {
		cr_assert(sd_recv(ns, buf, size, fd),
			  "no datagram with \"%s\"", needle);
		if (strstr(buf, needle))
			return;
		if (fd && *fd >= 0)
			close(*fd);
	}
	cr_assert_fail("no datagram with \"%s\" in time", needle);
}

/* Attach, waiting (polling) for a tetherd that makes its own socket to
 * have made it. */
static struct tether *sd_connect(const char *sock)
{
	struct tether *t = NULL;
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	int rc;

	while ((rc = fx_connect_retry(sock, 0, &t)) == -ECONNREFUSED &&
	       kit_now_ms() < end)
		kit_nap_ms(10);

	cr_assert_eq(rc, 0, "connect %s: %s", sock, strerror(-rc));
	return t;
}

/* ---- socket activation ---------------------------------------------- */

/* The listening socket from LISTEN_FDS, of either type tetherd takes:
 * no --socket, and a controller attaches on its path. */
static void sd_serves(int type)
{
	int l = sd_socket(fx.sock, type, 0);
	struct sd_start s = { .fds = &l, .nfds = 1, .names = "tetherd",
			      .err = -1 };
	pid_t pid = sd_spawn(&s);
	struct tether *t = sd_connect(fx.sock);

	cr_assert_eq(fx_getpid(t), pid);
	cr_assert_eq(tether_info(t)->pid, pid);
	tether_disconnect(t);
	close(l);
}

Test(activate, seqpacket)
{
	sd_serves(SOCK_SEQPACKET);
}

/* What systemd-socket-activate makes unless told --seqpacket. */
Test(activate, stream)
{
	sd_serves(SOCK_STREAM);
}

/* On a stream a HELLO must come in one write: one split in two is
 * refused (EPROTO, the reason in the answer), and the server serves on,
 * with the split peer's fds closed. */
Test(activate, stream_split_hello_refused)
{
	int l = sd_socket(fx.sock, SOCK_STREAM, 0), fd, pair[2];
	struct sd_start s = { .fds = &l, .nfds = 1, .err = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned char buf[4096];
	struct tether *t;
	struct tp_msg m;
	pid_t pid = sd_spawn(&s);
	ssize_t n, got = 0;

	fx_hello_msg(&m, TETHER_PROTO_VERSION, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fx.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
		     0);
	/* The header and two fds now, the rest never. */
	cr_assert_eq(fx_send_fds(fd, tp_msg_data(&m), 3, pair, 2), 3);
	while ((n = read(fd, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	cr_assert_gt(got, (ssize_t)TETHER_FRAME_HDR, "no answer");
	cr_assert(memmem(buf, (size_t)got, "too short", 9),
		  "answer without the reason");
	/* Our end sees EOF: the server closed what it was passed. */
	close(pair[1]);
	cr_assert(fx_wait_eof(pair[0]));
	close(fd);
	close(pair[0]);
	tp_msg_destroy(&m);
	t = sd_connect(fx.sock);
	cr_assert_eq(fx_getpid(t), pid);
	tether_disconnect(t);
	close(l);
}

/* The service manager's socket outlives tetherd: it is not removed on
 * exit, and a second tetherd given the same socket serves on it. */
Test(activate, socket_outlives_server)
{
	int l = sd_socket(fx.sock, SOCK_SEQPACKET, 0), st;
	struct sd_start s = { .fds = &l, .nfds = 1, .err = -1 };
	pid_t pid = sd_spawn(&s);
	struct tether *t = sd_connect(fx.sock);
	struct stat sb;

	cr_assert_eq(tether_shutdown(t), 0);
	tether_disconnect(t);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	fx_untrack(pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(lstat(fx.sock, &sb), 0, "the socket file is gone");
	pid = sd_spawn(&s);
	t = sd_connect(fx.sock);
	cr_assert_eq(fx_getpid(t), pid);
	tether_disconnect(t);
	close(l);
}

/* LISTEN_PID of another process: the fds are not ours to take, the
 * variables go, and --socket is made as usual. */
Test(activate, other_pid_ignored)
{
	char other[128];
	int l;
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .nfds = 1, .args = args, .err = -1,
			      .wrong_pid = true };
	struct tether *t;

	fx_path(other, sizeof(other), "other.sock");
	l = sd_socket(other, SOCK_SEQPACKET, 0);
	s.fds = &l;
	sd_spawn(&s);
	t = sd_connect(fx.sock);
	cr_assert_gt(fx_getpid(t), 0);
	tether_disconnect(t);
	close(l);
}

/* Refused, with the reason on stderr and exit status 1. */
static void sd_refused(int fd, const char *const *args, const char *why)
{
	struct sd_start s = { .fds = &fd, .nfds = 1, .args = args,
			      .err = -1 };

	sd_expect_exit1(sd_spawn(&s));
	sd_expect_err(why);
	close(fd);
}

Test(activate, refuses_datagram)
{
	sd_refused(sd_socket(fx.sock, SOCK_DGRAM, 0), NULL,
		   "is a datagram socket");
}

Test(activate, refuses_not_listening)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	sd_refused(fd, NULL, "is not listening");
}

Test(activate, refuses_inet)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(listen(fd, 1), 0);
	sd_refused(fd, NULL, "is not AF_UNIX");
}

Test(activate, refuses_not_socket)
{
	sd_refused(open("/dev/null", O_RDONLY | O_CLOEXEC), NULL,
		   "is not a socket");
}

/* Checked as a socket tetherd makes: nobody else may connect. */
Test(activate, refuses_writable_socket)
{
	sd_refused(sd_socket(fx.sock, SOCK_SEQPACKET, 0666), NULL,
		   "mode 0666: others could connect");
}

/* ... and in a directory only its owner may write to. */
Test(activate, refuses_open_directory)
{
	char sub[128], path[160];

	fx_path(sub, sizeof(sub), "open");
	cr_assert_eq(mkdir(sub, 0777), 0);
	cr_assert_eq(chmod(sub, 0777), 0);
	snprintf(path, sizeof(path), "%s/s.sock", sub);
	sd_refused(sd_socket(path, SOCK_SEQPACKET, 0), NULL,
		   "is world-writable");
}

Test(activate, refuses_abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "tether-%d",
		 (int)getpid());
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	sd_refused(fd, NULL, "is abstract");
}

Test(activate, refuses_two_sockets)
{
	char other[128];
	int fds[2];
	struct sd_start s = { .fds = fds, .nfds = 2, .names = "a:b",
			      .err = -1 };

	fx_path(other, sizeof(other), "other.sock");
	fds[0] = sd_socket(fx.sock, SOCK_SEQPACKET, 0);
	fds[1] = sd_socket(other, SOCK_SEQPACKET, 0);
	sd_expect_exit1(sd_spawn(&s));
	sd_expect_err("passed two sockets to listen on (\"a\" and \"b\")");
}

Test(activate, refuses_other_path)
{
	const char *args[] = { "--socket", "/tmp/elsewhere.sock", NULL };

	sd_refused(sd_socket(fx.sock, SOCK_SEQPACKET, 0), args,
		   "not --socket /tmp/elsewhere.sock");
}

/* ---- readiness ------------------------------------------------------- */

/* READY=1 once it serves, STATUS= as controllers come and go, and
 * STOPPING=1 when told to stop. */
Test(notify, ready_status_stopping)
{
	char npath[128], buf[1024], want[128];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .notify = npath, .args = args, .err = -1 };
	struct tether *t;
	int ns;

	fx_path(npath, sizeof(npath), "notify");
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	cr_assert(strstr(buf, "STATUS=no controller attached, 0 workers "
			 "running, 0 labelled fds\n"), "%s", buf);
	t = sd_connect(fx.sock);
	snprintf(want, sizeof(want), "STATUS=controller pid %d attached "
		 "(generation 1)", (int)getpid());
	sd_expect(ns, want, buf, sizeof(buf), NULL);
	cr_assert_eq(tether_shutdown(t), 0);
	sd_expect(ns, "STOPPING=1\n", buf, sizeof(buf), NULL);
	tether_disconnect(t);
	close(ns);
}

/* Abstract NOTIFY_SOCKET addresses ("@name") work too. */
Test(notify, abstract_address)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64], buf[1024];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .notify = name, .args = args, .err = -1 };
	int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(name, sizeof(name), "@tether-notify-%d", (int)getpid());
	memcpy(sa.sun_path, name, strlen(name));
	sa.sun_path[0] = '\0';
	cr_assert_eq(bind(ns, (struct sockaddr *)&sa,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				      strlen(name))), 0);
	sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	close(ns);
}

/* A NOTIFY_SOCKET nobody listens on is logged, and tetherd serves. */
Test(notify, unreachable_is_not_fatal)
{
	char npath[128], buf[8192], err[128];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .notify = npath, .args = args, .err = -1 };
	struct tether *t;

	fx_path(npath, sizeof(npath), "nobody");
	sd_spawn(&s);
	t = sd_connect(fx.sock);
	tether_disconnect(t);
	fx_path(err, sizeof(err), "err");
	sd_read_file(err, buf, sizeof(buf));
	cr_assert(strstr(buf, "no readiness notification"), "%s", buf);
}

/* ---- the fd store ---------------------------------------------------- */

/* A labelled fd goes to the store; tetherd is SIGKILLed; a new one,
 * given the store's fds back as systemd would, has the label on the
 * same file, at the same number. */
Test(fdstore, survives_sigkill)
{
	char npath[128], data[128], buf[1024], names[512], name[300];
	const char *args[] = { "--fdstore", NULL };
	int ns, l, stored, fds[2], fd;
	struct sd_start s = { .nfds = 1, .names = "tetherd", .notify = npath,
			      .args = args, .err = -1 };
	struct tether *t;
	long n;
	pid_t pid;

	fx_path(npath, sizeof(npath), "notify");
	fx_path(data, sizeof(data), "data");
	fx_write_file(data, "kept by the manager\n", 20);
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	l = sd_socket(fx.sock, SOCK_SEQPACKET, 0);
	s.fds = &l;
	pid = sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);

	t = sd_connect(fx.sock);
	fd = (int)fx_openat(t, AT_FDCWD, data, O_RDONLY, 0);
	cr_assert_geq(fd, 3);
	/* ':' separates LISTEN_FDNAMES: escaped in the stored name. */
	cr_assert_eq(tether_label(t, fd, "db:main"), 0);
	snprintf(name, sizeof(name), "label.%d.db%%3Amain", fd);
	sd_expect(ns, "FDSTORE=1\n", buf, sizeof(buf), &stored);
	cr_assert(strstr(buf, name), "%s", buf);
	cr_assert_geq(stored, 0, "FDSTORE=1 without its fd");
	tether_disconnect(t);

	kill(pid, SIGKILL);
	cr_assert(fx_wait_gone(pid));
	fx_untrack(pid);

	fds[0] = l;
	fds[1] = stored;
	snprintf(names, sizeof(names), "tetherd:%s", name);
	s.fds = fds;
	s.nfds = 2;
	s.names = names;
	pid = sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	cr_assert(strstr(buf, "1 labelled fd\n"), "%s", buf);
	t = sd_connect(fx.sock);
	cr_assert_eq(fx_getpid(t), pid);
	cr_assert_eq(tether_fd_by_label(t, "db:main"), fd);
	memset(buf, 0, sizeof(buf));
	n = fx_read(t, fd, buf, sizeof(buf) - 1);
	cr_assert_eq(n, 20);
	cr_assert_str_eq(buf, "kept by the manager\n");

	/* Unlabelled: withdrawn from the store, by the same name. */
	cr_assert_eq(tether_unlabel(t, "db:main"), 0);
	sd_expect(ns, "FDSTOREREMOVE=1\n", buf, sizeof(buf), NULL);
	cr_assert(strstr(buf, name), "%s", buf);
	tether_disconnect(t);
	close(stored);
	close(l);
	close(ns);
}

/* What comes back from the store: each fd at its old number if it can
 * be, the others after them at the lowest free one; a name that is not
 * tetherd's is closed and withdrawn. */
Test(fdstore, restore_numbers_and_strangers)
{
	char npath[128], buf[1024];
	int fds[4], ns;
	struct sd_start s = { .fds = fds, .nfds = 4,
			      .names = "tetherd:label.junk:label.1.b:label.3.a",
			      .notify = npath, .err = -1 };
	struct tether *t;

	fx_path(npath, sizeof(npath), "notify");
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	fds[0] = sd_socket(fx.sock, SOCK_SEQPACKET, 0);
	fds[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fds[2] = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	fds[3] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	sd_spawn(&s);
	sd_expect(ns, "FDSTOREREMOVE=1\nFDNAME=label.junk\n", buf,
		  sizeof(buf), NULL);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	cr_assert(strstr(buf, "2 labelled fds"), "%s", buf);
	t = sd_connect(fx.sock);
	cr_assert_eq(tether_fd_by_label(t, "a"), 3);
	cr_assert_eq(tether_fd_by_label(t, "b"), 4);
	/* b is /dev/zero: its bytes read as zeros. */
	memset(buf, 1, 4);
	cr_assert_eq(fx_read(t, 4, buf, 4), 4);
	cr_assert_eq(buf[0] | buf[1] | buf[2] | buf[3], 0);
	tether_disconnect(t);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(ns);
}

/* Closing a labelled fd through the server withdraws it too; without
 * --fdstore nothing is deposited. */
Test(fdstore, close_withdraws_and_opt_in)
{
	char npath[128], buf[1024];
	const char *args[] = { "--socket", fx.sock, "--fdstore", NULL };
	struct sd_start s = { .notify = npath, .args = args, .err = -1 };
	struct tether *t;
	int ns, fd, got;

	fx_path(npath, sizeof(npath), "notify");
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	t = sd_connect(fx.sock);
	fd = (int)fx_openat(t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	cr_assert_eq(tether_label(t, fd, "null"), 0);
	sd_expect(ns, "FDSTORE=1\n", buf, sizeof(buf), &got);
	cr_assert_geq(got, 0);
	close(got);
	cr_assert_eq(fx_close(t, fd), 0);
	sd_expect(ns, "FDSTOREREMOVE=1\n", buf, sizeof(buf), NULL);
	cr_assert(strstr(buf, "FDNAME=label."), "%s", buf);
	tether_disconnect(t);
	close(ns);
}

Test(fdstore, off_by_default)
{
	char npath[128], buf[1024], other[128];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .notify = npath, .args = args, .err = -1 };
	struct tether *t;
	int ns, fd, got;

	fx_path(npath, sizeof(npath), "notify");
	fx_path(other, sizeof(other), "x");
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	sd_spawn(&s);
	sd_expect(ns, "READY=1\n", buf, sizeof(buf), NULL);
	t = sd_connect(fx.sock);
	fd = (int)fx_openat(t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	cr_assert_eq(tether_label(t, fd, "null"), 0);
	/* The STATUS= change comes; no FDSTORE=1 before it. */
	sd_expect(ns, "1 labelled fd", buf, sizeof(buf), &got);
	cr_assert_eq(got, -1);
	cr_assert_null(strstr(buf, "FDSTORE"), "%s", buf);
	tether_disconnect(t);
	close(ns);
}

/* ---- logging ----------------------------------------------------------- */

/* stderr is the journal's stream: "<N>" priorities, no time of ours. */
Test(journal, priority_prefixes)
{
	char buf[8192], env[64];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .args = args };
	struct stat st;
	struct tether *t;
	int p[2];
	ssize_t n;
	size_t len = 0;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(fstat(p[1], &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	s.err = p[1];
	s.journal = env;
	sd_spawn(&s);
	close(p[1]);
	t = sd_connect(fx.sock);
	cr_assert_eq(tether_shutdown(t), 0);
	tether_disconnect(t);
	while (len < sizeof(buf) - 1 &&
	       (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	cr_assert(!strncmp(buf, "<6>listening on ", 16), "%s", buf);
	cr_assert(strstr(buf, "\n<5>shutting down: "), "%s", buf);
	cr_assert_null(strstr(buf, "tetherd["), "a pid of ours: %s", buf);
}

/* A JOURNAL_STREAM that is not stderr (inherited, then redirected):
 * our own format. */
Test(journal, other_stream_plain)
{
	char path[128], buf[8192];
	const char *args[] = { "--socket", fx.sock, NULL };
	struct sd_start s = { .args = args, .err = -1, .journal = "1:1" };
	struct tether *t;

	sd_spawn(&s);
	t = sd_connect(fx.sock);
	tether_disconnect(t);
	fx_path(path, sizeof(path), "err");
	sd_read_file(path, buf, sizeof(buf));
	cr_assert(strstr(buf, "Z tetherd["), "%s", buf);
	cr_assert_null(strstr(buf, "<6>"), "%s", buf);
}

/* --syslog=SOCKET: one datagram per line, daemon facility. */
Test(journal, syslog_datagrams)
{
	char npath[128], buf[1024], opt[160], want[64];
	const char *args[] = { "--socket", fx.sock, opt, NULL };
	struct sd_start s = { .args = args, .err = -1 };
	int ns;
	pid_t pid;

	fx_path(npath, sizeof(npath), "log");
	snprintf(opt, sizeof(opt), "--syslog=%s", npath);
	ns = sd_socket(npath, SOCK_DGRAM, 0);
	pid = sd_spawn(&s);
	snprintf(want, sizeof(want), " tetherd[%d]: listening on ", (int)pid);
	sd_expect(ns, want, buf, sizeof(buf), NULL);
	cr_assert(!strncmp(buf, "<30>", 4), "%s", buf);
	cr_assert_null(strchr(buf, '\n'), "%s", buf);
	close(ns);
}

/* SIGHUP: the --log file moved away (logrotate) is opened again. */
Test(journal, sighup_reopens_log)
{
	char log[128], old[128], buf[8192];
	const char *args[] = { "--socket", fx.sock, "--log", log, NULL };
	struct sd_start s = { .args = args, .err = -1 };
	struct tether *t;
	int64_t end;
	pid_t pid;

	fx_path(log, sizeof(log), "tetherd.log");
	fx_path(old, sizeof(old), "tetherd.log.1");
	pid = sd_spawn(&s);
	t = sd_connect(fx.sock);
	cr_assert_eq(rename(log, old), 0);
	cr_assert_eq(kill(pid, SIGHUP), 0);
	buf[0] = '\0';
	for (end = kit_now_ms() + FX_DEADLINE_MS;
	     kit_now_ms() < end && !strstr(buf, "log reopened");
	     kit_nap_ms(10))
		sd_read_file(log, buf, sizeof(buf));
	cr_assert(strstr(buf, "log reopened (SIGHUP)"), "%s", buf);
	/* New lines go to the new file, not the rotated one. */
	tether_disconnect(t);
	t = sd_connect(fx.sock);
	tether_disconnect(t);
	for (end = kit_now_ms() + FX_DEADLINE_MS;
	     kit_now_ms() < end && !strstr(buf, "attached");
	     kit_nap_ms(10))
		sd_read_file(log, buf, sizeof(buf));
	cr_assert(strstr(buf, "controller pid"), "%s", buf);
	sd_read_file(old, buf, sizeof(buf));
	cr_assert(strstr(buf, "listening on"), "%s", buf);
}
