/*
 * One-sided communication, included by mpi.c after nbc.c. Every member's
 * window is memory of this process, so a Put, Get or Accumulate is a copy
 * into or out of the target's window, done at once under the library's
 * lock (each accumulate is atomic with respect to the others, as the
 * standard asks). Completing an operation early is allowed in every
 * synchronisation mode; what remains of an epoch is its synchronisation:
 * fences are barriers, locks exclude as their kind says, and
 * post/start/complete/wait counts who may go on.
 *
 * A window keeps a duplicate of its communicator, so its fences and
 * barriers never match the program's own collectives.
 */

#define MAX_WINS 1024

struct win {
    int used, frees;
    MPI_Comm comm; /* the window's own duplicate */
    int size;      /* members */
    char **base;
    MPI_Aint *bytes;
    int *disp_unit;
    int *allocated; /* Win_allocate's memory, freed with the window */
    int flavor, model;
    int *excl;    /* per target: the window rank holding it exclusively, +1 */
    int *shared;  /* per target: shared holders */
    int *posted;  /* [target * size + origin]: posts not yet started */
    int *done;    /* per target: origins that completed its exposure */
    int *expose;  /* per target: how many origins its post named */
    int **access; /* per origin: the targets its start named (-1 ended) */
    int *naccess;
    struct region **attached; /* a dynamic window's: per member, what it attached */
    char name[MPI_MAX_OBJECT_NAME];
};

/* Memory a member attached to a dynamic window (MPI_Win_attach). */
struct region {
    char *base;
    MPI_Aint bytes;
    struct region *next;
};

static struct win wins[MAX_WINS];

static struct win *win_of(MPI_Win h)
{
    unsigned i = (unsigned)h & 0xffffff;
    if (((unsigned)h >> 24) != 0xa0 || i == 0 || i >= MAX_WINS || !wins[i].used)
        return NULL;
    return &wins[i];
}

#define WIN(fn, h, w)                                                                         \
    started(fn);                                                                              \
    struct win *w = win_of(h);                                                                \
    if (!w)                                                                                   \
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_WIN, fn, "invalid window 0x%x",         \
                    (unsigned)(h));

/* The caller's rank in the window. */
static int win_rank(struct win *w)
{
    return rank_in(comm_of(w->comm), me());
}

static int win_make(void *base, MPI_Aint size, int disp_unit, MPI_Comm comm, int flavor,
                    MPI_Win *win, const char *fn)
{
    started(fn);
    COMM(fn, comm, c);
    if (size < 0)
        return fail(comm, c, MPI_ERR_SIZE, fn, "negative size %ld", (long)size);
    if (disp_unit <= 0)
        return fail(comm, c, MPI_ERR_DISP, fn, "invalid displacement unit %d", disp_unit);
    MPI_Comm dup;
    int err = MPI_Comm_dup(comm, &dup);
    if (err)
        return err;
    int r = rank_in(c, me());
    pthread_mutex_lock(&big);
    /* The first member of the new communicator makes the window; the
     * communicator's slot names it for the others. */
    struct comm *d = comm_of(dup);
    int slot = (int)(dup & 0xffffff) % MAX_WINS;
    if (!slot)
        slot = 1;
    struct win *w = NULL;
    for (int k = 0; k < MAX_WINS && !w; k++) {
        int i = (slot + k) % MAX_WINS;
        if (i && wins[i].used && wins[i].comm == dup)
            w = &wins[i];
    }
    for (int k = 0; k < MAX_WINS && !w; k++) {
        int i = (slot + k) % MAX_WINS;
        if (i && !wins[i].used) {
            w = &wins[i];
            int n = d->size;
            *w = (struct win){.used = 1, .comm = dup, .size = n, .flavor = flavor,
                              .model = MPI_WIN_UNIFIED};
            w->base = calloc((size_t)n, sizeof *w->base);
            w->bytes = calloc((size_t)n, sizeof *w->bytes);
            w->disp_unit = calloc((size_t)n, sizeof(int));
            w->allocated = calloc((size_t)n, sizeof(int));
            w->excl = calloc((size_t)n, sizeof(int));
            w->shared = calloc((size_t)n, sizeof(int));
            w->posted = calloc((size_t)n * (size_t)n, sizeof(int));
            w->done = calloc((size_t)n, sizeof(int));
            w->expose = calloc((size_t)n, sizeof(int));
            w->access = calloc((size_t)n, sizeof(int *));
            w->naccess = calloc((size_t)n, sizeof(int));
            w->attached = calloc((size_t)n, sizeof *w->attached);
        }
    }
    if (!w) {
        pthread_mutex_unlock(&big);
        return fail(comm, c, MPI_ERR_INTERN, fn, "too many windows");
    }
    w->base[r] = base;
    w->bytes[r] = size;
    w->disp_unit[r] = disp_unit;
    w->allocated[r] = flavor == MPI_WIN_FLAVOR_ALLOCATE || flavor == MPI_WIN_FLAVOR_SHARED;
    *win = (MPI_Win)(0xa0000000u | (unsigned)(w - wins));
    pthread_mutex_unlock(&big);
    /* Every member's memory is known before anyone may reach it. */
    return MPI_Barrier(dup);
}

int MPI_Win_create(void *base, MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm,
                   MPI_Win *win)
{
    (void)info;
    return win_make(base, size, disp_unit, comm, MPI_WIN_FLAVOR_CREATE, win, "MPI_Win_create");
}

static int win_alloc(MPI_Aint size, int disp_unit, MPI_Comm comm, void *baseptr, MPI_Win *win,
                     int flavor, const char *fn)
{
    void *mem = calloc(1, size > 0 ? (size_t)size : 1);
    if (!mem)
        return fail(comm, comm_of(comm), MPI_ERR_NO_MEM, fn, "cannot allocate %ld bytes",
                    (long)size);
    *(void **)baseptr = mem;
    int err = win_make(mem, size, disp_unit, comm, flavor, win, fn);
    if (err)
        free(mem);
    return err;
}

int MPI_Win_allocate(MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm, void *baseptr,
                     MPI_Win *win)
{
    (void)info;
    return win_alloc(size, disp_unit, comm, baseptr, win, MPI_WIN_FLAVOR_ALLOCATE,
                     "MPI_Win_allocate");
}

int MPI_Win_allocate_shared(MPI_Aint size, int disp_unit, MPI_Info info, MPI_Comm comm,
                            void *baseptr, MPI_Win *win)
{
    (void)info;
    return win_alloc(size, disp_unit, comm, baseptr, win, MPI_WIN_FLAVOR_SHARED,
                     "MPI_Win_allocate_shared");
}

int MPI_Win_shared_query(MPI_Win win, int rank, MPI_Aint *size, int *disp_unit, void *baseptr)
{
    WIN("MPI_Win_shared_query", win, w);
    if (rank < 0 || rank >= w->size)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_RANK, "MPI_Win_shared_query",
                    "invalid rank %d", rank);
    pthread_mutex_lock(&big);
    *size = w->bytes[rank];
    *disp_unit = w->disp_unit[rank];
    *(void **)baseptr = w->base[rank];
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_free(MPI_Win *win)
{
    WIN("MPI_Win_free", *win, w);
    MPI_Comm comm = w->comm;
    delete_attrs(*win);
    /* Nobody frees memory another member may still reach. */
    int err = MPI_Barrier(comm);
    if (err)
        return err;
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    if (w->allocated[r])
        free(w->base[r]);
    free(w->access[r]);
    while (w->attached[r]) {
        struct region *next = w->attached[r]->next;
        free(w->attached[r]);
        w->attached[r] = next;
    }
    if (++w->frees == w->size) {
        free(w->attached);
        free(w->base);
        free(w->bytes);
        free(w->disp_unit);
        free(w->allocated);
        free(w->excl);
        free(w->shared);
        free(w->posted);
        free(w->done);
        free(w->expose);
        free(w->access);
        free(w->naccess);
        memset(w, 0, sizeof *w);
    }
    pthread_mutex_unlock(&big);
    *win = MPI_WIN_NULL;
    return MPI_Comm_free(&comm);
}

int MPI_Win_fence(int assert_, MPI_Win win)
{
    (void)assert_;
    WIN("MPI_Win_fence", win, w);
    return MPI_Barrier(w->comm);
}

/* ---- the operations ----------------------------------------------------- */

/* Where target_disp of target lies, checked (under `big`). */
static int target_span(struct win *w, int target, MPI_Aint disp, int count, MPI_Datatype t,
                       struct span *out, const char *fn)
{
    if (target < 0 || target >= w->size)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RANK, fn, "invalid target rank %d",
                    target);
    if (!known_type(t))
        return fail(w->comm, comm_of(w->comm), MPI_ERR_TYPE, fn, "invalid datatype 0x%x",
                    (unsigned)t);
    MPI_Aint at = disp * w->disp_unit[target];
    MPI_Aint end = count > 0 ? at + (MPI_Aint)(count - 1) * extent_of(t) + extent_of(t) : at;
    if (w->flavor == MPI_WIN_FLAVOR_DYNAMIC) {
        /* The displacement is an address (MPI_Get_address of the target's
         * memory): valid if some memory the target attached holds it all. */
        for (struct region *g = w->attached[target]; g; g = g->next)
            if (at >= (MPI_Aint)g->base && end <= (MPI_Aint)g->base + g->bytes) {
                *out = (struct span){(char *)at, count, t};
                return 0;
            }
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RMA_RANGE, fn,
                    "bytes 0x%lx to 0x%lx are in no memory rank %d attached to its window",
                    (long)at, (long)end, target);
    }
    if (at < 0 || end > w->bytes[target])
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RMA_RANGE, fn,
                    "bytes %ld to %ld are outside rank %d's window of %ld", (long)at, (long)end,
                    target, (long)w->bytes[target]);
    *out = (struct span){w->base[target] + at, count, t};
    return 0;
}

int MPI_Put(const void *origin, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp,
            int tcount, MPI_Datatype ttype, MPI_Win win)
{
    WIN("MPI_Put", win, w);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    pthread_mutex_lock(&big);
    struct span t;
    int err = target_span(w, target, tdisp, tcount, ttype, &t, "MPI_Put");
    if (!err)
        xfer((struct span){(char *)origin, ocount, otype}, t);
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Get(void *origin, int ocount, MPI_Datatype otype, int target, MPI_Aint tdisp, int tcount,
            MPI_Datatype ttype, MPI_Win win)
{
    WIN("MPI_Get", win, w);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    pthread_mutex_lock(&big);
    struct span t;
    int err = target_span(w, target, tdisp, tcount, ttype, &t, "MPI_Get");
    if (!err)
        xfer(t, (struct span){origin, ocount, otype});
    pthread_mutex_unlock(&big);
    return err;
}

/* The basic type the elements of t are made of (t itself if predefined),
 * or 0. */
static MPI_Datatype basic_of(MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    return d ? d->basic : t;
}

/* Under `big`: combines origin into the target span with op (REPLACE
 * writes, NO_OP leaves it). 0, or an MPI error class. */
static int accumulate_into(const void *origin, int ocount, MPI_Datatype otype, struct span t,
                           MPI_Op op)
{
    if (op == MPI_NO_OP)
        return 0;
    if (op == MPI_REPLACE) {
        xfer((struct span){(char *)origin, ocount, otype}, t);
        return 0;
    }
    MPI_Datatype basic = basic_of(t.t);
    if (!basic || basic_of(otype) != basic || !reducible(basic, op))
        return MPI_ERR_OP;
    size_t bytes = (size_t)t.count * type_size(t.t);
    size_t ob = (size_t)ocount * type_size(otype);
    if (ob < bytes)
        bytes = ob;
    char *in = malloc(bytes ? bytes : 1), *acc = malloc(bytes ? bytes : 1);
    pack(origin, ocount, otype, in); /* packs ocount elements: ob >= bytes */
    /* The target's elements, packed, combined, and put back. */
    char *whole = malloc((size_t)t.count * type_size(t.t) + 1);
    pack(t.p, t.count, t.t, whole);
    memcpy(acc, whole, bytes);
    int bad = combine(acc, in, bytes / type_size(basic), basic, op);
    if (!bad)
        unpack(acc, bytes, t.p, t.t);
    free(whole);
    free(in);
    free(acc);
    return bad ? MPI_ERR_OP : 0;
}

static int accumulate(const void *origin, int ocount, MPI_Datatype otype, void *result,
                      int rcount, MPI_Datatype rtype, int target, MPI_Aint tdisp, int tcount,
                      MPI_Datatype ttype, MPI_Op op, MPI_Win win, const char *fn)
{
    WIN(fn, win, w);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    pthread_mutex_lock(&big);
    struct span t;
    int err = target_span(w, target, tdisp, tcount, ttype, &t, fn);
    if (!err && result)
        xfer(t, (struct span){result, rcount, rtype});
    if (!err)
        err = accumulate_into(origin, ocount, otype, t, op);
    pthread_mutex_unlock(&big);
    if (err == MPI_ERR_OP)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_OP, fn,
                    "operation 0x%x does not apply to datatype 0x%x", (unsigned)op,
                    (unsigned)ttype);
    return err;
}

int MPI_Accumulate(const void *origin, int ocount, MPI_Datatype otype, int target,
                   MPI_Aint tdisp, int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
    return accumulate(origin, ocount, otype, NULL, 0, 0, target, tdisp, tcount, ttype, op, win,
                      "MPI_Accumulate");
}

int MPI_Get_accumulate(const void *origin, int ocount, MPI_Datatype otype, void *result,
                       int rcount, MPI_Datatype rtype, int target, MPI_Aint tdisp, int tcount,
                       MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
    return accumulate(origin, ocount, otype, result, rcount, rtype, target, tdisp, tcount, ttype,
                      op, win, "MPI_Get_accumulate");
}

int MPI_Fetch_and_op(const void *origin, void *result, MPI_Datatype t, int target,
                     MPI_Aint tdisp, MPI_Op op, MPI_Win win)
{
    return accumulate(origin, 1, t, result, 1, t, target, tdisp, 1, t, op, win,
                      "MPI_Fetch_and_op");
}

int MPI_Compare_and_swap(const void *origin, const void *compare, void *result, MPI_Datatype t,
                         int target, MPI_Aint tdisp, MPI_Win win)
{
    WIN("MPI_Compare_and_swap", win, w);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    pthread_mutex_lock(&big);
    struct span s;
    int err = target_span(w, target, tdisp, 1, t, &s, "MPI_Compare_and_swap");
    if (!err) {
        size_t n = type_size(t);
        memcpy(result, s.p, n);
        if (!memcmp(s.p, compare, n))
            memcpy(s.p, origin, n);
    }
    pthread_mutex_unlock(&big);
    return err;
}

/* ---- passive target: locks ---------------------------------------------- */

/* Under `big`: wakes every member (a lock or an exposure changed). */
static void win_wake_all(struct win *w)
{
    struct comm *c = comm_of(w->comm);
    for (int k = 0; k < c->size; k++)
        wake(c->world[k]);
}

static int lock_one(struct win *w, int lock_type, int target, int me_, const char *fn)
{
    if (target < 0 || target >= w->size)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RANK, fn, "invalid target rank %d",
                    target);
    if (lock_type == MPI_LOCK_EXCLUSIVE) {
        while (w->excl[target] || w->shared[target])
            block(fn);
        w->excl[target] = me_ + 1;
    } else {
        while (w->excl[target])
            block(fn);
        w->shared[target]++;
    }
    return 0;
}

static void unlock_one(struct win *w, int target, int me_)
{
    if (w->excl[target] == me_ + 1)
        w->excl[target] = 0;
    else if (w->shared[target] > 0)
        w->shared[target]--;
}

int MPI_Win_lock(int lock_type, int target, int assert_, MPI_Win win)
{
    (void)assert_;
    WIN("MPI_Win_lock", win, w);
    if (lock_type != MPI_LOCK_EXCLUSIVE && lock_type != MPI_LOCK_SHARED)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_LOCKTYPE, "MPI_Win_lock",
                    "invalid lock type %d", lock_type);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    int err = lock_one(w, lock_type, target, r, "MPI_Win_lock");
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Win_unlock(int target, MPI_Win win)
{
    WIN("MPI_Win_unlock", win, w);
    if (target == MPI_PROC_NULL)
        return MPI_SUCCESS;
    if (target < 0 || target >= w->size)
        return fail(w->comm, comm_of(w->comm), MPI_ERR_RANK, "MPI_Win_unlock",
                    "invalid target rank %d", target);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    unlock_one(w, target, r);
    win_wake_all(w);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_lock_all(int assert_, MPI_Win win)
{
    (void)assert_;
    WIN("MPI_Win_lock_all", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    for (int k = 0; k < w->size; k++)
        lock_one(w, MPI_LOCK_SHARED, k, r, "MPI_Win_lock_all");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_unlock_all(MPI_Win win)
{
    WIN("MPI_Win_unlock_all", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    for (int k = 0; k < w->size; k++)
        unlock_one(w, k, r);
    win_wake_all(w);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* Every operation is complete when its call returns: flushing and
 * synchronising the copies have nothing left to do. */
#define NOTHING_LEFT(name, params, check)                                                     \
    int name params                                                                           \
    {                                                                                         \
        WIN(#name, win, w);                                                                   \
        (void)w;                                                                              \
        check;                                                                                \
        return MPI_SUCCESS;                                                                   \
    }
NOTHING_LEFT(MPI_Win_flush, (int rank, MPI_Win win), (void)rank)
NOTHING_LEFT(MPI_Win_flush_local, (int rank, MPI_Win win), (void)rank)
NOTHING_LEFT(MPI_Win_flush_all, (MPI_Win win), )
NOTHING_LEFT(MPI_Win_flush_local_all, (MPI_Win win), )
NOTHING_LEFT(MPI_Win_sync, (MPI_Win win), )

/* ---- general active target: post, start, complete, wait ------------------ */

/* The window ranks of a group's members (a new array; n set). */
static int *win_ranks_of(struct win *w, MPI_Group group, int *n)
{
    struct group *g = group_of(group);
    struct comm *c = comm_of(w->comm);
    *n = g ? g->size : 0;
    int *out = malloc(sizeof(int) * (size_t)(*n > 0 ? *n : 1));
    for (int k = 0; k < *n; k++)
        out[k] = rank_in(c, g->world[k]);
    return out;
}

int MPI_Win_post(MPI_Group group, int assert_, MPI_Win win)
{
    (void)assert_;
    WIN("MPI_Win_post", win, w);
    int r = win_rank(w), n;
    pthread_mutex_lock(&big);
    int *origins = win_ranks_of(w, group, &n);
    w->expose[r] = n;
    w->done[r] = 0;
    for (int k = 0; k < n; k++)
        if (origins[k] >= 0)
            w->posted[r * w->size + origins[k]]++;
    free(origins);
    win_wake_all(w);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_start(MPI_Group group, int assert_, MPI_Win win)
{
    (void)assert_;
    WIN("MPI_Win_start", win, w);
    int r = win_rank(w), n;
    pthread_mutex_lock(&big);
    int *targets = win_ranks_of(w, group, &n);
    /* Each target's exposure must have begun before its window is used. */
    for (int k = 0; k < n; k++) {
        if (targets[k] < 0)
            continue;
        while (!w->posted[targets[k] * w->size + r])
            block("MPI_Win_start");
        w->posted[targets[k] * w->size + r]--;
    }
    free(w->access[r]);
    w->access[r] = targets;
    w->naccess[r] = n;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_complete(MPI_Win win)
{
    WIN("MPI_Win_complete", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    for (int k = 0; k < w->naccess[r]; k++)
        if (w->access[r][k] >= 0)
            w->done[w->access[r][k]]++;
    free(w->access[r]);
    w->access[r] = NULL;
    w->naccess[r] = 0;
    win_wake_all(w);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* Whether every origin of the caller's exposure completed (under `big`);
 * if so, the exposure ends. */
static int exposure_over(struct win *w, int r)
{
    if (w->done[r] < w->expose[r])
        return 0;
    w->done[r] -= w->expose[r];
    w->expose[r] = 0;
    return 1;
}

int MPI_Win_wait(MPI_Win win)
{
    WIN("MPI_Win_wait", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    while (w->done[r] < w->expose[r])
        block("MPI_Win_wait");
    exposure_over(w, r);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Win_test(MPI_Win win, int *flag)
{
    WIN("MPI_Win_test", win, w);
    int r = win_rank(w);
    pthread_mutex_lock(&big);
    *flag = exposure_over(w, r);
    pthread_mutex_unlock(&big);
    if (!*flag)
        sched_yield();
    return MPI_SUCCESS;
}

/* ---- asking a window ------------------------------------------------------ */

int MPI_Win_get_attr(MPI_Win win, int keyval, void *value, int *flag)
{
    WIN("MPI_Win_get_attr", win, w);
    int r = win_rank(w);
    /* Values of the predefined attributes are addresses (of the base
     * itself for MPI_WIN_BASE) that stay valid while the window lives. */
    *flag = 1;
    switch (keyval) {
    case MPI_WIN_BASE:
        *(void **)value = w->base[r];
        break;
    case MPI_WIN_SIZE:
        *(void **)value = &w->bytes[r];
        break;
    case MPI_WIN_DISP_UNIT:
        *(void **)value = &w->disp_unit[r];
        break;
    case MPI_WIN_CREATE_FLAVOR:
        *(void **)value = &w->flavor;
        break;
    case MPI_WIN_MODEL:
        *(void **)value = &w->model;
        break;
    default:
        return user_attr(win, keyval, value, flag);
    }
    return MPI_SUCCESS;
}

int MPI_Win_get_group(MPI_Win win, MPI_Group *group)
{
    WIN("MPI_Win_get_group", win, w);
    return MPI_Comm_group(w->comm, group);
}

int MPI_Win_set_name(MPI_Win win, const char *name)
{
    WIN("MPI_Win_set_name", win, w);
    snprintf(w->name, sizeof w->name, "%s", name);
    return MPI_SUCCESS;
}

int MPI_Win_get_name(MPI_Win win, char *name, int *resultlen)
{
    WIN("MPI_Win_get_name", win, w);
    snprintf(name, MPI_MAX_OBJECT_NAME, "%s", w->name);
    *resultlen = (int)strlen(name);
    return MPI_SUCCESS;
}
