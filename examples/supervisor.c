/*
 * supervisor: the tether demo.  A supervisor starts a persistent tetherd,
 * has it run two workers, and is then killed with SIGKILL; a second,
 * unrelated supervisor process reconnects and finds everything as it
 * was -- workers still running, their output complete, a labeled fd
 * still open -- and cleans up.  examples/demo.sh drives it.
 *
 *   supervisor start SOCKET     start tetherd and the workers, then sleep
 *                               until killed (never returns by itself)
 *   supervisor recover SOCKET   reconnect, check everything, shut down;
 *                               exit 0 only when every check held
 *   supervisor serve PATH       (internal) the echo-server worker
 *
 * Files next to SOCKET: SOCKET.log (tetherd's log), SOCKET.state (what
 * `start` did, for `recover`), SOCKET.journal (the labeled file),
 * SOCKET.echo (the echo server's socket), SOCKET.d/ (workers' output).
 */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tether.h"

#define COUNTER_SCRIPT \
	"i=0; while :; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done"
#define WAIT_MS 10000		/* how long anything may take to get ready */
#define GRACE_MS 5000		/* SIGTERM, then SIGKILL after this */

/* ---- small helpers ------------------------------------------------------ */

struct paths {
	char sock[PATH_MAX];
	char log[PATH_MAX + 16];	/* SOCKET plus a suffix */
	char state[PATH_MAX + 16];
	char journal[PATH_MAX + 16];
	char echo[PATH_MAX + 16];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						     noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("supervisor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* SOCKET made absolute (workers do not share our cwd), and the files
 * that live next to it. */
static void paths_init(struct paths *p, const char *sock)
{
	char cwd[PATH_MAX];
	int n;

	if (sock[0] == '/')
		n = snprintf(p->sock, sizeof(p->sock), "%s", sock);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(p->sock, sizeof(p->sock), "%s/%s", cwd, sock);
	else
		die("getcwd: %s", strerror(errno));
	if (n < 0 || (size_t)n >= sizeof(p->sock))
		die("socket path too long: %s", sock);
	snprintf(p->log, sizeof(p->log), "%s.log", p->sock);
	snprintf(p->state, sizeof(p->state), "%s.state", p->sock);
	snprintf(p->journal, sizeof(p->journal), "%s.journal", p->sock);
	snprintf(p->echo, sizeof(p->echo), "%s.echo", p->sock);
}

static const char *errtext(struct tether *t, int rc)
{
	static char buf[512];
	const char *why = tether_last_error(t);

	snprintf(buf, sizeof(buf), "%s%s%s", strerror(-rc),
		 why && *why ? ": " : "", why ? why : "");
	return buf;
}

static const char *signame(int sig)
{
	static char buf[16];

	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGKILL:
		return "SIGKILL";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	case SIGSTOP:
		return "SIGSTOP";
	case SIGTSTP:
		return "SIGTSTP";
	default:
		snprintf(buf, sizeof(buf), "signal %d", sig);
		return buf;
	}
}

/* ---- the state `start` leaves for `recover` ----------------------------- */

struct state {
	long supervisor;		/* the first supervisor's pid */
	long server;			/* tetherd's pid */
	long counter, echo;		/* the workers' pids */
	long last_tick;			/* the last tick `start` saw, ... */
	long long seen_ms;		/* ... when it was ready (epoch ms) */
	int journal_fd;
	int pipe[2];			/* the orphan */
};

static void state_write(const struct paths *p, const struct state *s)
{
	char tmp[sizeof(p->state) + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", p->state);
	if (!(f = fopen(tmp, "w")))
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "supervisor %ld\nserver %ld\ncounter %ld\necho %ld\n"
		   "last_tick %ld\nseen_ms %lld\njournal_fd %d\n"
		   "pipe %d %d\n",
		s->supervisor, s->server, s->counter, s->echo, s->last_tick,
		s->seen_ms, s->journal_fd, s->pipe[0], s->pipe[1]);
	if (fclose(f) != 0 || rename(tmp, p->state) < 0)
		die("writing %s: %s", p->state, strerror(errno));
}

static bool state_read(const struct paths *p, struct state *s)
{
	FILE *f = fopen(p->state, "r");
	char line[256];
	unsigned seen = 0;

	memset(s, 0, sizeof(*s));
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		seen += sscanf(line, "supervisor %ld", &s->supervisor) == 1;
		seen += sscanf(line, "server %ld", &s->server) == 1;
		seen += sscanf(line, "counter %ld", &s->counter) == 1;
		seen += sscanf(line, "echo %ld", &s->echo) == 1;
		seen += sscanf(line, "last_tick %ld", &s->last_tick) == 1;
		seen += sscanf(line, "seen_ms %lld", &s->seen_ms) == 1;
		seen += sscanf(line, "journal_fd %d", &s->journal_fd) == 1;
		seen += sscanf(line, "pipe %d %d", &s->pipe[0],
			       &s->pipe[1]) == 2;
	}
	fclose(f);
	return seen == 8;
}

/* ---- the counter's output: "tick N" lines, N = 0, 1, 2, ... ------------- */

struct ticks {
	char part[64];			/* a line not yet ended */
	size_t npart;
	uint64_t bytes;			/* log offset we have read up to */
	long first, last;		/* -1: none yet */
	unsigned long lines;
	unsigned long problems;		/* gaps, repeats, garbage, holes */
	char problem[160];		/* the first one, in words */
};

static void ticks_init(struct ticks *k)
{
	memset(k, 0, sizeof(*k));
	k->first = k->last = -1;
}

static void ticks_problem(struct ticks *k, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ticks_problem(struct ticks *k, const char *fmt, ...)
{
	va_list ap;

	if (k->problems++)
		return;
	va_start(ap, fmt);
	vsnprintf(k->problem, sizeof(k->problem), fmt, ap);
	va_end(ap);
}

static void ticks_line(struct ticks *k, const char *s, size_t n)
{
	char buf[64], extra;
	long v = -1;

	k->lines++;
	if (n < sizeof(buf)) {
		memcpy(buf, s, n);
		buf[n] = '\0';
	} else {
		snprintf(buf, sizeof(buf), "(a line of %zu bytes)", n);
	}
	if (n >= sizeof(buf) || sscanf(buf, "tick %ld%c", &v, &extra) != 1 ||
	    v < 0) {
		ticks_problem(k, "line %lu is not \"tick N\": \"%.40s\"",
			      k->lines, buf);
		return;
	}
	if (k->last < 0 && v != 0)
		ticks_problem(k, "the log starts at tick %ld, not 0", v);
	else if (k->last >= 0 && v != k->last + 1)
		ticks_problem(k, "tick %ld comes after tick %ld", v, k->last);
	if (k->first < 0)
		k->first = v;
	k->last = v;
}

static int ticks_feed(const void *data, size_t len, uint64_t offset,
		      void *arg)
{
	struct ticks *k = arg;
	const char *p = data, *end = p + len;

	if (offset != k->bytes)
		ticks_problem(k, "the log skips bytes %llu..%llu",
			      (unsigned long long)k->bytes,
			      (unsigned long long)offset);
	k->bytes = offset + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (k->npart + n < sizeof(k->part))
			memcpy(k->part + k->npart, p, n);
		k->npart += n;
		if (!nl)
			break;
		ticks_line(k, k->part, k->npart);
		k->npart = 0;
		p = nl + 1;
	}
	return 0;			/* non-zero would abort the stream */
}

/* Read the worker's log from where k left off up to its current end. */
static int ticks_update(struct tether *t, struct ticks *k)
{
	return tether_logs(t, "counter", k->bytes, false, ticks_feed, k);
}

/* A whole log as text. */
struct text {
	char *s;
	size_t len;
};

static int text_feed(const void *data, size_t len, uint64_t offset,
		     void *arg)
{
	struct text *x = arg;
	char *ns = realloc(x->s, x->len + len + 1);

	(void)offset;
	if (!ns)
		return 1;
	memcpy(ns + x->len, data, len);
	x->len += len;
	ns[x->len] = '\0';
	x->s = ns;
	return 0;
}

/* ---- talking to the echo server ----------------------------------------- */

static int echo_dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/* Send one line, read one line back (without its newline). */
static int echo_ask(int fd, const char *line, char *answer, size_t size)
{
	struct timeval tv = { WAIT_MS / 1000, 0 };
	size_t len = 0;
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s\n", line);

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    send(fd, msg, (size_t)n, MSG_NOSIGNAL) != n)
		return -EIO;
	shutdown(fd, SHUT_WR);
	while (len < size - 1) {
		ssize_t r = read(fd, answer + len, size - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		len += (size_t)r;
		if (memchr(answer, '\n', len))
			break;
	}
	answer[len] = '\0';
	answer[strcspn(answer, "\n")] = '\0';
	return 0;
}

static int echo_roundtrip(const char *path, const char *line, char *answer,
			  size_t size)
{
	int fd = echo_dial(path), rc;

	answer[0] = '\0';
	if (fd < 0)
		return fd;
	rc = echo_ask(fd, line, answer, size);
	close(fd);
	return rc;
}

/* ---- supervisor serve PATH: the echo-server worker ---------------------- */

static volatile sig_atomic_t serve_term;

static void serve_on_term(int sig)
{
	(void)sig;
	serve_term = 1;
}

/* Answer every line of one connection; the number of lines. */
static unsigned serve_conn(int fd)
{
	struct timeval tv = { 5, 0 };
	char in[1024], out[1100];
	size_t len = 0;
	unsigned lines = 0;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		char *nl;
		ssize_t r = read(fd, in + len, sizeof(in) - 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		/* A line too long for the buffer is answered in parts. */
		while ((nl = memchr(in, '\n', len)) ||
		       len == sizeof(in) - 1) {
			size_t n = nl ? (size_t)(nl - in) : len;
			int m = snprintf(out, sizeof(out), "echo: %.*s\n",
					 (int)n, in);

			if (send(fd, out, (size_t)m, MSG_NOSIGNAL) != m)
				return lines;
			lines++;
			n += nl != NULL;
			memmove(in, in + n, len - n);
			len -= n;
		}
	}
	return lines;
}

static int cmd_serve(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = serve_on_term };
	sigset_t term, none;
	unsigned nconn = 0;
	int lfd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("serve: socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	/* SIGTERM is held except while waiting for a connection, so it can
	 * neither be missed nor cut a conversation short. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &term, NULL);
	sigaction(SIGTERM, &act, NULL);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 16) < 0)
		die("serve: %s: %s", path, strerror(errno));
	printf("echo-server: pid %d listening on %s\n", (int)getpid(), path);
	while (!serve_term) {
		struct pollfd pfd = { .fd = lfd, .events = POLLIN };
		int c;

		if (ppoll(&pfd, 1, NULL, &none) < 0) {
			if (errno == EINTR)
				continue;
			die("serve: poll: %s", strerror(errno));
		}
		if ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		nconn++;
		printf("echo-server: connection %u: answered %u line(s)\n",
		       nconn, serve_conn(c));
		close(c);
	}
	printf("echo-server: got SIGTERM after %u connection(s); removing "
	       "the socket and exiting\n", nconn);
	fflush(stdout);
	close(lfd);
	unlink(path);
	/* End the way a SIGTERM ends a process, so the exit record says so. */
	signal(SIGTERM, SIG_DFL);
	raise(SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL);
	return 1;
}

/* ---- supervisor start SOCKET -------------------------------------------- */

/* What the worker environment needs from ours: tetherd passes only an
 * allow-list (PATH, HOME, ...), and an uninstalled build of this program
 * finds libtether through LD_LIBRARY_PATH. */
static const char *const passed_env[] = {
	"LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
};
#define NPASSED (sizeof(passed_env) / sizeof(passed_env[0]))

static void start_spawn(struct tether *t, const char *label,
			const char *const *argv, const char *const *env,
			pid_t *pid)
{
	struct tether_spawn sp = {
		.struct_size = sizeof(sp),
		.argv = argv, .env = env, .label = label, .capture = true,
	};
	int rc = tether_spawn(t, &sp, pid);

	if (rc < 0)
		die("spawning %s: %s", label, errtext(t, rc));
}

/* The worker's record; dies with its output if it has ended. */
static void start_check_alive(struct tether *t, const char *label)
{
	struct tether_worker w;
	struct text log = { NULL, 0 };
	int rc = tether_wait(t, label, 0, &w);

	if (rc < 0)
		die("asking about %s: %s", label, errtext(t, rc));
	if (w.state == TETHER_W_RUNNING)
		return;
	tether_logs(t, label, 0, false, text_feed, &log);
	die("%s ended early (exit %d, signal %d); its output:\n%s", label,
	    w.exit_code, w.signal, log.s ? log.s : "");
}

static int cmd_start(const struct paths *p)
{
	struct tether_start_opts opts = { .struct_size = sizeof(opts),
					  .socket_path = p->sock,
					  .log_path = p->log };
	const char *const counter_argv[] = { "sh", "-c", COUNTER_SCRIPT,
					     NULL };
	const char *echo_argv[] = { NULL, "serve", p->echo, NULL };
	const char *env[NPASSED + 1] = { NULL };
	char envbuf[NPASSED][PATH_MAX + 32], self[PATH_MAX], answer[256];
	char line[256];
	struct state s = { .supervisor = getpid() };
	struct ticks k;
	struct tether *t;
	pid_t pid;
	int64_t deadline;
	ssize_t n;
	long r = 0;
	size_t ne = 0;
	int rc, fd;

	/* Our own executable, whatever argv[0] says, runs the echo server. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || (size_t)n >= sizeof(self) - 1)
		die("/proc/self/exe: %s", n < 0 ? strerror(errno) : "too long");
	self[n] = '\0';
	echo_argv[0] = self;
	for (size_t i = 0; i < NPASSED; i++) {
		const char *v = getenv(passed_env[i]);

		if (v && strlen(v) < PATH_MAX) {
			snprintf(envbuf[ne], sizeof(envbuf[ne]), "%s=%s",
				 passed_env[i], v);
			env[ne] = envbuf[ne];
			ne++;
		}
	}
	unlink(p->state);

	printf("Supervisor #1 (pid %d) starts.\n", (int)getpid());
	if ((rc = tether_start(&opts, &t)) < 0)
		die("cannot start tetherd: %s", errtext(NULL, rc));
	s.server = tether_info(t)->pid;
	printf("  Started tetherd (pid %ld) on %s; its own log is %s.\n",
	       s.server, p->sock, p->log);
	if ((rc = tether_make_persistent(t)) < 0)
		die("make persistent: %s", errtext(t, rc));
	printf("  Made it persistent: it now has a session of its own and "
	       "will outlive this process.\n");

	start_spawn(t, "counter", counter_argv, NULL, &pid);
	s.counter = pid;
	printf("  tetherd spawned worker \"counter\" (pid %d): a shell loop "
	       "printing \"tick 0\", \"tick 1\", ...\n  every 50 ms.  "
	       "tetherd captures its output into a log file.\n", (int)pid);
	start_spawn(t, "echo-server",
		    (const char *const *)echo_argv, ne ? env : NULL, &pid);
	s.echo = pid;
	printf("  tetherd spawned worker \"echo-server\" (pid %d): it answers "
	       "each line sent to\n  %s with \"echo: LINE\".\n", (int)pid,
	       p->echo);

	/* Ready when it answers; ended means it never will. */
	deadline = mono_ms() + WAIT_MS;
	while ((fd = echo_dial(p->echo)) < 0) {
		start_check_alive(t, "echo-server");
		if (mono_ms() > deadline)
			die("the echo server does not accept connections on %s "
			    "after %d s", p->echo, WAIT_MS / 1000);
		sleep_ms(20);
	}
	if ((rc = echo_ask(fd, "hello from supervisor #1", answer,
			   sizeof(answer))) < 0)
		die("talking to the echo server: %s", strerror(-rc));
	close(fd);
	printf("  Said \"hello from supervisor #1\" to it; it answered "
	       "\"%s\".\n", answer);

	if ((rc = tether_openat(t, AT_FDCWD, p->journal,
				O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600,
				&r)) < 0)
		die("openat %s in tetherd: %s", p->journal, errtext(t, rc));
	if (r < 0)
		die("openat %s in tetherd: %s", p->journal, strerror((int)-r));
	s.journal_fd = fd = (int)r;
	snprintf(line, sizeof(line), "written by supervisor #1 (pid %d) "
		 "through fd %d in tetherd\n", (int)getpid(), fd);
	if ((rc = tether_write(t, fd, line, strlen(line), &r)) < 0)
		die("write to the journal: %s", errtext(t, rc));
	if (r != (long)strlen(line))
		die("write to the journal: %s",
		    r < 0 ? strerror((int)-r) : "short write");
	if ((rc = tether_label(t, fd, "journal")) < 0)
		die("label: %s", errtext(t, rc));
	printf("  Opened %s inside tetherd (fd %d there), wrote a line,\n"
	       "  and labeled the fd \"journal\": a name the server remembers "
	       "for us.\n", p->journal, fd);

	if ((rc = tether_pipe2(t, s.pipe, O_CLOEXEC, &r)) < 0)
		die("pipe2 in tetherd: %s", errtext(t, rc));
	if (r < 0)
		die("pipe2 in tetherd: %s", strerror((int)-r));
	printf("  Opened a pipe inside tetherd (fds %d and %d) and gave it no "
	       "label: once this\n  process is gone, nobody will remember "
	       "what it was for.\n", s.pipe[0], s.pipe[1]);

	/* A few ticks, so there is something to compare with later. */
	ticks_init(&k);
	deadline = mono_ms() + WAIT_MS;
	while (k.last < 2) {
		start_check_alive(t, "counter");
		if ((rc = ticks_update(t, &k)) < 0)
			die("reading the counter's log: %s", errtext(t, rc));
		if (k.last < 2 && mono_ms() > deadline)
			die("the counter printed nothing for %d s",
			    WAIT_MS / 1000);
		if (k.last < 2)
			sleep_ms(20);
	}
	s.last_tick = k.last;
	s.seen_ms = now_ms();
	state_write(p, &s);
	printf("  The counter is at tick %ld (noted in %s).\n"
	       "Supervisor #1 is ready.  From now on it only sleeps, until it "
	       "is killed.\n", k.last, p->state);
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- supervisor recover SOCKET ------------------------------------------ */

static unsigned nchecks, nfailed;
static const char *mark_ok = "ok  ", *mark_fail = "FAIL";

static bool check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...)
{
	va_list ap;

	nchecks++;
	nfailed += !ok;
	printf("  %s ", ok ? mark_ok : mark_fail);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return ok;
}

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	va_list ap;

	putchar('\n');
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *wstate_words(const struct tether_worker *w)
{
	static char buf[64];

	switch (w->state) {
	case TETHER_W_RUNNING:
		return "running";
	case TETHER_W_STOPPED:
		snprintf(buf, sizeof(buf), "stopped by %s", signame(w->signal));
		return buf;
	case TETHER_W_EXITED:
		snprintf(buf, sizeof(buf), "exited with status %d",
			 w->exit_code);
		return buf;
	case TETHER_W_KILLED:
		snprintf(buf, sizeof(buf), "killed by %s%s",
			 signame(w->signal), w->core ? " (core dumped)" : "");
		return buf;
	}
	return "?";
}

static const struct tether_worker *find_worker(const struct tether_worker *v,
					       size_t n, const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].label, label))
			return &v[i];
	return NULL;
}

/* Attach; a server that has not yet seen the old controller's sockets
 * close says EBUSY for a moment. */
static struct tether *recover_attach(const struct paths *p)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	struct tether *t;
	bool told = false;
	int rc;

	while ((rc = tether_reconnect(p->sock, 0, &t)) == -EBUSY &&
	       mono_ms() < deadline) {
		if (!told)
			printf("  (tetherd has not yet noticed that the old "
			       "supervisor is gone; waiting)\n");
		told = true;
		sleep_ms(50);
	}
	if (rc < 0) {
		check(false, "reconnect to tetherd at %s: %s", p->sock,
		      errtext(NULL, rc));
		return NULL;
	}
	return t;
}

static void recover_workers(struct tether *t, const struct state *s)
{
	struct tether_worker *v = NULL;
	const struct tether_worker *c, *e;
	size_t n = 0;
	int rc;

	step("Which workers does tetherd have?  (tether_ps)");
	if ((rc = tether_ps(t, &v, &n)) < 0) {
		check(false, "list the workers: %s", errtext(t, rc));
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("    %-12s pid %-7d %s%s %.1f s, %llu bytes of output "
		       "captured\n", v[i].label[0] ? v[i].label : "-",
		       (int)v[i].pid, wstate_words(&v[i]),
		       v[i].ended_ms ? " after" : " for",
		       (double)((v[i].ended_ms ? v[i].ended_ms : now_ms()) -
				v[i].started_ms) / 1000.0,
		       (unsigned long long)v[i].log_size);
	c = find_worker(v, n, "counter");
	e = find_worker(v, n, "echo-server");
	check(c && c->state == TETHER_W_RUNNING && c->pid == s->counter,
	      "the counter still runs, same pid (%ld) as supervisor #1 "
	      "started", s->counter);
	check(e && e->state == TETHER_W_RUNNING && e->pid == s->echo,
	      "the echo server still runs, same pid (%ld)", s->echo);
	tether_free(v);
}

/* fstat inside the server, to compare with ours. */
static int server_fstat(struct tether *t, int fd, struct stat *st)
{
	struct tether_call c = { .nr = SYS_fstat, .nargs = 2 };
	int rc;

	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_OUT(st, sizeof(*st));
	if ((rc = tether_call(t, &c)) < 0)
		return rc;
	if (c.ret < 0)
		return (int)c.ret;
	return c.args[1].returned == sizeof(*st) ? 0 : -EPROTO;
}

static int recover_fds(struct tether *t, const struct paths *p,
		       const struct state *s)
{
	struct tether_fdinfo *v = NULL;
	struct stat there, here;
	size_t n = 0;
	int rc, journal = -1;

	step("Which fds does tetherd hold?  (tether_list_fds)");
	if ((rc = tether_list_fds(t, &v, &n, NULL, NULL)) < 0) {
		check(false, "list the fds: %s", errtext(t, rc));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		printf("    fd %-3d %-9s %-10s %s\n", v[i].fd, v[i].kind,
		       v[i].label[0] ? v[i].label : "(no label)", v[i].target);
		if (!strcmp(v[i].label, "journal"))
			journal = v[i].fd;
	}
	tether_free(v);
	printf("  The label is all tetherd remembers about who owns what. "
	       "tether_reconnect took\n  every labeled fd back into this "
	       "process's handle table; the pipe is nobody's.\n");
	check(journal == s->journal_fd,
	      "the label \"journal\" still names fd %d", s->journal_fd);
	if (journal < 0)
		return -1;
	check(tether_fd_held(t, journal),
	      "tether_reconnect re-derived fd %d as ours from its label",
	      journal);
	rc = server_fstat(t, journal, &there);
	if (rc < 0)
		check(false, "fstat fd %d in tetherd: %s", journal,
		      errtext(t, rc));
	else if (stat(p->journal, &here) < 0)
		check(false, "stat %s: %s", p->journal, strerror(errno));
	else
		check(there.st_dev == here.st_dev &&
		      there.st_ino == here.st_ino,
		      "fd %d is still the very file supervisor #1 opened "
		      "(same device and inode as %s)", journal, p->journal);
	return journal;
}

static void recover_journal(struct tether *t, const struct paths *p,
			    int fd)
{
	char line[256], buf[4096];
	long r = 0;
	FILE *f;
	size_t len;
	int rc;

	step("Supervisor #2 writes to the journal through the fd it "
	     "inherited (tether_write on fd %d).", fd);
	snprintf(line, sizeof(line), "written by supervisor #2 (pid %d) "
		 "through the same fd %d\n", (int)getpid(), fd);
	if ((rc = tether_write(t, fd, line, strlen(line), &r)) < 0)
		r = rc;
	if (!check(r == (long)strlen(line), "wrote a line through fd %d",
		   fd))
		printf("    (%s)\n", rc < 0 ? errtext(t, rc)
				   : r < 0 ? strerror((int)-r) : "short");
	if (!(f = fopen(p->journal, "r"))) {
		check(false, "open %s: %s", p->journal, strerror(errno));
		return;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	printf("  %s now reads:\n", p->journal);
	for (char *l = buf, *nl; *l; l = nl + 1) {
		if (!(nl = strchr(l, '\n')))
			nl = l + strlen(l) - 1;
		printf("    | %.*s\n", (int)(nl - l), l);
	}
	check(!strncmp(buf, "written by supervisor #1 ", 25) &&
	      len > strlen(line) && !strcmp(buf + len - strlen(line), line),
	      "the file has supervisor #1's line, then supervisor #2's");
}

static void recover_counter(struct tether *t, const struct state *s,
			    struct ticks *k)
{
	int rc;

	step("Is the counter's output complete?  (tether_logs from byte 0)");
	ticks_init(k);
	if ((rc = ticks_update(t, k)) < 0) {
		check(false, "read the counter's log: %s", errtext(t, rc));
		return;
	}
	printf("  The log holds %lu lines, %llu bytes: \"tick %ld\" to "
	       "\"tick %ld\".\n", k->lines, (unsigned long long)k->bytes,
	       k->first, k->last);
	if (!check(k->lines > 0 && k->first == 0 && !k->problems,
		   "the ticks run from 0 without a line missing, repeated "
		   "or garbled"))
		printf("    (%s)\n", k->problems ? k->problem : "empty log");
	check(k->last > s->last_tick,
	      "it kept counting, its output captured, while supervisor #1 "
	      "slept, died\n       and was absent: %ld ticks since tick %ld",
	      k->last - s->last_tick, s->last_tick);
}

static void recover_echo(const struct paths *p)
{
	char answer[256];
	const char *hello = "hello from supervisor #2";
	char want[64];
	int rc;

	step("Does the echo server still answer?  (a plain Unix socket "
	     "connection)");
	rc = echo_roundtrip(p->echo, hello, answer, sizeof(answer));
	if (rc < 0) {
		check(false, "talk to the echo server at %s: %s", p->echo,
		      strerror(-rc));
		return;
	}
	printf("  Said \"%s\"; it answered \"%s\".\n", hello, answer);
	snprintf(want, sizeof(want), "echo: %s", hello);
	check(!strcmp(answer, want), "the answer is \"%s\"", want);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void recover_gc(struct tether *t, const struct state *s, int journal)
{
	int *closed = NULL, want[2] = { s->pipe[0], s->pipe[1] };
	size_t n = 0;
	int rc;
	bool same;

	step("Garbage collection: close every fd nobody owns.  "
	     "(tether_gc_held)");
	printf("  It keeps what this handle holds (the labeled journal, fd "
	       "%d), the server's own\n  fds and 0-2; anything else is an "
	       "orphan of the dead supervisor.\n", journal);
	if ((rc = tether_gc_held(t, 0, &closed, &n)) < 0) {
		check(false, "garbage-collect: %s", errtext(t, rc));
		return;
	}
	qsort(closed, n, sizeof(int), cmp_int);
	qsort(want, 2, sizeof(int), cmp_int);
	printf("  Closed %zu fd(s):", n);
	for (size_t i = 0; i < n; i++)
		printf(" %d", closed[i]);
	printf("\n");
	same = n == 2 && closed[0] == want[0] && closed[1] == want[1];
	check(same, "it closed exactly the orphan pipe (fds %d and %d), "
	      "nothing else", want[0], want[1]);
	tether_free(closed);
}

static void recover_stop(struct tether *t, const char *label,
			 struct tether_worker *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if ((rc = tether_wait(t, label, 0, w)) == 0 &&
	    w->state != TETHER_W_RUNNING && w->state != TETHER_W_STOPPED) {
		printf("  %s had already ended: %s.\n", label,
		       wstate_words(w));
		return;
	}
	memset(w, 0, sizeof(*w));
	printf("  tether_stop: SIGTERM to its process group, SIGKILL only if "
	       "it is still there\n  after %d s.\n", GRACE_MS / 1000);
	if ((rc = tether_stop(t, label, GRACE_MS, w)) < 0) {
		check(false, "stop %s: %s", label, errtext(t, rc));
		w->state = TETHER_W_RUNNING;
		return;
	}
	if (w->state == TETHER_W_KILLED)
		printf("  %s stopped by %s after %.1f s%s.\n", label,
		       signame(w->signal), (double)w->after_ms / 1000.0,
		       w->sigkill ? " (the grace period ran out)" : "");
	else
		printf("  %s %s after %.1f s.\n", label, wstate_words(w),
		       (double)w->after_ms / 1000.0);
}

static void recover_stop_all(struct tether *t, struct ticks *k)
{
	struct tether_worker w;
	struct text log = { NULL, 0 };
	unsigned nconn = 0;
	int rc;

	step("Stop the echo server gracefully.");
	recover_stop(t, "echo-server", &w);
	check(w.state == TETHER_W_KILLED && w.signal == SIGTERM && !w.sigkill,
	      "its exit record: ended by SIGTERM, within the grace period");
	if ((rc = tether_logs(t, "echo-server", 0, false, text_feed, &log)) <
	    0) {
		check(false, "read the echo server's log: %s", errtext(t, rc));
	} else {
		printf("  Its captured output:\n");
		for (char *l = log.s, *nl; l && *l; l = nl + 1) {
			if (!(nl = strchr(l, '\n')))
				nl = l + strlen(l) - 1;
			printf("    | %.*s\n", (int)(nl - l), l);
			nconn += !strncmp(l, "echo-server: connection ", 24);
		}
		if (nconn == 2)
			check(true, "it logged two connections, one from each "
			      "supervisor");
		else
			check(false, "it logged %u connection(s), not two (one "
			      "from each supervisor)", nconn);
	}
	free(log.s);

	step("Stop the counter.");
	recover_stop(t, "counter", &w);
	check((w.state == TETHER_W_KILLED || w.state == TETHER_W_EXITED) &&
	      !w.sigkill, "the counter ended within the grace period");
	/* Everything up to its last line, now that no more can come. */
	if ((rc = ticks_update(t, k)) < 0)
		check(false, "read the rest of the counter's log: %s",
		      errtext(t, rc));
	else if (!check(!k->problems && k->first == 0 && k->npart == 0,
			"its complete log: ticks 0 to %ld, none missing",
			k->last))
		printf("    (%s)\n", k->problems ? k->problem
			: "the last line is unfinished");
}

static void recover_finish(struct tether *t, const struct paths *p)
{
	struct tether_worker *v = NULL;
	struct tether *probe;
	size_t n = 0;
	int64_t deadline;
	int rc;

	step("Acknowledge the exit records (tether_ack: tetherd forgets them "
	     "and deletes their logs),\nthen shut tetherd down.");
	check(tether_ack(t, "echo-server") == 0 &&
	      tether_ack(t, "counter") == 0, "both records acknowledged");
	rc = tether_ps(t, &v, &n);
	check(rc == 0 && n == 0, "tetherd has no workers left");
	tether_free(v);
	rc = tether_shutdown(t);
	check(rc == 0, "tetherd accepted the shutdown%s%s",
	      rc < 0 ? ": " : "", rc < 0 ? errtext(t, rc) : "");
	tether_disconnect(t);
	/* Gone when its socket no longer answers. */
	deadline = mono_ms() + WAIT_MS;
	while ((rc = tether_connect(p->sock, TETHER_CONNECT_OBSERVE,
				    &probe)) != -ECONNREFUSED &&
	       mono_ms() < deadline) {
		if (rc == 0)
			tether_disconnect(probe);
		sleep_ms(20);
	}
	check(rc == -ECONNREFUSED, "tetherd has exited (%s no longer "
	      "answers)", p->sock);
}

static int cmd_recover(const struct paths *p)
{
	const struct tether_status *info;
	struct state s;
	struct ticks k;
	struct tether *t;
	int journal;

	if (!state_read(p, &s))
		die("%s is missing or incomplete: run `supervisor start %s` "
		    "first", p->state, p->sock);
	printf("Supervisor #2 (pid %d) starts: a new process that knows only "
	       "the socket path\n(and, to compare notes, what supervisor #1 "
	       "wrote to %s).\n\n", (int)getpid(), p->state);
	if (kill((pid_t)s.supervisor, 0) < 0 && errno == ESRCH)
		printf("Supervisor #1 (pid %ld) is gone: it was killed with "
		       "SIGKILL, so it had no chance\nto clean up or to tell "
		       "tetherd anything.  ", s.supervisor);
	else
		printf("Supervisor #1 (pid %ld) still exists?  It should have "
		       "been killed.  ", s.supervisor);
	printf("It was ready %.1f s ago, when the counter\nwas at tick %ld, "
	       "and did nothing but sleep from then on.\n",
	       (double)(now_ms() - s.seen_ms) / 1000.0, s.last_tick);

	step("Reconnect to tetherd at %s.  (tether_reconnect)", p->sock);
	if (!(t = recover_attach(p)))
		goto out;
	info = tether_info(t);
	printf("  Attached to tetherd pid %d, up for %.1f s; this is attach "
	       "number %llu.\n", (int)info->pid,
	       (double)info->uptime_ms / 1000.0,
	       (unsigned long long)info->generation);
	check(info->pid == s.server, "it is the same tetherd (pid %ld) "
	      "supervisor #1 started", s.server);
	check(info->persistent, "it is persistent: it outlived the "
	      "supervisor that started it");

	recover_workers(t, &s);
	recover_counter(t, &s, &k);
	recover_echo(p);
	journal = recover_fds(t, p, &s);
	if (journal >= 0)
		recover_journal(t, p, journal);
	recover_gc(t, &s, journal);
	recover_stop_all(t, &k);
	recover_finish(t, p);
out:
	putchar('\n');
	if (nfailed || !nchecks) {
		printf("%u of %u checks FAILED.\n", nfailed, nchecks);
		return 1;
	}
	printf("All %u checks held: the workers, their output and the "
	       "server's fds survived\nthe supervisor's SIGKILL, and a new "
	       "supervisor took over where it left off.\n", nchecks);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: supervisor start SOCKET    start tetherd and its "
		   "workers, wait to be killed\n"
		   "       supervisor recover SOCKET  reconnect, check, shut "
		   "down (exit 0: all checks held)\n");
}

int main(int argc, char **argv)
{
	struct paths p;

	/* Readable in a pipe as it happens, and before a SIGKILL. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 3) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argv[2]);
	setlocale(LC_CTYPE, "");
	if (!strcmp(nl_langinfo(CODESET), "UTF-8")) {
		mark_ok = "\u2714";
		mark_fail = "\u2718";
	}
	signal(SIGPIPE, SIG_IGN);
	paths_init(&p, argv[2]);
	if (!strcmp(argv[1], "start"))
		return cmd_start(&p);
	if (!strcmp(argv[1], "recover"))
		return cmd_recover(&p);
	usage(stderr);
	return 2;
}
