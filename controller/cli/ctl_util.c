/*
 * What every verb shares: error text on stderr and the exit status of a
 * failed library call.  A handle lost to a take-over reads the same
 * from every verb: "tetherctl: taken over by pid N uid U", exit 6.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* Set by ctl_why() when the handle was lost to a take-over: the verb's
 * own error line then becomes this one, the same for every verb. */
static char ctl_taken_line[64];

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	if (ctl_taken_line[0]) {
		fprintf(stderr, "tetherctl: %s\n", ctl_taken_line);
		ctl_taken_line[0] = '\0';
		return;
	}
	fputs("tetherctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The server's own words when it gave any, else strerror; who took
 * over, when that is why. */
const char *ctl_why(const struct tether *t, int rc)
{
	const char *s = tether_last_error(t);
	pid_t pid;
	uid_t uid;

	if (rc == -ECONNABORTED && tether_taken_over(t, &pid, &uid) == 1) {
		snprintf(ctl_taken_line, sizeof(ctl_taken_line),
			 "taken over by pid %d uid %u", (int)pid,
			 (unsigned)uid);
		return ctl_taken_line;
	}

	return s && *s ? s : strerror(-rc);
}

int ctl_status_of(int rc)
{
	/* -ECONNABORTED is a take-over and nothing else (libtether(3)). */
	if (rc == -ECONNABORTED)
		return CTL_EX_CONFLICT;
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN
		       ? CTL_EX_UNREACHABLE
		       : CTL_EX_FAILED;
}

/* A connect that failed: the library's words name the socket when it
 * is the point ("no tetherd at P"); else say which socket, once.
 * Another controller attached is a conflict (6), not unreachable. */
int ctl_connect_failed(const char *path, int rc)
{
	const char *why = ctl_why(NULL, rc);
	const char *pre = strstr(why, path) ? "" : path;
	const char *sep = *pre ? ": " : "";

	if (rc != -EBUSY) {
		ctl_err("%s%s%s", pre, sep, why);
		return CTL_EX_UNREACHABLE;
	}
	/* Attached, or another take-over won the race to it. */
	ctl_err("%s%sanother controller is attached (%s)%s", pre, sep, why,
		strncmp(why, "attached by", 11) ? ""
						: "; --take-over replaces it");
	return CTL_EX_CONFLICT;
}
