/* SPAWN, PS, WAIT, KILL, STOP, ACK and LOGS from the controller's side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "libtether.h"

/* A label, or a pid written in decimal. */
static void tl_pack_target(msgpack_packer *pk, const char *target)
{
	char *end;
	long pid = strtol(target, &end, 10);

	if (*target && !*end && pid > 0)
		msgpack_pack_int64(pk, pid);
	else
		tp_pack_str(pk, target);
}

static void tl_pack_strv(msgpack_packer *pk, const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		tp_pack_str(pk, v[i]);
}

#define TL_POLICY_MAX (1u << 20)	/* the server's bound too */

/* A SPAWN's request: the caller's spec and the policy file's text. */
struct tl_spawn {
	const struct tether_spawn *sp;
	char *policy;
	size_t policy_len;
};

/* The worker's policy file, whole: a regular file of at most 1 MiB,
 * never through a symlink. */
static int tl_read_policy(struct tether *t, const char *path, char **out,
			  size_t *len)
{
	int rc = tp_read_file(path, TL_POLICY_MAX, out, len);

	if (rc < 0)
		return tl_fail(t, -rc, "policy %s: %s", path,
			       rc == -EINVAL ? "not a regular file"
			       : rc == -EFBIG ? "larger than 1 MiB"
					      : strerror(-rc));
	return 0;
}

static void tl_pack_spawn(msgpack_packer *pk, const void *arg)
{
	const struct tl_spawn *req = arg;
	const struct tether_spawn *sp = req->sp;
	unsigned n = 5;
	size_t len;

	n += !!sp->env + !!sp->cwd + !!sp->label + !!sp->log_max +
	     !!sp->nfds + !!sp->user + !!sp->cgroup + !!sp->nrlimits +
	     2 * !!req->policy;
	msgpack_pack_map(pk, n);
	tp_pack_str(pk, "argv");
	tl_pack_strv(pk, sp->argv);
	tp_pack_kv_bool(pk, "clear_env", sp->clear_env);
	tp_pack_kv_bool(pk, "capture", sp->capture);
	tp_pack_kv_bool(pk, "setsid", sp->setsid);
	tp_pack_kv_bool(pk, "pgroup", true);
	if (sp->env) {
		tp_pack_str(pk, "env");
		tl_pack_strv(pk, sp->env);
	}
	if (sp->cwd)
		tp_pack_kv_str(pk, "cwd", sp->cwd);
	if (sp->label)
		tp_pack_kv_str(pk, "label", sp->label);
	if (sp->log_max)
		tp_pack_kv_int(pk, "log_max", (int64_t)sp->log_max);
	if (sp->nfds) {
		tp_pack_str(pk, "fds");
		msgpack_pack_array(pk, sp->nfds);
		for (size_t i = 0; i < sp->nfds; i++) {
			msgpack_pack_array(pk, 2);
			msgpack_pack_int(pk, sp->fds[i][0]);
			msgpack_pack_int(pk, sp->fds[i][1]);
		}
	}
	if (sp->user)
		tp_pack_kv_str(pk, "user", sp->user);
	if (sp->cgroup)
		tp_pack_kv_str(pk, "cgroup", sp->cgroup);
	if (sp->nrlimits) {
		tp_pack_str(pk, "rlimits");
		msgpack_pack_array(pk, sp->nrlimits);
		for (size_t i = 0; i < sp->nrlimits; i++) {
			msgpack_pack_array(pk, 3);
			msgpack_pack_int(pk, sp->rlimits[i].resource);
			msgpack_pack_uint64(pk, sp->rlimits[i].soft);
			msgpack_pack_uint64(pk, sp->rlimits[i].hard);
		}
	}
	if (req->policy) {
		tp_pack_str(pk, "policy");
		msgpack_pack_str(pk, req->policy_len);
		msgpack_pack_str_body(pk, req->policy, req->policy_len);
		/* The server takes a name of up to 255 bytes: a longer path
		 * keeps its end, where the file's name is. */
		len = strlen(sp->policy);
		tp_pack_kv_str(pk, "policy_name",
			       sp->policy + (len > 255 ? len - 255 : 0));
	}
}

static int tl_got_pid(struct tether *t, const msgpack_object *body, void *arg)
{
	int64_t pid;

	if (tp_obj_i64(tp_map_get(body, "pid"), &pid) < 0)
		return tl_fail(t, EPROTO, "malformed reply");
	*(pid_t *)arg = (pid_t)pid;
	return 0;
}

TETHER_API int tether_spawn(struct tether *t, const struct tether_spawn *user,
			    pid_t *pid)
{
	struct tether_spawn o, *sp = &o;
	struct tl_spawn req = { sp, NULL, 0 };
	pid_t dummy;
	int rc;

	if (!user)
		return tl_fail(t, EINVAL, "no argv");
	if ((rc = tl_opts_in(t, &o, sizeof(o), user,
			     TL_V1_SIZE(struct tether_spawn, policy))) < 0)
		return rc;
	if (!sp->argv || !sp->argv[0])
		return tl_fail(t, EINVAL, "no argv");
	if (sp->policy &&
	    (rc = tl_read_policy(t, sp->policy, &req.policy,
				 &req.policy_len)) < 0)
		return rc;
	rc = tl_request(t, TETHER_OP_SPAWN, tl_pack_spawn, &req, tl_got_pid,
			pid ? pid : &dummy);
	free(req.policy);
	return rc;
}

static int64_t tl_int(const msgpack_object *map, const char *key)
{
	int64_t v = 0;

	tp_obj_i64(tp_map_get(map, key), &v);
	return v;
}

static bool tl_bool(const msgpack_object *map, const char *key)
{
	const msgpack_object *o = tp_map_get(map, key);

	return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
}

static int tl_worker_from_map(struct tether_worker *w, const msgpack_object *m)
{
	static const char *const states[] = { "running", "stopped", "exited",
					      "killed" };
	const msgpack_object *o, *ru = tp_map_get(m, "rusage"), *av;
	const char *s;
	char **argv;
	size_t n;

	memset(w, 0, sizeof(*w));
	w->pid = (pid_t)tl_int(m, "pid");
	if (tp_obj_str(tp_map_get(m, "label"), &s, &n) == 0) {
		n = n < sizeof(w->label) - 1 ? n : sizeof(w->label) - 1;
		memcpy(w->label, s, n);
	}
	if (tp_obj_str(tp_map_get(m, "state"), &s, &n) == 0)
		for (unsigned i = 0; i < 4; i++)
			if (strlen(states[i]) == n && !memcmp(states[i], s, n))
				w->state = (enum tether_wstate)i;
	w->exit_code = (int)tl_int(m, "exit_code");
	w->signal = (int)tl_int(m, "signal");
	w->core = tl_bool(m, "core");
	w->started_ms = tl_int(m, "started");
	w->ended_ms = tl_int(m, "ended");
	w->utime_us = (uint64_t)tl_int(ru, "utime_us");
	w->stime_us = (uint64_t)tl_int(ru, "stime_us");
	w->maxrss_kb = (long)tl_int(ru, "maxrss_kb");
	w->captured = tl_bool(m, "captured");
	w->log_size = (uint64_t)tl_int(m, "log_size");
	w->timeout = tl_bool(m, "timeout");
	w->sigkill = tl_bool(m, "sigkill");
	w->after_ms = (uint64_t)tl_int(m, "after_ms");
	if ((o = tp_map_get(m, "argv")) && (av = tp_obj_array(o, &n))) {
		if (!(argv = calloc(n + 1, sizeof(char *))))
			return -ENOMEM;
		w->argv = (const char *const *)argv;
		for (size_t i = 0; i < n; i++)
			if (tp_obj_str(&av[i], &s, &(size_t){ 0 }) == 0) {
				size_t len = av[i].via.str.size;

				if (!(argv[i] = strndup(len ? s : "", len)))
					return -ENOMEM;
			}
	}
	return 0;
}

/* argv as decoded, each string its own allocation. */
static void tl_worker_clear(struct tether_worker *w)
{
	for (size_t k = 0; w->argv && w->argv[k]; k++)
		free((char *)w->argv[k]);
	free((void *)w->argv);
	w->argv = NULL;
}

static size_t tl_strv_len(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

struct tl_ps {
	struct tether_worker *v;
	size_t n;
	int64_t next;
};

static int tl_got_ps(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_ps *ps = arg;
	size_t n;
	const msgpack_object *v = tp_obj_array(tp_map_get(body, "workers"), &n);
	struct tether_worker *nv;

	ps->next = 0;
	tp_obj_i64(tp_map_get(body, "next"), &ps->next);
	if (!v)
		return tl_fail(t, EPROTO, "malformed PS reply");
	if (!n)
		return 0;
	if (!(nv = realloc(ps->v, (ps->n + n) * sizeof(*nv))))
		return tl_fail(t, ENOMEM, "out of memory");
	ps->v = nv;
	for (size_t i = 0; i < n; i++) {
		if (tl_worker_from_map(&ps->v[ps->n++], &v[i]) < 0)
			return tl_fail(t, ENOMEM, "out of memory");
	}
	return 0;
}

static void tl_workers_clear(struct tether_worker *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		tl_worker_clear(&v[i]);
	free(v);
}

/* The records and their argv as the caller's one block. */
static struct tether_worker *tl_workers_block(const struct tether_worker *v,
					      size_t n)
{
	struct tl_block b = { 0 };
	struct tether_worker *o;

	for (size_t i = 0; i < n; i++)
		tl_block_count(&b, (char *const *)v[i].argv,
			       tl_strv_len(v[i].argv));
	if (!(o = tl_block_alloc(&b, n * sizeof(*o))))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		o[i] = v[i];
		o[i].argv = tl_block_strv(&b, (char *const *)v[i].argv,
					  tl_strv_len(v[i].argv));
	}
	return o;
}

static void tl_pack_from(msgpack_packer *pk, const void *arg)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_int64(pk, *(const int64_t *)arg);
}

TETHER_API int tether_ps(struct tether *t, struct tether_worker **workers,
			 size_t *n)
{
	struct tl_ps ps = { NULL, 0, 0 };
	int64_t from;
	int rc;

	*workers = NULL;
	*n = 0;
	/* Pages, oldest first, until the server says that was the last. */
	do {
		from = ps.next;
		rc = tl_request(t, TETHER_OP_PS, tl_pack_from, &from, tl_got_ps,
				&ps);
	} while (rc == 0 && ps.next > from);
	if (rc == 0 && !(*workers = tl_workers_block(ps.v, ps.n)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	tl_workers_clear(ps.v, ps.n);
	if (rc < 0)
		return rc;
	*n = ps.n;
	return 0;
}

struct tl_target {
	const char *target;
	int64_t arg;
	bool has_arg;
};

static void tl_pack_target_arg(msgpack_packer *pk, const void *arg)
{
	const struct tl_target *a = arg;

	msgpack_pack_array(pk, a->has_arg ? 2 : 1);
	tl_pack_target(pk, a->target);
	if (a->has_arg)
		msgpack_pack_int64(pk, a->arg);
}

static int tl_got_worker(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tether_worker w;
	int rc = tl_worker_from_map(&w, body);

	/* A single record carries no argv: it would be the caller's to
	 * free, and only tether_ps() hands out blocks. */
	tl_worker_clear(&w);
	if (rc < 0)
		return tl_fail(t, ENOMEM, "out of memory");
	if (arg)
		*(struct tether_worker *)arg = w;
	return 0;
}

static int tl_target_op(struct tether *t, unsigned op, const char *target,
			int64_t arg, bool has_arg, struct tether_worker *out)
{
	struct tl_target a = { target, arg, has_arg };

	if (!target || !*target)
		return tl_fail(t, EINVAL, "no worker named");
	return tl_request(t, op, tl_pack_target_arg, &a, tl_got_worker, out);
}

TETHER_API int tether_wait(struct tether *t, const char *target,
			   int64_t timeout_ms, struct tether_worker *out)
{
	return tl_target_op(t, TETHER_OP_WAIT, target, timeout_ms, true, out);
}

TETHER_API int tether_kill(struct tether *t, const char *target, int sig)
{
	return tl_target_op(t, TETHER_OP_KILL, target, sig, true, NULL);
}

TETHER_API int tether_stop(struct tether *t, const char *target,
			   int64_t grace_ms, struct tether_worker *out)
{
	return tl_target_op(t, TETHER_OP_STOP, target, grace_ms, true, out);
}

TETHER_API int tether_ack(struct tether *t, const char *target)
{
	return tl_target_op(t, TETHER_OP_ACK, target, 0, false, NULL);
}

static void tl_pack_force(msgpack_packer *pk, const void *arg)
{
	(void)arg;
	msgpack_pack_array(pk, 1);
	msgpack_pack_true(pk);
}

TETHER_API int tether_shutdown_force(struct tether *t)
{
	int rc = tl_request(t, TETHER_OP_SHUTDOWN, tl_pack_force, NULL, NULL,
			    NULL);

	if (rc == 0 && t->child > 0) {
		waitpid(t->child, NULL, 0);
		t->child = 0;
	}
	return rc;
}

/* LOGS: frames under one id until one says end. */
TETHER_API int tether_logs(struct tether *t, const char *target,
			   uint64_t from, bool follow,
			   int (*cb)(const void *data, size_t len,
				     uint64_t offset, void *arg),
			   void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int rc;

	if (!target || !cb)
		return tl_fail(t, EINVAL, "no worker or callback");
	tp_msg_init(&m);
	tp_msg_request(&m, id, TETHER_OP_LOGS);
	msgpack_pack_array(&m.pk, 3);
	tl_pack_target(&m.pk, target);
	msgpack_pack_uint64(&m.pk, from);
	if (follow)
		msgpack_pack_true(&m.pk);
	else
		msgpack_pack_false(&m.pk);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	while (rc == 0) {
		const void *p;
		size_t n;
		int64_t off = 0;
		bool end = tl_bool(in.body, "end");

		if (tp_obj_bin(tp_map_get(in.body, "data"), &p, &n) < 0 ||
		    tp_obj_i64(tp_map_get(in.body, "offset"), &off) < 0)
			rc = tl_fail(t, EPROTO, "malformed LOGS frame");
		else if (n && cb(p, n, (uint64_t)off, arg))
			rc = 1;
		tp_in_destroy(&in);
		if (rc || end)
			break;
		rc = tl_rpc_more(t, id, &in);
	}
	/* A callback that stopped early leaves the stream running: the
	 * connection is no longer usable for requests. */
	if (rc == 1) {
		shutdown(t->sfd, SHUT_RDWR);
		return 0;
	}
	return rc;
}
