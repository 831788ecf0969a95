/*
 * The same-host fast paths: when the server is on this host it can hand
 * us the fd of the file a GET or LOGS reads (read-only) or of the
 * temporary a PUT fills, and the bytes are copied here, by one process,
 * instead of through the data socket.  The stream stays for controllers
 * fds cannot reach (can_pass_fds false) and for TETHER_NO_FDPASS=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libtether.h"

void *tl_chunk_alloc(size_t size)
{
	void *p;

	return posix_memalign(&p, 4096, size) ? NULL : p;
}

bool tl_fdpass_ok(const struct tether *t)
{
	const char *no = getenv("TETHER_NO_FDPASS");

	return t->can_pass_fds && !t->fdpass_refused &&
	       !(no && *no && strcmp(no, "0") != 0);
}

int tl_fdpass_ro(struct tether *t, int fd)
{
	struct stat st;
	int fl;

	if (fd < 0)
		return fd;
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		return tl_fail(t, err, "the passed fd: %s", strerror(err));
	}
	/* What a server hands out for reading must not let us write. */
	if ((fl & O_ACCMODE) != O_RDONLY || !S_ISREG(st.st_mode)) {
		close(fd);
		return tl_fail(t, EPROTO, "the server passed %s",
			       S_ISREG(st.st_mode) ? "a writable fd"
						   : "no regular file");
	}
	return fd;
}

int tl_fdpass_read(struct tether *t, int fd, uint64_t off, uint64_t size,
		   size_t window,
		   int (*fn)(const void *p, size_t n, void *arg), void *arg)
{
	char *buf = tl_chunk_alloc(window);
	uint64_t end = off + size;
	int rc = 0;

	if (!buf)
		return tl_fail(t, ENOMEM, "out of memory");
	while (off < end && rc == 0) {
		uint64_t left = end - off;
		size_t want = left < window ? (size_t)left : window;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = tl_fail(t, errno, "reading the passed file: %s",
				     strerror(errno));
		else if (n == 0)
			/* Truncated under us: what was stated is not there. */
			rc = tl_fail(t, EIO, "the file ends at %llu, before "
				     "the %llu bytes stated",
				     (unsigned long long)off,
				     (unsigned long long)end);
		else if ((rc = fn(buf, (size_t)n, arg)) == 0)
			off += (uint64_t)n;
	}
	free(buf);
	return rc;
}
