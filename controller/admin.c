/* Requests about the server itself: status, make persistent, shutdown. */
#include <errno.h>
#include <sys/wait.h>

#include "libtether.h"

static void tl_pack_empty(msgpack_packer *pk, const void *arg)
{
	(void)arg;
	msgpack_pack_array(pk, 0);
}

int tl_request(struct tether *t, unsigned op,
	       void (*pack)(msgpack_packer *pk, const void *arg),
	       const void *parg,
	       int (*fn)(struct tether *t, const msgpack_object *body,
			 void *arg),
	       void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int rc;

	tp_msg_init(&m);
	tp_msg_request(&m, id, op);
	(pack ? pack : tl_pack_empty)(&m.pk, parg);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	if (fn)
		rc = fn(t, in.body, arg);
	tp_in_destroy(&in);
	return rc;
}

static int tl_got_status(struct tether *t, const msgpack_object *body,
			 void *arg)
{
	struct tether_status *st = arg;

	*st = t->info;
	tl_status_from_map(st, body);
	/* Keep our own view current too. */
	t->info.persistent = st->persistent;
	return 0;
}

TETHER_API int tether_status(struct tether *t, struct tether_status *st)
{
	return tl_request(t, TETHER_OP_STATUS, NULL, NULL, tl_got_status, st);
}

TETHER_API int tether_make_persistent(struct tether *t)
{
	int rc = tl_request(t, TETHER_OP_PERSIST, NULL, NULL, NULL, NULL);

	if (rc == 0)
		t->info.persistent = true;
	return rc;
}

TETHER_API int tether_shutdown(struct tether *t)
{
	int rc = tl_request(t, TETHER_OP_SHUTDOWN, NULL, NULL, NULL, NULL);

	/* A server we started is our child: reap it as it goes. */
	if (rc == 0 && t->child > 0) {
		waitpid(t->child, NULL, 0);
		t->child = 0;
	}
	return rc;
}
