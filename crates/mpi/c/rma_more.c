/*
 * Request-based one-sided operations and dynamic windows, included by
 * mpi.c after rma.c.
 *
 * MPI_Rput, MPI_Rget, MPI_Raccumulate and MPI_Rget_accumulate do what
 * their plain forms do (a copy, done at once) and return a request that
 * is complete already. A dynamic window (MPI_Win_create_dynamic) exposes
 * whatever memory each member attaches; a target displacement is an
 * address in it (every rank's memory is this process's), checked against
 * the target's attached regions (rma.c's target_span).
 */

/* A request complete from the start (under no lock); NULL-request on an
 * error. */
static int done_request(int err, MPI_Request *request)
{
    *request = MPI_REQUEST_NULL;
    if (err)
        return err;
    pthread_mutex_lock(&big);
    struct req *r = calloc(1, sizeof *r);
    r->done = 1;
    r->owner = me();
    r->st.MPI_SOURCE = MPI_ANY_SOURCE;
    r->st.MPI_TAG = MPI_ANY_TAG;
    *request = new_handle(r);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Rput(const void *origin, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
             int tcount, MPI_Datatype ttype, MPI_Win win, MPI_Request *request)
{
    return done_request(MPI_Put(origin, ocount, otype, target, tdisp, tcount, ttype, win),
                        request);
}

int MPI_Rget(void *origin, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
             int tcount, MPI_Datatype ttype, MPI_Win win, MPI_Request *request)
{
    return done_request(MPI_Get(origin, ocount, otype, target, tdisp, tcount, ttype, win),
                        request);
}

int MPI_Raccumulate(const void *origin, int ocount, MPI_Datatype otype, int target,
                    MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win,
                    MPI_Request *request)
{
    int err = accumulate(origin, ocount, otype, NULL, 0, 0, target, tdisp, tcount, ttype, op,
                         win, "MPI_Raccumulate");
    return done_request(err, request);
}

int MPI_Rget_accumulate(const void *origin, int ocount, MPI_Datatype otype, void *result,
                        int rcount, MPI_Datatype rtype, int target, MPI_Aint tdisp, int tcount,
                        MPI_Datatype ttype, MPI_Op op, MPI_Win win, MPI_Request *request)
{
    int err = accumulate(origin, ocount, otype, result, rcount, rtype, target, tdisp, tcount,
                         ttype, op, win, "MPI_Rget_accumulate");
    return done_request(err, request);
}

int MPI_Win_create_dynamic(MPI_Info info, MPI_Comm comm, MPI_Win *win)
{
    (void)info;
    /* Base MPI_BOTTOM, unit 1: a displacement is an address. */
    return win_make(NULL, 0, 1, comm, MPI_WIN_FLAVOR_DYNAMIC, win, "MPI_Win_create_dynamic");
}

int MPI_Win_attach(MPI_Win win, void *base, MPI_Aint size)
{
    WIN("MPI_Win_attach", win, w);
    if (w->flavor != MPI_WIN_FLAVOR_DYNAMIC)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RMA_FLAVOR, "MPI_Win_attach",
                    "the window was not made by MPI_Win_create_dynamic");
    if (size < 0)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_SIZE, "MPI_Win_attach",
                    "negative size %ld", (long)size);
    int r = win_rank(w);
    struct region *g = malloc(sizeof *g);
    pthread_mutex_lock(&big);
    *g = (struct region){base, size, w->attached[r]};
    w->attached[r] = g;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_detach(MPI_Win win, const void *base)
{
    WIN("MPI_Win_detach", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    for (struct region **g = &w->attached[r]; *g; g = &(*g)->next)
        if ((*g)->base == base) {
            struct region *gone = *g;
            *g = gone->next;
            free(gone);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(w->comm, comm_of(w->comm), MPI_ERR_ARG, "MPI_Win_detach",
                "no memory attached at %p", base);
}
