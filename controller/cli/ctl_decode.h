/*
 * Decoded results for `tetherctl call`, strace style: the typed syscall
 * table (proto/systab.h) says what each buffer holds, a small table of
 * ours says what each integer argument means, and name tables turn
 * values into O_RDONLY|O_CLOEXEC, S_IFREG|0644, SIGTERM.
 *
 * One concern a file:
 *   ctl_decode_xlat.c   the name tables (strace's xlat): values from the
 *                       system headers, names by family
 *   ctl_decode_out.c    one writer for both outputs: strace's
 *                       {key=value, ...} and JSON's {"key":value,...}
 *   ctl_decode_struct.c kernel structs by enum tp_type (stat, statx,
 *                       timespec, rlimit, pollfd ...)
 *   ctl_decode_args.c   which integer argument of which call is what,
 *                       and the entry point ctl_decode_arg
 */
#ifndef TETHER_CTL_DECODE_H
#define TETHER_CTL_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

/* ---- ctl_decode_xlat.c ---------------------------------------------- */

/* A family of names.  FLAGS families are or-ed bits; the others name
 * one value each. */
enum ctl_xfam {
	CTL_X_OPEN,		/* O_RDONLY|O_CLOEXEC (access mode + flags) */
	CTL_X_OFLAGS,		/* O_CLOEXEC|O_NONBLOCK (flags alone: pipe2) */
	CTL_X_AT,		/* AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH */
	CTL_X_MODE,		/* S_IFREG|S_ISUID|0644 (st_mode, mknod) */
	CTL_X_PROT,		/* PROT_READ|PROT_WRITE */
	CTL_X_MAP,		/* MAP_PRIVATE|MAP_ANONYMOUS */
	CTL_X_FCNTL,		/* F_GETFL */
	CTL_X_FD,		/* FD_CLOEXEC */
	CTL_X_SIGNAL,		/* SIGTERM, SIGRTMIN+3 */
	CTL_X_WHENCE,		/* SEEK_SET */
	CTL_X_CLOCK,		/* CLOCK_MONOTONIC */
	CTL_X_RLIMIT,		/* RLIMIT_NOFILE */
	CTL_X_FAMILY,		/* AF_UNIX */
	CTL_X_SOCKTYPE,		/* SOCK_STREAM|SOCK_CLOEXEC */
	CTL_X_SOCKFLAGS,	/* SOCK_CLOEXEC (flags alone: accept4) */
	CTL_X_MSG,		/* MSG_DONTWAIT|MSG_NOSIGNAL */
	CTL_X_ACCESS,		/* R_OK|W_OK, F_OK for 0 */
	CTL_X_SHUT,		/* SHUT_RDWR */
	CTL_X_SIGHOW,		/* SIG_BLOCK */
	CTL_X_WAIT,		/* WNOHANG|WEXITED */
	CTL_X_IDTYPE,		/* P_PID */
	CTL_X_POLL,		/* POLLIN|POLLOUT */
	CTL_X_EPOLL,		/* EPOLLIN|EPOLLET */
	CTL_X_EPOLLCTL,		/* EPOLL_CTL_ADD */
	CTL_X_EFD,		/* EFD_CLOEXEC|EFD_NONBLOCK */
	CTL_X_FLOCK,		/* LOCK_EX|LOCK_NB */
	CTL_X_RENAME,		/* RENAME_NOREPLACE */
	CTL_X_STATX_MASK,	/* STATX_TYPE|STATX_MODE ... */
	CTL_X_RUSAGE_WHO,	/* RUSAGE_SELF */
	CTL_X_CLOSE_RANGE,	/* CLOSE_RANGE_CLOEXEC */
	CTL_X_MFD,		/* MFD_CLOEXEC */
	CTL_X_DIRENT_TYPE,	/* DT_REG */
	CTL_X_MAX_
};

/* Value v of family fam as text in buf ("O_RDONLY|O_CLOEXEC"; bits
 * without a name as |0x..., a value without one as a number): the
 * length written, cut to size - 1 like snprintf. */
size_t ctl_xlat_format(char *buf, size_t size, enum ctl_xfam fam,
		       uint64_t v);

/* The value of a name the tables print (RLIMIT_NOFILE, POLLIN ...): what
 * `call` accepts besides proto/consts.c's names, so that what the output
 * shows can be typed back.  0 or -ENOENT. */
int ctl_xlat_lookup(const char *name, size_t len, uint64_t *value);

/* ---- ctl_decode_out.c ----------------------------------------------- */

/* Where decoded values go: strace's text or JSON.  Keys are NULL inside
 * arrays (and for a bare value at the top). */
struct ctl_out {
	FILE *f;
	bool json;
	unsigned depth;
	unsigned count[8];	/* items written at each depth */
};

void ctl_out_init(struct ctl_out *o, FILE *f, bool json);
/* '{' or '[' opens; ctl_out_close writes the matching one. */
void ctl_out_open(struct ctl_out *o, const char *key, char brace);
void ctl_out_close(struct ctl_out *o, char brace);
void ctl_out_int(struct ctl_out *o, const char *key, int64_t v);
void ctl_out_uint(struct ctl_out *o, const char *key, uint64_t v);
/* A number shown in hex (text) or plain (JSON). */
void ctl_out_hex(struct ctl_out *o, const char *key, uint64_t v);
/* Names of family fam: text shows them; JSON a number under key and
 * the names under key_name. */
void ctl_out_sym(struct ctl_out *o, const char *key, enum ctl_xfam fam,
		 uint64_t v);
/* A bare string of names or words (JSON: a string; text: as is). */
void ctl_out_word(struct ctl_out *o, const char *key, const char *s);
/* Bytes shown as a quoted, escaped string. */
void ctl_out_str(struct ctl_out *o, const char *key, const void *p,
		 size_t n);
/* A time: text as strace -v has it (seconds, then the date in ISO 8601
 * in a comment), JSON key:sec and key_nsec:nsec (a timeval's
 * microseconds are given as nanoseconds). */
void ctl_out_time(struct ctl_out *o, const char *key, int64_t sec,
		  int64_t nsec);
/* A device number: makedev(0xMAJ, 0xMIN) in text, the number (as
 * st_dev holds it) in JSON. */
void ctl_out_dev(struct ctl_out *o, const char *key, uint64_t dev);
/* strace's "..." for fields left out (text only). */
void ctl_out_more(struct ctl_out *o);

/* ---- ctl_decode_struct.c -------------------------------------------- */

/* Show n bytes at p as the kernel type (enum tp_type) type; count is
 * the number of elements the call means (1 for a struct; 0: as many as
 * fit).  false, writing nothing, if the type has no decoder or n is
 * too short for one element. */
bool ctl_decode_struct(struct ctl_out *o, unsigned type, const void *p,
		       size_t n, size_t count);
/* The size of one element of type, 0 if it has no decoder. */
size_t ctl_decode_elem_size(unsigned type);

/* ---- ctl_decode_args.c ---------------------------------------------- */

/* Show argument i of a call that ran, decoded; false, writing nothing,
 * where no decoder applies (the caller then shows it as --raw would). */
bool ctl_decode_arg(struct ctl_out *o, const struct ctl_callspec *cs,
		    unsigned i);
/* A successful result shown by type, strace style, into buf: umask's
 * in octal, fcntl F_GETFL's and F_GETFD's flags by name.  false where
 * the result is just a number. */
bool ctl_decode_ret(const struct ctl_callspec *cs, char *buf, size_t size);
/* The two fds of a successful pipe, pipe2 or socketpair: true and
 * fds[], else false. */
bool ctl_decode_fdpair(const struct ctl_callspec *cs, int fds[2]);

#endif
