/*
 * How the messages_*.c files write their tables: one row per field, in
 * the order the fields go on the wire.  For proto/ only.
 */
#ifndef TETHER_MESSAGES_TABLE_H
#define TETHER_MESSAGES_TABLE_H

#include <stddef.h>

#include "messages.h"

/* A scalar field of struct T: key (a TP_K_* or an element's name),
 * member, TP_F_* type, flags, presence bit. */
#define TP_FIELD(T, key, member, type, flags, bit)                            \
	{ key, offsetof(struct T, member), type, 0, flags, bit, NULL }
/* A list of elem (a TP_F_* type, or TP_F_MSG of message sub). */
#define TP_LIST(T, key, member, elem, flags, bit, sub)                        \
	{ key, offsetof(struct T, member), TP_F_LIST, elem, flags, bit, sub }
/* A nested message sub. */
#define TP_SUBMSG(T, key, member, flags, bit, sub)                            \
	{ key, offsetof(struct T, member), TP_F_MSG, 0, flags, bit, sub }

#define TP_MAP_FIELDS_MAX 64
#define TP_NFIELDS(f) ((uint8_t)(sizeof(f) / sizeof((f)[0])))
#define TP_NFIELDS_OK(f) (sizeof(f) / sizeof((f)[0]) <= TP_MAP_FIELDS_MAX)

/* A map message called name, of struct T, fields f[]: at most
 * TP_MAP_FIELDS_MAX of them (the reader's seen-keys bitmap; the 33rd
 * field of the upgrade state once read as its first). */
#define TP_MAP_DESC(id, name_, T, fields)                                     \
	const struct tp_desc tp_##id##_desc = {                               \
		.name = name_, .shape = TP_MAP,                               \
		.nfields = TP_NFIELDS(fields) +                               \
			   0 * sizeof(char[TP_NFIELDS_OK(fields) ? 1 : -1]),  \
		.size = sizeof(struct T),                                     \
		.f = fields,                                                  \
	}
/* An array message: its first nreq elements required. */
#define TP_ARRAY_DESC(id, name_, T, fields, nreq_)                            \
	const struct tp_desc tp_##id##_desc = {                               \
		.name = name_, .shape = TP_ARRAY,                             \
		.nfields = TP_NFIELDS(fields), .nreq = nreq_,                 \
		.size = sizeof(struct T), .f = fields,                        \
	}

#endif
