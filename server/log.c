/*
 * The log: one line per event, with the pid and a severity, to stderr,
 * --log FILE or --syslog.
 *
 * It never waits.  Its fd is the server's own (in the internal band, out
 * of every controller's reach: a dup2 over fd 2 changes fd 2, not the
 * log), and it is written without blocking: a pipe or terminal through
 * a private open file description made O_NONBLOCK, a socket with
 * MSG_DONTWAIT.  Lines that find the log full wait in a bounded queue,
 * flushed when the loop sees it writable; past the queue they are
 * counted and the count is logged once there is room.  Any thread may
 * log.
 *
 * Three formats: our own ("TIME tetherd[PID]: warning: text"); the
 * journal's, when stderr is the journal (JOURNAL_STREAM names its
 * device and inode): "<4>text", the priority journald parses, and no
 * time or pid, which journald records itself; syslog's datagrams
 * ("<28>Dec  6 05:40:01 tetherd[PID]: text"), one per line, never
 * queued (a datagram that does not go now is counted as lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_LOG_QUEUE (64u << 10)

static pthread_mutex_t td_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int td_log_fd = 2;		/* until td_log_open */
static bool td_log_sock;		/* send(MSG_DONTWAIT), not write */
static enum td_log_form td_log_form = TD_LOG_PLAIN;
static char td_logq[TD_LOG_QUEUE];
static size_t td_logq_len;
static uint64_t td_log_dropped;
static bool td_log_armed;
/* Our pid for each line's prefix, asked once (a syscall per line
 * otherwise: two per attach); a fork's child asks again. */
static pid_t td_log_pid;

static void td_log_forked(void)
{
	td_log_pid = getpid();
}

/* A private, non-blocking way to write where fd writes. */
static int td_log_private(int fd, bool *sock)
{
	struct stat st;
	char path[64];
	int nfd;

	*sock = false;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode)) {
		*sock = true;
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	} else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
		/* Setting O_NONBLOCK on the inherited description would
		 * change it for whoever shares it (the shell's terminal);
		 * a new one is ours alone. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd < 0)
			nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	} else {
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	}
	return nfd < 0 ? -errno : nfd;
}

/* Is fd 2 the journal's stream?  JOURNAL_STREAM=DEV:INO says which
 * one it handed us; an fd 2 redirected since is something else. */
static bool td_log_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!env || sscanf(env, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    env[n] || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/* A datagram socket connected to the syslog socket at addr. */
static int td_log_syslog_fd(const char *addr)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(addr) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, addr);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* A log file, opened for appending.  (Any thread: the opener's table
 * is private, so fd 2 is pointed at it by td_log_replace, in ours.) */
int td_log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			    O_NOFOLLOW | O_NOCTTY, 0600);

	return fd < 0 ? -errno : fd;
}

static int td_log_set(int fd, bool sock, enum td_log_form form)
{
	int old;

	if ((fd = td_ifd_adopt(fd, "log")) < 0)
		return fd;
	pthread_mutex_lock(&td_log_lock);
	old = td_log_fd;
	td_log_fd = fd;
	td_log_sock = sock;
	td_log_form = form;
	pthread_mutex_unlock(&td_log_lock);
	if (old > 2)
		td_ifd_close(old);
	return 0;
}

int td_log_open(const char *path, const char *syslog_addr)
{
	bool sock = false;
	int fd;

	if (!td_log_pid && pthread_atfork(NULL, NULL, td_log_forked) == 0)
		td_log_pid = getpid();
	if (syslog_addr) {
		if ((fd = td_log_syslog_fd(syslog_addr)) < 0)
			return fd;
		return td_log_set(fd, true, TD_LOG_SYSLOG);
	}
	if (path) {
		if ((fd = td_log_open_file(path)) < 0)
			return fd;
		return td_log_replace(fd);
	}
	if ((fd = td_log_private(2, &sock)) < 0)
		return fd;
	return td_log_set(fd, sock, td_log_is_journal() ? TD_LOG_JOURNAL
							: TD_LOG_PLAIN);
}

/* fd 2 too, so that crash reports and sanitizer output land beside
 * the lines; only the log's own copy is out of controllers' reach. */
int td_log_replace(int fd)
{
	/* dup3, not dup2: a policy's filter lets the server dup3 only. */
	if (fd != 2 && dup3(fd, 2, 0) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return td_log_set(fd, false, TD_LOG_PLAIN);
}

/* Under the lock: as much of p as goes now; bytes written, or -errno. */
static ssize_t td_log_put(const char *p, size_t n)
{
	ssize_t k;

	do
		k = td_log_sock ? send(td_log_fd, p, n,
				       MSG_DONTWAIT | MSG_NOSIGNAL)
				: write(td_log_fd, p, n);
	while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}

/* Under the lock: the queue out, as far as it goes. */
static void td_log_drain(void)
{
	size_t off = 0;

	while (off < td_logq_len) {
		ssize_t k = td_log_put(td_logq + off, td_logq_len - off);

		if (k <= 0) {
			/* A log that is gone (EPIPE, EBADF) takes nothing
			 * more: drop the queue rather than keep it. */
			if (k != -EAGAIN) {
				td_log_dropped++;
				off = td_logq_len;
			}
			break;
		}
		off += (size_t)k;
	}
	memmove(td_logq, td_logq + off, td_logq_len - off);
	td_logq_len -= off;
}

/* Under the lock: one whole line, now or queued, or counted as lost. */
static void td_log_line(const char *line, size_t n)
{
	ssize_t k = 0;

	if (td_log_form == TD_LOG_SYSLOG) {
		if (td_log_put(line, n) != (ssize_t)n)
			td_log_dropped++;
		return;
	}
	if (!td_logq_len) {
		k = td_log_put(line, n);
		if (k == (ssize_t)n)
			return;
		if (k < 0)
			k = 0;
	}
	if (td_logq_len + n - (size_t)k > sizeof(td_logq)) {
		td_log_dropped++;
		return;
	}
	memcpy(td_logq + td_logq_len, line + k, n - (size_t)k);
	td_logq_len += n - (size_t)k;
}

static const char *const td_log_level[] = {
	"emergency: ", "alert: ", "critical: ", "error: ", "warning: ",
	"", "", "debug: ",
};

/* The line's start: its time and pid, or its priority. */
static int td_log_prefix(char *line, size_t size, int prio)
{
	struct timespec ts;
	struct tm tm;

	if (td_log_form == TD_LOG_JOURNAL)
		return snprintf(line, size, "<%d>", prio);
	clock_gettime(CLOCK_REALTIME, &ts);
	if (td_log_form == TD_LOG_SYSLOG) {
		char when[32];

		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
		return snprintf(line, size, "<%d>%s tetherd[%d]: ",
				LOG_DAEMON | prio, when,
				(int)(td_log_pid ? td_log_pid : getpid()));
	}
	gmtime_r(&ts.tv_sec, &tm);
	return snprintf(line, size,
			"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tetherd[%d]: %s",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			(int)(td_log_pid ? td_log_pid : getpid()),
			td_log_level[prio & 7]);
}

/* msg into out as one line of text: what a peer named (a label, a path,
 * argv) may hold a newline that would forge a line of its own, or bytes
 * that make the log binary to grep; those are written \n, \t, \xNN. */
static size_t td_log_escape(char *out, size_t size, const char *msg,
			    size_t len)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t o = 0, k;

	for (size_t i = 0; i < len && o < size; i += k) {
		k = 1;
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			out[o++] = (char)p[i];
		} else if (p[i] >= 0x80 && (k = tp_utf8_seq(p + i, len - i))) {
			if (o + k > size)
				break;
			memcpy(out + o, p + i, k);
			o += k;
		} else {
			k = 1;
			if (o + 4 > size)
				break;
			o += (size_t)snprintf(out + o, 5, p[i] == '\n' ? "\\n"
					      : p[i] == '\t' ? "\\t"
							     : "\\x%02x", p[i]);
		}
	}
	return o;
}

static size_t td_log_format(char *line, size_t size, int prio,
			    const char *fmt, va_list ap)
{
	char msg[1024];
	int n, m;

	n = td_log_prefix(line, size, prio);
	if (n < 0 || (size_t)n >= size / 2)
		n = 0;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = sizeof(msg) - 1;
	n += (int)td_log_escape(line + n, size - (size_t)n - 2, msg,
				(size_t)m);
	/* A datagram is a line: no newline (syslog would keep it). */
	if (td_log_form != TD_LOG_SYSLOG)
		line[n++] = '\n';
	return (size_t)n;
}

static void td_log_v(int prio, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;
	int saved = errno;

	/* One write per line keeps lines whole in a shared log; the
	 * format is read under the lock, which a reopen changes. */
	pthread_mutex_lock(&td_log_lock);
	n = td_log_format(line, sizeof(line), prio & 7, fmt, ap);
	td_log_line(line, n);
	pthread_mutex_unlock(&td_log_lock);
	errno = saved;
}

void td_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	td_log_v(LOG_INFO, fmt, ap);
	va_end(ap);
}

void td_log_at(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	td_log_v(prio, fmt, ap);
	va_end(ap);
}

/* The loop, after every batch of events: what waits goes out; a log
 * that is full gets a poll, so the queue drains when it can. */
void td_log_flush(struct td_server *srv)
{
	struct io_uring_sqe *sqe;
	uint64_t lost = 0;
	bool arm;

	pthread_mutex_lock(&td_log_lock);
	if (td_logq_len)
		td_log_drain();
	if (!td_logq_len && td_log_dropped) {
		lost = td_log_dropped;
		td_log_dropped = 0;
	}
	arm = td_logq_len && !td_log_armed && !srv->exiting;
	if (arm && (sqe = td_sqe(srv))) {
		io_uring_prep_poll_add(sqe, td_log_fd, POLLOUT);
		io_uring_sqe_set_data(sqe, &srv->ev_log);
		td_log_armed = true;
	}
	pthread_mutex_unlock(&td_log_lock);
	if (lost)
		td_log_at(LOG_WARNING, "log was full: %llu lines lost",
			  (unsigned long long)lost);
}

void td_log_event(struct td_server *srv, int res)
{
	(void)res;
	pthread_mutex_lock(&td_log_lock);
	td_log_armed = false;
	pthread_mutex_unlock(&td_log_lock);
	td_log_flush(srv);
}

/* Before an exec (upgrade/): what the log takes now, without waiting. */
void td_log_sync(void)
{
	pthread_mutex_lock(&td_log_lock);
	if (td_logq_len)
		td_log_drain();
	pthread_mutex_unlock(&td_log_lock);
}
