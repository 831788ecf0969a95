/* LIST_FDS, LABEL, UNLABEL and GC from the controller's side. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

struct tl_list {
	struct tether_fdinfo *v[2];	/* controller's, internal */
	size_t n[2];
	int64_t next;
};

static void tl_copy_str(char *dst, size_t size, const msgpack_object *o)
{
	const char *p;
	size_t n;

	dst[0] = '\0';
	if (tp_obj_str(o, &p, &n) < 0)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(dst, p, n);
	dst[n] = '\0';
}

static void tl_fdinfo_from_map(struct tether_fdinfo *fi,
			       const msgpack_object *m)
{
	const msgpack_object *o;
	int64_t v = -1;

	memset(fi, 0, sizeof(*fi));
	tp_obj_i64(tp_map_get(m, "fd"), &v);
	fi->fd = (int)v;
	v = 0;
	tp_obj_i64(tp_map_get(m, "flags"), &v);
	fi->flags = (int)v;
	o = tp_map_get(m, "cloexec");
	fi->cloexec = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
	o = tp_map_get(m, "internal");
	fi->internal = o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean;
	tl_copy_str(fi->kind, sizeof(fi->kind), tp_map_get(m, "kind"));
	tl_copy_str(fi->target, sizeof(fi->target), tp_map_get(m, "target"));
	tl_copy_str(fi->label, sizeof(fi->label), tp_map_get(m, "label"));
	tl_copy_str(fi->family, sizeof(fi->family), tp_map_get(m, "family"));
	tl_copy_str(fi->socktype, sizeof(fi->socktype),
		    tp_map_get(m, "socktype"));
	tl_copy_str(fi->role, sizeof(fi->role), tp_map_get(m, "role"));
}

static int tl_list_append(struct tl_list *l, int which, const msgpack_object *a)
{
	size_t n;
	const msgpack_object *v = tp_obj_array(a, &n);
	struct tether_fdinfo *nv;

	if (!v)
		return -EPROTO;
	if (!n)
		return 0;
	nv = realloc(l->v[which], (l->n[which] + n) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v[which] = nv;
	for (size_t i = 0; i < n; i++)
		tl_fdinfo_from_map(&nv[l->n[which]++], &v[i]);
	return 0;
}

static int tl_got_page(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_list *l = arg;
	int rc;

	l->next = 0;
	if ((rc = tl_list_append(l, 0, tp_map_get(body, "fds"))) < 0 ||
	    (rc = tl_list_append(l, 1, tp_map_get(body, "internal"))) < 0 ||
	    tp_obj_i64(tp_map_get(body, "next"), &l->next) < 0)
		return tl_fail(t, rc == -ENOMEM ? ENOMEM : EPROTO,
			       "malformed LIST_FDS reply");
	return 0;
}

static void tl_pack_from(msgpack_packer *pk, const void *arg)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_int64(pk, *(const int64_t *)arg);
}

TETHER_API int tether_list_fds(struct tether *t, struct tether_fdinfo **fds,
			       size_t *nfds, struct tether_fdinfo **internal,
			       size_t *ninternal)
{
	struct tl_list l = { { NULL, NULL }, { 0, 0 }, 0 };
	int64_t from = 0;
	int rc;

	/* Pages, until the server says it has shown everything. */
	do {
		from = l.next;
		rc = tl_request(t, TETHER_OP_LIST_FDS, tl_pack_from, &from,
				tl_got_page, &l);
	} while (rc == 0 && l.next > from);
	if (rc < 0) {
		free(l.v[0]);
		free(l.v[1]);
		return rc;
	}
	*fds = l.v[0];
	*nfds = l.n[0];
	if (internal) {
		*internal = l.v[1];
		*ninternal = l.n[1];
	} else {
		free(l.v[1]);
	}
	return 0;
}

struct tl_label_arg {
	int fd;
	const char *name;
};

static void tl_pack_label(msgpack_packer *pk, const void *arg)
{
	const struct tl_label_arg *a = arg;

	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, a->fd);
	tp_pack_str(pk, a->name);
}

static void tl_pack_name(msgpack_packer *pk, const void *arg)
{
	msgpack_pack_array(pk, 1);
	tp_pack_str(pk, arg);
}

TETHER_API int tether_label(struct tether *t, int fd, const char *name)
{
	struct tl_label_arg a = { fd, name };

	if (!name)
		return tl_fail(t, EINVAL, "no label name");
	return tl_request(t, TETHER_OP_LABEL, tl_pack_label, &a, NULL, NULL);
}

TETHER_API int tether_unlabel(struct tether *t, const char *name)
{
	if (!name)
		return tl_fail(t, EINVAL, "no label name");
	return tl_request(t, TETHER_OP_UNLABEL, tl_pack_name, name, NULL, NULL);
}

TETHER_API int tether_fd_by_label(struct tether *t, const char *name)
{
	struct tether_fdinfo *v;
	size_t n;
	int rc = tether_list_fds(t, &v, &n, NULL, NULL);

	if (rc < 0)
		return rc;
	rc = tl_fail(t, ENOENT, "no label \"%s\"", name);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].label, name)) {
			rc = v[i].fd;
			t->err[0] = '\0';
			break;
		}
	free(v);
	return rc;
}

struct tl_gc {
	const int *keep;
	size_t nkeep;
	unsigned flags;
	int *closed;
	size_t nclosed;
};

static void tl_pack_gc(msgpack_packer *pk, const void *arg)
{
	const struct tl_gc *g = arg;

	msgpack_pack_array(pk, 2);
	msgpack_pack_array(pk, g->nkeep);
	for (size_t i = 0; i < g->nkeep; i++)
		msgpack_pack_int(pk, g->keep[i]);
	msgpack_pack_unsigned_int(pk, g->flags);
}

static int tl_got_gc(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_gc *g = arg;
	size_t n;
	const msgpack_object *v = tp_obj_array(tp_map_get(body, "closed"), &n);

	if (!v)
		return tl_fail(t, EPROTO, "malformed GC reply");
	if (n && !(g->closed = malloc(n * sizeof(int))))
		return tl_fail(t, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int64_t fd = -1;

		tp_obj_i64(&v[i], &fd);
		g->closed[i] = (int)fd;
	}
	g->nclosed = n;
	return 0;
}

TETHER_API int tether_gc(struct tether *t, const int *keep, size_t nkeep,
			 unsigned flags, int **closed, size_t *nclosed)
{
	struct tl_gc g = { keep, nkeep, flags, NULL, 0 };
	int rc;

	if (nkeep > TETHER_KEEP_MAX)
		return tl_fail(t, E2BIG, "keep list of %zu fds", nkeep);
	rc = tl_request(t, TETHER_OP_GC, tl_pack_gc, &g, tl_got_gc, &g);
	if (rc < 0) {
		free(g.closed);
		return rc;
	}
	/* What the server closed we no longer hold. */
	if (!(flags & TETHER_GC_DRY_RUN))
		for (size_t i = 0; i < g.nclosed; i++)
			tether_fd_release(t, g.closed[i]);
	if (closed)
		*closed = g.closed;
	else
		free(g.closed);
	if (nclosed)
		*nclosed = g.nclosed;
	return 0;
}

TETHER_API int tether_gc_held(struct tether *t, unsigned flags, int **closed,
			      size_t *nclosed)
{
	return tether_gc(t, t->held, t->nheld, flags, closed, nclosed);
}
