/*
 * Guarded buffers.  The kernel writes whole structs whatever size a
 * controller meant (uname writes 390 bytes into a 1-byte buffer), and
 * reads as far as a count says.  Every buffer a syscall gets from tetherd
 * therefore ends flush against a PROT_NONE page: anything past the size
 * the controller gave is EFAULT inside the kernel, never a write into the
 * server's heap.  Slots are cached, so the common call costs no mmap.
 */
#ifndef TETHERD_ARENA_H
#define TETHERD_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct td_buf {
	char *p;			/* size bytes; p + size is the guard */
	size_t size;
	char *base;			/* the slot's first data page */
	size_t span;			/* its data bytes (whole pages) */
	bool dirty;			/* not zeroed: an earlier call's bytes */
};

/* size zeroed bytes against a guard page (size 0: p is the guard).
 * 0 or -ENOMEM.  Loop thread only; helpers may use the bytes. */
int td_buf_get(struct td_buf *b, size_t size);
/* The same, its first n (<= size) bytes copied from src: only the rest
 * is zeroed (a write's 4 KiB are not cleared to be overwritten). */
int td_buf_get_copy(struct td_buf *b, size_t size, const void *src, size_t n);
/* size bytes against a guard page, not zeroed when the slot is reused
 * (b->dirty then says so): only for a buffer the call writes from its
 * start and whose every unwritten byte is zeroed before anyone sees it
 * (syscall.c: read's).  0 or -ENOMEM. */
int td_buf_get_dirty(struct td_buf *b, size_t size);
/* Give the slot back (to the cache, or the kernel); b is emptied. */
void td_buf_put(struct td_buf *b);
/* Drop the cache (at exit). */
void td_arena_free(void);

#endif
