/* proto/systab.c: the typed syscall table, without any server. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <limits.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#include "systab.h"

/* syscalls.def again, names and numbers only: the table must hold every
 * row, each under the number SYS_<name> gives. */
static const struct {
	const char *name;
	long nr;
} def_rows[] = {
#define SC(name, ...) { #name, SYS_##name },
#include "syscalls.def"
#undef SC
};

#define NDEF (sizeof(def_rows) / sizeof(def_rows[0]))

/* ---- helpers --------------------------------------------------------- */

static const struct tp_syscall *row(const char *name)
{
	const struct tp_syscall *sc = tp_syscall_by_name(name);

	cr_assert_not_null(sc, "no row for %s", name);
	return sc;
}

static bool is_buffer(unsigned kind)
{
	return kind == TP_ARG_IN || kind == TP_ARG_OUT || kind == TP_ARG_INOUT;
}

static bool has_flag(const char *name, unsigned flag)
{
	return row(name)->flags & flag;
}

static void expect_arity(const char *name, unsigned lo, unsigned hi)
{
	const struct tp_syscall *sc = row(name);

	cr_expect(sc->min_args == lo && sc->max_args == hi,
		  "%s takes %u..%u, table says %u..%u", name, lo, hi,
		  sc->min_args, sc->max_args);
}

static void expect_min(const char *name, unsigned i, uint32_t min,
		       unsigned type)
{
	const struct tp_syscall *sc = row(name);

	cr_expect_eq(sc->arg[i].min, min, "%s arg %u: min %u, want %u", name,
		     i, sc->arg[i].min, min);
	cr_expect_eq(sc->arg[i].type, type, "%s arg %u: type %u, want %u",
		     name, i, sc->arg[i].type, type);
}

/* fds: the arguments of name that are fds, as a bit mask. */
static void expect_fds(const char *name, unsigned mask)
{
	const struct tp_syscall *sc = row(name);

	for (unsigned i = 0; i < 6; i++)
		cr_expect_eq(tp_syscall_arg_is_fd(sc->nr, i),
			     (mask >> i) & 1, "%s arg %u: fd is %d", name, i,
			     !((mask >> i) & 1));
}

static uint64_t need(const char *name, unsigned i, const uint64_t regs[6],
		     bool *over)
{
	return tp_syscall_buf_need(row(name), i, regs, over);
}

/* ---- numbers and names ----------------------------------------------- */

Test(systab, every_row_of_the_def_is_in_the_table)
{
	const struct tp_syscall *sc;
	size_t n;

	tp_syscall_table(&n);
	cr_assert_eq(n, NDEF, "%zu rows, syscalls.def has %zu", n, NDEF);
	for (size_t i = 0; i < NDEF; i++) {
		sc = tp_syscall_by_name(def_rows[i].name);
		cr_assert_not_null(sc, "%s not found by name",
				   def_rows[i].name);
		cr_expect_eq(sc->nr, def_rows[i].nr, "%s: %d, SYS_%s is %ld",
			     sc->name, sc->nr, def_rows[i].name,
			     def_rows[i].nr);
		cr_expect_eq(tp_syscall_by_nr(def_rows[i].nr), sc,
			     "%s not found by number", def_rows[i].name);
	}
}

Test(systab, numbers_agree_with_libseccomp)
{
	const struct tp_syscall *t;
	size_t n;
	int nr;

	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++) {
		nr = seccomp_syscall_resolve_name(t[i].name);
		/* a libseccomp older than the headers may not know it */
		if (nr == __NR_SCMP_ERROR) {
			cr_log_warn("libseccomp does not know %s", t[i].name);
			continue;
		}
		cr_expect_eq(nr, t[i].nr, "%s: table %d, libseccomp %d",
			     t[i].name, t[i].nr, nr);
	}
}

Test(systab, sorted_and_unique)
{
	const struct tp_syscall *t;
	size_t n;

	t = tp_syscall_table(&n);
	cr_assert_geq(n, 250, "only %zu rows", n);
	for (size_t i = 1; i < n; i++)
		cr_expect_lt(t[i - 1].nr, t[i].nr, "%s (%d) before %s (%d)",
			     t[i - 1].name, t[i - 1].nr, t[i].name, t[i].nr);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			cr_expect_str_neq(t[i].name, t[j].name);
}

Test(systab, unknown_numbers_and_names)
{
	cr_expect_null(tp_syscall_by_nr(-1));
	cr_expect_null(tp_syscall_by_nr(LONG_MIN));
	cr_expect_null(tp_syscall_by_nr(LONG_MAX));
	cr_expect_null(tp_syscall_by_nr(100000));
	cr_expect_null(tp_syscall_by_nr(512));
	/* the gap between rseq (334) and pidfd_send_signal (424) */
	cr_expect_null(tp_syscall_by_nr(335));
	cr_expect_null(tp_syscall_by_nr(423));
	/* gone from x86_64: create_module, _sysctl */
	cr_expect_null(tp_syscall_by_nr(174));
	cr_expect_null(tp_syscall_by_nr(156));
	cr_expect_null(tp_syscall_by_name("no_such_call"));
	cr_expect_null(tp_syscall_by_name(""));
	cr_expect_null(tp_syscall_by_name(NULL));
	cr_expect_null(tp_syscall_by_name("READ"));
	cr_expect(!tp_syscall_arg_is_fd(335, 0));
	cr_expect(!tp_syscall_arg_is_fd(-1, 0));
	cr_expect_eq(tp_syscall_by_nr(SYS_read), row("read"));
	cr_expect_str_eq(tp_syscall_by_nr(SYS_openat)->name, "openat");
}

/* ---- the shape of every row ---------------------------------------- */

Test(systab, arity_and_kinds)
{
	const struct tp_syscall *t;
	size_t n;

	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++) {
		cr_expect_leq(t[i].min_args, t[i].max_args, "%s", t[i].name);
		cr_expect_leq(t[i].max_args, 6, "%s", t[i].name);
		cr_expect_eq(t[i].flags & ~0x7fu, 0, "%s: flags %#x",
			     t[i].name, t[i].flags);
		for (unsigned j = 0; j < 6; j++) {
			unsigned k = t[i].arg[j].kind;

			if (j < t[i].max_args)
				cr_expect(k > TP_ARG_NONE && k <= TP_ARG_ADDR,
					  "%s arg %u: kind %u", t[i].name, j,
					  k);
			else
				cr_expect_eq(k, TP_ARG_NONE,
					     "%s arg %u past the arity",
					     t[i].name, j);
			cr_expect_lt(t[i].arg[j].type, TP_T_MAX_, "%s arg %u",
				     t[i].name, j);
		}
	}
}

Test(systab, counts_point_at_numbers)
{
	const struct tp_syscall *t;
	const struct tp_arg_spec *s;
	size_t n;

	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++) {
		for (unsigned j = 0; j < 6; j++) {
			s = &t[i].arg[j];
			if (!is_buffer(s->kind)) {
				cr_expect(s->len_arg == TP_NOLEN &&
					  !s->elem && !s->min,
					  "%s arg %u: not a buffer, but has a "
					  "size", t[i].name, j);
				continue;
			}
			if (s->len_arg == TP_NOLEN) {
				cr_expect_eq(s->elem, 0, "%s arg %u",
					     t[i].name, j);
				continue;
			}
			cr_expect_lt(s->len_arg, t[i].max_args,
				     "%s arg %u: count in argument %u",
				     t[i].name, j, s->len_arg);
			cr_expect_neq(s->len_arg, j, "%s arg %u", t[i].name,
				      j);
			cr_expect_eq(t[i].arg[s->len_arg].kind, TP_ARG_INT,
				     "%s arg %u: its count (argument %u) is "
				     "not a number", t[i].name, j, s->len_arg);
			cr_expect_geq(s->elem, 1, "%s arg %u", t[i].name, j);
		}
	}
}

Test(systab, flags_fit_the_arguments)
{
	const struct tp_syscall *t;
	bool out;
	size_t n;

	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++) {
		if (t[i].flags & TP_SC_FDIO) {
			cr_expect_eq(t[i].arg[0].kind, TP_ARG_FD, "%s",
				     t[i].name);
			cr_expect(!(t[i].flags & TP_SC_BLOCKS), "%s: FDIO "
				  "and BLOCKS", t[i].name);
		}
		if (!(t[i].flags & TP_SC_TRIM))
			continue;
		out = false;
		for (unsigned j = 0; j < 6; j++)
			out |= t[i].arg[j].kind == TP_ARG_OUT;
		cr_expect(out, "%s trims, but has no out buffer", t[i].name);
	}
}

/* ---- particular rows -------------------------------------------------- */

Test(systab, arities)
{
	expect_arity("read", 3, 3);
	expect_arity("openat", 3, 4);
	expect_arity("open", 2, 3);
	expect_arity("fcntl", 2, 3);
	expect_arity("ioctl", 2, 3);
	expect_arity("prctl", 1, 5);
	expect_arity("futex", 3, 6);
	expect_arity("mmap", 6, 6);
	expect_arity("getpid", 0, 0);
	expect_arity("clone", 2, 5);
	expect_arity("clone3", 2, 2);
	expect_arity("preadv2", 6, 6);
	expect_arity("fchmodat", 3, 3);
	cr_expect(has_flag("ioctl", TP_SC_NOARGS_OK));
	cr_expect(has_flag("prctl", TP_SC_NOARGS_OK));
	cr_expect(!has_flag("fcntl", TP_SC_NOARGS_OK));
	cr_expect(!has_flag("read", TP_SC_NOARGS_OK));
}

Test(systab, struct_sizes)
{
	expect_min("fstat", 1, 144, TP_T_STAT);
	expect_min("stat", 1, 144, TP_T_STAT);
	expect_min("lstat", 1, 144, TP_T_STAT);
	expect_min("newfstatat", 2, 144, TP_T_STAT);
	expect_min("statx", 4, 256, TP_T_STATX);
	expect_min("uname", 0, 390, TP_T_UTSNAME);
	expect_min("statfs", 1, 120, TP_T_STATFS);
	expect_min("clock_gettime", 1, 16, TP_T_TIMESPEC);
	expect_min("timerfd_gettime", 1, 32, TP_T_ITIMERSPEC);
	expect_min("getrlimit", 1, 16, TP_T_RLIMIT);
	expect_min("getrusage", 1, 144, TP_T_RUSAGE);
	expect_min("sysinfo", 0, 112, TP_T_SYSINFO);
	expect_min("gettimeofday", 0, 16, TP_T_TIMEVAL);
	expect_min("getsockname", 1, 128, TP_T_SOCKADDR);
	expect_min("getsockname", 2, 4, TP_T_SOCKLEN);
	expect_min("accept", 1, 128, TP_T_SOCKADDR);
	expect_min("recvfrom", 4, 128, TP_T_SOCKADDR);
	expect_min("pipe", 0, 8, TP_T_FDPAIR);
	expect_min("pipe2", 0, 8, TP_T_FDPAIR);
	expect_min("socketpair", 3, 8, TP_T_FDPAIR);
	expect_min("rt_sigprocmask", 1, 8, TP_T_SIGSET);
	expect_min("rt_sigprocmask", 2, 8, TP_T_SIGSET);
	expect_min("waitid", 2, 128, TP_T_SIGINFO);
	expect_min("epoll_ctl", 3, 12, TP_T_EPOLLEVENT);
	expect_min("sched_getparam", 1, 4, TP_T_INT);
	cr_expect_eq(row("uname")->arg[0].kind, TP_ARG_OUT);
	cr_expect_eq(row("epoll_ctl")->arg[3].kind, TP_ARG_IN);
	cr_expect_eq(row("getsockname")->arg[2].kind, TP_ARG_INOUT);
}

Test(systab, counted_buffers)
{
	const struct tp_arg_spec *s;

	s = &row("read")->arg[1];
	cr_expect(s->kind == TP_ARG_OUT && s->len_arg == 2 && s->elem == 1);
	cr_expect_eq(s->type, TP_T_TEXT);
	s = &row("write")->arg[1];
	cr_expect(s->kind == TP_ARG_IN && s->len_arg == 2 && s->elem == 1);
	s = &row("epoll_wait")->arg[1];
	cr_expect(s->kind == TP_ARG_OUT && s->len_arg == 2 && s->elem == 12);
	s = &row("poll")->arg[0];
	cr_expect(s->kind == TP_ARG_INOUT && s->len_arg == 1 && s->elem == 8);
	s = &row("getdents64")->arg[1];
	cr_expect(s->len_arg == 2 && s->type == TP_T_DIRENT64);
	s = &row("getcwd")->arg[0];
	cr_expect(s->len_arg == 1 && s->type == TP_T_PATH);
	cr_expect_eq(row("readlinkat")->arg[2].len_arg, 3);
	cr_expect_eq(row("getrandom")->arg[0].len_arg, 1);
	s = &row("getgroups")->arg[1];
	cr_expect(s->len_arg == 0 && s->elem == 4);
	cr_expect_eq(row("getxattr")->arg[2].len_arg, 3);
	/* iovecs and msghdrs hold pointers: not modelled */
	cr_expect_eq(row("readv")->arg[1].kind, TP_ARG_PTR);
	cr_expect_eq(row("sendmsg")->arg[1].kind, TP_ARG_PTR);
	cr_expect_eq(row("rt_sigaction")->arg[1].kind, TP_ARG_PTR);
	/* addresses in the server */
	cr_expect_eq(row("mmap")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("munmap")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("mprotect")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("madvise")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("mremap")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("pkey_mprotect")->arg[0].kind, TP_ARG_ADDR);
	cr_expect_eq(row("openat")->arg[1].kind, TP_ARG_STR);
}

Test(systab, fd_arguments)
{
	expect_fds("read", 0x1);
	expect_fds("mmap", 0x10);
	expect_fds("dup2", 0x3);
	expect_fds("dup3", 0x3);
	expect_fds("sendfile", 0x3);
	expect_fds("splice", 0x5);
	expect_fds("tee", 0x3);
	expect_fds("copy_file_range", 0x5);
	expect_fds("epoll_ctl", 0x5);
	expect_fds("renameat", 0x5);
	expect_fds("renameat2", 0x5);
	expect_fds("linkat", 0x5);
	expect_fds("symlinkat", 0x2);
	expect_fds("move_mount", 0x5);
	expect_fds("fanotify_mark", 0x9);
	expect_fds("pidfd_getfd", 0x1);
	expect_fds("openat", 0x1);
	expect_fds("getpid", 0);
	expect_fds("open", 0);
	expect_fds("close_range", 0);
	cr_expect(!tp_syscall_arg_is_fd(SYS_read, 6));
	cr_expect(!tp_syscall_arg_is_fd(SYS_read, UINT_MAX));
}

/* server/exec/fdguard.c's td_fdargs, as it stood: every fd it guards must be
 * an fd here. */
#define A0 0x01u
#define A1 0x02u
#define A2 0x04u
#define A4 0x10u

static const struct {
	long nr;
	unsigned mask;
} fdguard_args[] = {
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

Test(systab, every_fd_fdguard_guards_is_an_fd)
{
	for (size_t i = 0; i < sizeof(fdguard_args) / sizeof(fdguard_args[0]);
	     i++) {
		cr_expect_not_null(tp_syscall_by_nr(fdguard_args[i].nr),
				   "no row for %ld", fdguard_args[i].nr);
		for (unsigned j = 0; j < 6; j++)
			if (fdguard_args[i].mask & (1u << j))
				cr_expect(tp_syscall_arg_is_fd(
						  fdguard_args[i].nr, j),
					  "%ld arg %u is not an fd",
					  fdguard_args[i].nr, j);
	}
}

/* server/exec/fdguard.c's td_fdguard_trims: exactly these. */
Test(systab, trim_list)
{
	static const char *const trims[] = {
		"read", "pread64", "readlink", "readlinkat", "getdents64",
		"getdents", "getcwd", "recvfrom", "getrandom", "getxattr",
		"lgetxattr", "fgetxattr", "listxattr", "llistxattr",
		"flistxattr",
	};
	const struct tp_syscall *t;
	size_t n, ntrim = 0, k;

	for (k = 0; k < sizeof(trims) / sizeof(trims[0]); k++)
		cr_expect(has_flag(trims[k], TP_SC_TRIM), "%s", trims[k]);
	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++)
		ntrim += !!(t[i].flags & TP_SC_TRIM);
	cr_expect_eq(ntrim, k, "%zu rows trim, want %zu", ntrim, k);
}

Test(systab, behaviour_flags)
{
	static const char *const blocks[] = {
		"flock", "fcntl", "futex", "wait4", "waitid", "epoll_wait",
		"epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
		"pselect6", "nanosleep", "clock_nanosleep", "pause",
		"rt_sigsuspend", "rt_sigtimedwait", "open", "openat",
		"openat2", "creat", "connect", "accept", "accept4", "fsync",
		"fdatasync", "sync", "syncfs", "sync_file_range", "msync",
		"ioctl", "sendfile", "splice", "tee", "copy_file_range",
		"truncate", "ftruncate", "fallocate", "mount", "umount2",
		"recvmmsg", "sendmmsg", "getrandom",
	};
	static const char *const fdio[] = {
		"read", "write", "pread64", "pwrite64", "readv", "writev",
		"preadv", "pwritev", "preadv2", "pwritev2", "recvfrom",
		"sendto", "recvmsg", "sendmsg",
	};
	static const char *const direct[] = {
		"getpid", "uname", "fstat", "lseek", "dup", "dup2", "dup3",
		"close", "pipe2", "socket", "socketpair", "bind", "listen",
		"getsockopt", "setsockopt", "getsockname", "mmap", "munmap",
		"kill", "getrlimit", "getuid", "getresuid",
	};
	static const char *const thread[] = {
		"gettid", "set_tid_address", "rt_sigprocmask", "sigaltstack",
		"capget", "capset", "setuid", "setgid", "setreuid",
		"setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
		"setgroups", "prctl", "seccomp", "unshare", "setns",
		"sched_setaffinity", "sched_getaffinity", "personality",
		"arch_prctl", "set_robust_list", "rseq",
	};
	static const char *const retfd[] = {
		"open", "openat", "openat2", "creat", "dup", "dup2", "dup3",
		"socket", "accept", "accept4", "epoll_create1", "eventfd2",
		"memfd_create", "pidfd_open", "pidfd_getfd", "signalfd4",
		"timerfd_create", "inotify_init1", "fanotify_init",
		"userfaultfd", "io_uring_setup",
	};
	size_t i;

	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		cr_expect(has_flag(blocks[i], TP_SC_BLOCKS), "%s", blocks[i]);
	for (i = 0; i < sizeof(fdio) / sizeof(fdio[0]); i++)
		cr_expect(row(fdio[i])->flags & TP_SC_FDIO &&
				  !has_flag(fdio[i], TP_SC_BLOCKS),
			  "%s", fdio[i]);
	for (i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
		cr_expect(!has_flag(direct[i], TP_SC_BLOCKS | TP_SC_FDIO),
			  "%s", direct[i]);
	for (i = 0; i < sizeof(thread) / sizeof(thread[0]); i++)
		cr_expect(has_flag(thread[i], TP_SC_THREAD), "%s", thread[i]);
	cr_expect(!has_flag("rt_sigaction", TP_SC_THREAD));
	cr_expect(!has_flag("getpid", TP_SC_THREAD));
	cr_expect(!has_flag("exit_group", TP_SC_THREAD));
	for (i = 0; i < sizeof(retfd) / sizeof(retfd[0]); i++)
		cr_expect(has_flag(retfd[i], TP_SC_RETFD), "%s", retfd[i]);
	/* these return 0 and write their fds to a buffer */
	cr_expect(!has_flag("pipe2", TP_SC_RETFD));
	cr_expect(!has_flag("socketpair", TP_SC_RETFD));
	cr_expect(!has_flag("read", TP_SC_RETFD));
	cr_expect_eq(row("getpid")->flags, TP_SC_KEEPFDS);
}

/* ---- tp_syscall_buf_need ----------------------------------------------- */

Test(buf_need, counts_and_structs)
{
	uint64_t regs[6] = { 0 };
	bool over = true;

	regs[2] = 100;
	cr_expect_eq(need("read", 1, regs, &over), 100);
	cr_expect(!over);
	cr_expect_eq(need("uname", 0, regs, &over), 390);
	cr_expect(!over);
	regs[2] = 4;
	cr_expect_eq(need("epoll_wait", 1, regs, &over), 48);
	cr_expect(!over);
	regs[0] = 3;
	cr_expect_eq(need("getgroups", 1, regs, NULL), 12);
	/* a count below the struct size: the struct size */
	regs[3] = 0;
	cr_expect_eq(need("rt_sigprocmask", 1, regs, &over), 8);
	regs[3] = 16;
	cr_expect_eq(need("rt_sigprocmask", 2, regs, &over), 16);
	/* not buffers, past the arity, no row */
	cr_expect_eq(need("read", 0, regs, &over), 0);
	cr_expect_eq(need("read", 2, regs, &over), 0);
	cr_expect_eq(need("read", 6, regs, &over), 0);
	cr_expect_eq(need("read", UINT_MAX, regs, &over), 0);
	cr_expect_eq(tp_syscall_buf_need(NULL, 0, regs, &over), 0);
	cr_expect(!over);
	/* a buffer tether cannot size */
	cr_expect_eq(need("mincore", 2, regs, &over), 0);
}

Test(buf_need, overflow_is_flagged)
{
	uint64_t regs[6] = { 0 };
	bool over = false;

	regs[2] = UINT64_MAX / 12 + 1;
	cr_expect_eq(need("epoll_wait", 1, regs, &over), UINT64_MAX);
	cr_expect(over);
	regs[2] = UINT64_MAX / 12;
	cr_expect_eq(need("epoll_wait", 1, regs, &over), UINT64_MAX / 12 * 12);
	cr_expect(!over);
	/* bytes: the count itself, however large */
	regs[2] = UINT64_MAX;
	cr_expect_eq(need("read", 1, regs, &over), UINT64_MAX);
	cr_expect(!over);
	/* -1 as an int count is a huge one */
	regs[1] = (uint64_t)-1;
	cr_expect_eq(need("poll", 0, regs, &over), UINT64_MAX);
	cr_expect(over);
	regs[1] = 0;
	cr_expect_eq(need("poll", 0, regs, NULL), 0);
}

/* KEEPFDS (the fd count, server/fds/fdcount.c): never on a call that can
 * open, close, replace or receive an fd. */
Test(systab, keepfds_only_where_the_fd_table_stays)
{
	static const char *const keep[] = { "read", "write", "pread64",
		"sendmsg", "getpid", "fstat", "lseek", "mmap", "connect" };
	static const char *const not_keep[] = { "recvmsg", "openat", "close",
		"dup", "dup3", "fcntl", "ioctl", "socketpair", "close_range",
		"pidfd_getfd", "io_uring_enter", "prctl" };
	const struct tp_syscall *t;
	size_t n;

	for (size_t i = 0; i < sizeof(keep) / sizeof(*keep); i++)
		cr_expect(has_flag(keep[i], TP_SC_KEEPFDS), "%s", keep[i]);
	for (size_t i = 0; i < sizeof(not_keep) / sizeof(*not_keep); i++)
		cr_expect(!has_flag(not_keep[i], TP_SC_KEEPFDS), "%s",
			  not_keep[i]);
	t = tp_syscall_table(&n);
	for (size_t i = 0; i < n; i++)
		cr_expect(!((t[i].flags & TP_SC_KEEPFDS) &&
			    (t[i].flags & TP_SC_RETFD)),
			  "%s both keeps the fd table and returns an fd",
			  t[i].name);
}
