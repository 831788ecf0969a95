/* Typed wrappers over tether_syscall() for the common calls. */
#include <errno.h>
#include <sys/syscall.h>

#include "libtether.h"

/* A new fd from the server is ours: hold it. */
static int tl_held_result(struct tether *t, long fd)
{
	int rc;

	if (fd >= 0 && (rc = tether_fd_hold(t, (int)fd)) < 0)
		return rc;
	return (int)fd;
}

TETHER_API long tether_getpid(struct tether *t)
{
	return tether_syscall(t, SYS_getpid, 0, NULL);
}

TETHER_API int tether_openat(struct tether *t, int dirfd, const char *path,
			     int flags, mode_t mode)
{
	struct tether_arg a[4] = { TETHER_INT(dirfd), TETHER_STR(path),
				   TETHER_INT(flags), TETHER_INT(mode) };

	return tl_held_result(t, tether_syscall(t, SYS_openat, 4, a));
}

TETHER_API ssize_t tether_read(struct tether *t, int fd, void *buf,
			       size_t count)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_OUT(buf, count),
				   TETHER_INT(count) };

	return tether_syscall(t, SYS_read, 3, a);
}

TETHER_API ssize_t tether_write(struct tether *t, int fd, const void *buf,
				size_t count)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_IN(buf, count),
				   TETHER_INT(count) };

	return tether_syscall(t, SYS_write, 3, a);
}

TETHER_API int tether_close(struct tether *t, int fd)
{
	struct tether_arg a[1] = { TETHER_INT(fd) };
	long rc = tether_syscall(t, SYS_close, 1, a);

	/* Linux closes the fd even when close() reports EINTR. */
	if (rc == 0 || rc == -EINTR)
		tether_fd_release(t, fd);
	return (int)rc;
}

TETHER_API int tether_pipe2(struct tether *t, int fds[2], int flags)
{
	struct tether_arg a[2] = { TETHER_OUT(fds, 2 * sizeof(int)),
				   TETHER_INT(flags) };
	long rc = tether_syscall(t, SYS_pipe2, 2, a);

	if (rc == 0 && a[0].returned != 2 * sizeof(int))
		return -EPROTO;
	if (rc == 0 && (rc = tether_fd_hold(t, fds[0])) == 0)
		rc = tether_fd_hold(t, fds[1]);
	return (int)rc;
}

TETHER_API int tether_dup3(struct tether *t, int oldfd, int newfd, int flags)
{
	struct tether_arg a[3] = { TETHER_INT(oldfd), TETHER_INT(newfd),
				   TETHER_INT(flags) };

	return tl_held_result(t, tether_syscall(t, SYS_dup3, 3, a));
}

TETHER_API off_t tether_lseek(struct tether *t, int fd, off_t off, int whence)
{
	struct tether_arg a[3] = { TETHER_INT(fd), TETHER_INT(off),
				   TETHER_INT(whence) };

	return tether_syscall(t, SYS_lseek, 3, a);
}
