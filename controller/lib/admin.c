/* Requests about the server itself: status, make persistent, shutdown,
 * the policy it enforces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "libtether.h"

static void tl_pack_empty(msgpack_packer *pk, const void *arg)
{
	(void)arg;
	msgpack_pack_array(pk, 0);
}

int tl_request(struct tether *t, unsigned op,
	       void (*pack)(msgpack_packer *pk, const void *arg),
	       const void *parg,
	       int (*fn)(struct tether *t, const msgpack_object *body,
			 void *arg),
	       void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int rc;

	tp_msg_init(&m);
	tp_msg_request(&m, id, op);
	(pack ? pack : tl_pack_empty)(&m.pk, parg);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	if (fn)
		rc = fn(t, in.body, arg);
	tp_in_destroy(&in);
	return rc;
}

static int tl_got_status(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tether_status *st = arg;

	*st = t->info;
	tl_status_from_map(st, body);
	/* Keep our own view current too. */
	t->info.persistent = st->persistent;
	return 0;
}

TETHER_API int tether_status(struct tether *t, struct tether_status *st)
{
	return tl_request(t, TETHER_OP_STATUS, NULL, NULL, tl_got_status, st);
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

/* A msgpack str as a new C string, or NULL. */
static char *tl_dup_obj(const msgpack_object *o)
{
	const char *p;
	size_t n;

	if (tp_obj_str(o, &p, &n) < 0)
		return NULL;
	return strndup(p, n);
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
	const msgpack_object *o = tp_map_get(body, "active"), *v;
	size_t n = 0;

	if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
		return tl_fail(t, EPROTO, "POLICY answer without \"active\"");
	if (!(p->active = o->via.boolean))
		return 0;
	p->path = tl_dup_obj(tp_map_get(body, "path"));
	p->default_rule = tl_dup_obj(tp_map_get(body, "default"));
	if ((v = tp_obj_array(tp_map_get(body, "rules"), &n)) && n &&
	    !(p->rules = calloc(n, sizeof(char *))))
		goto oom;
	for (size_t i = 0; v && i < n; i++, p->nrules++)
		if (!(p->rules[i] = tl_dup_obj(&v[i])))
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
