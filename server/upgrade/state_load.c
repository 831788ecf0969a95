/*
 * --resume-fd: the server the previous binary left in state_save.c's
 * memfd, rebuilt.  Read defensively all the same (it is our own file,
 * but a bug in either binary must fail the resume, not corrupt memory):
 * every field is type-checked, every count bounded, every fd checked
 * open.  A state whose version this binary does not know goes back to
 * the binary that wrote it, by the fd its header names.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exec/async.h"
#include "exec/call.h"
#include "server.h"
#include "state.h"
#include "tetherd.h"
#include "upgrade/upgrade.h"
#include "upgrade/state_in.h"
#include "workers/worker.h"
#include "workers/workers.h"

extern char **environ;

static int td_bad(struct td_state_in *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "state: %s out of range", what);
	return -EINVAL;
}

/* s (checked by the codec) as a new C string: no NUL inside; a nil str
 * as NULL. */
static int td_dup(struct td_state_in *st, struct tp_str s, const char *what,
		  char **out)
{
	*out = NULL;
	if (!s.p)
		return 0;
	if (memchr(s.p, '\0', s.n))
		return td_bad(st, what);
	return (*out = strndup(s.p, s.n)) ? 0 : -ENOMEM;
}

/* s into a fixed buffer. */
static int td_copy(struct td_state_in *st, struct tp_str s, const char *what,
		   char *buf, size_t size)
{
	if (!s.p || s.n >= size || memchr(s.p, '\0', s.n))
		return td_bad(st, what);
	memcpy(buf, s.p, s.n);
	buf[s.n] = '\0';
	return 0;
}

/* Element i of a list of integers the codec checked, within [lo, hi]. */
static bool td_elem(const struct tp_list *l, uint32_t i, int64_t lo,
		    int64_t hi, int64_t *v)
{
	return tp_obj_i64(&l->o[i], v) == 0 && *v >= lo && *v <= hi;
}

static int td_ids(struct td_state_in *st, const struct tp_list *l,
		  const char *what, uint32_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!l->n)
		return 0;
	if (l->n > 65536)
		return td_bad(st, what);
	if (!(*out = calloc(l->n, sizeof(**out))))
		return -ENOMEM;
	for (uint32_t i = 0; i < l->n; i++) {
		int64_t v;

		if (!td_elem(l, i, 0, UINT32_MAX - 1, &v))
			return td_bad(st, what);
		(*out)[i] = (uint32_t)v;
	}
	*n = l->n;
	return 0;
}

/* ---- reading the file ------------------------------------------------- */

static int td_pread_all(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n) {
		ssize_t r = pread(fd, p, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* The highest version this binary reads.  The unchecked test build can
 * be told to know none, to show the fall-back. */
static uint32_t td_state_known(void)
{
#ifdef TD_TEST_UNCHECKED
	const char *v = getenv("TETHERD_TEST_STATE_MAX");

	if (v && *v)
		return (uint32_t)strtoul(v, NULL, 10);
#endif
	return TD_STATE_VERSION;
}

/* Back to the binary that wrote the state, which can read it: nothing
 * of it has been touched yet (fd flags are set only once all is read).
 * Returns only if that exec failed. */
void td_state_fall_back(struct td_state_in *st, const char *why)
{
	static char name[] = "tetherd", opt[] = "--resume-fd",
		    fb[] = "--resume-fallback";
	char fdarg[16], reason[200];
	char *argv[] = { name, opt, fdarg, fb, reason, NULL };

	snprintf(fdarg, sizeof(fdarg), "%d", st->fd);
	snprintf(reason, sizeof(reason), "%s %s", td_server_version(), why);
	td_log("cannot resume (%s): going back to the binary that wrote the "
	       "state", why);
	td_log_sync();
	syscall(SYS_execveat, st->fallback_fd, "", argv, environ,
		AT_EMPTY_PATH);
	td_log("the old binary (fd %d) could not be executed either: %s",
	       st->fallback_fd, strerror(errno));
}

int td_state_read(int fd, struct td_state_in *st)
{
	struct td_state_hdr hdr;
	struct tp_err e;
	int rc;

	memset(st, 0, sizeof(*st));
	msgpack_unpacked_init(&st->up);
	st->fd = fd;
	st->fallback_fd = -1;
	if ((rc = td_pread_all(fd, &hdr, sizeof(hdr), 0)) < 0 ||
	    memcmp(hdr.magic, TD_STATE_MAGIC, sizeof(TD_STATE_MAGIC))) {
		snprintf(st->err, sizeof(st->err), "fd %d is not a tetherd "
			 "state", fd);
		return -EINVAL;
	}
	st->fallback_fd = hdr.fallback_fd;
	if (hdr.version > td_state_known() || !hdr.version) {
		snprintf(st->err, sizeof(st->err), "state version %u unknown "
			 "(this binary reads up to %u)", (unsigned)hdr.version,
			 td_state_known());
		return -EPROTO;
	}
	if (hdr.len > TD_STATE_MAX || !(st->buf = malloc(hdr.len ? hdr.len
								  : 1))) {
		snprintf(st->err, sizeof(st->err), "state of %llu bytes",
			 (unsigned long long)hdr.len);
		return -EFBIG;
	}
	if ((rc = td_pread_all(fd, st->buf, hdr.len, sizeof(hdr))) < 0) {
		snprintf(st->err, sizeof(st->err), "reading the state: %s",
			 strerror(-rc));
		return rc;
	}
	if (msgpack_unpack_next(&st->up, st->buf, hdr.len, NULL) !=
	    MSGPACK_UNPACK_SUCCESS) {
		snprintf(st->err, sizeof(st->err), "the state is not msgpack");
		return -EINVAL;
	}
	if ((rc = tp_unpack(&st->up.data, &tp_state_desc, &st->s, &e)) < 0) {
		snprintf(st->err, sizeof(st->err), "%s", e.msg);
		return rc;
	}
	return 0;
}

void td_state_in_free(struct td_state_in *st)
{
	msgpack_unpacked_destroy(&st->up);
	free(st->buf);
	st->buf = NULL;
}

/* ---- configuration: before the log, the ring and the helpers ---------- */

/* An fd the state names, which must be open, made the server's own. */
static int td_state_fd(struct td_state_in *st, int64_t fd, const char *role,
		       int *out)
{
	*out = -1;
	if (fd < -1 || fd > INT32_MAX)
		return td_bad(st, role);
	if (fd < 0)
		return 0;
	if (td_ifd_keep((int)fd, role) < 0) {
		snprintf(st->err, sizeof(st->err), "state: %s (fd %d) is not "
			 "open", role, (int)fd);
		return -EBADF;
	}
	*out = (int)fd;
	return 0;
}

/* The connections the old binary held through its drain: their HELLOs
 * are read once the loop runs.  One that is not open is a peer lost, not
 * a reason to give the upgrade up. */
static void td_state_held(struct td_server *srv, const struct tp_list *l)
{
	struct td_listen *ls = &srv->listen;

	for (uint32_t i = 0; i < l->n && ls->nheld < TD_HELD_MAX; i++) {
		int64_t fd;

		if (td_elem(l, i, 0, INT32_MAX, &fd) &&
		    td_ifd_keep((int)fd, "handshake") >= 0)
			ls->held[ls->nheld++] = (int)fd;
	}
}

int td_state_config(struct td_server *srv, struct td_state_in *st,
		    struct td_config *cfg)
{
	const struct tp_state *s = &st->s;
	int rc, lfd, kfd;

	if ((rc = td_dup(st, s->socket, "socket", &st->socket)) < 0 ||
	    (rc = td_dup(st, s->log, "log", &st->log)) < 0 ||
	    (rc = td_dup(st, s->state_dir, "state_dir", &st->state_dir)) < 0 ||
	    (rc = td_copy(st, s->lock_path, "lock_path", srv->listen.lock_path,
			  sizeof(srv->listen.lock_path))) < 0 ||
	    (rc = td_copy(st, s->binary, "binary", st->binary,
			  sizeof(st->binary))) < 0)
		return rc;
	if (!st->socket || !st->state_dir)
		return td_bad(st, "socket");
	if (s->helpers < 1 || s->helpers > 1024 || s->upgrades > UINT32_MAX ||
	    s->upgrade_failures > UINT32_MAX ||
	    s->started_nsec < 0 || s->started_nsec >= 1000000000)
		return td_bad(st, "counters");
	if ((rc = td_dup(st, s->syslog, "syslog", &st->syslog)) < 0 ||
	    (rc = td_copy(st, s->notify_addr, "notify_addr", st->notify_addr,
			  sizeof(st->notify_addr))) < 0 ||
	    (rc = td_state_fd(st, s->notify_fd, "notify", &st->notify_fd)) < 0)
		return rc;
	cfg->socket_path = st->socket;
	cfg->log_path = st->log;
	cfg->syslog_addr = st->syslog;
	cfg->fdstore = s->fdstore;
	cfg->state_dir = st->state_dir;
	cfg->helpers = (unsigned)s->helpers;
	if ((rc = td_ids(st, &s->allow_uids, "allow_uids",
			 &srv->listen.allow_uids,
			 &srv->listen.nallow_uids)) < 0 ||
	    (rc = td_ids(st, &s->allow_gids, "allow_gids",
			 &srv->listen.allow_gids,
			 &srv->listen.nallow_gids)) < 0 ||
	    (rc = td_ids(st, &s->ro_uids, "ro_uids", &srv->listen.ro_uids,
			 &srv->listen.nro_uids)) < 0)
		return rc;
	srv->persistent = s->persistent;
	srv->started.tv_sec = s->started_sec;
	srv->started.tv_nsec = s->started_nsec;
	srv->conns.generation = s->generation;
	srv->deferred.job_seq = s->job_seq;
	st->upgrades = (unsigned)s->upgrades;
	/* 0 when the old binary did not count them */
	st->upgrade_failures = (unsigned)s->upgrade_failures;
	srv->workers.orphans_reaped = s->orphans_reaped;
	srv->exec.parked_lost = s->parked_lost;
	srv->workers.nofile_orig.rlim_cur = s->nofile_cur;
	srv->workers.nofile_orig.rlim_max = s->nofile_max;
	if ((rc = td_state_fd(st, s->lock_fd, "lock", &kfd)) < 0 ||
	    (rc = td_state_fd(st, s->listen_fd, "listen", &lfd)) < 0)
		return rc;
	if (lfd < 0 || kfd < 0)
		return td_bad(st, "listen_fd");
	td_listen_adopt(srv, lfd, kfd, (ino_t)s->socket_ino);
	td_state_held(srv, &s->held);
	return 0;
}

/* ---- the rest: after the ring and the helpers ------------------------- */

static int td_state_labels(struct td_server *srv, struct td_state_in *st)
{
	const struct tp_list *l = &st->s.labels;

	for (uint32_t i = 0; i < l->n; i++) {
		struct tp_st_label m;
		struct tp_err e;
		char name[TETHER_LABEL_MAX + 1];
		int rc;

		if (tp_unpack(&l->o[i], &tp_st_label_desc, &m, &e) < 0 ||
		    m.fd < 0 || m.fd > INT32_MAX ||
		    td_copy(st, m.name, "label", name, sizeof(name)) < 0)
			return td_bad(st, "labels");
		if ((rc = td_label_carry(srv, (int)m.fd, (dev_t)m.dev,
					   (ino_t)m.ino, (mode_t)m.type,
					   name)) < 0)
			return td_bad(st, "labels");
	}
	return 0;
}

static int td_state_strv(struct td_state_in *st, const struct tp_list *l,
			 const char *what, char ***out, int *n)
{
	*out = NULL;
	*n = 0;
	if (l->n > TETHER_ARGV_MAX)
		return td_bad(st, what);
	if (!(*out = calloc(l->n + 1, sizeof(char *))))
		return -ENOMEM;
	for (uint32_t i = 0; i < l->n; i++) {
		struct tp_str s;
		int rc;

		if (tp_obj_str(&l->o[i], &s.p, &s.n) < 0)
			return td_bad(st, what);
		if ((rc = td_dup(st, s, what, &(*out)[i])) < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

static int td_state_spec(struct td_state_in *st, const struct tp_st_spec *m,
			 struct td_spawn *sp)
{
	uint32_t *groups = NULL;
	size_t ng;
	int rc;

	if ((rc = td_state_strv(st, &m->argv, "argv", &sp->argv,
				&sp->argc)) < 0 ||
	    (rc = td_state_strv(st, &m->envp, "envp", &sp->envp,
				&sp->envc)) < 0 ||
	    (rc = td_dup(st, m->user, "user", &sp->user)) < 0 ||
	    (rc = td_dup(st, m->path, "path", &sp->path)) < 0 ||
	    (rc = td_dup(st, m->cwd, "cwd", &sp->cwd)) < 0 ||
	    (rc = td_dup(st, m->cgroup, "cgroup", &sp->cgroup)) < 0 ||
	    (rc = td_dup(st, m->policy_name, "policy_name",
			 &sp->policy_name)) < 0 ||
	    (rc = td_copy(st, m->label, "label", sp->label,
			  sizeof(sp->label))) < 0 ||
	    (rc = td_copy(st, m->home, "home", sp->home,
			  sizeof(sp->home))) < 0 ||
	    (rc = td_copy(st, m->uname, "uname", sp->uname,
			  sizeof(sp->uname))) < 0 ||
	    (rc = td_copy(st, m->policy_xxh3, "policy_xxh3", sp->policy_xxh3,
			  sizeof(sp->policy_xxh3))) < 0)
		return rc;
	if (m->env_user_set > UINT32_MAX || m->opt_uid < -1 ||
	    m->opt_uid > UINT32_MAX || m->opt_gid < -1 ||
	    m->opt_gid > UINT32_MAX || m->uid > UINT32_MAX ||
	    m->gid > UINT32_MAX || m->fds.n % 2 ||
	    m->fds.n / 2 > TETHER_SPAWN_FDS_MAX || m->rlimits.n % 3 ||
	    m->rlimits.n / 3 > TD_RLIMITS_MAX)
		return td_bad(st, "spec");
	sp->env_user_set = (unsigned)m->env_user_set;
	sp->opt_uid = m->opt_uid;
	sp->opt_gid = m->opt_gid;
	for (uint32_t i = 0; i < m->fds.n; i += 2) {
		int64_t c, s;

		if (!td_elem(&m->fds, i, 0, INT32_MAX, &c) ||
		    !td_elem(&m->fds, i + 1, -1, INT32_MAX, &s))
			return td_bad(st, "fds");
		sp->fds[sp->nfds].child = (int)c;
		sp->fds[sp->nfds].held = -1;
		sp->fds[sp->nfds++].server = (int)s;
	}
	for (uint32_t i = 0; i < m->rlimits.n; i += 3) {
		uint64_t res, cur, max;

		if (tp_obj_reg(&m->rlimits.o[i], &res) < 0 || res > 64 ||
		    tp_obj_reg(&m->rlimits.o[i + 1], &cur) < 0 ||
		    tp_obj_reg(&m->rlimits.o[i + 2], &max) < 0)
			return td_bad(st, "rlimits");
		sp->rlimits[sp->nrlimits].res = (int)res;
		sp->rlimits[sp->nrlimits].rl.rlim_cur = cur;
		sp->rlimits[sp->nrlimits++].rl.rlim_max = max;
	}
	sp->setsid = m->setsid;
	sp->pgroup = m->pgroup;
	sp->capture = m->capture;
	sp->have_user = m->have_user;
	sp->resolved = m->resolved;
	sp->uid = (uid_t)m->uid;
	sp->gid = (gid_t)m->gid;
	if ((rc = td_ids(st, &m->groups, "groups", &groups, &ng)) < 0) {
		free(groups);
		return rc;
	}
	if (ng > TD_GROUPS_MAX) {
		free(groups);
		return td_bad(st, "groups");
	}
	for (size_t i = 0; i < ng; i++)
		sp->groups[i] = groups[i];
	sp->ngroups = (int)ng;
	free(groups);
	sp->log_max = m->log_max;
	sp->nofile.rlim_cur = m->nofile_cur;
	sp->nofile.rlim_max = m->nofile_max;
	if (m->has & TP_ST_SPEC_FILTER) {
		size_t n = m->filter.n;

		if (!n || n % sizeof(struct sock_filter) ||
		    n / sizeof(struct sock_filter) > TD_FILTER_MAX)
			return td_bad(st, "filter");
		if (!(sp->filter = malloc(n)))
			return -ENOMEM;
		memcpy(sp->filter, m->filter.p, n);
		sp->nfilter = (unsigned)(n / sizeof(struct sock_filter));
	}
	return 0;
}

static int td_state_capture(struct td_server *srv, struct td_state_in *st,
			    const struct tp_st_capture *m, struct td_worker *w)
{
	struct td_capture_state s = {
		.old_base = m->old_base, .base = m->base, .size = m->size,
		.log_max = m->log_max, .lost = m->lost,
		.have_old = m->have_old, .dev = (dev_t)m->dev,
		.ino = (ino_t)m->ino, .old_dev = (dev_t)m->old_dev,
		.old_ino = (ino_t)m->old_ino,
	};
	char path[PATH_MAX];
	int rc;

	if ((rc = td_state_fd(st, m->pipe_fd, "worker output",
			      &s.pipe_fd)) < 0 ||
	    (rc = td_state_fd(st, m->log_fd, "worker log", &s.log_fd)) < 0 ||
	    (rc = td_copy(st, m->path, "capture path", path, sizeof(path))) < 0)
		return rc;
	s.path = path;
	return td_capture_import(srv, w, &s);
}

static int td_state_worker(struct td_server *srv, struct td_state_in *st,
			   const msgpack_object *o)
{
	struct tp_st_worker m;
	struct td_worker *w;
	struct tp_err e;
	int rc;

	if (tp_unpack(o, &tp_st_worker_desc, &m, &e) < 0) {
		snprintf(st->err, sizeof(st->err), "%s", e.msg);
		return -EINVAL;
	}
	if (m.pid < 1 || m.pid > INT32_MAX || m.pgid < 0 ||
	    m.pgid > INT32_MAX || m.state < TD_W_RUNNING ||
	    m.state > TD_W_KILLED || m.exit_code < 0 || m.exit_code > 255 ||
	    m.signal < 0 || m.signal > 64 || m.ru.n != sizeof(struct rusage))
		return td_bad(st, "worker");
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->srv = srv;
	w->pid = (pid_t)m.pid;
	w->pgid = (pid_t)m.pgid;
	w->state = (enum td_wstate)m.state;
	w->exit_code = (int)m.exit_code;
	w->signal = (int)m.signal;
	w->core = m.core;
	w->started_ms = m.started_ms;
	w->ended_ms = m.ended_ms;
	w->started_mono = m.started_mono;
	memcpy(&w->ru, m.ru.p, sizeof(w->ru));
	if ((rc = td_copy(st, m.label, "worker label", w->label,
			  sizeof(w->label))) < 0 ||
	    (rc = td_state_fd(st, m.pidfd, "worker pidfd", &w->pidfd)) < 0)
		goto fail;
	if (m.has & TP_ST_WORKER_SPEC) {
		if (!(w->spec = calloc(1, sizeof(*w->spec)))) {
			rc = -ENOMEM;
			goto fail;
		}
		if ((rc = td_state_spec(st, &m.spec, w->spec)) < 0)
			goto fail;
	}
	if ((m.has & TP_ST_WORKER_CAPTURE) &&
	    (rc = td_state_capture(srv, st, &m.capture, w)) < 0)
		goto fail;
	td_worker_adopt(srv, w);
	return 0;
fail:
	td_spawn_free(w->spec);
	free(w);
	return rc;
}

static int td_state_workers(struct td_server *srv, struct td_state_in *st)
{
	const struct tp_list *l = &st->s.workers;
	int rc;

	for (uint32_t i = 0; i < l->n; i++)
		if ((rc = td_state_worker(srv, st, &l->o[i])) < 0)
			return rc;
	return 0;
}

/* Parked results come back as parked calls: PENDING lists them, COLLECT
 * answers with their record, byte for byte what was parked. */
static int td_state_parked(struct td_server *srv, struct td_state_in *st)
{
	const struct tp_list *l = &st->s.parked;

	if (l->n > TD_PARKED_MAX)
		return td_bad(st, "parked");
	for (uint32_t i = 0; i < l->n; i++) {
		struct tp_st_parked m;
		struct td_calljob *cj;
		struct tp_err e;

		if (tp_unpack(&l->o[i], &tp_st_parked_desc, &m, &e) < 0 ||
		    m.record.n > TD_RECORD_MAX)
			return td_bad(st, "parked");
		if (!(cj = td_calljob_new()))
			return -ENOMEM;
		if (!m.is_batch && !(cj->call = calloc(1, sizeof(*cj->call)))) {
			td_call_ops.release(&cj->job);
			return -ENOMEM;
		}
		if (cj->call) {
			cj->call->nr = m.nr;
			cj->call->data_idx = -1;
		}
		msgpack_sbuffer_write(&cj->body, m.record.p, m.record.n);
		td_job_start_internal(&cj->job, &td_call_ops, srv);
		cj->job.id = m.id;
		cj->job.generation = m.generation;
		cj->job.since_ms = m.since;
		cj->is_batch = m.is_batch;
		cj->data_lost = m.data_lost;
		cj->ret = m.ret;
		cj->async = true;
		cj->parked = true;
		srv->exec.nparked++;
		srv->exec.parked_bytes += cj->body.size;
	}
	return 0;
}

/* Last, once nothing can fail: the controller's fds get their
 * FD_CLOEXEC back, and the server's own have it again. */
static int td_state_cloexec(struct td_state_in *st)
{
	const struct tp_list *l = &st->s.cloexec;
	int own[TD_IFD_RESERVE];
	unsigned n = td_ifd_list(own, TD_IFD_RESERVE);

	for (unsigned i = 0; i < n; i++)
		fcntl(own[i], F_SETFD, FD_CLOEXEC);
	for (uint32_t i = 0; i < l->n; i++) {
		int64_t fd;

		if (td_elem(l, i, 0, INT32_MAX, &fd))
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

int td_state_restore(struct td_server *srv, struct td_state_in *st)
{
	int rc;

	if ((rc = td_state_labels(srv, st)) < 0 ||
	    (rc = td_state_workers(srv, st)) < 0 ||
	    (rc = td_state_parked(srv, st)) < 0)
		return rc;
	return td_state_cloexec(st);
}
