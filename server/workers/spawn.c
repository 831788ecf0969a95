/*
 * SPAWN, the parent's side: everything that can allocate or consult NSS
 * (argv, environment, PATH search, the user's groups) happens in the
 * server -- NSS and PATH on a helper thread -- before the clone; the
 * child (launch.c) only makes system calls, and reports a failure before
 * exec in memory it shares with its parent, so ENOENT or EPERM comes
 * back as the spawn's error, not as a worker that exits 127.
 *
 * Under a policy the server runs under its own seccomp filter, which a
 * cloned worker would inherit: the child code then runs in a clone made
 * by the spawner (spawner.c), with the same request rebuilt there.
 * A SPAWN may bring a policy of its own for the worker: compiled here,
 * loaded by the child as its last step before exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hash.h"
#include "policy/policy.h"
#include "tetherd.h"
#include "worker.h"

#define TD_POLICY_NAME_MAX 255

/* What the server's environment may pass on unless clear_env. */
static const char *const td_env_allow[] = {
	"PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME",
	"SHELL", "TMPDIR", NULL,
};

/* What --user sets, unless the controller's env does. */
static const char *const td_env_user[3] = { "HOME", "USER", "LOGNAME" };

static const char *const td_step_names[] = {
	[TD_STEP_SIGNALS] = "signals", [TD_STEP_SESSION] = "setsid/setpgid",
	[TD_STEP_CGROUP] = "joining the cgroup",
	[TD_STEP_RLIMIT] = "setrlimit", [TD_STEP_FDS] = "setting up fds",
	[TD_STEP_GROUPS] = "setgroups", [TD_STEP_GID] = "setresgid",
	[TD_STEP_UID] = "setresuid", [TD_STEP_CWD] = "chdir",
	[TD_STEP_SECCOMP] = "seccomp", [TD_STEP_EXEC] = "exec",
};

static void td_strv_free(char **v, int n)
{
	for (int i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

void td_spawn_free(struct td_spawn *sp)
{
	if (!sp)
		return;
	td_strv_free(sp->argv, sp->argc);
	td_strv_free(sp->envp, sp->envc);
	free(sp->path);
	free(sp->user);
	free(sp->cwd);
	free(sp->cgroup);
	free(sp->filter);
	free(sp->policy_name);
	td_policy_free(sp->policy_parsed);
	td_spawn_fds_release(sp);
	free(sp);
}

const char *td_spawn_label(const struct td_spawn *sp)
{
	return sp->label;
}

bool td_spawn_capture(const struct td_spawn *sp)
{
	return sp->capture;
}

uint64_t td_spawn_log_max(const struct td_spawn *sp)
{
	return sp->log_max;
}

static char **td_strv_dup(char *const *v, int n)
{
	char **nv = calloc((size_t)n + 1, sizeof(char *));

	for (int i = 0; nv && i < n; i++)
		if (!(nv[i] = strdup(v[i]))) {
			td_strv_free(nv, i);
			return NULL;
		}
	return nv;
}

/* A deep copy, for a RESPAWN: the record keeps its own. */
struct td_spawn *td_spawn_dup(const struct td_spawn *sp)
{
	struct td_spawn *d = malloc(sizeof(*d));
	size_t fsize = sp->nfilter * sizeof(struct sock_filter);

	if (!d)
		return NULL;
	*d = *sp;
	/* Only a spawn that ran is copied: its filter is built, and it
	 * holds no fd (RESPAWN holds them again). */
	d->policy_parsed = NULL;
	for (unsigned i = 0; i < d->nfds; i++)
		d->fds[i].held = -1;
	if (sp->policy_parsed) {
		free(d);
		return NULL;
	}
	d->argv = td_strv_dup(sp->argv, sp->argc);
	d->envp = td_strv_dup(sp->envp, sp->envc);
	d->user = sp->user ? strdup(sp->user) : NULL;
	d->path = sp->path ? strdup(sp->path) : NULL;
	d->cwd = sp->cwd ? strdup(sp->cwd) : NULL;
	d->cgroup = sp->cgroup ? strdup(sp->cgroup) : NULL;
	d->policy_name = sp->policy_name ? strdup(sp->policy_name) : NULL;
	d->filter = fsize ? malloc(fsize) : NULL;
	if (d->filter)
		memcpy(d->filter, sp->filter, fsize);
	if (!d->argv || !d->envp || (sp->user && !d->user) ||
	    (sp->path && !d->path) || (sp->cwd && !d->cwd) ||
	    (sp->cgroup && !d->cgroup) ||
	    (sp->policy_name && !d->policy_name) || (fsize && !d->filter)) {
		td_spawn_free(d);
		return NULL;
	}
	return d;
}

/* A server fd the worker is to get: open, and not one of ours. */
static bool td_spawn_fd_ok(int server)
{
	return !td_ifd_is(server) && fcntl(server, F_GETFD) >= 0;
}

/* The fd map against the server's fds now: a RESPAWN after one of them
 * was closed fails naming it, rather than starting a worker without. */
int td_spawn_fds_hold(struct td_req *r, struct td_spawn *sp)
{
	for (unsigned i = 0; i < sp->nfds; i++) {
		struct td_fdmap *m = &sp->fds[i];

		if (!td_spawn_fd_ok(m->server))
			return td_req_fail(r, EBADF, "server fd %d (the worker's "
					   "fd %d) is no longer open",
					   m->server, m->child);
		if ((m->held = td_ifd_copy(m->server, "spawn fd map")) < 0)
			return td_req_fail(r, -m->held, "holding server fd %d "
					   "for the worker: %s", m->server,
					   strerror(-m->held));
	}
	return 0;
}

void td_spawn_fds_release(struct td_spawn *sp)
{
	for (unsigned i = 0; sp && i < sp->nfds; i++)
		if (sp->fds[i].held >= 0) {
			/* The spawn's helper releases them (workers.c), and
			 * a close of a FUSE file waits for its daemon: not
			 * under the lock the loop takes. */
			td_ifd_close_slow(sp->fds[i].held);
			sp->fds[i].held = -1;
		}
}

/* The descriptor the worker gets for map entry m: the one held since
 * the request, or (the spawner's own copy) the server fd itself. */
int td_spawn_fd_source(const struct td_fdmap *m)
{
	return m->held >= 0 ? m->held : m->server;
}

/* A str as a new C string, NUL-free and bounded. */
static int td_strdup_str(struct td_req *r, struct tp_str s, const char *what,
			 char **out)
{
	if (s.n > TETHER_STR_MAX || memchr(s.p, '\0', s.n))
		return td_req_fail(r, EINVAL, "%s: too long or contains NUL",
				   what);
	if (!(*out = strndup(s.p, s.n)))
		return td_req_fail(r, ENOMEM, "out of memory");
	return 0;
}

/* Entry i of a list of strings (argv, env) as a new C string. */
static int td_strdup_entry(struct td_req *r, const struct tp_list *l,
			   size_t i, const char *what, char **out)
{
	struct tp_str s;

	if (tp_obj_str(&l->o[i], &s.p, &s.n) < 0)
		return td_req_fail(r, EINVAL, "%s must be a string", what);
	return td_strdup_str(r, s, what, out);
}

static int td_strv_push(struct td_req *r, char ***v, int *n, char *s)
{
	char **nv;

	if ((unsigned)*n >= TETHER_ARGV_MAX) {
		free(s);
		return td_req_fail(r, E2BIG, "more than %u entries",
				   TETHER_ARGV_MAX);
	}
	if (!(nv = realloc(*v, (size_t)(*n + 2) * sizeof(char *)))) {
		free(s);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	*v = nv;
	nv[(*n)++] = s;
	nv[*n] = NULL;
	return 0;
}

static int td_spawn_argv(struct td_req *r, struct td_spawn *sp,
			 const struct tp_list *argv)
{
	char *s;
	int rc;

	if (argv->n == 0)
		return td_req_fail(r, EINVAL, "argv must be a non-empty array");
	for (size_t i = 0; i < argv->n; i++)
		if ((rc = td_strdup_entry(r, argv, i, "argv entry", &s)) < 0 ||
		    (rc = td_strv_push(r, &sp->argv, &sp->argc, s)) < 0)
			return rc;
	return 0;
}

/* Replace or add KEY=VALUE. */
static int td_env_set(struct td_req *r, struct td_spawn *sp, char *kv)
{
	size_t klen = strcspn(kv, "=");

	if (!kv[klen] || klen == 0) {
		td_req_fail(r, EINVAL, "environment entry \"%.40s\" is not "
			    "KEY=VALUE", kv);
		free(kv);
		return -EINVAL;
	}
	for (int i = 0; i < sp->envc; i++) {
		if (!strncmp(sp->envp[i], kv, klen + 1)) {
			free(sp->envp[i]);
			sp->envp[i] = kv;
			return 0;
		}
	}
	return td_strv_push(r, &sp->envp, &sp->envc, kv);
}

static int td_spawn_env(struct td_req *r, struct td_spawn *sp,
			const struct tp_spawn *req)
{
	bool clear = (req->has & TP_SPAWN_CLEAR_ENV) && req->clear_env;
	size_t n = req->has & TP_SPAWN_ENV ? req->env.n : 0;
	char *s;
	int rc;

	/* The controller's own environment never comes along: only what
	 * it lists, on top of an allow-list of the server's. */
	for (int i = 0; !clear && td_env_allow[i]; i++) {
		const char *val = getenv(td_env_allow[i]);

		if (!val)
			continue;
		if (asprintf(&s, "%s=%s", td_env_allow[i], val) < 0)
			return td_req_fail(r, ENOMEM, "out of memory");
		if ((rc = td_strv_push(r, &sp->envp, &sp->envc, s)) < 0)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = td_strdup_entry(r, &req->env, i, "env entry",
					  &s)) < 0)
			return rc;
		/* What the user's entry must not override later. */
		for (int k = 0; k < 3; k++)
			if (!strncmp(s, td_env_user[k], strlen(td_env_user[k])) &&
			    s[strlen(td_env_user[k])] == '=')
				sp->env_user_set |= 1u << k;
		if ((rc = td_env_set(r, sp, s)) < 0)
			return rc;
	}
	/* An empty environment is still a NULL-ended array. */
	if (!sp->envp && !(sp->envp = calloc(1, sizeof(char *))))
		return td_req_fail(r, ENOMEM, "out of memory");
	return 0;
}

/* Like runuser: the user's own HOME, USER and LOGNAME -- unless the
 * controller's list set them. */
static int td_spawn_env_user(struct td_req *r, struct td_spawn *sp)
{
	const char *val[3] = { sp->home, sp->uname, sp->uname };
	char *s;
	int rc;

	if (!sp->uname[0])
		return 0;
	for (int i = 0; i < 3; i++) {
		if (sp->env_user_set & (1u << i))
			continue;
		if (asprintf(&s, "%s=%s", td_env_user[i], val[i]) < 0)
			return td_req_fail(r, ENOMEM, "out of memory");
		if ((rc = td_env_set(r, sp, s)) < 0)
			return rc;
	}
	return 0;
}

static const char *td_spawn_getenv(const struct td_spawn *sp, const char *k)
{
	size_t n = strlen(k);

	for (int i = 0; i < sp->envc; i++)
		if (!strncmp(sp->envp[i], k, n) && sp->envp[i][n] == '=')
			return sp->envp[i] + n + 1;
	return NULL;
}

/* execvp's search, done here where malloc is allowed. */
static int td_spawn_path(struct td_req *r, struct td_spawn *sp)
{
	const char *name = sp->argv[0], *path = td_spawn_getenv(sp, "PATH");
	char buf[PATH_MAX];
	int err = ENOENT;

	if (strchr(name, '/'))
		return (sp->path = strdup(name)) ? 0
			: td_req_fail(r, ENOMEM, "out of memory");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		struct stat st;

		if ((size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)len,
				     len ? path : ".", name) < sizeof(buf) &&
		    stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(buf, X_OK) == 0)
				return (sp->path = strdup(buf))
					       ? 0
					       : td_req_fail(r, ENOMEM, "oom");
			err = EACCES;
		}
		path += len + (path[len] == ':');
	}
	return td_req_fail(r, err, "exec %s: %s", name, strerror(err));
}

/* --user NAME or uid/gid, as asked: kept for the helper that resolves
 * them (NSS may talk to the network: never on the loop). */
static int td_spawn_user_spec(struct td_req *r, struct td_spawn *sp,
			      const struct tp_spawn *req)
{
	int rc;

	sp->opt_uid = sp->opt_gid = -1;
	if ((req->has & TP_SPAWN_USER) &&
	    (rc = td_strdup_str(r, req->user, "user", &sp->user)) < 0)
		return rc;
	if (!sp->user && (req->has & TP_SPAWN_UID)) {
		if (req->uid < 0 || req->uid >= UINT32_MAX)
			return td_req_fail(r, EINVAL, "bad uid");
		sp->opt_uid = req->uid;
	}
	if (req->has & TP_SPAWN_GID) {
		if (req->gid < 0 || req->gid >= UINT32_MAX)
			return td_req_fail(r, EINVAL, "bad gid");
		sp->opt_gid = req->gid;
	}
	return 0;
}

/* The user's ids and full group list, NSS included (a helper). */
static int td_spawn_user(struct td_req *r, struct td_spawn *sp)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int rc = 0;

	if (sp->user) {
		getpwnam_r(sp->user, &pw, buf, sizeof(buf), &res);
		if (!res) {
			char *end;
			unsigned long uid;

			/* Digits only, and a uid: strtoul takes "-1" and
			 * 2^32 (which uid_t would make 0, root). */
			errno = 0;
			uid = strtoul(sp->user, &end, 10);
			if (*end || end == sp->user || *sp->user < '0' ||
			    *sp->user > '9' || errno || uid >= UINT32_MAX)
				return td_req_fail(r, ENOENT, "no user \"%s\"%s",
						   sp->user, *end || end ==
						   sp->user ? "" : " (a uid "
						   "is below 4294967295)");
			getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res);
			if (!res) {
				sp->uid = (uid_t)uid;
				sp->gid = (gid_t)uid;
				sp->groups[0] = sp->gid;
				sp->ngroups = 1;
				sp->have_user = true;
				goto gid;
			}
		}
	} else if (sp->opt_uid >= 0) {
		sp->uid = (uid_t)sp->opt_uid;
		sp->have_user = true;
		getpwuid_r(sp->uid, &pw, buf, sizeof(buf), &res);
		sp->gid = res ? res->pw_gid : (gid_t)sp->opt_uid;
		sp->groups[0] = sp->gid;
		sp->ngroups = 1;
		if (!res)
			goto gid;
	} else {
		goto gid;
	}
	sp->uid = res->pw_uid;
	sp->gid = res->pw_gid;
	sp->have_user = true;
	snprintf(sp->home, sizeof(sp->home), "%s", res->pw_dir);
	snprintf(sp->uname, sizeof(sp->uname), "%s", res->pw_name);
	sp->ngroups = TD_GROUPS_MAX;
	if (getgrouplist(res->pw_name, res->pw_gid, sp->groups,
			 &sp->ngroups) < 0)
		return td_req_fail(r, E2BIG, "user %s is in more than %d "
				   "groups", res->pw_name, TD_GROUPS_MAX);
gid:
	if (sp->opt_gid >= 0) {
		sp->gid = (gid_t)sp->opt_gid;
		if (!sp->have_user) {
			sp->uid = getuid();
			sp->have_user = true;
		}
		sp->groups[0] = sp->gid;
		sp->ngroups = 1;
	}
	return rc;
}

static int td_spawn_fdmap(struct td_req *r, struct td_spawn *sp,
			  const struct tp_list *fds)
{
	struct tp_spawn_fd m;
	int64_t child, server;

	if (fds->n > TETHER_SPAWN_FDS_MAX)
		return td_req_fail(r, EINVAL, "fds must be an array of at most "
				   "%u [child_fd, server_fd] pairs",
				   TETHER_SPAWN_FDS_MAX);
	for (size_t i = 0; i < fds->n; i++) {
		if (tp_unpack_spawn_fd(&fds->o[i], &m, NULL) < 0 ||
		    (child = m.child) < 0 || child > 1023 ||
		    (server = m.server) < 0 || server > INT32_MAX)
			return td_req_fail(r, EINVAL, "fds entry %zu is not "
					   "[child_fd, server_fd]", i);
		if (!td_spawn_fd_ok((int)server))
			return td_req_fail(r, EBADF, "fds entry %zu: server fd "
					   "%lld is not open", i,
					   (long long)server);
		/* Two for one child fd: the last would win unsaid. */
		for (unsigned k = 0; k < sp->nfds; k++)
			if (sp->fds[k].child == (int)child)
				return td_req_fail(r, EINVAL, "fds entry %zu: "
						   "the worker's fd %lld is "
						   "mapped twice", i,
						   (long long)child);
		sp->fds[sp->nfds].child = (int)child;
		sp->fds[sp->nfds].server = (int)server;
		sp->fds[sp->nfds].held = -1;
		sp->nfds++;
	}
	return 0;
}

static int td_spawn_rlimits(struct td_req *r, struct td_spawn *sp,
			    const struct tp_list *rl)
{
	struct tp_spawn_rlimit m;

	if (rl->n > TD_RLIMITS_MAX)
		return td_req_fail(r, EINVAL, "rlimits must be an array of at "
				   "most %d [resource, soft, hard]",
				   TD_RLIMITS_MAX);
	for (size_t i = 0; i < rl->n; i++) {
		if (tp_unpack_spawn_rlimit(&rl->o[i], &m, NULL) < 0 ||
		    m.resource < 0 || m.resource >= RLIMIT_NLIMITS)
			return td_req_fail(r, EINVAL, "rlimits entry %zu is not "
					   "[resource, soft, hard]", i);
		sp->rlimits[i].res = (int)m.resource;
		sp->rlimits[i].rl.rlim_cur = m.soft;
		sp->rlimits[i].rl.rlim_max = m.hard;
		sp->nrlimits++;
	}
	return 0;
}

/* A boolean of the request, or its default when absent. */
static bool td_spawn_flag(const struct tp_spawn *req, uint32_t bit, bool v,
			  bool def)
{
	return req->has & bit ? v : def;
}

/* The parser's "NAME:LINE: what" lines, joined with "; " as far as
 * they fit in a reply's message. */
static int td_policy_fail(struct td_req *r, int err, const char *name,
			  char *errs, size_t len)
{
	char msg[sizeof(r->err)];
	size_t used = 0, skipped = 0;
	char *line = errs, *nl;

	msg[0] = '\0';
	for (; errs && line < errs + len && *line; line = nl + 1) {
		size_t n;

		if (!(nl = memchr(line, '\n', (size_t)(errs + len - line))))
			nl = errs + len;
		n = (size_t)(nl - line);
		/* Room for "; ", the line, and a " (N more)" at the end. */
		if (used + n + 2 + 16 >= sizeof(msg)) {
			skipped++;
			continue;
		}
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s%.*s",
					 used ? "; " : "", (int)n, line);
		if (nl == errs + len)
			break;
	}
	if (!used)
		return td_req_fail(r, err, "policy %s: %s", name, strerror(err));
	if (skipped)
		snprintf(msg + used, sizeof(msg) - used, " (%zu more)", skipped);
	return td_req_fail(r, err, "%s", msg);
}

/* The exported BPF, read back whole: its size is the instruction count. */
static int td_spawn_bpf(struct td_req *r, struct td_spawn *sp, int fd,
			const char *name)
{
	struct stat st;
	size_t size;
	int rc;

	if (fstat(fd, &st) < 0)
		return td_req_fail(r, errno, "policy %s: %s", name,
				   strerror(errno));
	if (st.st_size <= 0 || st.st_size % (off_t)sizeof(struct sock_filter))
		return td_req_fail(r, EINVAL, "policy %s: libseccomp exported "
				   "%lld bytes, not a filter", name,
				   (long long)st.st_size);
	if (st.st_size / (off_t)sizeof(struct sock_filter) > TD_FILTER_MAX)
		return td_req_fail(r, E2BIG, "policy %s: its filter has %lld "
				   "instructions, more than %d", name,
				   (long long)(st.st_size /
					       (off_t)sizeof(struct sock_filter)),
				   TD_FILTER_MAX);
	size = (size_t)st.st_size;
	if (!(sp->filter = malloc(size)))
		return td_req_fail(r, ENOMEM, "out of memory");
	if ((rc = tp_pread_all(fd, sp->filter, size, 0)) < 0)
		return td_req_fail(r, -rc, "policy %s: reading the filter "
				   "back: %s", name, strerror(-rc));
	sp->nfilter = (unsigned)(size / sizeof(struct sock_filter));
	return 0;
}

/* The policy as the kernel will run it.  A memfd, not a pipe: a filter
 * larger than a pipe's buffer would block us, its only reader. */
static int td_spawn_compile(struct td_req *r, struct td_spawn *sp,
			    const struct td_policy *p, const char *name)
{
	scmp_filter_ctx ctx = NULL;
	int fd = -1, rc;

	if ((rc = td_policy_filter(p, NULL, 0, &ctx)) < 0) {
		rc = td_req_fail(r, -rc, "policy %s: building its filter: %s",
				 name, strerror(-rc));
		goto out;
	}
	if ((fd = memfd_create("tetherd-worker-filter", MFD_CLOEXEC)) < 0) {
		rc = td_req_fail(r, errno, "policy %s: memfd: %s", name,
				 strerror(errno));
		goto out;
	}
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
		rc = td_req_fail(r, -rc, "policy %s: exporting its filter: %s",
				 name, strerror(-rc));
		goto out;
	}
	rc = td_spawn_bpf(r, sp, fd, name);
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

/* "policy" (the text of a policy file) and "policy_name" (for messages):
 * the worker's own seccomp filter, as a BPF program in sp. */
static int td_spawn_policy(struct td_req *r, struct td_spawn *sp,
			   const struct tp_spawn *req)
{
	char name[TD_POLICY_NAME_MAX + 1] = "policy", *errs = NULL;
	struct td_policy *p = NULL;
	const char *text = req->policy.p;
	size_t len = req->policy.n, elen = 0;
	const struct tp_str *s = &req->policy_name;
	FILE *f;
	int rc;

	if (!(req->has & TP_SPAWN_POLICY))
		return 0;
	if (len > TD_POLICY_FILE_MAX)
		return td_req_fail(r, EINVAL, "policy must be the text of a "
				   "policy file, at most %u bytes",
				   TD_POLICY_FILE_MAX);
	if (req->has & TP_SPAWN_POLICY_NAME) {
		if (!s->n || s->n > TD_POLICY_NAME_MAX ||
		    memchr(s->p, '\0', s->n))
			return td_req_fail(r, EINVAL, "bad policy_name");
		memcpy(name, s->p, s->n);
		name[s->n] = '\0';
	}
	if (!(f = open_memstream(&errs, &elen)))
		return td_req_fail(r, ENOMEM, "out of memory");
	rc = td_policy_parse(text, len, name, f, &p);
	fclose(f);
	if (rc < 0)
		rc = td_policy_fail(r, -rc, name, errs, elen);
	/* Said now: under a filter that denies execve (and, likely, write)
	 * the child could not even report its failed exec. */
	else if (!td_policy_may_allow(p, SCMP_SYS(execve)))
		rc = td_req_fail(r, EPERM, "exec %s: the worker's policy %s "
				 "does not allow execve", sp->argv[0], name);
	/* What PS shows of it: the name and a digest of the text.  The
	 * filter is a helper's to build (td_spawn_resolve). */
	if (rc == 0 && !(sp->policy_name = strdup(name)))
		rc = td_req_fail(r, ENOMEM, "out of memory");
	snprintf(sp->policy_xxh3, sizeof(sp->policy_xxh3), "%016llx",
		 (unsigned long long)tp_hash(text, len));
	free(errs);
	if (rc == 0)
		sp->policy_parsed = p;
	else
		td_policy_free(p);
	return rc;
}

/* Spawning runs programs: a policy that forbids execve to the
 * controller forbids SPAWN and RESPAWN too. */
int td_spawn_allowed(struct td_req *r)
{
	if (r->srv->policy.loaded &&
	    !td_policy_may_allow(r->srv->policy.loaded, SCMP_SYS(execve)))
		return td_req_fail(r, EPERM, "SPAWN needs execve allowed by the "
				   "policy (%s)", r->srv->policy.path);
	return 0;
}

int td_spawn_prepare(struct td_req *r, const msgpack_object *body,
		     struct td_spawn **out)
{
	struct td_spawn *sp = calloc(1, sizeof(*sp));
	struct tp_spawn req;
	struct tp_err e;
	const struct tp_str *s = &req.label;
	int rc;

	*out = NULL;
	if ((rc = td_spawn_allowed(r)) < 0) {
		free(sp);
		return rc;
	}
	if (!sp)
		return td_req_fail(r, ENOMEM, "out of memory");
	/* Not a map: EPROTO; a key of the wrong type: EINVAL. */
	if ((rc = tp_unpack_spawn(body, &req, &e)) < 0) {
		rc = td_req_fail(r, -rc, "%s", e.msg);
		goto fail;
	}
	sp->setsid = td_spawn_flag(&req, TP_SPAWN_SETSID, req.setsid, false);
	sp->pgroup = td_spawn_flag(&req, TP_SPAWN_PGROUP, req.pgroup, true);
	sp->capture = td_spawn_flag(&req, TP_SPAWN_CAPTURE, req.capture, false);
	sp->log_max = req.has & TP_SPAWN_LOG_MAX ? req.log_max : 64u << 20;
	if (req.has & TP_SPAWN_LABEL) {
		if (!s->n || s->n > TETHER_LABEL_MAX || memchr(s->p, '/', s->n) ||
		    memchr(s->p, '\0', s->n)) {
			rc = td_req_fail(r, EINVAL, "bad worker label");
			goto fail;
		}
		memcpy(sp->label, s->p, s->n);
	}
	if ((rc = td_spawn_argv(r, sp, &req.argv)) < 0 ||
	    (rc = td_spawn_user_spec(r, sp, &req)) < 0 ||
	    (rc = td_spawn_env(r, sp, &req)) < 0)
		goto fail;
	if ((req.has & TP_SPAWN_CWD) &&
	    (rc = td_strdup_str(r, req.cwd, "cwd", &sp->cwd)) < 0)
		goto fail;
	if ((req.has & TP_SPAWN_CGROUP) &&
	    (rc = td_strdup_str(r, req.cgroup, "cgroup", &sp->cgroup)) < 0)
		goto fail;
	if ((req.has & TP_SPAWN_FDS) &&
	    (rc = td_spawn_fdmap(r, sp, &req.fds)) < 0)
		goto fail;
	if ((req.has & TP_SPAWN_RLIMITS) &&
	    (rc = td_spawn_rlimits(r, sp, &req.rlimits)) < 0)
		goto fail;
	if ((rc = td_spawn_policy(r, sp, &req)) < 0)
		goto fail;
	sp->nofile = r->srv->workers.nofile_orig;
	*out = sp;
	return 0;
fail:
	td_spawn_free(sp);
	return rc;
}

/* What may block before the clone: the user database (NSS may ask the
 * network), the search of PATH (a hung NFS mount in it), and the
 * worker's filter (libseccomp took 13 s over 4,096 rules of three
 * conditions, in the loop, before it moved here).  A helper thread's
 * work. */
int td_spawn_resolve(struct td_req *r, struct td_spawn *sp)
{
	int rc;

	/* A RESPAWN's copy runs as the first did, whatever NSS or PATH
	 * say now. */
	if (sp->resolved)
		return 0;
	if ((rc = td_spawn_user(r, sp)) < 0 ||
	    (rc = td_spawn_env_user(r, sp)) < 0 ||
	    (rc = td_spawn_path(r, sp)) < 0)
		return rc;
	if (sp->policy_parsed) {
		rc = td_spawn_compile(r, sp, sp->policy_parsed,
				      sp->policy_name);
		td_policy_free(sp->policy_parsed);
		sp->policy_parsed = NULL;
		if (rc < 0)
			return rc;
	}
	sp->resolved = true;
	return 0;
}

/* Clone (or ask the spawner), on a helper: the pid, or -errno with
 * r->err set.  What the child did is in rep. */
int td_spawn_launch(struct td_req *r, const struct td_spawn *sp,
		    int capture_fd, pid_t *pid, struct td_spawn_report *rep)
{
	pid_t rc;

	/* Under a policy only the spawner may start workers, gone or not:
	 * a clone here would hand the server's filter on. */
	if (r->srv->policy.loaded)
		return td_spawner_spawn(r, sp, capture_fd, pid, rep);
	if ((rc = td_spawn_clone(sp, capture_fd, 0, rep)) < 0)
		return td_req_fail(r, -rc, "clone: %s", strerror(-rc));
	*pid = rc;
	return 0;
}

/* A child that did not exec: why, as the spawn's failure. */
int td_spawn_exec_error(struct td_req *r, const struct td_spawn *sp,
			const struct td_spawn_report *rep)
{
	int step = rep->step;
	char about[PATH_MAX + 64];

	if (step <= 0 || step > TD_STEP_EXEC)
		step = TD_STEP_EXEC;
	/* What the step was about, then the command ("joining the cgroup
	 * true" read as if "true" were the cgroup). */
	switch (step) {
	case TD_STEP_EXEC:
		snprintf(about, sizeof(about), " %s", sp->path);
		break;
	case TD_STEP_CWD:
	case TD_STEP_CGROUP:
		snprintf(about, sizeof(about), " %s for %s",
			 step == TD_STEP_CWD ? sp->cwd
			 : sp->cgroup	     ? sp->cgroup : "",
			 sp->argv[0]);
		break;
	case TD_STEP_GROUPS:
	case TD_STEP_GID:
	case TD_STEP_UID:
		snprintf(about, sizeof(about), " %u for %s",
			 step == TD_STEP_UID ? (unsigned)sp->uid
					     : (unsigned)sp->gid, sp->argv[0]);
		break;
	default:
		snprintf(about, sizeof(about), " for %s", sp->argv[0]);
	}
	return td_req_fail(r, rep->err, "%s%s: %s%s", td_step_names[step],
			   about, strerror(rep->err),
			   step == TD_STEP_EXEC && sp->nfilter
				   ? " (under the worker's policy)" : "");
}
