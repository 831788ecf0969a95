/*
 * Spare slots in the fd table.  A controller's calls may fill the
 * server's table up to RLIMIT_NOFILE (a leak does, one open at a
 * time); after that nothing opens -- not the socket of the controller
 * that comes to clean up, not the two sockets its HELLO hands over,
 * not the /proc/self/fd its GC reads -- and the server can no longer
 * be rescued by the one tool made for it.  So it holds TD_SPARE_FDS
 * descriptors of /dev/null, and closes them when its own work meets
 * EMFILE on the way in (accept, the HELLO, the fd listings).  They are
 * taken back only when the table has room for them and TD_SPARE_ROOM
 * besides, at most once a second: a controller retrying its HELLO
 * finds the slots it was refused still free.
 *
 * What is not covered: a controller that keeps opening while another
 * comes in may take the freed slots first (then that HELLO fails like
 * before, EMFILE); and helper threads share the table, so a call run
 * on one may too.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_SPARE_FDS 8
#define TD_SPARE_ROOM 4		/* free slots left when they are taken back */
#define TD_SPARE_RETRY_MS 1000

static int td_spare_src = -1;	/* /dev/null, never given up */
static int td_spares[TD_SPARE_FDS];
static unsigned td_nspares;
static uint64_t td_spare_tried;	/* td_spare_ms() of the last refill */
static unsigned td_spare_given;	/* since the last td_spare_refill */

/* Not td_now_ms: deferred/ uses fds/, and modules call one way. */
static uint64_t td_spare_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Up to want dups of the source, placed in the internal band and
 * recorded; how many.  Stops at the first failure (EMFILE). */
static unsigned td_spare_take(int *into, unsigned want)
{
	unsigned n = 0;

	while (n < want) {
		int fd = fcntl(td_spare_src, F_DUPFD_CLOEXEC, TD_IFD_FLOOR);

		if (fd < 0)
			break;
		if (td_ifd_keep(fd, "spare") < 0) {
			close(fd);
			break;
		}
		into[n++] = fd;
	}
	return n;
}

/* /dev/null, once: what the spares are copies of (a device that opens
 * at once, so the loop may open it). */
static int td_spare_source(void)
{
	int fd, src;

	if (td_spare_src >= 0)
		return 0;
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	if ((src = td_ifd_adopt(fd, "spares' source")) < 0)
		return src;
	td_spare_src = src;
	return 0;
}

int td_spare_init(void)
{
	int rc = td_spare_source();

	if (rc < 0)
		return rc;
	td_nspares = td_spare_take(td_spares, TD_SPARE_FDS);
	return td_nspares == TD_SPARE_FDS ? 0 : -EMFILE;
}

bool td_spare_release(void)
{
	unsigned n = td_nspares;

	if (!n)
		return false;
	while (td_nspares)
		td_ifd_close(td_spares[--td_nspares]);
	td_spare_tried = td_spare_ms();
	td_spare_given += n;
	return true;
}

bool td_spare_emfile(int err)
{
	return (err == EMFILE || err == -EMFILE) && td_spare_release();
}

void td_spare_refill(unsigned *given, unsigned *taken)
{
	int v[TD_SPARE_FDS + TD_SPARE_ROOM];
	unsigned want, got;
	uint64_t now;

	*given = td_spare_given;
	*taken = td_spare_given = 0;
	if (td_nspares == TD_SPARE_FDS)
		return;
	now = td_spare_ms();
	if (now - td_spare_tried < TD_SPARE_RETRY_MS)
		return;
	td_spare_tried = now;
	/* An upgrade into a full table may have found no slot for it. */
	if (td_spare_source() < 0)
		return;
	want = TD_SPARE_FDS - td_nspares;
	got = td_spare_take(v, want + TD_SPARE_ROOM);
	/* Room for all and some besides, or none taken: what a retrying
	 * HELLO needs stays free. */
	for (unsigned i = got == want + TD_SPARE_ROOM ? want : 0; i < got; i++)
		td_ifd_close(v[i]);
	if (got < want + TD_SPARE_ROOM)
		return;
	for (unsigned i = 0; i < want; i++)
		td_spares[td_nspares++] = v[i];
	*taken = want;
}

unsigned td_spare_count(void)
{
	return td_nspares;
}
