/*
 * What PS shows of a worker beyond its state: the SPAWN it came from, as
 * the server resolved and keeps it (so a restarted supervisor, or
 * RESPAWN, needs nothing else), and a STOP whose grace still runs.
 * Everything here reads the record; nothing blocks (no NSS: names of
 * uids and gids are the client's to look up).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "tetherd.h"
#include "worker.h"

/* argv and env bytes one PS record shows: a spec larger than this (the
 * SPAWN frame allows up to 2 MiB) is cut, and says so. */
#define TD_SPEC_SHOWN (512u << 10)

/* How many of v's n strings fit in budget bytes. */
static uint32_t td_spec_fit(char *const *v, int n, size_t budget)
{
	int shown = 0;
	size_t len;

	while (shown < n && (len = strlen(v[shown])) < budget) {
		budget -= len + 1;
		shown++;
	}
	return (uint32_t)shown;
}

/* A rough size of w's record on the wire, for PS's pages. */
size_t td_spec_size(const struct td_worker *w)
{
	const struct td_spawn *sp = w->spec;
	size_t n = 512;

	if (!sp)
		return n + TETHER_LABEL_MAX;
	for (int i = 0; i < sp->argc; i++)
		n += strlen(sp->argv[i]) + 5;
	for (int i = 0; i < sp->envc; i++)
		n += strlen(sp->envp[i]) + 5;
	n += sp->nfds * (TETHER_LABEL_MAX + 40) + sp->nrlimits * 32 +
	     (size_t)sp->ngroups * 5;
	if (n > 2 * TD_SPEC_SHOWN + 2 * (64 << 10))
		n = 2 * TD_SPEC_SHOWN + 2 * (64 << 10);
	return n;
}

static int td_spec_pack_gid(struct tp_w *w, const void *ctx, uint32_t i)
{
	const gid_t *groups = ctx;

	return tp_w_i64(w, groups[i]);
}

static int td_spec_pack_fd(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_worker *wk = ctx;
	const struct td_fdmap *m = &wk->spec->fds[i];
	struct tp_worker_fd f = {
		.child = m->child,
		.server = m->server,
		.label = tp_str(td_label_of(wk->srv, m->server)),
	};

	return tp_pack_worker_fd(w, &f);
}

static int td_spec_pack_rlimit(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_spawn *sp = ctx;
	struct tp_spawn_rlimit m = {
		.resource = sp->rlimits[i].res,
		.soft = sp->rlimits[i].rl.rlim_cur,
		.hard = sp->rlimits[i].rl.rlim_max,
	};

	return tp_pack_spawn_rlimit(w, &m);
}

/* rec (td_worker_record's) with the whole spec: argv as far as
 * TD_SPEC_SHOWN, env the same, and the rest. */
void td_spec_record(const struct td_worker *w, struct tp_worker *rec)
{
	const struct td_spawn *sp = w->spec;
	struct tp_worker_spec *s = &rec->spec;
	uint32_t nenv;

	if (!sp)
		return;
	rec->argv.n = td_spec_fit(sp->argv, sp->argc, TD_SPEC_SHOWN);
	rec->argv_truncated = rec->argv.n < (uint32_t)sp->argc;
	nenv = td_spec_fit(sp->envp, sp->envc, TD_SPEC_SHOWN);
	rec->has |= TP_WORKER_SPEC;
	*s = (struct tp_worker_spec){
		.env = { .n = nenv, .v = sp->envp },
		.env_truncated = nenv < (uint32_t)sp->envc,
		.path = tp_str(sp->path ? sp->path : sp->argv[0]),
		.cwd = tp_str(sp->cwd),
		.user = tp_str(sp->user),
		/* Without --user, uid or gid it runs as the server does. */
		.uid = sp->have_user ? sp->uid : getuid(),
		.gid = sp->have_user ? sp->gid : getgid(),
		.groups = { .n = sp->have_user ? (uint32_t)sp->ngroups : 0,
			    .each = td_spec_pack_gid, .ctx = sp->groups },
		.setsid = sp->setsid,
		.pgroup = sp->pgroup,
		.cgroup = tp_str(sp->cgroup),
		.fds = { .n = sp->nfds, .each = td_spec_pack_fd, .ctx = w },
		.rlimits = { .n = sp->nrlimits, .each = td_spec_pack_rlimit,
			     .ctx = sp },
		.policy_name = tp_str(sp->policy_name),
		.policy_xxh3 = tp_str(sp->policy_name ? sp->policy_xxh3 : NULL),
		.capture = sp->capture,
		.log_max = sp->log_max,
		.log = tp_str(w->cap ? td_capture_path(w->cap) : NULL),
	};
	s->has |= TP_WSPEC_UID | TP_WSPEC_GID;
}
