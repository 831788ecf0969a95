/*
 * The policy on the server itself: loaded at start, enforced twice.
 *
 * The user-space check (syscall.c) answers a denied call with the rule
 * that denied it.  This file sets up the second enforcement, the one that
 * does not depend on that check being right: a seccomp filter built from
 * the same policy plus exactly what the server needs to run, and, since
 * io_uring operations never pass through seccomp, a ring restricted to
 * the opcodes the policy could allow.
 *
 * Order matters and main.c keeps it: policy and spawner before the ring
 * (the spawner must not inherit the ring or the filter), the ring created
 * disabled, restricted and enabled, then the filter, last.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy.h"
#include "tetherd.h"
#include "workers/workers.h"

/*
 * What tetherd itself calls once serving, whatever the policy says: the
 * ring, its sockets and SCM_RIGHTS, fd-table introspection and GC,
 * worker reaping and logs, memory, logging and exit.  A policy cannot
 * take these away from the server (the user-space check still refuses
 * them to the controller); nothing else gets past the filter.
 */
static const char *const td_server_needs[] = {
	/* the ring and the loop */
	"io_uring_enter", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn",
	"restart_syscall", "clock_gettime", "clock_nanosleep", "nanosleep",
	"gettimeofday", "sched_yield", "futex",
	/* fds: our own, the controller's sockets, /proc/self/fd */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek",
	"close", "close_range", "dup", "dup3", "fcntl", "fstat",
	"newfstatat", "statx", "stat", "lstat", "access", "faccessat",
	"faccessat2", "openat", "openat2", "fstatfs", "getdents64",
	"readlink",
	"readlinkat", "ioctl", "flock",
	/* sockets: handshakes, data transfers, peer credentials */
	"recvmsg", "sendmsg", "recvfrom", "sendto", "getsockopt",
	"setsockopt", "shutdown", "accept4", "getsockname", "splice", "tee",
	/* workers: logs, pipes, signals, reaping; forks are the spawner's */
	"pipe2", "kill", "tgkill", "pidfd_open", "pidfd_send_signal",
	"waitid", "wait4", "unlink", "unlinkat", "rename", "renameat",
	"renameat2", "linkat", "ftruncate", "fsync", "fdatasync",
	"getrusage", "prlimit64", "setrlimit", "getrlimit",
	/* being persistent, answering STATUS */
	"setsid", "prctl", "getpid", "gettid", "getuid", "geteuid",
	"getgid", "getegid", "sysinfo", "uname",
	/* memory; remote memory is copied with process_vm_readv */
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
	"memfd_create", "getrandom", "process_vm_readv",
	"process_vm_writev",
	/* helper threads: cancelled by a signal, woken through an eventfd */
	"getpgrp", "set_robust_list", "rseq",
	/* the end */
	"exit", "exit_group",
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
	/* The sanitizers' runtime: leak checking stops the world from a
	 * thread, reports go to files. */
	"clone", "clone3", "ptrace", "sched_getaffinity", "sigaltstack",
	"set_robust_list", "rseq", "open", "getdents",
#endif
	NULL,
};

/* Ring opcodes by the syscall they carry out (async.c's td_ring_map). */
static const struct {
	const char *syscall;
	unsigned char op;
} td_ring_ops[] = {
	{ "read", IORING_OP_READ }, { "pread64", IORING_OP_READ },
	{ "write", IORING_OP_WRITE }, { "pwrite64", IORING_OP_WRITE },
	{ "readv", IORING_OP_READV }, { "preadv", IORING_OP_READV },
	{ "writev", IORING_OP_WRITEV }, { "pwritev", IORING_OP_WRITEV },
	{ "recvfrom", IORING_OP_RECV }, { "sendto", IORING_OP_SEND },
	{ "recvmsg", IORING_OP_RECVMSG }, { "sendmsg", IORING_OP_SENDMSG },
	{ "accept", IORING_OP_ACCEPT }, { "accept4", IORING_OP_ACCEPT },
	{ "connect", IORING_OP_CONNECT },
	{ "close", IORING_OP_CLOSE }, { "statx", IORING_OP_STATX },
	{ "fsync", IORING_OP_FSYNC }, { "fdatasync", IORING_OP_FSYNC },
	{ "splice", IORING_OP_SPLICE }, { "tee", IORING_OP_TEE },
	{ "shutdown", IORING_OP_SHUTDOWN },
	{ "nanosleep", IORING_OP_TIMEOUT }, { "poll", IORING_OP_POLL_ADD },
};

/* The ring ops the server itself submits (loop.c, handshake/, conn/,
 * reply/, workers/capture.c and wait.c, data/, exec/async.c's cancels,
 * deferred/timer.c's timeouts).  READ, WRITE and SPLICE are data/'s: a
 * streamed GET splices (or reads) its file and a streamed PUT writes its
 * temporary through the ring, and those are checked as openat, not as
 * read, write or splice
 * (tetherd(8)).  The seccomp filter lets read and write through for the
 * server anyway (td_server_needs), so for them, in the ring as in a
 * syscall, the user-space check is what binds a controller. */
static const unsigned char td_ring_own_ops[] = {
	IORING_OP_ACCEPT, IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE,
	IORING_OP_ASYNC_CANCEL, IORING_OP_TIMEOUT, IORING_OP_TIMEOUT_REMOVE,
	IORING_OP_LINK_TIMEOUT, IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE,
	IORING_OP_SPLICE,
};

static void td_policy_errors(char *buf, size_t len, char *err,
			     size_t errsz)
{
	char *line = buf, *nl;

	/* Every error in the log; the first in the ready-fd answer. */
	for (; line && line < buf + len && *line; line = nl ? nl + 1 : NULL) {
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		td_log("policy: %s", line);
		if (line == buf)
			snprintf(err, errsz, "%s", line);
	}
}

int td_policy_setup(struct td_server *srv, char *err, size_t errsz)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f) {
		snprintf(err, errsz, "policy: out of memory");
		return -ENOMEM;
	}
	rc = td_policy_load(srv->policy.path, f, &srv->policy.loaded);
	fclose(f);
	if (rc < 0) {
		td_policy_errors(buf, len, err, errsz);
		if (!err[0])
			snprintf(err, errsz, "policy %s: %s", srv->policy.path,
				 strerror(-rc));
		free(buf);
		return rc;
	}
	free(buf);
	return 0;
}

static int td_nr(const char *name)
{
	return seccomp_syscall_resolve_name(name);
}

/* Exactly the opcodes that carry a syscall the policy may allow, plus
 * the loop's own; three SQE flags, the link of a linked timeout, the
 * quiet completion of a reply's send (reply/) and a remote file's
 * reads and writes sent straight to io-wq (data/). */
static int td_ring_restrict(struct td_server *srv)
{
	struct io_uring_restriction res[64];
	bool on[IORING_OP_LAST] = { false };
	unsigned n = 0;
	int rc;

	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(td_ring_own_ops); i++)
		on[td_ring_own_ops[i]] = true;
	for (size_t i = 0; i < sizeof(td_ring_ops) / sizeof(td_ring_ops[0]);
	     i++) {
		int nr = td_nr(td_ring_ops[i].syscall);

		if (nr >= 0 && td_policy_may_allow(srv->policy.loaded, nr))
			on[td_ring_ops[i].op] = true;
	}
	/* Replies go by the ring only where the policy lets the ring send
	 * at all: the restriction is the second check of sendto. */
	srv->conns.sync_send = !on[IORING_OP_SEND];
	for (unsigned op = 0; op < IORING_OP_LAST && n < 63; op++) {
		if (!on[op])
			continue;
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = (uint8_t)op;
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS |
			     IOSQE_ASYNC;	/* a remote file's (data/) */
	/* Raw calls: Debian's liburing 2.3 library lacks the wrappers. */
	if (syscall(__NR_io_uring_register, srv->ring.ring_fd,
		    IORING_REGISTER_RESTRICTIONS, res, n) < 0 ||
	    syscall(__NR_io_uring_register, srv->ring.ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		rc = -errno;
		return rc;
	}
	return 0;
}

/* Calls the server needs that libseccomp may not know by name yet
 * (Debian 12's 2.5.4): by number, the same on every architecture for
 * calls this new.  statmount: fds/remotefs.c. */
static const int td_server_needs_nr[] = { 457 };

int td_filter_install(struct td_server *srv, char *err, size_t errsz)
{
	int extra[sizeof(td_server_needs) / sizeof(td_server_needs[0]) +
		  sizeof(td_server_needs_nr) / sizeof(td_server_needs_nr[0])];
	size_t nextra = 0;
	scmp_filter_ctx ctx = NULL;
	int rc;

	if ((rc = td_ring_restrict(srv)) < 0) {
		snprintf(err, errsz, "io_uring restrictions: %s",
			 strerror(-rc));
		return rc;
	}
	for (size_t i = 0; td_server_needs[i]; i++) {
		int nr = td_nr(td_server_needs[i]);

		if (nr >= 0)
			extra[nextra++] = nr;
	}
	for (size_t i = 0; i < sizeof(td_server_needs_nr) /
				sizeof(td_server_needs_nr[0]); i++)
		extra[nextra++] = td_server_needs_nr[i];
	if ((rc = td_policy_filter(srv->policy.loaded, extra, nextra, &ctx)) < 0) {
		snprintf(err, errsz, "seccomp filter: %s", strerror(-rc));
		return rc;
	}
	/* Every thread: the helpers exist already, and a filter on the
	 * loop's thread alone would let them run anything. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0) {
		snprintf(err, errsz, "seccomp TSYNC: %s", strerror(-rc));
		goto out;
	}
	/* libseccomp sets no_new_privs itself (SCMP_FLTATR_CTL_NNP); said
	 * here too, so that a failure names it. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		snprintf(err, errsz, "PR_SET_NO_NEW_PRIVS: %s", strerror(-rc));
		goto out;
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		snprintf(err, errsz, "seccomp_load: %s", strerror(-rc));
		goto out;
	}
	td_log("policy %s: %zu rules, default %s; seccomp filter and ring "
	       "restrictions in place", srv->policy.path, srv->policy.loaded->nrules,
	       srv->policy.loaded->default_allow ? "allow" : "deny");
out:
	seccomp_release(ctx);
	return rc;
}

/* A rule of the policy, as a line a person can read. */
static int td_policy_pack_rule(struct tp_w *w, const void *ctx, uint32_t i)
{
	const struct td_policy *p = ctx;
	char line[512];

	td_rule_format(p, &p->rules[i], line, sizeof(line));
	return tp_w_cstr(w, line);
}

/* POLICY: what this server enforces, as text rules a person can read. */
int td_do_policy(struct td_req *r)
{
	const struct td_policy *p = r->srv->policy.loaded;
	struct tp_policy_reply rep = { .active = p != NULL };
	char line[512];

	if (p) {
		td_rule_format(p, NULL, line, sizeof(line));
		rep.has = TP_POLICY_PATH | TP_POLICY_DEFAULT | TP_POLICY_RULES;
		rep.path = tp_str(r->srv->policy.path);
		rep.default_rule = tp_str(line);
		rep.rules = (struct tp_list){ .n = (uint32_t)p->nrules,
					      .each = td_policy_pack_rule,
					      .ctx = p };
	}
	return tp_pack_policy_reply(r->w, &rep);
}
