/*
 * Collectives that move blocks between members (gathers, scatters,
 * all-to-alls) and every non-blocking collective. Included by mpi.c after
 * datatypes.c (one translation unit: these use its static helpers).
 *
 * The ranks are strings of one process, so a non-blocking collective needs
 * no progress engine: each member's call leaves what it brings (buffers,
 * counts, displacements, types, root) in the operation of its
 * communicator with the same sequence number, and returns a request. The
 * member that arrives last moves every member's data (all buffers are in
 * this process and stay valid until completion, as the standard requires
 * of them and of the count and displacement arrays) and completes every
 * member's request. Members' operations match in the order they begin
 * them on a communicator, as the standard says they must.
 *
 * The blocking gathers, scatters and all-to-alls are the non-blocking ones
 * followed by a wait: one place moves blocks, for every datatype (a
 * non-contiguous block is packed and unpacked on its way).
 */

enum nbc_kind {
    NBC_BARRIER,
    NBC_BCAST,
    NBC_REDUCE,
    NBC_ALLREDUCE,
    NBC_GATHER,    /* Gather, Gatherv */
    NBC_SCATTER,   /* Scatter, Scatterv */
    NBC_ALLGATHER, /* Allgather, Allgatherv */
    NBC_ALLTOALL,  /* Alltoall, Alltoallv */
    NBC_ALLTOALLW,
    NBC_REDUCE_SCATTER, /* Reduce_scatter, Reduce_scatter_block */
    NBC_SCAN,
    NBC_EXSCAN,
    NBC_DUP, /* Comm_idup */
    NBC_NEIGHBOR_ALLGATHER, /* Neighbor_allgather(v) (graph.c) */
    NBC_NEIGHBOR_ALLTOALL,  /* Neighbor_alltoall(v) */
    NBC_NEIGHBOR_ALLTOALLW,
};

/* What a member brings. Counts and displacements come as arrays (the v
 * and w variants; w's displacements are in bytes) or as one count for
 * every block. */
struct nbc_args {
    const void *sbuf;
    void *rbuf;
    int scount, rcount;
    MPI_Datatype stype, rtype;
    const int *scounts, *sdispls, *rcounts, *rdispls;
    const MPI_Datatype *stypes, *rtypes;
    const MPI_Aint *wsdispls, *wrdispls; /* Neighbor_alltoallw's, in bytes */
    MPI_Op op;
    int root;
};

struct nbc_member {
    struct nbc_args a;
    struct req *req;
};

struct nbc;
static void neighbor_move(struct comm *c, struct nbc *op, enum nbc_kind kind);
static int inter_begin(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                       MPI_Comm comm, MPI_Request *request);

struct nbc {
    unsigned seq;
    int arrived;
    MPI_Comm made; /* Comm_idup's new communicator, made by the first to begin */
    struct sig *sigs;
    struct nbc_member *m;
    struct nbc *next;
};

/* count elements of type t at p. */
struct span {
    char *p;
    int count;
    MPI_Datatype t;
};

static long extent_of(MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    return d ? d->extent : (long)type_size(t);
}

/* Moves a span into another: as many bytes as both hold. */
static void xfer(struct span s, struct span d)
{
    size_t sb = (size_t)(s.count > 0 ? s.count : 0) * type_size(s.t);
    size_t db = (size_t)(d.count > 0 ? d.count : 0) * type_size(d.t);
    size_t n = sb < db ? sb : db;
    if (!n)
        return;
    if (contiguous(s.t) && contiguous(d.t)) {
        if (s.p != d.p)
            memmove(d.p, s.p, n);
        return;
    }
    void *tmp = malloc(sb);
    pack(s.p, s.count, s.t, tmp);
    unpack(tmp, n, d.p, d.t);
    free(tmp);
}

/* Block k of a buffer laid out by (count, counts, displs, t). */
static struct span block_of(const void *buf, int count, const int *counts, const int *displs,
                            MPI_Datatype t, int k)
{
    long d = displs ? displs[k] : (long)k * count;
    return (struct span){(char *)buf + d * extent_of(t), counts ? counts[k] : count, t};
}

/* Where member a puts member j's data. */
static struct span recv_span(enum nbc_kind kind, const struct nbc_args *a, int j)
{
    if (kind == NBC_SCATTER)
        return (struct span){a->rbuf, a->rcount, a->rtype};
    if (kind == NBC_ALLTOALLW)
        return (struct span){(char *)a->rbuf + a->rdispls[j], a->rcounts[j], a->rtypes[j]};
    return block_of(a->rbuf, a->rcount, a->rcounts, a->rdispls, a->rtype, j);
}

/* What member a sends member k. */
static struct span send_span(enum nbc_kind kind, const struct nbc_args *a, int k)
{
    if (kind == NBC_GATHER || kind == NBC_ALLGATHER)
        return (struct span){(char *)a->sbuf, a->scount, a->stype};
    if (kind == NBC_ALLTOALLW)
        return (struct span){(char *)a->sbuf + a->sdispls[k], a->scounts[k], a->stypes[k]};
    return block_of(a->sbuf, a->scount, a->scounts, a->sdispls, a->stype, k);
}

/* The block-moving kinds. With MPI_IN_PLACE a member's data is in its
 * receive buffer: an all-to-all member's outgoing blocks are copied aside
 * first, since its buffer is also where the others' blocks land. */
static void nbc_move(struct comm *c, struct nbc *op, enum nbc_kind kind)
{
    int n = c->size;
    struct nbc_member *m = op->m;
    int root = m[0].a.root;
    char **aside = calloc((size_t)n, sizeof *aside);
    size_t *at = calloc((size_t)n * (size_t)n, sizeof *at);
    int alltoall = kind == NBC_ALLTOALL || kind == NBC_ALLTOALLW;
    for (int j = 0; alltoall && j < n; j++) {
        if (m[j].a.sbuf != MPI_IN_PLACE)
            continue;
        size_t total = 0;
        for (int k = 0; k < n; k++) {
            struct span b = recv_span(kind, &m[j].a, k);
            at[j * n + k] = total;
            total += (size_t)b.count * type_size(b.t);
        }
        aside[j] = malloc(total ? total : 1);
        for (int k = 0; k < n; k++) {
            struct span b = recv_span(kind, &m[j].a, k);
            pack(b.p, b.count, b.t, aside[j] + at[j * n + k]);
        }
    }
    for (int j = 0; j < n; j++) {
        const struct nbc_args *from = &m[j].a;
        int in_place = from->sbuf == MPI_IN_PLACE;
        for (int k = 0; k < n; k++) {
            const struct nbc_args *to = &m[k].a;
            if ((kind == NBC_GATHER && k != root) || (kind == NBC_SCATTER && j != root))
                continue;
            if ((kind == NBC_GATHER || kind == NBC_ALLGATHER) && j == k && in_place)
                continue;
            if (kind == NBC_SCATTER && k == root && to->rbuf == MPI_IN_PLACE)
                continue;
            struct span s;
            if (aside[j]) {
                struct span b = recv_span(kind, from, k);
                s = (struct span){aside[j] + at[j * n + k],
                                  (int)((size_t)b.count * type_size(b.t)), MPI_BYTE};
            } else if (kind == NBC_ALLGATHER && in_place) {
                s = recv_span(kind, from, j);
            } else {
                s = send_span(kind, from, k);
            }
            xfer(s, recv_span(kind, to, j));
        }
    }
    for (int j = 0; j < n; j++)
        free(aside[j]);
    free(aside);
    free(at);
}

/* A reduction's operand (count elements of t at in) as packed bytes: in
 * itself when t is contiguous, else a packed copy left in *tmp for the
 * caller to free. */
static const void *operand(const void *in, size_t count, MPI_Datatype t, void **tmp)
{
    *tmp = NULL;
    if (contiguous(t))
        return in;
    size_t n = count * type_size(t);
    *tmp = malloc(n ? n : 1);
    pack(in, (int)count, t, *tmp);
    return *tmp;
}

/* Reduce_scatter(_block), Scan, Exscan: every member's result is worked
 * out before any is written (with MPI_IN_PLACE the outputs are inputs). */
static int nbc_reduce_into(struct comm *c, struct nbc *op, enum nbc_kind kind)
{
    int n = c->size;
    const struct nbc_args *a0 = &op->m[0].a;
    MPI_Datatype t = a0->rtype;
    size_t ts = type_size(t);
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += kind == NBC_REDUCE_SCATTER ? (size_t)(a0->rcounts ? a0->rcounts[k] : a0->rcount)
                                            : 0;
    if (kind != NBC_REDUCE_SCATTER)
        total = (size_t)a0->rcount;
    size_t bytes = total * ts;
    void **result = calloc((size_t)n, sizeof *result);
    void *acc = malloc(bytes ? bytes : 1);
    int bad = 0;
    for (int k = 0; k < n && !bad; k++) {
        const struct nbc_args *a = &op->m[k].a;
        void *tmp;
        const void *in = operand(a->sbuf == MPI_IN_PLACE ? a->rbuf : a->sbuf, total, a->rtype,
                                 &tmp);
        if (kind == NBC_EXSCAN && k > 0) {
            result[k] = malloc(bytes ? bytes : 1);
            memcpy(result[k], acc, bytes);
        }
        if (k == 0)
            memcpy(acc, in, bytes);
        else
            bad = combine(acc, in, total, t, a0->op);
        if (kind == NBC_SCAN) {
            result[k] = malloc(bytes ? bytes : 1);
            memcpy(result[k], acc, bytes);
        }
        free(tmp);
    }
    size_t first = 0;
    for (int k = 0; k < n; k++) {
        const struct nbc_args *a = &op->m[k].a;
        if (kind == NBC_REDUCE_SCATTER) {
            size_t mine = (size_t)(a0->rcounts ? a0->rcounts[k] : a0->rcount);
            if (!bad)
                unpack((char *)acc + first * ts, mine * ts, a->rbuf, a->rtype);
            first += mine;
        } else if (result[k]) {
            if (!bad)
                unpack(result[k], bytes, a->rbuf, a->rtype);
            free(result[k]);
        }
    }
    free(result);
    free(acc);
    return bad ? MPI_ERR_OP : 0;
}

/* Under `big`: moves the data of a complete operation. 0, or the error. */
static int nbc_perform(struct comm *c, struct nbc *op, enum nbc_kind kind)
{
    struct nbc_member *m = op->m;
    const struct nbc_args *a0 = &m[0].a;
    int root = a0->root;
    if (kind == NBC_BCAST) {
        struct span s = {(char *)m[root].a.rbuf, m[root].a.rcount, m[root].a.rtype};
        for (int k = 0; k < c->size; k++)
            if (k != root)
                xfer(s, (struct span){m[k].a.rbuf, m[k].a.rcount, m[k].a.rtype});
        return 0;
    }
    if (kind == NBC_REDUCE || kind == NBC_ALLREDUCE) {
        size_t count = (size_t)a0->rcount, n = count * type_size(a0->rtype);
        void *acc = malloc(n ? n : 1);
        for (int k = 0; k < c->size; k++) {
            const struct nbc_args *a = &m[k].a;
            void *tmp;
            const void *in = operand(a->sbuf == MPI_IN_PLACE ? a->rbuf : a->sbuf, count,
                                     a->rtype, &tmp);
            int bad = k ? combine(acc, in, count, a0->rtype, a0->op) : (memcpy(acc, in, n), 0);
            free(tmp);
            if (bad) {
                free(acc);
                return MPI_ERR_OP;
            }
        }
        for (int k = 0; k < c->size; k++)
            if ((kind == NBC_ALLREDUCE || k == root) && n)
                unpack(acc, n, m[k].a.rbuf, m[k].a.rtype);
        free(acc);
        return 0;
    }
    if (kind == NBC_REDUCE_SCATTER || kind == NBC_SCAN || kind == NBC_EXSCAN)
        return nbc_reduce_into(c, op, kind);
    if (kind >= NBC_NEIGHBOR_ALLGATHER)
        neighbor_move(c, op, kind);
    else if (kind != NBC_BARRIER && kind != NBC_DUP)
        nbc_move(c, op, kind);
    return 0;
}

/* A datatype argument that must name a type. */
static int bad_type(MPI_Datatype t)
{
    return !known_type(t);
}

/* Checks what member i brings (0, or fails). */
static int nbc_check(const char *fn, enum nbc_kind kind, const struct nbc_args *a, struct comm *c,
                     int i, MPI_Comm comm)
{
    int rooted = kind == NBC_BCAST || kind == NBC_REDUCE || kind == NBC_GATHER ||
                 kind == NBC_SCATTER;
    if (rooted && (a->root < 0 || a->root >= c->size))
        return fail(comm, c, MPI_ERR_ROOT, fn, "invalid root %d", a->root);
    int reduces = kind == NBC_REDUCE || kind == NBC_ALLREDUCE || kind == NBC_REDUCE_SCATTER ||
                  kind == NBC_SCAN || kind == NBC_EXSCAN;
    if (reduces) {
        if (!known_type(a->rtype))
            return fail(comm, c, MPI_ERR_TYPE, fn, "invalid datatype 0x%x", (unsigned)a->rtype);
        if (!reducible(a->rtype, a->op))
            return fail(comm, c, MPI_ERR_OP, fn,
                        "operation 0x%x does not apply to datatype 0x%x", (unsigned)a->op,
                        (unsigned)a->rtype);
    }
    int sends = kind == NBC_GATHER || kind == NBC_ALLGATHER || kind == NBC_ALLTOALL ||
                (kind == NBC_SCATTER && i == a->root);
    int receives = kind == NBC_BCAST || kind == NBC_SCATTER || kind == NBC_ALLGATHER ||
                   kind == NBC_ALLTOALL || (kind == NBC_GATHER && i == a->root);
    if (sends && a->sbuf != MPI_IN_PLACE && bad_type(a->stype))
        return fail(comm, c, MPI_ERR_TYPE, fn, "invalid send datatype 0x%x", (unsigned)a->stype);
    if (receives && a->rbuf != MPI_IN_PLACE && bad_type(a->rtype))
        return fail(comm, c, MPI_ERR_TYPE, fn, "invalid receive datatype 0x%x",
                    (unsigned)a->rtype);
    return 0;
}

/* What member i asks, for the mismatch check. */
static struct sig nbc_sig(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                          struct comm *c)
{
    int rooted = kind == NBC_BCAST || kind == NBC_REDUCE || kind == NBC_GATHER ||
                 kind == NBC_SCATTER;
    long long bytes = ANY_BYTES;
    unsigned op = 0;
    size_t ts = type_size(a->rtype);
    if (kind == NBC_BCAST || kind == NBC_REDUCE || kind == NBC_ALLREDUCE || kind == NBC_SCAN ||
        kind == NBC_EXSCAN)
        bytes = (long long)a->rcount * (long long)ts;
    if (kind == NBC_REDUCE_SCATTER) {
        bytes = 0;
        for (int k = 0; k < c->size; k++)
            bytes += (long long)(a->rcounts ? a->rcounts[k] : a->rcount) * (long long)ts;
    }
    if (kind == NBC_REDUCE || kind == NBC_ALLREDUCE || kind == NBC_REDUCE_SCATTER ||
        kind == NBC_SCAN || kind == NBC_EXSCAN)
        op = (unsigned)a->op;
    return (struct sig){fn, rooted ? a->root : NO_ROOT, bytes, op};
}

static int nbc_begin(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                     MPI_Comm comm, MPI_Request *request)
{
    started(fn);
    COMM(fn, comm, c);
    if (c->remote)
        return inter_begin(fn, kind, a, comm, request);
    int i = rank_in(c, me());
    int err = nbc_check(fn, kind, a, c, i, comm);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    unsigned seq = c->nbc_begun[i]++;
    struct nbc *op = c->nbc_pending;
    while (op && op->seq != seq)
        op = op->next;
    if (!op) {
        op = calloc(1, sizeof *op);
        op->seq = seq;
        op->sigs = calloc((size_t)c->size, sizeof *op->sigs);
        op->m = calloc((size_t)c->size, sizeof *op->m);
        op->next = c->nbc_pending;
        c->nbc_pending = op;
    }
    struct req *r = calloc(1, sizeof *r);
    r->owner = me();
    r->what = fn;
    *request = new_handle(r);
    op->m[i] = (struct nbc_member){*a, r};
    if (kind == NBC_DUP) {
        /* Its members are known now: every member gets its handle at once
         * (using it before the request completes is erroneous). */
        if (!op->made)
            op->made = comm_copy(c);
        *(MPI_Comm *)a->rbuf = op->made;
    }
    op->sigs[i] = nbc_sig(fn, kind, a, c);
    if (++op->arrived < c->size) {
        pthread_mutex_unlock(&big);
        return MPI_SUCCESS;
    }
    /* The last to arrive: check that all asked the same, move the data,
     * complete everyone's request. */
    struct sig *saved = c->sigs;
    c->sigs = op->sigs;
    coll_check(c, comm);
    c->sigs = saved;
    err = nbc_perform(c, op, kind);
    for (struct nbc **p = &c->nbc_pending; *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            break;
        }
    for (int k = 0; k < c->size; k++)
        complete(op->m[k].req);
    free(op->sigs);
    free(op->m);
    free(op);
    pthread_mutex_unlock(&big);
    if (err)
        return fail(comm, c, err, fn, "operation 0x%x does not apply to datatype 0x%x",
                    (unsigned)a->op, (unsigned)a->rtype);
    return MPI_SUCCESS;
}

/* A blocking collective: the non-blocking one, then its wait. */
static int nbc_blocking(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                        MPI_Comm comm)
{
    MPI_Request r;
    int err = nbc_begin(fn, kind, a, comm, &r);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    finish(&r, MPI_STATUS_IGNORE, 1, fn);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- entry points ------------------------------------------------------ */

int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {0};
    return nbc_begin("MPI_Ibarrier", NBC_BARRIER, &a, comm, request);
}

int MPI_Ibcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm,
               MPI_Request *request)
{
    struct nbc_args a = {.rbuf = buf, .rcount = count, .rtype = t, .root = root};
    if (!known_type(t))
        return fail(comm, comm_of(comm), MPI_ERR_TYPE, "MPI_Ibcast", "invalid datatype 0x%x",
                    (unsigned)t);
    return nbc_begin("MPI_Ibcast", NBC_BCAST, &a, comm, request);
}

int MPI_Ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
                int root, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t,
                         .op = op, .root = root};
    return nbc_begin("MPI_Ireduce", NBC_REDUCE, &a, comm, request);
}

int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
                   MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t,
                         .op = op};
    return nbc_begin("MPI_Iallreduce", NBC_ALLREDUCE, &a, comm, request);
}

#define GATHER_ARGS(root_)                                                                    \
    {.sbuf = sendbuf, .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,               \
     .rtype = recvtype, .root = root_}

int MPI_Igather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm,
                MPI_Request *request)
{
    struct nbc_args a = GATHER_ARGS(root);
    a.rcount = recvcount;
    return nbc_begin("MPI_Igather", NBC_GATHER, &a, comm, request);
}

int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm)
{
    struct nbc_args a = GATHER_ARGS(root);
    a.rcount = recvcount;
    return nbc_blocking("MPI_Gather", NBC_GATHER, &a, comm);
}

int MPI_Igatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                 MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = GATHER_ARGS(root);
    a.rcounts = recvcounts;
    a.rdispls = displs;
    return nbc_begin("MPI_Igatherv", NBC_GATHER, &a, comm, request);
}

int MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm)
{
    struct nbc_args a = GATHER_ARGS(root);
    a.rcounts = recvcounts;
    a.rdispls = displs;
    return nbc_blocking("MPI_Gatherv", NBC_GATHER, &a, comm);
}

int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                   int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = GATHER_ARGS(0);
    a.rcount = recvcount;
    return nbc_begin("MPI_Iallgather", NBC_ALLGATHER, &a, comm, request);
}

int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
    struct nbc_args a = GATHER_ARGS(0);
    a.rcount = recvcount;
    return nbc_blocking("MPI_Allgather", NBC_ALLGATHER, &a, comm);
}

int MPI_Iallgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                    const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                    MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = GATHER_ARGS(0);
    a.rcounts = recvcounts;
    a.rdispls = displs;
    return nbc_begin("MPI_Iallgatherv", NBC_ALLGATHER, &a, comm, request);
}

int MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm)
{
    struct nbc_args a = GATHER_ARGS(0);
    a.rcounts = recvcounts;
    a.rdispls = displs;
    return nbc_blocking("MPI_Allgatherv", NBC_ALLGATHER, &a, comm);
}

#define SCATTER_ARGS                                                                          \
    {.sbuf = sendbuf, .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount,               \
     .rtype = recvtype, .root = root}

int MPI_Iscatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm,
                 MPI_Request *request)
{
    struct nbc_args a = SCATTER_ARGS;
    a.scount = sendcount;
    return nbc_begin("MPI_Iscatter", NBC_SCATTER, &a, comm, request);
}

int MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm)
{
    struct nbc_args a = SCATTER_ARGS;
    a.scount = sendcount;
    return nbc_blocking("MPI_Scatter", NBC_SCATTER, &a, comm);
}

int MPI_Iscatterv(const void *sendbuf, const int sendcounts[], const int displs[],
                  MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype,
                  int root, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = SCATTER_ARGS;
    a.scounts = sendcounts;
    a.sdispls = displs;
    return nbc_begin("MPI_Iscatterv", NBC_SCATTER, &a, comm, request);
}

int MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm)
{
    struct nbc_args a = SCATTER_ARGS;
    a.scounts = sendcounts;
    a.sdispls = displs;
    return nbc_blocking("MPI_Scatterv", NBC_SCATTER, &a, comm);
}

/* With MPI_IN_PLACE an all-to-all's send arguments are ignored: the data
 * is laid out as the receive arguments say. */
#define ALLTOALL_ARGS                                                                         \
    {.sbuf = sendbuf, .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,               \
     .rcount = recvcount, .rtype = recvtype}

int MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = ALLTOALL_ARGS;
    return nbc_begin("MPI_Ialltoall", NBC_ALLTOALL, &a, comm, request);
}

int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
    struct nbc_args a = ALLTOALL_ARGS;
    return nbc_blocking("MPI_Alltoall", NBC_ALLTOALL, &a, comm);
}

#define ALLTOALLV_ARGS                                                                        \
    {.sbuf = sendbuf, .scounts = sendcounts, .sdispls = sdispls, .stype = sendtype,          \
     .rbuf = recvbuf, .rcounts = recvcounts, .rdispls = rdispls, .rtype = recvtype}

int MPI_Ialltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                   MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                   const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm,
                   MPI_Request *request)
{
    struct nbc_args a = ALLTOALLV_ARGS;
    return nbc_begin("MPI_Ialltoallv", NBC_ALLTOALL, &a, comm, request);
}

int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                  const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    struct nbc_args a = ALLTOALLV_ARGS;
    return nbc_blocking("MPI_Alltoallv", NBC_ALLTOALL, &a, comm);
}

#define ALLTOALLW_ARGS                                                                        \
    {.sbuf = sendbuf, .scounts = sendcounts, .sdispls = sdispls, .stypes = sendtypes,        \
     .rbuf = recvbuf, .rcounts = recvcounts, .rdispls = rdispls, .rtypes = recvtypes}

int MPI_Ialltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
                   const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                   const int rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm,
                   MPI_Request *request)
{
    struct nbc_args a = ALLTOALLW_ARGS;
    return nbc_begin("MPI_Ialltoallw", NBC_ALLTOALLW, &a, comm, request);
}

int MPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                  const int rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    struct nbc_args a = ALLTOALLW_ARGS;
    return nbc_blocking("MPI_Alltoallw", NBC_ALLTOALLW, &a, comm);
}

int MPI_Ireduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[],
                        MPI_Datatype t, MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcounts = recvcounts, .rtype = t,
                         .op = op};
    return nbc_begin("MPI_Ireduce_scatter", NBC_REDUCE_SCATTER, &a, comm, request);
}

int MPI_Ireduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
                              MPI_Datatype t, MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = recvcount, .rtype = t,
                         .op = op};
    return nbc_begin("MPI_Ireduce_scatter_block", NBC_REDUCE_SCATTER, &a, comm, request);
}

int MPI_Iscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
              MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t,
                         .op = op};
    return nbc_begin("MPI_Iscan", NBC_SCAN, &a, comm, request);
}

int MPI_Iexscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
                MPI_Comm comm, MPI_Request *request)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t,
                         .op = op};
    return nbc_begin("MPI_Iexscan", NBC_EXSCAN, &a, comm, request);
}
