/*
 * Intercommunicators, included by mpi.c: Intercomm_create,
 * Comm_remote_size, Comm_remote_group, Comm_test_inter, point to point
 * between the two groups, and Intercomm_merge.
 *
 * Each group has its own communicator record (its members, and the other
 * group's as `remote`); both records share one context, so a message sent
 * on one side matches receives on the other. The groups' leaders meet
 * through a table of leaders waiting for their remote leader; each leader
 * then tells its own group through a broadcast on a duplicate of the
 * local communicator the intercommunicator keeps (`local`).
 * Collectives on intercommunicators: intercoll.c.
 */

/* A leader waiting in Intercomm_create for its remote leader. */
struct inter_wait {
    int used, tag, from, to; /* world ranks of the waiting and the awaited leader */
    MPI_Comm made, answer;   /* the waiter's group's record; the other's */
};
#define MAX_INTER_WAITS 256
static struct inter_wait inter_waits[MAX_INTER_WAITS];

/* What both groups' records share: Intercomm_merge's meetings. */
struct merge {
    unsigned seq;
    int arrived, ready, taken, high[2];
    struct comm *side[2];
    MPI_Comm made;
    struct merge *next;
};
struct inter_pair {
    int refs;
    unsigned merges[2]; /* merges begun by each side */
    struct merge *pending;
    struct inter_coll *colls; /* collectives not every member joined yet (intercoll.c) */
};

/* A new record for a group (under `big`): its members are `c`'s. */
static MPI_Comm inter_side(struct comm *c, MPI_Comm local)
{
    int slot = 1;
    while (slot < MAX_COMMS && comms[slot].used)
        slot++;
    if (slot == MAX_COMMS)
        return MPI_COMM_NULL;
    struct comm *d = &comms[slot];
    comm_alloc(d, c->size);
    memcpy(d->world, c->world, sizeof(int) * (size_t)c->size);
    d->local = local;
    return (MPI_Comm)(0x84000000u | (unsigned)slot);
}

/* Joins two groups' records (under `big`). */
static void inter_join(struct comm *a, struct comm *b)
{
    b->context = a->context;
    a->remote = malloc(sizeof(int) * (size_t)b->size);
    memcpy(a->remote, b->world, sizeof(int) * (size_t)b->size);
    a->remote_size = b->size;
    b->remote = malloc(sizeof(int) * (size_t)a->size);
    memcpy(b->remote, a->world, sizeof(int) * (size_t)a->size);
    b->remote_size = a->size;
    struct inter_pair *p = calloc(1, sizeof *p);
    p->refs = 2;
    a->pair = b->pair = p;
    a->side = 0;
    b->side = 1;
}

int MPI_Intercomm_create(MPI_Comm local_comm, int local_leader, MPI_Comm peer_comm,
                         int remote_leader, int tag, MPI_Comm *newintercomm)
{
    const char *fn = "MPI_Intercomm_create";
    started(fn);
    COMM(fn, local_comm, c);
    if (local_leader < 0 || local_leader >= c->size)
        return fail(local_comm, c, MPI_ERR_RANK, fn, "invalid local leader %d", local_leader);
    MPI_Comm local;
    int err = MPI_Comm_dup(local_comm, &local);
    if (err)
        return err;
    MPI_Comm made = MPI_COMM_NULL;
    if (rank_in(c, me()) == local_leader) {
        struct comm *p = comm_of(peer_comm);
        if (!p || remote_leader < 0 || remote_leader >= p->size)
            return fail(local_comm, c, MPI_ERR_RANK, fn, "invalid remote leader %d",
                        remote_leader);
        int self = me(), other = p->world[remote_leader];
        pthread_mutex_lock(&big);
        made = inter_side(c, local);
        struct inter_wait *w = NULL;
        for (int k = 0; k < MAX_INTER_WAITS && !w; k++)
            if (inter_waits[k].used && inter_waits[k].tag == tag &&
                inter_waits[k].from == other && inter_waits[k].to == self && !inter_waits[k].answer)
                w = &inter_waits[k];
        if (w) {
            /* The remote leader came first: join its group's record. */
            inter_join(comm_of(w->made), comm_of(made));
            w->answer = made;
            wake(other);
        } else {
            for (int k = 0; k < MAX_INTER_WAITS && !w; k++)
                if (!inter_waits[k].used)
                    w = &inter_waits[k];
            if (!w) {
                pthread_mutex_unlock(&big);
                return fail(local_comm, c, MPI_ERR_INTERN, fn, "too many leaders waiting");
            }
            *w = (struct inter_wait){1, tag, self, other, made, 0};
            while (!w->answer)
                block(fn);
            w->used = 0;
        }
        pthread_mutex_unlock(&big);
    }
    err = MPI_Bcast(&made, 1, MPI_INT, local_leader, local);
    *newintercomm = made;
    return err;
}

#define INTER(fn, h, c)                                                                       \
    started(fn);                                                                              \
    COMM(fn, h, c);                                                                           \
    if (!c->remote)                                                                           \
        return fail(h, c, MPI_ERR_COMM, fn, "not an intercommunicator");

int MPI_Comm_test_inter(MPI_Comm comm, int *flag)
{
    started("MPI_Comm_test_inter");
    COMM("MPI_Comm_test_inter", comm, c);
    *flag = c->remote != NULL;
    return MPI_SUCCESS;
}

int MPI_Comm_remote_size(MPI_Comm comm, int *size)
{
    INTER("MPI_Comm_remote_size", comm, c);
    *size = c->remote_size;
    return MPI_SUCCESS;
}

int MPI_Comm_remote_group(MPI_Comm comm, MPI_Group *group)
{
    INTER("MPI_Comm_remote_group", comm, c);
    pthread_mutex_lock(&big);
    int err = new_group(c->remote, c->remote_size, group);
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Intercomm_merge(MPI_Comm intercomm, int high, MPI_Comm *newintracomm)
{
    const char *fn = "MPI_Intercomm_merge";
    INTER(fn, intercomm, c);
    MPI_Comm made = MPI_COMM_NULL;
    if (rank_in(c, me()) == 0) {
        pthread_mutex_lock(&big);
        struct inter_pair *p = c->pair;
        unsigned seq = p->merges[c->side]++;
        struct merge *m = p->pending;
        while (m && m->seq != seq)
            m = m->next;
        if (!m) {
            m = calloc(1, sizeof *m);
            m->seq = seq;
            m->next = p->pending;
            p->pending = m;
        }
        m->high[c->side] = high != 0;
        m->side[c->side] = c;
        if (++m->arrived == 2) {
            /* The group that asked for the low ranks first; if both asked
             * alike, the group whose leader began the intercommunicator. */
            int first = m->high[0] && !m->high[1] ? 1 : 0;
            struct comm *a = m->side[first], *b = m->side[1 - first];
            int slot = 1;
            while (slot < MAX_COMMS && comms[slot].used)
                slot++;
            if (slot < MAX_COMMS) {
                comm_alloc(&comms[slot], a->size + b->size);
                memcpy(comms[slot].world, a->world, sizeof(int) * (size_t)a->size);
                memcpy(comms[slot].world + a->size, b->world, sizeof(int) * (size_t)b->size);
                m->made = (MPI_Comm)(0x84000000u | (unsigned)slot);
            }
            m->ready = 1;
            wake(m->side[1 - c->side]->world[0]);
        } else {
            while (!m->ready)
                block(fn);
        }
        made = m->made;
        if (++m->taken == 2) {
            for (struct merge **q = &p->pending; *q; q = &(*q)->next)
                if (*q == m) {
                    *q = m->next;
                    break;
                }
            free(m);
        }
        pthread_mutex_unlock(&big);
        if (made == MPI_COMM_NULL)
            return fail(intercomm, c, MPI_ERR_INTERN, fn, "too many communicators");
    }
    int err = MPI_Bcast(&made, 1, MPI_INT, 0, c->local);
    *newintracomm = made;
    return err;
}

/* Under `big`, as a member frees an intercommunicator's record. */
static void inter_drop(struct comm *c)
{
    free(c->remote);
    if (c->pair && --c->pair->refs == 0)
        free(c->pair);
}
