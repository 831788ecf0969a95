/* XXH3-64 for CPUs with AVX2; this file alone is built with -mavx2
 * (Makefile.am, libtetherhash_avx2.la) and runs only where
 * proto/hash.c found AVX2. */
#define TP_HASH_BUILD
#define XXH_NAMESPACE tp_avx2_
#define XXH_VECTOR XXH_AVX2
#include "hash_impl.h"

TP_HASH_OPS(tp_hash_avx2, "avx2");
