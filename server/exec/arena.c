/*
 * A slot is one mapping: its data pages, then one PROT_NONE page.  A
 * buffer of n bytes sits at the end of the data, so byte n is the guard.
 * Freed slots wait in a small cache by size class (powers of two pages);
 * buffers bigger than the largest class (data-socket buffers, up to
 * 256 MiB) get a mapping of their own, returned at once.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"

#define TD_ARENA_CLASSES 9		/* 1, 2, 4 ... 256 pages */
#define TD_ARENA_CACHE_BYTES (8u << 20)	/* kept for reuse, at most */

struct td_slot {
	struct td_slot *next;
};

static struct td_slot *td_free_slots[TD_ARENA_CLASSES];
static size_t td_cached_bytes;
static size_t td_page;

static size_t td_page_size(void)
{
	if (!td_page)
		td_page = (size_t)sysconf(_SC_PAGESIZE);
	return td_page;
}

/* The class whose span holds size bytes, or -1 if none does. */
static int td_class_of(size_t size, size_t *span)
{
	size_t page = td_page_size();

	for (int c = 0; c < TD_ARENA_CLASSES; c++) {
		size_t s = page << c;

		if (size <= s) {
			*span = s;
			return c;
		}
	}
	*span = (size + page - 1) / page * page;
	return -1;
}

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102		/* Linux 6.13 */
#endif

/* Linux 6.13+ marks a guard page with madvise: the slot stays one
 * mapping, which the kernel merges with its neighbours.  An mprotect
 * guard splits the mapping in two, so 2,000 slots in flight were 4,000
 * VMAs and every mmap, munmap and mremap of the process walked them.
 * Older kernels (EINVAL) get the mprotect; both fault the same way. */
static bool td_no_guard_advice;

static int td_slot_guard(char *g, size_t page)
{
	if (!td_no_guard_advice) {
		if (madvise(g, page, MADV_GUARD_INSTALL) == 0)
			return 0;
		if (errno != EINVAL)
			return -errno;
		td_no_guard_advice = true;
	}
	return mprotect(g, page, PROT_NONE) < 0 ? -errno : 0;
}

static int td_slot_map(size_t span, char **base)
{
	size_t page = td_page_size();
	char *m = mmap(NULL, span + page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int rc;

	if (m == MAP_FAILED)
		return -errno;
	if ((rc = td_slot_guard(m + span, page)) < 0) {
		munmap(m, span + page);
		return rc;
	}
	*base = m;
	return 0;
}

/* A slot for size bytes, from the cache (*fresh false: its bytes are an
 * earlier call's) or newly mapped. */
static int td_buf_take(struct td_buf *b, size_t size, bool *fresh)
{
	int c = td_class_of(size, &b->span);
	int rc;

	*fresh = true;
	b->dirty = false;
	if (c >= 0 && td_free_slots[c]) {
		b->base = (char *)td_free_slots[c];
		td_free_slots[c] = td_free_slots[c]->next;
		td_cached_bytes -= b->span;
		*fresh = false;
	} else if ((rc = td_slot_map(b->span, &b->base)) < 0) {
		b->p = b->base = NULL;
		b->size = b->span = 0;
		return rc;
	}
	b->size = size;
	b->p = b->base + b->span - size;
	return 0;
}

int td_buf_get(struct td_buf *b, size_t size)
{
	return td_buf_get_copy(b, size, NULL, 0);
}

int td_buf_get_dirty(struct td_buf *b, size_t size)
{
	bool fresh;
	int rc = td_buf_take(b, size, &fresh);

	b->dirty = rc == 0 && !fresh && size;
	return rc;
}

int td_buf_get_copy(struct td_buf *b, size_t size, const void *src, size_t n)
{
	bool fresh;
	int rc = td_buf_take(b, size, &fresh);

	if (rc < 0)
		return rc;
	if (n > size)
		n = size;
	if (n)
		memcpy(b->p, src, n);
	/* Zeroed: what the call leaves alone must not carry an earlier
	 * call's bytes back (a fresh mapping already is). */
	if (!fresh)
		memset(b->p + n, 0, size - n);
	return 0;
}


void td_buf_put(struct td_buf *b)
{
	size_t span;
	int c;

	if (!b->base)
		return;
	c = td_class_of(b->span, &span);
	if (c >= 0 && span == b->span &&
	    td_cached_bytes + span <= TD_ARENA_CACHE_BYTES) {
		struct td_slot *s = (struct td_slot *)b->base;

		s->next = td_free_slots[c];
		td_free_slots[c] = s;
		td_cached_bytes += span;
	} else {
		munmap(b->base, b->span + td_page_size());
	}
	b->p = b->base = NULL;
	b->size = b->span = 0;
	b->dirty = false;
}

void td_arena_free(void)
{
	for (int c = 0; c < TD_ARENA_CLASSES; c++) {
		size_t span = td_page_size() << c;

		while (td_free_slots[c]) {
			struct td_slot *s = td_free_slots[c];

			td_free_slots[c] = s->next;
			munmap(s, span + td_page_size());
		}
	}
	td_cached_bytes = 0;
}
