/*
 * What every verb shares: error text on stderr and the exit status of a
 * failed library call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tetherctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The server's own words when it gave any, else strerror. */
const char *ctl_why(const struct tether *t, int rc)
{
	const char *s = tether_last_error(t);

	return s && *s ? s : strerror(-rc);
}

int ctl_status_of(int rc)
{
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN ||
			       rc == -ECONNABORTED
		       ? CTL_EX_UNREACHABLE
		       : CTL_EX_FAILED;
}
