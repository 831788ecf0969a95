/*
 * The spawn spec the server keeps for each worker, from the controller's
 * side: tether_ps_ex() (PS records with their spec) and
 * tether_respawn().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

/* Strings of a record, in this order in tl_wx.s. */
enum { TL_S_PATH, TL_S_CWD, TL_S_USER, TL_S_CGROUP, TL_S_POLICY,
       TL_S_XXH3, TL_S_LOG, TL_NS };

/* One record as decoded, each part its own allocation, until the block. */
struct tl_wx {
	struct tether_worker_ex x;
	char **argv, **env, **fdlabels;
	size_t argc, envc;
	char *s[TL_NS];
	gid_t *groups;
	struct tether_worker_fd *fds;
	struct tether_rlimit *rlimits;
};

static void tl_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void tl_wx_clear(struct tl_wx *d)
{
	tl_strv_free(d->argv, d->argc);
	tl_strv_free(d->env, d->envc);
	tl_strv_free(d->fdlabels, d->x.nfds);
	for (int i = 0; i < TL_NS; i++)
		free(d->s[i]);
	free(d->groups);
	free(d->fds);
	free(d->rlimits);
}

/* A str or nil as a C string (NULL for nil): -ENOMEM. */
static int tl_cstr(struct tp_str s, char **out)
{
	*out = NULL;
	if (!s.p)
		return 0;
	return (*out = strndup(s.p, s.n)) ? 0 : -ENOMEM;
}

/* A list of strings as a NULL-ended vector (PS checked their type). */
static int tl_strv(const struct tp_list *l, char ***out, size_t *n)
{
	struct tp_str s;

	*n = 0;
	if (!(*out = calloc(l->n + 1, sizeof(char *))))
		return -ENOMEM;
	for (uint32_t i = 0; i < l->n; i++) {
		if (tp_obj_str(&l->o[i], &s.p, &s.n) < 0)
			return -EPROTO;
		if (!((*out)[i] = strndup(s.p, s.n)))
			return -ENOMEM;
		*n = i + 1;
	}
	return 0;
}

static int tl_wx_fds(struct tl_wx *d, const struct tp_list *l)
{
	struct tp_worker_fd f;

	d->fds = calloc(l->n + 1, sizeof(*d->fds));
	d->fdlabels = calloc(l->n + 1, sizeof(char *));
	if (!d->fds || !d->fdlabels)
		return -ENOMEM;
	for (uint32_t i = 0; i < l->n; i++) {
		if (tp_unpack_worker_fd(&l->o[i], &f, NULL) < 0)
			return -EPROTO;
		d->fds[i].child_fd = (int)f.child;
		d->fds[i].server_fd = (int)f.server;
		d->x.nfds = i + 1;
		if (tl_cstr(f.label, &d->fdlabels[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int tl_wx_lists(struct tl_wx *d, const struct tp_worker_spec *s)
{
	struct tp_spawn_rlimit r;
	int64_t g;

	d->groups = calloc(s->groups.n + 1, sizeof(gid_t));
	d->rlimits = calloc(s->rlimits.n + 1, sizeof(*d->rlimits));
	if (!d->groups || !d->rlimits)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->groups.n; i++) {
		if (tp_obj_i64(&s->groups.o[i], &g) < 0)
			return -EPROTO;
		d->groups[d->x.ngroups++] = (gid_t)g;
	}
	for (uint32_t i = 0; i < s->rlimits.n; i++) {
		if (tp_unpack_spawn_rlimit(&s->rlimits.o[i], &r, NULL) < 0)
			return -EPROTO;
		d->rlimits[i] = (struct tether_rlimit){ (int)r.resource,
							r.soft, r.hard };
		d->x.nrlimits = i + 1;
	}
	return tl_wx_fds(d, &s->fds);
}

/* The spec of a record m, into d. */
static int tl_wx_spec(struct tl_wx *d, const struct tp_worker_spec *s)
{
	const struct tp_str strs[TL_NS] = {
		s->path, s->cwd, s->user, s->cgroup, s->policy_name,
		s->policy_xxh3, s->log,
	};
	int rc;

	d->x.has_spec = true;
	d->x.env_truncated = s->env_truncated;
	d->x.uid = (uid_t)s->uid;
	d->x.gid = (gid_t)s->gid;
	d->x.setsid = s->setsid;
	d->x.pgroup = s->pgroup;
	d->x.capture = s->capture;
	d->x.log_max = s->log_max;
	for (int i = 0; i < TL_NS; i++)
		if (tl_cstr(strs[i], &d->s[i]) < 0)
			return -ENOMEM;
	if ((rc = tl_strv(&s->env, &d->env, &d->envc)) < 0)
		return rc;
	return tl_wx_lists(d, s);
}

static int tl_wx_from(struct tl_wx *d, const struct tp_worker *m)
{
	int rc;

	memset(d, 0, sizeof(*d));
	tl_worker_from(&d->x.w, m);
	d->x.argv_truncated = m->argv_truncated;
	/* Stopping is the live worker's state; the deadline and signal are
	 * there as long as the stop runs (a leader may end before its
	 * group). */
	d->x.stopping = tp_str_is(m->state, "stopping");
	if (m->has & TP_WORKER_STOP)
		d->x.stop_deadline_ms = m->stop_deadline_ms;
	if (m->has & TP_WORKER_STOP_SIGNAL)
		d->x.stop_signal = (int)m->stop_signal;
	if ((rc = tl_strv(&m->argv, &d->argv, &d->argc)) < 0)
		return rc;
	return m->has & TP_WORKER_SPEC ? tl_wx_spec(d, &m->spec) : 0;
}

struct tl_psx {
	struct tl_wx *v;
	size_t n;
	int64_t next;
};

static int tl_got_psx(struct tether *t, const msgpack_object *body,
		      void *arg)
{
	struct tl_psx *ps = arg;
	struct tp_ps_reply r;
	struct tp_worker m;
	struct tp_err e;
	struct tl_wx *nv;
	int rc;

	ps->next = 0;
	if ((rc = tp_unpack_ps_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	ps->next = r.next;
	if (!r.workers.n)
		return 0;
	if (!(nv = realloc(ps->v, (ps->n + r.workers.n) * sizeof(*nv))))
		return tl_fail(t, ENOMEM, "out of memory");
	ps->v = nv;
	for (uint32_t i = 0; i < r.workers.n; i++) {
		if ((rc = tp_unpack_worker(&r.workers.o[i], &m, &e)) < 0)
			return tl_fail(t, -rc, "%s", e.msg);
		rc = tl_wx_from(&ps->v[ps->n++], &m);
		if (rc < 0)
			return tl_fail(t, -rc, "PS reply: %s",
				       rc == -ENOMEM ? "out of memory"
						     : "a malformed spec");
	}
	return 0;
}

#define TL_ALIGN(n) (((n) + 7) & ~(size_t)7)

/* Bytes of the arrays that follow the records in the block. */
static size_t tl_wx_arrays(const struct tl_wx *d)
{
	return TL_ALIGN(d->x.ngroups * sizeof(gid_t)) +
	       TL_ALIGN(d->x.nfds * sizeof(struct tether_worker_fd)) +
	       TL_ALIGN(d->x.nrlimits * sizeof(struct tether_rlimit));
}

/* d into o, its arrays at *at and its strings in b. */
static void tl_wx_place(struct tether_worker_ex *o, const struct tl_wx *d,
			struct tl_block *b, char **at)
{
	struct tether_worker_fd *fds;

	*o = d->x;
	o->w.argv = tl_block_strv(b, d->argv, d->argc);
	o->env = d->env ? tl_block_strv(b, d->env, d->envc) : NULL;
	o->path = tl_block_str(b, d->s[TL_S_PATH]);
	o->cwd = tl_block_str(b, d->s[TL_S_CWD]);
	o->user = tl_block_str(b, d->s[TL_S_USER]);
	o->cgroup = tl_block_str(b, d->s[TL_S_CGROUP]);
	o->policy_name = tl_block_str(b, d->s[TL_S_POLICY]);
	o->policy_xxh3 = tl_block_str(b, d->s[TL_S_XXH3]);
	o->log = tl_block_str(b, d->s[TL_S_LOG]);
	o->groups = memcpy(*at, d->groups ? d->groups : (gid_t *)*at,
			   d->x.ngroups * sizeof(gid_t));
	*at += TL_ALIGN(d->x.ngroups * sizeof(gid_t));
	o->fds = fds = (struct tether_worker_fd *)*at;
	for (size_t k = 0; k < d->x.nfds; k++) {
		fds[k] = d->fds[k];
		fds[k].label = tl_block_str(b, d->fdlabels[k]);
	}
	*at += TL_ALIGN(d->x.nfds * sizeof(*fds));
	o->rlimits = memcpy(*at, d->rlimits ? d->rlimits
					    : (struct tether_rlimit *)*at,
			    d->x.nrlimits * sizeof(struct tether_rlimit));
	*at += TL_ALIGN(d->x.nrlimits * sizeof(struct tether_rlimit));
}

/* The records, their arrays and strings as the caller's one block. */
static struct tether_worker_ex *tl_psx_block(const struct tl_wx *v,
					     size_t n)
{
	struct tl_block b = { 0 };
	size_t records = TL_ALIGN(n * sizeof(struct tether_worker_ex)), extra = 0;
	struct tether_worker_ex *o;
	char *at;

	for (size_t i = 0; i < n; i++) {
		tl_block_count(&b, v[i].argv, v[i].argc);
		if (v[i].env)
			tl_block_count(&b, v[i].env, v[i].envc);
		for (int k = 0; k < TL_NS; k++)
			tl_block_count_str(&b, v[i].s[k]);
		for (size_t k = 0; k < v[i].x.nfds; k++)
			tl_block_count_str(&b, v[i].fdlabels[k]);
		extra += tl_wx_arrays(&v[i]);
	}
	if (!(o = tl_block_alloc(&b, records + extra)))
		return NULL;
	at = (char *)o + records;
	for (size_t i = 0; i < n; i++)
		tl_wx_place(&o[i], &v[i], &b, &at);
	return o;
}

TETHER_API int tether_ps_ex(struct tether *t,
			    struct tether_worker_ex **workers, size_t *n)
{
	struct tl_psx ps = { NULL, 0, 0 };
	int64_t from;
	int rc;

	if (!workers || !n)
		return tl_fail(t, EINVAL, "nowhere to put the records");
	*workers = NULL;
	*n = 0;
	/* Pages, oldest first, until the server says that was the last. */
	do {
		from = ps.next;
		rc = tl_request(t, TETHER_OP_PS, tl_pack_ps_from, &from,
				tl_got_psx, &ps);
	} while (rc == 0 && ps.next > from);
	if (rc == 0 && !(*workers = tl_psx_block(ps.v, ps.n)))
		rc = tl_fail(t, ENOMEM, "out of memory");
	for (size_t i = 0; i < ps.n; i++)
		tl_wx_clear(&ps.v[i]);
	free(ps.v);
	if (rc < 0)
		return rc;
	*n = ps.n;
	return 0;
}

/* ---- RESPAWN ---------------------------------------------------------- */

static int tl_pack_respawn(struct tp_w *w, const void *arg)
{
	struct tp_target m = { .has = TP_TARGET_TARGET,
			       .target = tl_target(arg) };

	return tp_pack_respawn(w, &m);
}

static int tl_got_respawn(struct tether *t, const msgpack_object *body,
			  void *arg)
{
	struct tether_respawned *r = arg;
	struct tp_respawn_reply m;
	struct tp_err e;
	size_t n;
	int rc;

	if ((rc = tp_unpack_respawn_reply(body, &m, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	memset(r, 0, sizeof(*r));
	r->pid = (pid_t)m.pid;
	r->respawned_from = (pid_t)m.respawned_from;
	n = m.label.n < sizeof(r->label) - 1 ? m.label.n : sizeof(r->label) - 1;
	if (m.label.p)
		memcpy(r->label, m.label.p, n);
	return 0;
}

TETHER_API int tether_respawn(struct tether *t, const char *target,
			      struct tether_respawned *out)
{
	struct tether_respawned r;
	int rc;

	if (!target || !*target)
		return tl_fail(t, EINVAL, "no worker named");
	if (out && out->struct_size < sizeof(size_t))
		return tl_fail(t, EINVAL, "struct_size unset");
	rc = tl_request(t, TETHER_OP_RESPAWN, tl_pack_respawn, target,
			tl_got_respawn, &r);
	if (rc < 0 || !out)
		return rc;
	/* As much as the caller's struct holds, its size field kept. */
	r.struct_size = out->struct_size;
	memcpy(out, &r, out->struct_size < sizeof(r) ? out->struct_size
						     : sizeof(r));
	return 0;
}
