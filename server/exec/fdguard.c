/*
 * Calls tetherd will not run in itself: they would end it, replace it,
 * copy its loop into a second process, steal its workers' exit statuses,
 * stop or kill it, or take away the signals it runs on.  Which arguments
 * are fds, and which calls trim their out buffer, is the syscall table's
 * (proto/systab.h).
 */
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call.h"

/* Run in the server's own thread these would end it, replace it, or
 * copy its event loop into a second process.  Workers come from SPAWN. */
bool td_fdguard_refused(long nr, const char **why)
{
	switch (nr) {
	case SYS_exit:
	case SYS_exit_group:
		*why = "would end tetherd; use SHUTDOWN";
		return true;
	case SYS_execve:
	case SYS_execveat:
		*why = "would replace tetherd";
		return true;
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
		*why = "would copy tetherd's event loop into a new process";
		return true;
	case SYS_rt_sigreturn:
		*why = "has no meaning outside a signal handler";
		return true;
	case SYS_wait4:
	case SYS_waitid:
		/* Reaping is the server's: a stolen exit status would leave
		 * a worker's record running for ever. */
		*why = "would reap tetherd's workers behind its back; use WAIT";
		return true;
	case SYS_rt_sigaction:
	case SYS_rt_sigprocmask:
	case SYS_sigaltstack:
		/* SIGCHLD ignored, SIGTERM unblocked, the helpers' cancel
		 * signal caught: each breaks the server. */
		*why = "would change the signals tetherd runs on";
		return true;
	case SYS_userfaultfd:
		/* A registered range of its memory would freeze the loop
		 * on its next access. */
		*why = "would let a fault in tetherd's memory wait for ever";
		return true;
	default:
		return false;
	}
}

/* A thread of ours: the loop or a helper.  kill(2) of a helper's tid
 * signals the whole process, like kill of our pid. */
static bool td_is_our_thread(long tid)
{
	char path[64];

	if (tid <= 0 || tid > INT32_MAX)
		return false;
	snprintf(path, sizeof(path), "/proc/self/task/%ld", tid);
	return access(path, F_OK) == 0;
}

/* A pid argument that names tetherd: 0, its pid, its process group, or
 * one of its threads. */
static bool td_is_self(long pid)
{
	return pid == 0 || pid == (long)getpid() || pid == -(long)getpgrp() ||
	       td_is_our_thread(pid);
}

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2)
#endif

/* pidfd_send_signal(pidfd, sig, ...): the pid the descriptor names, as
 * its fdinfo says ("Pid:"), or 0 if it is no pidfd of ours to read. */
static long td_pidfd_pid(long fd)
{
	char path[64], line[128];
	long pid = 0;
	FILE *f;

	if (fd < 0 || fd > INT32_MAX)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%ld", fd);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pid: %ld", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

/* setrlimit or prlimit64 of tetherd's own RLIMIT_NOFILE (argument res)
 * to a limit (argument lim) below TD_NOFILE_MIN: from then on no accept
 * and no HELLO finds a number for its fds -- not the owner's, not a
 * take-over's -- and the spare slots cannot help, since every free
 * number is above the limit.  The new limit must be an in buffer for
 * tetherd to read it: a bare address is refused for this resource. */
static bool td_nofile_lowered(const struct td_call *c, unsigned res,
			      unsigned lim, const char **why)
{
	const struct td_arg *a = &c->a[lim];
	struct rlimit rl;

	if (c->a[res].kind != TD_ARG_INT || c->a[res].reg != RLIMIT_NOFILE ||
	    (a->kind == TD_ARG_INT && a->reg == 0))
		return false;
	if ((a->kind != TD_ARG_IN && a->kind != TD_ARG_INOUT) || a->via_data) {
		*why = "sets tetherd's RLIMIT_NOFILE from memory tetherd does "
		       "not check: pass the new limit as an in buffer";
		return true;
	}
	if (a->size < sizeof(rl))
		return false;		/* the kernel meets the guard page */
	memcpy(&rl, a->b.p, sizeof(rl));
	if (rl.rlim_cur >= TD_NOFILE_MIN && rl.rlim_max >= TD_NOFILE_MIN)
		return false;
	/* The number is the man pages' too: a new TD_NOFILE_MIN changes
	 * them all. */
	_Static_assert(TD_NOFILE_MIN == 2304, "fdguard's refusal, tetherd(8) "
		       "and libtether(3) say 2304");
	*why = "would lower tetherd's RLIMIT_NOFILE below the 2304 its own "
	       "fds need: no controller could attach again";
	return true;
}

bool td_fdguard_refused_args(const struct td_call *c, const char **why)
{
	long a0 = (long)c->a[0].reg;
	int sig = (int)c->a[1].reg;

	switch (c->nr) {
	case SYS_setrlimit:
		return td_nofile_lowered(c, 0, 1, why);
	case SYS_prlimit64:
		return c->a[0].kind == TD_ARG_INT && td_is_self(a0) &&
		       td_nofile_lowered(c, 1, 2, why);
	case SYS_unshare:
		/* A private fd table for the loop thread alone: the helpers
		 * would go on with the old one, where the fds the server
		 * closes stay open (found by tests/fuzz/fuzz_server). */
		if (c->a[0].reg & CLONE_FILES) {
			*why = "CLONE_FILES would split tetherd's fd table "
			       "between its threads";
			return true;
		}
		return false;
	case SYS_close_range:
		if (c->a[2].reg & CLOSE_RANGE_UNSHARE) {
			*why = "CLOSE_RANGE_UNSHARE would split tetherd's fd "
			       "table between its threads";
			return true;
		}
		return false;
	case SYS_kill:
	case SYS_rt_sigqueueinfo:
		break;
	case SYS_tgkill:
	case SYS_rt_tgsigqueueinfo:
		sig = (int)c->a[2].reg;
		break;
	case SYS_tkill:
		if (sig && td_is_our_thread(a0))
			goto self;
		return false;
	case SYS_pidfd_send_signal: {
		/* kill(2) by descriptor: the same rule for what it names,
		 * its process group with PIDFD_SIGNAL_PROCESS_GROUP. */
		long pid = c->a[0].kind == TD_ARG_INT ? td_pidfd_pid(a0) : 0;

		if (!sig || pid <= 0)
			return false;
		if (td_is_self(pid) ||
		    ((c->a[3].reg & PIDFD_SIGNAL_PROCESS_GROUP) &&
		     getpgid((pid_t)pid) == getpgrp()))
			goto self;
		return false;
	}
	default:
		return false;
	}
	if (sig == 0 || c->a[0].kind != TD_ARG_INT || !td_is_self(a0))
		return false;
self:
	*why = "would signal tetherd itself; use SHUTDOWN, or KILL a worker";
	return true;
}
