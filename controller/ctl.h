/*
 * tetherctl internals: helpers shared by the verbs of the controller.
 * Functions are prefixed ctl_ and, where they can fail, return 0 or a
 * negative errno.
 */
#ifndef TETHER_CTL_H
#define TETHER_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tether.h"

/* How ctl_call_print shows argument i. */
enum ctl_disp {
	CTL_DISP_INT = 0,		/* a plain number: its token as typed */
	CTL_DISP_SYM,			/* an expression with symbols: token */
	CTL_DISP_HEX,			/* value in hex (no token needed) */
	CTL_DISP_STR,			/* "string", re-escaped */
	CTL_DISP_IN,			/* 'bytes' sent */
	CTL_DISP_OUT,			/* "bytes" returned */
	CTL_DISP_INOUT,			/* "bytes" returned into a pre-filled buf */
};

/* Most bytes of one buffer argument, and of one call's buffers. */
#define CTL_BUF_MAX (1u << 20)
/* Buffer bytes ctl_call_print shows before "...". */
#define CTL_PRINT_MAX 256u

/* One parsed `call NAME ARG...`.  Everything it points to is its own. */
struct ctl_callspec {
	char name[64];			/* syscall name (resolved if typed as nr) */
	struct tether_call call;	/* nr, nargs, args[], flags filled */
	void *bufs[6];			/* arg i's buffer: in copy or out space */
	int disp[6];			/* enum ctl_disp */
	char *text[6];			/* the original token of arg i */
	bool sgn[6];			/* INT/SYM/HEX value is a signed number */
};

/* ctl_parse.c */
/* argv[0] is the syscall name (or number).  Returns 0, or -EINVAL,
 * -ENOSYS, -E2BIG or -ENOMEM with a one-line message in err.  On failure
 * cs is left empty; ctl_callspec_free is safe either way. */
int ctl_call_parse(int argc, char *const argv[], struct ctl_callspec *cs,
		   char *err, size_t errsz);
void ctl_callspec_free(struct ctl_callspec *cs);

/* ctl_consts.c */
/* The value of symbol name[0..len): 0, or -ENOENT if unknown. */
int ctl_const_lookup(const char *name, size_t len, int64_t *value);
/* 2 -> "ENOENT"; unknown -> NULL. */
const char *ctl_errno_name(int e);

/* ctl_print.c */
/* After the call ran (call.ret and args[i].returned set). */
void ctl_call_print(FILE *f, const struct ctl_callspec *cs);
void ctl_call_print_json(FILE *f, const struct ctl_callspec *cs);
/* JSON string of s[0..n): quoted and escaped, every byte one code point
 * (>= 0x80 and controls as \u00XX), so latin-1 gives the bytes back. */
void ctl_json_string(FILE *f, const char *s, size_t n);
/* "deadbeef" in double quotes. */
void ctl_json_hex(FILE *f, const void *p, size_t n);
/* C-like escape of p[0..n) between quote characters q, strace style. */
void ctl_print_bytes(FILE *f, const void *p, size_t n, char q);

/* ctl_split.c */
/* Split one line into words; quotes and escapes stay in the words.
 * Returns 0 (argv NULL-terminated), -EINVAL on unbalanced quotes, or
 * -ENOMEM.  Free with ctl_split_free. */
int ctl_split_line(const char *line, char ***argv_out, int *argc_out);
void ctl_split_free(char **argv, int argc);

#endif
