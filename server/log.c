/*
 * The log: one line per event, with the pid, to stderr or --log FILE.
 *
 * It never waits.  Its fd is the server's own (in the internal band, out
 * of every controller's reach: a dup2 over fd 2 changes fd 2, not the
 * log), and it is written without blocking: a pipe or terminal through
 * a private open file description made O_NONBLOCK, a socket with
 * MSG_DONTWAIT.  Lines that find the log full wait in a bounded queue,
 * flushed when the loop sees it writable; past the queue they are
 * counted and the count is logged once there is room.  Any thread may
 * log.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_LOG_QUEUE (64u << 10)

static pthread_mutex_t td_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int td_log_fd = 2;		/* until td_log_open */
static bool td_log_sock;		/* send(MSG_DONTWAIT), not write */
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

int td_log_open(const char *path)
{
	bool sock = false;
	int fd;

	if (!td_log_pid && pthread_atfork(NULL, NULL, td_log_forked) == 0)
		td_log_pid = getpid();

	if (path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0)
			return -errno;
		/* Crash reports and sanitizer output go to fd 2: there too.
		 * Only the log's own copy is out of reach. */
		if (fd != 2 && dup2(fd, 2) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
	} else if ((fd = td_log_private(2, &sock)) < 0) {
		return fd;
	}
	if ((fd = td_ifd_adopt(fd, "log")) < 0)
		return fd;
	pthread_mutex_lock(&td_log_lock);
	td_log_fd = fd;
	td_log_sock = sock;
	pthread_mutex_unlock(&td_log_lock);
	return 0;
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

static size_t td_log_format(char *line, size_t size, const char *fmt,
			    va_list ap)
{
	struct timespec ts;
	struct tm tm;
	int n, m;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, size,
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tetherd[%d]: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     (int)(td_log_pid ? td_log_pid : getpid()));
	m = vsnprintf(line + n, size - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > size - 2)
		n = (int)size - 2;
	line[n++] = '\n';
	return (size_t)n;
}

void td_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;
	int saved = errno;

	va_start(ap, fmt);
	n = td_log_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line keeps lines whole in a shared log. */
	pthread_mutex_lock(&td_log_lock);
	td_log_line(line, n);
	pthread_mutex_unlock(&td_log_lock);
	errno = saved;
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
		td_log("log was full: %llu lines lost", (unsigned long long)lost);
}

void td_log_event(struct td_server *srv, int res)
{
	(void)res;
	pthread_mutex_lock(&td_log_lock);
	td_log_armed = false;
	pthread_mutex_unlock(&td_log_lock);
	td_log_flush(srv);
}
