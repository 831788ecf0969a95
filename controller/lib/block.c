/*
 * What the library hands the caller is one block, so that tether_free()
 * releases any of it and no public structure needs to say who owns its
 * pointers: the records first, then every pointer array, then every
 * string (pointers stay aligned whatever the strings' lengths).
 */
#include <stdlib.h>
#include <string.h>

#include "libtether.h"

TETHER_API void tether_free(void *p)
{
	free(p);
}

void tl_block_count(struct tl_block *b, char *const *v, size_t n)
{
	b->nptrs += n + 1;
	for (size_t i = 0; i < n; i++)
		b->nstrs += strlen(v[i]) + 1;
}

void tl_block_count_str(struct tl_block *b, const char *s)
{
	if (s)
		b->nstrs += strlen(s) + 1;
}

void *tl_block_alloc(struct tl_block *b, size_t records)
{
	size_t ptrs = b->nptrs * sizeof(char *);

	if (!(b->base = malloc(records + ptrs + b->nstrs + 1)))
		return NULL;
	b->ptrs = (char **)(b->base + records);
	b->strs = b->base + records + ptrs;
	return b->base;
}

const char *tl_block_str(struct tl_block *b, const char *s)
{
	char *copy = b->strs;
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s) + 1;
	memcpy(copy, s, len);
	b->strs += len;
	return copy;
}

const char *const *tl_block_strv(struct tl_block *b, char *const *v,
				 size_t n)
{
	char **copy = b->ptrs;

	for (size_t i = 0; i < n; i++)
		copy[i] = (char *)tl_block_str(b, v[i]);
	copy[n] = NULL;
	b->ptrs += n + 1;
	return (const char *const *)copy;
}
