/* Requests about the server itself: status, make persistent, shutdown. */
#include <errno.h>
#include <sys/wait.h>

#include "libtether.h"

/* A request whose body is empty; the reply body is handed to fn. */
static int tl_simple(struct tether *t, unsigned op,
		     void (*fn)(struct tether *, const msgpack_object *, void *),
		     void *arg)
{
	struct tp_msg m;
	struct tp_in in;
	uint64_t id = tl_next_id(t);
	int rc;

	tp_msg_init(&m);
	tp_msg_request(&m, id, op);
	msgpack_pack_array(&m.pk, 0);
	rc = tl_rpc(t, &m, id, &in);
	tp_msg_destroy(&m);
	if (rc < 0)
		return rc;
	if (fn)
		fn(t, in.body, arg);
	tp_in_destroy(&in);
	return 0;
}

static void tl_got_status(struct tether *t, const msgpack_object *body,
			  void *arg)
{
	struct tether_status *st = arg;

	*st = t->info;
	tl_status_from_map(st, body);
	/* Keep our own view current too. */
	t->info.persistent = st->persistent;
}

TETHER_API int tether_status(struct tether *t, struct tether_status *st)
{
	return tl_simple(t, TETHER_OP_STATUS, tl_got_status, st);
}

TETHER_API int tether_make_persistent(struct tether *t)
{
	int rc = tl_simple(t, TETHER_OP_PERSIST, NULL, NULL);

	if (rc == 0)
		t->info.persistent = true;
	return rc;
}

TETHER_API int tether_shutdown(struct tether *t)
{
	int rc = tl_simple(t, TETHER_OP_SHUTDOWN, NULL, NULL);

	/* A server we started is our child: reap it as it goes. */
	if (rc == 0 && t->child > 0) {
		waitpid(t->child, NULL, 0);
		t->child = 0;
	}
	return rc;
}
