/*
 * Remote memory: anonymous mappings a controller allocates in the server
 * and fills or reads through the data socket, to compose syscalls that
 * take pointers (structs, iovecs, msghdrs) the way rsyscall does.  They
 * are tracked, so a reconnecting controller can list and free what a
 * dead one left; an address outside a live allocation is EFAULT.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_MEMS_MAX 4096

struct td_mem {
	struct td_mem *next;
	uint64_t addr;
	uint64_t size;
	uint64_t generation;
	int64_t since;
};

int td_mem_check(struct td_server *srv, uint64_t addr, uint64_t len)
{
	for (struct td_mem *m = srv->mems; m; m = m->next)
		if (addr >= m->addr && addr - m->addr <= m->size &&
		    len <= m->size - (addr - m->addr))
			return 0;
	return -EFAULT;
}

/* Does [addr, addr+len) touch an allocation?  (munmap and friends.) */
bool td_mem_overlaps(struct td_server *srv, uint64_t addr, uint64_t len)
{
	for (struct td_mem *m = srv->mems; m; m = m->next)
		if (addr < m->addr + m->size && m->addr < addr + len)
			return true;
	return false;
}

/* memcpy that cannot fault: the kernel checks both ranges. */
int td_mem_copy(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)src, n };
	ssize_t k = process_vm_readv(getpid(), &l, 1, &r, 1, 0);

	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : -EFAULT;
}

int td_do_mem_alloc(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_mem *m;
	uint64_t size;
	void *p;
	int rc;

	if (!b || nb != 1 || tp_obj_u64(&b[0], &size) < 0)
		return td_req_fail(r, EPROTO, "MEM_ALLOC body is [size]");
	if (size == 0 || size > TETHER_MEM_MAX)
		return td_req_fail(r, EINVAL, "size %llu (1 to %llu)",
				   (unsigned long long)size,
				   (unsigned long long)TETHER_MEM_MAX);
	if (r->srv->nmems >= TD_MEMS_MAX)
		return td_req_fail(r, ENOSPC, "%d allocations already",
				   TD_MEMS_MAX);
	if ((rc = td_policy_check_op(r, "MEM_ALLOC", SYS_mmap, 0, size,
				     PROT_READ | PROT_WRITE, MAP_PRIVATE |
				     MAP_ANONYMOUS | MAP_NORESERVE)) < 0)
		return rc;
	if (!(m = calloc(1, sizeof(*m))))
		return td_req_fail(r, ENOMEM, "out of memory");
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		free(m);
		return td_req_fail(r, errno, "mmap: %s", strerror(errno));
	}
	m->addr = (uint64_t)(uintptr_t)p;
	m->size = size;
	m->generation = r->conn->generation;
	m->since = (int64_t)time(NULL);
	m->next = r->srv->mems;
	r->srv->mems = m;
	r->srv->nmems++;
	msgpack_pack_map(r->pk, 2);
	tp_pack_kv_int(r->pk, "addr", (int64_t)m->addr);
	tp_pack_kv_int(r->pk, "size", (int64_t)size);
	return 0;
}

int td_do_mem_free(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_mem **pp, *m;
	uint64_t addr;

	if (!b || nb != 1 || tp_obj_u64(&b[0], &addr) < 0)
		return td_req_fail(r, EPROTO, "MEM_FREE body is [addr]");
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	for (pp = &r->srv->mems; *pp && (*pp)->addr != addr; pp = &(*pp)->next)
		;
	if (!(m = *pp))
		return td_req_fail(r, EFAULT, "0x%llx is not an allocation",
				   (unsigned long long)addr);
	munmap((void *)(uintptr_t)m->addr, m->size);
	*pp = m->next;
	r->srv->nmems--;
	free(m);
	msgpack_pack_map(r->pk, 1);
	tp_pack_kv_int(r->pk, "addr", (int64_t)addr);
	return 0;
}

int td_do_mem_list(struct td_req *r)
{
	msgpack_pack_map(r->pk, 1);
	tp_pack_str(r->pk, "mems");
	msgpack_pack_array(r->pk, r->srv->nmems);
	for (struct td_mem *m = r->srv->mems; m; m = m->next) {
		msgpack_pack_map(r->pk, 4);
		tp_pack_kv_int(r->pk, "addr", (int64_t)m->addr);
		tp_pack_kv_int(r->pk, "size", (int64_t)m->size);
		tp_pack_kv_int(r->pk, "generation", (int64_t)m->generation);
		tp_pack_kv_int(r->pk, "since", m->since);
	}
	return 0;
}

static void td_mem_done(struct td_conn *c, struct td_xfer *x, int err)
{
	struct tp_msg m;

	tp_msg_init(&m);
	if (err) {
		tp_msg_error(&m, x->id, -err, "transfer failed: %s",
			     strerror(-err));
	} else {
		tp_msg_reply(&m, x->id, 0);
		msgpack_pack_map(&m.pk, 3);
		tp_pack_kv_bool(&m.pk, "done", true);
		tp_pack_kv_int(&m.pk, "bytes", (int64_t)x->done);
		tp_pack_kv_int(&m.pk, "xxh3", (int64_t)td_xfer_digest(x));
		tp_msg_finish(&m);
	}
	if (!c->closing)
		td_conn_queue(c, &m);
	tp_msg_destroy(&m);
	td_xfer_free(x);
}

/* MEM_WRITE [addr, len] / MEM_READ [addr, len]: {"ready"} or {"size"}
 * now, chunks, then {"done", "bytes", "xxh3"}. */
static int td_mem_xfer(struct td_req *r, bool sending)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_xfer *x;
	struct tp_msg m;
	uint64_t addr, len;
	int rc;

	if (!b || nb != 2 || tp_obj_u64(&b[0], &addr) < 0 ||
	    tp_obj_u64(&b[1], &len) < 0)
		return td_req_fail(r, EPROTO, "body is [addr, len]");
	if (td_mem_check(r->srv, addr, len) < 0)
		return td_req_fail(r, EFAULT, "[0x%llx, +%llu) is not inside "
				   "an allocation", (unsigned long long)addr,
				   (unsigned long long)len);
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	if (!(x = calloc(1, sizeof(*x))))
		return td_req_fail(r, ENOMEM, "out of memory");
	x->sending = sending;
	x->id = r->id;
	x->fd = -1;
	x->mem = (char *)(uintptr_t)addr;
	x->total = len;
	x->done_cb = td_mem_done;
	tp_msg_init(&m);
	tp_msg_reply(&m, r->id, 0);
	msgpack_pack_map(&m.pk, 1);
	if (sending)
		tp_pack_kv_int(&m.pk, "size", (int64_t)len);
	else
		tp_pack_kv_bool(&m.pk, "ready", true);
	if (tp_msg_finish(&m) == 0)
		td_conn_queue(r->conn, &m);
	tp_msg_destroy(&m);
	if ((rc = td_xfer_start(r->conn, x)) < 0)
		x->done_cb(r->conn, x, rc);
	return TD_REPLY_LATER;
}

int td_do_mem_write(struct td_req *r)
{
	return td_mem_xfer(r, false);
}

int td_do_mem_read(struct td_req *r)
{
	return td_mem_xfer(r, true);
}

void td_mem_free_all(struct td_server *srv)
{
	while (srv->mems) {
		struct td_mem *m = srv->mems;

		srv->mems = m->next;
		munmap((void *)(uintptr_t)m->addr, m->size);
		free(m);
	}
	srv->nmems = 0;
}
