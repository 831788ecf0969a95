/*
 * Labels: names for fds that outlive the controller that gave them, so a
 * restarted one finds "the database socket" without saved state.  A
 * label is bound to the file, not the number: closing or replacing the
 * fd through the server drops it at once, and any other change is caught
 * by comparing the file's identity before a label is trusted.
 */
#include <errno.h>
#include <linux/close_range.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tetherd.h"

#define TD_LABELS_MAX 4096

struct td_label {
	struct td_label *next;
	int fd;
	dev_t dev;
	ino_t ino;
	mode_t type;
	int stored;			/* in the fd store under this fd, or -1 */
	char name[TETHER_LABEL_MAX + 1];
};

static void td_label_unlink(struct td_server *srv, struct td_label **pp,
			    const char *why)
{
	struct td_label *l = *pp;

	td_log("label \"%s\" on fd %d dropped: %s", l->name, l->fd, why);
	td_fdstore_drop(srv, l->stored, l->name);
	*pp = l->next;
	srv->fds.nlabels--;
	free(l);
}

/* Drop labels whose fd no longer refers to the labeled file. */
void td_labels_validate(struct td_server *srv)
{
	struct td_label **pp = &srv->fds.labels;
	struct stat st;

	while (*pp) {
		struct td_label *l = *pp;

		if (td_fstat_nowait(l->fd, &st, NULL) < 0)
			td_label_unlink(srv, pp, "fd closed");
		else if (st.st_dev != l->dev || st.st_ino != l->ino ||
			 (st.st_mode & S_IFMT) != l->type)
			td_label_unlink(srv, pp, "fd now refers to another file");
		else
			pp = &l->next;
	}
}

const char *td_label_of(const struct td_server *srv, int fd)
{
	for (const struct td_label *l = srv->fds.labels; l; l = l->next)
		if (l->fd == fd)
			return l->name;
	return NULL;
}

size_t td_labels_fds(const struct td_server *srv, int *out, size_t max)
{
	size_t n = 0;

	for (const struct td_label *l = srv->fds.labels; l && n < max;
	     l = l->next)
		out[n++] = l->fd;
	return n;
}

static void td_labels_drop_range(struct td_server *srv, uint64_t first,
				 uint64_t last, const char *why)
{
	struct td_label **pp = &srv->fds.labels;

	while (*pp) {
		if ((uint64_t)(*pp)->fd >= first && (uint64_t)(*pp)->fd <= last)
			td_label_unlink(srv, pp, why);
		else
			pp = &(*pp)->next;
	}
}

/* A syscall the server ran closed or replaced fds: forget their labels
 * now, before the numbers can be reused. */
void td_labels_syscall_done(struct td_server *srv, long nr,
			    const uint64_t *regs, long ret)
{
	if (!srv->fds.labels)
		return;
	switch (nr) {
	case SYS_close:
		/* Linux closes the fd even when close() says EINTR. */
		if (ret == 0 || ret == -EINTR)
			td_labels_drop_range(srv, (uint32_t)regs[0],
					     (uint32_t)regs[0], "closed");
		break;
	case SYS_dup2:
	case SYS_dup3:
		if (ret >= 0 && (uint32_t)regs[0] != (uint32_t)regs[1])
			td_labels_drop_range(srv, (uint32_t)regs[1],
					     (uint32_t)regs[1], "replaced by dup");
		break;
	case SYS_close_range:
		if (ret == 0 && !(regs[2] & CLOSE_RANGE_CLOEXEC))
			td_labels_drop_range(srv, (uint32_t)regs[0],
					     (uint32_t)regs[1], "closed");
		break;
	}
}

static int td_label_name(struct td_req *r, const struct tp_str *name)
{
	if (!name)
		return td_req_fail(r, EINVAL, "label name must be a string");
	if (name->n == 0 || name->n > TETHER_LABEL_MAX)
		return td_req_fail(r, EINVAL, "label name of %zu bytes (1 to "
				   "%u)", name->n, TETHER_LABEL_MAX);
	for (size_t i = 0; i < name->n; i++)
		if ((unsigned char)name->p[i] < 0x20 || name->p[i] == 0x7f)
			return td_req_fail(r, EINVAL, "label name has a control "
					   "character");
	return 0;
}

static struct td_label **td_label_find(struct td_server *srv,
				       const char *name, size_t n)
{
	struct td_label **pp = &srv->fds.labels;

	for (; *pp; pp = &(*pp)->next)
		if (strlen((*pp)->name) == n && !memcmp((*pp)->name, name, n))
			return pp;
	return NULL;
}

int td_label_set(struct td_req *r, int64_t fd, const struct tp_str *name,
		 struct tp_label_reply *done)
{
	struct td_server *srv = r->srv;
	struct td_label **pp, *l;
	struct stat st;
	int rc;

	if ((rc = td_label_name(r, name)) < 0)
		return rc;
	if (fd < 0 || fd > INT32_MAX || td_ifd_is((int)fd) ||
	    td_fstat_nowait((int)fd, &st, NULL) < 0)
		return td_req_fail(r, EBADF, "fd %lld is not open",
				   (long long)fd);
	td_labels_validate(srv);
	if ((pp = td_label_find(srv, name->p, name->n)) && (*pp)->fd != fd)
		return td_req_fail(r, EEXIST, "label \"%.*s\" is on fd %d",
				   (int)name->n, name->p, (*pp)->fd);
	for (l = srv->fds.labels; l && l->fd != fd; l = l->next)
		;
	if (!l) {
		if (srv->fds.nlabels >= TD_LABELS_MAX)
			return td_req_fail(r, ENOSPC, "%d labels already",
					   TD_LABELS_MAX);
		if (!(l = calloc(1, sizeof(*l))))
			return td_req_fail(r, ENOMEM, "out of memory");
		l->stored = -1;
		l->next = srv->fds.labels;
		srv->fds.labels = l;
		srv->fds.nlabels++;
	}
	/* A new name (or a new file under the old one) is a new entry in
	 * the store: the old one goes first. */
	td_fdstore_drop(srv, l->stored, l->name);
	l->fd = (int)fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->type = st.st_mode & S_IFMT;
	memcpy(l->name, name->p, name->n);
	l->name[name->n] = '\0';
	l->stored = td_fdstore_put(srv, l->fd, l->name);
	td_log("fd %d labeled \"%s\"%s", l->fd, l->name,
	       l->stored >= 0 ? " (kept in the fd store)" : "");
	if (done)
		*done = (struct tp_label_reply){ .fd = l->fd,
						 .label = tp_str(l->name) };
	return 0;
}

/* LABEL [fd, name]: one label per fd, one fd per label. */
int td_do_label(struct td_req *r)
{
	struct tp_label req;
	struct tp_label_reply rep;
	struct tp_err e;
	int rc;

	if ((rc = tp_unpack_label(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if ((rc = td_label_set(r, req.fd, req.has & TP_LABEL_NAME ? &req.name
								  : NULL,
			       &rep)) < 0)
		return rc;
	return tp_pack_label_reply(r->w, &rep);
}

/* UNLABEL [name] or [fd]. */
int td_do_unlabel(struct td_req *r)
{
	struct td_server *srv = r->srv;
	struct tp_unlabel req;
	struct tp_label_reply rep;
	struct tp_err e;
	struct td_label **pp = NULL;
	int rc;

	if ((rc = tp_unpack_unlabel(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	td_labels_validate(srv);
	if ((req.has & TP_UNLABEL_WHICH) && req.which.is_int) {
		for (pp = &srv->fds.labels; *pp && (*pp)->fd != req.which.i;
		     pp = &(*pp)->next)
			;
		if (!*pp)
			return td_req_fail(r, ENOENT, "fd %lld has no label",
					   (long long)req.which.i);
	} else {
		if ((rc = td_label_name(r, req.has & TP_UNLABEL_WHICH
					       ? &req.which.s : NULL)) < 0)
			return rc;
		if (!(pp = td_label_find(srv, req.which.s.p, req.which.s.n)))
			return td_req_fail(r, ENOENT, "no label \"%.*s\"",
					   (int)req.which.s.n, req.which.s.p);
	}
	/* Packed before the label goes: the reply points at its name. */
	rep = (struct tp_label_reply){ .fd = (*pp)->fd,
				       .label = tp_str((*pp)->name) };
	rc = tp_pack_label_reply(r->w, &rep);
	td_label_unlink(srv, pp, "unlabeled");
	return rc;
}

int td_label_restore(struct td_server *srv, int fd, const char *name,
		     int stored)
{
	struct td_label *l;
	struct stat st;
	int rc;

	if (td_label_find(srv, name, strlen(name)))
		return -EEXIST;
	if (srv->fds.nlabels >= TD_LABELS_MAX)
		return -ENOSPC;
	if ((rc = td_fstat_nowait(fd, &st, NULL)) < 0)
		return rc;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	l->type = st.st_mode & S_IFMT;
	l->stored = stored;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->next = srv->fds.labels;
	srv->fds.labels = l;
	srv->fds.nlabels++;
	td_log("fd %d labeled \"%s\" again, from the fd store", fd, l->name);
	return 0;
}

void td_labels_free(struct td_server *srv)
{
	while (srv->fds.labels) {
		struct td_label *l = srv->fds.labels;

		srv->fds.labels = l->next;
		free(l);
	}
	srv->fds.nlabels = 0;
}

/* upgrade/: every label as it is (fn stops the walk by returning
 * nonzero), and one put back after the exec, oldest first. */
int td_labels_each(struct td_server *srv,
		   int (*fn)(void *ctx, int fd, dev_t dev, ino_t ino,
			     mode_t type, const char *name),
		   void *ctx)
{
	int rc;

	for (const struct td_label *l = srv->fds.labels; l; l = l->next)
		if ((rc = fn(ctx, l->fd, l->dev, l->ino, l->type, l->name)))
			return rc;
	return 0;
}

int td_label_carry(struct td_server *srv, int fd, dev_t dev, ino_t ino,
		     mode_t type, const char *name)
{
	struct td_label *l, **tail = &srv->fds.labels;

	if (strlen(name) > TETHER_LABEL_MAX || !*name ||
	    srv->fds.nlabels >= TD_LABELS_MAX)
		return -EINVAL;
	if (!(l = calloc(1, sizeof(*l))))
		return -ENOMEM;
	l->fd = fd;
	l->dev = dev;
	l->ino = ino;
	l->type = type;
	strcpy(l->name, name);
	/* appended: the saved list was walked newest first */
	while (*tail)
		tail = &(*tail)->next;
	*tail = l;
	srv->fds.nlabels++;
	return 0;
}
