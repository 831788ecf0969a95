/*
 * Loading libedit on first use (ctl_libedit.h says why).  The handle is
 * never closed: a verb that needed it needs it until exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ctl_libedit.h"

struct ctl_libedit ctl_le;

static int ctl_le_state;	/* 0 not tried, 1 loaded, -ELIBACC failed */
static char ctl_le_why[256];

/* Each pointer of ctl_le with the name of the function it holds. */
#define CTL_LE_SYM(f) { #f, offsetof(struct ctl_libedit, f) }
static const struct {
	const char *name;
	size_t off;
} ctl_le_syms[] = {
	CTL_LE_SYM(el_init),	  CTL_LE_SYM(el_end),
	CTL_LE_SYM(el_reset),	  CTL_LE_SYM(el_gets),
	CTL_LE_SYM(el_set),	  CTL_LE_SYM(el_wset),
	CTL_LE_SYM(el_get),	  CTL_LE_SYM(el_source),
	CTL_LE_SYM(el_line),	  CTL_LE_SYM(el_insertstr),
	CTL_LE_SYM(el_deletestr), CTL_LE_SYM(history_init),
	CTL_LE_SYM(history_end),  CTL_LE_SYM(history),
	CTL_LE_SYM(tok_init),	  CTL_LE_SYM(tok_end),
	CTL_LE_SYM(tok_str),
};

static int ctl_le_fail(const char *what)
{
	snprintf(ctl_le_why, sizeof(ctl_le_why),
		 "line editing and word splitting need %s (Debian package "
		 "libedit2): %s", CTL_LIBEDIT_SONAME,
		 what ? what : "not found");
	memset(&ctl_le, 0, sizeof(ctl_le));
	return ctl_le_state = -ELIBACC;
}

int ctl_libedit_load(void)
{
	void *h;

	if (ctl_le_state)
		return ctl_le_state > 0 ? 0 : ctl_le_state;
	/* RTLD_NOW: a missing function is found here, not mid-session. */
	if (!(h = dlopen(CTL_LIBEDIT_SONAME, RTLD_NOW | RTLD_LOCAL)))
		return ctl_le_fail(dlerror());
	for (size_t i = 0; i < sizeof(ctl_le_syms) / sizeof(ctl_le_syms[0]);
	     i++) {
		void *f = dlsym(h, ctl_le_syms[i].name);

		if (!f)
			return ctl_le_fail(dlerror());
		/* POSIX: a data pointer from dlsym converts to a function
		 * pointer; copy its bytes, as the C standard does not. */
		memcpy((char *)&ctl_le + ctl_le_syms[i].off, &f, sizeof(f));
	}
	ctl_le_state = 1;
	return 0;
}

const char *ctl_libedit_why(void)
{
	return ctl_le_why[0] ? ctl_le_why : "libedit is loaded";
}
