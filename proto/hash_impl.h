/*
 * One build of xxHash's XXH3-64 behind the table proto/hash.c picks
 * from.  Included by hash_avx2.c and hash_sse2.c, each after setting
 * XXH_NAMESPACE and XXH_VECTOR: the same source, compiled for one
 * instruction set, under names of its own.
 */
#ifndef TETHER_PROTO_HASH_IMPL_H
#define TETHER_PROTO_HASH_IMPL_H

#include <stddef.h>
#include <stdint.h>

struct tp_hash;

struct tp_hash_ops {
	const char *name;
	struct tp_hash *(*create)(void);
	void (*destroy)(struct tp_hash *);
	void (*reset)(struct tp_hash *);
	void (*update)(struct tp_hash *, const void *, size_t);
	uint64_t (*digest)(const struct tp_hash *);
	uint64_t (*oneshot)(const void *, size_t);
};

extern const struct tp_hash_ops tp_hash_avx2, tp_hash_sse2;

#endif

#ifdef TP_HASH_BUILD
#define XXH_STATIC_LINKING_ONLY
#define XXH_IMPLEMENTATION
#include <xxhash.h>

/* struct tp_hash is this build's XXH3_state_t: XXH3 states hold no
 * vector state, but a state is only ever fed by the build that made it
 * (proto/hash.c picks one build for the process). */
static struct tp_hash *tp_hash_create_(void)
{
	return (struct tp_hash *)XXH3_createState();
}

static void tp_hash_destroy_(struct tp_hash *h)
{
	XXH3_freeState((XXH3_state_t *)h);
}

static void tp_hash_reset_(struct tp_hash *h)
{
	XXH3_64bits_reset((XXH3_state_t *)h);
}

static void tp_hash_update_(struct tp_hash *h, const void *p, size_t n)
{
	XXH3_64bits_update((XXH3_state_t *)h, p, n);
}

static uint64_t tp_hash_digest_(const struct tp_hash *h)
{
	return XXH3_64bits_digest((const XXH3_state_t *)h);
}

static uint64_t tp_hash_oneshot_(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

#define TP_HASH_OPS(var, label) \
	const struct tp_hash_ops var = { \
		.name = label, .create = tp_hash_create_, \
		.destroy = tp_hash_destroy_, .reset = tp_hash_reset_, \
		.update = tp_hash_update_, .digest = tp_hash_digest_, \
		.oneshot = tp_hash_oneshot_, \
	}
#endif
