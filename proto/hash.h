/*
 * XXH3-64, the checksum both ends of a transfer compute.  Through the
 * library's x86 dispatcher when it has one: the generic build runs at
 * SSE2 speed, which is slower than the data socket itself.
 */
#ifndef TETHER_PROTO_HASH_H
#define TETHER_PROTO_HASH_H

#include "config.h"

#include <xxhash.h>
#if defined(HAVE_XXH_X86DISPATCH_H) && defined(HAVE_XXH3_64BITS_UPDATE_DISPATCH)
#include <xxh_x86dispatch.h>
#endif

#endif
