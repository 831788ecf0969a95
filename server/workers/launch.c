/*
 * Launching a worker: the child's side of a SPAWN and the clone that
 * runs it, as posix_spawn does it.  The child shares the parent's memory
 * (CLONE_VM) and the calling thread sleeps until the child has exec'd or
 * died (CLONE_VFORK).  So no page tables are copied, the server takes no
 * copy-on-write faults afterwards, and the outcome is known when clone
 * returns: a child that fails before exec writes why into the parent's
 * memory and exits 127 -- no error pipe, no second trip through the loop.
 *
 * Sharing memory binds the child: system calls only (no malloc, no
 * locks), and no glibc wrapper that acts on the whole process: glibc's
 * setgroups, setresgid and setresuid make every thread of the caller
 * change ids, and here those threads are the server's.  The raw calls
 * instead.  Every signal is blocked across the clone and the child resets
 * every disposition before it unblocks, so no handler of the server ever
 * runs on the child's stack.  The child's functions are not instrumented
 * by ASan: its stack is not one ASan knows.
 *
 * Used by the server's helper threads (spawn.c) and by the spawner
 * (spawner.c), which adds CLONE_PARENT.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tetherd.h"
#include "worker.h"

/* The child's stack: its frames are small and it calls little of libc
 * (lazy binding's save area is the largest); one guard page below. */
#define TD_CHILD_STACK (128u << 10)

#define TD_CHILD __attribute__((no_sanitize_address))

/* What the clone's function gets: the spawn, and where to say why not. */
struct td_launch {
	const struct td_spawn *sp;
	int capture_fd;
	struct td_spawn_report *rep;
};

static void TD_CHILD __attribute__((noreturn))
td_child_fail(struct td_spawn_report *rep, int step)
{
	rep->err = errno ? errno : EIO;
	rep->step = step;
	_exit(127);
}

/* The lowest target at or above fd (floor if none). */
static int TD_CHILD td_child_next_target(const int *target, unsigned n,
					 int fd, int floor)
{
	int next = floor;

	for (unsigned i = 0; i < n; i++)
		if (target[i] >= fd && target[i] < next)
			next = target[i];
	return next;
}

/* Put the fd map in place: first every source out of the way (above
 * every target), then onto its target.  0-2 not mapped read /dev/null;
 * nothing else survives. */
static int TD_CHILD td_child_fds(const struct td_spawn *sp, int capture_fd)
{
	int tmp[TETHER_SPAWN_FDS_MAX + 2], target[TETHER_SPAWN_FDS_MAX + 2];
	unsigned n = 0;
	int floor = 1024, null;

	for (unsigned i = 0; i < sp->nfds; i++) {
		/* the copy held since the request, if there is one */
		int src = sp->fds[i].held >= 0 ? sp->fds[i].held
					       : sp->fds[i].server;

		target[n] = sp->fds[i].child;
		tmp[n++] = (int)syscall(SYS_fcntl, src, F_DUPFD, floor);
	}
	for (int fd = 1; capture_fd >= 0 && fd <= 2; fd++) {
		bool mapped = false;

		for (unsigned i = 0; i < sp->nfds; i++)
			mapped |= sp->fds[i].child == fd;
		if (!mapped) {
			target[n] = fd;
			tmp[n++] = (int)syscall(SYS_fcntl, capture_fd, F_DUPFD,
						floor);
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (tmp[i] < 0 || dup2(tmp[i], target[i]) < 0)
			return -1;
	null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd <= 2; fd++) {
		bool set = false;

		for (unsigned i = 0; i < n; i++)
			set |= target[i] == fd;
		if (!set && null >= 0 && null != fd && dup2(null, fd) < 0)
			return -1;
	}
	/* Everything else goes, in close_range runs between targets, the
	 * sources' copies above floor included. */
	for (int fd = 3, next; fd < floor; fd = next + 1) {
		next = td_child_next_target(target, n, fd, floor);
		if (next > fd)
			syscall(SYS_close_range, fd, next - 1, 0);
	}
	syscall(SYS_close_range, floor, ~0U, 0);
	return 0;
}

/* The raw call: glibc refuses to touch the signals it reserves, and an
 * ignored one of those survives exec. */
void TD_CHILD td_spawn_signals_default(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct { void *handler; unsigned long flags; void *restorer;
			 uint64_t mask; } dfl = { 0 };

		syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	}
}

/* The worker's own policy.  Last, after setresuid and chdir, so that it
 * judges only the program: it must allow execve itself and what the
 * dynamic loader does before main (openat, read, mmap, mprotect, fstat,
 * pread64, arch_prctl, set_tid_address, brk, ...), or exec fails with
 * the policy's errno (step "exec") or the program dies at start.  A
 * failure is reported through memory, so a policy that denies write
 * still has its failed exec reported. */
static int TD_CHILD td_child_seccomp(const struct td_spawn *sp)
{
	struct sock_fprog prog = { .len = (unsigned short)sp->nfilter,
				   .filter = sp->filter };

	if (!sp->nfilter)
		return 0;
	/* Unprivileged filters need no_new_privs; it also means a setuid
	 * program gains nothing under this one. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0
		       ? -1 : 0;
}

/* Into the worker's cgroup, by its cgroup.procs. */
static int TD_CHILD td_child_cgroup(const char *cgroup)
{
	int dir = openat(AT_FDCWD, cgroup, O_DIRECTORY | O_CLOEXEC), fd;
	ssize_t n;

	if (dir < 0)
		return -1;
	fd = openat(dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	close(dir);
	if (fd < 0)
		return -1;
	n = write(fd, "0", 1);
	close(fd);
	return n == 1 ? 0 : -1;
}

/* The user's ids, by the raw calls (see above); groups first, uid last. */
static void TD_CHILD td_child_ids(const struct td_spawn *sp,
				  struct td_spawn_report *rep)
{
	if (syscall(SYS_setgroups, (size_t)sp->ngroups, sp->groups) < 0)
		td_child_fail(rep, TD_STEP_GROUPS);
	if (syscall(SYS_setresgid, sp->gid, sp->gid, sp->gid) < 0)
		td_child_fail(rep, TD_STEP_GID);
	if (syscall(SYS_setresuid, sp->uid, sp->uid, sp->uid) < 0)
		td_child_fail(rep, TD_STEP_UID);
}

void TD_CHILD td_spawn_child(const struct td_spawn *sp, int capture_fd,
			     struct td_spawn_report *rep)
{
	sigset_t none;

	/* Nothing of the server's signal handling is the worker's. */
	sigemptyset(&none);
	td_spawn_signals_default();
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		td_child_fail(rep, TD_STEP_SIGNALS);
	if ((sp->setsid && setsid() < 0) ||
	    (!sp->setsid && sp->pgroup && setpgid(0, 0) < 0))
		td_child_fail(rep, TD_STEP_SESSION);
	if (sp->cgroup && td_child_cgroup(sp->cgroup) < 0)
		td_child_fail(rep, TD_STEP_CGROUP);
	if (td_child_fds(sp, capture_fd) < 0)
		td_child_fail(rep, TD_STEP_FDS);
	/* The fd limit tetherd raised for itself goes back down. */
	if (setrlimit(RLIMIT_NOFILE, &sp->nofile) < 0)
		td_child_fail(rep, TD_STEP_RLIMIT);
	for (unsigned i = 0; i < sp->nrlimits; i++)
		if (setrlimit(sp->rlimits[i].res, &sp->rlimits[i].rl) < 0)
			td_child_fail(rep, TD_STEP_RLIMIT);
	if (sp->have_user)
		td_child_ids(sp, rep);
	if (sp->cwd && chdir(sp->cwd) < 0)
		td_child_fail(rep, TD_STEP_CWD);
	/* The server is a subreaper; the worker is not. */
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (td_child_seccomp(sp) < 0)
		td_child_fail(rep, TD_STEP_SECCOMP);
	execve(sp->path, sp->argv, sp->envp);
	td_child_fail(rep, TD_STEP_EXEC);
}

static int TD_CHILD td_child_main(void *arg)
{
	const struct td_launch *l = arg;

	td_spawn_child(l->sp, l->capture_fd, l->rep);
}

/* The parent's side: a stack, every signal blocked, the clone.  The pid
 * once the child has exec'd (rep->err 0) or failed (rep says why; it
 * exits 127 and is the caller's to reap), or -errno. */
pid_t td_spawn_clone(const struct td_spawn *sp, int capture_fd,
		     unsigned long flags, struct td_spawn_report *rep)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = TD_CHILD_STACK + page;
	struct td_launch l = { sp, capture_fd, rep };
	sigset_t all, old;
	char *stack;
	pid_t pid;
	int err;

	memset(rep, 0, sizeof(*rep));
	stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
		     -1, 0);
	if (stack == MAP_FAILED)
		return -errno;
	if (mprotect(stack, page, PROT_NONE) < 0) {
		err = -errno;
		munmap(stack, size);
		return err;
	}
	/* The raw call: glibc's would leave its own two signals (thread
	 * cancellation, setxid) open, and their handlers are the server's. */
	sigfillset(&all);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
	pid = clone(td_child_main, stack + size,
		    (int)(CLONE_VM | CLONE_VFORK | flags | SIGCHLD), &l);
	err = pid < 0 ? -errno : 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, _NSIG / 8);
	munmap(stack, size);
	return err < 0 ? err : pid;
}
