/*
 * Generalized requests (MPI_Grequest_start, MPI_Grequest_complete),
 * included by mpi.c: a request the program completes itself. Waiting for
 * one waits for MPI_Grequest_complete (from any rank or thread); then its
 * query callback fills the status and its free callback runs, on the
 * waiting rank, without the library's lock (callbacks may call MPI).
 */

struct greq {
    MPI_Grequest_query_function *query;
    MPI_Grequest_free_function *free_fn;
    MPI_Grequest_cancel_function *cancel;
    void *extra;
};

int MPI_Grequest_start(MPI_Grequest_query_function *query, MPI_Grequest_free_function *free_fn,
                       MPI_Grequest_cancel_function *cancel, void *extra, MPI_Request *request)
{
    started("MPI_Grequest_start");
    struct req *r = calloc(1, sizeof *r);
    r->greq = malloc(sizeof *r->greq);
    *r->greq = (struct greq){query, free_fn, cancel, extra};
    r->owner = me();
    r->what = "a generalized request";
    pthread_mutex_lock(&big);
    *request = new_handle(r);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Grequest_complete(MPI_Request request)
{
    started("MPI_Grequest_complete");
    pthread_mutex_lock(&big);
    struct req *r = request_of(request);
    if (!r || !r->greq) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_REQUEST, "MPI_Grequest_complete",
                    "not a generalized request: 0x%x", (unsigned)request);
    }
    complete(r);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* Under `big`, for a complete generalized request: its status from the
 * query callback, then the free callback. */
static void greq_finish(struct req *r)
{
    struct greq g = *r->greq;
    MPI_Status st = {0};
    pthread_mutex_unlock(&big);
    if (g.query)
        g.query(g.extra, &st);
    if (g.free_fn)
        g.free_fn(g.extra);
    pthread_mutex_lock(&big);
    r->st = st;
}

/* Under `big`: MPI_Cancel of a generalized request tells its callback
 * whether it is complete already. */
static void greq_cancel(struct req *r)
{
    struct greq g = *r->greq;
    int done = r->done;
    pthread_mutex_unlock(&big);
    if (g.cancel)
        g.cancel(g.extra, done);
    pthread_mutex_lock(&big);
}

int MPI_Status_set_elements(MPI_Status *status, MPI_Datatype t, int count)
{
    status->count_lo = (int)((size_t)count * type_size(t));
    status->count_hi_and_cancelled &= 1;
    return MPI_SUCCESS;
}

int MPI_Status_set_cancelled(MPI_Status *status, int flag)
{
    status->count_hi_and_cancelled = (status->count_hi_and_cancelled & ~1) | (flag ? 1 : 0);
    return MPI_SUCCESS;
}
