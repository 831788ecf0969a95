/* Requests about the server itself: status, make persistent, shutdown,
 * the policy it enforces. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "libtether.h"

/* An op's body when the caller has nothing to say: its request message
 * with nothing set ([] for all of them). */
static int tl_pack_none(struct tp_w *w, unsigned op)
{
	static const union {
		max_align_t align;
		char b[1024];
	} none;
	const struct tp_desc *d = tp_request_desc(op);

	if (!d || d->size > sizeof(none.b))
		return tp_w_fail(w, -EINVAL);
	return tp_pack(w, d, none.b);
}

/* A reply nobody reads is still checked: a server that leaves out what
 * the protocol promises is broken, and the caller should hear it. */
static int tl_check_reply(struct tether *t, unsigned op,
			  const msgpack_object *body)
{
	const struct tp_desc *d = tp_reply_desc(op);
	struct tp_err e;
	int rc;

	if (d && (rc = tp_unpack(body, d, NULL, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	return 0;
}

int tl_request(struct tether *t, unsigned op,
	       int (*pack)(struct tp_w *w, const void *arg),
	       const void *parg,
	       int (*fn)(struct tether *t, const msgpack_object *body,
			 void *arg),
	       void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int rc;

	t->err[0] = '\0';
	tp_msg_init(&m);
	tp_msg_request(&m, id, op);
	rc = pack ? pack(&m.w, parg) : tl_pack_none(&m.w, op);
	/* A body that could not be packed is not sent; the packer may
	 * have said why already. */
	if (rc < 0) {
		tp_msg_destroy(&m);
		return t->err[0] ? rc : tl_fail(t, -rc, "packing the request: %s",
						strerror(-rc));
	}
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	rc = fn ? fn(t, in.body, arg) : tl_check_reply(t, op, in.body);
	tp_in_destroy(&in);
	return rc;
}

/* A STATUS reply s as st: what the handle knew, the server's view on
 * top, which the handle keeps too. */
static void tl_status_take(struct tether *t, struct tether_status *st,
			   const struct tp_status *s)
{
	*st = t->info;
	tl_status_fill(st, s);
	t->info.persistent = st->persistent;
}

static int tl_got_status(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tp_status s;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_status(body, &s, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	tl_status_take(t, arg, &s);
	return 0;
}

TETHER_API int tether_status(struct tether *t, struct tether_status *st)
{
	return tl_request(t, TETHER_OP_STATUS, NULL, NULL, tl_got_status, st);
}

static void tl_str_out(char *dst, size_t size, bool has, struct tp_str s)
{
	snprintf(dst, size, "%.*s", has && s.p ? (int)s.n : 0,
		 has && s.p ? s.p : "");
}

static int tl_got_status_both(struct tether *t, const msgpack_object *body,
			      void *arg)
{
	struct tl_status_both *b = arg;
	struct tether_status_ex *x = &b->x;
	struct tp_status s;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_status(body, &s, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	tl_status_take(t, &b->st, &s);
	x->struct_size = sizeof(*x);
#define TL_OR(flag, v) (s.has & TP_STATUS_##flag ? (int64_t)(v) : -1)
	x->upgrades = TL_OR(UPGRADES, s.upgrades);
	x->upgrade_failures = TL_OR(UPGRADE_FAILURES, s.upgrade_failures);
	x->observers = TL_OR(NOBSERVERS, s.nobservers);
	x->helpers = TL_OR(HELPERS, s.helpers);
	x->helpers_busy = TL_OR(HELPERS_BUSY, s.helpers_busy);
	x->helpers_syscalls = TL_OR(HELPERS_SYSCALLS, s.helpers_syscalls);
	x->jobs = TL_OR(JOBS, s.jobs);
	x->fd_limit = TL_OR(FD_LIMIT, s.fd_limit);
	x->fd_limit_max = TL_OR(FD_LIMIT_MAX, s.fd_limit_max);
	x->spare_fds = TL_OR(SPARE_FDS, s.spare_fds);
#undef TL_OR
	tl_str_out(x->server_version, sizeof(x->server_version),
		   s.has & TP_STATUS_SERVER_VERSION, s.server_version);
	tl_str_out(x->arch, sizeof(x->arch), s.has & TP_STATUS_ARCH, s.arch);
	tl_str_out(x->binary, sizeof(x->binary), s.has & TP_STATUS_BINARY,
		   s.binary);
	tl_str_out(x->upgrade_error, sizeof(x->upgrade_error),
		   s.has & TP_STATUS_UPGRADE_ERROR, s.upgrade_error);
	return 0;
}

int tl_status_both(struct tether *t, struct tl_status_both *b)
{
	return tl_request(t, TETHER_OP_STATUS, NULL, NULL, tl_got_status_both,
			  b);
}

TETHER_API int tether_status_ex(struct tether *t, struct tether_status *st,
				struct tether_status_ex *ex)
{
	struct tl_status_both b;
	size_t size;
	int rc;

	if (!st)
		return tl_fail(t, EINVAL, "no struct tether_status");
	if ((rc = tl_opts_out_size(t, ex, sizeof(b.x), 65536,
				   "tether_status_ex", &size)) < 0 ||
	    (rc = tl_status_both(t, &b)) < 0)
		return rc;
	*st = b.st;
	if (ex) {
		b.x.struct_size = size;
		tl_opts_out(ex, &b.x, sizeof(b.x));
	}
	return 0;
}

TETHER_API int tether_make_persistent(struct tether *t)
{
	int rc = tl_request(t, TETHER_OP_PERSIST, NULL, NULL, NULL, NULL);

	if (rc == 0)
		t->info.persistent = true;
	return rc;
}

TETHER_API int tether_shutdown(struct tether *t)
{
	int rc = tl_request(t, TETHER_OP_SHUTDOWN, NULL, NULL, NULL, NULL);

	/* A server we started is our child: reap it as it goes. */
	if (rc == 0 && t->child > 0) {
		waitpid(t->child, NULL, 0);
		t->child = 0;
	}
	return rc;
}

/* A str as a new C string, or NULL. */
static char *tl_dup_str(struct tp_str s)
{
	return s.p ? strndup(s.p, s.n) : NULL;
}

/* The answer as decoded, before it becomes the caller's one block. */
struct tl_policy {
	bool active;
	char *path;
	char *default_rule;
	char **rules;
	size_t nrules;
};

static void tl_policy_clear(struct tl_policy *p)
{
	for (size_t i = 0; i < p->nrules; i++)
		free(p->rules[i]);
	free(p->rules);
	free(p->path);
	free(p->default_rule);
	memset(p, 0, sizeof(*p));
}

static int tl_got_policy(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tl_policy *p = arg;
	struct tp_policy_reply r;
	struct tp_err e;
	struct tp_str rule;
	int rc;

	if ((rc = tp_unpack_policy_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (!(p->active = r.active))
		return 0;
	if (!(r.has & TP_POLICY_PATH) || !(r.has & TP_POLICY_DEFAULT))
		return tl_fail(t, EPROTO, "POLICY reply: an active policy "
			       "without its path or default");
	p->path = tl_dup_str(r.path);
	p->default_rule = tl_dup_str(r.default_rule);
	if (r.rules.n && !(p->rules = calloc(r.rules.n, sizeof(char *))))
		goto oom;
	for (uint32_t i = 0; i < r.rules.n; i++, p->nrules++)
		if (tp_obj_str(&r.rules.o[i], &rule.p, &rule.n) < 0 ||
		    !(p->rules[i] = tl_dup_str(rule)))
			goto oom;
	if (!p->path || !p->default_rule)
		goto oom;
	return 0;
oom:
	tl_policy_clear(p);
	return tl_fail(t, ENOMEM, "out of memory");
}

TETHER_API int tether_policy(struct tether *t, struct tether_policy **out)
{
	struct tl_policy p = { 0 };
	struct tl_block b = { 0 };
	struct tether_policy *o;
	int rc;

	*out = NULL;
	if ((rc = tl_request(t, TETHER_OP_POLICY, NULL, NULL, tl_got_policy,
			     &p)) < 0)
		return rc;
	tl_block_count_str(&b, p.path);
	tl_block_count_str(&b, p.default_rule);
	tl_block_count(&b, p.rules, p.nrules);
	if (!(o = tl_block_alloc(&b, sizeof(*o)))) {
		tl_policy_clear(&p);
		return tl_fail(t, ENOMEM, "out of memory");
	}
	o->active = p.active;
	o->path = tl_block_str(&b, p.path);
	o->default_rule = tl_block_str(&b, p.default_rule);
	o->rules = tl_block_strv(&b, p.rules, p.nrules);
	o->nrules = p.nrules;
	tl_policy_clear(&p);
	*out = o;
	return 0;
}
