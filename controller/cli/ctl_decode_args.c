/*
 * What the integer arguments of a call mean (the syscall table says
 * only "a number"), strace's per-call decoders as one table: openat's
 * third argument is open flags, its fourth a mode in octal; kill's
 * second a signal.  Buffers need no row here: their type is in the
 * syscall table (proto/systab.h), and ctl_decode_struct shows them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <string.h>

#include "ctl_decode.h"
#include "systab.h"

/* How one integer argument is shown: 0 as typed, a family of names
 * (D_X + enum ctl_xfam), or one of these. */
enum {
	D_ASIS = 0,
	D_DIRFD,		/* AT_FDCWD, else the number */
	D_OCTAL,		/* a mode: 0644 */
	D_FCNTL,		/* fcntl's third: by its command */
	D_X = 16,
};

#define X(fam) (D_X + CTL_X_##fam)

struct argrow {
	const char *name;
	uint8_t arg[6];
};

/* By name, not number: a row reads like the call's prototype. */
static const struct argrow rows[] = {
	{ "open", { 0, X(OPEN), D_OCTAL } },
	{ "openat", { D_DIRFD, 0, X(OPEN), D_OCTAL } },
	{ "creat", { 0, D_OCTAL } },
	{ "mkdir", { 0, D_OCTAL } },
	{ "mkdirat", { D_DIRFD, 0, D_OCTAL } },
	{ "chmod", { 0, D_OCTAL } },
	{ "fchmod", { 0, D_OCTAL } },
	{ "fchmodat", { D_DIRFD, 0, D_OCTAL, X(AT) } },
	{ "mknod", { 0, X(MODE) } },
	{ "mknodat", { D_DIRFD, 0, X(MODE) } },
	{ "umask", { D_OCTAL } },
	{ "access", { 0, X(ACCESS) } },
	{ "faccessat", { D_DIRFD, 0, X(ACCESS) } },
	{ "faccessat2", { D_DIRFD, 0, X(ACCESS), X(AT) } },
	{ "newfstatat", { D_DIRFD, 0, 0, X(AT) } },
	{ "statx", { D_DIRFD, 0, X(AT), X(STATX_MASK) } },
	{ "unlinkat", { D_DIRFD, 0, X(AT) } },
	{ "renameat", { D_DIRFD, 0, D_DIRFD } },
	{ "renameat2", { D_DIRFD, 0, D_DIRFD, 0, X(RENAME) } },
	{ "linkat", { D_DIRFD, 0, D_DIRFD, 0, X(AT) } },
	{ "symlinkat", { 0, D_DIRFD } },
	{ "readlinkat", { D_DIRFD } },
	{ "fchownat", { D_DIRFD, 0, 0, 0, X(AT) } },
	{ "utimensat", { D_DIRFD, 0, 0, X(AT) } },
	{ "lseek", { 0, 0, X(WHENCE) } },
	{ "mmap", { 0, 0, X(PROT), X(MAP) } },
	{ "mprotect", { 0, 0, X(PROT) } },
	{ "fcntl", { 0, X(FCNTL), D_FCNTL } },
	{ "dup3", { 0, 0, X(OFLAGS) } },
	{ "pipe2", { 0, X(OFLAGS) } },
	{ "flock", { 0, X(FLOCK) } },
	{ "close_range", { 0, 0, X(CLOSE_RANGE) } },
	{ "memfd_create", { 0, X(MFD) } },
	{ "eventfd2", { 0, X(EFD) } },
	{ "epoll_ctl", { 0, X(EPOLLCTL) } },
	{ "kill", { 0, X(SIGNAL) } },
	{ "tkill", { 0, X(SIGNAL) } },
	{ "tgkill", { 0, 0, X(SIGNAL) } },
	{ "rt_sigaction", { X(SIGNAL) } },
	{ "rt_sigprocmask", { X(SIGHOW) } },
	{ "rt_sigqueueinfo", { 0, X(SIGNAL) } },
	{ "pidfd_send_signal", { 0, X(SIGNAL) } },
	{ "socket", { X(FAMILY), X(SOCKTYPE) } },
	{ "socketpair", { X(FAMILY), X(SOCKTYPE) } },
	{ "accept4", { 0, 0, 0, X(SOCKFLAGS) } },
	{ "shutdown", { 0, X(SHUT) } },
	{ "sendto", { 0, 0, 0, X(MSG) } },
	{ "recvfrom", { 0, 0, 0, X(MSG) } },
	{ "sendmsg", { 0, 0, X(MSG) } },
	{ "recvmsg", { 0, 0, X(MSG) } },
	{ "clock_gettime", { X(CLOCK) } },
	{ "clock_settime", { X(CLOCK) } },
	{ "clock_getres", { X(CLOCK) } },
	{ "clock_nanosleep", { X(CLOCK) } },
	{ "timerfd_create", { X(CLOCK) } },
	{ "getrlimit", { X(RLIMIT) } },
	{ "setrlimit", { X(RLIMIT) } },
	{ "prlimit64", { 0, X(RLIMIT) } },
	{ "getrusage", { X(RUSAGE_WHO) } },
	{ "wait4", { 0, 0, X(WAIT) } },
	{ "waitid", { X(IDTYPE), 0, 0, X(WAIT) } },
};

#undef X

static const struct argrow *row_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

/* The kernel's convention: -4095..-1 are errors. */
static bool failed(const struct ctl_callspec *cs)
{
	return cs->call.ret < 0 && cs->call.ret >= -4095;
}

/* fcntl's third argument, by the command in its second. */
static int fcntl_arg(const struct ctl_callspec *cs)
{
	if (cs->call.nargs < 2 || cs->call.args[1].kind != TETHER_ARG_INT)
		return D_ASIS;
	switch (cs->call.args[1].value) {
	case F_SETFL:
		return D_X + CTL_X_OPEN;
	case F_SETFD:
		return D_X + CTL_X_FD;
	case F_SETSIG:
		return D_X + CTL_X_SIGNAL;
	default:
		return D_ASIS;
	}
}

static bool decode_int(struct ctl_out *o, const struct ctl_callspec *cs,
		       unsigned i)
{
	const struct argrow *r = row_of(cs->name);
	uint64_t v = cs->call.args[i].value;
	char buf[32];
	int how;

	if (!r)
		return false;
	how = r->arg[i];
	if (how == D_FCNTL)
		how = fcntl_arg(cs);
	switch (how) {
	case D_ASIS:
		return false;
	case D_DIRFD:
		if ((int32_t)v != AT_FDCWD)
			return false;
		ctl_out_word(o, NULL, "AT_FDCWD");
		return true;
	case D_OCTAL:
		snprintf(buf, sizeof(buf), "%#03llo", (unsigned long long)v);
		ctl_out_word(o, NULL, buf);
		return true;
	default:
		ctl_out_sym(o, NULL, (enum ctl_xfam)(how - D_X), v);
		return true;
	}
}

/* The values of the arguments that are numbers, for the table's sizes. */
static void regs_of(const struct ctl_callspec *cs, uint64_t regs[6])
{
	unsigned k;

	for (k = 0; k < 6; k++) {
		regs[k] = 0;
		if (k < cs->call.nargs &&
		    cs->call.args[k].kind == TETHER_ARG_INT)
			regs[k] = cs->call.args[k].value;
	}
}

/* How many elements of buffer i the call means: the table's size over
 * the element's; for epoll_wait's events, as many as it returned. */
static size_t count_of(const struct ctl_callspec *cs,
		       const struct tp_syscall *sc, unsigned i, size_t elem)
{
	const struct tp_arg_spec *s = &sc->arg[i];
	uint64_t regs[6], need;
	bool over;

	if (s->type == TP_T_SIGSET)
		return 1;
	if (s->type == TP_T_EPOLLEVENT && s->kind == TP_ARG_OUT)
		return cs->call.ret > 0 ? (size_t)cs->call.ret : 0;
	regs_of(cs, regs);
	need = tp_syscall_buf_need(sc, i, regs, &over);
	if (over || !elem || need < elem)
		return 0;
	return (size_t)(need / elem);
}

/* Buffer i: what came back (out, in/out) or what was sent (in). */
static bool decode_buf(struct ctl_out *o, const struct ctl_callspec *cs,
		       const struct tp_syscall *sc, unsigned i)
{
	const struct tether_arg *a = &cs->call.args[i];
	const struct tp_arg_spec *s = &sc->arg[i];
	size_t n, count, elem = ctl_decode_elem_size(s->type);
	const void *p;

	if (!elem)
		return false;
	if (a->kind == TETHER_ARG_IN) {
		if (s->kind != TP_ARG_IN)
			return false;
		p = a->in;
		n = a->size;
	} else {
		/* nothing came back from a failed call */
		if (failed(cs) || (s->kind != TP_ARG_OUT &&
				   s->kind != TP_ARG_INOUT))
			return false;
		p = a->out;
		n = a->kind == TETHER_ARG_INOUT ? a->cap : a->size;
		if (a->returned < n)
			n = a->returned;
	}
	count = count_of(cs, sc, i, elem);
	/* epoll_wait that returned 0 events: [] */
	if (!count && s->type == TP_T_EPOLLEVENT && p) {
		ctl_out_open(o, NULL, '[');
		ctl_out_close(o, '[');
		return true;
	}
	return ctl_decode_struct(o, s->type, p, n, count);
}

bool ctl_decode_arg(struct ctl_out *o, const struct ctl_callspec *cs,
		    unsigned i)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(cs->call.nr);
	const struct tether_arg *a;

	if (i >= cs->call.nargs || i >= 6)
		return false;
	a = &cs->call.args[i];
	switch (a->kind) {
	case TETHER_ARG_INT:
		return decode_int(o, cs, i);
	case TETHER_ARG_IN:
	case TETHER_ARG_OUT:
	case TETHER_ARG_INOUT:
		return sc && decode_buf(o, cs, sc, i);
	default:
		return false;
	}
}

bool ctl_decode_fdpair(const struct ctl_callspec *cs, int fds[2])
{
	const struct tp_syscall *sc = tp_syscall_by_nr(cs->call.nr);
	const struct tether_arg *a;
	unsigned i;

	if (!sc || failed(cs))
		return false;
	for (i = 0; i < cs->call.nargs && i < 6; i++) {
		a = &cs->call.args[i];
		if (sc->arg[i].type != TP_T_FDPAIR ||
		    sc->arg[i].kind != TP_ARG_OUT ||
		    a->kind != TETHER_ARG_OUT || !a->out ||
		    a->returned < 2 * sizeof(int) || a->size < 2 * sizeof(int))
			continue;
		memcpy(fds, a->out, 2 * sizeof(int));
		return true;
	}
	return false;
}

bool ctl_decode_ret(const struct ctl_callspec *cs, char *buf, size_t size)
{
	char names[256];
	int fam;

	if (failed(cs) || cs->call.ret < 0 || !size)
		return false;
	if (!strcmp(cs->name, "umask")) {
		snprintf(buf, size, "%#03lo", cs->call.ret);
		return true;
	}
	/* fcntl's F_GETFL and F_GETFD return flags: strace's
	 * "0x8002 (flags O_RDWR|O_LARGEFILE)" */
	if (strcmp(cs->name, "fcntl") || cs->call.nargs < 2 ||
	    cs->call.args[1].kind != TETHER_ARG_INT)
		return false;
	if (cs->call.args[1].value == F_GETFL)
		fam = CTL_X_OPEN;
	else if (cs->call.args[1].value == F_GETFD)
		fam = CTL_X_FD;
	else
		return false;
	ctl_xlat_format(names, sizeof(names), (enum ctl_xfam)fam,
			(uint64_t)cs->call.ret);
	snprintf(buf, size, "%#lx (flags %s)", cs->call.ret, names);
	return true;
}
