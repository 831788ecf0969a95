/*
 * XXH3-64 through the fastest build this CPU runs (proto/hash.h says
 * why the implementation is compiled in).  The choice is made once; a
 * race to make it makes the same choice twice.
 */
#include "config.h"

#include "hash.h"
#include "hash_impl.h"

#if defined(TP_HASH_HAVE_AVX2) && !defined(TP_HASH_BASE_ONLY)
#include <cpuid.h>

/* AVX2 in the CPU and its YMM state saved by the kernel: CPUID and
 * XGETBV, asked when the first hash is made.  Not
 * __builtin_cpu_supports: it links libgcc's CPU probe, a constructor
 * every tetherctl would run (and fault in) whether it hashes or not. */
static int tp_cpu_has_avx2(void)
{
	unsigned a, b, c, d, lo, hi;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) ||
	    !(c & bit_AVX))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6)		/* XMM and YMM state enabled */
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return !!(b & bit_AVX2);
}
#endif

static const struct tp_hash_ops *tp_hash_ops_get(void)
{
	static const struct tp_hash_ops *ops;
	const struct tp_hash_ops *o = __atomic_load_n(&ops, __ATOMIC_ACQUIRE);

	if (o)
		return o;
	o = &tp_hash_sse2;
#if defined(TP_HASH_HAVE_AVX2) && !defined(TP_HASH_BASE_ONLY)
	if (tp_cpu_has_avx2())
		o = &tp_hash_avx2;
#endif
	__atomic_store_n(&ops, o, __ATOMIC_RELEASE);
	return o;
}

struct tp_hash *tp_hash_new(void)
{
	struct tp_hash *h = tp_hash_ops_get()->create();

	if (h)
		tp_hash_reset(h);
	return h;
}

void tp_hash_free(struct tp_hash *h)
{
	if (h)
		tp_hash_ops_get()->destroy(h);
}

void tp_hash_reset(struct tp_hash *h)
{
	tp_hash_ops_get()->reset(h);
}

void tp_hash_update(struct tp_hash *h, const void *p, size_t n)
{
	tp_hash_ops_get()->update(h, p, n);
}

uint64_t tp_hash_digest(const struct tp_hash *h)
{
	return tp_hash_ops_get()->digest(h);
}

uint64_t tp_hash(const void *p, size_t n)
{
	return tp_hash_ops_get()->oneshot(p, n);
}

const char *tp_hash_impl(void)
{
	return tp_hash_ops_get()->name;
}
