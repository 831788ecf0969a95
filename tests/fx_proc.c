/* Processes as /proc shows them: gone or alive, fds, status, children. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

/* The state letter in /proc/PID/stat, or 0 if there is none. */
static char fx_proc_state(pid_t pid)
{
	struct fx_pstat ps;

	return fx_read_pstat(pid, &ps) ? ps.state : 0;
}

/* Entries of /proc/PID/<sub> (. and .. aside), or -errno. */
static int fx_proc_entries(pid_t pid, const char *sub)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, sub);
	if (!(d = opendir(path)))
		return -errno;
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
	return st == 0 ||
	       ((st == 'Z' || st == 'X') && fx_proc_entries(pid, "task") <= 1);
}

bool fx_wait_gone(pid_t pid)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	while (!fx_gone(pid)) {
		if (kit_now_ms() > end)
			return false;
		kit_nap_ms(10);
	}
	return true;
}

int fx_count_fds(pid_t pid)
{
	return fx_proc_entries(pid, "fd");
}

int fx_nfds(pid_t pid)
{
	int n = fx_count_fds(pid);

	cr_assert_geq(n, 0, "/proc/%d/fd: %s", (int)pid, strerror(-n));
	return n;
}

int fx_wait_fds(pid_t pid, int want)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	int n;

	while ((n = fx_count_fds(pid)) != want && kit_now_ms() < end)
		kit_nap_ms(10);
	return n;
}

void fx_expect_fds(pid_t pid, int want, const char *when)
{
	int n = fx_wait_fds(pid, want);

	cr_assert_eq(n, want, "server %d holds %d fds %s, expected %d",
		     (int)pid, n, when, want);
}

int fx_settled_fds(pid_t pid)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	int n = fx_nfds(pid), same = 0;

	while (same < 2 && kit_now_ms() < end) {
		int m;

		kit_nap_ms(20);
		m = fx_nfds(pid);
		same = m == n ? same + 1 : 0;
		n = m;
	}
	return n;
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

long fx_blocked_in(pid_t pid)
{
	char path[64], buf[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

long fx_status_field(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

bool fx_sanitized(pid_t pid)
{
	char path[64], line[512];
	bool yes = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if (!(f = fopen(path, "re")))
		return false;
	while (!yes && fgets(line, sizeof(line), f))
		yes = strstr(line, "libasan") || strstr(line, "libtsan");
	fclose(f);
	return yes;
}

int fx_procs(bool (*match)(const struct fx_pstat *ps, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		struct fx_pstat ps;
		pid_t pid = (pid_t)atoi(de->d_name);

		if (pid > 0 && fx_read_pstat(pid, &ps) && match(&ps, arg))
			n++;
	}
	closedir(d);
	return n;
}

struct fx_named {
	pid_t ppid;
	const char *comm;
	pid_t last;
};

static bool fx_is_named(const struct fx_pstat *ps, void *arg)
{
	struct fx_named *q = arg;

	if (ps->ppid != q->ppid || ps->state == 'Z' || strcmp(ps->comm, q->comm))
		return false;
	q->last = ps->pid;
	return true;
}

int fx_children_named(pid_t ppid, const char *comm, pid_t *last)
{
	struct fx_named q = { ppid, comm, 0 };
	int n = fx_procs(fx_is_named, &q);

	if (last && n)
		*last = q.last;
	return n;
}

pid_t fx_spawner_of(pid_t server)
{
	pid_t pid = 0;
	int n = fx_children_named(server, "tetherd-spawner", &pid);

	cr_assert_eq(n, 1, "server %d has %d tetherd-spawner children",
		     (int)server, n);
	return pid;
}

/* Whether pid descends from this process. */
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
		kit_nap_ms(10);
	}
}
