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
 * tether_connect() + tether_disconnect() against a real tetherd; and
 * tether_gc() of 10,000 orphan fds in that tetherd.  Each is run
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
#define BENCH_TARGET 3.0		/* tether reconnect / raw */
#define BENCH_GC_FDS 10000		/* orphan fds per GC run */
#define BENCH_GC_TARGET_MS 20.0
#define BENCH_PASS 2			/* fds per HELLO: syscall, data */
#define BENCH_PKT_MAX 4096		/* the library's answer buffer */
#define BENCH_EXIT_TRIES 100		/* x 20 ms, after SHUTDOWN */
#define BENCH_BUSY_TRIES 1000		/* EBUSY retries of one attach */

struct bench_opts {
	enum bench_pin pin;
	long iterations;
	long warmup;
	bool json;
	const char *tetherd;
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
	char dir[64];
	char sock[128];
	char log[128];
	char rawsock[128];
	bool have_dir;
	pid_t pid;			/* our child; 0 when not running */
	long attaches;			/* tether_connect() successes */
	long busy;			/* and EBUSY answers retried */
};

struct bench_results {
	struct bench_series raw;
	struct bench_series rawc;
	struct bench_series tether;
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

/* tetherd is persistent (own session): a ^C must not leave it behind. */
static volatile sig_atomic_t bench_kill_pid;

/* ---- small utilities ---------------------------------------------- */

/* Print usage to f. */
static void bench_usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--pin same|cross|none] [--iterations N] "
		"[--warmup N]\n"
		"       [--tetherd PATH] [--json]\n"
		"  --pin same   bench and peer both on CPU 0 (default)\n"
		"  --pin cross  bench on CPU 0, peer on CPU 1\n"
		"  --pin none   no pinning\n"
		"  --tetherd    default $TETHERD, else ./server/tetherd\n",
		argv0);
}

/* Parse argv into o; -EINVAL on a bad option (usage already printed). */
static int bench_parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lopts[] = {
		{ "pin", required_argument, NULL, 'p' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "tetherd", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("TETHERD");
	int c;

	o->pin = PIN_SAME;
	o->iterations = 2000;
	o->warmup = 200;
	o->json = false;
	o->tetherd = env && *env ? env : "./server/tetherd";
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (bench_parse_pin(optarg, &o->pin) < 0)
				goto bad;
			break;
		case 'n':
			if (bench_parse_long(optarg, 1, LONG_MAX,
					     &o->iterations) < 0)
				goto bad;
			break;
		case 'w':
			if (bench_parse_long(optarg, 0, LONG_MAX,
					     &o->warmup) < 0)
				goto bad;
			break;
		case 't':
			o->tetherd = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			bench_usage(stdout, argv[0]);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc)
		return 0;
bad:
	bench_usage(stderr, argv[0]);
	return -EINVAL;
}

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
	union {
		char b[CMSG_SPACE(BENCH_PASS * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)tp_msg_data(hello), tp_msg_size(hello) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	int sp[2] = { -1, -1 }, dp[2] = { -1, -1 }, pass[BENCH_PASS];
	struct cmsghdr *cm;
	ssize_t n;
	int rc = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0) {
		rc = -errno;
		goto out;
	}
	pass[0] = sp[1];
	pass[1] = dp[1];
	memset(cbuf.b, 0, sizeof(cbuf.b));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(BENCH_PASS * sizeof(int));
	memcpy(CMSG_DATA(cm), pass, sizeof(pass));
	do
		n = sendmsg(conn, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		rc = -errno;
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
	if (pin == PIN_CROSS && bench_pin_self(BENCH_CPU_PEER) < 0)
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
	int status;
	pid_t p;

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
	do
		p = waitpid(r->pid, &status, 0);
	while (p < 0 && errno == EINTR);
	r->pid = -1;
	if (p < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- b) tether ------------------------------------------------------- */

/* Kill tetherd if the bench is interrupted, then die of the signal. */
static void bench_on_signal(int sig)
{
	if (bench_kill_pid > 0)
		kill((pid_t)bench_kill_pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Make the private directory and its paths. */
static int bench_tether_dir(struct bench_tether *bt)
{
	int n;

	strcpy(bt->dir, "/tmp/tether-bench.XXXXXX");
	if (!mkdtemp(bt->dir))
		return -errno;
	bt->have_dir = true;
	n = snprintf(bt->sock, sizeof(bt->sock), "%s/tetherd.sock", bt->dir);
	if (n < 0 || (size_t)n >= sizeof(bt->sock))
		return -ENAMETOOLONG;
	n = snprintf(bt->log, sizeof(bt->log), "%s/tetherd.log", bt->dir);
	if (n < 0 || (size_t)n >= sizeof(bt->log))
		return -ENAMETOOLONG;
	n = snprintf(bt->rawsock, sizeof(bt->rawsock), "%s/raw.sock",
		     bt->dir);
	if (n < 0 || (size_t)n >= sizeof(bt->rawsock))
		return -ENAMETOOLONG;
	return 0;
}

/* Launch tetherd (logging to a file: it logs every attach and detach),
 * make it persistent and detach, so the reconnect row finds it free. */
static int bench_tether_start(struct bench_tether *bt, const char *tetherd)
{
	struct tether_start_opts so = { 0 };
	struct tether *t;
	int rc;

	so.socket_path = bt->sock;
	so.tetherd = tetherd;
	so.log_path = bt->log;
	rc = tether_start(&so, &t);
	if (rc < 0) {
		fprintf(stderr, "bench: tether_start (%s): %s (%s)\n",
			tetherd, strerror(-rc), tether_last_error(NULL));
		return rc;
	}
	bt->pid = tether_info(t)->pid;
	bench_kill_pid = bt->pid;
	rc = tether_make_persistent(t);
	if (rc < 0)
		fprintf(stderr, "bench: tether_make_persistent: %s (%s)\n",
			strerror(-rc), tether_last_error(t));
	tether_disconnect(t);
	return rc;
}

/* Start tetherd, on the peer CPU in cross mode, the client's otherwise. */
static int bench_tether_start_pinned(struct bench_tether *bt,
				     const struct bench_opts *o)
{
	int rc, rc2;

	if (o->pin != PIN_CROSS)
		return bench_tether_start(bt, o->tetherd);
	rc = bench_pin_self(BENCH_CPU_PEER);
	if (rc < 0)
		return rc;
	rc = bench_tether_start(bt, o->tetherd);
	rc2 = bench_pin_self(BENCH_CPU_CLIENT);
	return rc < 0 ? rc : rc2;
}

/* tether_connect(), as a controller that just detached would: should
 * tetherd answer EBUSY (attached by us: it has not yet seen our
 * previous detach), try again at once, and count it. */
static int bench_attach(struct bench_tether *bt, struct tether **t)
{
	int rc, tries = 0;

	while ((rc = tether_connect(bt->sock, 0, t)) == -EBUSY &&
	       tries < BENCH_BUSY_TRIES)
		tries++;
	bt->busy += tries;
	if (rc < 0) {
		fprintf(stderr, "bench: tether_connect: %s (%s)\n",
			strerror(-rc), tether_last_error(NULL));
		return rc;
	}
	bt->attaches++;
	return 0;
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
	int rc = 0;

	if (bt->pid > 0) {
		rc = bench_attach(bt, &t);
		if (rc == 0) {
			rc = tether_shutdown(t);
			if (rc < 0)
				fprintf(stderr, "bench: tether_shutdown: %s "
					"(%s)\n", strerror(-rc),
					tether_last_error(t));
			tether_disconnect(t);
		}
		if (rc < 0 || bench_tether_wait(bt->pid) < 0) {
			fprintf(stderr, "bench: tetherd %d did not exit; "
				"killing it\n", (int)bt->pid);
			kill(bt->pid, SIGKILL);
			waitpid(bt->pid, NULL, 0);
			rc = rc < 0 ? rc : -ETIMEDOUT;
		}
		bt->pid = 0;
		bench_kill_pid = 0;
	}
	if (bt->have_dir) {
		int rc2 = bench_rmdir(bt->dir, 2);

		if (rc2 < 0)
			fprintf(stderr, "bench: cannot remove %s: %s\n",
				bt->dir, strerror(-rc2));
		bt->have_dir = false;
	}
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

/* One table row, values divided by scale. */
static void bench_print_row(const char *name, const struct bench_series *s,
			    double scale)
{
	if (s->n == 0) {
		printf("%-30s %12s %12s %12s\n", name, "n/a", "-", "-");
		return;
	}
	printf("%-30s %12.1f %12.1f %12.1f\n", name, bench_median(s) / scale,
	       bench_extreme(s, false) / scale, bench_extreme(s, true) / scale);
}

/* A ratio line, "n/a" when a side is missing. */
static void bench_print_ratio(const char *name, double r)
{
	if (r < 0)
		printf("%-30s %12s\n", name, "n/a");
	else
		printf("%-30s %12.2f\n", name, r);
}

/* The GC median in ms, or -1. */
static double bench_gc_ms(const struct bench_results *res)
{
	double m = bench_median(&res->gc);

	return m < 0 ? -1 : m / 1e6;
}

/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_packets *p,
			      const struct bench_results *res)
{
	double tr = bench_ratio(bench_median(&res->tether),
				bench_median(&res->raw));
	double tc = bench_ratio(bench_median(&res->tether),
				bench_median(&res->rawc));
	double gc = bench_gc_ms(res);

	printf("pin mode: %s    cpus online: %ld\n", bench_pin_names[o->pin],
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("affinity: bench %s, raw child %s, raw accept child %s, "
	       "tetherd %s\n", res->cpus_self, res->cpus_raw, res->cpus_rawc,
	       res->cpus_tetherd[0] ? res->cpus_tetherd : "n/a");
	printf("iterations: %ld x %d runs (warmup %ld)    "
	       "packets: HELLO %zu B + %d fds, answer %zu B (%s)\n\n",
	       o->iterations, BENCH_RUNS, o->warmup, tp_msg_size(&p->hello),
	       BENCH_PASS, p->answer_len,
	       p->answer_measured ? "from a real handshake"
				  : "replica: no handshake possible");
	printf("%-30s %12s %12s %12s\n", "", "ns/op median", "min run",
	       "max run");
	bench_print_row("raw socketpair+SCM_RIGHTS", &res->raw, 1);
	bench_print_row("raw +connect/accept", &res->rawc, 1);
	bench_print_row("tether connect+disconnect", &res->tether, 1);
	printf("\n%-30s %12s %12s %12s\n", "", "ms median", "min run",
	       "max run");
	if (res->gc.n == 0) {
		printf("%-30s %12s %12s %12s\n", "tether gc (10000 fds)", "n/a",
		       "-", "-");
	} else {
		printf("%-30s %12.2f %12.2f %12.2f\n", "tether gc (10000 fds)",
		       gc, bench_extreme(&res->gc, false) / 1e6,
		       bench_extreme(&res->gc, true) / 1e6);
		printf("  (client side: request, server scan + close_range, "
		       "reply of %zu fds, decode)\n", res->gc_closed[0]);
	}
	printf("\n");
	bench_print_ratio("reconnect / raw", tr);
	bench_print_ratio("reconnect / raw+connect", tc);
	printf("target: reconnect/raw <= %.0f: %s\n", BENCH_TARGET,
	       tr < 0 ? "not measured" : tr <= BENCH_TARGET ? "met" :
	       "NOT met");
	printf("target: gc(%d fds) < %.0f ms: %s\n", BENCH_GC_FDS,
	       BENCH_GC_TARGET_MS, gc < 0 ? "not measured" :
	       gc < BENCH_GC_TARGET_MS ? "met" : "NOT met");
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

/* One series as a JSON object member. */
static void bench_json_series(const char *name, const struct bench_series *s)
{
	printf("  \"%s\": {\"median_ns\": ", name);
	if (s->n)
		printf("%.1f", bench_median(s));
	else
		printf("null");
	printf(", \"runs_ns\": [");
	for (int i = 0; i < s->n; i++)
		printf("%s%.1f", i ? ", " : "", s->ns[i]);
	printf("]},\n");
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_packets *p,
			     const struct bench_results *res)
{
	double tr = bench_ratio(bench_median(&res->tether),
				bench_median(&res->raw));
	double tc = bench_ratio(bench_median(&res->tether),
				bench_median(&res->rawc));
	double gc = bench_gc_ms(res);

	printf("{\n  \"pin\": \"%s\",\n  \"cpus_online\": %ld,\n",
	       bench_pin_names[o->pin], sysconf(_SC_NPROCESSORS_ONLN));
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
	bench_json_series("raw_scm_rights", &res->raw);
	bench_json_series("raw_connect_accept", &res->rawc);
	bench_json_series("tether_reconnect", &res->tether);
	bench_json_series("tether_gc", &res->gc);
	printf("  \"gc_fds\": %d,\n  \"gc_closed\": [", BENCH_GC_FDS);
	for (int i = 0; i < res->gc.n; i++)
		printf("%s%zu", i ? ", " : "", res->gc_closed[i]);
	printf("],\n  \"attaches\": %ld,\n  \"attach_ebusy_retries\": %ld,\n",
	       res->attaches, res->busy);
	bench_json_ratio("ratio_reconnect_raw", tr, false);
	bench_json_ratio("ratio_reconnect_raw_connect", tc, false);
	printf("  \"target_ratio\": %.2f,\n  \"target_met\": %s,\n",
	       BENCH_TARGET, tr < 0 ? "null" : tr <= BENCH_TARGET ? "true" :
	       "false");
	printf("  \"target_gc_ms\": %.1f,\n  \"gc_target_met\": %s\n}\n",
	       BENCH_GC_TARGET_MS, gc < 0 ? "null" :
	       gc < BENCH_GC_TARGET_MS ? "true" : "false");
}

/* ---- main ------------------------------------------------------------ */

/* Record who runs where, so the report shows the pinning took effect. */
static void bench_record_affinity(struct bench_results *res,
				  const struct bench_raw *raw,
				  const struct bench_raw *rawc,
				  const struct bench_tether *bt)
{
	if (bench_cpu_list(0, res->cpus_self, sizeof(res->cpus_self)) < 0)
		strcpy(res->cpus_self, "?");
	if (bench_cpu_list(raw->pid, res->cpus_raw, sizeof(res->cpus_raw)) < 0)
		strcpy(res->cpus_raw, "?");
	if (bench_cpu_list(rawc->pid, res->cpus_rawc,
			   sizeof(res->cpus_rawc)) < 0)
		strcpy(res->cpus_rawc, "?");
	if (bt->pid > 0 && bench_cpu_list(bt->pid, res->cpus_tetherd,
					  sizeof(res->cpus_tetherd)) < 0)
		strcpy(res->cpus_tetherd, "?");
}

/* Stop tetherd with the bench on ^C, TERM or HUP. */
static int bench_catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (signal(sigs[i], bench_on_signal) == SIG_ERR)
			return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_packets p = { 0 };
	struct bench_raw raw = { .fd = -1, .pid = -1 };
	struct bench_raw rawc = { .fd = -1, .pid = -1 };
	struct bench_tether bt = { 0 };
	struct bench_results res = { 0 };
	int rc, status = 0;

	if (bench_parse_args(argc, argv, &o) < 0)
		return 2;
	if (bench_pin_client(o.pin) < 0)
		return 1;
	rc = bench_build_hello(&p.hello);
	if (rc < 0) {
		bench_fail("building the HELLO packet", rc);
		tp_msg_destroy(&p.hello);
		return 1;
	}
	rc = bench_tether_dir(&bt);
	if (rc < 0) {
		bench_fail("making a private directory", rc);
		status = 1;
		goto out;
	}
	rc = bench_tether_start_pinned(&bt, &o);
	res.tether_ok = res.gc_ok = rc == 0;
	res.tether_err = res.gc_err = rc;
	if (rc < 0)
		status = 1;
	/* Only now: an ignored SIGPIPE would survive tetherd's exec. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    (rc = bench_catch_signals()) < 0) {
		bench_fail("setting up signals", -errno);
		status = 1;
		goto out;
	}
	/* The answer packet: measured once, from tetherd itself. */
	rc = res.tether_ok ? bench_measure_answer(bt.sock, &p) : -ENOTCONN;
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
	rc = bench_raw_start(&raw, &p, NULL, o.pin);
	if (rc == 0)
		rc = bench_raw_start(&rawc, &p, bt.rawsock, o.pin);
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
	bench_record_affinity(&res, &raw, &rawc, &bt);
	res.attaches = bt.attaches;
	res.busy = bt.busy;
	if (o.json)
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
