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

static void tl_copy_str(char *dst, size_t size, struct tp_str s)
{
	size_t n = s.p ? s.n : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static void tl_fdinfo_from(struct tether_fdinfo *fi, const struct tp_fdinfo *e)
{
	memset(fi, 0, sizeof(*fi));
	fi->fd = (int)e->fd;
	fi->flags = (int)e->flags;
	fi->cloexec = e->cloexec;
	fi->internal = e->internal;
	tl_copy_str(fi->kind, sizeof(fi->kind), e->kind);
	tl_copy_str(fi->target, sizeof(fi->target), e->target);
	tl_copy_str(fi->label, sizeof(fi->label), e->label);
	tl_copy_str(fi->family, sizeof(fi->family), e->family);
	tl_copy_str(fi->socktype, sizeof(fi->socktype), e->socktype);
	tl_copy_str(fi->role, sizeof(fi->role), e->role);
}

static int tl_list_append(struct tether *t, struct tl_list *l, int which,
			  const struct tp_list *v)
{
	struct tether_fdinfo *nv;
	struct tp_fdinfo e;
	struct tp_err err;
	int rc;

	if (!v->n)
		return 0;
	nv = realloc(l->v[which], (l->n[which] + v->n) * sizeof(*nv));
	if (!nv)
		return tl_fail(t, ENOMEM, "out of memory");
	l->v[which] = nv;
	for (uint32_t i = 0; i < v->n; i++) {
		if ((rc = tp_unpack_fdinfo(&v->o[i], &e, &err)) < 0)
			return tl_fail(t, -rc, "%s", err.msg);
		tl_fdinfo_from(&nv[l->n[which]++], &e);
	}
	return 0;
}

static int tl_got_page(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_list *l = arg;
	struct tp_fd_list r;
	struct tp_err e;
	int rc;

	l->next = 0;
	if ((rc = tp_unpack_list_fds_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if ((rc = tl_list_append(t, l, 0, &r.fds)) < 0 ||
	    (rc = tl_list_append(t, l, 1, &r.internal)) < 0)
		return rc;
	l->next = r.next;
	return 0;
}

static int tl_pack_from(struct tp_w *w, const void *arg)
{
	struct tp_from f = { .has = TP_FROM_FROM,
			     .from = *(const int64_t *)arg };

	return tp_pack_list_fds(w, &f);
}

static int tl_pack_labeled(struct tp_w *w, const void *arg)
{
	struct tp_from f = { .has = TP_FROM_FROM | TP_FROM_LABELED |
				    TP_FROM_PAGED,
			     .from = *(const int64_t *)arg, .labeled = true,
			     .paged = true };

	return tp_pack_list_fds(w, &f);
}

/* LIST_FDS a page at a time, pack saying which, until the server says
 * it has shown everything.  On failure l holds nothing. */
static int tl_list_pages(struct tether *t,
			 int (*pack)(struct tp_w *w, const void *arg),
			 struct tl_list *l)
{
	int64_t from;
	int rc;

	do {
		from = l->next;
		rc = tl_request(t, TETHER_OP_LIST_FDS, pack, &from,
				tl_got_page, l);
	} while (rc == 0 && l->next > from);
	if (rc < 0) {
		free(l->v[0]);
		free(l->v[1]);
		l->v[0] = l->v[1] = NULL;
	}
	return rc;
}

/* Paged too: 4096 labels with long targets do not fit one frame (a
 * server before paging sends them all, "next" 0). */
int tl_list_labeled(struct tether *t, struct tether_fdinfo **v, size_t *n)
{
	struct tl_list l = { { NULL, NULL }, { 0, 0 }, 0 };
	int rc = tl_list_pages(t, tl_pack_labeled, &l);

	if (rc < 0)
		return rc;
	free(l.v[1]);
	*v = l.v[0];
	*n = l.n[0];
	return 0;
}

TETHER_API int tether_list_fds(struct tether *t, struct tether_fdinfo **fds,
			       size_t *nfds, struct tether_fdinfo **internal,
			       size_t *ninternal)
{
	struct tl_list l = { { NULL, NULL }, { 0, 0 }, 0 };
	int rc = tl_list_pages(t, tl_pack_from, &l);

	if (rc < 0)
		return rc;
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

static int tl_pack_label(struct tp_w *w, const void *arg)
{
	const struct tl_label_arg *a = arg;
	struct tp_label l = { .has = TP_LABEL_NAME, .fd = a->fd,
			      .name = tp_str(a->name) };

	return tp_pack_label(w, &l);
}

static int tl_pack_name(struct tp_w *w, const void *arg)
{
	struct tp_unlabel u = { .has = TP_UNLABEL_WHICH,
				.which = { .s = tp_str(arg) } };

	return tp_pack_unlabel(w, &u);
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

static int tl_pack_keep(struct tp_w *w, const void *ctx, uint32_t i)
{
	return tp_w_i64(w, ((const int *)ctx)[i]);
}

static int tl_pack_gc(struct tp_w *w, const void *arg)
{
	const struct tl_gc *g = arg;
	struct tp_gc m = {
		.has = TP_GC_FLAGS,
		.keep = { .n = (uint32_t)g->nkeep, .each = tl_pack_keep,
			  .ctx = g->keep },
		.flags = g->flags,
	};

	return tp_pack_gc(w, &m);
}

static int tl_got_gc(struct tether *t, const msgpack_object *body, void *arg)
{
	struct tl_gc *g = arg;
	struct tp_gc_reply r;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_gc_reply(body, &r, &e)) < 0)
		return tl_fail(t, -rc, "%s", e.msg);
	if (r.closed.n && !(g->closed = malloc(r.closed.n * sizeof(int))))
		return tl_fail(t, ENOMEM, "out of memory");
	for (uint32_t i = 0; i < r.closed.n; i++) {
		int64_t fd = -1;

		tp_obj_i64(&r.closed.o[i], &fd);
		g->closed[i] = (int)fd;
	}
	g->nclosed = r.closed.n;
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
