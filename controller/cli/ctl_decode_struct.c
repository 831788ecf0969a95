/*
 * Kernel structs shown by their fields, one decoder per enum tp_type of
 * the syscall table, as strace shows them.  Each copies its bytes into
 * a struct of its own first (a buffer has no alignment to trust), and
 * never reads past the n bytes it was given.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>

#include "ctl_decode.h"
#include "systab.h"

/* Directory entries shown before "...": a getdents64 of a big
 * directory would otherwise print thousands. */
#define DIRENT_SHOW_MAX 64
/* Elements of an array (pollfd, epoll_event ...) shown, likewise. */
#define ARRAY_SHOW_MAX 64

/* linux_dirent64: the header before d_name. */
struct dirent64_head {
	uint64_t d_ino;
	int64_t d_off;
	uint16_t d_reclen;
	uint8_t d_type;
} __attribute__((packed));

static void out_timespec(struct ctl_out *o, const char *key,
			 const struct timespec *ts)
{
	ctl_out_open(o, key, '{');
	ctl_out_int(o, "tv_sec", ts->tv_sec);
	ctl_out_int(o, "tv_nsec", ts->tv_nsec);
	ctl_out_close(o, '{');
}

static void out_timeval(struct ctl_out *o, const char *key,
			const struct timeval *tv)
{
	ctl_out_open(o, key, '{');
	ctl_out_int(o, "tv_sec", tv->tv_sec);
	ctl_out_int(o, "tv_usec", tv->tv_usec);
	ctl_out_close(o, '{');
}

static void dec_int(struct ctl_out *o, const void *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	ctl_out_int(o, NULL, v);
}

static void dec_u64(struct ctl_out *o, const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	ctl_out_uint(o, NULL, v);
}

/* strace's default abbreviation keeps mode and size; the rest of what
 * a person debugging asks first (which file, whose, how big on disk,
 * when) follows. */
static void dec_stat(struct ctl_out *o, const void *p)
{
	struct stat st;

	memcpy(&st, p, sizeof(st));
	ctl_out_open(o, NULL, '{');
	ctl_out_dev(o, "st_dev", st.st_dev);
	ctl_out_uint(o, "st_ino", st.st_ino);
	ctl_out_sym(o, "st_mode", CTL_X_MODE, st.st_mode);
	ctl_out_uint(o, "st_nlink", st.st_nlink);
	ctl_out_uint(o, "st_uid", st.st_uid);
	ctl_out_uint(o, "st_gid", st.st_gid);
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		ctl_out_dev(o, "st_rdev", st.st_rdev);
	ctl_out_int(o, "st_size", st.st_size);
	ctl_out_int(o, "st_blksize", st.st_blksize);
	ctl_out_int(o, "st_blocks", st.st_blocks);
	ctl_out_time(o, "st_atime", st.st_atim.tv_sec, st.st_atim.tv_nsec);
	ctl_out_time(o, "st_mtime", st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ctl_out_time(o, "st_ctime", st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	ctl_out_close(o, '{');
}

static void dec_statx(struct ctl_out *o, const void *p)
{
	struct statx sx;

	memcpy(&sx, p, sizeof(sx));
	ctl_out_open(o, NULL, '{');
	ctl_out_sym(o, "stx_mask", CTL_X_STATX_MASK, sx.stx_mask);
	ctl_out_dev(o, "stx_dev",
		    makedev(sx.stx_dev_major, sx.stx_dev_minor));
	ctl_out_uint(o, "stx_ino", sx.stx_ino);
	ctl_out_sym(o, "stx_mode", CTL_X_MODE, sx.stx_mode);
	ctl_out_uint(o, "stx_nlink", sx.stx_nlink);
	ctl_out_uint(o, "stx_uid", sx.stx_uid);
	ctl_out_uint(o, "stx_gid", sx.stx_gid);
	if (S_ISCHR(sx.stx_mode) || S_ISBLK(sx.stx_mode))
		ctl_out_dev(o, "stx_rdev",
			    makedev(sx.stx_rdev_major, sx.stx_rdev_minor));
	ctl_out_uint(o, "stx_size", sx.stx_size);
	ctl_out_uint(o, "stx_blksize", sx.stx_blksize);
	ctl_out_uint(o, "stx_blocks", sx.stx_blocks);
	ctl_out_hex(o, "stx_attributes", sx.stx_attributes);
	ctl_out_time(o, "stx_atime", sx.stx_atime.tv_sec,
		     sx.stx_atime.tv_nsec);
	ctl_out_time(o, "stx_btime", sx.stx_btime.tv_sec,
		     sx.stx_btime.tv_nsec);
	ctl_out_time(o, "stx_ctime", sx.stx_ctime.tv_sec,
		     sx.stx_ctime.tv_nsec);
	ctl_out_time(o, "stx_mtime", sx.stx_mtime.tv_sec,
		     sx.stx_mtime.tv_nsec);
	ctl_out_close(o, '{');
}

static void dec_statfs(struct ctl_out *o, const void *p)
{
	struct statfs sf;

	memcpy(&sf, p, sizeof(sf));
	ctl_out_open(o, NULL, '{');
	ctl_out_hex(o, "f_type", (uint64_t)sf.f_type);
	ctl_out_int(o, "f_bsize", sf.f_bsize);
	ctl_out_uint(o, "f_blocks", sf.f_blocks);
	ctl_out_uint(o, "f_bfree", sf.f_bfree);
	ctl_out_uint(o, "f_bavail", sf.f_bavail);
	ctl_out_uint(o, "f_files", sf.f_files);
	ctl_out_uint(o, "f_ffree", sf.f_ffree);
	ctl_out_int(o, "f_namelen", sf.f_namelen);
	ctl_out_int(o, "f_frsize", sf.f_frsize);
	ctl_out_hex(o, "f_flags", (uint64_t)sf.f_flags);
	ctl_out_close(o, '{');
}

/* A fixed-size field up to its NUL (or its end). */
static void out_field_str(struct ctl_out *o, const char *key, const char *s,
			  size_t size)
{
	ctl_out_str(o, key, s, strnlen(s, size));
}

static void dec_utsname(struct ctl_out *o, const void *p)
{
	struct utsname u;

	memcpy(&u, p, sizeof(u));
	ctl_out_open(o, NULL, '{');
	out_field_str(o, "sysname", u.sysname, sizeof(u.sysname));
	out_field_str(o, "nodename", u.nodename, sizeof(u.nodename));
	out_field_str(o, "release", u.release, sizeof(u.release));
	out_field_str(o, "version", u.version, sizeof(u.version));
	out_field_str(o, "machine", u.machine, sizeof(u.machine));
	out_field_str(o, "domainname", u.domainname, sizeof(u.domainname));
	ctl_out_close(o, '{');
}

static void dec_timespec(struct ctl_out *o, const void *p)
{
	struct timespec ts;

	memcpy(&ts, p, sizeof(ts));
	out_timespec(o, NULL, &ts);
}

static void dec_timeval(struct ctl_out *o, const void *p)
{
	struct timeval tv;

	memcpy(&tv, p, sizeof(tv));
	out_timeval(o, NULL, &tv);
}

static void dec_itimerspec(struct ctl_out *o, const void *p)
{
	struct itimerspec it;

	memcpy(&it, p, sizeof(it));
	ctl_out_open(o, NULL, '{');
	out_timespec(o, "it_interval", &it.it_interval);
	out_timespec(o, "it_value", &it.it_value);
	ctl_out_close(o, '{');
}

static void out_rlim(struct ctl_out *o, const char *key, rlim_t v)
{
	if (v == RLIM_INFINITY)
		ctl_out_word(o, key, "RLIM_INFINITY");
	else
		ctl_out_uint(o, key, v);
}

static void dec_rlimit(struct ctl_out *o, const void *p)
{
	struct rlimit r;

	memcpy(&r, p, sizeof(r));
	ctl_out_open(o, NULL, '{');
	out_rlim(o, "rlim_cur", r.rlim_cur);
	out_rlim(o, "rlim_max", r.rlim_max);
	ctl_out_close(o, '{');
}

static void dec_rusage(struct ctl_out *o, const void *p)
{
	struct rusage r;

	memcpy(&r, p, sizeof(r));
	ctl_out_open(o, NULL, '{');
	out_timeval(o, "ru_utime", &r.ru_utime);
	out_timeval(o, "ru_stime", &r.ru_stime);
	ctl_out_int(o, "ru_maxrss", r.ru_maxrss);
	ctl_out_int(o, "ru_minflt", r.ru_minflt);
	ctl_out_int(o, "ru_majflt", r.ru_majflt);
	ctl_out_int(o, "ru_inblock", r.ru_inblock);
	ctl_out_int(o, "ru_oublock", r.ru_oublock);
	ctl_out_int(o, "ru_nvcsw", r.ru_nvcsw);
	ctl_out_int(o, "ru_nivcsw", r.ru_nivcsw);
	ctl_out_more(o);
	ctl_out_close(o, '{');
}

static void dec_sysinfo(struct ctl_out *o, const void *p)
{
	struct sysinfo si;
	int i;

	memcpy(&si, p, sizeof(si));
	ctl_out_open(o, NULL, '{');
	ctl_out_int(o, "uptime", si.uptime);
	ctl_out_open(o, "loads", '[');
	for (i = 0; i < 3; i++)
		ctl_out_uint(o, NULL, si.loads[i]);
	ctl_out_close(o, '[');
	ctl_out_uint(o, "totalram", si.totalram);
	ctl_out_uint(o, "freeram", si.freeram);
	ctl_out_uint(o, "sharedram", si.sharedram);
	ctl_out_uint(o, "bufferram", si.bufferram);
	ctl_out_uint(o, "totalswap", si.totalswap);
	ctl_out_uint(o, "freeswap", si.freeswap);
	ctl_out_uint(o, "procs", si.procs);
	ctl_out_uint(o, "totalhigh", si.totalhigh);
	ctl_out_uint(o, "freehigh", si.freehigh);
	ctl_out_uint(o, "mem_unit", si.mem_unit);
	ctl_out_close(o, '{');
}

static void dec_pollfd(struct ctl_out *o, const void *p)
{
	struct pollfd pf;

	memcpy(&pf, p, sizeof(pf));
	ctl_out_open(o, NULL, '{');
	ctl_out_int(o, "fd", pf.fd);
	ctl_out_sym(o, "events", CTL_X_POLL, (uint16_t)pf.events);
	ctl_out_sym(o, "revents", CTL_X_POLL, (uint16_t)pf.revents);
	ctl_out_close(o, '{');
}

static void dec_epollevent(struct ctl_out *o, const void *p)
{
	struct epoll_event ev;

	memcpy(&ev, p, sizeof(ev));
	ctl_out_open(o, NULL, '{');
	ctl_out_sym(o, "events", CTL_X_EPOLL, ev.events);
	ctl_out_hex(o, "data", ev.data.u64);
	ctl_out_close(o, '{');
}

/* The kernel's 64-bit sigset: strace's [INT TERM] in text (names
 * without SIG, spaces between), names with SIG in JSON. */
static void dec_sigset(struct ctl_out *o, const void *p)
{
	char name[32];
	uint64_t set;
	bool first = true;
	int sig;

	memcpy(&set, p, sizeof(set));
	ctl_out_open(o, NULL, '[');
	for (sig = 1; sig <= 64; sig++) {
		if (!(set & (1ULL << (sig - 1))))
			continue;
		ctl_xlat_format(name, sizeof(name), CTL_X_SIGNAL,
				(uint64_t)sig);
		if (o->json) {
			ctl_out_word(o, NULL, name);
			continue;
		}
		fprintf(o->f, "%s%s", first ? "" : " ",
			strncmp(name, "SIG", 3) ? name : name + 3);
		first = false;
	}
	ctl_out_close(o, '[');
}

static void dec_siginfo(struct ctl_out *o, const void *p)
{
	siginfo_t si;

	memcpy(&si, p, sizeof(si));
	ctl_out_open(o, NULL, '{');
	ctl_out_sym(o, "si_signo", CTL_X_SIGNAL, (uint64_t)si.si_signo);
	ctl_out_int(o, "si_code", si.si_code);
	if (si.si_errno)
		ctl_out_int(o, "si_errno", si.si_errno);
	ctl_out_int(o, "si_pid", si.si_pid);
	ctl_out_uint(o, "si_uid", si.si_uid);
	if (si.si_signo == SIGCHLD)
		ctl_out_int(o, "si_status", si.si_status);
	ctl_out_close(o, '{');
}

static void dec_sockaddr_un(struct ctl_out *o, const unsigned char *p,
			    size_t n)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);
	const char *path = (const char *)p + off;
	size_t len = n > off ? n - off : 0;

	if (len > sizeof(((struct sockaddr_un *)0)->sun_path))
		len = sizeof(((struct sockaddr_un *)0)->sun_path);
	/* abstract names start with NUL; strace shows them as @name */
	if (len && path[0] == '\0') {
		ctl_out_str(o, "sun_path", path,
			    strnlen(path + 1, len - 1) + 1);
		return;
	}
	ctl_out_str(o, "sun_path", path, strnlen(path, len));
}

static void dec_sockaddr_in(struct ctl_out *o, const void *p, size_t n)
{
	char addr[INET6_ADDRSTRLEN];
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (n >= sizeof(s6) && ((const struct sockaddr *)p)->sa_family ==
				       AF_INET6) {
		memcpy(&s6, p, sizeof(s6));
		ctl_out_uint(o, "sin6_port", ntohs(s6.sin6_port));
		inet_ntop(AF_INET6, &s6.sin6_addr, addr, sizeof(addr));
		ctl_out_word(o, "sin6_addr", addr);
		return;
	}
	if (n < sizeof(s4))
		return;
	memcpy(&s4, p, sizeof(s4));
	ctl_out_uint(o, "sin_port", ntohs(s4.sin_port));
	inet_ntop(AF_INET, &s4.sin_addr, addr, sizeof(addr));
	ctl_out_word(o, "sin_addr", addr);
}

/* Family first, then what that family holds; a sockaddr's real length
 * is in another argument, so what is shown stops at the buffer. */
static void dec_sockaddr(struct ctl_out *o, const void *p, size_t n)
{
	sa_family_t fam;

	memcpy(&fam, p, sizeof(fam));
	ctl_out_open(o, NULL, '{');
	ctl_out_sym(o, "sa_family", CTL_X_FAMILY, fam);
	if (fam == AF_UNIX)
		dec_sockaddr_un(o, p, n);
	else if (fam == AF_INET || fam == AF_INET6)
		dec_sockaddr_in(o, p, n);
	else if (fam != AF_UNSPEC)
		ctl_out_more(o);
	ctl_out_close(o, '{');
}

/* linux_dirent64 records, each checked against what is left. */
static void dec_dirent64(struct ctl_out *o, const unsigned char *p,
			 size_t n)
{
	size_t off = 0, shown = 0, head = sizeof(struct dirent64_head);
	struct dirent64_head d;

	ctl_out_open(o, NULL, '[');
	while (n - off >= head) {
		memcpy(&d, p + off, head);
		if (d.d_reclen < head || d.d_reclen > n - off)
			break;
		if (shown++ == DIRENT_SHOW_MAX) {
			ctl_out_more(o);
			break;
		}
		ctl_out_open(o, NULL, '{');
		ctl_out_uint(o, "d_ino", d.d_ino);
		ctl_out_int(o, "d_off", d.d_off);
		ctl_out_uint(o, "d_reclen", d.d_reclen);
		ctl_out_sym(o, "d_type", CTL_X_DIRENT_TYPE, d.d_type);
		ctl_out_str(o, "d_name", (const char *)p + off + head,
			    strnlen((const char *)p + off + head,
				    d.d_reclen - head));
		ctl_out_close(o, '{');
		off += d.d_reclen;
	}
	ctl_out_close(o, '[');
}

/* The decoders of one element, by type. */
struct decoder {
	size_t size;
	void (*one)(struct ctl_out *o, const void *p);
	bool brackets;		/* [..] even around one element */
};

static const struct decoder decoders[TP_T_MAX_] = {
	[TP_T_INT] = { sizeof(int32_t), dec_int, true },
	[TP_T_FDPAIR] = { sizeof(int32_t), dec_int, true },
	[TP_T_SOCKLEN] = { sizeof(int32_t), dec_int, true },
	[TP_T_U64] = { sizeof(uint64_t), dec_u64, true },
	[TP_T_STAT] = { sizeof(struct stat), dec_stat, false },
	[TP_T_STATX] = { sizeof(struct statx), dec_statx, false },
	[TP_T_STATFS] = { sizeof(struct statfs), dec_statfs, false },
	[TP_T_UTSNAME] = { sizeof(struct utsname), dec_utsname, false },
	[TP_T_TIMESPEC] = { sizeof(struct timespec), dec_timespec, false },
	[TP_T_TIMEVAL] = { sizeof(struct timeval), dec_timeval, false },
	[TP_T_ITIMERSPEC] = { sizeof(struct itimerspec), dec_itimerspec,
			      false },
	[TP_T_RLIMIT] = { sizeof(struct rlimit), dec_rlimit, false },
	[TP_T_RUSAGE] = { sizeof(struct rusage), dec_rusage, false },
	[TP_T_SYSINFO] = { sizeof(struct sysinfo), dec_sysinfo, false },
	[TP_T_POLLFD] = { sizeof(struct pollfd), dec_pollfd, true },
	[TP_T_EPOLLEVENT] = { sizeof(struct epoll_event), dec_epollevent,
			      true },
	[TP_T_SIGSET] = { sizeof(uint64_t), dec_sigset, false },
	[TP_T_SIGINFO] = { sizeof(siginfo_t), dec_siginfo, false },
};

size_t ctl_decode_elem_size(unsigned type)
{
	if (type == TP_T_SOCKADDR)
		return sizeof(sa_family_t);
	if (type == TP_T_DIRENT64)
		return sizeof(struct dirent64_head);
	return type < TP_T_MAX_ ? decoders[type].size : 0;
}

bool ctl_decode_struct(struct ctl_out *o, unsigned type, const void *p,
		       size_t n, size_t count)
{
	const struct decoder *d;
	size_t i;

	if (!p || !ctl_decode_elem_size(type) ||
	    n < ctl_decode_elem_size(type))
		return false;
	if (type == TP_T_SOCKADDR) {
		dec_sockaddr(o, p, n);
		return true;
	}
	if (type == TP_T_DIRENT64) {
		dec_dirent64(o, p, n);
		return true;
	}
	d = &decoders[type];
	if (!count || count > n / d->size)
		count = n / d->size;
	if (count == 1 && !d->brackets) {
		d->one(o, p);
		return true;
	}
	ctl_out_open(o, NULL, '[');
	for (i = 0; i < count && i < ARRAY_SHOW_MAX; i++)
		d->one(o, (const unsigned char *)p + i * d->size);
	if (count > ARRAY_SHOW_MAX)
		ctl_out_more(o);
	ctl_out_close(o, '[');
	return true;
}
