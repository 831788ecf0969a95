/*
 * bench_procs: where processes run, reaping them, what a signal must
 * undo, private directories and tetherds (bench_common.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define BENCH_RMDIR_TRIES 50		/* x 20 ms, while tetherd exits */
#define BENCH_GUARD_PIDS 8
#define BENCH_GUARD_DIRS 4

/* ---- pinning and processes -------------------------------------------- */

/* Pin a process (0: the caller, and what it forks from now on). */
int bench_pin_pid(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(pid, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

/* Pin the client as the mode asks, before anything is forked; says why
 * on stderr when it cannot. */
static int bench_pin_client(enum bench_pin pin)
{
	int rc;

	if (pin == PIN_NONE)
		return 0;
	rc = bench_pin_pid(0, BENCH_CPU_CLIENT);
	/* Cross mode must be able to use the peer CPU at all. */
	if (rc == 0 && pin == PIN_CROSS) {
		rc = bench_pin_pid(0, BENCH_CPU_PEER);
		if (rc == 0)
			rc = bench_pin_pid(0, BENCH_CPU_CLIENT);
	}
	if (rc < 0)
		fprintf(stderr, "bench: cannot pin to CPU %d%s: %s\n",
			BENCH_CPU_CLIENT, pin == PIN_CROSS ? " and 1" : "",
			strerror(-rc));
	return rc;
}

/* Format pid's allowed CPUs as "0,1" into buf, for the report to show
 * that the pinning took effect. */
static int bench_cpu_list(pid_t pid, char *buf, size_t size)
{
	cpu_set_t set;
	size_t off = 0;

	buf[0] = '\0';
	if (sched_getaffinity(pid, sizeof(set), &set) < 0)
		return -errno;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		int n;

		if (!CPU_ISSET(cpu, &set))
			continue;
		n = snprintf(buf + off, size - off, "%s%d", off ? "," : "",
			     cpu);
		if (n < 0 || (size_t)n >= size - off)
			return -ENOBUFS;
		off += (size_t)n;
	}
	return 0;
}

void bench_cpus(pid_t pid, char *buf, size_t size)
{
	if (pid <= 0 || bench_cpu_list(pid, buf, size) < 0)
		snprintf(buf, size, "?");
}

int bench_reap(pid_t pid)
{
	int status;
	pid_t p;

	do
		p = waitpid(pid, &status, 0);
	while (p < 0 && errno == EINTR);
	bench_guard_pid(pid, false);
	if (p < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- signals ---------------------------------------------------------- */

/* What the handler undoes.  Written by the main process only, read by
 * the handler: plain stores of whole words and of bytes before their
 * slot is armed. */
static volatile sig_atomic_t bench_sig_pids[BENCH_GUARD_PIDS];
static struct {
	char dir[BENCH_DIR_MAX];
	char first[256];
	int depth;
	volatile sig_atomic_t armed;
} bench_sig_dirs[BENCH_GUARD_DIRS];
static pid_t bench_main_pid;

/* A getdents64 record. */
struct bench_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Remove path and what is in it, depth directory levels down (tetherd's
 * state directory sits inside ours).  getdents64, not stdio's opendir
 * (which may allocate): the signal handler uses it too. */
static int bench_rmtree(int parent, const char *path, int depth)
{
	char buf[4096] __attribute__((aligned(8)));
	int fd = openat(parent, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			O_NOFOLLOW);
	long n;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct bench_dirent64 *d = (void *)(buf + off);

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (unlinkat(fd, d->d_name, 0) < 0 && errno == EISDIR &&
			    depth > 0)
				bench_rmtree(fd, d->d_name, depth - 1);
		}
	}
	close(fd);
	if (unlinkat(parent, path, AT_REMOVEDIR) == 0 || errno == ENOENT)
		return 0;
	return -errno;
}

/* Interrupted: big files go first, then what we started is killed and
 * reaped (so nothing writes into the directories any more), then the
 * directories go; then die of the signal.  Async-signal-safe calls
 * only; in a child (which inherits the handler) none of it. */
static void bench_on_signal(int sig)
{
	if (getpid() == bench_main_pid) {
		for (int i = 0; i < BENCH_GUARD_DIRS; i++)
			if (bench_sig_dirs[i].armed &&
			    bench_sig_dirs[i].first[0])
				unlink(bench_sig_dirs[i].first);
		for (int i = 0; i < BENCH_GUARD_PIDS; i++)
			if (bench_sig_pids[i] > 0)
				kill((pid_t)bench_sig_pids[i], SIGKILL);
		for (int i = 0; i < BENCH_GUARD_PIDS; i++)
			if (bench_sig_pids[i] > 0)
				waitpid((pid_t)bench_sig_pids[i], NULL, 0);
		for (int i = 0; i < BENCH_GUARD_DIRS; i++)
			if (bench_sig_dirs[i].armed)
				bench_rmtree(AT_FDCWD, bench_sig_dirs[i].dir,
					     bench_sig_dirs[i].depth);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Clean up with the bench on ^C, TERM or HUP (tetherd is persistent:
 * it would outlive the bench). */
static int bench_catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	bench_main_pid = getpid();
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (signal(sigs[i], bench_on_signal) == SIG_ERR)
			return -errno;
	return 0;
}

int bench_setup(enum bench_pin pin)
{
	int rc = bench_pin_client(pin);

	if (rc == 0 && (rc = bench_catch_signals()) < 0)
		bench_fail("setting up signals", rc);
	/* A peer gone is an EPIPE to report, not the bench's death. */
	if (rc == 0 && signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		rc = bench_fail("ignoring SIGPIPE", -errno);
	return rc;
}

void bench_guard_pid(pid_t pid, bool on)
{
	for (int i = 0; i < BENCH_GUARD_PIDS && pid > 0; i++)
		if (bench_sig_pids[i] == (on ? 0 : pid)) {
			bench_sig_pids[i] = on ? pid : 0;
			return;
		}
}

void bench_guard_dir(const char *dir, const char *first, int depth)
{
	bench_unguard_dir(dir);
	for (int i = 0; i < BENCH_GUARD_DIRS; i++) {
		if (bench_sig_dirs[i].armed)
			continue;
		snprintf(bench_sig_dirs[i].dir, sizeof(bench_sig_dirs[i].dir),
			 "%s", dir);
		snprintf(bench_sig_dirs[i].first,
			 sizeof(bench_sig_dirs[i].first), "%s",
			 first ? first : "");
		bench_sig_dirs[i].depth = depth;
		bench_sig_dirs[i].armed = 1;
		return;
	}
}

void bench_unguard_dir(const char *dir)
{
	for (int i = 0; i < BENCH_GUARD_DIRS; i++)
		if (bench_sig_dirs[i].armed &&
		    !strcmp(bench_sig_dirs[i].dir, dir))
			bench_sig_dirs[i].armed = 0;
}

/* ---- tetherd ---------------------------------------------------------- */

int bench_mkdir(char dir[BENCH_DIR_MAX])
{
	snprintf(dir, BENCH_DIR_MAX, "/tmp/tether-bench.XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return -errno;
	}
	bench_guard_dir(dir, NULL, 2);
	return 0;
}

int bench_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int bench_rmdir(const char *dir, int depth)
{
	int rc = 0;

	for (int tries = 0; tries < BENCH_RMDIR_TRIES; tries++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		rc = bench_rmtree(AT_FDCWD, dir, depth);
		if (rc != -ENOTEMPTY && rc != -EEXIST)
			break;
		nanosleep(&ts, NULL);
	}
	if (rc < 0)
		fprintf(stderr, "bench: cannot remove %s: %s\n", dir,
			strerror(-rc));
	bench_unguard_dir(dir);
	return rc;
}

int bench_start_pinned(const struct tether_start_opts *so,
		       enum bench_pin pin, struct tether **t)
{
	int rc, rc2 = 0;

	*t = NULL;
	/* tetherd inherits our affinity at the fork: we move to the peer
	 * CPU for the start and back after. */
	if (pin == PIN_CROSS && (rc = bench_pin_pid(0, BENCH_CPU_PEER)) < 0)
		return rc;
	rc = tether_start(so, t);
	if (rc < 0)
		*t = NULL;
	if (pin == PIN_CROSS)
		rc2 = bench_pin_pid(0, BENCH_CPU_CLIENT);
	return rc < 0 ? rc : rc2;
}

/* The paths of bd in dir: NAME.sock, NAME.log. */
static int bench_tetherd_paths(struct bench_tetherd *bd, const char *dir,
			       const char *name)
{
	char file[64];
	int rc;

	snprintf(file, sizeof(file), "%s.sock", name);
	if ((rc = bench_path(bd->sock, sizeof(bd->sock), dir, file)) < 0)
		return rc;
	snprintf(file, sizeof(file), "%s.log", name);
	return bench_path(bd->log, sizeof(bd->log), dir, file);
}

int bench_tetherd_start(struct bench_tetherd *bd, const char *dir,
			const char *name, const char *tetherd,
			const char *policy, enum bench_pin pin)
{
	struct tether_start_opts so = { .struct_size = sizeof(so),
					.tetherd = tetherd,
					.policy = policy };
	const struct tether_status *info;
	int rc;

	memset(bd, 0, sizeof(*bd));
	if (!dir) {
		if ((rc = bench_mkdir(bd->dir)) < 0)
			return bench_fail("making a private directory", rc);
		dir = bd->dir;
	}
	if ((rc = bench_tetherd_paths(bd, dir, name)) < 0)
		return bench_fail("tetherd's paths", rc);
	so.socket_path = bd->sock;
	so.log_path = bd->log;
	/* An ignored SIGPIPE would survive tetherd's exec. */
	signal(SIGPIPE, SIG_DFL);
	rc = bench_start_pinned(&so, pin, &bd->t);
	signal(SIGPIPE, SIG_IGN);
	/* Started even when re-pinning failed: guard it all the same. */
	if (bd->t) {
		info = tether_info(bd->t);
		bd->pid = info ? info->pid : 0;
		bench_guard_pid(bd->pid, true);
	}
	if (rc < 0)
		fprintf(stderr, "bench: tether_start (%s%s%s): %s (%s)\n",
			tetherd, policy ? " --policy " : "",
			policy ? policy : "", strerror(-rc),
			tether_last_error(bd->t));
	return rc;
}

int bench_tetherd_stop(struct bench_tetherd *bd)
{
	int rc = 0;

	if (bd->t) {
		rc = tether_shutdown(bd->t);
		if (rc < 0)
			fprintf(stderr, "bench: tether_shutdown: %s (%s)\n",
				strerror(-rc), tether_last_error(bd->t));
		tether_disconnect(bd->t);
		bd->t = NULL;
	}
	bench_guard_pid(bd->pid, false);
	if (bd->dir[0]) {
		if (bench_rmdir(bd->dir, 1) < 0 && rc == 0)
			rc = -EIO;
		bd->dir[0] = '\0';
	}
	return rc;
}
