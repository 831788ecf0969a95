/*
 * Typed wrappers over tether_syscall() for the common calls: the
 * library's status as the return value, the syscall's result in *ret.
 * The fds they make are held by the handle, the ones they close are
 * released.
 */
#include <errno.h>
#include <sys/syscall.h>

#include "libtether.h"

/* The syscall's result where the caller wants it, and a new fd held. */
static int tl_result(struct tether *t, int rc, long r, bool fd, long *ret)
{
	if (rc < 0)
		return rc;
	if (fd && r >= 0 && (rc = tether_fd_hold(t, (int)r)) < 0)
		return rc;
	if (ret)
		*ret = r;
	return 0;
}

TETHER_API int tether_getpid(struct tether *t, long *ret)
{
	return tether_syscall(t, SYS_getpid, 0, NULL, ret);
}

TETHER_API int tether_openat(struct tether *t, int dirfd, const char *path,
			     int flags, mode_t mode, long *ret)
{
	struct tether_arg a[4] = { TETHER_INT(dirfd), TETHER_STR(path),
				   TETHER_INT(flags), TETHER_INT(mode) };
	long r = 0;
	int rc = tether_syscall(t, SYS_openat, 4, a, &r);

	return tl_result(t, rc, r, true, ret);
}

TETHER_API int tether_read(struct tether *t, int fd, void *buf, size_t count,
			   long *ret)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_OUT(buf, count),
				   TETHER_INT(count) };

	return tether_syscall(t, SYS_read, 3, a, ret);
}

TETHER_API int tether_write(struct tether *t, int fd, const void *buf,
			    size_t count, long *ret)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_IN(buf, count),
				   TETHER_INT(count) };

	return tether_syscall(t, SYS_write, 3, a, ret);
}

TETHER_API int tether_close(struct tether *t, int fd, long *ret)
{
	struct tether_arg a[1] = { TETHER_INT(fd) };
	long r = 0;
	int rc = tether_syscall(t, SYS_close, 1, a, &r);

	/* Linux closes the fd even when close() reports EINTR. */
	if (rc == 0 && (r == 0 || r == -EINTR))
		tether_fd_release(t, fd);
	return tl_result(t, rc, r, false, ret);
}

TETHER_API int tether_pipe2(struct tether *t, int fds[2], int flags,
			    long *ret)
{
	int out[2];
	struct tether_arg a[2] = { TETHER_OUT(out, sizeof(out)),
				   TETHER_INT(flags) };
	long r = 0;
	int rc = tether_syscall(t, SYS_pipe2, 2, a, &r);

	if (rc < 0)
		return rc;
	if (r == 0 && a[0].returned != sizeof(out))
		return tl_fail(t, EPROTO, "pipe2: %zu bytes of fds back",
			       a[0].returned);
	if (r == 0 && ((rc = tether_fd_hold(t, out[0])) < 0 ||
		       (rc = tether_fd_hold(t, out[1])) < 0))
		return rc;
	if (r == 0) {
		fds[0] = out[0];
		fds[1] = out[1];
	}
	return tl_result(t, 0, r, false, ret);
}

TETHER_API int tether_dup3(struct tether *t, int oldfd, int newfd, int flags,
			   long *ret)
{
	struct tether_arg a[3] = { TETHER_INT(oldfd), TETHER_INT(newfd),
				   TETHER_INT(flags) };
	long r = 0;
	int rc = tether_syscall(t, SYS_dup3, 3, a, &r);

	return tl_result(t, rc, r, true, ret);
}

TETHER_API int tether_lseek(struct tether *t, int fd, off_t off, int whence,
			    long *ret)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_INT(off),
				   TETHER_INT(whence) };

	return tether_syscall(t, SYS_lseek, 3, a, ret);
}
