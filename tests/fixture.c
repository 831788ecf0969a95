/* The test fixture: a temp directory, real tetherds, clean-up. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

#define FX_MAX_PIDS 32

struct fx fx;

static pid_t fx_pids[FX_MAX_PIDS];
static unsigned fx_npids;

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

void fx_untrack(pid_t pid)
{
	for (unsigned i = 0; i < fx_npids; i++)
		if (fx_pids[i] == pid)
			fx_pids[i--] = fx_pids[--fx_npids];
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


int fx_connect_retry(const char *sock, unsigned flags, struct tether **out)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	int rc;

	while ((rc = tether_connect(sock, flags, out)) == -EBUSY &&
	       kit_now_ms() < end)
		kit_nap_ms(10);
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

struct tether *fx_observe(const char *sock)
{
	struct tether *t = NULL;
	int rc = tether_connect(sock, TETHER_CONNECT_OBSERVE, &t);

	cr_assert_eq(rc, 0, "observer connect: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	return t;
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

int fx_dir_count(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		if (needle ? strstr(de->d_name, needle) != NULL
			   : strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
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

void fx_start_server(const char *const *extra)
{
	int rc = fx_start(fx.sock, extra, &fx.t);

	cr_assert_eq(rc, 0, "tether_start: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	fx.pid = tether_info(fx.t)->pid;
	cr_assert_gt(fx.pid, 0);
}

void fx_start_policy(const char *text)
{
	char path[256];
	const char *extra[] = { "--policy", path, NULL };

	fx_path(path, sizeof(path), "server.policy");
	fx_write_file(path, text, strlen(text));
	fx_start_server(extra);
}

void fx_init_server(void)
{
	fx_init_dir();
	fx_start_server(NULL);
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

void fx_fini_all(void)
{
	fx_fini();
	fx_kill_descendants();
}

pid_t fx_spawn_ok(struct tether *t, const struct tether_spawn *sp)
{
	pid_t pid = 0;
	int rc = tether_spawn(t, sp, &pid);

	cr_assert_eq(rc, 0, "tether_spawn %s: %s (%s)", sp->argv[0],
		     strerror(-rc), tether_last_error(t));
	cr_assert_gt(pid, 0);
	return pid;
}

struct tether_worker fx_wait_end(struct tether *t, const char *target)
{
	struct tether_worker w;
	int rc = tether_wait(t, target, FX_WAIT_MS, &w);

	cr_assert_eq(rc, 0, "tether_wait %s: %s (%s)", target, strerror(-rc),
		     tether_last_error(t));
	cr_assert(!w.timeout, "worker %s still runs after %d ms", target,
		  FX_WAIT_MS);
	return w;
}
