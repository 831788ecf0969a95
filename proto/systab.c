/*
 * The typed syscall table (proto/systab.h): the rows of syscalls.def,
 * expanded three times at compile time — an enum of row positions, the
 * rows themselves, and an index by number — so that nothing is built at
 * run time and any thread may ask at any moment.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <time.h>
#include <utime.h>
#include <linux/aio_abi.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/mount.h>
#include <linux/openat2.h>

#include "systab.h"

/* The kernel's sigset_t: 64 signals, not glibc's 1024. */
struct tp_ksigset {
	uint64_t sig[1];
};

/* Numbers at or above this are x32 or unknown here; the index's
 * initializer fails to compile if a row's number does not fit. */
#define TP_NR_MAX 512

/* The row macros of syscalls.def (described there). */
#define BLK TP_SC_BLOCKS
#define FDIO TP_SC_FDIO
#define THR TP_SC_THREAD
#define TRIM TP_SC_TRIM
#define RFD TP_SC_RETFD
#define VAR TP_SC_NOARGS_OK
#define KFD TP_SC_KEEPFDS

#define TP_SPEC(k) { .kind = (k), .len_arg = TP_NOLEN }
#define I TP_SPEC(TP_ARG_INT)
#define I32 { .kind = TP_ARG_INT, .len_arg = TP_NOLEN, \
	      .narrow = TP_NARROW_S32 }
#define U32 { .kind = TP_ARG_INT, .len_arg = TP_NOLEN, \
	      .narrow = TP_NARROW_U32 }
#define F { .kind = TP_ARG_FD, .len_arg = TP_NOLEN, .narrow = TP_NARROW_S32 }
#define S TP_SPEC(TP_ARG_STR)
#define P TP_SPEC(TP_ARG_PTR)
#define A TP_SPEC(TP_ARG_ADDR)
#define TP_NA TP_SPEC(TP_ARG_NONE)

#define L(n) .len_arg = (n), .elem = 1
#define LE(n, T) .len_arg = (n), .elem = sizeof(T)
#define Z(T) .len_arg = TP_NOLEN, .min = sizeof(T)
#define LZ(n, T) .len_arg = (n), .elem = 1, .min = sizeof(T)
#define NOSZ .len_arg = TP_NOLEN
#define IN(size, t) { .kind = TP_ARG_IN, size, .type = TP_T_##t }
#define OUT(size, t) { .kind = TP_ARG_OUT, size, .type = TP_T_##t }
#define INOUT(size, t) { .kind = TP_ARG_INOUT, size, .type = TP_T_##t }

/* The first six after the placeholder: a row's arguments, then TP_NA
 * for the rest, so that every unused slot says TP_NOLEN too.  The
 * arguments reach it unexpanded (they follow ##), so the commas inside
 * their braces never split them. */
#define TP_PICK6(_, a, b, c, d, e, f, ...) a, b, c, d, e, f

/* Each row's position in tp_rows. */
enum {
#define SC(name, ...) TP_POS_##name,
#include "syscalls.def"
#undef SC
	TP_NROWS
};

/* Every name fits its row (TP_SYSNAME_MAX). */
#define SC(name, ...) \
	_Static_assert(sizeof(#name) <= TP_SYSNAME_MAX, #name " is too long");
#include "syscalls.def"
#undef SC

static const struct tp_syscall tp_rows[TP_NROWS] = {
#define SC(name, lo, hi, fl, ...)                                          \
	{ #name, SYS_##name, lo, hi, fl,                                   \
	  { TP_PICK6(_, ##__VA_ARGS__, TP_NA, TP_NA, TP_NA, TP_NA, TP_NA,  \
		     TP_NA) } },
#include "syscalls.def"
#undef SC
};

/* Position + 1 by number, 0 for none: two rows with one number would
 * initialise an entry twice, which -Woverride-init reports. */
static const uint16_t tp_by_nr[TP_NR_MAX] = {
#define SC(name, ...) [SYS_##name] = TP_POS_##name + 1,
#include "syscalls.def"
#undef SC
};

#undef BLK
#undef FDIO
#undef THR
#undef TRIM
#undef RFD
#undef VAR
#undef KFD
#undef I
#undef F
#undef S
#undef P
#undef A
#undef L
#undef LE
#undef Z
#undef LZ
#undef NOSZ
#undef IN
#undef OUT
#undef INOUT

const struct tp_syscall *tp_syscall_by_nr(long nr)
{
	if (nr < 0 || nr >= TP_NR_MAX || !tp_by_nr[nr])
		return NULL;
	return &tp_rows[tp_by_nr[nr] - 1];
}

/* A linear scan: tetherctl asks once per call and a policy once per
 * rule, and a few hundred strcmp are nothing beside a round trip. */
const struct tp_syscall *tp_syscall_by_name(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < TP_NROWS; i++)
		if (!strcmp(tp_rows[i].name, name))
			return &tp_rows[i];
	return NULL;
}

const struct tp_syscall *tp_syscall_table(size_t *n)
{
	if (n)
		*n = TP_NROWS;
	return tp_rows;
}

static bool is_buffer(unsigned kind)
{
	return kind == TP_ARG_IN || kind == TP_ARG_OUT || kind == TP_ARG_INOUT;
}

uint64_t tp_syscall_buf_need(const struct tp_syscall *sc, unsigned i,
			     const uint64_t regs[6], bool *over)
{
	const struct tp_arg_spec *s;
	uint64_t need, n;

	if (over)
		*over = false;
	if (!sc || i >= 6 || !is_buffer(sc->arg[i].kind))
		return 0;
	s = &sc->arg[i];
	need = s->min;
	if (s->len_arg < 6 && regs) {
		if (__builtin_mul_overflow(regs[s->len_arg], s->elem, &n)) {
			/* more than any buffer can hold: say so, and make a
			 * caller that ignores *over refuse it anyway */
			if (over)
				*over = true;
			return UINT64_MAX;
		}
		if (n > need)
			need = n;
	}
	return need;
}

bool tp_syscall_arg_is_fd(long nr, unsigned i)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(nr);

	return sc && i < 6 && sc->arg[i].kind == TP_ARG_FD;
}
