/*
 * What the server holds: LIST_FDS and its entries, LABEL, UNLABEL, GC.
 */
#include "messages.h"
#include "messages_table.h"

static const struct tp_field tp_list_fds_f[] = {
	TP_FIELD(tp_from, "from", from, TP_F_I64, 0, TP_FROM_FROM),
	/* Only labeled fds, from the label table: what a reconnect needs,
	 * at a cost that does not grow with the fds held. */
	TP_FIELD(tp_from, "labeled", labeled, TP_F_BOOL, 0, TP_FROM_LABELED),
	/* The labeled fds a page at a time (1024), "next" as for the
	 * rest; without it all of them in one reply, as before paging. */
	TP_FIELD(tp_from, "paged", paged, TP_F_BOOL, 0, TP_FROM_PAGED),
};
TP_ARRAY_DESC(list_fds, "LIST_FDS", tp_from, tp_list_fds_f, 0);

/* family and socktype for sockets, role for the server's own fds. */
static const struct tp_field tp_fdinfo_f[] = {
	TP_FIELD(tp_fdinfo, TP_K_FD, fd, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_KIND, kind, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_TARGET, target, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_FLAGS, flags, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_CLOEXEC, cloexec, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_LABEL, label, TP_F_STR, TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_fdinfo, TP_K_INTERNAL, internal, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_fdinfo, TP_K_FAMILY, family, TP_F_STR, 0,
		 TP_FDINFO_FAMILY),
	TP_FIELD(tp_fdinfo, TP_K_SOCKTYPE, socktype, TP_F_STR, 0,
		 TP_FDINFO_SOCKTYPE),
	TP_FIELD(tp_fdinfo, TP_K_ROLE, role, TP_F_STR, 0, TP_FDINFO_ROLE),
};
TP_MAP_DESC(fdinfo, "LIST_FDS entry", tp_fdinfo, tp_fdinfo_f);

static const struct tp_field tp_fd_list_f[] = {
	TP_LIST(tp_fd_list, TP_K_FDS, fds, TP_F_MSG, TP_REQ, 0,
		&tp_fdinfo_desc),
	TP_LIST(tp_fd_list, TP_K_INTERNAL, internal, TP_F_MSG, TP_REQ, 0,
		&tp_fdinfo_desc),
	TP_FIELD(tp_fd_list, TP_K_NEXT, next, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(list_fds_reply, "LIST_FDS reply", tp_fd_list, tp_fd_list_f);

/* A name of another type is no protocol error: the server says EINVAL,
 * as for a name too long. */
static const struct tp_field tp_label_f[] = {
	TP_FIELD(tp_label, "fd", fd, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_label, "name", name, TP_F_STR, TP_REQ | TP_LAX,
		 TP_LABEL_NAME),
};
TP_ARRAY_DESC(label, "LABEL", tp_label, tp_label_f, 2);

static const struct tp_field tp_label_reply_f[] = {
	TP_FIELD(tp_label_reply, TP_K_FD, fd, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_label_reply, TP_K_LABEL, label, TP_F_STR, TP_REQ, 0),
};
TP_MAP_DESC(label_reply, "LABEL reply", tp_label_reply, tp_label_reply_f);

static const struct tp_field tp_unlabel_f[] = {
	TP_FIELD(tp_unlabel, "name or fd", which, TP_F_INTSTR,
		 TP_REQ | TP_LAX, TP_UNLABEL_WHICH),
};
TP_ARRAY_DESC(unlabel, "UNLABEL", tp_unlabel, tp_unlabel_f, 1);

TP_MAP_DESC(unlabel_reply, "UNLABEL reply", tp_label_reply,
	    tp_label_reply_f);

/* The keep list's entries are the server's to check (EINVAL). */
static const struct tp_field tp_gc_f[] = {
	TP_LIST(tp_gc, "keep", keep, TP_F_I64, TP_REQ | TP_DEFER, 0, NULL),
	TP_FIELD(tp_gc, "flags", flags, TP_F_U64, 0, TP_GC_FLAGS),
};
TP_ARRAY_DESC(gc, "GC", tp_gc, tp_gc_f, 1);

static const struct tp_field tp_gc_reply_f[] = {
	TP_LIST(tp_gc_reply, TP_K_CLOSED, closed, TP_F_I64, TP_REQ, 0, NULL),
	TP_FIELD(tp_gc_reply, TP_K_KEPT, kept, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_gc_reply, TP_K_DRY_RUN, dry_run, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_gc_reply, TP_K_USEC, usec, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(gc_reply, "GC reply", tp_gc_reply, tp_gc_reply_f);
