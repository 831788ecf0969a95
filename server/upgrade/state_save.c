/*
 * The server's state for the binary that replaces it, written to a memfd
 * after the drain (no connection, no job but parked results): a header
 * (struct td_state_hdr) and one tp_state message (proto/state.h), packed
 * by the codec like anything on the wire.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "exec/async.h"
#include "exec/call.h"
#include "state.h"
#include "tetherd.h"
#include "upgrade/upgrade.h"
#include "workers/worker.h"
#include "workers/workers.h"

static int td_pk_int(struct tp_w *w, const void *ctx, uint32_t i)
{
	return tp_w_i64(w, ((const int *)ctx)[i]);
}

static int td_pk_u32(struct tp_w *w, const void *ctx, uint32_t i)
{
	return tp_w_i64(w, ((const uint32_t *)ctx)[i]);
}

/* child, server for each entry of the fd map */
static int td_pk_fdmap(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_fdmap *m = &((const struct td_fdmap *)ctx)[i / 2];

	return tp_w_i64(w, i % 2 ? m->server : m->child);
}

/* resource, soft, hard for each rlimit */
static int td_pk_rlimit(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_spawn *sp = ctx;
	unsigned k = i / 3;

	switch (i % 3) {
	case 0:
		return tp_w_u64(w, (uint64_t)sp->rlimits[k].res);
	case 1:
		return tp_w_u64(w, sp->rlimits[k].rl.rlim_cur);
	default:
		return tp_w_u64(w, sp->rlimits[k].rl.rlim_max);
	}
}

static struct tp_list td_ints(const int *v, unsigned n)
{
	return (struct tp_list){ .n = n, .each = td_pk_int, .ctx = v };
}

static struct tp_list td_ids(const uint32_t *v, size_t n)
{
	return (struct tp_list){ .n = (uint32_t)n, .each = td_pk_u32,
				 .ctx = v };
}

static void td_st_spec(const struct td_spawn *sp, struct tp_st_spec *m)
{
	*m = (struct tp_st_spec){
		.argv = { .n = (uint32_t)sp->argc, .v = sp->argv },
		.envp = { .n = (uint32_t)sp->envc, .v = sp->envp },
		.env_user_set = sp->env_user_set,
		.user = tp_str(sp->user), .path = tp_str(sp->path),
		.cwd = tp_str(sp->cwd), .cgroup = tp_str(sp->cgroup),
		.policy_name = tp_str(sp->policy_name),
		.opt_uid = sp->opt_uid, .opt_gid = sp->opt_gid,
		.label = tp_str(sp->label), .home = tp_str(sp->home),
		.uname = tp_str(sp->uname),
		.policy_xxh3 = tp_str(sp->policy_xxh3),
		.fds = { .n = sp->nfds * 2, .each = td_pk_fdmap,
			 .ctx = sp->fds },
		.rlimits = { .n = sp->nrlimits * 3, .each = td_pk_rlimit,
			     .ctx = sp },
		.setsid = sp->setsid, .pgroup = sp->pgroup,
		.capture = sp->capture, .have_user = sp->have_user,
		.resolved = sp->resolved, .uid = sp->uid, .gid = sp->gid,
		.groups = td_ids(sp->groups, sp->ngroups > 0
						     ? (size_t)sp->ngroups : 0),
		.log_max = sp->log_max, .nofile_cur = sp->nofile.rlim_cur,
		.nofile_max = sp->nofile.rlim_max,
	};
	if (sp->filter) {
		m->has |= TP_ST_SPEC_FILTER;
		m->filter = (struct tp_bin){
			sp->filter, sp->nfilter * sizeof(*sp->filter) };
	}
}

/* Worker i of the list, oldest first (the list is newest first). */
static int td_pk_worker(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_server *srv = ctx;
	const struct td_worker *wk = srv->workers.list;
	struct td_capture_state cs;
	struct tp_st_worker m;

	for (uint32_t k = i + 1; k < srv->workers.nworkers && wk; k++)
		wk = wk->next;
	if (!wk)
		return tp_w_fail(w, -EINVAL);
	m = (struct tp_st_worker){
		.pid = wk->pid, .pgid = wk->pgid, .pidfd = wk->pidfd,
		.label = tp_str(wk->label), .state = wk->state,
		.exit_code = wk->exit_code, .signal = wk->signal,
		.core = wk->core, .started_ms = wk->started_ms,
		.ended_ms = wk->ended_ms, .started_mono = wk->started_mono,
		.ru = { &wk->ru, sizeof(wk->ru) },
	};
	if (wk->spec) {
		m.has |= TP_ST_WORKER_SPEC;
		td_st_spec(wk->spec, &m.spec);
	}
	if (wk->cap) {
		td_capture_export(wk->cap, &cs);
		m.has |= TP_ST_WORKER_CAPTURE;
		m.capture = (struct tp_st_capture){
			.pipe_fd = cs.pipe_fd, .log_fd = cs.log_fd,
			.path = tp_str(cs.path), .old_base = cs.old_base,
			.base = cs.base, .size = cs.size,
			.log_max = cs.log_max, .lost = cs.lost,
			.have_old = cs.have_old, .dev = cs.dev, .ino = cs.ino,
			.old_dev = cs.old_dev, .old_ino = cs.old_ino,
		};
	}
	return tp_pack(w, &tp_st_worker_desc, &m);
}

static int td_pk_label(void *ctx, int fd, dev_t dev, ino_t ino, mode_t type,
		       const char *name)
{
	struct tp_st_label m = { .fd = fd, .dev = dev, .ino = ino,
				 .type = type, .name = tp_str(name) };

	return tp_pack(ctx, &tp_st_label_desc, &m) < 0;
}

static int td_pk_labels(struct tp_w *w, const void *ctx, uint32_t i)
{
	/* one call packs them all, newest first (as the list is) */
	if (i == 0)
		td_labels_each((struct td_server *)ctx, td_pk_label, w);
	return w->err;
}

/* Parked result i, oldest first. */
static int td_pk_parked(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_server *srv = ctx;
	const struct td_job *j = NULL;
	const struct td_calljob *cj;
	struct tp_st_parked m;
	uint32_t k = srv->exec.nparked - 1 - i;

	for (j = srv->deferred.jobs; j; j = j->next)
		if (td_calljob_is_parked(j) && k-- == 0)
			break;
	if (!j)
		return tp_w_fail(w, -EINVAL);
	cj = (const struct td_calljob *)j;
	m = (struct tp_st_parked){
		.id = j->id, .generation = j->generation, .since = j->since_ms,
		.ret = cj->ret,
		.nr = cj->call && !cj->is_batch ? cj->call->nr : -1,
		.is_batch = cj->is_batch, .data_lost = cj->data_lost,
		.record = { cj->body.data, cj->body.size },
	};
	return tp_pack(w, &tp_st_parked_desc, &m);
}

/* Fds that are not the server's own and have FD_CLOEXEC. */
static int td_cloexec_fds(int **out, unsigned *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned cap = 0;
	int *v = NULL, dfd;

	*n = 0;
	*out = NULL;
	if (!d)
		return -errno;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		int fl;

		if (*end || end == de->d_name || fd == dfd || td_ifd_is((int)fd))
			continue;
		if ((fl = fcntl((int)fd, F_GETFD)) < 0 || !(fl & FD_CLOEXEC))
			continue;
		if (*n == cap) {
			int *nv = realloc(v, (cap ? cap * 2 : 256) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 256;
		}
		v[(*n)++] = (int)fd;
	}
	closedir(d);
	*out = v;
	return 0;
}

static int td_keep(struct td_state_out *o, int fd)
{
	if (fd < 0)
		return 0;
	if (o->nkeep == o->capkeep) {
		unsigned cap = o->capkeep ? o->capkeep * 2 : 64;
		int *v = realloc(o->keep, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->keep = v;
		o->capkeep = cap;
	}
	o->keep[o->nkeep++] = fd;
	return 0;
}

void td_state_out_free(struct td_state_out *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->keep);
	free(o->cloexec);
	o->keep = o->cloexec = NULL;
	o->nkeep = o->capkeep = o->ncloexec = 0;
}

static int td_pack_state(struct td_server *srv, const struct td_state_out *o,
			 msgpack_sbuffer *sb)
{
	const struct td_upgrade *u = &srv->upgrade;
	msgpack_packer pk;
	struct tp_w w;
	struct tp_state m;

	m = (struct tp_state){
		.version = TD_STATE_VERSION,
		.writer = tp_str(td_server_version()),
		.socket = tp_str(srv->socket_path),
		.lock_path = tp_str(srv->listen.lock_path),
		.state_dir = tp_str(srv->workers.state_dir),
		.binary = tp_str(u->new_binary),
		.log = tp_str(srv->log_path),
		.syslog = tp_str(u->syslog_addr),
		.fdstore = srv->notify.fdstore,
		.notify_fd = srv->notify.fd,
		.notify_addr = tp_str(srv->notify.addr),
		.listen_fd = srv->listen.listen_fd,
		.lock_fd = srv->listen.lock_fd,
		.socket_ino = srv->listen.socket_ino,
		.helpers = u->helpers,
		.allow_uids = td_ids(srv->listen.allow_uids,
				     srv->listen.nallow_uids),
		.allow_gids = td_ids(srv->listen.allow_gids,
				     srv->listen.nallow_gids),
		.ro_uids = td_ids(srv->listen.ro_uids, srv->listen.nro_uids),
		.persistent = srv->persistent,
		.started_sec = srv->started.tv_sec,
		.started_nsec = srv->started.tv_nsec,
		.generation = srv->conns.generation,
		.job_seq = srv->deferred.job_seq,
		.upgrades = u->count + 1,
		.orphans_reaped = srv->workers.orphans_reaped,
		.parked_lost = srv->exec.parked_lost,
		.nofile_cur = srv->workers.nofile_orig.rlim_cur,
		.nofile_max = srv->workers.nofile_orig.rlim_max,
		.cloexec = td_ints(o->cloexec, o->ncloexec),
		/* one callback packs every label: n of them, packed at i 0 */
		.labels = { .n = srv->fds.nlabels, .each = td_pk_labels,
			    .ctx = srv },
		.workers = { .n = srv->workers.nworkers, .each = td_pk_worker,
			     .ctx = srv },
		.parked = { .n = srv->exec.nparked, .each = td_pk_parked,
			    .ctx = srv },
		.held = td_ints(srv->listen.held, srv->listen.nheld),
	};
	if (srv->listen.nheld)
		m.has |= TP_STATE_HELD;
	m.upgrade_failures = u->failures;
	m.has |= TP_STATE_UPGRADE_FAILURES;
	tp_w_buffer(&w, &pk, sb);
	return tp_pack(&w, &tp_state_desc, &m);
}

static int td_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t k = write(fd, c, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

int td_state_save(struct td_server *srv, struct td_state_out *o)
{
	struct td_state_hdr hdr = { .version = TD_STATE_VERSION };
	msgpack_sbuffer sb;
	int fd, rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if ((rc = td_cloexec_fds(&o->cloexec, &o->ncloexec)) < 0)
		return rc;
	msgpack_sbuffer_init(&sb);
	if ((rc = td_pack_state(srv, o, &sb)) < 0)
		goto fail;
	if ((fd = memfd_create("tetherd-state", MFD_CLOEXEC)) < 0) {
		rc = -errno;
		goto fail;
	}
	memcpy(hdr.magic, TD_STATE_MAGIC, sizeof(TD_STATE_MAGIC));
	hdr.fallback_fd = srv->upgrade.exe_fd;
	hdr.len = sb.size;
	o->fd = fd;
	if ((rc = td_write_all(fd, &hdr, sizeof(hdr))) < 0 ||
	    (rc = td_write_all(fd, sb.data, sb.size)) < 0)
		goto fail;
	msgpack_sbuffer_destroy(&sb);
	/* What the new binary needs, besides the fds in "cloexec": */
	rc = td_keep(o, fd);
	rc = rc ? rc : td_keep(o, srv->listen.listen_fd);
	rc = rc ? rc : td_keep(o, srv->listen.lock_fd);
	rc = rc ? rc : td_keep(o, srv->upgrade.exe_fd);
	rc = rc ? rc : td_keep(o, srv->notify.fd);
	for (unsigned i = 0; i < srv->listen.nheld && !rc; i++)
		rc = td_keep(o, srv->listen.held[i]);
	for (const struct td_worker *w = srv->workers.list; w && !rc;
	     w = w->next) {
		struct td_capture_state s;

		rc = td_keep(o, w->pidfd);
		if (w->cap && !rc) {
			td_capture_export(w->cap, &s);
			rc = td_keep(o, s.pipe_fd);
			rc = rc ? rc : td_keep(o, s.log_fd);
		}
	}
	if (rc < 0)
		td_state_out_free(o);
	return rc;
fail:
	msgpack_sbuffer_destroy(&sb);
	td_state_out_free(o);
	return rc;
}
