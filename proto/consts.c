/*
 * Symbolic constants `tetherctl call` and tetherd's policy files
 * understand, and errno names.
 * Values come from the system headers, so they are what this
 * architecture's kernel expects.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "consts.h"

struct tp_const {
	const char *name;
	int64_t value;
};

#define K(x) { #x, (int64_t)(x) }

static const struct tp_const consts[] = {
	/* *at() */
	K(AT_FDCWD), K(AT_EMPTY_PATH), K(AT_SYMLINK_NOFOLLOW),
	K(AT_SYMLINK_FOLLOW), K(AT_REMOVEDIR), K(AT_NO_AUTOMOUNT),
	K(AT_EACCESS),
#ifdef AT_STATX_SYNC_AS_STAT
	K(AT_STATX_SYNC_AS_STAT), K(AT_STATX_FORCE_SYNC),
	K(AT_STATX_DONT_SYNC),
#endif
#ifdef AT_RECURSIVE
	K(AT_RECURSIVE),
#endif
	/* open flags */
	K(O_RDONLY), K(O_WRONLY), K(O_RDWR), K(O_ACCMODE), K(O_CREAT),
	K(O_EXCL), K(O_NOCTTY), K(O_TRUNC), K(O_APPEND), K(O_NONBLOCK),
	K(O_NDELAY), K(O_DSYNC), K(O_SYNC), K(O_RSYNC), K(O_ASYNC),
	K(O_DIRECT), K(O_LARGEFILE), K(O_DIRECTORY), K(O_NOFOLLOW),
	K(O_NOATIME), K(O_CLOEXEC), K(O_PATH), K(O_TMPFILE),
	/* lseek */
	K(SEEK_SET), K(SEEK_CUR), K(SEEK_END), K(SEEK_DATA), K(SEEK_HOLE),
	/* signals; SIGRTMIN/SIGRTMAX are run-time values, see below */
	K(SIGHUP), K(SIGINT), K(SIGQUIT), K(SIGILL), K(SIGTRAP), K(SIGABRT),
	K(SIGIOT), K(SIGBUS), K(SIGFPE), K(SIGKILL), K(SIGUSR1), K(SIGSEGV),
	K(SIGUSR2), K(SIGPIPE), K(SIGALRM), K(SIGTERM), K(SIGSTKFLT),
	K(SIGCHLD), K(SIGCONT), K(SIGSTOP), K(SIGTSTP), K(SIGTTIN),
	K(SIGTTOU), K(SIGURG), K(SIGXCPU), K(SIGXFSZ), K(SIGVTALRM),
	K(SIGPROF), K(SIGWINCH), K(SIGIO), K(SIGPOLL), K(SIGPWR), K(SIGSYS),
	K(SIG_BLOCK), K(SIG_UNBLOCK), K(SIG_SETMASK),
	/* fcntl */
	K(F_DUPFD), K(F_DUPFD_CLOEXEC), K(F_GETFD), K(F_SETFD), K(F_GETFL),
	K(F_SETFL), K(F_GETLK), K(F_SETLK), K(F_SETLKW), K(F_OFD_GETLK),
	K(F_OFD_SETLK), K(F_OFD_SETLKW), K(F_GETOWN), K(F_SETOWN),
	K(F_GETOWN_EX), K(F_SETOWN_EX), K(F_GETSIG), K(F_SETSIG),
	K(F_GETLEASE), K(F_SETLEASE), K(F_NOTIFY), K(F_GETPIPE_SZ),
	K(F_SETPIPE_SZ), K(F_ADD_SEALS), K(F_GET_SEALS), K(F_SEAL_SEAL),
	K(F_SEAL_SHRINK), K(F_SEAL_GROW), K(F_SEAL_WRITE),
#ifdef F_SEAL_FUTURE_WRITE
	K(F_SEAL_FUTURE_WRITE),
#endif
	K(F_RDLCK), K(F_WRLCK), K(F_UNLCK), K(FD_CLOEXEC),
	K(LOCK_SH), K(LOCK_EX), K(LOCK_NB), K(LOCK_UN),
	/* mmap and friends */
	K(PROT_NONE), K(PROT_READ), K(PROT_WRITE), K(PROT_EXEC),
	K(PROT_GROWSDOWN), K(PROT_GROWSUP),
	K(MAP_SHARED), K(MAP_PRIVATE), K(MAP_FIXED), K(MAP_ANONYMOUS),
	K(MAP_ANON), K(MAP_32BIT), K(MAP_GROWSDOWN), K(MAP_DENYWRITE),
	K(MAP_EXECUTABLE), K(MAP_LOCKED), K(MAP_NORESERVE), K(MAP_POPULATE),
	K(MAP_NONBLOCK), K(MAP_STACK), K(MAP_HUGETLB),
#ifdef MAP_SHARED_VALIDATE
	K(MAP_SHARED_VALIDATE),
#endif
#ifdef MAP_SYNC
	K(MAP_SYNC),
#endif
#ifdef MAP_FIXED_NOREPLACE
	K(MAP_FIXED_NOREPLACE),
#endif
	K(MREMAP_MAYMOVE), K(MREMAP_FIXED),
#ifdef MFD_CLOEXEC
	K(MFD_CLOEXEC), K(MFD_ALLOW_SEALING), K(MFD_HUGETLB),
#endif
	/* sockets */
	K(AF_UNSPEC), K(AF_UNIX), K(AF_LOCAL), K(AF_INET), K(AF_INET6),
	K(AF_NETLINK), K(AF_PACKET), K(PF_UNIX), K(PF_INET), K(PF_INET6),
	K(SOCK_STREAM), K(SOCK_DGRAM), K(SOCK_RAW), K(SOCK_RDM),
	K(SOCK_SEQPACKET), K(SOCK_NONBLOCK), K(SOCK_CLOEXEC),
	K(MSG_OOB), K(MSG_PEEK), K(MSG_DONTROUTE), K(MSG_CTRUNC),
	K(MSG_TRUNC), K(MSG_DONTWAIT), K(MSG_EOR), K(MSG_WAITALL),
	K(MSG_NOSIGNAL), K(MSG_MORE), K(MSG_ERRQUEUE), K(MSG_CMSG_CLOEXEC),
	K(SHUT_RD), K(SHUT_WR), K(SHUT_RDWR),
	K(SOL_SOCKET), K(SO_REUSEADDR), K(SO_REUSEPORT), K(SO_TYPE),
	K(SO_ERROR), K(SO_KEEPALIVE), K(SO_SNDBUF), K(SO_RCVBUF),
	K(SO_PASSCRED), K(SO_PEERCRED), K(SO_LINGER), K(SO_SNDTIMEO),
	K(SO_RCVTIMEO), K(SO_BROADCAST), K(SO_DONTROUTE), K(SO_OOBINLINE),
	K(SO_RCVLOWAT), K(SO_SNDLOWAT), K(SO_PRIORITY), K(SO_ACCEPTCONN),
	K(SO_PROTOCOL), K(SO_DOMAIN), K(SO_BINDTODEVICE), K(SO_MARK),
	K(SO_PEEK_OFF), K(SO_BUSY_POLL), K(SO_INCOMING_CPU),
	/* close_range, eventfd, signalfd */
	K(CLOSE_RANGE_UNSHARE), K(CLOSE_RANGE_CLOEXEC),
	K(EFD_CLOEXEC), K(EFD_NONBLOCK), K(EFD_SEMAPHORE),
	K(SFD_CLOEXEC), K(SFD_NONBLOCK),
	/* access */
	K(R_OK), K(W_OK), K(X_OK), K(F_OK),
	/* modes */
	K(S_IFMT), K(S_IFSOCK), K(S_IFLNK), K(S_IFREG), K(S_IFBLK),
	K(S_IFDIR), K(S_IFCHR), K(S_IFIFO), K(S_ISUID), K(S_ISGID),
	K(S_ISVTX), K(S_IRWXU), K(S_IRUSR), K(S_IWUSR), K(S_IXUSR),
	K(S_IRWXG), K(S_IRGRP), K(S_IWGRP), K(S_IXGRP), K(S_IRWXO),
	K(S_IROTH), K(S_IWOTH), K(S_IXOTH),
	/* waitid: the kernel's idtype values (glibc's enum lacks P_PIDFD
	 * before 2.36, and an enum cannot be tested with #ifdef) */
	{ "P_ALL", 0 }, { "P_PID", 1 }, { "P_PGID", 2 }, { "P_PIDFD", 3 },
	K(WNOHANG), K(WUNTRACED), K(WEXITED), K(WSTOPPED), K(WCONTINUED),
	K(WNOWAIT), K(__WNOTHREAD), K(__WALL), K(__WCLONE),
	/* misc */
	K(STDIN_FILENO), K(STDOUT_FILENO), K(STDERR_FILENO),
	K(RENAME_NOREPLACE), K(RENAME_EXCHANGE), K(RENAME_WHITEOUT),
	K(CLOCK_REALTIME), K(CLOCK_MONOTONIC), K(CLOCK_BOOTTIME),
	K(CLOCK_PROCESS_CPUTIME_ID), K(CLOCK_THREAD_CPUTIME_ID),
};

#undef K

/* SIGRTMIN, SIGRTMAX, SIGRTMIN+N and SIGRTMAX-N.  glibc computes them at
 * run time (it reserves the first real-time signals for itself), so they
 * cannot sit in the table; tetherd runs on the same libc as we do. */
static int lookup_rt(const char *name, size_t len, int64_t *value)
{
	int base, sign, off = 0;
	size_t i;

	if (len < 8)
		return -ENOENT;
	if (!memcmp(name, "SIGRTMIN", 8)) {
		base = SIGRTMIN;
		sign = 1;
	} else if (!memcmp(name, "SIGRTMAX", 8)) {
		base = SIGRTMAX;
		sign = -1;
	} else {
		return -ENOENT;
	}
	if (len > 8) {
		/* "+N" after MIN, "-N" after MAX, N decimal and in range */
		if (name[8] != (sign > 0 ? '+' : '-') || len == 9 || len > 12)
			return -ENOENT;
		for (i = 9; i < len; i++) {
			if (name[i] < '0' || name[i] > '9')
				return -ENOENT;
			off = off * 10 + (name[i] - '0');
		}
		if (off > SIGRTMAX - SIGRTMIN)
			return -ENOENT;
	}
	*value = base + sign * off;
	return 0;
}

int tp_const_lookup(const char *name, size_t len, int64_t *value)
{
	size_t i;

	for (i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
		if (strlen(consts[i].name) == len &&
		    !memcmp(consts[i].name, name, len)) {
			*value = consts[i].value;
			return 0;
		}
	}
	return lookup_rt(name, len, value);
}

#define E(x) [x] = #x

/* Indexed by number; aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP) share a
 * slot with the name the kernel headers define first. */
static const char *const errnames[] = {
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
	E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES),
	E(EFAULT), E(ENOTBLK), E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV),
	E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE), E(ENOTTY),
	E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK),
	E(EPIPE), E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG),
	E(ENOLCK), E(ENOSYS), E(ENOTEMPTY), E(ELOOP), E(ENOMSG), E(EIDRM),
	E(ECHRNG), E(EL2NSYNC), E(EL3HLT), E(EL3RST), E(ELNRNG), E(EUNATCH),
	E(ENOCSI), E(EL2HLT), E(EBADE), E(EBADR), E(EXFULL), E(ENOANO),
	E(EBADRQC), E(EBADSLT), E(EBFONT), E(ENOSTR), E(ENODATA), E(ETIME),
	E(ENOSR), E(ENONET), E(ENOPKG), E(EREMOTE), E(ENOLINK), E(EADV),
	E(ESRMNT), E(ECOMM), E(EPROTO), E(EMULTIHOP), E(EDOTDOT),
	E(EBADMSG), E(EOVERFLOW), E(ENOTUNIQ), E(EBADFD), E(EREMCHG),
	E(ELIBACC), E(ELIBBAD), E(ELIBSCN), E(ELIBMAX), E(ELIBEXEC),
	E(EILSEQ), E(ERESTART), E(ESTRPIPE), E(EUSERS), E(ENOTSOCK),
	E(EDESTADDRREQ), E(EMSGSIZE), E(EPROTOTYPE), E(ENOPROTOOPT),
	E(EPROTONOSUPPORT), E(ESOCKTNOSUPPORT), E(EOPNOTSUPP),
	E(EPFNOSUPPORT), E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL),
	E(ENETDOWN), E(ENETUNREACH), E(ENETRESET), E(ECONNABORTED),
	E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN), E(ESHUTDOWN),
	E(ETOOMANYREFS), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN),
	E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS), E(ESTALE), E(EUCLEAN),
	E(ENOTNAM), E(ENAVAIL), E(EISNAM), E(EREMOTEIO), E(EDQUOT),
	E(ENOMEDIUM), E(EMEDIUMTYPE), E(ECANCELED), E(ENOKEY),
	E(EKEYEXPIRED), E(EKEYREVOKED), E(EKEYREJECTED), E(EOWNERDEAD),
	E(ENOTRECOVERABLE), E(ERFKILL), E(EHWPOISON),
};

#undef E

const char *tp_errno_name(int e)
{
	if (e <= 0 || (size_t)e >= sizeof(errnames) / sizeof(errnames[0]))
		return NULL;
	return errnames[e];
}

/* An errno by name ("EPERM") or number. */
int tp_errno_lookup(const char *name, size_t len, int *value)
{
	for (size_t i = 1; i < sizeof(errnames) / sizeof(errnames[0]); i++) {
		if (errnames[i] && strlen(errnames[i]) == len &&
		    !memcmp(errnames[i], name, len)) {
			*value = (int)i;
			return 0;
		}
	}
	return -ENOENT;
}
