/* tests/ctl_kit.h: a call's printed result, for the CLI's unit tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_kit.h"

void fill_out(struct ctl_callspec *cs, int i, const void *data, size_t n)
{
	memcpy(cs->call.args[i].out, data, n);
	cs->call.args[i].returned = n;
}

char *printed(const struct ctl_callspec *cs, bool json)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	cr_assert_not_null(f);
	if (json)
		ctl_call_print_json(f, cs);
	else
		ctl_call_print(f, cs);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

void expect_print(const struct ctl_callspec *cs, bool json, const char *want)
{
	char *got = printed(cs, json);

	cr_assert_str_eq(got, want);
	free(got);
}
