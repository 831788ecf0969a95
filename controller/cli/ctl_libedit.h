/*
 * libedit, loaded when a verb needs it (attach's line editing, the word
 * splitting of attach and batch) rather than linked: every other verb
 * would otherwise map libedit, libtinfo, libbsd and libmd at start-up
 * for nothing.  Callers go through ctl_le's pointers, which hold the
 * library's own functions once ctl_libedit_load() has succeeded.
 */
#ifndef TETHER_CTL_LIBEDIT_H
#define TETHER_CTL_LIBEDIT_H

#include <histedit.h>

/* The soname tetherctl was built against (Debian: libedit2). */
#define CTL_LIBEDIT_SONAME "libedit.so.2"

struct ctl_libedit {
	EditLine *(*el_init)(const char *, FILE *, FILE *, FILE *);
	void (*el_end)(EditLine *);
	void (*el_reset)(EditLine *);
	const char *(*el_gets)(EditLine *, int *);
	int (*el_set)(EditLine *, int, ...);
	int (*el_wset)(EditLine *, int, ...);
	int (*el_get)(EditLine *, int, ...);
	int (*el_source)(EditLine *, const char *);
	const LineInfo *(*el_line)(EditLine *);
	int (*el_insertstr)(EditLine *, const char *);
	void (*el_deletestr)(EditLine *, int);
	History *(*history_init)(void);
	void (*history_end)(History *);
	int (*history)(History *, HistEvent *, int, ...);
	Tokenizer *(*tok_init)(const char *);
	void (*tok_end)(Tokenizer *);
	int (*tok_str)(Tokenizer *, const char *, int *, const char ***);
};

extern struct ctl_libedit ctl_le;

/* Load it once: 0, or -ELIBACC when it (or one of its functions) is
 * missing; ctl_libedit_why() then says what, for the user. */
int ctl_libedit_load(void);
const char *ctl_libedit_why(void);

#endif
