/* SPAWN, PS, WAIT, KILL, STOP, ACK and LOGS from the controller's side. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "libtether.h"

/* A label, or a pid written in decimal. */
/* A pid when it is digits and nothing else -- the labels the server
 * refuses; "+5" or " 5" (which strtol takes) is a label like any. */
struct tp_intstr tl_target(const char *target)
{
	struct tp_intstr v = { .s = tp_str(target) };
	size_t n = strspn(target, "0123456789");
	long pid;

	if (!n || target[n] || n > 10)
		return v;
	pid = strtol(target, NULL, 10);
	if (pid > 0 && pid <= INT32_MAX) {
		v.is_int = true;
		v.i = pid;
	}
	return v;
}

/* A NULL-ended vector as a list of strings. */
static struct tp_list tl_strv(const char *const *v)
{
	struct tp_list l = { .v = v };

	while (v && v[l.n])
		l.n++;
	return l;
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

static int tl_pack_fdpair(struct tp_w *w, const void *ctx, uint32_t i)
{
	const int(*fds)[2] = ctx;
	struct tp_spawn_fd m = { .child = fds[i][0], .server = fds[i][1] };

	return tp_pack_spawn_fd(w, &m);
}

static int tl_pack_rlimit(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct tether_rlimit *r = (const struct tether_rlimit *)ctx + i;
	struct tp_spawn_rlimit m = { .resource = r->resource, .soft = r->soft,
				     .hard = r->hard };

	return tp_pack_spawn_rlimit(w, &m);
}

static int tl_pack_spawn(struct tp_w *w, const void *arg)
{
	const struct tl_spawn *req = arg;
	const struct tether_spawn *sp = req->sp;
	struct tp_spawn m = {
		.has = TP_SPAWN_CLEAR_ENV | TP_SPAWN_CAPTURE |
		       TP_SPAWN_SETSID | TP_SPAWN_PGROUP,
		.argv = tl_strv(sp->argv),
		.clear_env = sp->clear_env,
		.capture = sp->capture,
		.setsid = sp->setsid,
		.pgroup = true,
		.env = tl_strv(sp->env),
		.cwd = tp_str(sp->cwd),
		.label = tp_str(sp->label),
		.log_max = sp->log_max,
		.fds = { .n = (uint32_t)sp->nfds, .each = tl_pack_fdpair,
			 .ctx = sp->fds },
		.user = tp_str(sp->user),
		.cgroup = tp_str(sp->cgroup),
		.rlimits = { .n = (uint32_t)sp->nrlimits,
			     .each = tl_pack_rlimit, .ctx = sp->rlimits },
	};
	size_t len;

	m.has |= (sp->env ? TP_SPAWN_ENV : 0) | (sp->cwd ? TP_SPAWN_CWD : 0) |
		 (sp->label ? TP_SPAWN_LABEL : 0) |
		 (sp->log_max ? TP_SPAWN_LOG_MAX : 0) |
		 (sp->nfds ? TP_SPAWN_FDS : 0) | (sp->user ? TP_SPAWN_USER : 0) |
		 (sp->cgroup ? TP_SPAWN_CGROUP : 0) |
		 (sp->nrlimits ? TP_SPAWN_RLIMITS : 0);
	if (req->policy) {
		m.has |= TP_SPAWN_POLICY | TP_SPAWN_POLICY_NAME;
		m.policy.p = req->policy;
		m.policy.n = req->policy_len;
		/* The server takes a name of up to 255 bytes: a longer path
		 * keeps its end, where the file's name is. */
		len = strlen(sp->policy);
		m.policy_name = tp_str(sp->policy + (len > 255 ? len - 255 : 0));
	}
	return tp_pack_spawn(w, &m);
}

static int tl_got_pid(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tp_spawn_reply m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_spawn_reply(body, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	*(pid_t *)arg = (pid_t)m.pid;
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

void tl_worker_from(struct tether_worker *w, const struct tp_worker *m)
{
	static const char *const states[] = { "running", "stopped", "exited",
					      "killed" };
	size_t n;

	memset(w, 0, sizeof(*w));
	w->pid = (pid_t)m->pid;
	if (m->label.p) {
		n = m->label.n < sizeof(w->label) - 1 ? m->label.n
						      : sizeof(w->label) - 1;
		memcpy(w->label, m->label.p, n);
	}
	for (unsigned i = 0; i < 4; i++)
		if (tp_str_is(m->state, states[i]))
			w->state = (enum tether_wstate)i;
	w->exit_code = (int)m->exit_code;
	w->signal = (int)m->signal;
	w->core = m->core;
	w->started_ms = m->started;
	w->ended_ms = m->ended;
	w->utime_us = (uint64_t)m->rusage.utime_us;
	w->stime_us = (uint64_t)m->rusage.stime_us;
	w->maxrss_kb = (long)m->rusage.maxrss_kb;
	w->captured = m->captured;
	w->log_size = (uint64_t)m->log_size;
	w->timeout = m->timeout;
	w->sigkill = m->sigkill;
	w->after_ms = (uint64_t)m->after_ms;
}

static size_t tl_strv_len(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
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

int tl_pack_ps_from(struct tp_w *w, const void *arg)
{
	struct tp_from m = { .has = TP_FROM_FROM,
			     .ufrom = (uint64_t) * (const int64_t *)arg };

	return tp_pack_ps(w, &m);
}

/* The 1.0 records: tether_ps_ex's, without the spec (one PS walk, one
 * decoder: spec.c). */
TETHER_API int tether_ps(struct tether *t, struct tether_worker **workers,
			 size_t *n)
{
	struct tether_worker_ex *x;
	struct tether_worker *v;
	int rc;

	*workers = NULL;
	*n = 0;
	if ((rc = tether_ps_ex(t, &x, n)) < 0)
		return rc;
	if (!(v = calloc(*n ? *n : 1, sizeof(*v)))) {
		rc = tl_fail(t, ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < *n; i++)
		v[i] = x[i].w;
	if (!(*workers = tl_workers_block(v, *n)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	free(v);
fail:
	tether_free(x);
	if (rc < 0)
		*n = 0;
	return rc;
}

struct tl_target {
	unsigned op;
	const char *target;
	int64_t arg;
	bool has_arg;
	struct tether_worker *out;
};

static int tl_pack_target_arg(struct tp_w *w, const void *arg)
{
	const struct tl_target *a = arg;
	struct tp_target m = {
		.has = TP_TARGET_TARGET | (a->has_arg ? TP_TARGET_ARG : 0),
		.target = tl_target(a->target),
		.arg = a->arg,
	};

	return tp_pack(w, tp_request_desc(a->op), &m);
}

/* WAIT and STOP answer a worker record, KILL and ACK less. */
static int tl_got_worker(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	const struct tl_target *a = arg;
	bool record = a->op == TETHER_OP_WAIT || a->op == TETHER_OP_STOP;
	struct tp_worker m;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack(body, tp_reply_desc(a->op), record ? &m : NULL,
			    &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (!record || !a->out)
		return 0;
	/* A single record carries no argv: it would be the caller's to
	 * free, and only tether_ps() hands out blocks. */
	tl_worker_from(a->out, &m);
	return 0;
}

static int tl_target_op(struct tether *t, unsigned op, const char *target,
			int64_t arg, bool has_arg, struct tether_worker *out)
{
	struct tl_target a = { op, target, arg, has_arg, out };

	if (!target || !*target)
		return tl_fail(t, EINVAL, "no worker named");
	return tl_request(t, op, tl_pack_target_arg, &a, tl_got_worker, &a);
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

static int tl_pack_force(struct tp_w *w, const void *arg)
{
	struct tp_shutdown m = { .has = TP_SHUTDOWN_FORCE, .force = true };

	(void)arg;
	return tp_pack_shutdown(w, &m);
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

struct tl_logs_cb {
	int (*cb)(const void *data, size_t len, uint64_t offset, void *arg);
	void *arg;
	uint64_t offset;
};

static int tl_logs_take(const void *p, size_t n, void *arg)
{
	struct tl_logs_cb *l = arg;

	if (l->cb(p, n, l->offset, l->arg))
		return 1;
	l->offset += n;
	return 0;
}

/* A frame that says the log's fd is on the data socket: the bytes it
 * names, read here, to the callback as if they had come in frames. */
static int tl_logs_fd(struct tether *t, const struct tp_logs_reply *f,
		      int (*cb)(const void *data, size_t len,
				uint64_t offset, void *arg),
		      void *arg)
{
	struct tl_logs_cb l = { cb, arg, f->offset };
	int fd = tl_fdpass_ro(t, tl_recv_fd(t)), rc;

	if (fd < 0)
		return fd;
	rc = tl_fdpass_read(t, fd, f->fdoff, f->fdlen, TL_FDPASS_WINDOW,
			    tl_logs_take, &l);
	close(fd);
	return rc;
}

/* LOGS: frames under one id until one says end. */
static int tl_logs(struct tether *t, const char *target,
		   uint64_t from, bool follow, bool fdpass, bool *refused,
		   int (*cb)(const void *data, size_t len, uint64_t offset,
			     void *arg),
		   void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	struct tp_target req;
	struct tp_logs_reply f;
	struct tp_err e;
	uint64_t id = tl_next_id(t);
	int rc;

	req = (struct tp_target){ .has = TP_TARGET_TARGET | TP_TARGET_ARG |
					 (fdpass ? TP_TARGET_FDPASS : 0),
				  .target = tl_target(target),
				  .arg = (int64_t)from, .follow = follow,
				  .fdpass = fdpass };
	tp_msg_init(&m);
	tp_msg_request(&m, id, TETHER_OP_LOGS);
	tp_pack_logs(&m.w, &req);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	*refused = rc < 0;
	while (rc == 0) {
		bool end = false;

		if ((rc = tp_unpack_logs_reply(in.body, &f, &e)) < 0) {
			rc = tl_fail(t, -rc, "%s", e.msg);
		} else if (f.has & (TP_LOGS_FD | TP_LOGS_FDOFF)) {
			/* Only asked for: an fd we did not ask for would
			 * not be on the data socket. */
			rc = fdpass ? tl_logs_fd(t, &f, cb, arg)
				    : tl_fail(t, EPROTO, "LOGS: an fd frame "
					      "unasked for");
		} else {
			end = f.end;
			if (f.data.n && cb(f.data.p, f.data.n, f.offset, arg))
				rc = 1;
		}
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

/* LOGS: frames under one id until one says end.  On this host the log's
 * fds may come instead of its bytes; a server that does not know the
 * fdpass element refuses (EPROTO), and this connection streams. */
TETHER_API int tether_logs(struct tether *t, const char *target,
			   uint64_t from, bool follow,
			   int (*cb)(const void *data, size_t len,
				     uint64_t offset, void *arg),
			   void *arg)
{
	bool fdpass = tl_fdpass_ok(t), refused = false;
	int rc;

	if (!target || !cb)
		return tl_fail(t, EINVAL, "no worker or callback");
	rc = tl_logs(t, target, from, follow, fdpass, &refused, cb, arg);
	if (rc == -EPROTO && refused && fdpass) {
		t->fdpass_refused = true;
		rc = tl_logs(t, target, from, follow, false, &refused, cb,
			     arg);
	}
	return rc;
}
