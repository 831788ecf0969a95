/*
 * The server's own fds (listening socket, lock, ring, signalfd, the
 * controller's sockets, transfer files) are moved to fd 1024 and up
 * (TD_IFD_FLOOR, a reserved band of TD_IFD_RESERVE) and recorded here:
 * the controller's syscalls never land on them by accident, and
 * LIST_FDS and GC can tell them apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tetherd.h"

static int td_ifd_floor = -1;
static unsigned td_ifd_max;		/* how many the band may hold */
static int td_ifds[TD_IFD_RESERVE];
static const char *td_ifd_roles[TD_IFD_RESERVE];
static unsigned td_nifds;
/* Helper threads adopt and close fds too (a spawn's pipes, the
 * spawner's socket). */
static pthread_mutex_t td_ifd_lock = PTHREAD_MUTEX_INITIALIZER;

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
	/* The band takes what the limit leaves above the floor, keeping
	 * 1024 of it for the controller, up to TD_IFD_RESERVE. */
	if (rl.rlim_cur < TD_NOFILE_MIN)
		return -EMFILE;
	td_ifd_max = (unsigned)(rl.rlim_cur - TD_IFD_FLOOR - 1024);
	if (td_ifd_max > TD_IFD_RESERVE)
		td_ifd_max = TD_IFD_RESERVE;
	/* High enough to stay clear of a controller's usual fds, low
	 * enough that the table -- which every /proc/self/fd listing
	 * walks, slot by slot -- stays small. */
	td_ifd_floor = TD_IFD_FLOOR;
	return 0;
}

static int td_ifd_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);	/* a difference could overflow */
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

/* fd's copy in the band, recorded; fd itself is left open. */
int td_ifd_copy(int fd, const char *role)
{
	int nfd;

	pthread_mutex_lock(&td_ifd_lock);
	if (td_nifds >= td_ifd_max) {
		pthread_mutex_unlock(&td_ifd_lock);
		return -EMFILE;
	}
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, td_ifd_floor);
	if (nfd < 0) {
		int err = -errno;

		pthread_mutex_unlock(&td_ifd_lock);
		return err;
	}
	td_ifd_insert(nfd, role);
	pthread_mutex_unlock(&td_ifd_lock);
	return nfd;
}

int td_ifd_adopt(int fd, const char *role)
{
	int nfd;

	if (fd < 0)
		return fd;
	nfd = td_ifd_copy(fd, role);
	close(fd);
	return nfd;
}

int td_ifd_adopt_urgent(int fd, const char *role)
{
	int nfd;

	if (fd < 0)
		return fd;
	/* A full table, or a full band: the spares are in both. */
	if ((nfd = td_ifd_copy(fd, role)) == -EMFILE && td_spare_release())
		nfd = td_ifd_copy(fd, role);
	close(fd);
	return nfd;
}

int td_ifd_keep(int fd, const char *role)
{
	if (fd < td_ifd_floor || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	pthread_mutex_lock(&td_ifd_lock);
	if (td_nifds >= td_ifd_max || bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp)) {
		pthread_mutex_unlock(&td_ifd_lock);
		return -EMFILE;
	}
	td_ifd_insert(fd, role);
	pthread_mutex_unlock(&td_ifd_lock);
	/* FD_CLOEXEC, cleared for the exec that brought it here, is set
	 * again once the resume cannot fail (and fall back) any more. */
	return fd;
}

/* fd's record out, under the lock: whether there was one. */
static bool td_ifd_forget_locked(int fd)
{
	int *p = bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp);
	unsigned i;

	if (!p)
		return false;
	i = (unsigned)(p - td_ifds);
	td_nifds--;
	memmove(&td_ifds[i], &td_ifds[i + 1],
		(td_nifds - i) * sizeof(td_ifds[0]));
	memmove(&td_ifd_roles[i], &td_ifd_roles[i + 1],
		(td_nifds - i) * sizeof(td_ifd_roles[0]));
	return true;
}

void td_ifd_close(int fd)
{
	pthread_mutex_lock(&td_ifd_lock);
	/* Closed under the lock: the number cannot be adopted by another
	 * thread before it is free. */
	if (td_ifd_forget_locked(fd))
		close(fd);
	pthread_mutex_unlock(&td_ifd_lock);
}

int td_ifd_hide(int fd, const char *role)
{
	int rc = 0;

	pthread_mutex_lock(&td_ifd_lock);
	if (bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp))
		;			/* ours already */
	/* Half the records stay the server's own: closes a hung daemon
	 * holds must not leave a handshake no room (rule 8). */
	else if (td_nifds >= td_ifd_max / 2)
		rc = -EMFILE;
	else
		td_ifd_insert(fd, role);
	pthread_mutex_unlock(&td_ifd_lock);
	return rc;
}

void td_ifd_close_slow(int fd)
{
	int ph = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* The flush a close may wait for (FUSE's FLUSH) happens after the
	 * kernel has freed the number: the next open would get it while
	 * our record still hid it (a hostile walk-through's controller got
	 * EBADF for its new fd until the daemon answered).  dup3 over fd
	 * waits for the same flush with /dev/null already in its place:
	 * the number stays taken, and recorded, until it is closed for
	 * good under the lock, which no longer waits. */
	if (ph >= 0) {
		(void)dup3(ph, fd, O_CLOEXEC);
		close(ph);
		pthread_mutex_lock(&td_ifd_lock);
		td_ifd_forget_locked(fd);
		close(fd);		/* /dev/null's: nothing waits */
		pthread_mutex_unlock(&td_ifd_lock);
		return;
	}
	/* No fd for it: closed first, outside the lock, the record after
	 * (the number may be hidden a while). */
	close(fd);
	pthread_mutex_lock(&td_ifd_lock);
	td_ifd_forget_locked(fd);
	pthread_mutex_unlock(&td_ifd_lock);
}

bool td_ifd_is(int fd)
{
	bool is;

	pthread_mutex_lock(&td_ifd_lock);
	is = bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp) != NULL;
	pthread_mutex_unlock(&td_ifd_lock);
	return is;
}

unsigned td_ifd_count(void)
{
	return td_nifds;
}

unsigned td_ifd_list(int *out, unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&td_ifd_lock);
	n = td_nifds < max ? td_nifds : max;
	for (unsigned i = 0; i < n; i++)
		out[i] = td_ifds[i];
	pthread_mutex_unlock(&td_ifd_lock);
	return n;
}

const char *td_ifd_role(int fd)
{
	const int *p;
	const char *role;

	pthread_mutex_lock(&td_ifd_lock);
	p = bsearch(&fd, td_ifds, td_nifds, sizeof(int), td_ifd_cmp);
	role = p ? td_ifd_roles[p - td_ifds] : NULL;
	pthread_mutex_unlock(&td_ifd_lock);
	return role;
}

int td_ifd_close_range(unsigned first, unsigned last, unsigned flags)
{
	unsigned lo = first, nlater = 0;
	int rc = 0, *later = NULL;

	if (first > last)
		return -EINVAL;
	/* Not CLOSE_RANGE_CLOEXEC: that closes nothing now.  Remote files
	 * are hidden (so the runs go around them) and closed off the
	 * loop. */
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		nlater = td_fds_prepare_range(first, last, &later);
	pthread_mutex_lock(&td_ifd_lock);
	for (unsigned i = 0; i < td_nifds && lo <= last; i++) {
		unsigned fd = (unsigned)td_ifds[i];

		if (fd < lo)
			continue;
		if (fd > last)
			break;
		if (fd > lo && syscall(SYS_close_range, lo, fd - 1, flags) < 0) {
			rc = -errno;
			goto out;
		}
		lo = fd + 1;
	}
	if (lo <= last && syscall(SYS_close_range, lo, last, flags) < 0)
		rc = -errno;
out:
	pthread_mutex_unlock(&td_ifd_lock);
	td_fds_close_later(later, nlater);
	free(later);
	return rc;
}
