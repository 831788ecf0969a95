/*
 * proto/messages: every message packs and unpacks to itself; a missing
 * required key or element, and one of the wrong type, is an error that
 * names the message and the key; the writer's first failure sticks; and
 * tether-protocol(7) lists the messages of proto/messages.h, in order,
 * with their keys and types.  Real msgpack all the way: samples are
 * packed, decoded by msgpack-c, and unpacked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* ---- samples: every field set, from the table ---------------------------- */

/* What a sample owns (lists' arrays), freed after the test. */
static void *owned[4096];
static size_t nowned;

static void *own(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	cr_assert_not_null(p);
	cr_assert_lt(nowned, sizeof(owned) / sizeof(owned[0]));
	return owned[nowned++] = p;
}

static void free_owned(void)
{
	while (nowned)
		free(owned[--nowned]);
}

static const char *const words[] = { "alpha", "", "gamma\xc3\xa9", "d e l",
				     "/tmp/x", "running" };

static void fill(const struct tp_desc *d, void *m, unsigned seed, bool nils);

/* The hand-written messages get hand-made samples. */
static void fill_arg(struct tp_arg *a, unsigned i, unsigned seed)
{
	static const uint8_t kinds[] = { TP_A_INT, TP_A_IN, TP_A_STR,
					 TP_A_OUT, TP_A_INOUT, TP_A_RESULT,
					 TP_A_DATA_IN, TP_A_DATA_OUT };

	memset(a, 0, sizeof(*a));
	a->kind = kinds[(i + seed) % 8];
	/* bin and str carry bytes alone, the rest a number. */
	if (a->kind != TP_A_IN && a->kind != TP_A_STR)
		a->v = a->kind == TP_A_INT ? (uint64_t)-7 - i : 64 + i;
	if (a->kind == TP_A_IN || a->kind == TP_A_INOUT ||
	    a->kind == TP_A_STR) {
		a->p = words[(i + seed) % 6];
		a->n = strlen(a->p);
	}
}

static void fill_args(struct tp_args *a, unsigned seed)
{
	a->has = 0;
	a->n = seed % (TETHER_NARGS_MAX + 1);
	for (unsigned i = 0; i < a->n; i++)
		fill_arg(&a->a[i], i, seed);
}

static void fill_reply(struct tp_syscall_reply *r, unsigned seed)
{
	memset(r, 0, sizeof(*r));
	r->ret = seed % 2 ? -(int64_t)seed : (int64_t)1 << 40;
	r->n = (seed + 3) % (TETHER_NARGS_MAX + 1);
	for (unsigned i = 0; i < r->n; i++) {
		r->o[i].kind = (uint8_t)((i + seed) % 3);
		r->o[i].n = r->o[i].kind == TP_OUT_NIL ? 0 : 3 + i;
		if (r->o[i].kind == TP_OUT_BIN)
			r->o[i].p = "abcdefghij";
	}
}

static void fill_custom(const struct tp_desc *d, void *m, unsigned seed)
{
	if (d == &tp_syscall_desc) {
		struct tp_syscall_req *s = m;

		s->nr = 39 + seed;
		fill_args(&s->args, seed + 4);
		s->has = seed % 3 == 0 ? 0
			 : seed % 3 == 1 ? TP_SYSCALL_FLAGS
					 : TP_SYSCALL_FLAGS | TP_SYSCALL_TIMEOUT;
		s->flags = s->has ? 0x15 : 0;
		s->timeout_ms = s->has & TP_SYSCALL_TIMEOUT ? 250 : 0;
	} else if (d == &tp_syscall_args_desc) {
		fill_args(m, seed + 5);
	} else if (d == &tp_syscall_reply_desc) {
		fill_reply(m, seed);
	} else if (d == &tp_error_desc) {
		((struct tp_error *)m)->text = tp_str(words[seed % 6]);
	} else {
		cr_assert_fail("no sample for %s", d->name);
	}
}

static void fill_list(const struct tp_field *f, struct tp_list *l,
		      unsigned seed, bool nils)
{
	l->n = 1 + seed % 3;
	if (f->elem == TP_F_MSG) {
		char *v = own(l->n * f->sub->size);

		for (uint32_t i = 0; i < l->n; i++)
			fill(f->sub, v + i * f->sub->size, seed + i, nils);
		l->v = v;
	} else if (f->elem == TP_F_I64) {
		int64_t *v = own(l->n * sizeof(int64_t));

		for (uint32_t i = 0; i < l->n; i++)
			v[i] = (int64_t)i * 1000 - 3;
		l->v = v;
	} else if (f->elem == TP_F_CSTR) {
		const char **v = own(l->n * sizeof(char *));

		for (uint32_t i = 0; i < l->n; i++)
			v[i] = words[(seed + i) % 6];
		l->v = v;
	} else {
		cr_assert_fail("%s: no sample for a list of %u", f->key,
			       f->elem);
	}
}

/* Every field of d present, with values of its type; with nils, what may
 * be nil is, and what may be left out is. */
static void fill(const struct tp_desc *d, void *m, unsigned seed, bool nils)
{
	memset(m, 0, d->size);
	if (d->shape == TP_CUSTOM) {
		fill_custom(d, m, seed);
		return;
	}
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct tp_field *f = &d->f[i];
		char *p = (char *)m + f->off;
		unsigned s = seed + i;
		bool opt = d->shape == TP_MAP ? !(f->flags & TP_REQ)
					      : i >= d->nreq;

		if (nils && opt)
			continue;	/* left out */
		if (nils && (f->flags & TP_NIL))
			continue;	/* nil: p NULL, or its bit clear */
		*(uint32_t *)m |= f->bit;
		switch (f->type) {
		case TP_F_I64:
			*(int64_t *)p = s % 2 ? -(int64_t)s * 977 : (int64_t)s;
			break;
		case TP_F_U64:
			*(uint64_t *)p = ((uint64_t)1 << 40) + s;
			break;
		case TP_F_REG:
		case TP_F_SREG:
			*(uint64_t *)p = UINT64_MAX - s;	/* >= 2^63 */
			break;
		case TP_F_BOOL:
			*(bool *)p = s % 2;
			break;
		case TP_F_STR:
			*(struct tp_str *)p = tp_str(words[s % 6]);
			break;
		case TP_F_BIN:
			((struct tp_bin *)p)->p = "\0\1\2\3\4";
			((struct tp_bin *)p)->n = s % 6;
			break;
		case TP_F_INTSTR:
			if (s % 2) {
				((struct tp_intstr *)p)->is_int = true;
				((struct tp_intstr *)p)->i = 4242 + s;
			} else {
				((struct tp_intstr *)p)->s = tp_str("w1");
			}
			break;
		case TP_F_LIST:
			fill_list(f, (struct tp_list *)p, s, nils);
			break;
		case TP_F_MSG:
			fill(f->sub, p, s, nils);
			break;
		default:
			cr_assert_fail("%s: field %s of type %u", d->name,
				       f->key, f->type);
		}
	}
}

/* ---- packing and decoding for real ----------------------------------- */

struct packed {
	msgpack_sbuffer sb;
	msgpack_unpacked u;
};

static void pack(struct packed *pk, const struct tp_desc *d, const void *m)
{
	msgpack_packer p;
	struct tp_w w;
	size_t off = 0;

	msgpack_sbuffer_init(&pk->sb);
	tp_w_buffer(&w, &p, &pk->sb);
	cr_assert_eq(tp_pack(&w, d, m), 0, "%s: pack: %s", d->name,
		     strerror(-w.err));
	/* The bytes are one msgpack value, as a frame would carry. */
	cr_assert_eq(tp_precheck((const unsigned char *)pk->sb.data,
				 pk->sb.size), 0, "%s: precheck", d->name);
	msgpack_unpacked_init(&pk->u);
	cr_assert_eq(msgpack_unpack_next(&pk->u, pk->sb.data, pk->sb.size,
					 &off), MSGPACK_UNPACK_SUCCESS,
		     "%s: unpack", d->name);
	cr_assert_eq(off, pk->sb.size, "%s: %zu bytes left", d->name,
		     pk->sb.size - off);
}

static void unpacked_free(struct packed *pk)
{
	msgpack_unpacked_destroy(&pk->u);
	msgpack_sbuffer_destroy(&pk->sb);
}

/* ---- comparing --------------------------------------------------------- */

static void same(const struct tp_desc *d, const void *a, const void *b,
		 const char *where);

static void same_str(struct tp_str a, struct tp_str b, const char *where)
{
	cr_assert_eq(!a.p, !b.p, "%s: nil on one side only", where);
	if (!a.p)
		return;
	cr_assert_eq(a.n, b.n, "%s: %zu bytes, not %zu", where, b.n, a.n);
	cr_assert(!a.n || !memcmp(a.p, b.p, a.n), "%s: bytes differ", where);
}

/* a as packed (v), b as unpacked (o). */
static void same_list(const struct tp_field *f, const struct tp_list *a,
		      const struct tp_list *b, const char *where)
{
	cr_assert_eq(a->n, b->n, "%s: %u elements, not %u", where, b->n,
		     a->n);
	for (uint32_t i = 0; i < a->n; i++) {
		char w[300];

		snprintf(w, sizeof(w), "%.200s[%u]", where, i);
		if (f->elem == TP_F_MSG) {
			void *x = own(f->sub->size);
			struct tp_err e;

			cr_assert_eq(tp_unpack(&b->o[i], f->sub, x, &e), 0,
				     "%s: %s", w, e.msg);
			same(f->sub, (const char *)a->v + i * f->sub->size, x,
			     w);
		} else if (f->elem == TP_F_I64) {
			int64_t v;

			cr_assert_eq(tp_obj_i64(&b->o[i], &v), 0, "%s", w);
			cr_assert_eq(v, ((const int64_t *)a->v)[i], "%s", w);
		} else {
			struct tp_str s;

			cr_assert_eq(tp_obj_str(&b->o[i], &s.p, &s.n), 0, "%s",
				     w);
			same_str(tp_str(((const char *const *)a->v)[i]), s, w);
		}
	}
}

static void same_args(const struct tp_args *a, const struct tp_args *b,
		      const char *where)
{
	cr_assert_eq(a->n, b->n, "%s: %u args, not %u", where, b->n, a->n);
	for (unsigned i = 0; i < a->n; i++) {
		const struct tp_arg *x = &a->a[i], *y = &b->a[i];

		cr_assert_eq(x->kind, y->kind, "%s: arg %u kind", where, i);
		cr_assert_eq(x->v, y->v, "%s: arg %u value", where, i);
		cr_assert_eq(x->n, y->n, "%s: arg %u length", where, i);
		cr_assert(!x->n || !memcmp(x->p, y->p, x->n),
			  "%s: arg %u bytes", where, i);
	}
}

static void same_custom(const struct tp_desc *d, const void *a, const void *b,
			const char *where)
{
	if (d == &tp_syscall_desc) {
		const struct tp_syscall_req *x = a, *y = b;

		cr_assert_eq(x->has, y->has, "%s: has", where);
		cr_assert_eq(x->nr, y->nr, "%s: nr", where);
		cr_assert_eq(x->flags, y->flags, "%s: flags", where);
		cr_assert_eq(x->timeout_ms, y->timeout_ms, "%s: timeout",
			     where);
		same_args(&x->args, &y->args, where);
	} else if (d == &tp_syscall_args_desc) {
		same_args(a, b, where);
	} else if (d == &tp_syscall_reply_desc) {
		const struct tp_syscall_reply *x = a, *y = b;

		cr_assert_eq(x->ret, y->ret, "%s: ret", where);
		cr_assert_eq(x->n, y->n, "%s: outs", where);
		for (unsigned i = 0; i < x->n; i++) {
			cr_assert_eq(x->o[i].kind, y->o[i].kind, "%s: out %u",
				     where, i);
			cr_assert_eq(x->o[i].n, y->o[i].n, "%s: out %u", where,
				     i);
			if (x->o[i].kind == TP_OUT_BIN)
				cr_assert(!memcmp(x->o[i].p, y->o[i].p,
						  x->o[i].n),
					  "%s: out %u bytes", where, i);
		}
	} else {
		same_str(((const struct tp_error *)a)->text,
			 ((const struct tp_error *)b)->text, where);
	}
}

static void same(const struct tp_desc *d, const void *a, const void *b,
		 const char *where)
{
	if (d->shape == TP_CUSTOM) {
		same_custom(d, a, b, where);
		return;
	}
	cr_assert_eq(*(const uint32_t *)a, *(const uint32_t *)b,
		     "%s: has 0x%x, not 0x%x", where, *(const uint32_t *)b,
		     *(const uint32_t *)a);
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct tp_field *f = &d->f[i];
		const char *p = (const char *)a + f->off;
		const char *q = (const char *)b + f->off;
		uint32_t has = *(const uint32_t *)a;
		bool opt = d->shape == TP_MAP ? !(f->flags & TP_REQ)
					      : i >= d->nreq;
		char w[300];

		snprintf(w, sizeof(w), "%.200s.%s", where, f->key);
		if (opt && !(has & f->bit))
			continue;	/* not sent */
		switch (f->type) {
		case TP_F_I64:
			if ((f->flags & TP_NIL) && !(has & f->bit))
				break;
			cr_assert_eq(*(const int64_t *)p, *(const int64_t *)q,
				     "%s", w);
			break;
		case TP_F_U64:
		case TP_F_REG:
		case TP_F_SREG:
			cr_assert_eq(*(const uint64_t *)p,
				     *(const uint64_t *)q, "%s", w);
			break;
		case TP_F_BOOL:
			cr_assert_eq(*(const bool *)p, *(const bool *)q, "%s",
				     w);
			break;
		case TP_F_STR:
			same_str(*(const struct tp_str *)p,
				 *(const struct tp_str *)q, w);
			break;
		case TP_F_BIN: {
			const struct tp_bin *x = (const void *)p;
			const struct tp_bin *y = (const void *)q;

			cr_assert_eq(x->n, y->n, "%s", w);
			cr_assert(!x->n || !memcmp(x->p, y->p, x->n), "%s", w);
			break;
		}
		case TP_F_INTSTR: {
			const struct tp_intstr *x = (const void *)p;
			const struct tp_intstr *y = (const void *)q;

			cr_assert_eq(x->is_int, y->is_int, "%s", w);
			if (x->is_int)
				cr_assert_eq(x->i, y->i, "%s", w);
			else
				same_str(x->s, y->s, w);
			break;
		}
		case TP_F_LIST:
			same_list(f, (const void *)p, (const void *)q, w);
			break;
		case TP_F_MSG:
			same(f->sub, p, q, w);
			break;
		}
	}
}

/* Pack m, unpack it, and find it again. */
static void round_trip(const struct tp_desc *d, const void *m)
{
	struct packed pk;
	struct tp_err e;
	void *back = own(d->size);

	pack(&pk, d, m);
	cr_assert_eq(tp_unpack(&pk.u.data, d, back, &e), 0, "%s: %s", d->name,
		     e.msg);
	/* Only checked: the same verdict, nothing written. */
	cr_assert_eq(tp_unpack(&pk.u.data, d, NULL, &e), 0, "%s: %s", d->name,
		     e.msg);
	same(d, m, back, d->name);
	unpacked_free(&pk);
}

Test(messages, every_message_round_trips)
{
	for (size_t k = 0; k < tp_nmessages; k++) {
		const struct tp_desc *d = tp_messages[k];

		for (unsigned seed = 0; seed < 7; seed++) {
			void *m = own(d->size);

			fill(d, m, seed, false);
			round_trip(d, m);
			fill(d, m, seed, true);
			round_trip(d, m);
		}
		free_owned();
	}
}

/* ---- what may not be left out, or come in another type --------------- */

/* A value of no field's type: a float. */
static const msgpack_object wrong = { .type = MSGPACK_OBJECT_FLOAT64,
				      .via.f64 = 1.5 };

static bool field_lax(const struct tp_field *f)
{
	return f->flags & TP_LAX;
}

/* The sample, packed and decoded, with key k's pair removed or its value
 * replaced by `wrong`: the verdict of unpack. */
static int map_without(const struct tp_desc *d, unsigned k, bool replace,
		       struct tp_err *e, void *out)
{
	void *m = own(d->size);
	struct packed pk;
	msgpack_object_map *map;
	int rc;

	fill(d, m, 1, false);
	pack(&pk, d, m);
	map = &pk.u.data.via.map;
	for (uint32_t i = 0; i < map->size; i++) {
		msgpack_object *key = &map->ptr[i].key;

		if (key->via.str.size != strlen(d->f[k].key) ||
		    memcmp(key->via.str.ptr, d->f[k].key, key->via.str.size))
			continue;
		if (replace)
			map->ptr[i].val = wrong;
		else
			memmove(&map->ptr[i], &map->ptr[i + 1],
				(map->size-- - i - 1) * sizeof(map->ptr[0]));
		break;
	}
	rc = tp_unpack(&pk.u.data, d, out, e);
	unpacked_free(&pk);
	return rc;
}

static void expect_error(const struct tp_desc *d, int rc,
			 const struct tp_err *e, const char *key,
			 const char *what)
{
	int err = d->err ? d->err : EPROTO;

	cr_assert_eq(rc, -err, "%s, %s %s: %d, not -%d", d->name, what, key,
		     rc, err);
	cr_assert(strstr(e->msg, d->name), "\"%s\" does not name %s", e->msg,
		  d->name);
	cr_assert(strstr(e->msg, key), "\"%s\" does not name %s", e->msg,
		  key);
}

Test(messages, a_missing_required_key_is_an_error)
{
	for (size_t k = 0; k < tp_nmessages; k++) {
		const struct tp_desc *d = tp_messages[k];

		for (unsigned i = 0; d->shape == TP_MAP && i < d->nfields;
		     i++) {
			const struct tp_field *f = &d->f[i];
			void *out = own(d->size);
			struct tp_err e;
			int rc;

			/* The struct's old contents never survive. */
			memset(out, 0xa5, d->size);
			rc = map_without(d, i, false, &e, out);
			if (f->flags & TP_REQ) {
				expect_error(d, rc, &e, f->key, "without");
				continue;
			}
			cr_assert_eq(rc, 0, "%s without %s: %s", d->name,
				     f->key, e.msg);
			cr_assert_eq(*(uint32_t *)out & f->bit, 0,
				     "%s without %s: still there", d->name,
				     f->key);
		}
		free_owned();
	}
}

Test(messages, a_key_of_the_wrong_type_is_an_error)
{
	for (size_t k = 0; k < tp_nmessages; k++) {
		const struct tp_desc *d = tp_messages[k];

		for (unsigned i = 0; d->shape == TP_MAP && i < d->nfields;
		     i++) {
			const struct tp_field *f = &d->f[i];
			void *out = own(d->size);
			struct tp_err e;
			int rc = map_without(d, i, true, &e, out);

			if (!field_lax(f)) {
				expect_error(d, rc, &e, f->key, "with a float");
				continue;
			}
			/* Lax: read as absent, as the protocol says. */
			cr_assert_eq(rc, 0, "%s: %s", d->name, e.msg);
			cr_assert_eq(*(uint32_t *)out & f->bit, 0, "%s.%s",
				     d->name, f->key);
		}
		free_owned();
	}
}

Test(messages, array_bodies_check_count_and_types)
{
	for (size_t k = 0; k < tp_nmessages; k++) {
		const struct tp_desc *d = tp_messages[k];

		for (unsigned i = 0; d->shape == TP_ARRAY && i < d->nfields;
		     i++) {
			const struct tp_field *f = &d->f[i];
			void *m = own(d->size), *out = own(d->size);
			struct packed pk;
			struct tp_err e;
			uint32_t n;
			int rc;

			fill(d, m, 2, false);
			pack(&pk, d, m);
			n = pk.u.data.via.array.size;
			/* Cut before element i. */
			pk.u.data.via.array.size = i;
			rc = tp_unpack(&pk.u.data, d, out, &e);
			if (i < d->nreq && !d->lax)
				cr_assert_eq(rc, -EPROTO, "%s cut at %u: %d",
					     d->name, i, rc);
			else
				cr_assert_eq(rc, 0, "%s cut at %u: %s",
					     d->name, i, e.msg);
			/* Element i of another type. */
			pk.u.data.via.array.size = n;
			pk.u.data.via.array.ptr[i] = wrong;
			rc = tp_unpack(&pk.u.data, d, out, &e);
			if (field_lax(f) || d->lax) {
				cr_assert_eq(rc, 0, "%s: %s", d->name, e.msg);
				cr_assert_eq(*(uint32_t *)out & f->bit, 0,
					     "%s element %u", d->name, i);
			} else {
				expect_error(d, rc, &e, f->key, "with a float");
			}
			unpacked_free(&pk);
		}
		free_owned();
	}
}

/* SYSCALL's own errors, as tether-protocol(7) gives them. */
static int syscall_of(const char *hex, struct tp_err *e)
{
	unsigned char buf[64];
	msgpack_unpacked u;
	struct tp_syscall_req s;
	size_t n = 0, off = 0;
	int rc;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		cr_assert_eq(sscanf(hex, "%2x", &v), 1);
		buf[n++] = (unsigned char)v;
	}
	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)buf, n, &off),
		     MSGPACK_UNPACK_SUCCESS);
	rc = tp_unpack_syscall(&u.data, &s, e);
	msgpack_unpacked_destroy(&u);
	return rc;
}

Test(messages, syscall_errors_keep_their_errnos)
{
	struct tp_err e;

	cr_assert_eq(syscall_of("9127", &e), -EPROTO);		/* [39] */
	cr_assert_eq(syscall_of("9227c0", &e), -EPROTO);	/* [39, nil] */
	cr_assert_eq(syscall_of("92a17890", &e), -EINVAL);	/* ["x", []] */
	cr_assert(strstr(e.msg, "syscall number"), "%s", e.msg);
	cr_assert_eq(syscall_of("92279700000000000000", &e), -E2BIG);
	cr_assert_eq(syscall_of("932790a178", &e), -EPROTO);	/* flags "x" */
	cr_assert_eq(syscall_of("922791c0", &e), -EINVAL);	/* [nil] */
	cr_assert(strstr(e.msg, "argument 0"), "%s", e.msg);
	cr_assert_eq(syscall_of("922791920901", &e), -EINVAL);	/* [9, 1] */
	cr_assert_eq(syscall_of("922791920101", &e), 0);	/* [1, 1] */
}

Test(messages, unknown_keys_are_skipped_and_the_first_of_a_key_counts)
{
	/* {"fd": 3, "zz": 1, "fd": 4} */
	static const unsigned char b[] = { 0x83, 0xa2, 'f', 'd', 0x03, 0xa2,
					   'z', 'z', 0x01, 0xa2, 'f', 'd',
					   0x04 };
	msgpack_unpacked u;
	struct tp_fd m;
	struct tp_err e;
	size_t off = 0;

	msgpack_unpacked_init(&u);
	cr_assert_eq(msgpack_unpack_next(&u, (const char *)b, sizeof(b), &off),
		     MSGPACK_UNPACK_SUCCESS);
	cr_assert_eq(tp_unpack_give_reply(&u.data, &m, &e), 0, "%s", e.msg);
	cr_assert_eq(m.fd, 3);
	msgpack_unpacked_destroy(&u);
}

/* A SPAWN's wrong-typed key is EINVAL, its body not a map EPROTO. */
Test(messages, spawn_errors_are_einval_but_its_shape)
{
	msgpack_object o = { .type = MSGPACK_OBJECT_ARRAY };
	struct tp_spawn m;
	struct tp_err e;

	cr_assert_eq(tp_unpack_spawn(&o, &m, &e), -EPROTO);
	cr_assert_eq(tp_spawn_desc.err, EINVAL);
}

/* ---- packing: counts, lists by callback, the sticky writer ------------ */

static int each_i64(struct tp_w *w, const void *ctx, uint32_t i)
{
	return tp_w_i64(w, ((const int64_t *)ctx)[i]);
}

Test(messages, a_list_packed_by_callback_is_the_same_bytes)
{
	static const int64_t closed[] = { 3, 4, 70000, -1 };
	struct tp_gc_reply a = { .closed = { .n = 4, .v = closed },
				 .kept = 9, .usec = 12 };
	struct tp_gc_reply b = a;
	struct packed x, y;

	b.closed = (struct tp_list){ .n = 4, .each = each_i64, .ctx = closed };
	pack(&x, &tp_gc_reply_desc, &a);
	pack(&y, &tp_gc_reply_desc, &b);
	cr_assert_eq(x.sb.size, y.sb.size);
	cr_assert(!memcmp(x.sb.data, y.sb.data, x.sb.size));
	unpacked_free(&x);
	unpacked_free(&y);
}

/* The bytes the protocol has always had: an optional key left out
 * changes the count msgpack sees, not by hand. */
Test(messages, the_map_header_counts_what_is_written)
{
	struct tp_xfer_done d = { .done = true, .bytes = 3, .xxh3 = 7 };
	struct packed pk;

	pack(&pk, &tp_xfer_done_desc, &d);
	cr_assert_eq((unsigned char)pk.sb.data[0], 0x83);
	unpacked_free(&pk);
	d.has = TP_XFER_DONE_PATH;
	d.path = tp_str("/tmp/f");
	pack(&pk, &tp_xfer_done_desc, &d);
	cr_assert_eq((unsigned char)pk.sb.data[0], 0x84);
	unpacked_free(&pk);
}

/* A buffer that takes only so many bytes, as one that cannot grow. */
struct small {
	size_t room;
	size_t used;
};

static int small_write(void *data, const char *buf, size_t len)
{
	struct small *s = data;

	(void)buf;
	if (len > s->room - s->used)
		return -1;
	s->used += len;
	return 0;
}

Test(messages, the_writer_keeps_its_first_failure)
{
	struct small s = { .room = 8 };
	msgpack_packer pk;
	struct tp_w w;
	struct tp_status st = { .version = 1 };

	msgpack_packer_init(&pk, &s, small_write);
	tp_w_init(&w, &pk);
	cr_assert_eq(tp_pack_status(&w, &st), -ENOMEM);
	cr_assert_eq(w.err, -ENOMEM);
	/* Nothing more goes, not even what would fit. */
	s.used = 0;
	cr_assert_eq(tp_w_nil(&w), -ENOMEM);
	cr_assert_eq(s.used, 0);
}

Test(messages, a_frame_whose_body_failed_is_not_finished)
{
	struct tp_msg m;
	struct tp_list bad = { .n = 2 };	/* nothing to pack */
	struct tp_gc_reply r = { .closed = bad };

	tp_msg_init(&m);
	tp_msg_reply(&m, 7, 0);
	cr_assert_lt(tp_pack_gc_reply(&m.w, &r), 0);
	cr_assert_lt(tp_msg_finish(&m), 0);
	tp_msg_destroy(&m);
}

/* ---- every op has its messages ----------------------------------------- */

Test(messages, every_op_has_a_request_and_a_final_reply)
{
	for (unsigned op = 1; op < TETHER_OP_MAX_; op++) {
		cr_assert_not_null(tp_request_desc(op), "op %u", op);
		if (op != TETHER_OP_SYSCALL)
			cr_assert_not_null(tp_reply_desc(op), "op %u", op);
	}
	cr_assert_null(tp_request_desc(0));
	cr_assert_null(tp_request_desc(TETHER_OP_MAX_));
}

/* Every nil-able integer is always sent (its bit says nil), and no table
 * outgrows the masks. */
Test(messages, tables_are_sound)
{
	for (size_t k = 0; k < tp_nmessages; k++) {
		const struct tp_desc *d = tp_messages[k];
		uint32_t bits = 0;

		cr_assert_leq(d->nfields, 32, "%s", d->name);
		for (unsigned i = 0; i < d->nfields; i++) {
			const struct tp_field *f = &d->f[i];

			if (f->type == TP_F_I64 && (f->flags & TP_NIL))
				cr_assert(f->flags & TP_REQ, "%s.%s", d->name,
					  f->key);
			cr_assert_eq(bits & f->bit, 0, "%s.%s: bit reused",
				     d->name, f->key);
			bits |= f->bit;
			if (d->shape == TP_MAP && !(f->flags & TP_REQ))
				cr_assert(f->bit, "%s.%s: optional, no bit",
					  d->name, f->key);
			if (d->shape == TP_ARRAY && i >= d->nreq)
				cr_assert(f->bit, "%s.%s: optional, no bit",
					  d->name, f->key);
		}
		for (size_t j = 0; j < k; j++)
			cr_assert_str_neq(tp_messages[j]->name, d->name);
	}
}

/* ---- tether-protocol(7) lists them ------------------------------------- */

static char *read_page(void)
{
	FILE *f = fopen(TOP_SRCDIR "/man/tether-protocol.7", "r");
	char *buf;
	long n;

	cr_assert_not_null(f, "man/tether-protocol.7 under %s", TOP_SRCDIR);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* The page's MESSAGE BODIES section lists each message as
 *	.TP
 *	.B name
 *	schema
 * in the order of TP_MESSAGES, and nothing else. */
Test(messages, the_manual_lists_every_message_in_order)
{
	char *page = read_page(), *at, *end, *next;
	char want[1024], schema[900];
	size_t k = 0;

	at = strstr(page, "\n.SH MESSAGE BODIES\n");
	cr_assert_not_null(at, "no MESSAGE BODIES section");
	end = strstr(at + 1, "\n.SH ");
	cr_assert_not_null(end);
	end[1] = '\0';		/* the last entry keeps its newline */
	for (; (next = strstr(at, "\n.TP\n.B ")); at = next + 1, k++) {
		const struct tp_desc *d;

		cr_assert_lt(k, tp_nmessages, "the page lists more messages "
			     "than proto/messages.h");
		d = tp_messages[k];
		tp_schema(d, schema, sizeof(schema));
		snprintf(want, sizeof(want), "\n.TP\n.B %s\n%s\n", d->name,
			 schema);
		cr_assert(!strncmp(next, want, strlen(want)),
			  "message %zu: the page has\n%.200s\nnot\n%s", k,
			  next + 1, want + 1);
	}
	cr_assert_eq(k, tp_nmessages, "the page lists %zu messages of %zu; "
		     "next: %s", k, tp_nmessages,
		     k < tp_nmessages ? tp_messages[k]->name : "-");
	free(page);
}
