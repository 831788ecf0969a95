/*
 * Held fds: which of the server's fds this controller owns.  GC keeps
 * exactly these (plus labeled ones); after a crash tether_reconnect()
 * rebuilds the set from the labels, the only ownership the server
 * itself remembers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

/* Index of fd, or of where it would go. */
static size_t tl_held_pos(const struct tether *t, int fd)
{
	size_t lo = 0, hi = t->nheld;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->held[mid] < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

TETHER_API bool tether_fd_held(const struct tether *t, int fd)
{
	size_t i = tl_held_pos(t, fd);

	return i < t->nheld && t->held[i] == fd;
}

TETHER_API int tether_fd_hold(struct tether *t, int fd)
{
	size_t i = tl_held_pos(t, fd);

	if (fd < 0)
		return tl_fail(t, EBADF, "fd %d", fd);
	if (i < t->nheld && t->held[i] == fd)
		return 0;
	if (t->nheld == t->capheld) {
		size_t cap = t->capheld ? 2 * t->capheld : 16;
		int *nv = realloc(t->held, cap * sizeof(int));

		if (!nv)
			return tl_fail(t, ENOMEM, "out of memory");
		t->held = nv;
		t->capheld = cap;
	}
	memmove(t->held + i + 1, t->held + i, (t->nheld - i) * sizeof(int));
	t->held[i] = fd;
	t->nheld++;
	return 0;
}

TETHER_API int tether_fd_release(struct tether *t, int fd)
{
	size_t i = tl_held_pos(t, fd);

	if (i >= t->nheld || t->held[i] != fd)
		return -ENOENT;
	memmove(t->held + i, t->held + i + 1, (t->nheld - i - 1) * sizeof(int));
	t->nheld--;
	return 0;
}

TETHER_API size_t tether_fds_held(const struct tether *t, int *out,
				  size_t max)
{
	size_t n = t->nheld < max ? t->nheld : max;

	if (out && n)
		memcpy(out, t->held, n * sizeof(int));
	return t->nheld;
}
