/*
 * The typed syscall table: what tether knows about each system call of
 * this architecture, shared by tetherd, libtether and tetherctl.  One row
 * per call (proto/syscalls.def), strace's syscallent and Linux's io_uring
 * opdef in spirit: the code asks the table, it does not special-case
 * calls.
 *
 * What a row says:
 *   - its arity: the fewest and most arguments a caller may pass (fewer
 *     than the kernel reads only where the rest is optional, as open's
 *     mode);
 *   - what each argument is: a plain number, an fd, a string the kernel
 *     reads, a buffer it reads, writes or both, a pointer tether does
 *     not model, or an address in the server's memory;
 *   - for a buffer, how many bytes the kernel may touch: the value of
 *     another argument (times an element size), and at least a fixed
 *     size for kernel-written structs (struct stat, utsname ...);
 *   - how it behaves: may it block, does it act on the calling thread
 *     only, does it return the byte count of its first out buffer.
 *
 * Calls the table does not know still run (tetherd puts their buffers
 * against a guard page, and runs them off the event loop).
 */
#ifndef TETHER_SYSTAB_H
#define TETHER_SYSTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What an argument is. */
enum tp_arg_kind {
	TP_ARG_NONE = 0,	/* past the arity */
	TP_ARG_INT,		/* a number: flags, mode, count, pid, signal */
	TP_ARG_FD,		/* a file descriptor (AT_FDCWD where *at) */
	TP_ARG_STR,		/* a NUL-terminated string the kernel reads */
	TP_ARG_IN,		/* a buffer the kernel reads */
	TP_ARG_OUT,		/* a buffer the kernel writes */
	TP_ARG_INOUT,		/* a buffer the kernel reads, then writes */
	TP_ARG_PTR,		/* a pointer tether does not model (iovec,
				 * msghdr ...: they hold pointers) */
	TP_ARG_ADDR,		/* an address in the server (mmap, munmap) */
};

/* How a buffer's bytes are shown (tetherctl call; strace-like). */
enum tp_type {
	TP_T_BYTES = 0,		/* raw bytes, escaped */
	TP_T_TEXT,		/* bytes that are text (read of a file ...) */
	TP_T_INT,		/* int */
	TP_T_FDPAIR,		/* int[2]: pipe2, socketpair */
	TP_T_STAT,		/* struct stat */
	TP_T_STATX,		/* struct statx */
	TP_T_STATFS,		/* struct statfs */
	TP_T_UTSNAME,		/* struct utsname */
	TP_T_TIMESPEC,		/* struct timespec */
	TP_T_TIMEVAL,		/* struct timeval */
	TP_T_ITIMERSPEC,	/* struct itimerspec */
	TP_T_RLIMIT,		/* struct rlimit */
	TP_T_RUSAGE,		/* struct rusage */
	TP_T_SYSINFO,		/* struct sysinfo */
	TP_T_SOCKADDR,		/* struct sockaddr_* (family first) */
	TP_T_SOCKLEN,		/* socklen_t */
	TP_T_POLLFD,		/* struct pollfd[] */
	TP_T_EPOLLEVENT,	/* struct epoll_event[] */
	TP_T_SIGSET,		/* kernel sigset_t */
	TP_T_SIGINFO,		/* siginfo_t */
	TP_T_DIRENT64,		/* struct linux_dirent64 records */
	TP_T_PATH,		/* a path the kernel writes (getcwd, readlink) */
	TP_T_U64,		/* uint64_t (eventfd, timerfd counts) */
	TP_T_MAX_
};

#define TP_NOLEN 0xffu		/* len_arg: no argument gives the length */

struct tp_arg_spec {
	uint8_t kind;		/* enum tp_arg_kind */
	uint8_t len_arg;	/* buffers: the argument holding the count,
				 * or TP_NOLEN */
	uint16_t elem;		/* bytes per counted element (1: bytes) */
	uint32_t min;		/* the kernel may write (or read) at least
				 * this many bytes whatever the count says:
				 * the size of a kernel struct; 0 for none */
	uint8_t type;		/* enum tp_type */
	uint8_t narrow;		/* enum tp_narrow: numbers the kernel reads
				 * in 32 bits */
};

/* A number the kernel reads from the low 32 bits of its register (an
 * int, pid_t, uid_t, mode_t ...): the server makes it canonical --
 * sign- or zero-extended -- before its policy looks and before the call,
 * so that a rule on pid 1 also sees 1 + 2^32, which the kernel reads as
 * 1.  Fds are TP_NARROW_S32 (AT_FDCWD is negative). */
enum tp_narrow {
	TP_NARROW_NONE = 0,	/* 64 bits: sizes, offsets, addresses, longs */
	TP_NARROW_S32,		/* int-like: sign-extended */
	TP_NARROW_U32,		/* unsigned int-like: zero-extended */
};

/* How a call behaves. */
#define TP_SC_BLOCKS 0x01u	/* may block whatever its arguments: keep it
				 * off the event loop */
#define TP_SC_FDIO 0x02u	/* blocks only on an fd that may block (a
				 * pipe, socket, tty ... without O_NONBLOCK);
				 * argument 0 is that fd */
#define TP_SC_THREAD 0x04u	/* acts on the calling thread only (signal
				 * mask, credentials of that thread, gettid,
				 * affinity, seccomp, namespaces) */
#define TP_SC_TRIM 0x08u	/* returns the byte count of its first out
				 * buffer */
#define TP_SC_RETFD 0x10u	/* returns a new fd */
#define TP_SC_NOARGS_OK 0x20u	/* variadic in practice (prctl, ioctl):
				 * extra arguments are not an error */
#define TP_SC_KEEPFDS 0x40u	/* leaves the fd table as it is, whatever it
				 * returns (server/fds/fdcount.c) */

/* Room for the longest name and its NUL ("set_mempolicy_home_node");
 * systab.c refuses to compile a longer one.  Held in the row, not
 * pointed to: a table of pointers would be relocated, so written, at
 * every start of every program that links proto, tetherctl's most of
 * all (bench/README, "A lean tetherctl"); without them it is read-only
 * file data, shared and only read where used. */
#define TP_SYSNAME_MAX 24

struct tp_syscall {
	char name[TP_SYSNAME_MAX];
	int nr;
	uint8_t min_args;	/* fewest a caller may pass */
	uint8_t max_args;	/* most (== arity of the kernel's entry) */
	uint16_t flags;		/* TP_SC_* */
	struct tp_arg_spec arg[6];
};

/* The row for nr, or NULL if tether does not know it. */
const struct tp_syscall *tp_syscall_by_nr(long nr);
/* The row for a name ("openat"), or NULL. */
const struct tp_syscall *tp_syscall_by_name(const char *name);
/* Every row, in number order: *n of them. */
const struct tp_syscall *tp_syscall_table(size_t *n);

/* Bytes the kernel may touch in buffer argument i of sc, given the
 * argument values regs[] (those that are numbers): the larger of
 * spec.min and regs[len_arg] * elem.  0 when neither applies.  *over is
 * set when the count times the element size overflows 64 bits. */
uint64_t tp_syscall_buf_need(const struct tp_syscall *sc, unsigned i,
			     const uint64_t regs[6], bool *over);

/* Is argument i of nr an fd?  (Unknown calls: no argument is.) */
bool tp_syscall_arg_is_fd(long nr, unsigned i);

#endif
