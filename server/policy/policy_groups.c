/*
 * The @groups a policy can name.  Each entry is a syscall, optionally
 * with conditions in the policy syntax: a group is a shorthand for the
 * lines an operator would otherwise write, nothing more.  Names this
 * architecture lacks (open on arm64) are skipped when the group is used.
 *
 * Groups stay small and close to their name; anything sweeping (ioctl,
 * ptrace, bpf, mount, setuid) is left out of all of them on purpose, so
 * that allowing it is a line of its own in the policy.  The lists are in
 * tetherd(8); keep the two in step.
 */
#include <string.h>

#include "policy.h"

static const char *const td_g_basic_io[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"pwritev", "preadv2", "pwritev2", "lseek", "close", "close_range",
	"dup", "dup2", "dup3", "fcntl", "pipe", "pipe2", "fstat",
	NULL
};

/* Opening is only for reading: no write access, no creating, no
 * truncating.  A write open needs @file-write or a rule of its own. */
static const char *const td_g_file_read[] = {
	"openat arg2 & O_ACCMODE|O_CREAT|O_TRUNC == O_RDONLY",
	"open arg1 & O_ACCMODE|O_CREAT|O_TRUNC == O_RDONLY",
	"read", "readv", "pread64", "preadv", "preadv2", "lseek", "close",
	"getdents64", "getdents", "fstat", "stat", "lstat", "newfstatat",
	"statx", "readlink", "readlinkat", "access", "faccessat",
	"faccessat2", "getcwd", "statfs", "fstatfs", "getxattr",
	"lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	NULL
};

static const char *const td_g_file_write[] = {
	"openat", "open", "creat", "write", "writev", "pwrite64", "pwritev",
	"pwritev2", "truncate", "ftruncate", "fallocate", "fsync",
	"fdatasync", "sync_file_range", "mkdir", "mkdirat", "mknodat",
	"unlink", "unlinkat", "rmdir", "rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat", "chmod", "fchmod",
	"fchmodat", "chown", "fchown", "fchownat", "lchown", "utimensat",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr",
	"lremovexattr", "fremovexattr",
	NULL
};

static const char *const td_g_process[] = {
	"fork", "vfork", "clone", "clone3", "execve", "execveat", "exit",
	"exit_group", "wait4", "waitid", "kill", "tgkill", "pidfd_open",
	"pidfd_send_signal", "setsid", "setpgid", "getpgid", "getpgrp",
	"getsid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
	"sigaltstack", "sched_yield",
	NULL
};

static const char *const td_g_network[] = {
	"socket", "socketpair", "bind", "listen", "accept", "accept4",
	"connect", "getsockname", "getpeername", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	"setsockopt", "getsockopt",
	NULL
};

static const char *const td_g_memory[] = {
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "msync",
	"mincore", "mlock", "munlock", "memfd_create",
	NULL
};

static const char *const td_g_poll[] = {
	"poll", "ppoll", "select", "pselect6", "epoll_create",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "eventfd", "eventfd2", "timerfd_create",
	"timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4",
	NULL
};

static const char *const td_g_time[] = {
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time",
	NULL
};

static const char *const td_g_info[] = {
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid",
	"getegid", "getgroups", "getresuid", "getresgid", "uname",
	"sysinfo", "getrlimit", "getrusage", "getpriority",
	"sched_getaffinity",
	NULL
};

const struct td_policy_group td_policy_groups[] = {
	{ "@basic-io", "reading, writing and managing open fds",
	  td_g_basic_io },
	{ "@file-read", "opening read-only, reading, stat, directories",
	  td_g_file_read },
	{ "@file-write", "opening for writing, creating, removing, renaming",
	  td_g_file_write },
	{ "@process", "fork, exec, wait, signals, sessions", td_g_process },
	{ "@network", "sockets of every family", td_g_network },
	{ "@memory", "mappings and memfds", td_g_memory },
	{ "@poll", "poll, epoll, eventfd, timerfd, signalfd", td_g_poll },
	{ "@time", "clocks and sleeping", td_g_time },
	{ "@info", "ids, limits, uname: reading only", td_g_info },
	{ NULL, NULL, NULL },
};

const struct td_policy_group *td_policy_group_find(const char *name)
{
	for (const struct td_policy_group *g = td_policy_groups; g->name; g++)
		if (!strcmp(g->name, name))
			return g;
	return NULL;
}
