/*
 * Option structures that can grow: the caller says how large its
 * structure is (struct_size, 0 for the 1.0 layout), and the library
 * reads exactly that much -- the way the kernel reads openat2's and
 * clone3's -- so a field added later is zero, its default, for a caller
 * built before it, and a newer caller's fields we do not know are
 * refused unless they are zero.
 */
#include <errno.h>
#include <string.h>

#include "libtether.h"

int tl_opts_in(struct tether *t, void *dst, size_t known, const void *src,
	       size_t v1)
{
	size_t size = src ? *(const size_t *)src : 0;

	memset(dst, 0, known);
	if (!src)
		goto done;
	if (!size)
		size = v1;
	if (size < sizeof(size_t) || size > 4096)
		return tl_fail(t, EINVAL, "options: struct_size %zu", size);
	for (size_t i = known; i < size; i++)
		if (((const unsigned char *)src)[i])
			return tl_fail(t, E2BIG, "options: a field this "
				       "libtether does not know is set "
				       "(struct_size %zu, known %zu)", size,
				       known);
	memcpy(dst, src, size < known ? size : known);
done:
	*(size_t *)dst = size ? size : v1;
	return 0;
}

void tl_opts_out(void *dst, const void *src, size_t known)
{
	size_t size = *(const size_t *)src;

	/* Only as much as the caller's structure holds. */
	memcpy((char *)dst + sizeof(size_t), (const char *)src + sizeof(size_t),
	       (size < known ? size : known) - sizeof(size_t));
}

int tl_opts_out_size(struct tether *t, const void *user, size_t known,
		     size_t max, const char *name, size_t *size)
{
	*size = user && *(const size_t *)user ? *(const size_t *)user : known;
	if (*size < sizeof(size_t) || *size > max)
		return tl_fail(t, EINVAL, "%s: struct_size %zu", name, *size);
	return 0;
}
