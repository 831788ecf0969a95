/* One line per event, with the pid, to stderr or --log FILE. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

/* The log becomes our stderr, so sanitizer reports land there too. */
int td_log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			    O_NOFOLLOW | O_NOCTTY, 0600);

	if (fd < 0)
		return -errno;
	if (fd != 2) {
		if (dup2(fd, 2) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		close(fd);
	}
	return 0;
}

void td_log(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;
	int saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tetherd[%d]: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line keeps lines whole in a shared log. */
	if (write(2, line, (size_t)n) < 0)
		(void)0;
	errno = saved;
}
