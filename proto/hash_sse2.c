/* XXH3-64 for every x86-64 CPU (SSE2 is part of the architecture), and
 * xxHash's own choice of vector code on other architectures. */
#define TP_HASH_BUILD
#define XXH_NAMESPACE tp_base_
#include "hash_impl.h"

#if defined(__x86_64__)
TP_HASH_OPS(tp_hash_sse2, "sse2");
#else
TP_HASH_OPS(tp_hash_sse2, "generic");
#endif
