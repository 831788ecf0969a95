/*
 * XXH3-64, the checksum both ends of a transfer compute.
 *
 * xxHash's own implementation (the header Debian's libxxhash-dev ships),
 * compiled into proto twice -- for AVX2 and for SSE2 -- and chosen once
 * at run time, as libxxhash's x86 dispatcher does.  Not the shared
 * library: tetherctl starts once per shell command and an idle tetherd
 * should map little, and one library fewer to find, map and relocate is
 * measurable in both (bench/README, "A lean tetherctl").  Not Debian's
 * static archive either: it lacks the dispatcher, and at SSE2 speed the
 * hash is slower than the data socket it checks.
 */
#ifndef TETHER_PROTO_HASH_H
#define TETHER_PROTO_HASH_H

#include <stddef.h>
#include <stdint.h>

struct tp_hash;

/* A state, reset; NULL when out of memory. */
struct tp_hash *tp_hash_new(void);
void tp_hash_free(struct tp_hash *h);
void tp_hash_reset(struct tp_hash *h);
void tp_hash_update(struct tp_hash *h, const void *p, size_t n);
uint64_t tp_hash_digest(const struct tp_hash *h);
/* One buffer's XXH3-64. */
uint64_t tp_hash(const void *p, size_t n);

/* Which implementation runs: "avx2" or "sse2" (for the benches). */
const char *tp_hash_impl(void);

#endif
