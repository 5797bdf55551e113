/*
 * Graph and distributed graph topologies and the neighbourhood
 * collectives (on these and on Cartesian communicators), included by
 * mpi.c after nbc.c. Ranks keep their order (`reorder` changes nothing:
 * every placement is as good in one process). A topology records each
 * member's in- and out-neighbours in the order the standard gives them;
 * a neighbourhood collective is a non-blocking collective whose last
 * member to begin it moves each block from a member to the neighbour it
 * is addressed to (see dest_index for neighbours listed more than once).
 */

struct topo {
    int kind; /* MPI_GRAPH or MPI_DIST_GRAPH */
    int refs; /* communicators sharing it (Comm_dup keeps the topology) */
    int nnodes, *index, *edges; /* MPI_GRAPH: as given to Graph_create */
    int *nin, *nout, **in, **out, **inw, **outw; /* per member */
    int weighted;
};

static void topo_drop(struct topo *t)
{
    if (!t || --t->refs > 0)
        return;
    for (int k = 0; t->in && k < t->nnodes; k++) {
        free(t->in[k]);
        free(t->out[k]);
        free(t->inw[k]);
        free(t->outw[k]);
    }
    free(t->in);
    free(t->out);
    free(t->inw);
    free(t->outw);
    free(t->nin);
    free(t->nout);
    free(t->index);
    free(t->edges);
    free(t);
}

/* t, for one more communicator (Comm_dup keeps the topology). */
static struct topo *topo_share(struct topo *t)
{
    if (t)
        t->refs++;
    return t;
}

static int topo_kind(const struct topo *t)
{
    return t->kind;
}

static struct topo *topo_new(int kind, int members)
{
    struct topo *t = calloc(1, sizeof *t);
    t->kind = kind;
    t->refs = 1;
    t->nnodes = members;
    t->nin = calloc((size_t)members, sizeof(int));
    t->nout = calloc((size_t)members, sizeof(int));
    t->in = calloc((size_t)members, sizeof(int *));
    t->out = calloc((size_t)members, sizeof(int *));
    t->inw = calloc((size_t)members, sizeof(int *));
    t->outw = calloc((size_t)members, sizeof(int *));
    return t;
}

/* A copy of n ints; a weights sentinel (no array) reads as weights 1. */
static int *ints_dup(const int *v, int n)
{
    int *d = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int sentinel = v == WEAVES_UNWEIGHTED || v == WEAVES_WEIGHTS_EMPTY;
    for (int k = 0; k < n && v; k++)
        d[k] = sentinel ? 1 : v[k];
    return d;
}

/* Member k's neighbours (under `big`): 0, or -1 if c has no topology. On
 * a Cartesian communicator, per dimension the one below, then above (a
 * missing one is MPI_PROC_NULL: its block stays untouched). */
static int neighbours(struct comm *c, int k, int *nin, const int **in, int *nout,
                      const int **out, int *scratch)
{
    if (c->topo) {
        *nin = c->topo->nin[k];
        *in = c->topo->in[k];
        *nout = c->topo->nout[k];
        *out = c->topo->out[k];
        return 0;
    }
    if (!c->ndims)
        return -1;
    int coords[64], at = k;
    for (int d = c->ndims - 1; d >= 0; d--) {
        coords[d] = at % c->dims[d];
        at /= c->dims[d];
    }
    for (int d = 0; d < c->ndims; d++) {
        for (int s = 0; s < 2; s++) {
            int x = coords[d] + (s ? 1 : -1), n = c->dims[d];
            if (c->periods[d])
                x = ((x % n) + n) % n;
            int r = MPI_PROC_NULL;
            if (x >= 0 && x < n) {
                r = 0;
                for (int e = 0; e < c->ndims; e++)
                    r = r * c->dims[e] + (e == d ? x : coords[e]);
            }
            scratch[2 * d + s] = r;
        }
    }
    *nin = *nout = 2 * c->ndims;
    *in = *out = scratch;
    return 0;
}

/* The block member k receives from its i-th source `s`: which of s's
 * destinations it is, when s lists k more than once, as MPICH matches
 * them. The m-th time k lists s (counting from 0) takes the m-th time s
 * lists k on a distributed graph, and the m-th last on a graph or a
 * Cartesian grid: on a ring of one or two, what comes from the neighbour
 * below is what it sent upwards. -1 if s never sends to k. */
static int dest_index(const int *in, int i, const int *out_s, int nout_s, int k, int forward)
{
    int m = 0;
    for (int j = 0; j < i; j++)
        m += in[j] == in[i];
    for (int n = 0; n < nout_s; n++) {
        int j = forward ? n : nout_s - 1 - n;
        if (out_s[j] == k && m-- == 0)
            return j;
    }
    return -1;
}

static void neighbor_move(struct comm *c, struct nbc *op, enum nbc_kind kind)
{
    int scratch_k[128], scratch_s[128];
    for (int k = 0; k < c->size; k++) {
        int nin, nout, snin, snout;
        const int *in, *out, *sin, *sout;
        neighbours(c, k, &nin, &in, &nout, &out, scratch_k);
        const struct nbc_args *to = &op->m[k].a;
        for (int i = 0; i < nin; i++) {
            int s = in[i];
            if (s == MPI_PROC_NULL)
                continue;
            neighbours(c, s, &snin, &sin, &snout, &sout, scratch_s);
            const struct nbc_args *from = &op->m[s].a;
            struct span src;
            if (kind == NBC_NEIGHBOR_ALLGATHER) {
                src = (struct span){(char *)from->sbuf, from->scount, from->stype};
            } else {
                int j = dest_index(in, i, sout, snout, k,
                                   c->topo && c->topo->kind == MPI_DIST_GRAPH);
                if (j < 0)
                    continue;
                src = kind == NBC_NEIGHBOR_ALLTOALLW
                          ? (struct span){(char *)from->sbuf + from->wsdispls[j],
                                          from->scounts[j], from->stypes[j]}
                          : block_of(from->sbuf, from->scount, from->scounts, from->sdispls,
                                     from->stype, j);
            }
            struct span dst =
                kind == NBC_NEIGHBOR_ALLTOALLW
                    ? (struct span){(char *)to->rbuf + to->wrdispls[i], to->rcounts[i],
                                    to->rtypes[i]}
                    : block_of(to->rbuf, to->rcount, to->rcounts, to->rdispls, to->rtype, i);
            xfer(src, dst);
        }
    }
}

/* ---- creating topologies ----------------------------------------------- */

int MPI_Graph_create(MPI_Comm comm, int nnodes, const int index[], const int edges[],
                     int reorder, MPI_Comm *graph)
{
    (void)reorder;
    int r, size;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &size);
    if (nnodes < 0 || nnodes > size)
        return fail(comm, comm_of(comm), MPI_ERR_ARG, "MPI_Graph_create",
                    "a %d-node graph in a communicator of %d", nnodes, size);
    for (int e = 0; nnodes && e < index[nnodes - 1]; e++)
        if (edges[e] < 0 || edges[e] >= nnodes)
            return fail(comm, comm_of(comm), MPI_ERR_TOPOLOGY, "MPI_Graph_create",
                        "edge to %d in a %d-node graph", edges[e], nnodes);
    int err = MPI_Comm_split(comm, r < nnodes ? 0 : MPI_UNDEFINED, r, graph);
    if (err || *graph == MPI_COMM_NULL)
        return err;
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(*graph);
    if (!c->topo) { /* the first member records the graph for all */
        struct topo *t = topo_new(MPI_GRAPH, nnodes);
        int nedges = nnodes ? index[nnodes - 1] : 0;
        t->index = ints_dup(index, nnodes);
        t->edges = ints_dup(edges, nedges);
        for (int k = 0; k < nnodes; k++) {
            int from = k ? index[k - 1] : 0, n = index[k] - from;
            t->nin[k] = t->nout[k] = n;
            t->in[k] = ints_dup(edges + from, n);
            t->out[k] = ints_dup(edges + from, n);
        }
        c->topo = t;
    }
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Dist_graph_create_adjacent(MPI_Comm comm, int indegree, const int sources[],
                                   const int sourceweights[], int outdegree,
                                   const int destinations[], const int destweights[],
                                   MPI_Info info, int reorder, MPI_Comm *graph)
{
    (void)info;
    (void)reorder;
    int r;
    MPI_Comm_rank(comm, &r);
    /* A split, not a dup: the new communicator takes no topology of comm's. */
    int err = MPI_Comm_split(comm, 0, r, graph);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(*graph);
    if (!c->topo)
        c->topo = topo_new(MPI_DIST_GRAPH, c->size);
    /* Each member records its own neighbours before it returns, so all are
     * there when the last member begins a collective on the graph. */
    struct topo *t = c->topo;
    t->nin[r] = indegree;
    t->nout[r] = outdegree;
    t->in[r] = ints_dup(sources, indegree);
    t->out[r] = ints_dup(destinations, outdegree);
    int weighted = sourceweights != WEAVES_UNWEIGHTED && destweights != WEAVES_UNWEIGHTED;
    t->inw[r] = weighted ? ints_dup(sourceweights, indegree) : NULL;
    t->outw[r] = weighted ? ints_dup(destweights, outdegree) : NULL;
    t->weighted |= weighted;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* What a member of MPI_Dist_graph_create brings: edges
 * sources[i] -> destinations[...], degrees[i] of them per source. */
struct dist_edges {
    int n;
    const int *sources, *degrees, *destinations, *weights;
};

/* Appends v (and its weight) to a member's neighbour list. */
static void neighbour_add(int **list, int **weights, int *count, int v, int w, int weighted)
{
    *list = realloc(*list, sizeof(int) * (size_t)(*count + 1));
    (*list)[*count] = v;
    if (weighted) {
        *weights = realloc(*weights, sizeof(int) * (size_t)(*count + 1));
        (*weights)[*count] = w;
    }
    (*count)++;
}

/* Every member publishes its edges; each then picks out those into and
 * out of itself, going through the members in rank order (so its
 * neighbours' order is the same in every run), and a second barrier
 * keeps the edges alive until all have read them. */
int MPI_Dist_graph_create(MPI_Comm comm, int n, const int sources[], const int degrees[],
                          const int destinations[], const int weights[], MPI_Info info,
                          int reorder, MPI_Comm *graph)
{
    (void)info;
    (void)reorder;
    const char *fn = "MPI_Dist_graph_create";
    started(fn);
    COMM(fn, comm, parent);
    int size = parent->size;
    for (int i = 0, e = 0; i < n; i++) {
        if (sources[i] < 0 || sources[i] >= size || degrees[i] < 0)
            return fail(comm, parent, MPI_ERR_ARG, fn, "invalid source %d or degree %d",
                        sources[i], degrees[i]);
        for (int j = 0; j < degrees[i]; j++, e++)
            if (destinations[e] < 0 || destinations[e] >= size)
                return fail(comm, parent, MPI_ERR_ARG, fn, "invalid destination %d",
                            destinations[e]);
    }
    int r;
    MPI_Comm_rank(comm, &r);
    int err = MPI_Comm_split(comm, 0, r, graph);
    if (err)
        return err;
    int weighted = weights != WEAVES_UNWEIGHTED;
    struct dist_edges mine = {n, sources, degrees, destinations, weighted ? weights : NULL};
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(*graph);
    if (!c->topo)
        c->topo = topo_new(MPI_DIST_GRAPH, c->size);
    struct topo *t = c->topo;
    coll_enter(c, *graph, &mine, NULL, fn);
    t->weighted |= weighted;
    for (int m = 0; m < c->size; m++) {
        const struct dist_edges *x = c->in[m];
        for (int i = 0, e = 0; i < x->n; i++)
            for (int j = 0; j < x->degrees[i]; j++, e++) {
                int from = x->sources[i], to = x->destinations[e];
                int w = x->weights && x->weights != WEAVES_WEIGHTS_EMPTY ? x->weights[e] : 1;
                if (from == r)
                    neighbour_add(&t->out[r], &t->outw[r], &t->nout[r], to, w, weighted);
                if (to == r)
                    neighbour_add(&t->in[r], &t->inw[r], &t->nin[r], from, w, weighted);
            }
    }
    coll_barrier(c, fn);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- asking a topology --------------------------------------------------- */

#define TOPO(fn, h, c, want)                                                                  \
    COMM(fn, h, c);                                                                           \
    if (!c->topo || c->topo->kind != (want))                                                  \
        return fail(h, c, MPI_ERR_TOPOLOGY, fn, "not a %s communicator",                      \
                    (want) == MPI_GRAPH ? "graph" : "distributed graph");

int MPI_Graphdims_get(MPI_Comm comm, int *nnodes, int *nedges)
{
    TOPO("MPI_Graphdims_get", comm, c, MPI_GRAPH);
    *nnodes = c->topo->nnodes;
    *nedges = c->topo->nnodes ? c->topo->index[c->topo->nnodes - 1] : 0;
    return MPI_SUCCESS;
}

int MPI_Graph_get(MPI_Comm comm, int maxindex, int maxedges, int index[], int edges[])
{
    TOPO("MPI_Graph_get", comm, c, MPI_GRAPH);
    struct topo *t = c->topo;
    int nedges = t->nnodes ? t->index[t->nnodes - 1] : 0;
    for (int k = 0; k < maxindex && k < t->nnodes; k++)
        index[k] = t->index[k];
    for (int e = 0; e < maxedges && e < nedges; e++)
        edges[e] = t->edges[e];
    return MPI_SUCCESS;
}

int MPI_Graph_neighbors_count(MPI_Comm comm, int rank, int *nneighbors)
{
    TOPO("MPI_Graph_neighbors_count", comm, c, MPI_GRAPH);
    if (rank < 0 || rank >= c->topo->nnodes)
        return fail(comm, c, MPI_ERR_RANK, "MPI_Graph_neighbors_count", "invalid rank %d", rank);
    *nneighbors = c->topo->nout[rank];
    return MPI_SUCCESS;
}

int MPI_Graph_neighbors(MPI_Comm comm, int rank, int maxneighbors, int neighbors[])
{
    TOPO("MPI_Graph_neighbors", comm, c, MPI_GRAPH);
    if (rank < 0 || rank >= c->topo->nnodes)
        return fail(comm, c, MPI_ERR_RANK, "MPI_Graph_neighbors", "invalid rank %d", rank);
    for (int k = 0; k < maxneighbors && k < c->topo->nout[rank]; k++)
        neighbors[k] = c->topo->out[rank][k];
    return MPI_SUCCESS;
}

int MPI_Dist_graph_neighbors_count(MPI_Comm comm, int *indegree, int *outdegree, int *weighted)
{
    TOPO("MPI_Dist_graph_neighbors_count", comm, c, MPI_DIST_GRAPH);
    int r = rank_in(c, me());
    *indegree = c->topo->nin[r];
    *outdegree = c->topo->nout[r];
    *weighted = c->topo->weighted;
    return MPI_SUCCESS;
}

int MPI_Dist_graph_neighbors(MPI_Comm comm, int maxindegree, int sources[], int sourceweights[],
                             int maxoutdegree, int destinations[], int destweights[])
{
    TOPO("MPI_Dist_graph_neighbors", comm, c, MPI_DIST_GRAPH);
    int r = rank_in(c, me());
    struct topo *t = c->topo;
    for (int k = 0; k < maxindegree && k < t->nin[r]; k++) {
        sources[k] = t->in[r][k];
        if (t->inw[r] && sourceweights != WEAVES_UNWEIGHTED)
            sourceweights[k] = t->inw[r][k];
    }
    for (int k = 0; k < maxoutdegree && k < t->nout[r]; k++) {
        destinations[k] = t->out[r][k];
        if (t->outw[r] && destweights != WEAVES_UNWEIGHTED)
            destweights[k] = t->outw[r][k];
    }
    return MPI_SUCCESS;
}

/* ---- neighbourhood collectives ------------------------------------------ */

static int neighbor_begin(const char *fn, enum nbc_kind kind, const struct nbc_args *a, MPI_Comm comm,
                          MPI_Request *request)
{
    struct comm *c = comm_of(comm);
    if (!c || (!c->topo && !c->ndims))
        return fail(comm, c, MPI_ERR_TOPOLOGY, fn, "the communicator has no topology");
    return nbc_begin(fn, kind, a, comm, request);
}

static int neighbor_blocking(const char *fn, enum nbc_kind kind, const struct nbc_args *a, MPI_Comm comm)
{
    MPI_Request r;
    int err = neighbor_begin(fn, kind, a, comm, &r);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    finish(&r, MPI_STATUS_IGNORE, 1, fn);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

#define NEIGHBOR(name, iname, kind, params, iparams, ...)                                      \
    int name params                                                                           \
    {                                                                                         \
        struct nbc_args a = {__VA_ARGS__};                                                    \
        return neighbor_blocking(#name, kind, &a, comm);                                      \
    }                                                                                         \
    int iname iparams                                                                         \
    {                                                                                         \
        struct nbc_args a = {__VA_ARGS__};                                                    \
        return neighbor_begin(#iname, kind, &a, comm, request);                               \
    }

#define GATHER_PARAMS                                                                         \
    const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,  \
        MPI_Datatype recvtype, MPI_Comm comm
NEIGHBOR(MPI_Neighbor_allgather, MPI_Ineighbor_allgather, NBC_NEIGHBOR_ALLGATHER,
         (GATHER_PARAMS), (GATHER_PARAMS, MPI_Request *request), .sbuf = sendbuf,
         .scount = sendcount, .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount,
         .rtype = recvtype)
NEIGHBOR(MPI_Neighbor_alltoall, MPI_Ineighbor_alltoall, NBC_NEIGHBOR_ALLTOALL, (GATHER_PARAMS),
         (GATHER_PARAMS, MPI_Request *request), .sbuf = sendbuf, .scount = sendcount,
         .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount, .rtype = recvtype)

#define GATHERV_PARAMS                                                                        \
    const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,                 \
        const int recvcounts[], const int displs[], MPI_Datatype recvtype, MPI_Comm comm
NEIGHBOR(MPI_Neighbor_allgatherv, MPI_Ineighbor_allgatherv, NBC_NEIGHBOR_ALLGATHER,
         (GATHERV_PARAMS), (GATHERV_PARAMS, MPI_Request *request), .sbuf = sendbuf,
         .scount = sendcount, .stype = sendtype, .rbuf = recvbuf, .rcounts = recvcounts,
         .rdispls = displs, .rtype = recvtype)

#define ALLTOALLV_PARAMS                                                                      \
    const void *sendbuf, const int sendcounts[], const int sdispls[], MPI_Datatype sendtype,  \
        void *recvbuf, const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,    \
        MPI_Comm comm
NEIGHBOR(MPI_Neighbor_alltoallv, MPI_Ineighbor_alltoallv, NBC_NEIGHBOR_ALLTOALL,
         (ALLTOALLV_PARAMS), (ALLTOALLV_PARAMS, MPI_Request *request), .sbuf = sendbuf,
         .scounts = sendcounts, .sdispls = sdispls, .stype = sendtype, .rbuf = recvbuf,
         .rcounts = recvcounts, .rdispls = rdispls, .rtype = recvtype)

#define ALLTOALLW_PARAMS                                                                      \
    const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],                    \
        const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],                \
        const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm
NEIGHBOR(MPI_Neighbor_alltoallw, MPI_Ineighbor_alltoallw, NBC_NEIGHBOR_ALLTOALLW,
         (ALLTOALLW_PARAMS), (ALLTOALLW_PARAMS, MPI_Request *request), .sbuf = sendbuf,
         .scounts = sendcounts, .wsdispls = sdispls, .stypes = sendtypes, .rbuf = recvbuf,
         .rcounts = recvcounts, .wrdispls = rdispls, .rtypes = recvtypes)
