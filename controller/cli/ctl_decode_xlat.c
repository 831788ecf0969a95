/*
 * Names for values, one table per family, strace's xlat: the values
 * come from the system headers (what this architecture's kernel
 * uses), the names are written once here.  Order matters in the flag
 * tables: a name made of several bits (O_SYNC, O_TMPFILE) comes before
 * the bits it contains, so it is the one shown.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "ctl_decode.h"

struct xl {
	const char *name;
	uint64_t val;
};

/* How a family's value is made of its names. */
enum xkind {
	XK_VALUE,		/* one name */
	XK_FLAGS,		/* bits or-ed */
	XK_OPEN,		/* an access mode (low 2 bits), then flags */
	XK_MODE,		/* a file type, set-id bits, octal permissions */
	XK_SOCKTYPE,		/* a type (low four bits), then flags */
	XK_SIGNAL,		/* a name, or SIGRTMIN+n */
};

#define X(x) { #x, (uint64_t)(x) }
#define NELEM(t) (sizeof(t) / sizeof((t)[0]))

static const struct xl x_open[] = {
	X(O_CREAT), X(O_EXCL), X(O_NOCTTY), X(O_TRUNC), X(O_APPEND),
	X(O_NONBLOCK), X(O_SYNC), X(O_DSYNC), X(O_ASYNC), X(O_DIRECT),
	/* glibc defines O_LARGEFILE as 0 on 64-bit: the kernel's bit */
	{ "O_LARGEFILE", 0100000 }, X(O_TMPFILE), X(O_DIRECTORY),
	X(O_NOFOLLOW), X(O_NOATIME), X(O_CLOEXEC), X(O_PATH),
};
static const struct xl x_accmode[] = {
	X(O_RDONLY), X(O_WRONLY), X(O_RDWR),
};
static const struct xl x_at[] = {
	X(AT_SYMLINK_NOFOLLOW), X(AT_REMOVEDIR), X(AT_SYMLINK_FOLLOW),
	X(AT_NO_AUTOMOUNT), X(AT_EMPTY_PATH), X(AT_EACCESS),
#ifdef AT_STATX_FORCE_SYNC
	X(AT_STATX_FORCE_SYNC), X(AT_STATX_DONT_SYNC),
#endif
#ifdef AT_RECURSIVE
	X(AT_RECURSIVE),
#endif
};
static const struct xl x_ftype[] = {
	X(S_IFSOCK), X(S_IFLNK), X(S_IFREG), X(S_IFBLK), X(S_IFDIR),
	X(S_IFCHR), X(S_IFIFO),
};
static const struct xl x_setid[] = {
	X(S_ISUID), X(S_ISGID), X(S_ISVTX),
};
static const struct xl x_prot[] = {
	X(PROT_READ), X(PROT_WRITE), X(PROT_EXEC), X(PROT_GROWSDOWN),
	X(PROT_GROWSUP),
};
static const struct xl x_map[] = {
#ifdef MAP_SHARED_VALIDATE
	X(MAP_SHARED_VALIDATE),
#endif
	X(MAP_SHARED), X(MAP_PRIVATE), X(MAP_FIXED), X(MAP_ANONYMOUS),
	X(MAP_32BIT), X(MAP_GROWSDOWN), X(MAP_DENYWRITE), X(MAP_EXECUTABLE),
	X(MAP_LOCKED), X(MAP_NORESERVE), X(MAP_POPULATE), X(MAP_NONBLOCK),
	X(MAP_STACK), X(MAP_HUGETLB),
#ifdef MAP_SYNC
	X(MAP_SYNC),
#endif
#ifdef MAP_FIXED_NOREPLACE
	X(MAP_FIXED_NOREPLACE),
#endif
};
static const struct xl x_fcntl[] = {
	X(F_DUPFD), X(F_GETFD), X(F_SETFD), X(F_GETFL), X(F_SETFL),
	X(F_GETLK), X(F_SETLK), X(F_SETLKW), X(F_SETOWN), X(F_GETOWN),
	X(F_SETSIG), X(F_GETSIG), X(F_SETOWN_EX), X(F_GETOWN_EX),
	X(F_OFD_GETLK), X(F_OFD_SETLK), X(F_OFD_SETLKW), X(F_SETLEASE),
	X(F_GETLEASE), X(F_NOTIFY), X(F_DUPFD_CLOEXEC), X(F_SETPIPE_SZ),
	X(F_GETPIPE_SZ), X(F_ADD_SEALS), X(F_GET_SEALS),
};
static const struct xl x_fd[] = {
	X(FD_CLOEXEC),
};
static const struct xl x_signal[] = {
	X(SIGHUP), X(SIGINT), X(SIGQUIT), X(SIGILL), X(SIGTRAP), X(SIGABRT),
	X(SIGBUS), X(SIGFPE), X(SIGKILL), X(SIGUSR1), X(SIGSEGV), X(SIGUSR2),
	X(SIGPIPE), X(SIGALRM), X(SIGTERM), X(SIGSTKFLT), X(SIGCHLD),
	X(SIGCONT), X(SIGSTOP), X(SIGTSTP), X(SIGTTIN), X(SIGTTOU), X(SIGURG),
	X(SIGXCPU), X(SIGXFSZ), X(SIGVTALRM), X(SIGPROF), X(SIGWINCH),
	X(SIGIO), X(SIGPWR), X(SIGSYS),
};
static const struct xl x_whence[] = {
	X(SEEK_SET), X(SEEK_CUR), X(SEEK_END), X(SEEK_DATA), X(SEEK_HOLE),
};
static const struct xl x_clock[] = {
	X(CLOCK_REALTIME), X(CLOCK_MONOTONIC), X(CLOCK_PROCESS_CPUTIME_ID),
	X(CLOCK_THREAD_CPUTIME_ID), X(CLOCK_MONOTONIC_RAW),
	X(CLOCK_REALTIME_COARSE), X(CLOCK_MONOTONIC_COARSE),
	X(CLOCK_BOOTTIME), X(CLOCK_REALTIME_ALARM), X(CLOCK_BOOTTIME_ALARM),
	X(CLOCK_TAI),
};
static const struct xl x_rlimit[] = {
	X(RLIMIT_CPU), X(RLIMIT_FSIZE), X(RLIMIT_DATA), X(RLIMIT_STACK),
	X(RLIMIT_CORE), X(RLIMIT_RSS), X(RLIMIT_NPROC), X(RLIMIT_NOFILE),
	X(RLIMIT_MEMLOCK), X(RLIMIT_AS), X(RLIMIT_LOCKS),
	X(RLIMIT_SIGPENDING), X(RLIMIT_MSGQUEUE), X(RLIMIT_NICE),
	X(RLIMIT_RTPRIO), X(RLIMIT_RTTIME),
};
static const struct xl x_family[] = {
	X(AF_UNSPEC), X(AF_UNIX), X(AF_INET), X(AF_INET6), X(AF_NETLINK),
	X(AF_PACKET),
};
static const struct xl x_socktype[] = {
	X(SOCK_STREAM), X(SOCK_DGRAM), X(SOCK_RAW), X(SOCK_RDM),
	X(SOCK_SEQPACKET), X(SOCK_DCCP), X(SOCK_PACKET),
};
static const struct xl x_sockflags[] = {
	X(SOCK_NONBLOCK), X(SOCK_CLOEXEC),
};
static const struct xl x_msg[] = {
	X(MSG_OOB), X(MSG_PEEK), X(MSG_DONTROUTE), X(MSG_CTRUNC),
	X(MSG_TRUNC), X(MSG_DONTWAIT), X(MSG_EOR), X(MSG_WAITALL),
	X(MSG_CONFIRM), X(MSG_ERRQUEUE), X(MSG_NOSIGNAL), X(MSG_MORE),
	X(MSG_WAITFORONE), X(MSG_CMSG_CLOEXEC),
};
static const struct xl x_access[] = {
	X(R_OK), X(W_OK), X(X_OK),
};
static const struct xl x_shut[] = {
	X(SHUT_RD), X(SHUT_WR), X(SHUT_RDWR),
};
static const struct xl x_sighow[] = {
	X(SIG_BLOCK), X(SIG_UNBLOCK), X(SIG_SETMASK),
};
static const struct xl x_wait[] = {
	X(WNOHANG), X(WUNTRACED), X(WEXITED), X(WCONTINUED), X(WNOWAIT),
	X(__WNOTHREAD), X(__WALL), X(__WCLONE),
};
/* the kernel's idtype values (glibc's enum lacks P_PIDFD before 2.36) */
static const struct xl x_idtype[] = {
	{ "P_ALL", 0 }, { "P_PID", 1 }, { "P_PGID", 2 }, { "P_PIDFD", 3 },
};
static const struct xl x_poll[] = {
	X(POLLIN), X(POLLPRI), X(POLLOUT), X(POLLERR), X(POLLHUP),
	X(POLLNVAL), X(POLLRDNORM), X(POLLRDBAND), X(POLLWRNORM),
	X(POLLWRBAND), X(POLLMSG), X(POLLRDHUP),
};
static const struct xl x_epoll[] = {
	X(EPOLLIN), X(EPOLLPRI), X(EPOLLOUT), X(EPOLLERR), X(EPOLLHUP),
	X(EPOLLRDNORM), X(EPOLLRDBAND), X(EPOLLWRNORM),
	X(EPOLLWRBAND), X(EPOLLMSG), X(EPOLLRDHUP), X(EPOLLEXCLUSIVE),
	X(EPOLLWAKEUP), X(EPOLLONESHOT), X(EPOLLET),
};
static const struct xl x_epollctl[] = {
	X(EPOLL_CTL_ADD), X(EPOLL_CTL_DEL), X(EPOLL_CTL_MOD),
};
static const struct xl x_efd[] = {
	X(EFD_SEMAPHORE), X(EFD_CLOEXEC), X(EFD_NONBLOCK),
};
static const struct xl x_flock[] = {
	X(LOCK_SH), X(LOCK_EX), X(LOCK_NB), X(LOCK_UN),
};
static const struct xl x_rename[] = {
	X(RENAME_NOREPLACE), X(RENAME_EXCHANGE), X(RENAME_WHITEOUT),
};
static const struct xl x_statx_mask[] = {
#ifdef STATX_BASIC_STATS
	X(STATX_ALL), X(STATX_BASIC_STATS), X(STATX_TYPE), X(STATX_MODE),
	X(STATX_NLINK), X(STATX_UID), X(STATX_GID), X(STATX_ATIME),
	X(STATX_MTIME), X(STATX_CTIME), X(STATX_INO), X(STATX_SIZE),
	X(STATX_BLOCKS), X(STATX_BTIME),
#endif
#ifdef STATX_MNT_ID
	X(STATX_MNT_ID),
#endif
};
static const struct xl x_rusage_who[] = {
	X(RUSAGE_SELF), X(RUSAGE_CHILDREN), X(RUSAGE_THREAD),
};
static const struct xl x_close_range[] = {
	X(CLOSE_RANGE_UNSHARE), X(CLOSE_RANGE_CLOEXEC),
};
static const struct xl x_mfd[] = {
	{ "MFD_CLOEXEC", 1 }, { "MFD_ALLOW_SEALING", 2 },
	{ "MFD_HUGETLB", 4 },
};
static const struct xl x_dtype[] = {
	X(DT_UNKNOWN), X(DT_FIFO), X(DT_CHR), X(DT_DIR), X(DT_BLK),
	X(DT_REG), X(DT_LNK), X(DT_SOCK), X(DT_WHT),
};

#undef X

struct xfam {
	const struct xl *v;
	size_t n;
	enum xkind kind;
	const char *zero;	/* FLAGS: the name of 0, if it has one */
};

#define N(t) (t), NELEM(t)

/* Indexed by enum ctl_xfam. */
static const struct xfam fams[CTL_X_MAX_] = {
	[CTL_X_OPEN] = { N(x_open), XK_OPEN, NULL },
	[CTL_X_OFLAGS] = { N(x_open), XK_FLAGS, NULL },
	[CTL_X_AT] = { N(x_at), XK_FLAGS, NULL },
	[CTL_X_MODE] = { N(x_setid), XK_MODE, NULL },
	[CTL_X_PROT] = { N(x_prot), XK_FLAGS, "PROT_NONE" },
	[CTL_X_MAP] = { N(x_map), XK_FLAGS, NULL },
	[CTL_X_FCNTL] = { N(x_fcntl), XK_VALUE, NULL },
	[CTL_X_FD] = { N(x_fd), XK_FLAGS, NULL },
	[CTL_X_SIGNAL] = { N(x_signal), XK_SIGNAL, NULL },
	[CTL_X_WHENCE] = { N(x_whence), XK_VALUE, NULL },
	[CTL_X_CLOCK] = { N(x_clock), XK_VALUE, NULL },
	[CTL_X_RLIMIT] = { N(x_rlimit), XK_VALUE, NULL },
	[CTL_X_FAMILY] = { N(x_family), XK_VALUE, NULL },
	[CTL_X_SOCKTYPE] = { N(x_sockflags), XK_SOCKTYPE, NULL },
	[CTL_X_SOCKFLAGS] = { N(x_sockflags), XK_FLAGS, NULL },
	[CTL_X_MSG] = { N(x_msg), XK_FLAGS, NULL },
	[CTL_X_ACCESS] = { N(x_access), XK_FLAGS, "F_OK" },
	[CTL_X_SHUT] = { N(x_shut), XK_VALUE, NULL },
	[CTL_X_SIGHOW] = { N(x_sighow), XK_VALUE, NULL },
	[CTL_X_WAIT] = { N(x_wait), XK_FLAGS, NULL },
	[CTL_X_IDTYPE] = { N(x_idtype), XK_VALUE, NULL },
	[CTL_X_POLL] = { N(x_poll), XK_FLAGS, NULL },
	[CTL_X_EPOLL] = { N(x_epoll), XK_FLAGS, NULL },
	[CTL_X_EPOLLCTL] = { N(x_epollctl), XK_VALUE, NULL },
	[CTL_X_EFD] = { N(x_efd), XK_FLAGS, NULL },
	[CTL_X_FLOCK] = { N(x_flock), XK_FLAGS, NULL },
	[CTL_X_RENAME] = { N(x_rename), XK_FLAGS, NULL },
	[CTL_X_STATX_MASK] = { N(x_statx_mask), XK_FLAGS, NULL },
	[CTL_X_RUSAGE_WHO] = { N(x_rusage_who), XK_VALUE, NULL },
	[CTL_X_CLOSE_RANGE] = { N(x_close_range), XK_FLAGS, NULL },
	[CTL_X_MFD] = { N(x_mfd), XK_FLAGS, NULL },
	[CTL_X_DIRENT_TYPE] = { N(x_dtype), XK_VALUE, NULL },
};

#undef N

int ctl_xlat_lookup(const char *name, size_t len, uint64_t *value)
{
	for (size_t f = 0; f < CTL_X_MAX_; f++)
		for (size_t i = 0; i < fams[f].n; i++)
			if (strlen(fams[f].v[i].name) == len &&
			    !memcmp(fams[f].v[i].name, name, len)) {
				*value = fams[f].v[i].val;
				return 0;
			}
	return -ENOENT;
}

/* snprintf that appends and never runs past the end. */
struct sbuf {
	char *p;
	size_t size, len;	/* len may exceed size - 1: what was meant */
	bool any;		/* a name is already written: next needs | */
};

static void put(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct sbuf *b, const char *fmt, ...)
{
	size_t room = b->len < b->size ? b->size - b->len : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static void put_name(struct sbuf *b, const char *name)
{
	put(b, "%s%s", b->any ? "|" : "", name);
	b->any = true;
}

static const char *name_of(const struct xl *t, size_t n, uint64_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t[i].val == v)
			return t[i].name;
	return NULL;
}

/* The names of the bits of v that t knows; the bits it does not as
 * |0x...; returns nothing for v == 0. */
static void put_flags(struct sbuf *b, const struct xl *t, size_t n,
		      uint64_t v)
{
	size_t i;

	for (i = 0; i < n && v; i++) {
		if (t[i].val && (v & t[i].val) == t[i].val) {
			put_name(b, t[i].name);
			v &= ~t[i].val;
		}
	}
	if (v) {
		put(b, "%s%#llx", b->any ? "|" : "", (unsigned long long)v);
		b->any = true;
	}
}

/* One name for v, or its number (signed: -1 stays -1). */
static void put_value(struct sbuf *b, const struct xl *t, size_t n,
		      uint64_t v)
{
	const char *name = name_of(t, n, v);

	if (name)
		put_name(b, name);
	else
		put(b, "%s%lld", b->any ? "|" : "", (long long)v);
	b->any = true;
}

/* S_IFREG|S_ISUID|0755 as strace shows st_mode. */
static void put_mode(struct sbuf *b, uint64_t v)
{
	const char *type = name_of(x_ftype, NELEM(x_ftype), v & S_IFMT);

	if (type)
		put_name(b, type);
	else if (v & S_IFMT)
		put(b, "%#llo|", (unsigned long long)(v & S_IFMT));
	put_flags(b, x_setid, NELEM(x_setid),
		  v & (S_ISUID | S_ISGID | S_ISVTX));
	put(b, "%s%#03llo", b->any ? "|" : "", (unsigned long long)(v & 0777));
	/* bits beyond a mode_t's: say so rather than drop them */
	if (v & ~(uint64_t)(S_IFMT | 07777))
		put(b, "|%#llx",
		    (unsigned long long)(v & ~(uint64_t)(S_IFMT | 07777)));
}

static void put_signal(struct sbuf *b, const struct xfam *fam, uint64_t v)
{
	const char *name = name_of(fam->v, fam->n, v);
	int64_t s = (int64_t)v;

	if (name)
		put(b, "%s", name);
	else if (s == SIGRTMIN)
		put(b, "SIGRTMIN");
	else if (s > SIGRTMIN && s <= SIGRTMAX)
		put(b, "SIGRTMIN+%lld", (long long)(s - SIGRTMIN));
	else
		put(b, "%lld", (long long)s);
}

size_t ctl_xlat_format(char *buf, size_t size, enum ctl_xfam fam,
		       uint64_t v)
{
	struct sbuf b = { .p = buf, .size = size };
	const struct xfam *f;

	if (size)
		buf[0] = '\0';
	if ((unsigned)fam >= CTL_X_MAX_)
		return 0;
	f = &fams[fam];
	switch (f->kind) {
	case XK_VALUE:
		put_value(&b, f->v, f->n, v);
		break;
	case XK_SIGNAL:
		put_signal(&b, f, v);
		break;
	case XK_MODE:
		put_mode(&b, v);
		break;
	case XK_OPEN:
		put_value(&b, x_accmode, NELEM(x_accmode), v & O_ACCMODE);
		put_flags(&b, f->v, f->n, v & ~(uint64_t)O_ACCMODE);
		break;
	case XK_SOCKTYPE:
		put_value(&b, x_socktype, NELEM(x_socktype), v & 0xf);
		put_flags(&b, f->v, f->n, v & ~(uint64_t)0xf);
		break;
	case XK_FLAGS:
		put_flags(&b, f->v, f->n, v);
		if (!v)
			put(&b, "%s", f->zero ? f->zero : "0");
		break;
	}
	return b.len < size ? b.len : (size ? size - 1 : 0);
}
