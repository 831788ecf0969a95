/* A syscall's number from its name, in the table generated at build
 * time (ctl_sysnames.c): a walk of some 460 names, once per `call`. */
#include <string.h>

#include "ctl.h"

long ctl_sysnr_of(const char *name)
{
	for (size_t nr = 0; nr < ctl_sysnames_n; nr++) {
		const char *s = ctl_sysname_of((long)nr);

		if (s && !strcmp(s, name))
			return (long)nr;
	}
	return -1;
}
