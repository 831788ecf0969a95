/* The ring's submission side, which every module uses. */
#include "tetherd.h"

/* An SQE, submitting what is queued if the ring is full. */
struct io_uring_sqe *td_sqe(struct td_server *srv)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&srv->ring);

	if (!sqe) {
		io_uring_submit(&srv->ring);
		sqe = io_uring_get_sqe(&srv->ring);
	}
	return sqe;
}

