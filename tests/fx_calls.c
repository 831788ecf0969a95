/* Requests as suites build and follow them: call records, PENDING. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "kit.h"

void fx_call_init(struct tether_call *c, long nr, unsigned nargs)
{
	memset(c, 0, sizeof(*c));
	c->nr = nr;
	c->nargs = nargs;
}

void fx_read_call(struct tether_call *c, int fd, void *buf, size_t n)
{
	fx_call_init(c, SYS_read, 3);
	c->args[0] = TETHER_INT(fd);
	c->args[1] = TETHER_OUT(buf, n);
	c->args[2] = TETHER_INT(n);
}

const struct tether_pending *fx_pending_find(const struct tether_pending *v,
					     size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

void fx_pending_state(struct tether *t, uint64_t id, char *st, size_t size)
{
	struct tether_pending *v;
	const struct tether_pending *e;
	size_t n;
	int rc = tether_pending(t, &v, &n);

	cr_assert_eq(rc, 0, "tether_pending: %s (%s)", strerror(-rc),
		     tether_last_error(t));
	e = fx_pending_find(v, n, id);
	snprintf(st, size, "%s", e ? e->state : "");
	free(v);
}

bool fx_wait_state(struct tether *t, uint64_t id, const char *want,
		   char *st, size_t size)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;

	for (;;) {
		fx_pending_state(t, id, st, size);
		if (!strcmp(st, want))
			return true;
		if (kit_now_ms() > end)
			return false;
		kit_nap_ms(10);
	}
}
