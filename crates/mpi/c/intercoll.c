/*
 * Collectives on intercommunicators, included by mpi.c after
 * intercomm.c: Barrier, Bcast, Reduce, Allreduce, Gather(v), Scatter(v),
 * Allgather(v), Alltoall(v/w) and their non-blocking forms.
 *
 * They work as the non-blocking collectives do (nbc.c), across both
 * groups: each member leaves what it brings in the operation of the same
 * sequence number, which both groups' records share (struct inter_pair),
 * and the last of all members to arrive moves the data and completes
 * every request. Data always flows from one group to the other: a rooted
 * operation's root passes MPI_ROOT, the rest of its group MPI_PROC_NULL,
 * the other group the root's rank; in the others, each group receives
 * what the other group's members bring (the other group's reduction, its
 * members' blocks in their rank order).
 */

struct inter_coll {
    unsigned seq;
    int arrived;
    const char *fn[2];        /* what each side asked (the first to arrive) */
    int mismatch;
    struct nbc_member *m[2]; /* per side, per member */
    struct inter_coll *next;
};

/* The root's side and rank, or -1 (none passed MPI_ROOT). */
static int inter_root(struct inter_coll *op, const int n[2], int *index)
{
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < n[s]; i++)
            if (op->m[s][i].a.root == MPI_ROOT) {
                *index = i;
                return s;
            }
    return -1;
}

/* Combines side s's inputs (count elements each) into a new buffer of
 * packed bytes; NULL if the operation does not apply. */
static void *side_reduction(struct inter_coll *op, int s, int members)
{
    const struct nbc_args *a0 = &op->m[s][0].a;
    size_t count = (size_t)a0->rcount, n = count * type_size(a0->rtype);
    void *acc = malloc(n ? n : 1);
    for (int k = 0; k < members; k++) {
        const struct nbc_args *a = &op->m[s][k].a;
        void *tmp;
        const void *in = operand(a->sbuf, count, a->rtype, &tmp);
        int bad = k ? combine(acc, in, count, a0->rtype, a0->op) : (memcpy(acc, in, n), 0);
        free(tmp);
        if (bad) {
            free(acc);
            return NULL;
        }
    }
    return acc;
}

/* Under `big`: moves the data of a complete operation. 0, or the error. */
static int inter_perform(struct inter_coll *op, enum nbc_kind kind, const int n[2])
{
    int ri = 0, rs = inter_root(op, n, &ri);
    int rooted = kind == NBC_BCAST || kind == NBC_REDUCE || kind == NBC_GATHER ||
                 kind == NBC_SCATTER;
    if (kind == NBC_BARRIER || (rooted && rs < 0)) /* (no root: nothing moves) */
        return 0;
    if (kind == NBC_BCAST) {
        const struct nbc_args *r = &op->m[rs][ri].a;
        for (int k = 0; k < n[1 - rs]; k++) {
            const struct nbc_args *to = &op->m[1 - rs][k].a;
            xfer((struct span){r->rbuf, r->rcount, r->rtype},
                 (struct span){to->rbuf, to->rcount, to->rtype});
        }
        return 0;
    }
    if (kind == NBC_REDUCE || kind == NBC_ALLREDUCE) {
        for (int s = 0; s < 2; s++) {
            if (kind == NBC_REDUCE && s == rs)
                continue;
            void *acc = side_reduction(op, s, n[s]);
            if (!acc)
                return MPI_ERR_OP;
            const struct nbc_args *a0 = &op->m[s][0].a;
            size_t bytes = (size_t)a0->rcount * type_size(a0->rtype);
            for (int k = 0; k < n[1 - s]; k++) {
                const struct nbc_args *to = &op->m[1 - s][k].a;
                if (kind == NBC_ALLREDUCE || k == ri)
                    unpack(acc, bytes, to->rbuf, to->rtype);
            }
            free(acc);
        }
        return 0;
    }
    /* Blocks: member k of side s receives, as block j, what member j of
     * the other side sends it. */
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < n[s]; k++)
            for (int j = 0; j < n[1 - s]; j++) {
                if (kind == NBC_GATHER && (s != rs || k != ri))
                    continue;
                if (kind == NBC_SCATTER && (s == rs || j != ri))
                    continue;
                xfer(send_span(kind, &op->m[1 - s][j].a, k),
                     recv_span(kind, &op->m[s][k].a, j));
            }
    return 0;
}

/* Checks what a member brings (0, or fails). */
static int inter_check(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                       struct comm *c, MPI_Comm comm)
{
    int rooted = kind == NBC_BCAST || kind == NBC_REDUCE || kind == NBC_GATHER ||
                 kind == NBC_SCATTER;
    if (rooted && a->root != MPI_ROOT && a->root != MPI_PROC_NULL &&
        (a->root < 0 || a->root >= c->remote_size))
        return fail(comm, c, MPI_ERR_ROOT, fn, "invalid root %d (the other group has %d ranks)",
                    a->root, c->remote_size);
    if ((kind == NBC_REDUCE || kind == NBC_ALLREDUCE) && a->root != MPI_ROOT &&
        a->root != MPI_PROC_NULL && !reducible(a->rtype, a->op))
        return fail(comm, c, MPI_ERR_OP, fn, "operation 0x%x does not apply to datatype 0x%x",
                    (unsigned)a->op, (unsigned)a->rtype);
    if (a->sbuf == MPI_IN_PLACE || a->rbuf == MPI_IN_PLACE)
        return fail(comm, c, MPI_ERR_BUFFER, fn, "MPI_IN_PLACE on an intercommunicator");
    if (kind == NBC_REDUCE_SCATTER || kind == NBC_SCAN || kind == NBC_EXSCAN ||
        kind == NBC_DUP || kind >= NBC_NEIGHBOR_ALLGATHER)
        return fail(comm, c, MPI_ERR_COMM, fn, "not supported on intercommunicators");
    return 0;
}

/* Under `big`, by the last to arrive: every member asked the same, or the
 * job ends with one line naming what each group asked. */
static void inter_mismatch(struct inter_coll *op)
{
    if (!op->mismatch)
        return;
    pthread_mutex_unlock(&big);
    ending();
    fprintf(stderr,
            "weaves mpi: collective mismatch on an intercommunicator: one group called %s, the "
            "other %s\n",
            op->fn[0], op->fn[1] ? op->fn[1] : op->fn[0]);
    job_exit(1);
}

static int inter_begin(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                       MPI_Comm comm, MPI_Request *request)
{
    COMM(fn, comm, c);
    int err = inter_check(fn, kind, a, c, comm);
    if (err)
        return err;
    int i = rank_in(c, me());
    pthread_mutex_lock(&big);
    struct inter_pair *p = c->pair;
    unsigned seq = c->nbc_begun[i]++;
    struct inter_coll *op = p->colls;
    while (op && op->seq != seq)
        op = op->next;
    if (!op) {
        op = calloc(1, sizeof *op);
        op->seq = seq;
        op->next = p->colls;
        p->colls = op;
    }
    int s = c->side;
    if (!op->m[s])
        op->m[s] = calloc((size_t)c->size, sizeof *op->m[s]);
    if (!op->fn[s])
        op->fn[s] = fn;
    const char *other = op->fn[1 - s];
    if (strcmp(op->fn[s], fn) || (other && strcmp(other, fn)))
        op->mismatch = 1;
    struct req *r = calloc(1, sizeof *r);
    r->owner = me();
    r->what = fn;
    *request = new_handle(r);
    op->m[s][i] = (struct nbc_member){*a, r};
    if (++op->arrived < c->size + c->remote_size) {
        pthread_mutex_unlock(&big);
        return MPI_SUCCESS;
    }
    inter_mismatch(op);
    int n[2];
    n[s] = c->size;
    n[1 - s] = c->remote_size;
    err = inter_perform(op, kind, n);
    for (struct inter_coll **q = &p->colls; *q; q = &(*q)->next)
        if (*q == op) {
            *q = op->next;
            break;
        }
    for (int side = 0; side < 2; side++) {
        for (int k = 0; k < n[side]; k++)
            complete(op->m[side][k].req);
        free(op->m[side]);
    }
    free(op);
    pthread_mutex_unlock(&big);
    if (err)
        return fail(comm, c, err, fn, "operation 0x%x does not apply to datatype 0x%x",
                    (unsigned)a->op, (unsigned)a->rtype);
    return MPI_SUCCESS;
}

/* The blocking forms mpi.c's Barrier, Bcast, Reduce and Allreduce turn to
 * on an intercommunicator: the operation begun, then waited for. */
static int inter_blocking(const char *fn, enum nbc_kind kind, const struct nbc_args *a,
                          MPI_Comm comm)
{
    started(fn);
    MPI_Request r;
    int err = inter_begin(fn, kind, a, comm, &r);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    finish(&r, MPI_STATUS_IGNORE, 1, fn);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

static int inter_barrier(MPI_Comm comm)
{
    struct nbc_args a = {0};
    return inter_blocking("MPI_Barrier", NBC_BARRIER, &a, comm);
}

static int inter_bcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm)
{
    struct nbc_args a = {.rbuf = buf, .rcount = count, .rtype = t, .root = root};
    return inter_blocking("MPI_Bcast", NBC_BCAST, &a, comm);
}

static int inter_reduction(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t,
                           MPI_Op op, int root, MPI_Comm comm, int all, const char *fn)
{
    struct nbc_args a = {.sbuf = sendbuf, .rbuf = recvbuf, .rcount = count, .rtype = t,
                         .op = op, .root = all ? 0 : root};
    return inter_blocking(fn, all ? NBC_ALLREDUCE : NBC_REDUCE, &a, comm);
}
