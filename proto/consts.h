/* Symbolic constants and errno names, shared by tetherctl and tetherd. */
#ifndef TETHER_CONSTS_H
#define TETHER_CONSTS_H

#include <stddef.h>
#include <stdint.h>

/* NAME (exactly len bytes) as its value on this architecture: 0, or
 * -ENOENT if unknown. */
int tp_const_lookup(const char *name, size_t len, int64_t *value);
/* "EPERM" for 1; NULL for numbers without a name. */
const char *tp_errno_name(int e);
/* The reverse: 0 and *value, or -ENOENT. */
int tp_errno_lookup(const char *name, size_t len, int *value);

#endif
