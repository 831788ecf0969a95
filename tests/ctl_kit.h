/*
 * What the tests of tetherctl's call printing share (ctl_parse_test.c,
 * test_ctl_decode.c): a call's result as a server would leave it, and
 * what the print functions make of it.  No server.
 */
#ifndef TETHER_TESTS_CTL_KIT_H
#define TETHER_TESTS_CTL_KIT_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl.h"

/* Pretend the server wrote data into out buffer i. */
void fill_out(struct ctl_callspec *cs, int i, const void *data, size_t n);
/* What ctl_call_print (json: ctl_call_print_json) wrote, malloc'd. */
char *printed(const struct ctl_callspec *cs, bool json);
/* It, exactly. */
void expect_print(const struct ctl_callspec *cs, bool json,
		  const char *want);

#endif
