/*
 * The server's own fds (listening socket, lock, ring, signalfd, the
 * controller's sockets, transfer files) are moved to fd 1024 and up
 * (TD_IFD_FLOOR, a reserved band of TD_IFD_RESERVE) and recorded here:
 * the controller's syscalls never land on them by accident, and
 * LIST_FDS and GC can tell them apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tetherd.h"

static int td_ifd_floor = -1;
static int td_ifds[TD_IFD_RESERVE];
static const char *td_ifd_roles[TD_IFD_RESERVE];
static unsigned td_nifds;

int td_ifd_init(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	/* Ask for room: GC of 10,000 fds must be possible.  Stay well
	 * below huge hard limits, the kernel sizes the table to the
	 * highest fd in use. */
	if (rl.rlim_cur < TD_NOFILE_WANT) {
		rl.rlim_cur = rl.rlim_max < TD_NOFILE_WANT ? rl.rlim_max
							   : TD_NOFILE_WANT;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	if (rl.rlim_cur < TD_IFD_FLOOR + TD_IFD_RESERVE + 1024)
		return -EMFILE;
	/* High enough to stay clear of a controller's usual fds, low
	 * enough that the table -- which every /proc/self/fd listing
	 * walks, slot by slot -- stays small. */
	td_ifd_floor = TD_IFD_FLOOR;
	return 0;
}

static int td_ifd_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Keep td_ifds sorted (for bsearch and close_range runs), roles along. */
static void td_ifd_insert(int fd, const char *role)
{
	unsigned i = td_nifds++;

	for (; i > 0 && td_ifds[i - 1] > fd; i--) {
		td_ifds[i] = td_ifds[i - 1];
		td_ifd_roles[i] = td_ifd_roles[i - 1];
	}
	td_ifds[i] = fd;
	td_ifd_roles[i] = role;
}

int td_ifd_adopt(int fd, const char *role)
{
	int nfd;

	if (fd < 0)
		return fd;
	if (td_nifds >= TD_IFD_RESERVE) {
		close(fd);
		return -EMFILE;
	}
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, td_ifd_floor);
	if (nfd < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	td_ifd_insert(nfd, role);
	return nfd;
}

void td_ifd_close(int fd)
{
	for (unsigned i = 0; i < td_nifds; i++) {
		if (td_ifds[i] != fd)
			continue;
		td_nifds--;
		for (; i < td_nifds; i++) {
			td_ifds[i] = td_ifds[i + 1];
			td_ifd_roles[i] = td_ifd_roles[i + 1];
		}
		close(fd);
		return;
	}
}

bool td_ifd_is(int fd)
{
	return bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp) !=
	       NULL;
}

unsigned td_ifd_count(void)
{
	return td_nifds;
}

unsigned td_ifd_list(int *out, unsigned max)
{
	unsigned n = td_nifds < max ? td_nifds : max;

	for (unsigned i = 0; i < n; i++)
		out[i] = td_ifds[i];
	return n;
}

const char *td_ifd_role(int fd)
{
	const int *p = bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp);

	return p ? td_ifd_roles[p - td_ifds] : NULL;
}

int td_ifd_close_range(unsigned first, unsigned last, unsigned flags)
{
	unsigned lo = first;

	if (first > last)
		return -EINVAL;
	for (unsigned i = 0; i < td_nifds && lo <= last; i++) {
		unsigned fd = (unsigned)td_ifds[i];

		if (fd < lo)
			continue;
		if (fd > last)
			break;
		if (fd > lo && syscall(SYS_close_range, lo, fd - 1, flags) < 0)
			return -errno;
		lo = fd + 1;
	}
	if (lo <= last && syscall(SYS_close_range, lo, last, flags) < 0)
		return -errno;
	return 0;
}
