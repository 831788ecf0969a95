/* The connection handle, its error text, and what the server told us. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libtether.h"

struct tether *tl_alloc(void)
{
	struct tether *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sfd = t->dfd = -1;
	t->next_id = 1;
	return t;
}

void tl_free(struct tether *t)
{
	if (!t)
		return;
	if (t->sfd >= 0)
		close(t->sfd);
	if (t->dfd >= 0)
		close(t->dfd);
	tp_rbuf_free(&t->in);
	free(t->held);
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

static int64_t tl_map_int(const msgpack_object *map, const char *key)
{
	int64_t v = 0;

	tp_obj_i64(tp_map_get(map, key), &v);
	return v;
}

static bool tl_map_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = tp_map_get(map, key);

	return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

/* Fill what the map carries; keys it lacks keep their value. */
void tl_status_from_map(struct tether_status *st, const msgpack_object *map)
{
	if (tp_map_get(map, "pid"))
		st->pid = (pid_t)tl_map_int(map, "pid");
	if (tp_map_get(map, "generation"))
		st->generation = (uint64_t)tl_map_int(map, "generation");
	if (tp_map_get(map, "persistent"))
		st->persistent = tl_map_bool(map, "persistent");
	if (tp_map_get(map, "attached"))
		st->attached = tl_map_bool(map, "attached");
	if (tp_map_get(map, "controller_pid"))
		st->controller_pid = (pid_t)tl_map_int(map, "controller_pid");
	if (tp_map_get(map, "controller_since"))
		st->controller_since = tl_map_int(map, "controller_since");
	if (tp_map_get(map, "uptime_ms"))
		st->uptime_ms = (uint64_t)tl_map_int(map, "uptime_ms");
	if (tp_map_get(map, "nfds"))
		st->nfds = (unsigned)tl_map_int(map, "nfds");
	if (tp_map_get(map, "ninternal"))
		st->ninternal = (unsigned)tl_map_int(map, "ninternal");
	if (tp_map_get(map, "nlabels"))
		st->nlabels = (unsigned)tl_map_int(map, "nlabels");
	if (tp_map_get(map, "children"))
		st->nchildren = (unsigned)tl_map_int(map, "children");
	if (tp_map_get(map, "workers"))
		st->nworkers = (unsigned)tl_map_int(map, "workers");
	if (tp_map_get(map, "syscall_fd"))
		st->syscall_fd = (int)tl_map_int(map, "syscall_fd");
	if (tp_map_get(map, "data_fd"))
		st->data_fd = (int)tl_map_int(map, "data_fd");
	if (tp_map_get(map, "observer"))
		st->observer = tl_map_bool(map, "observer");
}

static __thread char tl_orphan_err[256];

void tl_set_orphan_error(const char *text)
{
	snprintf(tl_orphan_err, sizeof(tl_orphan_err), "%s", text);
}

TETHER_API const char *tether_last_error(const struct tether *t)
{
	return t ? t->err : tl_orphan_err;
}

TETHER_API const struct tether_status *tether_info(const struct tether *t)
{
	return &t->info;
}

TETHER_API int tether_data_fd(const struct tether *t)
{
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
	tl_free(t);
}
