/*
 * Persistent collectives (MPI-4's MPI_Bcast_init, MPI_Allreduce_init, …,
 * as MPICH 4 exports them), included by mpi.c after graph.c. The init call
 * checks and keeps its arguments; each MPI_Start begins the non-blocking
 * collective with them (nbc.c), and the request behind the persistent
 * handle is that operation's until a wait or test completes it. Members
 * match their starts in the order they make them, as they match
 * non-blocking collectives.
 */

typedef int (*coll_begin_fn)(const char *, enum nbc_kind, const struct nbc_args *, MPI_Comm,
                             MPI_Request *);

struct coll_init {
    const char *fn;
    enum nbc_kind kind;
    coll_begin_fn begin;
    struct nbc_args a;
    MPI_Comm comm;
};

static int coll_init(const char *fn, enum nbc_kind kind, coll_begin_fn begin,
                     const struct nbc_args *a, MPI_Comm comm, MPI_Request *request)
{
    started(fn);
    COMM(fn, comm, c);
    if (c->remote)
        return fail(comm, c, MPI_ERR_COMM, fn, "not supported: collectives on intercommunicators");
    if (begin == neighbor_begin && !c->topo && !c->ndims)
        return fail(comm, c, MPI_ERR_TOPOLOGY, fn, "the communicator has no topology");
    int err = nbc_check(fn, kind, a, c, rank_in(c, me()), comm);
    if (err)
        return err;
    struct coll_init *ci = malloc(sizeof *ci);
    *ci = (struct coll_init){fn, kind, begin, *a, comm};
    pthread_mutex_lock(&big);
    for (int i = 1; i < MAX_PERSISTENT; i++)
        if (!persistent[i].used) {
            persistent[i] = (struct persist){.used = 1, .comm = comm, .coll = ci};
            *request = (MPI_Request)(0xae000000u | (unsigned)i);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    free(ci);
    return fail(comm, c, MPI_ERR_INTERN, fn, "more than %d persistent requests", MAX_PERSISTENT);
}

/* MPI_Start of a persistent collective (called without `big`): begins
 * the operation; its request becomes the persistent one's. */
static int coll_start(struct persist *p)
{
    struct coll_init *ci = p->coll;
    MPI_Request h;
    int err = ci->begin(ci->fn, ci->kind, &ci->a, ci->comm, &h);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    struct req *r = request_of(h);
    requests[h & 0xffffff] = NULL;
    r->handle = 0;
    p->active = r;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

#define PERSISTENT(name, kind, begin, params, ...)                                            \
    int name params                                                                           \
    {                                                                                         \
        (void)info;                                                                           \
        struct nbc_args a = {__VA_ARGS__};                                                    \
        return coll_init(#name, kind, begin, &a, comm, request);                              \
    }

#define INIT_TAIL MPI_Comm comm, MPI_Info info, MPI_Request *request

PERSISTENT(MPI_Barrier_init, NBC_BARRIER, nbc_begin, (INIT_TAIL), .root = 0)
PERSISTENT(MPI_Bcast_init, NBC_BCAST, nbc_begin,
           (void *buffer, int count, MPI_Datatype t, int root, INIT_TAIL), .rbuf = buffer,
           .rcount = count, .rtype = t, .root = root)
PERSISTENT(MPI_Reduce_init, NBC_REDUCE, nbc_begin,
           (const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op, int root,
            INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t, .op = op, .root = root)
PERSISTENT(MPI_Allreduce_init, NBC_ALLREDUCE, nbc_begin,
           (const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op, INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t, .op = op)
PERSISTENT(MPI_Reduce_scatter_init, NBC_REDUCE_SCATTER, nbc_begin,
           (const void *sendbuf, void *recvbuf, const int recvcounts[], MPI_Datatype t,
            MPI_Op op, INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcounts = recvcounts, .rtype = t, .op = op)
PERSISTENT(MPI_Reduce_scatter_block_init, NBC_REDUCE_SCATTER, nbc_begin,
           (const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype t, MPI_Op op,
            INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcount = recvcount, .rtype = t, .op = op)
PERSISTENT(MPI_Scan_init, NBC_SCAN, nbc_begin,
           (const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op, INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t, .op = op)
PERSISTENT(MPI_Exscan_init, NBC_EXSCAN, nbc_begin,
           (const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op, INIT_TAIL),
           .sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t, .op = op)

#define BLOCKS_PARAMS(...)                                                                    \
    (const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, __VA_ARGS__,   \
     MPI_Datatype recvtype, INIT_TAIL)
#define ROOTED_BLOCKS_PARAMS(...)                                                             \
    (const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, __VA_ARGS__,   \
     MPI_Datatype recvtype, int root, INIT_TAIL)
#define BLOCKS_ARGS                                                                           \
    .sbuf = sendbuf, .scount = sendcount, .stype = sendtype, .rbuf = recvbuf, .rtype = recvtype

PERSISTENT(MPI_Gather_init, NBC_GATHER, nbc_begin, ROOTED_BLOCKS_PARAMS(int recvcount),
           BLOCKS_ARGS, .rcount = recvcount, .root = root)
PERSISTENT(MPI_Gatherv_init, NBC_GATHER, nbc_begin,
           ROOTED_BLOCKS_PARAMS(const int recvcounts[], const int displs[]), BLOCKS_ARGS,
           .rcounts = recvcounts, .rdispls = displs, .root = root)
PERSISTENT(MPI_Scatter_init, NBC_SCATTER, nbc_begin, ROOTED_BLOCKS_PARAMS(int recvcount),
           BLOCKS_ARGS, .rcount = recvcount, .root = root)
PERSISTENT(MPI_Allgather_init, NBC_ALLGATHER, nbc_begin, BLOCKS_PARAMS(int recvcount),
           BLOCKS_ARGS, .rcount = recvcount)
PERSISTENT(MPI_Allgatherv_init, NBC_ALLGATHER, nbc_begin,
           BLOCKS_PARAMS(const int recvcounts[], const int displs[]), BLOCKS_ARGS,
           .rcounts = recvcounts, .rdispls = displs)
PERSISTENT(MPI_Alltoall_init, NBC_ALLTOALL, nbc_begin, BLOCKS_PARAMS(int recvcount),
           BLOCKS_ARGS, .rcount = recvcount)
PERSISTENT(MPI_Neighbor_allgather_init, NBC_NEIGHBOR_ALLGATHER, neighbor_begin,
           BLOCKS_PARAMS(int recvcount), BLOCKS_ARGS, .rcount = recvcount)
PERSISTENT(MPI_Neighbor_alltoall_init, NBC_NEIGHBOR_ALLTOALL, neighbor_begin,
           BLOCKS_PARAMS(int recvcount), BLOCKS_ARGS, .rcount = recvcount)
PERSISTENT(MPI_Neighbor_allgatherv_init, NBC_NEIGHBOR_ALLGATHER, neighbor_begin,
           BLOCKS_PARAMS(const int recvcounts[], const int displs[]), BLOCKS_ARGS,
           .rcounts = recvcounts, .rdispls = displs)

PERSISTENT(MPI_Scatterv_init, NBC_SCATTER, nbc_begin,
           (const void *sendbuf, const int sendcounts[], const int displs[],
            MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype,
            int root, INIT_TAIL),
           .sbuf = sendbuf, .scounts = sendcounts, .sdispls = displs, .stype = sendtype,
           .rbuf = recvbuf, .rcount = recvcount, .rtype = recvtype, .root = root)

#define VBLOCKS_PARAMS                                                                        \
    (const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype, \
     void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,       \
     INIT_TAIL)
#define VBLOCKS_ARGS                                                                          \
    .sbuf = sendbuf, .scounts = sendcounts, .sdispls = sdispls, .stype = sendtype,            \
    .rbuf = recvbuf, .rcounts = recvcounts, .rdispls = rdispls, .rtype = recvtype

PERSISTENT(MPI_Alltoallv_init, NBC_ALLTOALL, nbc_begin, VBLOCKS_PARAMS, VBLOCKS_ARGS)
PERSISTENT(MPI_Neighbor_alltoallv_init, NBC_NEIGHBOR_ALLTOALL, neighbor_begin, VBLOCKS_PARAMS,
           VBLOCKS_ARGS)

PERSISTENT(MPI_Alltoallw_init, NBC_ALLTOALLW, nbc_begin,
           (const void *sendbuf, const int sendcounts[], const int sdispls[],
            const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
            const int rdispls[], const MPI_Datatype recvtypes[], INIT_TAIL),
           .sbuf = sendbuf, .scounts = sendcounts, .sdispls = sdispls, .stypes = sendtypes,
           .rbuf = recvbuf, .rcounts = recvcounts, .rdispls = rdispls, .rtypes = recvtypes)
PERSISTENT(MPI_Neighbor_alltoallw_init, NBC_NEIGHBOR_ALLTOALLW, neighbor_begin,
           (const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],
            const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
            const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], INIT_TAIL),
           .sbuf = sendbuf, .scounts = sendcounts, .wsdispls = sdispls, .stypes = sendtypes,
           .rbuf = recvbuf, .rcounts = recvcounts, .wrdispls = rdispls, .rtypes = recvtypes)
