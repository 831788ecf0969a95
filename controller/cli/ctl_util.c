/*
 * What every verb shares: error text on stderr and the exit status of a
 * failed library call.  The first error a verb reports is also kept, with
 * its errno and cause, so that under --json the failure reaches stdout
 * as one object (ctl_err_json), whichever verb it was.  A handle lost to
 * a take-over reads the same from every verb: "tetherctl: taken over by
 * pid N uid U", exit 6.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Set by ctl_why() when the handle was lost to a take-over: the verb's
 * own error line then becomes this one, the same for every verb. */
static char ctl_taken_line[64];

/* A pipelined connect whose verdict the verb's first error reads. */
static struct {
	struct tether *t;
	const char *path;
	bool asked;
	int status;			/* the connect's exit status, or 0 */
} ctl_pipe;

/* The failure being reported: its first message wins (later ones are
 * its consequences), errno and cause likewise. */
static struct {
	bool have_msg;
	bool printed;			/* its JSON went out */
	int err;			/* errno, 0 for none known */
	int cause;			/* enum tether_cause */
	char msg[512];
} ctl_last;

/* A one-shot verb refused because the server is upgrading: ctl_run
 * runs it again, and while armed the refusal is kept, not said. */
static struct {
	bool armed;
	bool refused;
} ctl_upgrading;

static void ctl_record(const char *fmt, va_list ap)
{
	if (ctl_last.have_msg)
		return;
	vsnprintf(ctl_last.msg, sizeof(ctl_last.msg), fmt, ap);
	ctl_last.have_msg = true;
}

/* "tetherctl: MESSAGE" on stderr, and the message kept for --json. */
static void ctl_verr(const char *fmt, va_list ap)
{
	va_list again;

	if (ctl_upgrading.armed && ctl_last.err == EAGAIN &&
	    ctl_last.cause == TETHER_CAUSE_CONNECTION) {
		ctl_upgrading.refused = true;
		ctl_record(fmt, ap);
		return;
	}
	va_copy(again, ap);
	fputs("tetherctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	ctl_record(fmt, again);
	va_end(again);
}

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	if (ctl_pipe_refused())
		return;
	if (ctl_taken_line[0]) {
		fprintf(stderr, "tetherctl: %s\n", ctl_taken_line);
		ctl_err_note("%s", ctl_taken_line);
		ctl_taken_line[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	ctl_verr(fmt, ap);
	va_end(ap);
}

void ctl_err_errno(int err, const char *fmt, ...)
{
	va_list ap;

	if (ctl_pipe_refused())
		return;
	if (!ctl_last.err)
		ctl_last.err = err;
	va_start(ap, fmt);
	ctl_verr(fmt, ap);
	va_end(ap);
}

void ctl_err_note(const char *fmt, ...)
{
	va_list ap;

	if (ctl_pipe_refused())
		return;
	va_start(ap, fmt);
	ctl_record(fmt, ap);
	va_end(ap);
}

void ctl_err_cause(int cause)
{
	if (ctl_pipe_refused())
		return;
	if (!ctl_last.cause)
		ctl_last.cause = cause;
}

int ctl_parse_u64(const char *s, uint64_t *v)
{
	unsigned long long u;
	char *end;

	/* strtoull takes "-5" (as 2^64 - 5) and leading blanks */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	u = strtoull(s, &end, 10);
	if (*end || errno)
		return -EINVAL;
	*v = u;
	return 0;
}

void ctl_upgrading_arm(bool on)
{
	ctl_upgrading.armed = on;
	ctl_upgrading.refused = false;
}

bool ctl_upgrading_refused(void)
{
	return ctl_upgrading.armed && ctl_upgrading.refused;
}

void ctl_upgrading_say(void)
{
	ctl_upgrading.armed = false;
	fprintf(stderr, "tetherctl: %s\n", ctl_last.msg);
}

void ctl_err_reset(void)
{
	memset(&ctl_last, 0, sizeof(ctl_last));
}

void ctl_err_printed(void)
{
	ctl_last.printed = true;
}

/* The server's own words when it gave any, else strerror; who took
 * over, when that is why.  rc and the library's cause are what the
 * failure is then reported with. */
const char *ctl_why(const struct tether *t, int rc)
{
	const char *s = tether_last_error(t);
	pid_t pid;
	uid_t uid;

	if (rc == -ECONNABORTED && tether_taken_over(t, &pid, &uid) == 1) {
		snprintf(ctl_taken_line, sizeof(ctl_taken_line),
			 "taken over by pid %d uid %u", (int)pid,
			 (unsigned)uid);
		if (!ctl_last.err) {
			ctl_last.err = ECONNABORTED;
			ctl_last.cause = TETHER_CAUSE_CONFLICT;
		}
		return ctl_taken_line;
	}

	if (!ctl_last.err && rc < 0) {
		ctl_last.err = -rc;
		ctl_last.cause = tether_last_cause(t);
	}
	return s && *s ? s : strerror(-rc);
}

/* The exit status a cause the server named stands for, or 0. */
static int ctl_status_of_cause(int cause)
{
	switch (cause) {
	case TETHER_CAUSE_POLICY:
	case TETHER_CAUSE_ROLE:
		return CTL_EX_DENIED;
	case TETHER_CAUSE_TIMEOUT:
		return CTL_EX_TIMEOUT;
	case TETHER_CAUSE_CONFLICT:
		return CTL_EX_CONFLICT;
	default:
		return 0;
	}
}

int ctl_status_of(int rc)
{
	int st;

	/* -ECONNABORTED is a take-over and nothing else (libtether(3)). */
	if (rc == -ECONNABORTED)
		return CTL_EX_CONFLICT;
	/* The server is upgrading itself (a request it refused did not
	 * run): reachable again in a moment, as after a lost connection. */
	if (rc == -EAGAIN && ctl_last.err == EAGAIN &&
	    ctl_last.cause == TETHER_CAUSE_CONNECTION)
		return CTL_EX_UNREACHABLE;
	if (rc < 0 && ctl_last.err == -rc &&
	    (st = ctl_status_of_cause(ctl_last.cause)))
		return st;
	/* The server's own answer with that errno ("spawner gone": EPIPE)
	 * is the request's failure: the connection is fine. */
	if (rc < 0 && ctl_last.err == -rc &&
	    (ctl_last.cause == TETHER_CAUSE_REQUEST ||
	     ctl_last.cause == TETHER_CAUSE_SYSCALL))
		return CTL_EX_FAILED;
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN
		       ? CTL_EX_UNREACHABLE
		       : CTL_EX_FAILED;
}

/* A connect that failed: the library's words name the socket when it
 * is the point ("no tetherd at P"); else say which socket, once.
 * Another controller attached is a conflict (6), not unreachable. */
int ctl_connect_failed(const struct tether *t, const char *path, int rc)
{
	const char *why = ctl_why(t, rc);
	const char *pre = strstr(why, path) ? "" : path;
	const char *sep = *pre ? ": " : "";
	int st = ctl_status_of(rc);

	if (rc != -EBUSY) {
		ctl_err("%s%s%s", pre, sep, why);
		/* a read-only uid refused a control seat is denied (5) */
		return st == CTL_EX_DENIED ? st : CTL_EX_UNREACHABLE;
	}
	/* Attached, or another take-over won the race to it. */
	ctl_err("%s%sanother controller is attached (%s)%s", pre, sep, why,
		strncmp(why, "attached by", 11) ? ""
						: "; --take-over replaces it");
	return CTL_EX_CONFLICT;
}

/* The cause's name in the JSON error object: the library's when it
 * named one, else what the exit status says. */
static const char *ctl_cause_name(int status)
{
	switch (ctl_last.cause) {
	case TETHER_CAUSE_SYSCALL:
		return "syscall";
	case TETHER_CAUSE_POLICY:
		return "policy";
	case TETHER_CAUSE_ROLE:
		return "role";
	case TETHER_CAUSE_TIMEOUT:
		return "timeout";
	case TETHER_CAUSE_CONFLICT:
		return "conflict";
	default:
		break;
	}
	switch (status) {
	case CTL_EX_USAGE:
		return "usage";
	case CTL_EX_UNREACHABLE:
		return "connection";
	case CTL_EX_TIMEOUT:
		return "timeout";
	case CTL_EX_DENIED:
		return "denied";
	case CTL_EX_CONFLICT:
		return "conflict";
	case CTL_EX_INTERRUPTED:
		return "interrupted";
	default:
		return ctl_last.cause == TETHER_CAUSE_REQUEST ? "request"
							      : "failed";
	}
}

void ctl_err_json_body(FILE *f, int status)
{
	const char *name = ctl_last.err ? tp_errno_name(ctl_last.err) : NULL;
	const char *msg = ctl_last.have_msg	  ? ctl_last.msg
			  : ctl_last.err	  ? strerror(ctl_last.err)
			  : status == CTL_EX_USAGE ? "usage error (see tetherctl "
						     "--help)"
						   : "failed";
	char buf[16];

	fputc('{', f);
	if (ctl_last.err) {
		if (!name) {
			snprintf(buf, sizeof(buf), "E%d", ctl_last.err);
			name = buf;
		}
		fprintf(f, "\"errno\":\"%s\",\"errno_code\":%d,", name,
			ctl_last.err);
	}
	fputs("\"message\":", f);
	ctl_json_string(f, msg, strlen(msg));
	fprintf(f, ",\"exit\":%d,\"cause\":\"%s\"}", status,
		ctl_cause_name(status));
}

void ctl_err_json(FILE *f, int status)
{
	if (ctl_last.printed || status == CTL_EX_OK)
		return;
	fputs("{\"error\":", f);
	ctl_err_json_body(f, status);
	fputs("}\n", f);
	fflush(f);
	ctl_last.printed = true;
}

void ctl_pipe_watch(struct tether *t, const char *path)
{
	ctl_pipe.t = t;
	ctl_pipe.path = path;
	ctl_pipe.asked = false;
	ctl_pipe.status = 0;
}

/* Asked once: a refusal replaces what the verb was about to say (it
 * failed because of it) with what a waiting connect printed, and the
 * rest of the verb's messages are its consequences, dropped. */
int ctl_pipe_refused(void)
{
	int rc;

	if (!ctl_pipe.t || ctl_pipe.asked)
		return ctl_pipe.status;
	ctl_pipe.asked = true;
	/* -EINTR: no verdict, the interrupt's own status follows */
	if ((rc = tether_connect_finish(ctl_pipe.t)) == 0 || rc == -EINTR)
		return 0;
	ctl_err_reset();
	ctl_taken_line[0] = '\0';
	ctl_pipe.status = ctl_connect_failed(ctl_pipe.t, ctl_pipe.path, rc);
	return ctl_pipe.status;
}

/* ---- an attach session's connection (ctl_attach.c, ctl_edit.c) ------ */

bool ctl_stdin_is_session;

int ctl_session_fd(const struct ctl_session *s)
{
	return s->t ? tether_data_fd(s->t) : -1;
}

bool ctl_session_hup(short revents)
{
	return revents & (POLLRDHUP | POLLHUP | POLLERR);
}
