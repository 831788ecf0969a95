/* The connection handle, its error text, and what the server told us. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libtether.h"

struct tether *tl_alloc(void)
{
	struct tether *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sfd = t->dfd = t->intr_fd = -1;
	t->next_id = 1;
	/* Every connection made here is to a socket on this host. */
	t->can_pass_fds = true;
	return t;
}

/* Milliseconds of CLOCK_MONOTONIC: deadlines. */
int64_t tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tl_free(struct tether *t)
{
	if (!t)
		return;
	tl_pipe_free(t);
	if (t->sfd >= 0)
		close(t->sfd);
	if (t->dfd >= 0)
		close(t->dfd);
	/* Our sockets closed, the relay ends our side over ssh and waits
	 * (boundedly) until the far side has ended too: a controller that
	 * disconnected has left the server when this returns. */
	while (t->relay > 0 && waitpid(t->relay, NULL, 0) < 0 &&
	       errno == EINTR)
		;
	tp_rbuf_free(&t->in);
	free(t->answer);
	free(t->held);
	free(t->sub_ids);
	free(t->sub_calls);
	free(t);
}

int tl_fail(struct tether *t, int err, const char *fmt, ...)
{
	va_list ap;

	if (t) {
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof(t->err), fmt, ap);
		va_end(ap);
	}
	return -err;
}

void tl_status_fill(struct tether_status *st, const struct tp_status *s)
{
	st->pid = (pid_t)s->pid;
	st->generation = s->generation;
	st->persistent = s->persistent;
	if (s->has & TP_STATUS_ATTACHED)
		st->attached = s->attached;
	if (s->has & TP_STATUS_CONTROLLER_PID)
		st->controller_pid = (pid_t)s->controller_pid;
	if (s->has & TP_STATUS_CONTROLLER_SINCE)
		st->controller_since = s->controller_since;
	st->uptime_ms = s->uptime_ms;
	st->nfds = (unsigned)s->nfds;
	st->ninternal = (unsigned)s->ninternal;
	st->nlabels = (unsigned)s->nlabels;
	st->nchildren = (unsigned)s->children;
	st->nworkers = (unsigned)s->workers;
	if (s->has & TP_STATUS_SYSCALL_FD)
		st->syscall_fd = (int)s->syscall_fd;
	if (s->has & TP_STATUS_DATA_FD)
		st->data_fd = (int)s->data_fd;
	st->observer = s->observer;
}

int tl_status_from_map(struct tether *t, struct tether_status *st,
		       const msgpack_object *map)
{
	struct tp_status s;
	struct tp_err e;
	int rc = tp_unpack_status(map, &s, &e);

	if (rc < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	tl_status_fill(st, &s);
	return 0;
}


static __thread char tl_orphan_err[256];
static __thread int tl_orphan_cause;

void tl_set_orphan_error(const char *text)
{
	snprintf(tl_orphan_err, sizeof(tl_orphan_err), "%s", text);
}

TETHER_API const char *tether_last_error(const struct tether *t)
{
	return t ? t->err : tl_orphan_err;
}

TETHER_API int tether_taken_over(const struct tether *t, pid_t *pid,
				 uid_t *uid)
{
	if (!t || !t->taken)
		return 0;
	if (pid)
		*pid = t->taken_pid;
	if (uid)
		*uid = t->taken_uid;
	return 1;
}

void tl_set_orphan_cause(int cause)
{
	tl_orphan_cause = cause;
}

int tl_cause_of(const char *p, size_t n)
{
	static const struct {
		const char *name;
		int cause;
	} names[] = {
		{ TP_CAUSE_POLICY, TETHER_CAUSE_POLICY },
		{ TP_CAUSE_ROLE, TETHER_CAUSE_ROLE },
		{ TP_CAUSE_TIMEOUT, TETHER_CAUSE_TIMEOUT },
		{ TP_CAUSE_CONFLICT, TETHER_CAUSE_CONFLICT },
		/* the connection is about to go: not the request's fault */
		{ TP_CAUSE_UPGRADE, TETHER_CAUSE_CONNECTION },
	};

	for (size_t i = 0; p && i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && !memcmp(names[i].name, p, n))
			return names[i].cause;
	/* none, or one this library does not know: the request's own */
	return TETHER_CAUSE_REQUEST;
}

TETHER_API int tether_last_cause(const struct tether *t)
{
	return t ? t->cause : tl_orphan_cause;
}

/* What the HELLO's answer said: read first on a pipelined handle (the
 * handle is the caller's, const only in the signature). */
TETHER_API const struct tether_status *tether_info(const struct tether *t)
{
	tl_settle((struct tether *)t, false);
	return &t->info;
}

TETHER_API int tether_data_fd(const struct tether *t)
{
	tl_settle((struct tether *)t, false);
	return t->dfd;
}

TETHER_API int tether_default_socket(char *buf, size_t size)
{
	return tp_default_socket_path(buf, size);
}

TETHER_API void tether_disconnect(struct tether *t)
{
	if (!t)
		return;
	/* A server we started and that has exited is reaped here; a live
	 * one goes on (persistent) or dies with us (not yet). */
	if (t->child > 0)
		waitpid(t->child, NULL, WNOHANG);
	tl_pipe_close(t);
	tl_free(t);
}
