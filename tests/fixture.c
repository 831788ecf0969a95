/* Shared test fixture: temp dirs, real tetherds, raw protocol helpers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define FX_MAX_PIDS 32
#define FX_MAX_FDS 8

struct fx fx;

static pid_t fx_pids[FX_MAX_PIDS];
static unsigned fx_npids;

/* ---- time ------------------------------------------------------------ */

static int64_t fx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fx_nap(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- processes ------------------------------------------------------- */

const char *fx_tetherd(void)
{
	const char *p = getenv("TETHERD");

	if (!p || !*p)
		cr_assert_fail("TETHERD is not set (make check exports it)");
	return p;
}

void fx_path(char *buf, size_t size, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", fx.dir, name);

	cr_assert(n > 0 && (size_t)n < size, "path %s/%s too long", fx.dir,
		  name);
}

void fx_track(pid_t pid)
{
	if (pid > 0 && fx_npids < FX_MAX_PIDS)
		fx_pids[fx_npids++] = pid;
}

int fx_start(const char *sock, const char *const *extra, struct tether **out)
{
	char log[160];
	struct tether_start_opts o = { .socket_path = sock,
				       .tetherd = fx_tetherd(),
				       .log_path = log,
				       .extra_args = extra };
	int rc;

	snprintf(log, sizeof(log), "%s.log", sock);
	rc = tether_start(&o, out);
	if (rc == 0)
		fx_track(tether_info(*out)->pid);
	return rc;
}

/* The state letter in /proc/PID/stat, or 0 if there is none. */
static char fx_proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Threads of pid still listed. */
static int fx_tasks(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool fx_gone(pid_t pid)
{
	char st;

	if (waitpid(pid, NULL, WNOHANG) == pid)
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	/* A zombie not yet reaped (init may take its time) is gone
	 * for our purposes, once no thread of it is left: a group leader
	 * shows Z while other threads (io_uring workers) still hold its
	 * fds. */
	st = fx_proc_state(pid);
	return st == 0 || ((st == 'Z' || st == 'X') && fx_tasks(pid) <= 1);
}

bool fx_wait_gone(pid_t pid)
{
	int64_t end = fx_now_ms() + FX_DEADLINE_MS;

	while (!fx_gone(pid)) {
		if (fx_now_ms() > end)
			return false;
		fx_nap();
	}
	return true;
}

int fx_count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int fx_wait_fds(pid_t pid, int want)
{
	int64_t end = fx_now_ms() + FX_DEADLINE_MS;
	int n;

	while ((n = fx_count_fds(pid)) != want && fx_now_ms() < end)
		fx_nap();
	return n;
}

int fx_connect_retry(const char *sock, unsigned flags, struct tether **out)
{
	int64_t end = fx_now_ms() + FX_DEADLINE_MS;
	int rc;

	while ((rc = tether_connect(sock, flags, out)) == -EBUSY &&
	       fx_now_ms() < end)
		fx_nap();
	return rc;
}

int fx_reattach(void)
{
	if (fx.t) {
		tether_disconnect(fx.t);
		fx.t = NULL;
	}
	return fx_connect_retry(fx.sock, 0, &fx.t);
}


long fx_getpid(struct tether *t)
{
	long r = 0;
	int rc = tether_getpid(t, &r);

	return rc < 0 ? rc : r;
}

long fx_syscall(struct tether *t, long nr, unsigned nargs,
		struct tether_arg *args)
{
	long r = 0;
	int rc = tether_syscall(t, nr, nargs, args, &r);

	return rc < 0 ? rc : r;
}

long fx_openat(struct tether *t, int dirfd, const char *path, int flags,
	       mode_t mode)
{
	long r = 0;
	int rc = tether_openat(t, dirfd, path, flags, mode, &r);

	return rc < 0 ? rc : r;
}

long fx_read(struct tether *t, int fd, void *buf, size_t count)
{
	long r = 0;
	int rc = tether_read(t, fd, buf, count, &r);

	return rc < 0 ? rc : r;
}

long fx_write(struct tether *t, int fd, const void *buf, size_t count)
{
	long r = 0;
	int rc = tether_write(t, fd, buf, count, &r);

	return rc < 0 ? rc : r;
}

long fx_close(struct tether *t, int fd)
{
	long r = 0;
	int rc = tether_close(t, fd, &r);

	return rc < 0 ? rc : r;
}

long fx_pipe2(struct tether *t, int fds[2], int flags)
{
	long r = 0;
	int rc = tether_pipe2(t, fds, flags, &r);

	return rc < 0 ? rc : r;
}

long fx_dup3(struct tether *t, int oldfd, int newfd, int flags)
{
	long r = 0;
	int rc = tether_dup3(t, oldfd, newfd, flags, &r);

	return rc < 0 ? rc : r;
}

long fx_lseek(struct tether *t, int fd, off_t off, int whence)
{
	long r = 0;
	int rc = tether_lseek(t, fd, off, whence, &r);

	return rc < 0 ? rc : r;
}

void fx_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(tp_write_all(fd, data, len), 0);
	close(fd);
}

/* ---- fixtures -------------------------------------------------------- */

static int fx_rm(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw);

/* ---- guard: cleanup when the worker dies without its .fini ------------ */

static pid_t fx_guard = -1;
static int fx_guard_fd = -1;

/* In the guard: SIGKILL every process whose command line names dir
 * (our servers: --socket DIR/...), then remove dir. */
static void fx_guard_sweep(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	while (d && (de = readdir(d))) {
		char path[300], buf[4096];
		ssize_t n;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (!buf[i])
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, dir))
			kill(atoi(de->d_name), SIGKILL);
	}
	if (d)
		closedir(d);
	nftw(dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* A process that outlives a crashed or timed-out worker (Criterion
 * runs no .fini then) and kills what it left behind.  fx_fini tells it
 * all is clean by writing a byte; EOF without one means the worker
 * died. */
static void fx_guard_start(void)
{
	char dir[sizeof(fx.dir)];
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	memcpy(dir, fx.dir, sizeof(dir));
	fx_guard = fork();
	if (fx_guard < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (fx_guard == 0) {
		char c;
		ssize_t n;

		setsid();
		if (dup2(p[0], 0) < 0)
			_exit(1);
		syscall(SYS_close_range, 1, ~0U, 0);
		do
			n = read(0, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			fx_guard_sweep(dir);
		_exit(0);
	}
	close(p[0]);
	fx_guard_fd = p[1];
}

static void fx_guard_stop(void)
{
	if (fx_guard_fd >= 0) {
		if (write(fx_guard_fd, "q", 1) != 1)
			(void)0;
		close(fx_guard_fd);
		fx_guard_fd = -1;
	}
	if (fx_guard > 0)
		waitpid(fx_guard, NULL, 0);
	fx_guard = -1;
}

void fx_forked(void)
{
	if (fx_guard_fd >= 0)
		close(fx_guard_fd);
	fx_guard_fd = -1;
	fx_guard = -1;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void fx_init_dir(void)
{
	memset(&fx, 0, sizeof(fx));
	fx_npids = 0;
	/* Orphans of our children (a controller child's server) come to
	 * us, so they can be reaped at once rather than whenever init
	 * gets to it. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	strcpy(fx.dir, "/tmp/tt.XXXXXX");
	cr_assert_not_null(mkdtemp(fx.dir), "mkdtemp: %s", strerror(errno));
	fx_path(fx.sock, sizeof(fx.sock), "s.sock");
	fx_guard_start();
}

void fx_init_server(void)
{
	int rc;

	fx_init_dir();
	rc = fx_start(fx.sock, NULL, &fx.t);
	cr_assert_eq(rc, 0, "tether_start: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.pid = tether_info(fx.t)->pid;
	cr_assert_gt(fx.pid, 0);
}

static int fx_rm(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Sanitizer reports of a server land in its log: make them fail the
 * test that ran it. */
static int fx_scan_log(const char *path, const struct stat *st, int flag,
		       struct FTW *ftw)
{
	char buf[8192];
	size_t n;
	FILE *f;

	(void)st;
	(void)ftw;
	if (flag != FTW_F || strlen(path) < 4 ||
	    strcmp(path + strlen(path) - 4, ".log"))
		return 0;
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (strstr(buf, "Sanitizer") || strstr(buf, "runtime error:"))
		cr_log_error("sanitizer report in %s:\n%s", path, buf);
	return strstr(buf, "Sanitizer") || strstr(buf, "runtime error:");
}

void fx_fini(void)
{
	bool dirty = false;

	if (fx.t) {
		tether_disconnect(fx.t);
		fx.t = NULL;
	}
	for (unsigned i = 0; i < fx_npids; i++) {
		/* One already gone (reaped by tether_shutdown, say) is not
		 * signalled: its pid may belong to someone else by now. */
		if (fx_gone(fx_pids[i]))
			continue;
		kill(fx_pids[i], SIGKILL);
		fx_wait_gone(fx_pids[i]);
	}
	fx_npids = 0;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (fx.dir[0]) {
		dirty = nftw(fx.dir, fx_scan_log, 8, FTW_PHYS) > 0;
		nftw(fx.dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS);
		fx.dir[0] = '\0';
	}
	fx_guard_stop();
	cr_expect(!dirty, "a tetherd reported a sanitizer error");
}

/* ---- raw protocol ---------------------------------------------------- */

void fx_frame_free(struct fx_frame *f)
{
	tp_in_destroy(&f->in);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

const char *fx_frame_text(const struct fx_frame *f, char *buf, size_t size)
{
	const char *p;
	size_t n;

	buf[0] = '\0';
	if (f->rc == 0 && tp_obj_str(f->in.body, &p, &n) == 0)
		snprintf(buf, size, "%.*s", (int)n, p);
	return buf;
}

int fx_dial(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

void fx_hello_msg(struct tp_msg *m, uint64_t version, uint64_t flags)
{
	tp_msg_init(m);
	tp_msg_request(m, 7, TETHER_OP_HELLO);
	msgpack_pack_array(&m->pk, 3);
	msgpack_pack_uint64(&m->pk, version);
	msgpack_pack_uint64(&m->pk, flags);
	msgpack_pack_int(&m->pk, getpid());
	cr_assert_eq(tp_msg_finish(m), 0);
}

static int fx_sendmsg_fds(int fd, const void *pkt, size_t len, const int *fds,
			  unsigned nfds)
{
	union {
		char b[CMSG_SPACE(FX_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)pkt, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfds > FX_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.b;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

int fx_handshake(const char *sock, const void *pkt, size_t len,
		 const int *fds, unsigned nfds, char *text, size_t textsz)
{
	unsigned char buf[4096];
	struct pollfd pfd;
	struct tp_in in;
	const char *p;
	size_t n;
	ssize_t got;
	int fd, rc;

	if (text && textsz)
		text[0] = '\0';
	if ((fd = fx_dial(sock)) < 0)
		return fd;
	/* A peer refused at accept gets its answer before it says
	 * anything; the send may then fail, the answer is still there. */
	rc = fx_sendmsg_fds(fd, pkt, len, fds, nfds);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) {
		close(fd);
		return rc;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, FX_DEADLINE_MS) <= 0) {
		close(fd);
		return -ETIMEDOUT;
	}
	got = recv(fd, buf, sizeof(buf), 0);
	/* A server that closes with our packet unread leaves ECONNRESET
	 * pending: reported once, before the answer still queued. */
	if (got < 0 && errno == ECONNRESET)
		got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	close(fd);
	if (got <= 0)
		return -ECONNRESET;
	if (got < (ssize_t)TETHER_FRAME_HDR)
		return -EPROTO;
	rc = tp_decode(buf + TETHER_FRAME_HDR, (size_t)got - TETHER_FRAME_HDR,
		       &in);
	if (rc == 0) {
		rc = (int)in.code;
		if (rc && text && tp_obj_str(in.body, &p, &n) == 0)
			snprintf(text, textsz, "%.*s", (int)n, p);
	}
	tp_in_destroy(&in);
	return rc;
}

int fx_attach_raw(const char *sock, unsigned hello_flags, int *sfd, int *dfd)
{
	int sp[2], dp[2], pass[2], rc;
	struct tp_msg m;
	char text[256];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = -errno;
		close(sp[0]);
		close(sp[1]);
		return rc;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	fx_hello_msg(&m, TETHER_PROTO_VERSION, hello_flags);
	rc = fx_handshake(sock, tp_msg_data(&m), tp_msg_size(&m), pass, 2,
			  text, sizeof(text));
	tp_msg_destroy(&m);
	close(sp[1]);
	close(dp[1]);
	if (rc != 0) {
		close(sp[0]);
		close(dp[0]);
		return rc > 0 ? -rc : rc;
	}
	*sfd = sp[0];
	if (dfd)
		*dfd = dp[0];
	else
		close(dp[0]);
	return 0;
}

int fx_send_bytes(int fd, const void *p, size_t n)
{
	return tp_write_all(fd, p, n);
}

int fx_send_payload(int fd, const void *payload, size_t len)
{
	unsigned char h[TETHER_FRAME_HDR] = {
		(unsigned char)(len >> 24), (unsigned char)(len >> 16),
		(unsigned char)(len >> 8), (unsigned char)len
	};
	int rc = fx_send_bytes(fd, h, sizeof(h));

	return rc ? rc : fx_send_bytes(fd, payload, len);
}

int fx_send_msg(int fd, struct tp_msg *m)
{
	int rc = tp_msg_finish(m);

	return rc ? rc : fx_send_bytes(fd, tp_msg_data(m), tp_msg_size(m));
}

int fx_recv_frame(int fd, struct tp_rbuf *rb, struct fx_frame *f)
{
	int64_t end = fx_now_ms() + FX_DEADLINE_MS;
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

	memset(f, 0, sizeof(*f));
	for (;;) {
		rc = tp_rbuf_frame(rb, &p, &len);
		if (rc < 0)
			return rc;
		if (rc > 0)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - fx_now_ms());

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return -ETIMEDOUT;
		n = tp_rbuf_fill(rb, fd);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
	if (!(f->buf = malloc(len ? len : 1)))
		return -ENOMEM;
	memcpy(f->buf, p, len);
	tp_rbuf_consume(rb, len);
	f->rc = tp_decode(f->buf, len, &f->in);
	return 0;
}

bool fx_wait_eof(int fd)
{
	int64_t end = fx_now_ms() + FX_DEADLINE_MS;
	char sink[65536];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)(end - fx_now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return false;
		n = read(fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}

bool fx_read_pstat(pid_t pid, struct fx_pstat *ps)
{
	char path[64], buf[1024], *open_paren, *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* comm may hold anything, ')' included: the last ')' ends it */
	if (!(open_paren = strchr(buf, '(')) || !(p = strrchr(buf, ')')))
		return false;
	ps->pid = pid;
	snprintf(ps->comm, sizeof(ps->comm), "%.*s",
		 (int)(p - open_paren - 1), open_paren + 1);
	return sscanf(p + 1, " %c %d %d", &ps->state, &ps->ppid,
		      &ps->pgid) == 3;
}

bool fx_alive(pid_t pid)
{
	struct fx_pstat ps;

	return fx_read_pstat(pid, &ps) && ps.state != 'Z' && ps.state != 'X';
}

static bool fx_descends(pid_t pid)
{
	pid_t self = getpid();

	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		struct fx_pstat ps;

		if (!fx_read_pstat(pid, &ps))
			return false;
		if (ps.ppid == self)
			return true;
		pid = ps.ppid;
	}
	return false;
}

void fx_kill_descendants(void)
{
	/* Killing a parent hands its children to us: go round until
	 * nothing of ours runs. */
	for (int pass = 0; pass < 100; pass++) {
		DIR *d = opendir("/proc");
		struct dirent *de;
		int n = 0;

		while (d && (de = readdir(d))) {
			pid_t pid = (pid_t)atoi(de->d_name);

			if (pid > 1 && pid != getpid() && fx_alive(pid) &&
			    fx_descends(pid)) {
				kill(pid, SIGKILL);
				n++;
			}
		}
		if (d)
			closedir(d);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (!n)
			break;
		fx_nap();
	}
}
