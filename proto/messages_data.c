/*
 * What goes with the data socket: GET and PUT (files), GIVE and TAKE
 * (fds), and remote memory (MEM_*).  A transfer has an interim reply
 * ("ready", or the size to expect) and a final one (transfer done).
 */
#include "messages.h"
#include "messages_table.h"

/* ---- files -------------------------------------------------------------- */

/* A path of another type is no protocol error: the server says EINVAL,
 * as for an empty one. */
static const struct tp_field tp_get_f[] = {
	TP_FIELD(tp_path, "path", path, TP_F_STR, TP_REQ | TP_LAX,
		 TP_PATH_PATH),
	TP_FIELD(tp_path, "fdpass", fdpass, TP_F_BOOL, 0, TP_PATH_FDPASS),
};
TP_ARRAY_DESC(get, "GET", tp_path, tp_get_f, 1);

static const struct tp_field tp_get_ready_f[] = {
	TP_FIELD(tp_ready, TP_K_SIZE, size, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_ready, TP_K_MODE, mode, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_ready, TP_K_FDPASS, fdpass, TP_F_BOOL, 0, TP_READY_FDPASS),
};
TP_MAP_DESC(get_ready, "GET ready", tp_ready, tp_get_ready_f);

static const struct tp_field tp_xfer_done_f[] = {
	TP_FIELD(tp_xfer_done, TP_K_DONE, done, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_xfer_done, TP_K_BYTES, bytes, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_xfer_done, TP_K_XXH3, xxh3, TP_F_SREG, TP_REQ, 0),
	TP_FIELD(tp_xfer_done, TP_K_PATH, path, TP_F_STR, 0,
		 TP_XFER_DONE_PATH),
};
TP_MAP_DESC(xfer_done, "transfer done", tp_xfer_done, tp_xfer_done_f);

static const struct tp_field tp_put_f[] = {
	TP_FIELD(tp_path, "path", path, TP_F_STR, TP_REQ | TP_LAX,
		 TP_PATH_PATH),
	TP_FIELD(tp_path, "mode", mode, TP_F_I64, 0, TP_PATH_MODE),
	TP_FIELD(tp_path, "fdpass", fdpass, TP_F_BOOL, 0, TP_PATH_FDPASS),
};
TP_ARRAY_DESC(put, "PUT", tp_path, tp_put_f, 1);

static const struct tp_field tp_put_ready_f[] = {
	TP_FIELD(tp_ready, TP_K_READY, ready, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_ready, TP_K_FDPASS, fdpass, TP_F_BOOL, 0, TP_READY_FDPASS),
};
TP_MAP_DESC(put_ready, "PUT ready", tp_ready, tp_put_ready_f);

static const struct tp_field tp_ready_f[] = {
	TP_FIELD(tp_ready, TP_K_READY, ready, TP_F_BOOL, TP_REQ, 0),
};

/* ---- fds ---------------------------------------------------------------- */

static const struct tp_field tp_give_f[] = {
	TP_FIELD(tp_fd, "fd", fd, TP_F_I64, TP_REQ, 0),
};
TP_ARRAY_DESC(give, "GIVE", tp_fd, tp_give_f, 1);

static const struct tp_field tp_fd_reply_f[] = {
	TP_FIELD(tp_fd, TP_K_FD, fd, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(give_reply, "GIVE reply", tp_fd, tp_fd_reply_f);

/* A label of another type is ignored: the fd is taken, unlabeled. */
static const struct tp_field tp_take_f[] = {
	TP_FIELD(tp_take, "label", label, TP_F_STR, TP_LAX, TP_TAKE_LABEL),
};
TP_ARRAY_DESC(take, "TAKE", tp_take, tp_take_f, 0);

TP_MAP_DESC(take_reply, "TAKE reply", tp_fd, tp_fd_reply_f);

/* ---- remote memory ------------------------------------------------------ */

static const struct tp_field tp_mem_alloc_f[] = {
	TP_FIELD(tp_mem_req, "size", size, TP_F_U64, TP_REQ, 0),
};
TP_ARRAY_DESC(mem_alloc, "MEM_ALLOC", tp_mem_req, tp_mem_alloc_f, 1);

static const struct tp_field tp_mem_alloc_reply_f[] = {
	TP_FIELD(tp_mem, TP_K_ADDR, addr, TP_F_SREG, TP_REQ, 0),
	TP_FIELD(tp_mem, TP_K_SIZE, size, TP_F_U64, TP_REQ, 0),
};
TP_MAP_DESC(mem_alloc_reply, "MEM_ALLOC reply", tp_mem,
	    tp_mem_alloc_reply_f);

static const struct tp_field tp_mem_free_f[] = {
	TP_FIELD(tp_mem_req, "addr", addr, TP_F_U64, TP_REQ, 0),
};
TP_ARRAY_DESC(mem_free, "MEM_FREE", tp_mem_req, tp_mem_free_f, 1);

static const struct tp_field tp_mem_free_reply_f[] = {
	TP_FIELD(tp_mem, TP_K_ADDR, addr, TP_F_SREG, TP_REQ, 0),
};
TP_MAP_DESC(mem_free_reply, "MEM_FREE reply", tp_mem, tp_mem_free_reply_f);

const struct tp_desc tp_mem_list_desc = {
	.name = "MEM_LIST", .shape = TP_ARRAY, .lax = true,
	.size = sizeof(struct tp_empty),
};

static const struct tp_field tp_mem_entry_f[] = {
	TP_FIELD(tp_mem, TP_K_ADDR, addr, TP_F_SREG, TP_REQ, 0),
	TP_FIELD(tp_mem, TP_K_SIZE, size, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_mem, TP_K_GENERATION, generation, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_mem, TP_K_SINCE, since, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(mem_entry, "MEM_LIST entry", tp_mem, tp_mem_entry_f);

static const struct tp_field tp_mem_list_reply_f[] = {
	TP_LIST(tp_mem_list, TP_K_MEMS, mems, TP_F_MSG, TP_REQ, 0,
		&tp_mem_entry_desc),
};
TP_MAP_DESC(mem_list_reply, "MEM_LIST reply", tp_mem_list,
	    tp_mem_list_reply_f);

static const struct tp_field tp_mem_xfer_f[] = {
	TP_FIELD(tp_mem_req, "addr", addr, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_mem_req, "len", size, TP_F_U64, TP_REQ, 0),
};
TP_ARRAY_DESC(mem_write, "MEM_WRITE", tp_mem_req, tp_mem_xfer_f, 2);

TP_MAP_DESC(mem_write_ready, "MEM_WRITE ready", tp_ready, tp_ready_f);

TP_ARRAY_DESC(mem_read, "MEM_READ", tp_mem_req, tp_mem_xfer_f, 2);

static const struct tp_field tp_mem_read_ready_f[] = {
	TP_FIELD(tp_ready, TP_K_SIZE, size, TP_F_U64, TP_REQ, 0),
};
TP_MAP_DESC(mem_read_ready, "MEM_READ ready", tp_ready,
	    tp_mem_read_ready_f);
