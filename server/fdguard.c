/*
 * What the server knows about individual syscalls: which arguments are
 * fds (so none can reach an internal fd), which would destroy the server
 * if run in its thread, and which return the length of their out buffer.
 */
#include <stddef.h>
#include <sys/syscall.h>

#include "tetherd.h"

#define A0 0x01u
#define A1 0x02u
#define A2 0x04u
#define A4 0x10u

struct td_fdarg {
	long nr;
	unsigned mask;
};

/* *at() dirfds count: AT_FDCWD is negative and never internal. */
static const struct td_fdarg td_fdargs[] = {
	{ SYS_read, A0 }, { SYS_write, A0 }, { SYS_pread64, A0 },
	{ SYS_pwrite64, A0 }, { SYS_readv, A0 }, { SYS_writev, A0 },
	{ SYS_preadv, A0 }, { SYS_pwritev, A0 }, { SYS_preadv2, A0 },
	{ SYS_pwritev2, A0 }, { SYS_close, A0 }, { SYS_fstat, A0 },
	{ SYS_lseek, A0 }, { SYS_ioctl, A0 }, { SYS_fcntl, A0 },
	{ SYS_dup, A0 }, { SYS_dup2, A0 | A1 }, { SYS_dup3, A0 | A1 },
	{ SYS_fsync, A0 }, { SYS_fdatasync, A0 }, { SYS_ftruncate, A0 },
	{ SYS_getdents64, A0 }, { SYS_getdents, A0 }, { SYS_fchdir, A0 },
	{ SYS_fchmod, A0 }, { SYS_fchown, A0 }, { SYS_flock, A0 },
	{ SYS_sendfile, A0 | A1 }, { SYS_sendto, A0 }, { SYS_recvfrom, A0 },
	{ SYS_sendmsg, A0 }, { SYS_recvmsg, A0 }, { SYS_sendmmsg, A0 },
	{ SYS_recvmmsg, A0 }, { SYS_shutdown, A0 }, { SYS_bind, A0 },
	{ SYS_connect, A0 }, { SYS_accept, A0 }, { SYS_accept4, A0 },
	{ SYS_listen, A0 }, { SYS_getsockname, A0 }, { SYS_getpeername, A0 },
	{ SYS_setsockopt, A0 }, { SYS_getsockopt, A0 },
	{ SYS_epoll_ctl, A0 | A2 }, { SYS_epoll_wait, A0 },
	{ SYS_epoll_pwait, A0 }, { SYS_splice, A0 | A2 }, { SYS_tee, A0 | A1 },
	{ SYS_copy_file_range, A0 | A2 }, { SYS_fstatfs, A0 },
	{ SYS_fadvise64, A0 }, { SYS_readahead, A0 }, { SYS_fallocate, A0 },
	{ SYS_sync_file_range, A0 }, { SYS_syncfs, A0 },
	{ SYS_fsetxattr, A0 }, { SYS_fgetxattr, A0 }, { SYS_flistxattr, A0 },
	{ SYS_fremovexattr, A0 }, { SYS_io_uring_enter, A0 },
	{ SYS_io_uring_register, A0 }, { SYS_timerfd_settime, A0 },
	{ SYS_timerfd_gettime, A0 }, { SYS_inotify_add_watch, A0 },
	{ SYS_inotify_rm_watch, A0 }, { SYS_fanotify_mark, A0 },
	{ SYS_mmap, A4 }, { SYS_pidfd_send_signal, A0 },
	{ SYS_pidfd_getfd, A0 }, { SYS_openat, A0 }, { SYS_openat2, A0 },
	{ SYS_mkdirat, A0 }, { SYS_unlinkat, A0 }, { SYS_newfstatat, A0 },
	{ SYS_statx, A0 }, { SYS_readlinkat, A0 }, { SYS_faccessat, A0 },
	{ SYS_faccessat2, A0 }, { SYS_fchmodat, A0 }, { SYS_fchownat, A0 },
	{ SYS_renameat, A0 | A2 }, { SYS_renameat2, A0 | A2 },
	{ SYS_linkat, A0 | A2 }, { SYS_symlinkat, A1 }, { SYS_mknodat, A0 },
	{ SYS_utimensat, A0 }, { SYS_signalfd4, A0 }, { SYS_signalfd, A0 },
	{ SYS_name_to_handle_at, A0 }, { SYS_open_by_handle_at, A0 },
	{ SYS_execveat, A0 }, { SYS_fspick, A0 }, { SYS_move_mount, A0 | A2 },
	{ SYS_open_tree, A0 }, { SYS_setns, A0 }, { SYS_vmsplice, A0 },
	{ SYS_futimesat, A0 }, { SYS_mount_setattr, A0 },
#ifdef SYS_fchmodat2
	{ SYS_fchmodat2, A0 },
#endif
};

#define TD_NR_MAX 1024

/* Indexed by number: every SYSCALL asks, twice. */
unsigned td_fdguard_mask(long nr)
{
	static unsigned char by_nr[TD_NR_MAX];
	static bool ready;

	if (!ready) {
		for (size_t i = 0; i < sizeof(td_fdargs) / sizeof(td_fdargs[0]);
		     i++)
			if (td_fdargs[i].nr >= 0 && td_fdargs[i].nr < TD_NR_MAX)
				by_nr[td_fdargs[i].nr] =
					(unsigned char)td_fdargs[i].mask;
		ready = true;
	}
	return nr >= 0 && nr < TD_NR_MAX ? by_nr[nr] : 0;
}

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
	default:
		return false;
	}
}

/* The return value is the byte count of the first out buffer. */
bool td_fdguard_trims(long nr)
{
	switch (nr) {
	case SYS_read:
	case SYS_pread64:
	case SYS_readlink:
	case SYS_readlinkat:
	case SYS_getdents64:
	case SYS_getdents:
	case SYS_getcwd:
	case SYS_recvfrom:
	case SYS_getrandom:
	case SYS_getxattr:
	case SYS_lgetxattr:
	case SYS_fgetxattr:
	case SYS_listxattr:
	case SYS_llistxattr:
	case SYS_flistxattr:
		return true;
	default:
		return false;
	}
}
