/*
 * bench_reconnect: what attaching to tetherd costs, and what a GC of
 * 10,000 fds costs, against the raw cost of the IPC a reconnect is made
 * of.
 *
 * Under one CPU pinning: a raw baseline (two fresh socketpairs per
 * iteration, their far ends passed with SCM_RIGHTS in a packet the size
 * of tether's HELLO over a pre-established SOCK_SEQPACKET connection to a
 * child, which closes them and answers a packet the size of tetherd's
 * HELLO answer); the same with a fresh connect()/accept() per iteration;
 * tether_connect() + tether_disconnect() against a real tetherd;
 * tether_connect() + one tether_getpid() + tether_disconnect(), the
 * one-shot client (tetherctl call), waiting for the HELLO's answer and
 * with TETHER_CONNECT_PIPELINE (the getpid right behind the HELLO: one
 * round trip instead of two); and tether_gc() of 10,000 orphan fds in
 * that tetherd.  Each is run
 * BENCH_RUNS times, interleaved; the median of the per-run values is
 * reported.  Timing is only reported, never judged: the exit status says
 * whether something broke, not whether tether was fast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS 5
#define BENCH_TARGET 2.0		/* tether reconnect / raw (issue 17) */
#define BENCH_GC_FDS 10000		/* orphan fds per GC run */
#define BENCH_GC_TARGET_MS 20.0
#define BENCH_PASS 2			/* fds per HELLO: syscall, data */
#define BENCH_PKT_MAX 4096		/* the library's answer buffer */
#define BENCH_EXIT_TRIES 100		/* x 20 ms, after SHUTDOWN */
#define BENCH_BUSY_TRIES 1000		/* EBUSY retries of one attach */

struct bench_opts {
	struct bench_args a;
	long iterations;
	long warmup;
};

/* The two packets of a handshake: what a controller sends (plus two
 * fds), and what tetherd answers. */
struct bench_packets {
	struct tp_msg hello;
	unsigned char answer[BENCH_PKT_MAX];
	size_t answer_len;
	bool answer_measured;		/* from a real handshake */
};

/* A raw peer: a child on a pre-established SOCK_SEQPACKET socketpair
 * (fd), or one accepting on a listening socket at path (fd -1). */
struct bench_raw {
	int fd;
	pid_t pid;
	const struct bench_packets *p;
	unsigned char rbuf[BENCH_PKT_MAX];
	struct sockaddr_un sa;
};

/* A tetherd of our own, on a socket in a private directory.  No handle
 * stays attached between measurements: the reconnect row attaches
 * itself. */
struct bench_tether {
	struct bench_tetherd d;		/* d.t stays NULL */
	char dir[BENCH_DIR_MAX];
	char rawsock[128];
	long attaches;			/* tether_connect() successes */
	long busy;			/* and EBUSY answers retried */
};

struct bench_results {
	struct bench_series raw;
	struct bench_series rawc;
	struct bench_series tether;
	struct bench_series call;	/* connect + getpid + disconnect */
	struct bench_series piped;	/* the same, pipelined */
	struct bench_series gc;
	size_t gc_closed[BENCH_RUNS];
	bool tether_ok;
	int tether_err;			/* why it is missing, or 0 */
	bool gc_ok;
	int gc_err;
	long attaches;			/* successful tether_connect()s */
	long busy;			/* EBUSY answers retried on the way */
	char cpus_self[64];
	char cpus_raw[64];
	char cpus_rawc[64];
	char cpus_tetherd[64];
};

/* A sockaddr_un for path; -ENAMETOOLONG if it does not fit. */
static int bench_sockaddr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* A fresh SOCK_SEQPACKET connection to sa, as the library dials. */
static int bench_dial(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	while (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		close(fd);
		return -err;
	}
	return fd;
}

/* ---- the packets ----------------------------------------------------- */

/* [1, HELLO, [version, flags, pid]], as the library sends it. */
static int bench_build_hello(struct tp_msg *m)
{
	tp_msg_init(m);
	tp_msg_request(m, 1, TETHER_OP_HELLO);
	if (msgpack_pack_array(&m->pk, 3) < 0 ||
	    msgpack_pack_unsigned_int(&m->pk, TETHER_PROTO_VERSION) < 0 ||
	    msgpack_pack_unsigned_int(&m->pk, 0) < 0 ||
	    msgpack_pack_int(&m->pk, getpid()) < 0)
		return -ENOMEM;
	return tp_msg_finish(m);
}

/* A replica of tetherd's HELLO answer (same keys, plausible values), for
 * when no real handshake could be made: the raw rows still run. */
static int bench_build_answer_replica(struct bench_packets *p)
{
	struct tp_msg m;
	int rc;

	tp_msg_init(&m);
	tp_msg_reply(&m, 1, 0);
	msgpack_pack_map(&m.pk, 12);
	tp_pack_kv_int(&m.pk, "version", TETHER_PROTO_VERSION);
	tp_pack_kv_int(&m.pk, "pid", getpid());
	tp_pack_kv_int(&m.pk, "generation", 2);
	tp_pack_kv_int(&m.pk, "syscall_fd", 65300);
	tp_pack_kv_int(&m.pk, "data_fd", 65301);
	tp_pack_kv_int(&m.pk, "uptime_ms", 1000);
	tp_pack_kv_int(&m.pk, "nfds", 0);
	tp_pack_kv_int(&m.pk, "ninternal", 8);
	tp_pack_kv_int(&m.pk, "nlabels", 0);
	tp_pack_kv_int(&m.pk, "children", 0);
	tp_pack_kv_bool(&m.pk, "persistent", true);
	tp_pack_kv_bool(&m.pk, "observer", false);
	rc = tp_msg_finish(&m);
	if (rc == 0 && tp_msg_size(&m) > sizeof(p->answer))
		rc = -EMSGSIZE;
	if (rc == 0) {
		memcpy(p->answer, tp_msg_data(&m), tp_msg_size(&m));
		p->answer_len = tp_msg_size(&m);
		p->answer_measured = false;
	}
	tp_msg_destroy(&m);
	return rc;
}

/* ---- one handshake's worth of IPC ---------------------------------- */

/* What a controller does on an established handshake connection: two
 * fresh socketpairs, their far ends sent with the HELLO, our copies of
 * those closed, the answer read into rbuf (*got bytes), our ends closed. */
static int bench_exchange(int conn, const struct tp_msg *hello,
			  unsigned char *rbuf, size_t *got)
{
	int sp[2] = { -1, -1 }, dp[2] = { -1, -1 }, pass[BENCH_PASS];
	ssize_t n;
	int rc = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = -errno;
		goto out;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	n = tp_send_fds(conn, tp_msg_data(hello), tp_msg_size(hello), 0, pass,
			BENCH_PASS);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	close(sp[1]);
	close(dp[1]);
	sp[1] = dp[1] = -1;
	do
		n = recv(conn, rbuf, BENCH_PKT_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = -errno;
	else if (n == 0)
		rc = -ECONNRESET;
	else
		*got = (size_t)n;
out:
	for (int i = 0; i < 2; i++) {
		if (sp[i] >= 0)
			close(sp[i]);
		if (dp[i] >= 0)
			close(dp[i]);
	}
	return rc;
}

/* One real handshake with tetherd, only to learn its answer packet
 * (and check that a HELLO we built is accepted).  Our sockets close
 * right after, which detaches us. */
static int bench_measure_answer(const char *sock, struct bench_packets *p)
{
	struct sockaddr_un sa;
	struct tp_in in;
	size_t got = 0;
	int fd, rc;

	if ((rc = bench_sockaddr(&sa, sock)) < 0)
		return rc;
	if ((fd = bench_dial(&sa)) < 0)
		return fd;
	rc = bench_exchange(fd, &p->hello, p->answer, &got);
	close(fd);
	if (rc < 0)
		return rc;
	if (got < TETHER_FRAME_HDR)
		return -EPROTO;
	rc = tp_decode(p->answer + TETHER_FRAME_HDR, got - TETHER_FRAME_HDR,
		       &in);
	if (rc == 0 && in.code != 0)
		rc = in.code > 0 && in.code < 4096 ? -(int)in.code : -EPROTO;
	tp_in_destroy(&in);
	if (rc < 0)
		return rc;
	p->answer_len = got;
	p->answer_measured = true;
	return 0;
}

/* ---- a) raw: socketpairs + SCM_RIGHTS, with or without connect ------ */

/* Receive one HELLO-like packet, close the fds it carried, answer.
 * 1 when served, 0 on EOF without fds, or -errno. */
static int bench_serve_one(int fd, const struct bench_packets *p,
			   unsigned char *buf)
{
	union {
		char b[CMSG_SPACE(BENCH_PASS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, BENCH_PKT_MAX };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	unsigned nfds = 0;
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
	     cm = CMSG_NXTHDR(&msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;

			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(x));
			close(x);
			nfds++;
		}
	}
	if (n == 0 && nfds == 0)
		return 0;
	if (nfds != BENCH_PASS || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)))
		return -EPROTO;
	do
		n = send(fd, p->answer, p->answer_len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == p->answer_len ? 1 : -EPROTO;
}

/* Child set-up: die with the bench, keep no fd but its own socket (one
 * the other child waits on EOF of, say), sit on the peer CPU in cross
 * mode. */
static void bench_child_setup(int keep, pid_t parent, enum bench_pin pin)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	if (keep > 3)
		syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
	syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
	if (pin == PIN_CROSS && bench_pin_pid(0, BENCH_CPU_PEER) < 0)
		_exit(3);
}

/* Child on the pre-established connection: serve until the parent
 * hangs up. */
static void __attribute__((noreturn))
bench_raw_child(int fd, const struct bench_packets *p, pid_t parent,
		enum bench_pin pin)
{
	static unsigned char buf[BENCH_PKT_MAX];

	bench_child_setup(fd, parent, pin);
	for (;;) {
		int rc = bench_serve_one(fd, p, buf);

		if (rc <= 0)
			_exit(rc == 0 ? 0 : 1);
	}
}

/* Child on the listening socket: like tetherd, accept, serve the one
 * packet, close.  A connection closed without a packet says stop. */
static void __attribute__((noreturn))
bench_rawc_child(int lfd, const struct bench_packets *p, pid_t parent,
		 enum bench_pin pin)
{
	static unsigned char buf[BENCH_PKT_MAX];

	bench_child_setup(lfd, parent, pin);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), rc;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		rc = bench_serve_one(fd, p, buf);
		close(fd);
		if (rc <= 0)
			_exit(rc == 0 ? 0 : 1);
	}
}

/* Fork the child on a SOCK_SEQPACKET socketpair (path NULL), or on a
 * listening socket bound at path. */
static int bench_raw_start(struct bench_raw *r, const struct bench_packets *p,
			   const char *path, enum bench_pin pin)
{
	pid_t self = getpid();
	int sv[2] = { -1, -1 }, rc;

	r->p = p;
	r->pid = -1;
	r->fd = -1;
	/* CLOEXEC: tetherd must not inherit our end, nor the child ours. */
	if (!path) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
			       sv) < 0)
			return -errno;
	} else {
		if ((rc = bench_sockaddr(&r->sa, path)) < 0)
			return rc;
		sv[1] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (sv[1] < 0)
			return -errno;
		if (bind(sv[1], (struct sockaddr *)&r->sa, sizeof(r->sa)) < 0 ||
		    listen(sv[1], 16) < 0) {
			rc = -errno;
			close(sv[1]);
			return rc;
		}
	}
	fflush(NULL);
	r->pid = fork();
	if (r->pid < 0) {
		rc = -errno;
		if (sv[0] >= 0)
			close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (r->pid == 0) {
		if (sv[0] >= 0)
			close(sv[0]);
		if (path)
			bench_rawc_child(sv[1], p, self, pin);
		bench_raw_child(sv[1], p, self, pin);
	}
	close(sv[1]);
	r->fd = sv[0];
	return 0;
}

/* One exchange; the answer must be the size the child sends. */
static int bench_raw_exchange(struct bench_raw *r, int conn)
{
	size_t got = 0;
	int rc = bench_exchange(conn, &r->p->hello, r->rbuf, &got);

	if (rc == 0 && got != r->p->answer_len)
		rc = -EPROTO;
	return rc;
}

/* n exchanges over the pre-established connection. */
static int bench_raw(void *ctx, long n)
{
	struct bench_raw *r = ctx;

	for (long i = 0; i < n; i++) {
		int rc = bench_raw_exchange(r, r->fd);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* n exchanges, each on a fresh connection (connect, exchange, close). */
static int bench_rawc(void *ctx, long n)
{
	struct bench_raw *r = ctx;

	for (long i = 0; i < n; i++) {
		int fd = bench_dial(&r->sa), rc;

		if (fd < 0)
			return fd;
		rc = bench_raw_exchange(r, fd);
		close(fd);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Tell the child to stop and reap it; -EIO if it did not exit cleanly. */
static int bench_raw_stop(struct bench_raw *r)
{
	int rc;

	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	} else if (r->pid > 0) {
		int fd = bench_dial(&r->sa);

		if (fd >= 0)
			close(fd);
		else
			kill(r->pid, SIGKILL);
	}
	if (r->pid <= 0)
		return 0;
	rc = bench_reap(r->pid);
	r->pid = -1;
	return rc;
}

/* ---- b) tether ------------------------------------------------------- */

/* The private directory, tetherd in it (logging to a file: it logs
 * every attach and detach), made persistent and detached, so the
 * reconnect row finds it free; the raw accept child's socket path. */
static int bench_tether_start(struct bench_tether *bt,
			      const struct bench_opts *o)
{
	int rc = bench_mkdir(bt->dir);

	if (rc < 0)
		return bench_fail("making a private directory", rc);
	if ((rc = bench_path(bt->rawsock, sizeof(bt->rawsock), bt->dir,
			     "raw.sock")) < 0)
		return rc;
	rc = bench_tetherd_start(&bt->d, bt->dir, "tetherd", o->a.tetherd,
				 NULL, o->a.pin);
	if (!bt->d.t)
		return rc;
	if (rc == 0 && (rc = tether_make_persistent(bt->d.t)) < 0)
		fprintf(stderr, "bench: tether_make_persistent: %s (%s)\n",
			strerror(-rc), tether_last_error(bt->d.t));
	tether_disconnect(bt->d.t);
	bt->d.t = NULL;
	return rc;
}

/* What an attach saw: the count, or the failure said. */
static int bench_attached(struct bench_tether *bt, int rc, int tries)
{
	bt->busy += tries;
	if (rc < 0) {
		fprintf(stderr, "bench: tether_connect: %s (%s)\n",
			strerror(-rc), tether_last_error(NULL));
		return rc;
	}
	bt->attaches++;
	return 0;
}

/* tether_connect(), as a controller that just detached would: should
 * tetherd answer EBUSY (attached by us: it has not yet seen our
 * previous detach), try again at once, and count it. */
static int bench_attach(struct bench_tether *bt, struct tether **t)
{
	int rc, tries = 0;

	while ((rc = tether_connect(bt->d.sock, 0, t)) == -EBUSY &&
	       tries < BENCH_BUSY_TRIES)
		tries++;
	return bench_attached(bt, rc, tries);
}

/* n one-shot clients: attach, one getpid, detach; the pipelined one's
 * refusal (EBUSY, as above) comes with the getpid. */
static int bench_call_flags(struct bench_tether *bt, long n, unsigned flags)
{
	for (long i = 0; i < n; i++) {
		struct tether *t = NULL;
		int rc, tries = 0;
		long pid = 0;

		for (;;) {
			rc = tether_connect(bt->d.sock, flags, &t);
			if (rc == 0 && (rc = tether_getpid(t, &pid)) == -EBUSY)
				tether_disconnect(t);
			if (rc != -EBUSY || tries >= BENCH_BUSY_TRIES)
				break;
			tries++;
		}
		if (rc < 0 && t && flags)
			fprintf(stderr, "bench: getpid: %s\n",
				tether_last_error(t));
		if ((rc = bench_attached(bt, rc, tries)) < 0)
			return rc;
		tether_disconnect(t);
		if (pid <= 0)
			return -EPROTO;
	}
	return 0;
}

static int bench_call(void *ctx, long n)
{
	return bench_call_flags(ctx, n, 0);
}

static int bench_piped(void *ctx, long n)
{
	return bench_call_flags(ctx, n, TETHER_CONNECT_PIPELINE);
}

/* n attach + detach cycles, the whole of a controller's reconnect. */
static int bench_reconnect(void *ctx, long n)
{
	struct bench_tether *bt = ctx;

	for (long i = 0; i < n; i++) {
		struct tether *t;
		int rc = bench_attach(bt, &t);

		if (rc < 0)
			return rc;
		tether_disconnect(t);
	}
	return 0;
}

/* Give tetherd BENCH_GC_FDS orphan fds: one open of /dev/null and dups
 * of it, none held or labeled.  Not timed. */
static int bench_gc_fill(struct tether *t)
{
	struct tether_call c = { .nr = SYS_openat, .nargs = 4 };
	int fd, rc;

	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR("/dev/null");
	c.args[2] = TETHER_INT(O_RDONLY);
	c.args[3] = TETHER_INT(0);
	if ((rc = tether_call(t, &c)) < 0)
		return rc;
	if (c.ret < 0)
		return (int)c.ret;
	fd = (int)c.ret;
	memset(&c, 0, sizeof(c));
	c.nr = SYS_fcntl;
	c.nargs = 3;
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_INT(F_DUPFD);
	c.args[2] = TETHER_INT(0);
	for (int i = 1; i < BENCH_GC_FDS; i++) {
		if ((rc = tether_call(t, &c)) < 0)
			return rc;
		if (c.ret < 0)
			return (int)c.ret;
	}
	return 0;
}

/* One GC run: attach, fill, time tether_gc() (its round trip and the
 * decode of the closed list included), detach. */
static int bench_gc(struct bench_tether *bt, double *ns, size_t *nclosed)
{
	struct tether *t;
	int *closed = NULL;
	double t0 = 0, t1 = 0;
	int rc;

	if ((rc = bench_attach(bt, &t)) < 0)
		return rc;
	rc = bench_gc_fill(t);
	if (rc < 0)
		fprintf(stderr, "bench: making %d fds in tetherd: %s (%s)\n",
			BENCH_GC_FDS, strerror(-rc), tether_last_error(t));
	if (rc == 0)
		rc = bench_now(&t0);
	if (rc == 0) {
		rc = tether_gc(t, NULL, 0, 0, &closed, nclosed);
		if (rc < 0)
			fprintf(stderr, "bench: tether_gc: %s (%s)\n",
				strerror(-rc), tether_last_error(t));
	}
	if (rc == 0)
		rc = bench_now(&t1);
	tether_free(closed);
	tether_disconnect(t);
	if (rc < 0)
		return rc;
	if (*nclosed < BENCH_GC_FDS) {
		fprintf(stderr, "bench: tether_gc closed %zu fds, expected at "
			"least %d\n", *nclosed, BENCH_GC_FDS);
		return -EPROTO;
	}
	*ns = t1 - t0;
	return 0;
}

/* Wait up to BENCH_EXIT_TRIES x 20 ms for tetherd to exit; 0 when it
 * did, -ETIMEDOUT when it is still there. */
static int bench_tether_wait(pid_t pid)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (int tries = 0; tries < BENCH_EXIT_TRIES; tries++) {
		pid_t p = waitpid(pid, NULL, WNOHANG);

		if (p == pid || (p < 0 && errno == ECHILD))
			return 0;
		if (p < 0 && errno != EINTR)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/* Attach, shut the server down, detach, reap it (kill -9 if it does not
 * go), clean up the directory. */
static int bench_tether_stop(struct bench_tether *bt)
{
	struct tether *t;
	pid_t pid = bt->d.pid;
	int rc = 0;

	if (pid > 0) {
		rc = bench_attach(bt, &t);
		if (rc == 0) {
			bt->d.t = t;
			rc = bench_tetherd_stop(&bt->d);
		}
		if (rc < 0 || bench_tether_wait(pid) < 0) {
			fprintf(stderr, "bench: tetherd %d did not exit; "
				"killing it\n", (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			rc = rc < 0 ? rc : -ETIMEDOUT;
		}
		bench_guard_pid(pid, false);
		bt->d.pid = 0;
	}
	if (bt->dir[0] && bench_rmdir(bt->dir, 2) < 0 && rc == 0)
		rc = -EIO;
	bt->dir[0] = '\0';
	return rc;
}

/* ---- measuring ------------------------------------------------------- */

/* BENCH_RUNS rounds of the four measurements, interleaved so that a
 * slow stretch of the machine hits all alike.  A tether failure stops
 * only the tether rows (a GC failure only the GC row). */
static int bench_run_all(const struct bench_opts *o, struct bench_raw *raw,
			 struct bench_raw *rawc, struct bench_tether *bt,
			 struct bench_results *res)
{
	int rc;

	for (int run = 0; run < BENCH_RUNS; run++) {
		double ns = 0;

		rc = bench_measure(bench_raw, raw, o->warmup, o->iterations,
				   &res->raw);
		if (rc < 0)
			return bench_fail("raw socketpair+SCM_RIGHTS", rc);
		rc = bench_measure(bench_rawc, rawc, o->warmup, o->iterations,
				   &res->rawc);
		if (rc < 0)
			return bench_fail("raw with connect/accept", rc);
		if (!res->tether_ok)
			continue;
		rc = bench_measure(bench_reconnect, bt, o->warmup,
				   o->iterations, &res->tether);
		if (rc == 0)
			rc = bench_measure(bench_call, bt, o->warmup,
					   o->iterations, &res->call);
		if (rc == 0)
			rc = bench_measure(bench_piped, bt, o->warmup,
					   o->iterations, &res->piped);
		if (rc < 0) {
			res->tether_ok = res->gc_ok = false;
			res->tether_err = res->gc_err = rc;
			continue;
		}
		if (!res->gc_ok)
			continue;
		rc = bench_gc(bt, &ns, &res->gc_closed[res->gc.n]);
		if (rc < 0) {
			res->gc_ok = false;
			res->gc_err = rc;
			continue;
		}
		res->gc.ns[res->gc.n++] = ns;
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* The ratios: reconnect / raw, reconnect / raw with connect; the GC
 * median in ms, or -1. */
static void bench_ratios(const struct bench_results *res, double r[4])
{
	r[3] = bench_ratio(bench_median(&res->piped),
			   bench_median(&res->call));
	r[0] = bench_ratio(bench_median(&res->tether),
			   bench_median(&res->raw));
	r[1] = bench_ratio(bench_median(&res->tether),
			   bench_median(&res->rawc));
	r[2] = bench_in(bench_median(&res->gc), BENCH_MS);
}

/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_packets *p,
			      const struct bench_results *res)
{
	double r[4];

	bench_ratios(res, r);

	bench_layout.width = 30;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, raw child %s, raw accept child %s, "
	       "tetherd %s\n", res->cpus_self, res->cpus_raw, res->cpus_rawc,
	       res->cpus_tetherd[0] ? res->cpus_tetherd : "n/a");
	printf("iterations: %ld x %d runs (warmup %ld)    "
	       "packets: HELLO %zu B + %d fds, answer %zu B (%s)\n\n",
	       o->iterations, BENCH_RUNS, o->warmup, tp_msg_size(&p->hello),
	       BENCH_PASS, p->answer_len,
	       p->answer_measured ? "from a real handshake"
				  : "replica: no handshake possible");
	bench_print_heads("", "ns/op median", "min run", "max run");
	bench_print_row("raw socketpair+SCM_RIGHTS", &res->raw, BENCH_NS);
	bench_print_row("raw +connect/accept", &res->rawc, BENCH_NS);
	bench_print_row("tether connect+disconnect", &res->tether, BENCH_NS);
	bench_print_row("connect+getpid+disconnect", &res->call, BENCH_NS);
	bench_print_row("  the same, pipelined", &res->piped, BENCH_NS);
	printf("\n");
	bench_print_heads("", "ms median", "min run", "max run");
	bench_print_row("tether gc (10000 fds)", &res->gc, BENCH_MS);
	if (res->gc.n)
		printf("  (client side: request, server scan + close_range, "
		       "reply of %zu fds, decode)\n", res->gc_closed[0]);
	printf("\n");
	bench_print_ratio("reconnect / raw", r[0]);
	bench_print_ratio("reconnect / raw+connect", r[1]);
	bench_print_ratio("pipelined / waiting", r[3]);
	printf("target: reconnect/raw <= %.0f: %s\n", BENCH_TARGET,
	       bench_verdict(r[0], BENCH_TARGET, true));
	printf("target: gc(%d fds) < %.0f ms: %s\n", BENCH_GC_FDS,
	       BENCH_GC_TARGET_MS,
	       bench_verdict(r[2], BENCH_GC_TARGET_MS, true));
	if (res->busy)
		printf("EBUSY: %ld of %ld attaches were first refused as "
		       "\"attached\" (tetherd had not yet seen the previous "
		       "detach); retried at once, the retries are in the "
		       "times\n", res->busy, res->attaches);
	if (!res->tether_ok)
		printf("tether rows missing: %s\n", strerror(-res->tether_err));
	else if (!res->gc_ok)
		printf("gc row incomplete: %s\n", strerror(-res->gc_err));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_packets *p,
			     const struct bench_results *res)
{
	double r[4];

	bench_ratios(res, r);

	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\", "
	       "\"raw_accept_child\": \"%s\", \"tetherd\": \"%s\"},\n",
	       res->cpus_self, res->cpus_raw, res->cpus_rawc,
	       res->cpus_tetherd);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"runs\": %d,\n",
	       o->iterations, o->warmup, BENCH_RUNS);
	printf("  \"hello_bytes\": %zu,\n  \"hello_fds\": %d,\n"
	       "  \"answer_bytes\": %zu,\n  \"answer_measured\": %s,\n",
	       tp_msg_size(&p->hello), BENCH_PASS, p->answer_len,
	       p->answer_measured ? "true" : "false");
	bench_json_series("raw_scm_rights", &res->raw, BENCH_NS);
	bench_json_series("raw_connect_accept", &res->rawc, BENCH_NS);
	bench_json_series("tether_reconnect", &res->tether, BENCH_NS);
	bench_json_series("tether_connect_call", &res->call, BENCH_NS);
	bench_json_series("tether_connect_call_pipelined", &res->piped,
			  BENCH_NS);
	bench_json_series("tether_gc", &res->gc, BENCH_NS);
	printf("  \"gc_fds\": %d,\n  \"gc_closed\": [", BENCH_GC_FDS);
	for (int i = 0; i < res->gc.n; i++)
		printf("%s%zu", i ? ", " : "", res->gc_closed[i]);
	printf("],\n  \"attaches\": %ld,\n  \"attach_ebusy_retries\": %ld,\n",
	       res->attaches, res->busy);
	bench_json_ratio("ratio_reconnect_raw", r[0], false);
	bench_json_ratio("ratio_reconnect_raw_connect", r[1], false);
	bench_json_ratio("ratio_pipelined_waiting", r[3], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("target_met", r[0], BENCH_TARGET, true, false);
	printf("  \"target_gc_ms\": %.1f,\n", BENCH_GC_TARGET_MS);
	bench_json_met("gc_target_met", r[2], BENCH_GC_TARGET_MS, true, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 2000, .warmup = 200 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup, LONG_MAX),
		{ .name = NULL },
	};
	struct bench_packets p = { 0 };
	struct bench_raw raw = { .fd = -1, .pid = -1 };
	struct bench_raw rawc = { .fd = -1, .pid = -1 };
	struct bench_tether bt = { 0 };
	struct bench_results res = { 0 };
	int rc, status = 0;

	if (bench_args_parse(argc, argv, "the raw children and tetherd", opts,
			     &o.a) < 0)
		return 2;
	if (bench_setup(o.a.pin) < 0)
		return 1;
	rc = bench_build_hello(&p.hello);
	if (rc < 0) {
		bench_fail("building the HELLO packet", rc);
		tp_msg_destroy(&p.hello);
		return 1;
	}
	rc = bench_tether_start(&bt, &o);
	res.tether_ok = res.gc_ok = rc == 0;
	res.tether_err = res.gc_err = rc;
	if (rc < 0)
		status = 1;
	if (!bt.rawsock[0])
		goto out;
	/* The answer packet: measured once, from tetherd itself. */
	rc = res.tether_ok ? bench_measure_answer(bt.d.sock, &p) : -ENOTCONN;
	if (rc < 0 && res.tether_ok) {
		bench_fail("handshake with tetherd", rc);
		res.tether_ok = res.gc_ok = false;
		res.tether_err = res.gc_err = rc;
		status = 1;
	}
	if (rc < 0 && (rc = bench_build_answer_replica(&p)) < 0) {
		bench_fail("building the answer packet", rc);
		status = 1;
		goto out;
	}
	rc = bench_raw_start(&raw, &p, NULL, o.a.pin);
	if (rc == 0)
		rc = bench_raw_start(&rawc, &p, bt.rawsock, o.a.pin);
	if (rc < 0) {
		bench_fail("starting the raw children", rc);
		status = 1;
		goto out;
	}
	if (bench_run_all(&o, &raw, &rawc, &bt, &res) < 0 || !res.tether_ok ||
	    !res.gc_ok)
		status = 1;
	/* After the runs: by now the children have surely pinned
	 * themselves. */
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	bench_cpus(raw.pid, res.cpus_raw, sizeof(res.cpus_raw));
	bench_cpus(rawc.pid, res.cpus_rawc, sizeof(res.cpus_rawc));
	if (bt.d.pid > 0)
		bench_cpus(bt.d.pid, res.cpus_tetherd,
			   sizeof(res.cpus_tetherd));
	res.attaches = bt.attaches;
	res.busy = bt.busy;
	if (o.a.json)
		bench_print_json(&o, &p, &res);
	else
		bench_print_table(&o, &p, &res);
out:
	rc = bench_raw_stop(&raw);
	if (rc < 0) {
		bench_fail("raw child", rc);
		status = 1;
	}
	/* Before the directory goes: its socket is how it is told. */
	rc = bench_raw_stop(&rawc);
	if (rc < 0) {
		bench_fail("raw accept child", rc);
		status = 1;
	}
	if (bench_tether_stop(&bt) < 0)
		status = 1;
	tp_msg_destroy(&p.hello);
	return status;
}
