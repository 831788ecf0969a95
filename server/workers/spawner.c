/*
 * The spawner: under a policy tetherd runs inside its own seccomp filter,
 * and a filter is inherited across fork and exec, so the server cannot
 * fork its workers itself.  At start, before the filter (and the ring)
 * exist, it forks this small helper, which from then on makes workers
 * for it: the server sends it each prepared SPAWN over a SOCK_SEQPACKET
 * pair, with the fds the worker gets (SCM_RIGHTS), and the spawner
 * clones.  CLONE_PARENT makes every worker tetherd's child, not the
 * spawner's, so reaping, pidfds and exit records work as for a fork.
 *
 * The request, one packet: a fixed header (struct td_spw_hdr), then the
 * fd map's child fds (int32 each), the rlimits (int32 resource, uint64
 * soft, uint64 hard), the groups (uint32), the worker's BPF filter
 * (8-byte instructions), then NUL-terminated strings: the resolved path,
 * cwd and cgroup if flagged, argv, envp.  Host byte order (both ends are
 * the same binary), no alignment assumed.  The fds: the fd map's server
 * fds in order, then the capture fd if flagged.  A request over
 * TD_SPW_INLINE_MAX travels in a memfd, passed last, and the packet
 * carries only its header.  The spawner checks every count and length
 * against its own bounds before using it.
 *
 * The reply: the worker's pid, or -errno; and, as the clone shares the
 * spawner's memory until the child has exec'd (launch.c), whether it
 * did: the child's failure report, which the server turns into the
 * spawn's error as for a clone of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"
#include "worker.h"

#define TD_SPW_MAGIC 0x50535444u	/* "TDSP" */
#define TD_SPW_REPLY_MAGIC 0x52535444u	/* "TDSR" */
#define TD_SPW_INLINE_MAX (64u << 10)	/* below any socket's send buffer */
#define TD_SPW_MSG_MAX (16u << 20)	/* a whole request, memfd or not */
#define TD_SPW_STR_MAX (128u << 10)	/* MAX_ARG_STRLEN, NUL included */
#define TD_SPW_FDS_MAX (TETHER_SPAWN_FDS_MAX + 2)	/* + capture, memfd */
#define TD_SPW_TIMEOUT_S 5		/* a clone and an exec: milliseconds */
#define TD_SPW_STOP_MS 1000		/* after EOF, before SIGKILL */

enum {
	TD_SPW_SETSID = 0x1u,
	TD_SPW_PGROUP = 0x2u,
	TD_SPW_USER = 0x4u,
	TD_SPW_CAPTURE = 0x8u,
	TD_SPW_CWD = 0x10u,
	TD_SPW_CGROUP = 0x20u,
	TD_SPW_FLAGS = 0x3fu,		/* all of the above */
	TD_SPW_MEMFD = 0x40u,		/* the packet's header only */
};

struct td_spw_hdr {
	uint32_t magic;
	uint32_t seq;
	uint32_t flags;
	uint32_t len;			/* the whole request, header included */
	uint32_t argc, envc, nfds, nrlimits, ngroups, nfilter;
	uint32_t uid, gid;
	uint64_t nofile_cur, nofile_max;
};

/* What the spawner was doing when it failed. */
enum { TD_SPW_OK, TD_SPW_REQUEST, TD_SPW_CLONE };

struct td_spw_reply {
	uint32_t magic;
	uint32_t seq;
	int32_t rc;			/* the worker's pid, or -errno */
	uint32_t stage;
	int32_t exec_err;		/* the child did not exec: why */
	int32_t exec_step;		/* and where (enum td_step) */
};

/* ---- the request, both ways ------------------------------------------- */

/* Writing: with p NULL it only counts. */
struct td_spw_out {
	char *p;
	size_t off;
};

static void td_put(struct td_spw_out *o, const void *src, size_t n)
{
	if (o->p && n)
		memcpy(o->p + o->off, src, n);
	o->off += n;
}

static void td_put_str(struct td_spw_out *o, const char *s)
{
	td_put(o, s, strlen(s) + 1);
}

static void td_spw_header(const struct td_spawn *sp, bool capture,
			  uint32_t seq, size_t len, struct td_spw_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = TD_SPW_MAGIC;
	h->seq = seq;
	h->flags = (sp->setsid ? TD_SPW_SETSID : 0) |
		   (sp->pgroup ? TD_SPW_PGROUP : 0) |
		   (sp->have_user ? TD_SPW_USER : 0) |
		   (capture ? TD_SPW_CAPTURE : 0) |
		   (sp->cwd ? TD_SPW_CWD : 0) |
		   (sp->cgroup ? TD_SPW_CGROUP : 0);
	h->len = (uint32_t)len;
	h->argc = (uint32_t)sp->argc;
	h->envc = (uint32_t)sp->envc;
	h->nfds = sp->nfds;
	h->nrlimits = sp->nrlimits;
	h->ngroups = sp->have_user ? (uint32_t)sp->ngroups : 0;
	h->nfilter = sp->nfilter;
	h->uid = sp->uid;
	h->gid = sp->gid;
	h->nofile_cur = sp->nofile.rlim_cur;
	h->nofile_max = sp->nofile.rlim_max;
}

/* The request into buf (NULL: just its size, which is returned). */
static size_t td_spw_encode(const struct td_spawn *sp, bool capture,
			    uint32_t seq, size_t len, char *buf)
{
	struct td_spw_out o = { buf, 0 };
	struct td_spw_hdr h;

	td_spw_header(sp, capture, seq, len, &h);
	td_put(&o, &h, sizeof(h));
	for (unsigned i = 0; i < sp->nfds; i++) {
		int32_t child = sp->fds[i].child;

		td_put(&o, &child, sizeof(child));
	}
	for (unsigned i = 0; i < sp->nrlimits; i++) {
		int32_t res = sp->rlimits[i].res;
		uint64_t cur = sp->rlimits[i].rl.rlim_cur;
		uint64_t max = sp->rlimits[i].rl.rlim_max;

		td_put(&o, &res, sizeof(res));
		td_put(&o, &cur, sizeof(cur));
		td_put(&o, &max, sizeof(max));
	}
	for (uint32_t i = 0; i < h.ngroups; i++) {
		uint32_t g = sp->groups[i];

		td_put(&o, &g, sizeof(g));
	}
	td_put(&o, sp->filter, sp->nfilter * sizeof(struct sock_filter));
	td_put_str(&o, sp->path);
	if (sp->cwd)
		td_put_str(&o, sp->cwd);
	if (sp->cgroup)
		td_put_str(&o, sp->cgroup);
	for (int i = 0; i < sp->argc; i++)
		td_put_str(&o, sp->argv[i]);
	for (int i = 0; i < sp->envc; i++)
		td_put_str(&o, sp->envp[i]);
	return o.off;
}

/* Reading: every take is checked against what is left. */
struct td_spw_in {
	const char *p;
	size_t len;
	size_t off;
};

static int td_get(struct td_spw_in *in, void *dst, size_t n)
{
	if (n > in->len - in->off)
		return -EPROTO;
	memcpy(dst, in->p + in->off, n);
	in->off += n;
	return 0;
}

static int td_get_str(struct td_spw_in *in, char **out)
{
	size_t left = in->len - in->off;
	const char *s = in->p + in->off;
	const char *nul = memchr(s, '\0', left < TD_SPW_STR_MAX ? left
							     : TD_SPW_STR_MAX);

	if (!nul)
		return -EPROTO;
	*out = (char *)s;
	in->off += (size_t)(nul - s) + 1;
	return 0;
}

/* n strings into a new NULL-ended array pointing into the request. */
static int td_get_strv(struct td_spw_in *in, uint32_t n, char ***out)
{
	char **v = calloc((size_t)n + 1, sizeof(char *));

	if (!(*out = v))
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (td_get_str(in, &v[i]) < 0)
			return -EPROTO;
	return 0;
}

/* The spawner's rebuilt td_spawn: arrays of its own, strings in the
 * request buffer. */
static void td_spw_free(struct td_spawn *sp)
{
	if (!sp)
		return;
	free(sp->argv);
	free(sp->envp);
	free(sp->filter);
	free(sp);
}

static int td_spw_check_hdr(const struct td_spw_hdr *h, size_t len,
			    unsigned nfds)
{
	if (h->magic != TD_SPW_MAGIC || h->len != len ||
	    (h->flags & ~(uint32_t)TD_SPW_FLAGS) || !h->argc ||
	    h->argc > TETHER_ARGV_MAX || h->envc > TETHER_ARGV_MAX ||
	    h->nfds > TETHER_SPAWN_FDS_MAX || h->nrlimits > TD_RLIMITS_MAX ||
	    h->ngroups > TD_GROUPS_MAX || h->nfilter > TD_FILTER_MAX)
		return -EPROTO;
	/* Exactly the fds the header announces. */
	if (nfds != h->nfds + !!(h->flags & TD_SPW_CAPTURE))
		return -EPROTO;
	return 0;
}

static int td_spw_decode_fixed(struct td_spw_in *in,
			       const struct td_spw_hdr *h, const int *fds,
			       struct td_spawn *sp)
{
	for (uint32_t i = 0; i < h->nfds; i++) {
		int32_t child;

		if (td_get(in, &child, sizeof(child)) < 0 || child < 0 ||
		    child > 1023)
			return -EPROTO;
		sp->fds[i].child = child;
		sp->fds[i].server = fds[i];
		sp->fds[i].held = -1;
	}
	sp->nfds = h->nfds;
	for (uint32_t i = 0; i < h->nrlimits; i++) {
		int32_t res;
		uint64_t cur, max;

		if (td_get(in, &res, sizeof(res)) < 0 ||
		    td_get(in, &cur, sizeof(cur)) < 0 ||
		    td_get(in, &max, sizeof(max)) < 0 || res < 0 ||
		    res >= RLIMIT_NLIMITS)
			return -EPROTO;
		sp->rlimits[i].res = res;
		sp->rlimits[i].rl.rlim_cur = cur;
		sp->rlimits[i].rl.rlim_max = max;
	}
	sp->nrlimits = h->nrlimits;
	for (uint32_t i = 0; i < h->ngroups; i++) {
		uint32_t g;

		if (td_get(in, &g, sizeof(g)) < 0)
			return -EPROTO;
		sp->groups[i] = g;
	}
	sp->ngroups = (int)h->ngroups;
	if (h->nfilter) {
		size_t n = h->nfilter * sizeof(struct sock_filter);

		/* Copied out: the kernel wants it aligned. */
		if (!(sp->filter = malloc(n)))
			return -ENOMEM;
		if (td_get(in, sp->filter, n) < 0)
			return -EPROTO;
		sp->nfilter = h->nfilter;
	}
	return 0;
}

/* buf, len: a whole request; fds: what came with it (memfd excluded). */
static int td_spw_decode(const char *buf, size_t len, const int *fds,
			 unsigned nfds, struct td_spawn **out, int *capture_fd)
{
	struct td_spw_in in = { buf, len, 0 };
	struct td_spw_hdr h;
	struct td_spawn *sp;
	int rc;

	if ((rc = td_get(&in, &h, sizeof(h))) < 0 ||
	    (rc = td_spw_check_hdr(&h, len, nfds)) < 0)
		return rc;
	if (!(sp = calloc(1, sizeof(*sp))))
		return -ENOMEM;
	if ((rc = td_spw_decode_fixed(&in, &h, fds, sp)) < 0)
		goto fail;
	rc = -EPROTO;
	if (td_get_str(&in, &sp->path) < 0 ||
	    ((h.flags & TD_SPW_CWD) && td_get_str(&in, &sp->cwd) < 0) ||
	    ((h.flags & TD_SPW_CGROUP) && td_get_str(&in, &sp->cgroup) < 0))
		goto fail;
	if ((rc = td_get_strv(&in, h.argc, &sp->argv)) < 0 ||
	    (rc = td_get_strv(&in, h.envc, &sp->envp)) < 0)
		goto fail;
	rc = -EPROTO;
	if (in.off != len)
		goto fail;
	sp->argc = (int)h.argc;
	sp->envc = (int)h.envc;
	sp->setsid = h.flags & TD_SPW_SETSID;
	sp->pgroup = h.flags & TD_SPW_PGROUP;
	sp->have_user = h.flags & TD_SPW_USER;
	sp->uid = h.uid;
	sp->gid = h.gid;
	sp->nofile.rlim_cur = h.nofile_cur;
	sp->nofile.rlim_max = h.nofile_max;
	*capture_fd = (h.flags & TD_SPW_CAPTURE) ? fds[h.nfds] : -1;
	*out = sp;
	return 0;
fail:
	td_spw_free(sp);
	return rc;
}

/* ---- the spawner process ------------------------------------------------ */

/* The request in a memfd: its size is the request's, bounded. */
static int td_spw_read_memfd(int fd, uint32_t len, char **out)
{
	struct stat st;
	char *buf;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size != (off_t)len || len > TD_SPW_MSG_MAX ||
	    len <= TD_SPW_INLINE_MAX)
		return -EPROTO;
	if (!(buf = malloc(len)))
		return -ENOMEM;
	if (tp_pread_all(fd, buf, len, 0) < 0) {
		free(buf);
		return -EPROTO;
	}
	*out = buf;
	return 0;
}

/* One request: the clone's pid (and in *rep whether it exec'd), or
 * -errno and the stage that failed.  CLONE_PARENT: a child of our
 * parent, the server, which gets its SIGCHLD. */
static int td_spw_serve(const char *msg, size_t n, const int *fds,
			unsigned nfds, uint32_t *stage,
			struct td_spawn_report *rep)
{
	struct td_spw_hdr h;
	struct td_spawn *sp = NULL;
	char *big = NULL;
	int capture_fd, rc;

	*stage = TD_SPW_REQUEST;
	if (n < sizeof(h))
		return -EPROTO;
	memcpy(&h, msg, sizeof(h));
	if (h.magic == TD_SPW_MAGIC && (h.flags & TD_SPW_MEMFD)) {
		if (n != sizeof(h) || !nfds)
			return -EPROTO;
		if ((rc = td_spw_read_memfd(fds[--nfds], h.len, &big)) < 0)
			return rc;
		msg = big;
		n = h.len;
		/* The packet's header must be the memfd's. */
		if (memcmp(&h.seq, msg + offsetof(struct td_spw_hdr, seq),
			   sizeof(h.seq))) {
			free(big);
			return -EPROTO;
		}
	}
	if ((rc = td_spw_decode(msg, n, fds, nfds, &sp, &capture_fd)) < 0)
		goto out;
	*stage = TD_SPW_CLONE;
	rc = td_spawn_clone(sp, capture_fd, CLONE_PARENT, rep);
out:
	td_spw_free(sp);
	free(big);
	return rc;
}

static void td_spw_loop(int sock, char *buf) __attribute__((noreturn));

static void td_spw_loop(int sock, char *buf)
{
	union {
		char b[CMSG_SPACE(TD_SPW_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	int fds[TD_SPW_FDS_MAX], max = (int)TD_SPW_FDS_MAX;

	for (;;) {
		struct iovec iov = { buf, TD_SPW_INLINE_MAX };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf.b,
				      .msg_controllen = sizeof(cbuf.b) };
		struct td_spw_reply rep = { .magic = TD_SPW_REPLY_MAGIC };
		struct td_spawn_report crep = { 0, 0 };
		unsigned nfds;
		int n_in;
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);

		if (n == 0)
			_exit(0);	/* the server closed: it is done */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		if ((size_t)n >= sizeof(uint32_t) * 2)
			memcpy(&rep.seq, buf + sizeof(uint32_t), sizeof(rep.seq));
		/* More fds than a request has: some were closed unread. */
		n_in = tp_cmsg_fds(&msg, fds, max);
		nfds = (unsigned)(n_in < max ? n_in : max);
		if (n_in > max ||
		    (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
			rep.rc = -EPROTO;
			rep.stage = TD_SPW_REQUEST;
		} else {
			rep.rc = td_spw_serve(buf, (size_t)n, fds, nfds,
					      &rep.stage, &crep);
			rep.exec_err = crep.err;
			rep.exec_step = crep.step;
		}
		/* Our copies go before the reply: once the server has it,
		 * only the worker may hold its capture pipe open. */
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		if (rep.rc > 0)
			rep.stage = TD_SPW_OK;
		if (send(sock, &rep, sizeof(rep), MSG_NOSIGNAL) < 0 &&
		    errno != EINTR)
			_exit(0);
	}
}

/* Stdin and stdout read /dev/null; stderr stays (the server's log, where
 * sanitizer reports belong); the socket; nothing else. */
static int td_spw_fds_init(int sock)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		return -1;
	if (null > 2)
		close(null);
	if (sock > 3 && syscall(SYS_close_range, 3, sock - 1, 0) < 0)
		return -1;
	return (int)syscall(SYS_close_range, sock + 1, ~0U, 0);
}

static void td_spw_main(int sock, pid_t server) __attribute__((noreturn));

static void td_spw_main(int sock, pid_t server)
{
	sigset_t none;
	char *buf;

	/* Dies with the server; it may have died before we got here. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != server)
		_exit(1);
	/* Out of the controller's session: its terminal's signals are
	 * not ours. */
	setsid();
	td_spawn_signals_default();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "tetherd-spawner", 0, 0, 0);
	if (td_spw_fds_init(sock) < 0 || !(buf = malloc(TD_SPW_INLINE_MAX)))
		_exit(1);
	td_spw_loop(sock, buf);
}

/* ---- the server's side -------------------------------------------------- */

int td_spawner_start(struct td_server *srv)
{
	struct timeval tv = { TD_SPW_TIMEOUT_S, 0 };
	pid_t self = getpid(), pid;
	int sv[2], fd, err;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		close(sv[0]);
		td_spw_main(sv[1], self);
	}
	close(sv[1]);
	/* Never blocked for good by a spawner that hangs. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		close(sv[0]);
		goto fail;
	}
	if ((fd = td_ifd_adopt(sv[0], "spawner")) < 0) {
		err = fd;
		goto fail;
	}
	srv->workers.spawner_fd = fd;
	srv->workers.spawner_pid = pid;
	td_log("spawner started, pid %d", (int)pid);
	return 0;
fail:
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return err;
}

/* No more spawning: the socket goes; the process is reaped when it ends
 * (td_spawner_reaped), SIGKILLed first if it may still run. */
static void td_spawner_drop(struct td_server *srv, bool kill_it,
			    const char *why)
{
	if (srv->workers.spawner_fd >= 0) {
		td_ifd_close(srv->workers.spawner_fd);
		srv->workers.spawner_fd = -1;
		td_log("spawner pid %d: %s; SPAWN fails from now on",
		       (int)srv->workers.spawner_pid, why);
	}
	if (kill_it && srv->workers.spawner_pid > 0)
		kill(srv->workers.spawner_pid, SIGKILL);	/* unreaped: ours */
}

/* A broken channel fails this request, and every later one. */
static int td_spawner_broken(struct td_req *r, int err)
{
	struct td_server *srv = r->srv;

	if (err == EAGAIN || err == EWOULDBLOCK) {
		td_spawner_drop(srv, true, "no answer");
		return td_req_fail(r, ETIMEDOUT, "spawner did not answer in "
				   "%d s", TD_SPW_TIMEOUT_S);
	}
	if (err == EPROTO) {
		td_spawner_drop(srv, true, "nonsense answer");
		return td_req_fail(r, EPROTO, "spawner answered nonsense");
	}
	td_spawner_drop(srv, false, "gone");
	return td_req_fail(r, EPIPE, "spawner gone");
}

static bool td_gone_errno(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN ||
	       err == EAGAIN || err == EWOULDBLOCK;
}

/* A big request in a memfd, to pass along with the rest. */
static int td_spawner_memfd(const char *buf, size_t len)
{
	int fd = memfd_create("tetherd-spawn", MFD_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if ((err = tp_write_all(fd, buf, len)) < 0) {
		close(fd);
		return err;
	}
	return fd;
}

static int td_spawner_send(struct td_server *srv, const char *buf,
			   size_t len, const int *fds, unsigned nfds)
{
	ssize_t n = tp_send_fds(srv->workers.spawner_fd, buf, len, 0, fds,
				(int)nfds);

	return n < 0 ? (int)n : 0;
}

static int td_spawner_recv(struct td_server *srv, uint32_t seq,
			   struct td_spw_reply *rep)
{
	ssize_t n;

	do
		n = recv(srv->workers.spawner_fd, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;
	if ((size_t)n != sizeof(*rep) || rep->magic != TD_SPW_REPLY_MAGIC ||
	    rep->seq != seq || rep->rc == 0)
		return -EPROTO;
	return 0;
}

/* The packet and its fds: the fd map's, the capture pipe, the memfd of
 * a big request. */
static int td_spawner_request(struct td_req *r, const struct td_spawn *sp,
			      int capture_fd, char *buf, size_t len)
{
	int fds[TD_SPW_FDS_MAX], memfd = -1, rc;
	unsigned nfds = 0;
	struct td_spw_hdr h;

	for (unsigned i = 0; i < sp->nfds; i++)
		fds[nfds++] = td_spawn_fd_source(&sp->fds[i]);
	if (capture_fd >= 0)
		fds[nfds++] = capture_fd;
	if (len > TD_SPW_INLINE_MAX) {
		if ((memfd = td_spawner_memfd(buf, len)) < 0)
			return td_req_fail(r, -memfd, "spawn request: %s",
					   strerror(-memfd));
		fds[nfds++] = memfd;
		memcpy(&h, buf, sizeof(h));
		h.flags |= TD_SPW_MEMFD;
		memcpy(buf, &h, sizeof(h));
		len = sizeof(h);
	}
	rc = td_spawner_send(r->srv, buf, len, fds, nfds);
	if (memfd >= 0)
		close(memfd);
	if (rc < 0 && td_gone_errno(-rc))
		return td_spawner_broken(r, -rc);
	if (rc < 0)
		return td_req_fail(r, -rc, "passing the request to the "
				   "spawner: %s", strerror(-rc));
	return 0;
}

/* One request at a time: helpers may spawn concurrently, the spawner
 * answers in order. */
static pthread_mutex_t td_spawner_lock = PTHREAD_MUTEX_INITIALIZER;

static int td_spawner_spawn_locked(struct td_req *r, const struct td_spawn *sp,
				   int capture_fd, pid_t *pid,
				   struct td_spawn_report *crep)
{
	static uint32_t seq;
	struct td_spw_reply rep;
	char *buf;
	size_t len;
	int rc;

	if (r->srv->workers.spawner_fd < 0)
		return td_req_fail(r, EPIPE, "spawner gone");
	seq++;
	len = td_spw_encode(sp, capture_fd >= 0, seq, 0, NULL);
	if (len > TD_SPW_MSG_MAX)
		return td_req_fail(r, E2BIG, "spawn request of %zu bytes", len);
	if (!(buf = malloc(len)))
		return td_req_fail(r, ENOMEM, "out of memory");
	td_spw_encode(sp, capture_fd >= 0, seq, len, buf);
	rc = td_spawner_request(r, sp, capture_fd, buf, len);
	free(buf);
	if (rc < 0)
		return rc;
	if ((rc = td_spawner_recv(r->srv, seq, &rep)) < 0)
		return td_spawner_broken(r, -rc);
	if (rep.rc < 0)
		return td_req_fail(r, -rep.rc, "spawner: %s: %s",
				   rep.stage == TD_SPW_CLONE ? "clone"
							     : "bad request",
				   strerror(-rep.rc));
	*pid = rep.rc;
	crep->err = rep.exec_err;
	crep->step = rep.exec_step;
	return 0;
}

/* On a helper thread. */
int td_spawner_spawn(struct td_req *r, const struct td_spawn *sp,
		     int capture_fd, pid_t *pid, struct td_spawn_report *rep)
{
	int rc;

	pthread_mutex_lock(&td_spawner_lock);
	rc = td_spawner_spawn_locked(r, sp, capture_fd, pid, rep);
	pthread_mutex_unlock(&td_spawner_lock);
	return rc;
}

bool td_spawner_reaped(struct td_server *srv, pid_t pid, int status)
{
	if (srv->workers.spawner_pid <= 0 || pid != srv->workers.spawner_pid)
		return false;
	/* Stopped or continued: still ours, still there. */
	if (!WIFEXITED(status) && !WIFSIGNALED(status))
		return true;
	/* A spawn under way sees the EOF and drops it itself: the loop
	 * does not wait for that helper. */
	if (pthread_mutex_trylock(&td_spawner_lock) == 0) {
		td_spawner_drop(srv, false, "ended");
		pthread_mutex_unlock(&td_spawner_lock);
	}
	if (WIFEXITED(status))
		td_log("spawner pid %d exited %d", (int)pid,
		       WEXITSTATUS(status));
	else
		td_log("spawner pid %d killed by signal %d", (int)pid,
		       WTERMSIG(status));
	srv->workers.spawner_pid = 0;
	return true;
}

void td_spawner_stop(struct td_server *srv)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	pid_t pid = srv->workers.spawner_pid;
	pid_t got = 0;

	pthread_mutex_lock(&td_spawner_lock);
	if (srv->workers.spawner_fd >= 0) {
		td_ifd_close(srv->workers.spawner_fd);
		srv->workers.spawner_fd = -1;
	}
	pthread_mutex_unlock(&td_spawner_lock);
	if (pid <= 0)
		return;
	/* EOF ends it at once; a stuck one gets SIGKILL. */
	for (int ms = 0; ms < TD_SPW_STOP_MS && got == 0; ms += 10) {
		got = waitpid(pid, NULL, WNOHANG);
		if (got == 0)
			nanosleep(&nap, NULL);
		else if (got < 0 && errno == EINTR)
			got = 0;
	}
	if (got == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	srv->workers.spawner_pid = 0;
}
