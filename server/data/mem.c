/*
 * Remote memory: anonymous mappings a controller allocates in the server
 * and fills or reads through the data socket, to compose syscalls that
 * take pointers (structs, iovecs, msghdrs) the way rsyscall does.  They
 * are tracked, so a reconnecting controller can list and free what a
 * dead one left; an address outside a live allocation is EFAULT.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
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
	for (struct td_mem *m = srv->mem.list; m; m = m->next)
		if (addr >= m->addr && addr - m->addr <= m->size &&
		    len <= m->size - (addr - m->addr))
			return 0;
	return -EFAULT;
}

/* Does [addr, addr+len) touch an allocation?  (munmap and friends.)
 * Written so that nothing wraps: addr + len may exceed 2^64. */
bool td_mem_overlaps(struct td_server *srv, uint64_t addr, uint64_t len)
{
	if (!len)
		return false;
	for (struct td_mem *m = srv->mem.list; m; m = m->next)
		if (addr >= m->addr ? addr - m->addr < m->size
				    : m->addr - addr < len)
			return true;
	return false;
}

/* Copies that cannot fault: the kernel checks both ranges. */
static int td_mem_vm(void *dst, const void *src, size_t n)
{
	struct iovec l = { dst, n }, r = { (void *)src, n };
	ssize_t k = process_vm_readv(getpid(), &l, 1, &r, 1, 0);

	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : -EFAULT;
}

int td_mem_write(void *dst, const void *src, size_t n)
{
	return td_mem_vm(dst, src, n);
}

static int td_pagemap_fd = -1;

/* Which pages of [p, p + n) were ever touched: a page neither present
 * nor swapped was never written, and reads as zeros.  Reading it would
 * make it resident (a 512 MiB read of fresh memory: +512 MiB). */
static int td_mem_untouched(const char *p, size_t n, uint64_t *ent,
			    size_t nent)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t first = (uintptr_t)p / page;

	if (td_pagemap_fd < 0) {
		int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

		if ((td_pagemap_fd = td_ifd_adopt(fd < 0 ? -errno : fd,
						  "pagemap")) < 0)
			return td_pagemap_fd;
	}
	(void)n;
	return tp_pread_all(td_pagemap_fd, ent, nent * sizeof(uint64_t),
			    (off_t)(first * sizeof(uint64_t)));
}

int td_mem_read(void *dst, const void *src, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t s = (uintptr_t)src, end = s + n;
	uintptr_t first = s / page, last = (end - 1) / page;
	uint64_t ent[(TETHER_CHUNK_MAX / 4096) + 2];
	size_t nent = last - first + 1;
	char *d = dst;
	int rc;

	if (!n)
		return 0;
	if (nent > sizeof(ent) / sizeof(ent[0]) ||
	    td_mem_untouched(src, n, ent, nent) < 0)
		return td_mem_vm(dst, src, n);	/* no map: plain copy */
	/* Runs of pages, copied or zeroed alike. */
	for (size_t i = 0; i < nent;) {
		bool touched = ent[i] & (3ull << 62);	/* present, swapped */
		size_t j = i + 1;
		uintptr_t a, b;

		while (j < nent && !!(ent[j] & (3ull << 62)) == touched)
			j++;
		a = (first + i) * page;
		b = (first + j) * page;
		if (a < s)
			a = s;
		if (b > end)
			b = end;
		if (!touched)
			memset(d + (a - s), 0, b - a);
		else if ((rc = td_mem_vm(d + (a - s), (void *)a, b - a)) < 0)
			return rc;
		i = j;
	}
	return 0;
}

int td_do_mem_alloc(struct td_req *r)
{
	struct tp_mem_req req;
	struct tp_mem rep;
	struct tp_err e;
	struct td_mem *m;
	uint64_t size;
	void *p;
	int rc;

	if ((rc = tp_unpack_mem_alloc(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	size = req.size;
	if (size == 0 || size > TETHER_MEM_MAX)
		return td_req_fail(r, EINVAL, "size %llu (1 to %llu)",
				   (unsigned long long)size,
				   (unsigned long long)TETHER_MEM_MAX);
	if (r->srv->mem.n >= TD_MEMS_MAX)
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
	rep = (struct tp_mem){ .addr = (uint64_t)(uintptr_t)p, .size = size };
	/* Nobody would know of an allocation whose answer failed. */
	if ((rc = tp_pack_mem_alloc_reply(r->w, &rep)) < 0) {
		munmap(p, size);
		free(m);
		return rc;
	}
	m->addr = rep.addr;
	m->size = size;
	m->generation = r->conn->generation;
	m->since = (int64_t)time(NULL);
	m->next = r->srv->mem.list;
	r->srv->mem.list = m;
	r->srv->mem.n++;
	return 0;
}

int td_do_mem_free(struct td_req *r)
{
	struct tp_mem_req req;
	struct tp_mem rep;
	struct tp_err e;
	struct td_mem **pp, *m;
	uint64_t addr;
	int rc;

	if ((rc = tp_unpack_mem_free(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	addr = req.addr;
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	for (pp = &r->srv->mem.list; *pp && (*pp)->addr != addr; pp = &(*pp)->next)
		;
	if (!(m = *pp))
		return td_req_fail(r, EFAULT, "0x%llx is not an allocation",
				   (unsigned long long)addr);
	munmap((void *)(uintptr_t)m->addr, m->size);
	*pp = m->next;
	r->srv->mem.n--;
	free(m);
	rep = (struct tp_mem){ .addr = addr };
	return tp_pack_mem_free_reply(r->w, &rep);
}

/* MEM_LIST's entries, in list order. */
static int td_mem_pack_one(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_mem **at = (const struct td_mem **)ctx;
	const struct td_mem *m = *at;
	struct tp_mem e = { .addr = m->addr, .size = m->size,
			    .generation = m->generation, .since = m->since };

	(void)i;
	*at = m->next;
	return tp_pack_mem_entry(w, &e);
}

int td_do_mem_list(struct td_req *r)
{
	const struct td_mem *at = r->srv->mem.list;
	struct tp_mem_list rep = {
		.mems = { .n = r->srv->mem.n, .each = td_mem_pack_one,
			  .ctx = &at },
	};

	return tp_pack_mem_list_reply(r->w, &rep);
}

/* MEM_READ and MEM_WRITE: a transfer between the data socket and remote
 * memory. */
struct td_memjob {
	struct td_job job;
	struct td_xfer x;
};

static void td_mem_over(struct td_xfer *x, int err)
{
	td_xfer_reply(x, err, NULL);
	td_job_end(x->job);
}

static void td_mem_release(struct td_job *j)
{
	struct td_memjob *mj = (struct td_memjob *)j;

	td_xfer_release(&mj->x);
	free(mj);
}

static const struct td_job_ops td_mem_ops = {
	.name = "MEM",
	.release = td_mem_release,
};

/* MEM_WRITE [addr, len] / MEM_READ [addr, len]: {"ready"} or {"size"}
 * now, chunks, then {"done", "bytes", "xxh3"}. */
static int td_mem_xfer(struct td_req *r, bool sending)
{
	struct tp_mem_req req;
	struct tp_ready rep = { .ready = true };
	struct tp_err e;
	struct td_memjob *mj;
	struct tp_msg m;
	uint64_t addr, len;
	int rc;

	if ((rc = tp_unpack(r->body, sending ? &tp_mem_read_desc
						: &tp_mem_write_desc,
			    &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	addr = req.addr;
	len = rep.size = req.size;
	if (td_mem_check(r->srv, addr, len) < 0)
		return td_req_fail(r, EFAULT, "[0x%llx, +%llu) is not inside "
				   "an allocation", (unsigned long long)addr,
				   (unsigned long long)len);
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	/* {size} or {ready}, built before anything starts: if it cannot
	 * be, nothing does. */
	tp_msg_init(&m);
	tp_msg_reply(&m, r->id, 0);
	if (sending)
		tp_pack_mem_read_ready(&m.w, &rep);
	else
		tp_pack_mem_write_ready(&m.w, &rep);
	if ((rc = tp_msg_finish(&m)) < 0 || !(mj = calloc(1, sizeof(*mj)))) {
		tp_msg_destroy(&m);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	if ((rc = td_job_start(&mj->job, &td_mem_ops, r)) < 0) {
		tp_msg_destroy(&m);
		free(mj);
		return rc;
	}
	mj->x.sending = sending;
	mj->x.remote = true;
	mj->x.fd = -1;
	mj->x.mem = (char *)(uintptr_t)addr;
	mj->x.total = len;
	mj->x.finish = td_mem_over;
	td_xfer_claim(r->conn, &mj->x, &mj->job);
	td_job_send(&mj->job, &m);
	td_xfer_start(&mj->x);
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
	while (srv->mem.list) {
		struct td_mem *m = srv->mem.list;

		srv->mem.list = m->next;
		munmap((void *)(uintptr_t)m->addr, m->size);
		free(m);
	}
	srv->mem.n = 0;
}
