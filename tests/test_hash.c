/*
 * proto/hash.c: tether's compiled-in XXH3-64 against libxxhash's, the
 * reference both ends of a GET or PUT used to call.  Every build this
 * machine can run is checked, not only the one the dispatcher picks:
 * the AVX2 and SSE2 builds must agree with the library and with each
 * other at every length that changes XXH3's code path (the 0-16,
 * 17-128, 129-240 and long-input branches, stripe and block edges) and
 * for updates split at every awkward boundary.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "hash.h"
#include "hash_impl.h"

#define BIG (3 * 1024 * 1024 + 77)

static unsigned char *data;

static void setup(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	data = malloc(BIG);
	cr_assert_not_null(data);
	for (size_t i = 0; i < BIG; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (unsigned char)x;
	}
}

static void teardown(void)
{
	free(data);
}

TestSuite(hash, .init = setup, .fini = teardown);

static const size_t lengths[] = {
	0, 1, 3, 4, 8, 9, 16, 17, 64, 128, 129, 200, 240, 241, 255, 256,
	512, 1023, 1024, 1025, 4096, 65536, 65537, 1024 * 1024, BIG,
};

/* The builds this CPU can run: the base one always. */
static const struct tp_hash_ops *builds[2];

static size_t runnable(void)
{
	size_t n = 0;

	builds[n++] = &tp_hash_sse2;
#ifdef TP_HASH_HAVE_AVX2
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		builds[n++] = &tp_hash_avx2;
#endif
	return n;
}

Test(hash, oneshot_matches_libxxhash)
{
	size_t nb = runnable();

	for (size_t b = 0; b < nb; b++)
		for (size_t i = 0; i < sizeof(lengths) / sizeof(*lengths); i++) {
			size_t n = lengths[i];
			/* An odd start: the builds' unaligned loads. */
			const unsigned char *p = data + (i & 7);

			if (n + 8 > BIG)
				n = BIG - 8;
			cr_expect_eq(builds[b]->oneshot(p, n), XXH3_64bits(p, n),
				     "%s build, %zu bytes", builds[b]->name, n);
		}
	cr_expect_eq(tp_hash(data, 4096), XXH3_64bits(data, 4096));
}

Test(hash, streamed_matches_libxxhash)
{
	static const size_t steps[] = { 1, 7, 64, 240, 1000, 1024, 65536 };
	size_t nb = runnable();
	uint64_t want = XXH3_64bits(data, BIG);

	for (size_t b = 0; b < nb; b++)
		for (size_t s = 0; s < sizeof(steps) / sizeof(*steps); s++) {
			struct tp_hash *h = builds[b]->create();
			size_t len = steps[s] == 1 ? 70000 : BIG;

			cr_assert_not_null(h);
			builds[b]->reset(h);
			for (size_t off = 0; off < len; off += steps[s])
				builds[b]->update(h, data + off,
						  len - off < steps[s] ?
						  len - off : steps[s]);
			cr_expect_eq(builds[b]->digest(h),
				     len == BIG ? want : XXH3_64bits(data, len),
				     "%s build, %zu-byte updates",
				     builds[b]->name, steps[s]);
			builds[b]->destroy(h);
		}
}

/* The public face: a new state is already reset, a digest does not end
 * the stream, and reset starts a new one. */
Test(hash, api_state_lifecycle)
{
	struct tp_hash *h = tp_hash_new();

	cr_assert_not_null(h);
	cr_expect_eq(tp_hash_digest(h), XXH3_64bits("", 0));
	tp_hash_update(h, data, 100);
	cr_expect_eq(tp_hash_digest(h), XXH3_64bits(data, 100));
	tp_hash_update(h, data + 100, 900);
	cr_expect_eq(tp_hash_digest(h), XXH3_64bits(data, 1000));
	tp_hash_reset(h);
	tp_hash_update(h, data, 5);
	cr_expect_eq(tp_hash_digest(h), XXH3_64bits(data, 5));
	tp_hash_free(h);
	tp_hash_free(NULL);
}

/* The dispatcher takes AVX2 where the CPU has it. */
Test(hash, picks_avx2_when_present)
{
	const char *want = "sse2";

#ifdef TP_HASH_HAVE_AVX2
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		want = "avx2";
#else
# ifndef __x86_64__
	want = "generic";
# endif
#endif
	cr_expect_str_eq(tp_hash_impl(), want);
}
