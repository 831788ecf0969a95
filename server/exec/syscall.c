/*
 * SYSCALL: decode up to six marshalled arguments into registers and
 * guarded buffers, check them against the syscall table, and run the
 * call where it cannot stop the loop: directly when it cannot block, in
 * the ring or on a helper thread when it may.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "call.h"
#include "policy/policy.h"
#include "tetherd.h"

/* Bytes a buffer argument gets: what was asked, or the whole struct the
 * kernel writes there if that is more. */
static size_t td_arg_span(const struct td_call *c, unsigned i, size_t size)
{
	const struct tp_arg_spec *s;

	if (!c->sc || i >= 6)
		return size;
	s = &c->sc->arg[i];
	if ((s->kind == TP_ARG_OUT || s->kind == TP_ARG_INOUT ||
	     s->kind == TP_ARG_IN) && s->min > size)
		return s->min;
	return size;
}

/* Argument i's buffer of size bytes, its first n from src (the rest
 * zeroed), or with dirty left as a reused slot had it (td_call_result
 * zeroes what the call did not write). */
static int td_arg_alloc(struct td_req *r, struct td_call *c, unsigned i,
			size_t size, bool counted, const void *src, size_t n,
			bool dirty)
{
	size_t span = td_arg_span(c, i, size);
	int rc;

	if (counted && (size > TETHER_BUF_MAX || c->bytes + size > TETHER_BUF_MAX))
		return td_req_fail(r, E2BIG,
				   "argument %u: buffers exceed %u bytes", i,
				   TETHER_BUF_MAX);
	if (counted)
		c->bytes += size;
	rc = dirty ? td_buf_get_dirty(&c->a[i].b, span)
		   : td_buf_get_copy(&c->a[i].b, span, src, n);
	if (rc < 0)
		return td_req_fail(r, -rc, "argument %u: no memory for %zu "
				   "bytes: %s", i, span, strerror(-rc));
	c->a[i].size = size;
	c->a[i].reg = (uint64_t)(uintptr_t)c->a[i].b.p;
	return 0;
}

/* Argument i is a buffer the call fills from its start with exactly as
 * many bytes as it returns, and nothing else: read(2) and pread64(2)'s
 * buffer.  Such a buffer is not zeroed before the call (4 KiB a read in
 * a bulk SUBMIT, 9% of tetherd's time) but after it, from the returned
 * count on (td_call_result), before anyone sees a byte: what leaves the
 * server is the same.  Not recv (MSG_TRUNC counts bytes it never
 * wrote), not getdents or getrandom (not worth the care). */
static bool td_arg_written_from_ret(const struct td_call *c, unsigned i)
{
	return i == 1 && (c->nr == SYS_read || c->nr == SYS_pread64);
}

/* A buffer the controller sizes: out, in-out, or on the data socket. */
static int td_arg_sized(struct td_req *r, struct td_call *c, unsigned i,
			const struct tp_arg *w)
{
	struct td_arg *a = &c->a[i];

	a->kind = w->kind == TP_A_DATA_IN ? TD_ARG_IN
		  : w->kind == TP_A_INOUT ? TD_ARG_INOUT
					  : TD_ARG_OUT;
	a->via_data = w->kind == TP_A_DATA_IN || w->kind == TP_A_DATA_OUT;
	/* Big buffers come and go on the data socket, up to what one
	 * remote allocation may be. */
	if (a->via_data) {
		if (w->v > (256u << 20))
			return td_req_fail(r, E2BIG, "argument %u: %llu bytes "
					   "exceeds 256 MiB", i,
					   (unsigned long long)w->v);
		return td_arg_alloc(r, c, i, (size_t)w->v, false, NULL, 0,
				    false);
	}
	if (w->kind == TP_A_INOUT && w->n > w->v)
		return td_req_fail(r, EINVAL, "argument %u: %zu bytes in, "
				   "capacity %llu", i, w->n,
				   (unsigned long long)w->v);
	if (w->v > TETHER_BUF_MAX)
		return td_req_fail(r, E2BIG, "argument %u: %llu bytes exceeds "
				   "%u", i, (unsigned long long)w->v,
				   TETHER_BUF_MAX);
	return td_arg_alloc(r, c, i, (size_t)w->v, true, w->p,
			    w->kind == TP_A_INOUT ? w->n : 0,
			    w->kind == TP_A_OUT && td_arg_written_from_ret(c, i));
}

/* One argument as it came (proto checked its shape) into registers and
 * guarded buffers. */
static int td_arg_decode(struct td_req *r, struct td_call *c, unsigned i,
			 const struct tp_arg *w)
{
	struct td_arg *a = &c->a[i];

	switch (w->kind) {
	case TP_A_INT:
		a->kind = TD_ARG_INT;
		a->reg = w->v;
		return 0;
	case TP_A_RESULT:
		a->kind = TD_ARG_RESULT;
		a->reg = w->v;	/* the entry index, resolved later */
		return 0;
	case TP_A_IN:
		a->kind = TD_ARG_IN;
		return td_arg_alloc(r, c, i, w->n, true, w->p, w->n, false);
	case TP_A_STR:
		a->kind = TD_ARG_STR;
		if (w->n > TETHER_STR_MAX)
			return td_req_fail(r, ENAMETOOLONG,
					   "argument %u: string of %zu bytes "
					   "exceeds %u", i, w->n,
					   TETHER_STR_MAX);
		if (memchr(w->p, '\0', w->n))
			return td_req_fail(r, EINVAL,
					   "argument %u: string contains NUL",
					   i);
		return td_arg_alloc(r, c, i, w->n + 1, true, w->p, w->n,
				    false);
	default:
		return td_arg_sized(r, c, i, w);
	}
}

/* The argument count the table allows. */
static int td_call_arity(struct td_req *r, const struct td_call *c)
{
	const struct tp_syscall *sc = c->sc;

	if (!sc || (c->nargs >= sc->min_args && c->nargs <= sc->max_args) ||
	    ((sc->flags & TP_SC_NOARGS_OK) && c->nargs >= sc->min_args))
		return 0;
	if (sc->min_args == sc->max_args)
		return td_req_fail(r, EINVAL, "%s takes %u argument%s, got %u",
				   sc->name, sc->min_args,
				   sc->min_args == 1 ? "" : "s", c->nargs);
	return td_req_fail(r, EINVAL, "%s takes %u to %u arguments, got %u",
			   sc->name, sc->min_args, sc->max_args, c->nargs);
}

int td_call_check_sizes(const struct td_call *c, char *why, size_t size)
{
	uint64_t regs[6] = { 0 };

	if (!c->sc)
		return 0;
	for (unsigned i = 0; i < c->nargs; i++) {
		if (c->a[i].kind == TD_ARG_RESULT)
			return 0;	/* asked again once it is a number */
		regs[i] = c->a[i].reg;
	}
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct tp_arg_spec *s = &c->sc->arg[i];
		const struct td_arg *a = &c->a[i];
		uint64_t need;
		bool over = false;

		if (a->kind == TD_ARG_INT || s->len_arg == TP_NOLEN ||
		    s->len_arg >= c->nargs ||
		    c->a[s->len_arg].kind != TD_ARG_INT)
			continue;
		need = tp_syscall_buf_need(c->sc, i, regs, &over);
		/* The kernel may go as far as the count says: past the
		 * buffer is refused, not left to the guard page. */
		if (over || need > a->b.size) {
			snprintf(why, size, "%s: argument %u (%llu%s) exceeds "
				 "the %zu-byte buffer of argument %u",
				 c->sc->name, (unsigned)s->len_arg,
				 (unsigned long long)regs[s->len_arg],
				 s->elem > 1 ? " elements" : "", a->size, i);
			return -EINVAL;
		}
	}
	return 0;
}

void td_call_narrow(struct td_call *c)
{
	for (unsigned i = 0; c->sc && i < c->nargs && i < 6; i++) {
		struct td_arg *a = &c->a[i];

		if (a->kind != TD_ARG_INT)
			continue;
		if (c->sc->arg[i].narrow == TP_NARROW_S32)
			a->reg = (uint64_t)(int64_t)(int32_t)(uint32_t)a->reg;
		else if (c->sc->arg[i].narrow == TP_NARROW_U32)
			a->reg = (uint32_t)a->reg;
	}
}

int td_call_decode(struct td_req *r, const msgpack_object *body,
		   struct td_call *c)
{
	struct tp_syscall_req s;
	struct tp_err e;
	const char *why;
	int rc;

	memset(c, 0, sizeof(*c));
	c->data_idx = -1;
	if ((rc = tp_unpack_syscall(body, &s, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	/* All 64 bits: 2^32 is not 0. */
	if (s.flags & ~(uint64_t)TETHER_CALL_FLAGS)
		return td_req_fail(r, EINVAL, "unknown SYSCALL flags 0x%llx",
				   (unsigned long long)s.flags);
	c->nr = (long)s.nr;
	c->sc = tp_syscall_by_nr(c->nr);
	if (td_fdguard_refused(c->nr, &why))
		return td_req_fail(r, EPERM, "syscall %ld %s", c->nr, why);
	c->nargs = s.args.n;
	c->flags = (unsigned)s.flags;
	c->timeout_ms = s.timeout_ms;
	for (unsigned i = 0; i < c->nargs; i++)
		if ((rc = td_arg_decode(r, c, i, &s.args.a[i])) < 0)
			return rc;
	td_call_narrow(c);
	if ((rc = td_call_arity(r, c)) < 0)
		return rc;
	if ((rc = td_call_check_sizes(c, r->err, sizeof(r->err))) < 0)
		return rc;
	return 0;
}

void td_call_free(struct td_call *c)
{
	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		td_buf_put(&c->a[i].b);
}

/* Remote memory goes through MEM_FREE, or its record would point at
 * nothing: a syscall that unmaps, remaps, protects or maps over it is
 * refused.  Returns why, or NULL. */
const char *td_call_mem_refused(struct td_server *srv, const struct td_call *c)
{
	if ((c->nr == SYS_munmap || c->nr == SYS_mremap ||
	     c->nr == SYS_mprotect || c->nr == SYS_madvise ||
	     c->nr == SYS_pkey_mprotect) &&
	    td_mem_overlaps(srv, c->a[0].reg, c->a[1].reg))
		return "on remote memory: use MEM_FREE";
	if (c->nr == SYS_mmap && (c->a[3].reg & (MAP_FIXED |
						  MAP_FIXED_NOREPLACE)) &&
	    td_mem_overlaps(srv, c->a[0].reg, c->a[1].reg))
		return "MAP_FIXED over remote memory: use MEM_FREE first";
	if (c->nr == SYS_mremap && (c->a[3].reg & MREMAP_FIXED) &&
	    td_mem_overlaps(srv, c->a[4].reg, c->a[2].reg))
		return "MREMAP_FIXED over remote memory: use MEM_FREE first";
	/* Any later touch of such a mapping -- an mlock, a shared futex,
	 * a buffer the kernel copies -- faults in the loop and waits for
	 * the filesystem's server (a hostile walk-through's mlock did). */
	if (c->nr == SYS_mmap && !(c->a[3].reg & MAP_ANONYMOUS) &&
	    td_fds_may_be_remote() && td_fd_remote((int)c->a[4].reg))
		return "on a file of a remote filesystem (NFS, FUSE ...): "
		       "touching that memory could stop tetherd's loop";
	return NULL;
}

int td_call_policy_refuses(struct td_server *srv, const struct td_call *c,
			   char *why, size_t size)
{
	uint64_t a[6] = { 0 };

	if (!srv->policy.loaded)
		return 0;
	for (unsigned i = 0; i < c->nargs && i < 6; i++) {
		if (c->a[i].kind == TD_ARG_RESULT)
			return 0;
		a[i] = c->a[i].reg;
	}
	return td_policy_refuses(srv, c->nr, a, why, size);
}

static int td_call_policy(struct td_req *r, const struct td_call *c)
{
	char why[400];
	int rc;

	if ((rc = td_call_policy_refuses(r->srv, c, why, sizeof(why))) < 0) {
		r->cause = TP_CAUSE_POLICY;
		return td_req_fail(r, -rc, "syscall %ld %s", c->nr, why);
	}
	return 0;
}

int td_call_check(struct td_req *r, const struct td_call *c)
{
	const char *why;
	int rc;

	if (td_fdguard_refused_args(c, &why))
		return td_req_fail(r, EPERM, "syscall %ld %s", c->nr, why);
	if ((why = td_call_mem_refused(r->srv, c)))
		return td_req_fail(r, EPERM, "syscall %ld %s", c->nr, why);
	if ((rc = td_call_policy(r, c)) < 0)
		return rc;
	return 0;
}

/* An internal fd does not exist as far as callers can tell. */
bool td_call_hits_internal(const struct td_call *c)
{
	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].kind == TD_ARG_INT &&
		    tp_syscall_arg_is_fd(c->nr, i) &&
		    td_ifd_is((int)c->a[i].reg))
			return true;
	return false;
}

/* What routing needs to know of an fd argument, from one statx that
 * asks no filesystem (fds/remotefs.c). */
enum td_fdkind {
	TD_FDK_NONE,			/* not looked at, or not open */
	TD_FDK_FILE,			/* file, directory, block device */
	TD_FDK_REMOTE,			/* a file whose filesystem may wait */
	TD_FDK_OTHER,			/* pipe, socket, eventfd, tty ... */
};

static enum td_fdkind td_fdkind(int fd)
{
	struct stat st;
	bool remote;

	if (fd < 0 || td_fstat_nowait(fd, &st, &remote) < 0)
		return TD_FDK_NONE;
	if (remote)
		return TD_FDK_REMOTE;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
		return TD_FDK_FILE;
	return TD_FDK_OTHER;
}

/* Calls that never reach the filesystem of a file their fd arguments
 * name: the fd table's own (dup, the fd-table fcntls), and calls on
 * sockets only (ENOTSOCK for a file).  close, dup2 and dup3's target
 * are td_call_route's: a close may linger as well. */
static bool td_call_skips_files(const struct td_call *c)
{
	switch (c->nr) {
	case SYS_dup: case SYS_dup2: case SYS_dup3: case SYS_close:
		return true;
	case SYS_fcntl:
		switch (c->a[1].reg) {
		case F_DUPFD: case F_DUPFD_CLOEXEC: case F_GETFD:
		case F_SETFD: case F_GETFL: case F_SETFL:
			return true;
		default:
			return false;
		}
	case SYS_socket: case SYS_bind: case SYS_listen: case SYS_accept:
	case SYS_accept4: case SYS_connect: case SYS_getsockname:
	case SYS_getpeername: case SYS_getsockopt: case SYS_setsockopt:
	case SYS_shutdown: case SYS_sendto: case SYS_recvfrom:
	case SYS_sendmsg: case SYS_recvmsg: case SYS_sendmmsg:
	case SYS_recvmmsg:
		return true;
	default:
		return false;
	}
}

#define TD_POLL_LOOK_MAX 64	/* pollfds looked at; more: a helper */

/* poll's fds, in the pollfd array we hold: a FUSE file's poll asks its
 * daemon (FUSE_POLL). */
static bool td_poll_fds_remote(const struct td_call *c)
{
	const struct td_arg *a = &c->a[0];
	struct pollfd p;
	size_t n;

	if (a->kind != TD_ARG_IN && a->kind != TD_ARG_INOUT)
		return false;	/* no array: EFAULT, or nothing polled */
	n = c->a[1].reg < a->size / sizeof(p) ? c->a[1].reg
					      : a->size / sizeof(p);
	if (n > TD_POLL_LOOK_MAX)
		return true;
	for (size_t i = 0; i < n; i++) {
		memcpy(&p, a->b.p + i * sizeof(p), sizeof(p));
		if (td_fdkind(p.fd) == TD_FDK_REMOTE)
			return true;
	}
	return false;
}

/* Any fd argument a file on a filesystem that may wait (FUSE answers an
 * fstat, a lock, a poll, even a close only when its daemon does; NFS
 * when its server does)?  *k0: what argument 0 is, when it was looked
 * at. */
static bool td_call_fds_remote(const struct td_call *c, enum td_fdkind *k0)
{
	*k0 = TD_FDK_NONE;
	if (c->nr == SYS_poll && td_poll_fds_remote(c))
		return true;
	if (td_call_skips_files(c))
		return false;
	for (unsigned i = 0; i < c->nargs; i++) {
		enum td_fdkind k;

		if (c->a[i].kind != TD_ARG_INT ||
		    !tp_syscall_arg_is_fd(c->nr, i))
			continue;
		k = td_fdkind((int)c->a[i].reg);
		if (i == 0)
			*k0 = k;
		if (k == TD_FDK_REMOTE)
			return true;
	}
	return false;
}

/* A read or write of fd may wait: not a file, and not O_NONBLOCK (whose
 * caller wants EAGAIN, which only the direct call gives).  *k: what
 * td_fdkind said of it, asked here if it was not yet. */
static bool td_fd_may_block(int fd, enum td_fdkind *k)
{
	int fl;

	if (*k == TD_FDK_NONE)
		*k = td_fdkind(fd);
	if (*k == TD_FDK_NONE || *k == TD_FDK_FILE)
		return false;		/* the direct call reports EBADF */
	if (*k == TD_FDK_REMOTE)
		return true;
	fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

/* The close of fd (a close, or dup2/dup3 over it) may wait
 * (fds/closing.c).  While no remote file may be open only a lingering
 * socket can: its option alone is asked, one syscall on every close as
 * before remote files were looked for, not a statx as well. */
static bool td_close_waits(int fd)
{
	return td_fds_may_be_remote() ? td_fd_close_waits(fd)
				      : td_fd_lingers(fd);
}

/* Calls the table says may block, but not with these arguments. */
static bool td_call_cannot_block(const struct td_call *c)
{
	uint64_t a1 = c->a[1].reg, a2 = c->a[2].reg;

	switch (c->nr) {
	case SYS_fcntl:
		return a1 != F_SETLKW && a1 != F_OFD_SETLKW;
	case SYS_flock:
		return (a1 & LOCK_NB) || (a1 & ~(uint64_t)LOCK_NB) == LOCK_UN;
	case SYS_futex:
		switch (a1 & FUTEX_CMD_MASK) {
		case FUTEX_WAKE: case FUTEX_WAKE_OP: case FUTEX_REQUEUE:
		case FUTEX_CMP_REQUEUE: case FUTEX_WAKE_BITSET:
		case FUTEX_UNLOCK_PI:
			return true;
		default:
			return false;
		}
	case SYS_poll:
		return (int)a2 == 0;
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
		/* The timeout is argument 3 (this read argument 2, the
		 * count, so every epoll_wait went to a helper).  A set may
		 * hold a remote file, whose poll asks its daemon
		 * (FUSE_POLL) even with a zero timeout; which ones it holds
		 * cannot be told from here. */
		return (int)c->a[3].reg == 0 && !td_fds_may_be_remote();
	default:
		return false;
	}
}

enum td_route td_call_route(const struct td_call *c)
{
	const struct tp_syscall *sc = c->sc;
	bool blocks, timed = (c->flags & TETHER_CALL_ASYNC) || c->timeout_ms;
	enum td_fdkind k0;

	/* Answered here whatever they are: EBADF, and close_range around
	 * the internal fds. */
	if (td_call_hits_internal(c) || c->nr == SYS_close_range)
		return TD_RUN_DIRECT;
	/* A lingering socket's close waits in whoever closes it -- in the
	 * ring, the loop thread's own task work: a helper.  So does a
	 * remote file's (FUSE's FLUSH, NFS's write-back). */
	if ((c->nr == SYS_close && td_close_waits((int)c->a[0].reg)) ||
	    ((c->nr == SYS_dup2 || c->nr == SYS_dup3) &&
	     c->a[0].reg != c->a[1].reg && td_close_waits((int)c->a[1].reg)))
		return TD_RUN_HELPER;
	/* A file whose filesystem may wait: a helper, not the ring either,
	 * which tries a read first inside the loop's own io_uring_enter (a
	 * FUSE read waited there for its daemon, loop and all).  Looked for
	 * only while one may be open (fds/fdcount.c). */
	k0 = TD_FDK_NONE;
	if (td_fds_may_be_remote() && td_call_fds_remote(c, &k0))
		return TD_RUN_HELPER;
	/* Asked to be answered later: the ring if it takes it, whether the
	 * fd may block or not -- so no need to look further. */
	if (timed && !(c->flags & TETHER_CALL_SYNC) && td_ring_takes(c))
		return TD_RUN_RING;
	if (!sc)
		blocks = true;		/* not sure it cannot: off the loop */
	else if (sc->flags & TP_SC_BLOCKS)
		blocks = !td_call_cannot_block(c);
	else if (sc->flags & TP_SC_FDIO)
		blocks = td_fd_may_block((int)c->a[0].reg, &k0);
	else
		blocks = false;
	if (k0 == TD_FDK_REMOTE)
		return TD_RUN_HELPER;	/* it came in a way nobody saw */
	if ((blocks || timed) && !(c->flags & TETHER_CALL_SYNC) &&
	    td_ring_takes(c))
		return TD_RUN_RING;
	return blocks ? TD_RUN_HELPER : TD_RUN_DIRECT;
}

/*
 * openat without a helper, when it cannot block: the path is in the
 * dentry cache (RESOLVE_CACHED), and it names an existing regular file
 * or directory on a local filesystem.  The O_PATH fd pins that file, and
 * the real open goes through it (/proc/self/fd/N), so it cannot turn
 * into a FIFO or a device in between.  true with *ret the result; false
 * to let a helper run it.
 */
static bool td_openat_cached(const struct td_call *c, long *ret)
{
	int flags = (int)c->a[2].reg, pfd, fd;
	struct open_how how = { .resolve = RESOLVE_CACHED };
	char proc[64];
	struct stat st;
	bool remote;

	if (c->a[1].kind != TD_ARG_STR ||
	    (flags & (O_CREAT | O_TRUNC | O_EXCL | __O_TMPFILE | O_PATH)))
		return false;
	how.flags = O_PATH | O_CLOEXEC | (flags & (O_NOFOLLOW | O_DIRECTORY));
	/* Any failure (not cached, not there, a filter's EPERM) is the
	 * helper's to find out with the real call. */
	pfd = (int)syscall(SYS_openat2, (int)c->a[0].reg, c->a[1].b.p, &how,
			   sizeof(how));
	if (pfd < 0)
		return false;
	if (td_fstat_nowait(pfd, &st, &remote) < 0 || remote ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		close(pfd);
		return false;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	/* A lease another process holds on the file would make the open
	 * wait for its break (up to lease-break-time, 45 s): O_NONBLOCK
	 * says EWOULDBLOCK instead, and a helper waits. */
	fd = open(proc, flags | O_NONBLOCK, 0);
	if (fd < 0 && errno == EWOULDBLOCK) {
		close(pfd);
		return false;
	}
	if (fd >= 0 && !(flags & O_NONBLOCK))
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	*ret = fd < 0 ? -errno : fd;
	close(pfd);
	/* openat gives the lowest free number, which the pin held. */
	if (fd > pfd) {
		int low = fcntl(fd, (flags & O_CLOEXEC) ? F_DUPFD_CLOEXEC
							: F_DUPFD, 0);

		if (low >= 0 && low < fd) {
			close(fd);
			*ret = low;
		} else if (low >= 0) {
			close(low);
		}
	}
	return true;
}

/* set*id through libc: glibc makes every thread take the new ids, as
 * the raw syscall (one thread's credentials) would not, and the helper
 * threads must run with the credentials the controller set. */
static long td_call_setid(const struct td_call *c, bool *done)
{
	const uint64_t *a = (const uint64_t[]){ c->a[0].reg, c->a[1].reg,
						c->a[2].reg };

	*done = true;
	switch (c->nr) {
	case SYS_setuid: return setuid((uid_t)a[0]);
	case SYS_setgid: return setgid((gid_t)a[0]);
	case SYS_setreuid: return setreuid((uid_t)a[0], (uid_t)a[1]);
	case SYS_setregid: return setregid((gid_t)a[0], (gid_t)a[1]);
	case SYS_setresuid:
		return setresuid((uid_t)a[0], (uid_t)a[1], (uid_t)a[2]);
	case SYS_setresgid:
		return setresgid((gid_t)a[0], (gid_t)a[1], (gid_t)a[2]);
	case SYS_setgroups:
		if (c->a[1].kind == TD_ARG_INT && c->a[1].reg == 0 && a[0])
			break;	/* a bad pointer: let the kernel say */
		return setgroups((size_t)a[0],
				 (const gid_t *)(uintptr_t)a[1]);
	default:
		break;
	}
	*done = false;
	return 0;
}

long td_call_raw(struct td_call *c)
{
	bool done;
	long ret = td_call_setid(c, &done);

	if (!done)
		ret = syscall(c->nr, c->a[0].reg, c->a[1].reg, c->a[2].reg,
			      c->a[3].reg, c->a[4].reg, c->a[5].reg);
	return ret == -1 ? -errno : ret;
}

void td_call_ran(struct td_server *srv, struct td_call *c, long ret,
		 bool placed)
{
	uint64_t regs[TETHER_NARGS_MAX];

	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		regs[i] = c->a[i].reg;
	td_fds_call_ran(c->nr, regs, ret, placed);
	td_labels_syscall_done(srv, c->nr, regs, ret);
}

/* A call the route sends off the loop that may still run here: 1 with
 * the result in *ret. */
bool td_call_inline(struct td_server *srv, struct td_call *c, long *ret)
{
	if (c->nr != SYS_openat || (c->flags & (TETHER_CALL_ASYNC |
						 TETHER_CALL_SYNC)) ||
	    c->timeout_ms || td_call_hits_internal(c) ||
	    !td_openat_cached(c, ret))
		return false;
	td_call_ran(srv, c, *ret, false);
	return true;
}

long td_call_run(struct td_server *srv, struct td_call *c)
{
	long ret;

	if (td_call_hits_internal(c))
		return -EBADF;
	/* close_range must not reach the internal fds above ours. */
	if (c->nr == SYS_close_range)
		ret = td_ifd_close_range((unsigned)c->a[0].reg,
					 (unsigned)c->a[1].reg,
					 (unsigned)c->a[2].reg);
	else
		ret = td_call_raw(c);
	td_call_ran(srv, c, ret, false);
	return ret;
}

/* A buffer left dirty (td_arg_written_from_ret) gets its bytes past
 * what the call wrote zeroed: all of them if it failed. */
static void td_arg_clean(struct td_arg *a, long ret)
{
	size_t w = ret <= 0 ? 0 : (size_t)ret < a->b.size ? (size_t)ret
							    : a->b.size;

	if (!a->b.dirty)
		return;
	memset(a->b.p + w, 0, a->b.size - w);
	a->b.dirty = false;
}

void td_call_result(struct td_call *c, long ret, struct tp_syscall_reply *rep)
{
	bool trim = (c->flags & TETHER_CALL_TRIM) ||
		    (c->sc && (c->sc->flags & TP_SC_TRIM) &&
		     !(c->flags & TETHER_CALL_NOTRIM));

	rep->has = c->cause ? TP_SYSCALL_REPLY_CAUSE : 0;
	rep->cause = tp_str(c->cause);
	rep->ret = ret;
	rep->n = c->nargs;
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct td_arg *a = &c->a[i];
		struct tp_out *o = &rep->o[i];
		size_t n = a->size;

		o->kind = TP_OUT_NIL;
		if (a->kind != TD_ARG_OUT && a->kind != TD_ARG_INOUT)
			continue;
		td_arg_clean(&c->a[i], ret);
		if (trim) {
			n = ret < 0 ? 0 : (size_t)ret < n ? (size_t)ret : n;
			trim = false;	/* only the first out buffer */
		}
		o->n = n;
		if (a->via_data && c->data_reply) {
			/* The bytes follow on the data socket. */
			c->data_idx = (int)i;
			c->data_n = n;
			o->kind = TP_OUT_DATA;
			continue;
		}
		o->kind = TP_OUT_BIN;
		o->p = a->b.p;
	}
}

int td_call_pack_result(struct tp_w *w, struct td_call *c, long ret)
{
	struct tp_syscall_reply rep;

	td_call_result(c, ret, &rep);
	return tp_pack_syscall_reply(w, &rep);
}

void td_call_args(const struct td_call *c, struct tp_args *args)
{
	args->has = 0;
	args->n = c->nargs;
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct td_arg *a = &c->a[i];
		struct tp_arg *w = &args->a[i];

		memset(w, 0, sizeof(*w));
		switch (a->kind) {
		case TD_ARG_INT:
		case TD_ARG_RESULT:
			w->kind = TP_A_INT;
			w->v = a->reg;
			break;
		case TD_ARG_STR:
			w->kind = TP_A_STR;
			w->p = a->b.p;
			w->n = strlen(a->b.p);
			break;
		case TD_ARG_IN:
			w->kind = TP_A_IN;
			w->p = a->b.p;
			w->n = a->size;
			break;
		case TD_ARG_OUT:
		case TD_ARG_INOUT:
			w->kind = TP_A_OUT;
			w->v = a->size;
			break;
		}
	}
}

/* Arguments that travel on the data socket: at most one each way, and
 * never with ASYNC (there is nobody to stream to later).  1 if there
 * are any, with *in_idx the incoming one or -1. */
static int td_syscall_data_args(struct td_req *r, struct td_call *c,
				int *in_idx)
{
	int nin = 0, nout = 0;

	*in_idx = -1;
	for (unsigned i = 0; i < c->nargs; i++) {
		if (!c->a[i].via_data)
			continue;
		if (c->a[i].kind == TD_ARG_IN) {
			nin++;
			*in_idx = (int)i;
		} else {
			nout++;
		}
	}
	if (!nin && !nout)
		return 0;
	if (nin > 1 || nout > 1)
		return td_req_fail(r, EINVAL, "at most one data-socket buffer "
				   "each way");
	if (c->flags & TETHER_CALL_ASYNC)
		return td_req_fail(r, EINVAL, "data-socket buffers and ASYNC "
				   "do not mix");
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	c->data_reply = nout > 0;
	return 1;
}

int td_do_syscall(struct td_req *r)
{
	struct td_call *c = calloc(1, sizeof(*c));
	int rc, in_idx;

	if (!c)
		return td_req_fail(r, ENOMEM, "out of memory");
	if ((rc = td_call_decode(r, r->body, c)) < 0 ||
	    (rc = td_call_check(r, c)) < 0)
		goto out;
	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].kind == TD_ARG_RESULT) {
			rc = td_req_fail(r, EINVAL, "argument %u: a result "
					 "reference outside BATCH", i);
			goto out;
		}
	if ((rc = td_syscall_data_args(r, c, &in_idx)) < 0)
		goto out;
	if (rc > 0)
		return td_call_with_data(r, c, in_idx);
	return td_call_go(r, c);
out:
	td_call_free(c);
	free(c);
	return rc;
}
