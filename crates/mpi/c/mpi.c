/*
 * weaves' in-process MPI: one shared bead serving every rank of a tapestry.
 *
 * Each rank is a string (a fiber) of the same program, loaded as its own
 * bead; this module is loaded once and shared by all of them. It speaks the
 * MPICH ABI (weaves_mpi.h), so binaries built with MPICH's compilers bind to
 * it in place of libmpich.so.12.
 *
 * Which rank calls: a string's environment says (WEAVES_MPI_RANK and
 * WEAVES_MPI_SIZE, set by `weaves mpirun`); threads a rank starts inherit it.
 *
 * Waiting: one mutex guards everything and each rank waits on its own
 * condition variable. The runtime interposes both, so a waiting rank parks
 * its fiber and its worker runs other ranks.
 *
 * Point to point copies once: a send that finds its receive posted copies
 * straight into the receive buffer; otherwise the send is queued at the
 * destination *by reference* and the sender waits until a receive copies
 * from its buffer (rendezvous). Programs that rely on buffered sends (every
 * rank sends first) would deadlock under pure rendezvous; when every live
 * rank waits, queued sends are copied into buffers instead, and if none is
 * queued the job stops with a report of what each rank waits for.
 *
 * Collectives run in shared memory: each member publishes its buffer
 * pointers, and after a barrier every rank reads or combines the others'
 * data directly; a second barrier keeps the buffers alive until all are
 * done.
 */
#define _GNU_SOURCE
#include "weaves_mpi.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The runtime's: whether this string's worker has another string to run
 * (include/weaves.h). */
int wv_others_ready(void);

/* ---- state ------------------------------------------------------------ */

struct req {
    int is_send;
    int done;        /* set last, with a release store (see complete): its
                        owner may poll it without `big` and return at once */
    int owner;       /* world rank waiting for it */
    int context;
    int tag;         /* send: its tag; recv: wanted tag or ANY */
    int peer;        /* send: sender's rank in comm; recv: wanted source or ANY */
    const void *sbuf; /* send: the sender's data (or `eager`) */
    void *rbuf;       /* recv: destination */
    size_t bytes;     /* send: size; recv: capacity */
    int dest;         /* send: destination world rank */
    void *eager;      /* send: a copy, when the sender could not wait */
    int detached;     /* nobody waits for it: whoever completes it frees it */
    int handle;       /* its MPI_Request, or 0 */
    MPI_Status st;    /* recv: what arrived */
    size_t arrived;   /* recv: the whole message's size (more than bytes: truncated) */
    const char *what; /* for deadlock reports */
    int cancelled;    /* MPI_Cancel took it back */
    void *unpack_to;  /* recv of a non-contiguous type: where rbuf (a
                         contiguous copy) is unpacked as it arrives */
    MPI_Datatype utype;
    int owns_eager;   /* send: `eager` is a packed copy it frees */
    struct greq *greq; /* a generalized request's callbacks (grequest.c) */
    struct req *next;
};

struct rank {
    pthread_cond_t cv;
    struct req *unexpected, *unexpected_tail; /* sends waiting for a receive */
    struct req *posted, *posted_tail;         /* receives waiting for a send */
    int initialized, finalized, waiting;
    int blocked; /* its threads in pthread_cond_wait on cv (not polling) */
    const char *waits_in;
    void *bsend_buffer; /* MPI_Buffer_attach's (the rank's own, as a process's) */
    int bsend_size;
};

/* What a member asks of a collective. Every member of the communicator
 * must ask the same: the same operation, root and (where the standard
 * requires it) the same amount of data and reduction. */
struct sig {
    const char *fn;
    int root;        /* NO_ROOT where the operation has none */
    long long bytes; /* ANY_BYTES where members may differ */
    unsigned op;     /* 0 where the operation reduces nothing */
};
#define NO_ROOT (-1)
#define ANY_BYTES (-1LL)

struct nbc;

struct comm {
    char name[128]; /* MPI_Comm_set_name's */
    int used;
    int size;
    int *world;   /* world rank of each member */
    int context;
    int frees;
    MPI_Errhandler errh;
    /* collectives */
    int arrived;
    unsigned gen;
    const void **in;
    void **out;
    int *aux1, *aux2, *aux3;
    struct sig *sigs;
    /* Non-blocking collectives: how many each member has begun, and the
     * operations not every member has joined yet. */
    unsigned *nbc_begun;
    struct nbc *nbc_pending;
    /* A Cartesian topology (ndims > 0), set by MPI_Cart_create. */
    int ndims;
    int *dims, *periods;
    struct topo *topo; /* a graph or distributed graph (graph.c) */
    /* An intercommunicator's side (intercomm.c): the other group's world
     * ranks, a duplicate of this group's own communicator, and what both
     * sides share. */
    int *remote, remote_size;
    MPI_Comm local;
    struct inter_pair *pair;
    int side;
};

static pthread_mutex_t big = PTHREAD_MUTEX_INITIALIZER;
static int world_size = -1;
static struct rank *ranks;
static int live, waiting;

#define MAX_COMMS 4096
static struct comm comms[MAX_COMMS]; /* [0]: MPI_COMM_WORLD */
static struct comm *self_comms;      /* MPI_COMM_SELF of each rank */
static int next_context = 2;

#define MAX_REQUESTS 65536
static struct req *requests[MAX_REQUESTS];
static int next_request = 1;

static __thread int my_rank = -1;

static void comm_alloc(struct comm *c, int size)
{
    c->used = 1;
    c->size = size;
    c->world = calloc(size, sizeof(int));
    c->in = calloc(size, sizeof(void *));
    c->out = calloc(size, sizeof(void *));
    c->aux1 = calloc(size, sizeof(int));
    c->aux2 = calloc(size, sizeof(int));
    c->aux3 = calloc(size, sizeof(int));
    c->sigs = calloc(size, sizeof(struct sig));
    c->nbc_begun = calloc(size, sizeof(unsigned));
    c->nbc_pending = NULL;
    c->context = next_context;
    next_context += 2;
    c->errh = MPI_ERRORS_ARE_FATAL;
    c->arrived = 0;
    c->frees = 0;
}

/* ---- errors ----------------------------------------------------------- */

static void job_exit(int code) __attribute__((noreturn));
static void job_exit(int code)
{
    fflush(NULL);
    syscall(SYS_exit_group, code);
    for (;;) {
    }
}

/* The job ends for one reason, told once: the first rank to end it goes
 * on (returns here); any other that tries meanwhile waits for the end. */
static void ending(void)
{
    static int ended;
    if (__atomic_exchange_n(&ended, 1, __ATOMIC_SEQ_CST)) {
        for (;;)
            pause();
    }
    fflush(stdout);
}

static int me(void)
{
    if (my_rank < 0) {
        const char *r = getenv("WEAVES_MPI_RANK");
        my_rank = r ? atoi(r) : 0;
    }
    return my_rank;
}

static const char *comm_name(MPI_Comm h)
{
    if (h == MPI_COMM_WORLD)
        return "MPI_COMM_WORLD";
    if (h == MPI_COMM_SELF)
        return "MPI_COMM_SELF";
    return "a communicator";
}

/* Reports an error as the communicator's handler says: fatal (the default:
 * the message and the end of the job) or returned. */
static int fail(MPI_Comm h, struct comm *c, int code, const char *fn, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)h;
    if (c && c->errh == MPI_ERRORS_RETURN)
        return code;
    ending();
    fprintf(stderr, "weaves mpi: rank %d: Fatal error in %s: %s\n", me(), fn, msg);
    job_exit(1);
}

static int started(const char *fn)
{
    int r = me();
    if (world_size < 0 || !ranks || !ranks[r].initialized) {
        ending();
        fprintf(stderr, "weaves mpi: rank %d: %s called before MPI_Init\n", r, fn);
        job_exit(1);
    }
    if (ranks[r].finalized) {
        ending();
        fprintf(stderr, "weaves mpi: rank %d: %s called after MPI_Finalize\n", r, fn);
        job_exit(1);
    }
    return r;
}

static struct comm *comm_of(MPI_Comm h)
{
    if (h == MPI_COMM_WORLD)
        return &comms[0];
    if (h == MPI_COMM_SELF)
        return &self_comms[me()];
    if ((unsigned)h >> 24 == 0x84) {
        int i = h & 0xffffff;
        if (i > 0 && i < MAX_COMMS && comms[i].used)
            return &comms[i];
    }
    return NULL;
}

#define COMM(fn, h, c)                                                                        \
    struct comm *c = comm_of(h);                                                              \
    if (!c)                                                                                   \
        return fail(h, NULL, MPI_ERR_COMM, fn, "invalid communicator 0x%x", (unsigned)(h));

static int rank_in(struct comm *c, int world)
{
    for (int i = 0; i < c->size; i++)
        if (c->world[i] == world)
            return i;
    return -1;
}

/* ---- datatypes and operations ----------------------------------------- */

enum kind { K_NONE, K_INT, K_UINT, K_FLOAT };

/* The value-and-index types of MINLOC and MAXLOC (MPICH's handles
 * 0x8c00000k, laid out as the C structs {value; int}). */
struct pair_type {
    MPI_Datatype t;
    size_t size, value_size;
    int is_float;
    int index_like_value; /* Fortran's 2REAL, 2DOUBLE_PRECISION: the index is
                             a value of the same type */
};
static const struct pair_type pair_types[] = {
    {MPI_FLOAT_INT, 8, 4, 1, 0},        {MPI_DOUBLE_INT, 16, 8, 1, 0},
    {MPI_LONG_INT, 16, 8, 0, 0},        {MPI_SHORT_INT, 8, 2, 0, 0},
    {MPI_LONG_DOUBLE_INT, 32, 16, 1, 0}, {MPI_2INT, 8, 4, 0, 1},
    {MPI_2INTEGER, 8, 4, 0, 1},         {MPI_2REAL, 8, 4, 1, 1},
    {MPI_2DOUBLE_PRECISION, 16, 8, 1, 1},
};

static const struct pair_type *pair_of(MPI_Datatype t)
{
    for (size_t k = 0; k < sizeof pair_types / sizeof *pair_types; k++)
        if (pair_types[k].t == t)
            return &pair_types[k];
    return NULL;
}

/* Attributes (defined with the other per-rank objects, further on). */
struct keyval;
static struct keyval *keyval_of(int k);
static int user_attr(MPI_Comm comm, int keyval, void *value, int *flag);
static void copy_attrs(MPI_Comm from, MPI_Comm to);
struct greq;
struct topo;
static void topo_drop(struct topo *t);
static struct topo *topo_share(struct topo *t);
struct inter_pair;
static void inter_drop(struct comm *c);
static int topo_kind(const struct topo *t);
static void greq_finish(struct req *r);
static void greq_cancel(struct req *r);
static void delete_attrs(MPI_Comm comm);

/* Derived datatypes (datatypes.c, included at the end). */
struct dtype;
static struct dtype *dtype_of(MPI_Datatype t);
static size_t derived_size(MPI_Datatype t);
static int contiguous(MPI_Datatype t);
static void pack(const void *buf, int count, MPI_Datatype t, void *out);
static void unpack(const void *in, size_t bytes, void *buf, MPI_Datatype t);
static void user_combine_laid_out(MPI_User_function *fn, void *acc, const void *in, size_t count,
                                  MPI_Datatype t);

static size_t type_size(MPI_Datatype t)
{
    if (((unsigned)t >> 24) == 0x4c)
        return ((unsigned)t >> 8) & 0xff;
    const struct pair_type *p = pair_of(t);
    return p ? p->size : derived_size(t);
}

/* Whether t names a datatype (a derived one may hold no data: size 0). */
static int known_type(MPI_Datatype t)
{
    return type_size(t) || dtype_of(t);
}

static enum kind type_kind(MPI_Datatype t)
{
    switch (t) {
    case MPI_FLOAT:
    case MPI_DOUBLE:
    case MPI_LONG_DOUBLE:
    case MPI_REAL:
    case MPI_DOUBLE_PRECISION:
    case MPI_REAL4:
    case MPI_REAL8:
        return K_FLOAT;
    case MPI_UNSIGNED_CHAR:
    case MPI_UNSIGNED_SHORT:
    case MPI_UNSIGNED:
    case MPI_UNSIGNED_LONG:
    case MPI_UNSIGNED_LONG_LONG:
    case MPI_UINT64_T:
    case MPI_BYTE:
    case MPI_PACKED:
    case MPI_C_BOOL:
        return K_UINT;
    case MPI_CHAR:
    case MPI_SIGNED_CHAR:
    case MPI_WCHAR:
    case MPI_SHORT:
    case MPI_INT:
    case MPI_LONG:
    case MPI_LONG_LONG_INT:
    case MPI_INT32_T:
    case MPI_INT64_T:
    case MPI_CHARACTER:
    case MPI_LOGICAL:
    case MPI_INTEGER:
    case MPI_INTEGER4:
    case MPI_INTEGER8:
        return K_INT;
    default:
        return K_NONE;
    }
}

#define COMBINE(T)                                                                            \
    do {                                                                                      \
        T *a = acc;                                                                           \
        const T *b = in;                                                                      \
        for (size_t i = 0; i < n; i++)                                                        \
            switch (op) {                                                                     \
            case MPI_SUM: a[i] = a[i] + b[i]; break;                                          \
            case MPI_PROD: a[i] = a[i] * b[i]; break;                                         \
            case MPI_MAX: a[i] = a[i] > b[i] ? a[i] : b[i]; break;                            \
            case MPI_MIN: a[i] = a[i] < b[i] ? a[i] : b[i]; break;                            \
            case MPI_LAND: a[i] = a[i] && b[i]; break;                                        \
            case MPI_LOR: a[i] = a[i] || b[i]; break;                                         \
            case MPI_LXOR: a[i] = !a[i] != !b[i]; break;                                      \
            }                                                                                 \
    } while (0)

#define COMBINE_BITS(T)                                                                       \
    do {                                                                                      \
        T *a = acc;                                                                           \
        const T *b = in;                                                                      \
        for (size_t i = 0; i < n; i++)                                                        \
            a[i] = op == MPI_BAND ? (a[i] & b[i]) : op == MPI_BOR ? (a[i] | b[i]) : (a[i] ^ b[i]); \
    } while (0)

/* User operations (MPI_Op_create): per rank, since each rank's function
 * is its own program's; handles 0x98000000 | index, as MPICH's. */
#define MAX_USER_OPS 256
struct user_op {
    MPI_User_function *fn;
    int commute;
};
static struct user_op (*user_ops)[MAX_USER_OPS];

static struct user_op *user_op_of(MPI_Op op)
{
    unsigned i = (unsigned)op & 0xffffff;
    if (((unsigned)op >> 24) != 0x98 || i >= MAX_USER_OPS || !user_ops)
        return NULL;
    struct user_op *u = &user_ops[me()][i];
    return u->fn ? u : NULL;
}

/* MINLOC/MAXLOC over {value; int index} pairs: the extreme value, and the
 * lowest index among equals. */
#define COMBINE_LOC(T)                                                                        \
    do {                                                                                      \
        for (size_t i = 0; i < n; i++) {                                                      \
            char *pa = (char *)acc + i * p->size;                                             \
            const char *pb = (const char *)in + i * p->size;                                  \
            T va, vb;                                                                         \
            memcpy(&va, pa, sizeof va);                                                       \
            memcpy(&vb, pb, sizeof vb);                                                       \
            double ia, ib; /* the index, whatever its type */                                 \
            if (p->index_like_value) {                                                        \
                T x, y;                                                                       \
                memcpy(&x, pa + p->value_size, sizeof x);                                     \
                memcpy(&y, pb + p->value_size, sizeof y);                                     \
                ia = (double)x;                                                               \
                ib = (double)y;                                                               \
            } else {                                                                          \
                int x, y;                                                                     \
                memcpy(&x, pa + p->value_size, sizeof x);                                     \
                memcpy(&y, pb + p->value_size, sizeof y);                                     \
                ia = x;                                                                       \
                ib = y;                                                                       \
            }                                                                                 \
            int better = op == MPI_MAXLOC ? vb > va : vb < va;                                \
            if (better || (vb == va && ib < ia))                                              \
                memcpy(pa, pb, p->size);                                                      \
        }                                                                                     \
    } while (0)

static int combine_loc(void *acc, const void *in, size_t n, const struct pair_type *p, MPI_Op op)
{
    if (p->is_float) {
        if (p->value_size == 4)
            COMBINE_LOC(float);
        else if (p->value_size == 8)
            COMBINE_LOC(double);
        else
            COMBINE_LOC(long double);
    } else if (p->value_size == 2) {
        COMBINE_LOC(int16_t);
    } else if (p->value_size == 4) {
        COMBINE_LOC(int32_t);
    } else {
        COMBINE_LOC(int64_t);
    }
    return 0;
}

/* Whether reductions of type t with op are defined. */
static int reducible(MPI_Datatype t, MPI_Op op)
{
    if (user_op_of(op))
        return type_size(t) != 0;
    if (op == MPI_MINLOC || op == MPI_MAXLOC)
        return pair_of(t) != NULL;
    return type_kind(t) != K_NONE;
}

/* acc[i] = acc[i] OP in[i]; 0 if the type and operation go together. */
static int combine(void *acc, const void *in, size_t n, MPI_Datatype t, MPI_Op op)
{
    struct user_op *u = user_op_of(op);
    if (u && !contiguous(t)) {
        user_combine_laid_out(u->fn, acc, in, n, t);
        return 0;
    }
    if (u) {
        /* The function computes inout = in OP inout: give it the
         * accumulated value as `in` and a copy of the next one as
         * `inout`, so the order of operands is the ranks' order. */
        size_t bytes = n * type_size(t);
        void *next = malloc(bytes ? bytes : 1);
        memcpy(next, in, bytes);
        int len = (int)n;
        MPI_Datatype dt = t;
        u->fn(acc, next, &len, &dt);
        memcpy(acc, next, bytes);
        free(next);
        return 0;
    }
    if (op == MPI_MINLOC || op == MPI_MAXLOC) {
        const struct pair_type *p = pair_of(t);
        return p ? combine_loc(acc, in, n, p, op) : -1;
    }
    enum kind k = type_kind(t);
    size_t s = type_size(t);
    int arith = op == MPI_SUM || op == MPI_PROD || op == MPI_MAX || op == MPI_MIN;
    int logic = op == MPI_LAND || op == MPI_LOR || op == MPI_LXOR;
    int bits = op == MPI_BAND || op == MPI_BOR || op == MPI_BXOR;
    if (k == K_NONE || !(arith || logic || bits) || (k == K_FLOAT && bits))
        return -1;
    if (k == K_FLOAT) {
        if (s == 4)
            COMBINE(float);
        else if (s == 8)
            COMBINE(double);
        else
            COMBINE(long double);
    } else if (bits) {
        if (s == 1)
            COMBINE_BITS(uint8_t);
        else if (s == 2)
            COMBINE_BITS(uint16_t);
        else if (s == 4)
            COMBINE_BITS(uint32_t);
        else
            COMBINE_BITS(uint64_t);
    } else if (k == K_INT) {
        if (s == 1)
            COMBINE(int8_t);
        else if (s == 2)
            COMBINE(int16_t);
        else if (s == 4)
            COMBINE(int32_t);
        else
            COMBINE(int64_t);
    } else {
        if (s == 1)
            COMBINE(uint8_t);
        else if (s == 2)
            COMBINE(uint16_t);
        else if (s == 4)
            COMBINE(uint32_t);
        else
            COMBINE(uint64_t);
    }
    return 0;
}

/* ---- waiting ----------------------------------------------------------- */

/* Wakes a rank; it no longer counts as waiting (it has something to do). */
static void wake(int world)
{
    struct rank *w = &ranks[world];
    if (w->waiting) {
        w->waiting = 0;
        waiting--;
    }
    /* A rank polling (see poll_done) needs no signal: a signal with
     * nobody waiting would only cost the runtime a look-up. */
    if (w->blocked > 1)
        pthread_cond_broadcast(&w->cv);
    else if (w->blocked)
        pthread_cond_signal(&w->cv);
}

/* Completes r (under `big`): the release store is the last access to r,
 * whose owner may be polling it without `big` and may free it (or leave
 * the stack frame it lives in) as soon as it sees it. */
static void complete(struct req *r)
{
    int owner = r->owner;
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    wake(owner);
}

static int is_done(const int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static void all_waiting(void);

/* Waits once (under `big`) for a wake; callers loop on their condition. If
 * every live rank would then be waiting, nothing could wake anyone: see
 * all_waiting. */
static void block(const char *in)
{
    int r = me();
    ranks[r].waits_in = in;
    ranks[r].waiting = 1;
    if (++waiting == live)
        all_waiting();
    if (ranks[r].waiting) {
        ranks[r].blocked++;
        pthread_cond_wait(&ranks[r].cv, &big);
        ranks[r].blocked--;
    }
    if (ranks[r].waiting) {
        ranks[r].waiting = 0;
        waiting--;
    }
}

static void report_deadlock(void)
{
    ending();
    fprintf(stderr, "weaves mpi: deadlock: every running rank waits, and no message is on its way:\n");
    for (int r = 0; r < world_size; r++)
        if (ranks[r].initialized && !ranks[r].finalized)
            fprintf(stderr, "weaves mpi:   rank %d waits in %s\n", r,
                    ranks[r].waits_in ? ranks[r].waits_in : "?");
    job_exit(1);
}

/* Every live rank waits: copy the queued sends into buffers so their
 * senders can go on; if there are none, nothing can ever move. */
static void all_waiting(void)
{
    int freed = 0;
    for (int r = 0; r < world_size; r++) {
        struct rank *d = &ranks[r];
        struct req *prev = NULL;
        for (struct req *s = d->unexpected; s; prev = s, s = s->next) {
            if (s->detached)
                continue;
            /* A detached copy takes the original's place in the queue: the
             * receiver frees it; the sender owns (and may free) the
             * original from now on. */
            struct req *copy = malloc(sizeof *copy);
            *copy = *s;
            copy->eager = malloc(s->bytes ? s->bytes : 1);
            memcpy(copy->eager, s->sbuf, s->bytes);
            copy->sbuf = copy->eager;
            copy->detached = 1;
            copy->handle = 0;
            if (prev)
                prev->next = copy;
            else
                d->unexpected = copy;
            if (d->unexpected_tail == s)
                d->unexpected_tail = copy;
            s->next = NULL;
            complete(s);
            s = copy;
            freed++;
        }
    }
    if (!freed)
        report_deadlock();
}

/* How long a rank polls for a request before it blocks on its condition
 * variable. A reply from a rank on another worker usually comes within
 * microseconds; polling saves the park and the wake-up (a trip through the
 * scheduler, or a futex call when the worker parked). */
#define POLL_NS 50000

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Polls *flag without `big` for up to POLL_NS: yields while another string
 * could use the worker, spins otherwise. Asking the worker costs a few
 * loads of lines other workers write: while it has nothing else to run,
 * it is asked again only every 16 spins. Every 256 spins the worker's
 * thread yields its processor (the system call, not the runtime's
 * string yield): when the machine has more threads than processors, the
 * thread that would answer may be waiting for this one's. 1 if the flag
 * was set. */
static int poll_done(const int *flag)
{
    long long until = 0;
    unsigned spins = 0, spun = 0;
    for (unsigned i = 1;; i++) {
        if (is_done(flag))
            return 1;
        if (spins) {
            spins--;
            if (++spun % 256 == 0)
                syscall(SYS_sched_yield);
#if defined(__x86_64__) || defined(__i386__)
            else
                __builtin_ia32_pause();
#endif
        } else if (wv_others_ready()) {
            sched_yield();
        } else {
            spins = 16;
        }
        if ((i & 63) == 0) {
            long long t = now_ns();
            if (!until)
                until = t + POLL_NS;
            else if (t >= until)
                return is_done(flag);
        }
    }
}

/* Waits (under `big`) until *flag is set: polls for a while (releasing
 * `big`), then blocks. */
static void wait_for(int *flag, const char *in)
{
    if (is_done(flag))
        return;
    pthread_mutex_unlock(&big);
    int set = poll_done(flag);
    pthread_mutex_lock(&big);
    if (!set)
        while (!is_done(flag))
            block(in);
}

/* Waits (not holding `big`) until request r is complete. */
static void await_req(struct req *r, const char *in)
{
    if (is_done(&r->done) || poll_done(&r->done))
        return;
    pthread_mutex_lock(&big);
    while (!is_done(&r->done))
        block(in);
    pthread_mutex_unlock(&big);
}

/* ---- point to point --------------------------------------------------- */

static int matches(const struct req *recv, const struct req *send)
{
    return recv->context == send->context &&
           (recv->peer == MPI_ANY_SOURCE || recv->peer == send->peer) &&
           (recv->tag == MPI_ANY_TAG || recv->tag == send->tag);
}

static void unlink_req(struct req **head, struct req **tail, struct req *r)
{
    struct req *prev = NULL;
    for (struct req *p = *head; p; prev = p, p = p->next)
        if (p == r) {
            if (prev)
                prev->next = p->next;
            else
                *head = p->next;
            if (*tail == p)
                *tail = prev;
            p->next = NULL;
            return;
        }
}

static void append(struct req **head, struct req **tail, struct req *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

/* The one copy: send data into the receive; completes both. */
static void deliver(struct req *send, struct req *recv)
{
    size_t n = send->bytes < recv->bytes ? send->bytes : recv->bytes;
    if (n)
        memcpy(recv->rbuf, send->sbuf, n);
    if (recv->unpack_to) {
        unpack(recv->rbuf, n, recv->unpack_to, recv->utype);
        free(recv->rbuf);
        recv->rbuf = NULL;
        recv->unpack_to = NULL;
    }
    recv->st.MPI_SOURCE = send->peer;
    recv->st.MPI_TAG = send->tag;
    recv->st.count_lo = (int)n;
    recv->st.count_hi_and_cancelled = 0;
    recv->st.MPI_ERROR = send->bytes > recv->bytes ? MPI_ERR_TRUNCATE : MPI_SUCCESS;
    recv->arrived = send->bytes;
    if (recv->detached) { /* MPI_Request_free'd: nobody will look at it */
        wake(recv->owner);
        free(recv);
    } else {
        complete(recv);
    }
    if (send->detached) {
        free(send->eager);
        free(send);
    } else {
        complete(send);
    }
}

static void start_send(struct req *s)
{
    struct rank *d = &ranks[s->dest];
    for (struct req *r = d->posted; r; r = r->next)
        if (matches(r, s)) {
            unlink_req(&d->posted, &d->posted_tail, r);
            deliver(s, r);
            return;
        }
    append(&d->unexpected, &d->unexpected_tail, s);
    /* A probing destination looks again. */
    if (d->waiting)
        wake(s->dest);
}

static void start_recv(struct req *r)
{
    struct rank *m = &ranks[r->owner];
    for (struct req *s = m->unexpected; s; s = s->next)
        if (matches(r, s)) {
            unlink_req(&m->unexpected, &m->unexpected_tail, s);
            deliver(s, r);
            return;
        }
    append(&m->posted, &m->posted_tail, r);
}

static int new_handle(struct req *r)
{
    for (int k = 0; k < MAX_REQUESTS; k++) {
        int i = next_request;
        next_request = next_request + 1 < MAX_REQUESTS ? next_request + 1 : 1;
        if (!requests[i]) {
            requests[i] = r;
            r->handle = (int)(0xac000000u | (unsigned)i);
            return r->handle;
        }
    }
    return 0;
}

/* A persistent request (Send_init, Recv_init, a collective's _init): its arguments, and the
 * operation MPI_Start began, if any. Handles 0xae000000 | index. */
#define MAX_PERSISTENT 4096
struct persist {
    int used, is_send;
    const void *buf;
    int count, peer, tag;
    MPI_Datatype t;
    MPI_Comm comm;
    struct req *active;
    struct coll_init *coll; /* a persistent collective's (persist_coll.c) */
};
static struct persist persistent[MAX_PERSISTENT];
static int coll_start(struct persist *p);

static struct persist *persist_of(MPI_Request h)
{
    unsigned i = (unsigned)h & 0xffffff;
    if (((unsigned)h >> 24) != 0xae || i == 0 || i >= MAX_PERSISTENT || !persistent[i].used)
        return NULL;
    return &persistent[i];
}

/* The operation behind a request handle (a persistent request's current
 * one, NULL while it is inactive). */
static struct req *request_of(MPI_Request h)
{
    struct persist *p = persist_of(h);
    if (p)
        return p->active;
    if (((unsigned)h >> 24) != 0xac)
        return NULL;
    int i = h & 0xffffff;
    return i > 0 && i < MAX_REQUESTS ? requests[i] : NULL;
}

static void set_status(MPI_Status *st, const struct req *r)
{
    if (st == MPI_STATUS_IGNORE || !st)
        return;
    if (r->is_send) {
        st->MPI_ERROR = MPI_SUCCESS;
        st->count_hi_and_cancelled = r->cancelled;
        return;
    }
    *st = r->st;
}

static void release(struct req *r)
{
    if (r->handle)
        requests[r->handle & 0xffffff] = NULL;
    if (r->owns_eager)
        free(r->eager);
    if (r->unpack_to) /* never arrived (cancelled) */
        free(r->rbuf);
    free(r->greq);
    free(r);
}

/* Checks and fills in a zeroed send or receive request (under `big`);
 * on an error the request is not made. */
static int fill(struct req *r, int is_send, const char *fn, const void *buf, int count,
                MPI_Datatype t, int peer, int tag, MPI_Comm h)
{
    COMM(fn, h, c);
    size_t size = type_size(t);
    if (!size && !known_type(t))
        return fail(h, c, MPI_ERR_TYPE, fn, "invalid datatype 0x%x", (unsigned)t);
    if (count < 0)
        return fail(h, c, MPI_ERR_COUNT, fn, "negative count %d", count);
    /* On an intercommunicator, peers are ranks of the other group. */
    int peers = c->remote ? c->remote_size : c->size;
    if (is_send ? (peer < 0 || peer >= peers) && peer != MPI_PROC_NULL
                : (peer < 0 || peer >= peers) && peer != MPI_ANY_SOURCE && peer != MPI_PROC_NULL)
        return fail(h, c, MPI_ERR_RANK, fn, "invalid rank %d (%s has %d ranks)", peer,
                    comm_name(h), peers);
    if (is_send ? tag < 0 : tag < 0 && tag != MPI_ANY_TAG)
        return fail(h, c, MPI_ERR_TAG, fn, "invalid tag %d", tag);
    if (!buf && count > 0)
        return fail(h, c, MPI_ERR_BUFFER, fn, "null buffer for %d elements", count);
    int self = me();
    int mine = rank_in(c, self);
    if (mine < 0)
        return fail(h, c, MPI_ERR_COMM, fn, "rank %d is not in this communicator", self);
    r->is_send = is_send;
    r->owner = self;
    r->context = c->context;
    r->tag = tag;
    r->bytes = (size_t)count * size;
    r->what = fn;
    if (peer == MPI_PROC_NULL) {
        r->done = 1;
        r->st.MPI_SOURCE = MPI_PROC_NULL;
        r->st.MPI_TAG = MPI_ANY_TAG;
    } else if (is_send) {
        r->peer = mine;
        r->sbuf = buf;
        r->dest = c->remote ? c->remote[peer] : c->world[peer];
        if (!contiguous(t)) {
            /* Sent as a packed copy: the library moves contiguous bytes. */
            r->eager = malloc(r->bytes ? r->bytes : 1);
            pack(buf, count, t, r->eager);
            r->sbuf = r->eager;
            r->owns_eager = 1;
        }
    } else {
        r->peer = peer;
        r->rbuf = (void *)buf;
        if (!contiguous(t)) {
            r->rbuf = malloc(r->bytes ? r->bytes : 1);
            r->unpack_to = (void *)buf;
            r->utype = t;
        }
    }
    return MPI_SUCCESS;
}

/* Checks and makes a send or receive request on the heap (under `big`);
 * *out is NULL on an error. */
static int make(int is_send, const char *fn, const void *buf, int count, MPI_Datatype t, int peer,
                int tag, MPI_Comm h, struct req **out)
{
    struct req *r = calloc(1, sizeof *r);
    int err = fill(r, is_send, fn, buf, count, t, peer, tag, h);
    if (err) {
        free(r);
        r = NULL;
    }
    *out = r;
    return err;
}

/* Blocking sends and receives keep their request on the stack (no
 * allocation per message) and wait for it without `big`: whoever matches
 * it completes it with one release store (see complete). They start from
 * a copy of this zeroed one: the compiler clears a local struct of this
 * size with `rep stos`, whose start-up costs as much as the rest of a
 * message. */
static const struct req zero_req;

int MPI_Send(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm)
{
    started("MPI_Send");
    struct req r = zero_req;
    pthread_mutex_lock(&big);
    int err = fill(&r, 1, "MPI_Send", buf, count, t, dest, tag, comm);
    if (!err && !r.done)
        start_send(&r);
    pthread_mutex_unlock(&big);
    if (err)
        return err;
    await_req(&r, "MPI_Send");
    if (r.owns_eager)
        free(r.eager);
    return MPI_SUCCESS;
}

int MPI_Recv(void *buf, int count, MPI_Datatype t, int source, int tag, MPI_Comm comm,
             MPI_Status *status)
{
    started("MPI_Recv");
    struct req r = zero_req;
    pthread_mutex_lock(&big);
    int err = fill(&r, 0, "MPI_Recv", buf, count, t, source, tag, comm);
    if (!err && !r.done)
        start_recv(&r);
    pthread_mutex_unlock(&big);
    if (err)
        return err;
    await_req(&r, "MPI_Recv");
    set_status(status, &r);
    if (r.st.MPI_ERROR == MPI_ERR_TRUNCATE)
        err = fail(comm, comm_of(comm), MPI_ERR_TRUNCATE, "MPI_Recv",
                   "message truncated: %zu bytes from rank %d (tag %d) for a buffer of %zu",
                   r.arrived, r.st.MPI_SOURCE, r.st.MPI_TAG, r.bytes);
    return err;
}

int MPI_Isend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
              MPI_Request *request)
{
    started("MPI_Isend");
    pthread_mutex_lock(&big);
    struct req *r;
    int err = make(1, "MPI_Isend", buf, count, t, dest, tag, comm, &r);
    *request = MPI_REQUEST_NULL;
    if (r) {
        *request = new_handle(r);
        if (!r->done)
            start_send(r);
    }
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Irecv(void *buf, int count, MPI_Datatype t, int source, int tag, MPI_Comm comm,
              MPI_Request *request)
{
    started("MPI_Irecv");
    pthread_mutex_lock(&big);
    struct req *r;
    int err = make(0, "MPI_Irecv", buf, count, t, source, tag, comm, &r);
    *request = MPI_REQUEST_NULL;
    if (r) {
        *request = new_handle(r);
        if (!r->done)
            start_recv(r);
    }
    pthread_mutex_unlock(&big);
    return err;
}

/* Under `big`: completes *request (waiting if `block`); 1 if complete. */
static int finish(MPI_Request *request, MPI_Status *status, int block, const char *fn)
{
    if (*request == MPI_REQUEST_NULL) {
        if (status != MPI_STATUS_IGNORE && status) {
            status->MPI_SOURCE = MPI_ANY_SOURCE;
            status->MPI_TAG = MPI_ANY_TAG;
            status->MPI_ERROR = MPI_SUCCESS;
            status->count_lo = 0;
        }
        return 1;
    }
    struct persist *p = persist_of(*request);
    if (p && !p->active) {
        /* An inactive persistent request: complete, with an empty status. */
        MPI_Request null = MPI_REQUEST_NULL;
        return finish(&null, status, block, fn);
    }
    struct req *r = request_of(*request);
    if (!r)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_REQUEST, fn, "invalid request 0x%x",
                    (unsigned)*request) ? 1 : 1;
    if (!r->done && !block)
        return 0;
    wait_for(&r->done, fn);
    if (r->greq)
        greq_finish(r);
    set_status(status, r);
    release(r);
    if (p)
        p->active = NULL; /* inactive again; the handle stays */
    else
        *request = MPI_REQUEST_NULL;
    return 1;
}

int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    started("MPI_Wait");
    pthread_mutex_lock(&big);
    finish(request, status, 1, "MPI_Wait");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
    started("MPI_Test");
    pthread_mutex_lock(&big);
    *flag = finish(request, status, 0, "MPI_Test");
    pthread_mutex_unlock(&big);
    if (!*flag)
        sched_yield();
    return MPI_SUCCESS;
}

int MPI_Waitall(int count, MPI_Request requests_[], MPI_Status statuses[])
{
    started("MPI_Waitall");
    pthread_mutex_lock(&big);
    for (int i = 0; i < count; i++)
        finish(&requests_[i], statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i],
               1, "MPI_Waitall");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
                 int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype, int source,
                 int recvtag, MPI_Comm comm, MPI_Status *status)
{
    MPI_Request s, r;
    int err = MPI_Irecv(recvbuf, recvcount, recvtype, source, recvtag, comm, &r);
    if (err)
        return err;
    err = MPI_Isend(sendbuf, sendcount, sendtype, dest, sendtag, comm, &s);
    if (err)
        return err;
    MPI_Wait(&s, MPI_STATUS_IGNORE);
    return MPI_Wait(&r, status);
}

int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype t, int dest, int sendtag, int source,
                         int recvtag, MPI_Comm comm, MPI_Status *status)
{
    /* The one place a message is copied twice: the incoming data may not
     * overwrite the outgoing data before it has left. */
    size_t n = (size_t)(count > 0 ? count : 0) * type_size(t);
    void *in = malloc(n ? n : 1);
    int err = MPI_Sendrecv(buf, count, t, dest, sendtag, in, count, t, source, recvtag, comm,
                           status);
    if (!err)
        memcpy(buf, in, n);
    free(in);
    return err;
}

/* The oldest queued send matching, or NULL (under `big`). */
static struct req *probe(int source, int tag, struct comm *c)
{
    struct req want = {0};
    want.context = c->context;
    want.peer = source;
    want.tag = tag;
    for (struct req *s = ranks[me()].unexpected; s; s = s->next)
        if (matches(&want, s))
            return s;
    return NULL;
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
    started("MPI_Iprobe");
    if (source == MPI_PROC_NULL) {
        /* A message from MPI_PROC_NULL is always there, empty. */
        *flag = 1;
        if (status != MPI_STATUS_IGNORE) {
            status->MPI_SOURCE = MPI_PROC_NULL;
            status->MPI_TAG = MPI_ANY_TAG;
            status->count_lo = 0;
            status->count_hi_and_cancelled = 0;
        }
        return MPI_SUCCESS;
    }
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(comm);
    struct req *s = c ? probe(source, tag, c) : NULL;
    *flag = s != NULL;
    if (s && status != MPI_STATUS_IGNORE) {
        status->MPI_SOURCE = s->peer;
        status->MPI_TAG = s->tag;
        status->count_lo = (int)s->bytes;
        status->MPI_ERROR = MPI_SUCCESS;
    }
    pthread_mutex_unlock(&big);
    if (!*flag)
        sched_yield();
    return c ? MPI_SUCCESS : fail(comm, NULL, MPI_ERR_COMM, "MPI_Iprobe", "invalid communicator");
}

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
    started("MPI_Probe");
    COMM("MPI_Probe", comm, c);
    pthread_mutex_lock(&big);
    struct req *s;
    while (!(s = probe(source, tag, c)))
        block("MPI_Probe");
    if (status != MPI_STATUS_IGNORE) {
        status->MPI_SOURCE = s->peer;
        status->MPI_TAG = s->tag;
        status->count_lo = (int)s->bytes;
        status->MPI_ERROR = MPI_SUCCESS;
    }
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Get_count(const MPI_Status *status, MPI_Datatype t, int *count)
{
    size_t s = type_size(t);
    if (!s && !known_type(t))
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Get_count", "invalid datatype");
    if (!s) { /* a type holding no data */
        *count = 0;
        return MPI_SUCCESS;
    }
    *count = status->count_lo % (int)s ? MPI_UNDEFINED : status->count_lo / (int)s;
    return MPI_SUCCESS;
}

/* ---- collectives ------------------------------------------------------ */

static void coll_check(struct comm *c, MPI_Comm h);

/* A barrier of communicator c (under `big`). With `check`, the last member
 * to arrive checks, before anyone goes on, that all asked for the same
 * collective (see coll_check). */
static void coll_barrier_as(struct comm *c, MPI_Comm h, int check, const char *fn)
{
    unsigned gen = c->gen;
    if (++c->arrived == c->size) {
        if (check)
            coll_check(c, h);
        c->arrived = 0;
        c->gen++;
        for (int i = 0; i < c->size; i++)
            wake(c->world[i]);
        return;
    }
    while (c->gen == gen)
        block(fn);
}

static void coll_barrier(struct comm *c, const char *fn)
{
    coll_barrier_as(c, 0, 0, fn);
}

static const char *op_name(unsigned op)
{
    static const char *names[] = {"MPI_MAX", "MPI_MIN",  "MPI_SUM", "MPI_PROD",
                                  "MPI_LAND", "MPI_BAND", "MPI_LOR", "MPI_BOR"};
    if (op >= 0x58000001u && op <= 0x58000008u)
        return names[op - 0x58000001u];
    return "a user operation";
}

static int same_sig(const struct sig *a, const struct sig *b)
{
    return !strcmp(a->fn, b->fn) && a->root == b->root && a->bytes == b->bytes && a->op == b->op;
}

static void describe_sig(char *out, size_t cap, const struct sig *s)
{
    int n = snprintf(out, cap, "%s", s->fn);
    const char *sep = " (";
    if (s->root != NO_ROOT && n < (int)cap) {
        n += snprintf(out + n, cap - n, "%sroot %d", sep, s->root);
        sep = ", ";
    }
    if (s->bytes != ANY_BYTES && n < (int)cap) {
        n += snprintf(out + n, cap - n, "%s%lld bytes", sep, s->bytes);
        sep = ", ";
    }
    if (s->op && n < (int)cap) {
        n += snprintf(out + n, cap - n, "%s%s", sep, op_name(s->op));
        sep = ", ";
    }
    if (sep[0] == ',' && n < (int)cap)
        snprintf(out + n, cap - n, ")");
}

/* When the last member arrives at the barrier after publication: every
 * member asked for the same collective, or the job ends with one line naming who asked what
 * (MPICH hangs or computes garbage on such programs). */
static void coll_check(struct comm *c, MPI_Comm h)
{
    int mismatch = 0;
    for (int k = 1; k < c->size && !mismatch; k++)
        mismatch = !same_sig(&c->sigs[0], &c->sigs[k]);
    if (!mismatch)
        return;
    pthread_mutex_unlock(&big);
    ending();
    char line[2048];
    int n = snprintf(line, sizeof line, "weaves mpi: collective mismatch on %s:", comm_name(h));
    int *told = calloc(c->size, sizeof(int));
    for (int a = 0; a < c->size && n < (int)sizeof line; a++) {
        if (told[a])
            continue;
        int count = 0;
        for (int b = a; b < c->size; b++)
            if (!told[b] && same_sig(&c->sigs[a], &c->sigs[b]))
                count++;
        n += snprintf(line + n, sizeof line - n, "%s %s", a ? ";" : "", count > 1 ? "ranks" : "rank");
        int first = 1;
        for (int b = a; b < c->size && n < (int)sizeof line; b++)
            if (!told[b] && same_sig(&c->sigs[a], &c->sigs[b])) {
                told[b] = 1;
                n += snprintf(line + n, sizeof line - n, "%s%d", first ? " " : ", ", b);
                first = 0;
            }
        char what[256];
        describe_sig(what, sizeof what, &c->sigs[a]);
        if (n < (int)sizeof line)
            n += snprintf(line + n, sizeof line - n, " called %s", what);
    }
    free(told);
    fprintf(stderr, "%s\n", line);
    job_exit(1);
}

/* Publishes what this member asks and its pointers, waits for every
 * member's, and checks that all asked the same. */
static int coll_enter_as(struct comm *c, MPI_Comm h, const struct sig *s, const void *in,
                         void *out)
{
    int i = rank_in(c, me());
    c->in[i] = in;
    c->out[i] = out;
    c->sigs[i] = *s;
    coll_barrier_as(c, h, 1, s->fn);
    return i;
}

/* A collective with no root, no data to agree on and no reduction. */
static int coll_enter(struct comm *c, MPI_Comm h, const void *in, void *out, const char *fn)
{
    struct sig s = {fn, NO_ROOT, ANY_BYTES, 0};
    return coll_enter_as(c, h, &s, in, out);
}

/* Collectives on intercommunicators (intercoll.c). */
static int inter_barrier(MPI_Comm comm);
static int inter_bcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm);
static int inter_reduction(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t,
                           MPI_Op op, int root, MPI_Comm comm, int all, const char *fn);

/* Whether h is an intercommunicator. */
static int is_inter(MPI_Comm h)
{
    if (h == MPI_COMM_WORLD || h == MPI_COMM_SELF)
        return 0;
    struct comm *c = comm_of(h);
    return c && c->remote;
}

#define COLL_BEGIN(fn, h, c)                                                                  \
    started(fn);                                                                              \
    pthread_mutex_lock(&big);                                                                 \
    struct comm *c = comm_of(h);                                                              \
    if (!c) {                                                                                 \
        pthread_mutex_unlock(&big);                                                           \
        return fail(h, NULL, MPI_ERR_COMM, fn, "invalid communicator 0x%x", (unsigned)(h));   \
    }                                                                                         \
    if (c->remote) {                                                                          \
        pthread_mutex_unlock(&big);                                                           \
        return fail(h, c, MPI_ERR_COMM, fn, "not supported: collectives on intercommunicators"); \
    }

#define COLL_CHECK(cond, code, fn, ...)                                                       \
    if (cond) {                                                                               \
        pthread_mutex_unlock(&big);                                                           \
        return fail(h_, c, code, fn, __VA_ARGS__);                                            \
    }

int MPI_Barrier(MPI_Comm comm)
{
    if (is_inter(comm))
        return inter_barrier(comm);
    COLL_BEGIN("MPI_Barrier", comm, c);
    coll_enter(c, comm, NULL, NULL, "MPI_Barrier");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Bcast(void *buf, int count, MPI_Datatype t, int root, MPI_Comm comm)
{
    if (is_inter(comm))
        return inter_bcast(buf, count, t, root, comm);
    MPI_Comm h_ = comm;
    COLL_BEGIN("MPI_Bcast", comm, c);
    size_t n = (size_t)count * type_size(t);
    COLL_CHECK(!known_type(t), MPI_ERR_TYPE, "MPI_Bcast", "invalid datatype 0x%x", (unsigned)t);
    COLL_CHECK(root < 0 || root >= c->size, MPI_ERR_ROOT, "MPI_Bcast", "invalid root %d", root);
    struct sig s = {"MPI_Bcast", root, (long long)n, 0};
    /* A non-contiguous type travels packed: the root publishes a packed
     * copy, the others unpack it. */
    int packed = !contiguous(t);
    void *copy = NULL;
    if (packed && rank_in(c, me()) == root) {
        copy = malloc(n ? n : 1);
        pack(buf, count, t, copy);
    }
    int i = coll_enter_as(c, comm, &s, packed ? copy : buf, buf);
    if (i != root && n) {
        if (packed)
            unpack(c->in[root], n, buf, t);
        else
            memcpy(buf, c->in[root], n);
    }
    coll_barrier(c, "MPI_Bcast");
    pthread_mutex_unlock(&big);
    free(copy);
    return MPI_SUCCESS;
}

/* Combines every member's input into `out` (count elements). */
static int reduce_all(struct comm *c, void *out, size_t count, MPI_Datatype t, MPI_Op op)
{
    size_t n = count * type_size(t);
    void *acc = malloc(n ? n : 1);
    memcpy(acc, c->in[0], n);
    for (int k = 1; k < c->size; k++)
        if (combine(acc, c->in[k], count, t, op)) {
            free(acc);
            return -1;
        }
    memcpy(out, acc, n);
    free(acc);
    return 0;
}

static int reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
                  int root, MPI_Comm h_, int all, const char *fn)
{
    if (is_inter(h_))
        return inter_reduction(sendbuf, recvbuf, count, t, op, root, h_, all, fn);
    COLL_BEGIN(fn, h_, c);
    COLL_CHECK(!known_type(t), MPI_ERR_TYPE, fn, "invalid datatype 0x%x", (unsigned)t);
    COLL_CHECK(count < 0, MPI_ERR_COUNT, fn, "negative count %d", count);
    COLL_CHECK(!all && (root < 0 || root >= c->size), MPI_ERR_ROOT, fn, "invalid root %d", root);
    COLL_CHECK(!reducible(t, op), MPI_ERR_OP, fn,
               "operation 0x%x does not apply to datatype 0x%x", (unsigned)op, (unsigned)t);
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    struct sig s = {fn, all ? NO_ROOT : root, (long long)count * (long long)type_size(t),
                    (unsigned)op};
    size_t n = (size_t)count * type_size(t);
    /* A non-contiguous type takes part packed; its result is unpacked. */
    void *packed = NULL;
    if (!contiguous(t)) {
        packed = malloc(n ? n : 1);
        pack(in, count, t, packed);
        in = packed;
    }
    int i = coll_enter_as(c, h_, &s, in, recvbuf);
    /* Results go to a private copy first: with MPI_IN_PLACE a member's
     * output is another member's input until the second barrier. */
    void *result = NULL;
    int bad = 0;
    if (all || i == root) {
        result = malloc(n ? n : 1);
        bad = reduce_all(c, result, (size_t)count, t, op);
    }
    coll_barrier(c, fn);
    if (result && !bad)
        unpack(result, n, recvbuf, t);
    free(result);
    free(packed);
    pthread_mutex_unlock(&big);
    if (bad)
        return fail(h_, c, MPI_ERR_OP, fn, "operation 0x%x does not apply to datatype 0x%x",
                    (unsigned)op, (unsigned)t);
    return MPI_SUCCESS;
}

int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
               int root, MPI_Comm comm)
{
    return reduce(sendbuf, recvbuf, count, t, op, root, comm, 0, "MPI_Reduce");
}

int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
                  MPI_Comm comm)
{
    return reduce(sendbuf, recvbuf, count, t, op, 0, comm, 1, "MPI_Allreduce");
}

/* ---- communicators ---------------------------------------------------- */

int MPI_Comm_size(MPI_Comm comm, int *size)
{
    started("MPI_Comm_size");
    COMM("MPI_Comm_size", comm, c);
    *size = c->size;
    return MPI_SUCCESS;
}

int MPI_Comm_rank(MPI_Comm comm, int *rank)
{
    started("MPI_Comm_rank");
    COMM("MPI_Comm_rank", comm, c);
    *rank = rank_in(c, me());
    return MPI_SUCCESS;
}

/* Every member says (color, key); members with the same color form a new
 * communicator, ordered by key then old rank. */
int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
{
    COLL_BEGIN("MPI_Comm_split", comm, c);
    int i = rank_in(c, me());
    c->aux1[i] = color;
    c->aux2[i] = key;
    coll_enter(c, comm, NULL, NULL, "MPI_Comm_split");
    if (i == 0) {
        /* The first member makes every new communicator. */
        int *done = calloc(c->size, sizeof(int));
        for (int a = 0; a < c->size; a++) {
            if (done[a])
                continue;
            if (c->aux1[a] == MPI_UNDEFINED) {
                c->aux3[a] = MPI_COMM_NULL;
                continue;
            }
            int n = 0;
            int *members = calloc(c->size, sizeof(int));
            for (int b = a; b < c->size; b++)
                if (c->aux1[b] == c->aux1[a]) {
                    members[n++] = b;
                    done[b] = 1;
                }
            for (int x = 1; x < n; x++) /* insertion sort by (key, old rank) */
                for (int y = x; y > 0 && c->aux2[members[y - 1]] > c->aux2[members[y]]; y--) {
                    int t = members[y];
                    members[y] = members[y - 1];
                    members[y - 1] = t;
                }
            int slot = 1;
            while (slot < MAX_COMMS && comms[slot].used)
                slot++;
            if (slot == MAX_COMMS) {
                pthread_mutex_unlock(&big);
                return fail(comm, c, MPI_ERR_INTERN, "MPI_Comm_split", "too many communicators");
            }
            comm_alloc(&comms[slot], n);
            for (int k = 0; k < n; k++) {
                comms[slot].world[k] = c->world[members[k]];
                c->aux3[members[k]] = (int)(0x84000000u | (unsigned)slot);
            }
            free(members);
        }
        free(done);
    }
    coll_barrier(c, "MPI_Comm_split");
    *newcomm = c->aux3[i];
    coll_barrier(c, "MPI_Comm_split");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* A new communicator with c's members, context of its own and topology
 * (under `big`); MPI_COMM_NULL if there is no room. */
static MPI_Comm comm_copy(struct comm *c)
{
    int slot = 1;
    while (slot < MAX_COMMS && comms[slot].used)
        slot++;
    if (slot == MAX_COMMS)
        return MPI_COMM_NULL;
    struct comm *d = &comms[slot];
    comm_alloc(d, c->size);
    memcpy(d->world, c->world, sizeof(int) * (size_t)c->size);
    if (c->ndims) {
        d->dims = malloc(sizeof(int) * (size_t)c->ndims);
        d->periods = malloc(sizeof(int) * (size_t)c->ndims);
        memcpy(d->dims, c->dims, sizeof(int) * (size_t)c->ndims);
        memcpy(d->periods, c->periods, sizeof(int) * (size_t)c->ndims);
        d->ndims = c->ndims;
    }
    d->topo = topo_share(c->topo);
    return (MPI_Comm)(0x84000000u | (unsigned)slot);
}

int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
    int r;
    MPI_Comm_rank(comm, &r);
    int err = MPI_Comm_split(comm, 0, r, newcomm);
    if (err)
        return err;
    copy_attrs(comm, *newcomm);
    /* A duplicate keeps the topology. */
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(comm), *d = comm_of(*newcomm);
    if (c && d && c->ndims && !d->ndims) {
        d->dims = malloc(sizeof(int) * (size_t)c->ndims);
        d->periods = malloc(sizeof(int) * (size_t)c->ndims);
        memcpy(d->dims, c->dims, sizeof(int) * (size_t)c->ndims);
        memcpy(d->periods, c->periods, sizeof(int) * (size_t)c->ndims);
        d->ndims = c->ndims;
    }
    if (c && d && !d->topo)
        d->topo = topo_share(c->topo);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Comm_free(MPI_Comm *comm)
{
    started("MPI_Comm_free");
    delete_attrs(*comm);
    struct comm *c = comm_of(*comm);
    if (c && c->remote) { /* each member frees its share of the group's own */
        MPI_Comm local = c->local;
        MPI_Comm_free(&local);
    }
    pthread_mutex_lock(&big);
    if (!c || c == &comms[0] || *comm == MPI_COMM_SELF) {
        pthread_mutex_unlock(&big);
        return fail(*comm, c, MPI_ERR_COMM, "MPI_Comm_free", "cannot free this communicator");
    }
    if (++c->frees == c->size) {
        free(c->world);
        free(c->in);
        free(c->out);
        free(c->aux1);
        free(c->aux2);
        free(c->aux3);
        free(c->sigs);
        free(c->nbc_begun);
        free(c->dims);
        free(c->periods);
        topo_drop(c->topo);
        inter_drop(c);
        memset(c, 0, sizeof *c);
    }
    *comm = MPI_COMM_NULL;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errh)
{
    COMM("MPI_Comm_set_errhandler", comm, c);
    c->errh = errh;
    return MPI_SUCCESS;
}

int MPI_Errhandler_set(MPI_Comm comm, MPI_Errhandler errh)
{
    return MPI_Comm_set_errhandler(comm, errh);
}

/* ---- environment ------------------------------------------------------ */

/* Runs when a rank's string ends (registered as a thread-exit handler,
 * which the runtime keeps per string): a rank that ends without
 * MPI_Finalize ends the job, as MPICH's launcher does, instead of leaving
 * the others waiting for it forever. */
extern void *__dso_handle;
int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);

static void rank_ended(void *arg)
{
    int r = (int)(long)arg;
    if (ranks && ranks[r].initialized && !ranks[r].finalized) {
        ending();
        fprintf(stderr, "weaves mpi: rank %d ended without calling MPI_Finalize\n", r);
        job_exit(1);
    }
}

int MPI_Init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    int r = me();
    pthread_mutex_lock(&big);
    if (world_size < 0) {
        const char *s = getenv("WEAVES_MPI_SIZE");
        world_size = s ? atoi(s) : 1;
        if (world_size < 1)
            world_size = 1;
        ranks = calloc(world_size, sizeof *ranks);
        user_ops = calloc(world_size, sizeof *user_ops);
        self_comms = calloc(world_size, sizeof *self_comms);
        for (int k = 0; k < world_size; k++) {
            pthread_cond_init(&ranks[k].cv, NULL);
            comm_alloc(&self_comms[k], 1);
            self_comms[k].world[0] = k;
        }
        comm_alloc(&comms[0], world_size);
        for (int k = 0; k < world_size; k++)
            comms[0].world[k] = k;
        live = world_size;
    }
    if (r >= world_size) {
        pthread_mutex_unlock(&big);
        fprintf(stderr, "weaves mpi: rank %d is outside a world of %d\n", r, world_size);
        job_exit(1);
    }
    if (ranks[r].initialized) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_OTHER, "MPI_Init",
                    "MPI_Init called twice");
    }
    ranks[r].initialized = 1;
    pthread_mutex_unlock(&big);
    __cxa_thread_atexit_impl(rank_ended, (void *)(long)r, &__dso_handle);
    return MPI_SUCCESS;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int err = MPI_Init(argc, argv);
    if (provided)
        *provided = required < MPI_THREAD_MULTIPLE ? required : MPI_THREAD_MULTIPLE;
    return err;
}

int MPI_Finalize(void)
{
    int r = started("MPI_Finalize");
    pthread_mutex_lock(&big);
    /* Like MPICH, finalising waits for every rank (it is collective). */
    coll_enter(&comms[0], MPI_COMM_WORLD, NULL, NULL, "MPI_Finalize");
    ranks[r].finalized = 1;
    live--;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Initialized(int *flag)
{
    int r = me();
    *flag = ranks && r < world_size && ranks[r].initialized;
    return MPI_SUCCESS;
}

int MPI_Finalized(int *flag)
{
    int r = me();
    *flag = ranks && r < world_size && ranks[r].finalized;
    return MPI_SUCCESS;
}

int MPI_Abort(MPI_Comm comm, int errorcode)
{
    (void)comm;
    ending();
    fprintf(stderr, "weaves mpi: rank %d: MPI_Abort with error code %d\n", me(), errorcode);
    job_exit(errorcode ? errorcode : 1);
}

int MPI_Query_thread(int *provided)
{
    *provided = MPI_THREAD_MULTIPLE;
    return MPI_SUCCESS;
}

double MPI_Wtime(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double MPI_Wtick(void)
{
    return 1e-9;
}

int MPI_Get_processor_name(char *name, int *resultlen)
{
    if (gethostname(name, MPI_MAX_PROCESSOR_NAME) != 0)
        strcpy(name, "localhost");
    name[MPI_MAX_PROCESSOR_NAME - 1] = 0;
    *resultlen = (int)strlen(name);
    return MPI_SUCCESS;
}

int MPI_Get_version(int *version, int *subversion)
{
    *version = 4;
    *subversion = 0;
    return MPI_SUCCESS;
}

int MPI_Error_string(int code, char *string, int *resultlen)
{
    static const char *names[] = {"no error", "invalid buffer", "invalid count", "invalid datatype",
                                  "invalid tag", "invalid communicator", "invalid rank",
                                  "invalid root", "invalid group", "invalid operation",
                                  "invalid topology", "invalid dimensions", "invalid argument",
                                  "unknown error", "message truncated", "other error",
                                  "internal error"};
    const char *s = code >= 0 && code < (int)(sizeof names / sizeof *names) ? names[code]
                                                                             : "error";
    snprintf(string, MPI_MAX_ERROR_STRING, "%s", s);
    *resultlen = (int)strlen(string);
    return MPI_SUCCESS;
}

/* ---- synchronous and ready sends, sizes ------------------------------- */

/* Every send here completes only when its receive has taken the data, so
 * synchronous and ready sends are plain sends. */
int MPI_Ssend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm)
{
    return MPI_Send(buf, count, t, dest, tag, comm);
}

int MPI_Rsend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm)
{
    return MPI_Send(buf, count, t, dest, tag, comm);
}

int MPI_Issend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
               MPI_Request *request)
{
    return MPI_Isend(buf, count, t, dest, tag, comm, request);
}

int MPI_Type_size(MPI_Datatype t, int *size)
{
    size_t s = type_size(t);
    if (!s && !known_type(t))
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Type_size",
                    "invalid datatype 0x%x", (unsigned)t);
    *size = (int)s;
    return MPI_SUCCESS;
}

/* ---- completion of several requests ----------------------------------- */

static MPI_Status *status_at(MPI_Status *statuses, int i)
{
    return statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
}

/* Whether request h is active (not MPI_REQUEST_NULL, not an inactive
 * persistent request). */
static int active(MPI_Request h)
{
    struct persist *p = persist_of(h);
    return h != MPI_REQUEST_NULL && (!p || p->active);
}

/* Under `big`: completes one done request of the list into *index, or
 * sets it to MPI_UNDEFINED if none is active; 0 if some are active but
 * none is done. */
static int any_done(int count, MPI_Request reqs[], int *index, MPI_Status *status, const char *fn)
{
    int some = 0;
    for (int i = 0; i < count; i++) {
        if (!active(reqs[i]))
            continue;
        some = 1;
        struct req *r = request_of(reqs[i]);
        if (!r || r->done) {
            finish(&reqs[i], status, 1, fn);
            *index = i;
            return 1;
        }
    }
    if (!some) {
        *index = MPI_UNDEFINED;
        finish(&(MPI_Request){MPI_REQUEST_NULL}, status, 0, fn);
        return 1;
    }
    return 0;
}

int MPI_Waitany(int count, MPI_Request reqs[], int *index, MPI_Status *status)
{
    started("MPI_Waitany");
    pthread_mutex_lock(&big);
    while (!any_done(count, reqs, index, status, "MPI_Waitany"))
        block("MPI_Waitany");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Testany(int count, MPI_Request reqs[], int *index, int *flag, MPI_Status *status)
{
    started("MPI_Testany");
    pthread_mutex_lock(&big);
    *flag = any_done(count, reqs, index, status, "MPI_Testany");
    if (!*flag)
        *index = MPI_UNDEFINED;
    pthread_mutex_unlock(&big);
    if (!*flag)
        sched_yield();
    return MPI_SUCCESS;
}

/* Under `big`: completes every done request into indices; the count, or
 * MPI_UNDEFINED if none is active. */
static int some_done(int count, MPI_Request reqs[], int indices[], MPI_Status statuses[],
                     const char *fn)
{
    int some = 0, n = 0;
    for (int i = 0; i < count; i++) {
        if (!active(reqs[i]))
            continue;
        some = 1;
        struct req *r = request_of(reqs[i]);
        if (!r || r->done) {
            finish(&reqs[i], status_at(statuses, n), 1, fn);
            indices[n++] = i;
        }
    }
    return some ? n : MPI_UNDEFINED;
}

int MPI_Waitsome(int count, MPI_Request reqs[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    started("MPI_Waitsome");
    pthread_mutex_lock(&big);
    while ((*outcount = some_done(count, reqs, indices, statuses, "MPI_Waitsome")) == 0)
        block("MPI_Waitsome");
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Testsome(int count, MPI_Request reqs[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    started("MPI_Testsome");
    pthread_mutex_lock(&big);
    *outcount = some_done(count, reqs, indices, statuses, "MPI_Testsome");
    pthread_mutex_unlock(&big);
    if (*outcount == 0)
        sched_yield();
    return MPI_SUCCESS;
}

int MPI_Testall(int count, MPI_Request reqs[], int *flag, MPI_Status statuses[])
{
    started("MPI_Testall");
    pthread_mutex_lock(&big);
    int all = 1;
    for (int i = 0; i < count && all; i++) {
        struct req *r = active(reqs[i]) ? request_of(reqs[i]) : NULL;
        all = !r || r->done;
    }
    if (all)
        for (int i = 0; i < count; i++)
            finish(&reqs[i], status_at(statuses, i), 1, "MPI_Testall");
    *flag = all;
    pthread_mutex_unlock(&big);
    if (!all)
        sched_yield();
    return MPI_SUCCESS;
}

/* The request goes on by itself; its handle is freed now. A receive
 * completes into its buffer when its message comes (the standard's
 * meaning); the record goes when both are done. */
int MPI_Request_free(MPI_Request *request)
{
    started("MPI_Request_free");
    pthread_mutex_lock(&big);
    struct persist *p = persist_of(*request);
    if (p) {
        if (p->active) {
            p->active->detached = 1;
            if (p->active->done)
                release(p->active);
        }
        free(p->coll);
        memset(p, 0, sizeof *p);
        *request = MPI_REQUEST_NULL;
        pthread_mutex_unlock(&big);
        return MPI_SUCCESS;
    }
    struct req *r = request_of(*request);
    if (!r) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_REQUEST, "MPI_Request_free",
                    "invalid request 0x%x", (unsigned)*request);
    }
    if (r->done) {
        if (r->greq)
            greq_finish(r);
        release(r);
    } else {
        requests[r->handle & 0xffffff] = NULL;
        r->handle = 0;
        r->detached = 1;
    }
    *request = MPI_REQUEST_NULL;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- persistent requests, buffered sends, cancellation ----------------- */

static int persistent_init(int is_send, const void *buf, int count, MPI_Datatype t, int peer,
                           int tag, MPI_Comm comm, MPI_Request *request, const char *fn)
{
    started(fn);
    pthread_mutex_lock(&big);
    /* Check the arguments now, as the standard asks (the request made is
     * thrown away: MPI_Start makes the real one). */
    struct req *probe_req;
    int err = make(is_send, fn, buf, count, t, peer, tag, comm, &probe_req);
    free(probe_req);
    if (err) {
        pthread_mutex_unlock(&big);
        return err;
    }
    for (int i = 1; i < MAX_PERSISTENT; i++)
        if (!persistent[i].used) {
            persistent[i] = (struct persist){1, is_send, buf, count, peer, tag, t, comm, NULL};
            *request = (MPI_Request)(0xae000000u | (unsigned)i);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(comm, comm_of(comm), MPI_ERR_INTERN, fn, "more than %d persistent requests",
                MAX_PERSISTENT);
}

int MPI_Send_init(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
                  MPI_Request *request)
{
    return persistent_init(1, buf, count, t, dest, tag, comm, request, "MPI_Send_init");
}

int MPI_Recv_init(void *buf, int count, MPI_Datatype t, int source, int tag, MPI_Comm comm,
                  MPI_Request *request)
{
    return persistent_init(0, buf, count, t, source, tag, comm, request, "MPI_Recv_init");
}

int MPI_Start(MPI_Request *request)
{
    started("MPI_Start");
    pthread_mutex_lock(&big);
    struct persist *p = persist_of(*request);
    if (!p || p->active) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_REQUEST, "MPI_Start",
                    p ? "the request is already active" : "not a persistent request 0x%x",
                    (unsigned)*request);
    }
    if (p->coll) {
        pthread_mutex_unlock(&big);
        return coll_start(p);
    }
    struct req *r;
    int err = make(p->is_send, "MPI_Start", p->buf, p->count, p->t, p->peer, p->tag, p->comm, &r);
    if (r) {
        p->active = r;
        if (!r->done) {
            if (p->is_send)
                start_send(r);
            else
                start_recv(r);
        }
    }
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Startall(int count, MPI_Request requests_[])
{
    for (int i = 0; i < count; i++) {
        int err = MPI_Start(&requests_[i]);
        if (err)
            return err;
    }
    return MPI_SUCCESS;
}

/* The attached buffer is only recorded (per rank): a buffered send here
 * copies its data into memory of its own and returns at once. */
int MPI_Buffer_attach(void *buffer, int size)
{
    int r = started("MPI_Buffer_attach");
    ranks[r].bsend_buffer = buffer;
    ranks[r].bsend_size = size;
    return MPI_SUCCESS;
}

int MPI_Buffer_detach(void *buffer_addr, int *size)
{
    int r = started("MPI_Buffer_detach");
    *(void **)buffer_addr = ranks[r].bsend_buffer;
    *size = ranks[r].bsend_size;
    ranks[r].bsend_buffer = NULL;
    ranks[r].bsend_size = 0;
    return MPI_SUCCESS;
}

/* A send of a copy, whose receiver frees it: returns at once. */
static int send_copy(const void *buf, int count, MPI_Datatype t, int dest, int tag,
                     MPI_Comm comm, const char *fn)
{
    started(fn);
    pthread_mutex_lock(&big);
    struct req *r;
    int err = make(1, fn, buf, count, t, dest, tag, comm, &r);
    if (r && r->done) {
        release(r);
    } else if (r) {
        r->eager = malloc(r->bytes ? r->bytes : 1);
        memcpy(r->eager, buf, r->bytes);
        r->sbuf = r->eager;
        r->detached = 1;
        start_send(r);
    }
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Bsend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm)
{
    return send_copy(buf, count, t, dest, tag, comm, "MPI_Bsend");
}

int MPI_Ibsend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
               MPI_Request *request)
{
    int err = send_copy(buf, count, t, dest, tag, comm, "MPI_Ibsend");
    if (err)
        return err;
    /* The data is in its copy: the request is complete already. */
    pthread_mutex_lock(&big);
    struct req *done = calloc(1, sizeof *done);
    done->is_send = 1;
    done->done = 1;
    done->owner = me();
    *request = new_handle(done);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Irsend(const void *buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm comm,
               MPI_Request *request)
{
    return MPI_Isend(buf, count, t, dest, tag, comm, request);
}

/* Whether r is queued in list `head` (not matched yet). */
static int queued(struct req *head, const struct req *r)
{
    for (struct req *x = head; x; x = x->next)
        if (x == r)
            return 1;
    return 0;
}

/* A receive not matched yet, or a send no receive took yet, is cancelled:
 * it completes, and MPI_Test_cancelled says so. Otherwise it completes as
 * usual. */
int MPI_Cancel(MPI_Request *request)
{
    started("MPI_Cancel");
    pthread_mutex_lock(&big);
    struct req *r = request_of(*request);
    if (r && r->greq) {
        greq_cancel(r);
    } else if (r && !r->done) {
        struct rank *q = &ranks[r->is_send ? r->dest : r->owner];
        struct req **head = r->is_send ? &q->unexpected : &q->posted;
        struct req **tail = r->is_send ? &q->unexpected_tail : &q->posted_tail;
        if (queued(*head, r)) {
            unlink_req(head, tail, r);
            r->done = 1;
            r->st.count_lo = 0;
            r->st.count_hi_and_cancelled = 1;
            r->st.MPI_ERROR = MPI_SUCCESS;
            r->cancelled = 1;
        }
    }
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Test_cancelled(const MPI_Status *status, int *flag)
{
    *flag = status->count_hi_and_cancelled & 1;
    return MPI_SUCCESS;
}

/* ---- more collectives ------------------------------------------------- */

/* Reduce_scatter(_block), Scan, Exscan: a reduction over some members'
 * inputs, element-wise, into each member's own result. */
enum reduction { SCATTER, SCAN, EXSCAN };

static int reduce_into(const void *sendbuf, void *recvbuf, const int *counts, int count,
                       MPI_Datatype t, MPI_Op op, MPI_Comm h_, enum reduction how, const char *fn)
{
    COLL_BEGIN(fn, h_, c);
    size_t ts = type_size(t);
    COLL_CHECK(!ts, MPI_ERR_TYPE, fn, "invalid datatype 0x%x", (unsigned)t);
    COLL_CHECK(!reducible(t, op), MPI_ERR_OP, fn,
               "operation 0x%x does not apply to datatype 0x%x", (unsigned)op, (unsigned)t);
    int i = rank_in(c, me());
    size_t total = 0, first = 0, mine = (size_t)(counts ? counts[i] : count);
    if (how == SCATTER) {
        for (int k = 0; k < c->size; k++) {
            if (k < i)
                first += (size_t)(counts ? counts[k] : count);
            total += (size_t)(counts ? counts[k] : count);
        }
    } else {
        total = mine;
    }
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    struct sig s = {fn, NO_ROOT, (long long)(total * ts), (unsigned)op};
    /* A non-contiguous type takes part packed; its result is unpacked. */
    void *packed = NULL;
    if (!contiguous(t)) {
        packed = malloc(total * ts > 0 ? total * ts : 1);
        pack(in, (int)total, t, packed);
        in = packed;
    }
    coll_enter_as(c, h_, &s, in, recvbuf);
    /* Members [0, upto) take part in this member's result. */
    int upto = how == SCATTER ? c->size : how == SCAN ? i + 1 : i;
    void *acc = malloc(total * ts > 0 ? total * ts : 1);
    int bad = 0;
    if (upto > 0) {
        memcpy(acc, c->in[0], total * ts);
        for (int k = 1; k < upto && !bad; k++)
            bad = combine(acc, c->in[k], total, t, op);
    }
    coll_barrier(c, fn);
    /* Exscan leaves rank 0's result undefined: it keeps what it had. */
    if (!bad && upto > 0)
        unpack((char *)acc + first * ts, mine * ts, recvbuf, t);
    free(acc);
    free(packed);
    pthread_mutex_unlock(&big);
    if (bad)
        return fail(h_, c, MPI_ERR_OP, fn, "operation 0x%x does not apply to datatype 0x%x",
                    (unsigned)op, (unsigned)t);
    return MPI_SUCCESS;
}

int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[],
                       MPI_Datatype t, MPI_Op op, MPI_Comm comm)
{
    return reduce_into(sendbuf, recvbuf, recvcounts, 0, t, op, comm, SCATTER,
                       "MPI_Reduce_scatter");
}

int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount, MPI_Datatype t,
                             MPI_Op op, MPI_Comm comm)
{
    return reduce_into(sendbuf, recvbuf, NULL, recvcount, t, op, comm, SCATTER,
                       "MPI_Reduce_scatter_block");
}

int MPI_Scan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
             MPI_Comm comm)
{
    return reduce_into(sendbuf, recvbuf, NULL, count, t, op, comm, SCAN, "MPI_Scan");
}

int MPI_Exscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype t, MPI_Op op,
               MPI_Comm comm)
{
    return reduce_into(sendbuf, recvbuf, NULL, count, t, op, comm, EXSCAN, "MPI_Exscan");
}

/* ---- process topology helpers ----------------------------------------- */

/* MPICH's balanced factorisation: the free dimensions get the prime
 * factors of what is left, largest first, each to the dimension with the
 * smallest product so far; the result is sorted non-increasing. */
int MPI_Dims_create(int nnodes, int ndims, int dims[])
{
    int left = nnodes, free_dims = 0;
    for (int d = 0; d < ndims; d++) {
        if (dims[d] < 0)
            return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_DIMS, "MPI_Dims_create",
                        "negative dimension %d", dims[d]);
        if (dims[d] > 0) {
            if (left % dims[d])
                return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_DIMS, "MPI_Dims_create",
                            "%d nodes do not divide over the fixed dimensions", nnodes);
            left /= dims[d];
        } else {
            free_dims++;
        }
    }
    if (!free_dims) {
        if (left != 1)
            return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_DIMS, "MPI_Dims_create",
                        "%d nodes do not match the dimensions", nnodes);
        return MPI_SUCCESS;
    }
    int factors[64], nf = 0;
    for (int p = 2; left > 1 && nf < 64; p++)
        while (left % p == 0 && nf < 64) {
            factors[nf++] = p;
            left /= p;
        }
    int *free_v = calloc((size_t)free_dims, sizeof(int));
    for (int k = 0; k < free_dims; k++)
        free_v[k] = 1;
    for (int f = nf - 1; f >= 0; f--) {
        int smallest = 0;
        for (int k = 1; k < free_dims; k++)
            if (free_v[k] < free_v[smallest])
                smallest = k;
        free_v[smallest] *= factors[f];
    }
    for (int x = 1; x < free_dims; x++) /* non-increasing */
        for (int y = x; y > 0 && free_v[y - 1] < free_v[y]; y--) {
            int t = free_v[y];
            free_v[y] = free_v[y - 1];
            free_v[y - 1] = t;
        }
    for (int d = 0, k = 0; d < ndims; d++)
        if (dims[d] == 0)
            dims[d] = free_v[k++];
    free(free_v);
    return MPI_SUCCESS;
}

/* ---- user operations, error classes, attributes ------------------------ */

int MPI_Op_create(MPI_User_function *fn, int commute, MPI_Op *op)
{
    int r = started("MPI_Op_create");
    pthread_mutex_lock(&big);
    for (int i = 0; i < MAX_USER_OPS; i++)
        if (!user_ops[r][i].fn) {
            user_ops[r][i].fn = fn;
            user_ops[r][i].commute = commute;
            *op = (MPI_Op)(0x98000000u | (unsigned)i);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INTERN, "MPI_Op_create",
                "more than %d user operations", MAX_USER_OPS);
}

int MPI_Op_free(MPI_Op *op)
{
    started("MPI_Op_free");
    struct user_op *u = user_op_of(*op);
    if (!u)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_OP, "MPI_Op_free",
                    "not a user operation: 0x%x", (unsigned)*op);
    u->fn = NULL;
    *op = MPI_OP_NULL;
    return MPI_SUCCESS;
}

/* Every error code this library returns is its own class. */
int MPI_Error_class(int code, int *errorclass)
{
    *errorclass = code;
    return MPI_SUCCESS;
}

/* The predefined attributes of MPI_COMM_WORLD (no user keyvals yet). */
int MPI_Comm_get_attr(MPI_Comm comm, int keyval, void *value, int *flag)
{
    static int tag_ub = 0x7fffffff, host = MPI_PROC_NULL, io = MPI_ANY_SOURCE, wtime_global = 0;
    started("MPI_Comm_get_attr");
    if (!comm_of(comm))
        return fail(comm, NULL, MPI_ERR_COMM, "MPI_Comm_get_attr", "invalid communicator");
    if (keyval_of(keyval))
        return user_attr(comm, keyval, value, flag);
    int *v = keyval == MPI_TAG_UB            ? &tag_ub
             : keyval == MPI_HOST            ? &host
             : keyval == MPI_IO              ? &io
             : keyval == MPI_WTIME_IS_GLOBAL ? &wtime_global
                                             : NULL;
    *flag = v != NULL;
    if (v)
        *(int **)value = v;
    return MPI_SUCCESS;
}

int MPI_Attr_get(MPI_Comm comm, int keyval, void *value, int *flag)
{
    return MPI_Comm_get_attr(comm, keyval, value, flag);
}

/* ---- groups ----------------------------------------------------------- */

/* A group: world ranks in order. Handles 0x88000000 | index (MPICH's
 * kind); MPI_GROUP_EMPTY is its own. */
#define MAX_GROUPS 4096
struct group {
    int used, size;
    int *world;
};
static struct group groups[MAX_GROUPS];

static struct group *group_of(MPI_Group g)
{
    static struct group empty = {1, 0, NULL};
    if (g == MPI_GROUP_EMPTY)
        return &empty;
    unsigned i = (unsigned)g & 0xffffff;
    if (((unsigned)g >> 24) != 0x88 || i == 0 || i >= MAX_GROUPS || !groups[i].used)
        return NULL;
    return &groups[i];
}

/* Under `big`: a new group of `n` world ranks (copied). */
static int new_group(const int *world, int n, MPI_Group *out)
{
    for (int i = 1; i < MAX_GROUPS; i++)
        if (!groups[i].used) {
            groups[i].used = 1;
            groups[i].size = n;
            groups[i].world = malloc(sizeof(int) * (size_t)(n ? n : 1));
            memcpy(groups[i].world, world, sizeof(int) * (size_t)n);
            *out = (MPI_Group)(0x88000000u | (unsigned)i);
            return MPI_SUCCESS;
        }
    return MPI_ERR_INTERN;
}

#define GROUP(fn, h, g)                                                                       \
    struct group *g = group_of(h);                                                            \
    if (!g) {                                                                                 \
        pthread_mutex_unlock(&big);                                                           \
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_GROUP, fn, "invalid group 0x%x",      \
                    (unsigned)(h));                                                           \
    }

static int group_rank_of(const struct group *g, int world)
{
    for (int k = 0; k < g->size; k++)
        if (g->world[k] == world)
            return k;
    return MPI_UNDEFINED;
}

int MPI_Comm_group(MPI_Comm comm, MPI_Group *group)
{
    started("MPI_Comm_group");
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(comm);
    int err = c ? new_group(c->world, c->size, group) : MPI_ERR_COMM;
    pthread_mutex_unlock(&big);
    return err ? fail(comm, c, err, "MPI_Comm_group", "cannot make the group") : MPI_SUCCESS;
}

int MPI_Group_size(MPI_Group group, int *size)
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_size", group, g);
    *size = g->size;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Group_rank(MPI_Group group, int *rank)
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_rank", group, g);
    *rank = group_rank_of(g, me());
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Group_incl(MPI_Group group, int n, const int ranks_[], MPI_Group *newgroup)
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_incl", group, g);
    int *w = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    for (int k = 0; k < n; k++) {
        if (ranks_[k] < 0 || ranks_[k] >= g->size) {
            free(w);
            pthread_mutex_unlock(&big);
            return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_RANK, "MPI_Group_incl",
                        "rank %d is not in the group (size %d)", ranks_[k], g->size);
        }
        w[k] = g->world[ranks_[k]];
    }
    int err = new_group(w, n, newgroup);
    free(w);
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Group_excl(MPI_Group group, int n, const int ranks_[], MPI_Group *newgroup)
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_excl", group, g);
    int *w = malloc(sizeof(int) * (size_t)(g->size ? g->size : 1)), m = 0;
    for (int k = 0; k < g->size; k++) {
        int out = 0;
        for (int x = 0; x < n; x++)
            out |= ranks_[x] == k;
        if (!out)
            w[m++] = g->world[k];
    }
    int err = new_group(w, m, newgroup);
    free(w);
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Group_translate_ranks(MPI_Group g1, int n, const int ranks1[], MPI_Group g2,
                              int ranks2[])
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_translate_ranks", g1, a);
    GROUP("MPI_Group_translate_ranks", g2, b);
    for (int k = 0; k < n; k++)
        ranks2[k] = ranks1[k] == MPI_PROC_NULL ? MPI_PROC_NULL
                    : ranks1[k] < 0 || ranks1[k] >= a->size
                        ? MPI_UNDEFINED
                        : group_rank_of(b, a->world[ranks1[k]]);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

static int same_members(const struct group *a, const struct group *b, int ordered)
{
    if (a->size != b->size)
        return 0;
    for (int k = 0; k < a->size; k++)
        if (ordered ? a->world[k] != b->world[k] : group_rank_of(b, a->world[k]) == MPI_UNDEFINED)
            return 0;
    return 1;
}

int MPI_Group_compare(MPI_Group g1, MPI_Group g2, int *result)
{
    pthread_mutex_lock(&big);
    GROUP("MPI_Group_compare", g1, a);
    GROUP("MPI_Group_compare", g2, b);
    *result = same_members(a, b, 1) ? MPI_IDENT : same_members(a, b, 0) ? MPI_SIMILAR : MPI_UNEQUAL;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* Union, intersection, difference: members of the first in its order, then
 * (union) those of the second not in the first. */
static int group_set(MPI_Group g1, MPI_Group g2, int how, MPI_Group *out, const char *fn)
{
    pthread_mutex_lock(&big);
    GROUP(fn, g1, a);
    GROUP(fn, g2, b);
    int *w = malloc(sizeof(int) * (size_t)(a->size + b->size + 1)), m = 0;
    for (int k = 0; k < a->size; k++) {
        int in_b = group_rank_of(b, a->world[k]) != MPI_UNDEFINED;
        if (how == 0 || (how == 1 && in_b) || (how == 2 && !in_b))
            w[m++] = a->world[k];
    }
    if (how == 0)
        for (int k = 0; k < b->size; k++)
            if (group_rank_of(a, b->world[k]) == MPI_UNDEFINED)
                w[m++] = b->world[k];
    int err = new_group(w, m, out);
    free(w);
    pthread_mutex_unlock(&big);
    return err;
}

int MPI_Group_union(MPI_Group g1, MPI_Group g2, MPI_Group *out)
{
    return group_set(g1, g2, 0, out, "MPI_Group_union");
}

int MPI_Group_intersection(MPI_Group g1, MPI_Group g2, MPI_Group *out)
{
    return group_set(g1, g2, 1, out, "MPI_Group_intersection");
}

int MPI_Group_difference(MPI_Group g1, MPI_Group g2, MPI_Group *out)
{
    return group_set(g1, g2, 2, out, "MPI_Group_difference");
}

int MPI_Group_free(MPI_Group *group)
{
    pthread_mutex_lock(&big);
    if (*group != MPI_GROUP_EMPTY) {
        GROUP("MPI_Group_free", *group, g);
        free(g->world);
        memset(g, 0, sizeof *g);
    }
    *group = MPI_GROUP_NULL;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* Collective over comm: the members of `group` (a subgroup of comm's, the
 * same on every member) get a communicator in the group's order; the
 * others MPI_COMM_NULL. */
int MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm)
{
    started("MPI_Comm_create");
    pthread_mutex_lock(&big);
    struct group *g = group_of(group);
    int at = g ? group_rank_of(g, me()) : MPI_UNDEFINED;
    pthread_mutex_unlock(&big);
    if (!g)
        return fail(comm, comm_of(comm), MPI_ERR_GROUP, "MPI_Comm_create", "invalid group");
    return MPI_Comm_split(comm, at == MPI_UNDEFINED ? MPI_UNDEFINED : 0, at, newcomm);
}

int MPI_Comm_compare(MPI_Comm c1, MPI_Comm c2, int *result)
{
    started("MPI_Comm_compare");
    pthread_mutex_lock(&big);
    struct comm *a = comm_of(c1), *b = comm_of(c2);
    if (!a || !b) {
        pthread_mutex_unlock(&big);
        return fail(c1, a, MPI_ERR_COMM, "MPI_Comm_compare", "invalid communicator");
    }
    struct group ga = {1, a->size, a->world}, gb = {1, b->size, b->world};
    *result = a == b                    ? MPI_IDENT
              : same_members(&ga, &gb, 1) ? MPI_CONGRUENT
              : same_members(&ga, &gb, 0) ? MPI_SIMILAR
                                          : MPI_UNEQUAL;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- Cartesian topologies --------------------------------------------- */

static int cart_size(int ndims, const int *dims)
{
    int n = 1;
    for (int d = 0; d < ndims; d++)
        n *= dims[d];
    return n;
}

int MPI_Cart_create(MPI_Comm comm, int ndims, const int dims[], const int periods[], int reorder,
                    MPI_Comm *cart)
{
    (void)reorder; /* ranks keep their order: every placement is as good here */
    int r, size;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &size);
    int n = cart_size(ndims, dims);
    if (ndims < 0 || n > size)
        return fail(comm, comm_of(comm), MPI_ERR_DIMS, "MPI_Cart_create",
                    "a %d-process grid in a communicator of %d", n, size);
    int err = MPI_Comm_split(comm, r < n ? 0 : MPI_UNDEFINED, r, cart);
    if (err || *cart == MPI_COMM_NULL)
        return err;
    pthread_mutex_lock(&big);
    struct comm *c = comm_of(*cart);
    if (!c->ndims) {
        c->dims = malloc(sizeof(int) * (size_t)(ndims ? ndims : 1));
        c->periods = malloc(sizeof(int) * (size_t)(ndims ? ndims : 1));
        memcpy(c->dims, dims, sizeof(int) * (size_t)ndims);
        for (int d = 0; d < ndims; d++)
            c->periods[d] = periods[d] != 0;
        c->ndims = ndims;
    }
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

#define CART(fn, h, c)                                                                        \
    struct comm *c = comm_of(h);                                                              \
    if (!c || !c->ndims)                                                                      \
        return fail(h, c, MPI_ERR_TOPOLOGY, fn, "not a Cartesian communicator");

int MPI_Topo_test(MPI_Comm comm, int *status)
{
    COMM("MPI_Topo_test", comm, c);
    *status = c->topo ? topo_kind(c->topo) : c->ndims ? MPI_CART : MPI_UNDEFINED;
    return MPI_SUCCESS;
}

int MPI_Cartdim_get(MPI_Comm comm, int *ndims)
{
    CART("MPI_Cartdim_get", comm, c);
    *ndims = c->ndims;
    return MPI_SUCCESS;
}

/* Row-major: the last dimension varies fastest. */
int MPI_Cart_coords(MPI_Comm comm, int rank, int maxdims, int coords[])
{
    CART("MPI_Cart_coords", comm, c);
    if (rank < 0 || rank >= c->size)
        return fail(comm, c, MPI_ERR_RANK, "MPI_Cart_coords", "invalid rank %d", rank);
    for (int d = c->ndims - 1; d >= 0; d--) {
        if (d < maxdims)
            coords[d] = rank % c->dims[d];
        rank /= c->dims[d];
    }
    return MPI_SUCCESS;
}

int MPI_Cart_rank(MPI_Comm comm, const int coords[], int *rank)
{
    CART("MPI_Cart_rank", comm, c);
    int r = 0;
    for (int d = 0; d < c->ndims; d++) {
        int x = coords[d];
        if (c->periods[d])
            x = ((x % c->dims[d]) + c->dims[d]) % c->dims[d];
        else if (x < 0 || x >= c->dims[d])
            return fail(comm, c, MPI_ERR_ARG, "MPI_Cart_rank",
                        "coordinate %d out of range in dimension %d", x, d);
        r = r * c->dims[d] + x;
    }
    *rank = r;
    return MPI_SUCCESS;
}

int MPI_Cart_get(MPI_Comm comm, int maxdims, int dims[], int periods[], int coords[])
{
    CART("MPI_Cart_get", comm, c);
    int r = rank_in(c, me());
    for (int d = 0; d < c->ndims && d < maxdims; d++) {
        dims[d] = c->dims[d];
        periods[d] = c->periods[d];
    }
    return MPI_Cart_coords(comm, r, maxdims, coords);
}

int MPI_Cart_shift(MPI_Comm comm, int direction, int disp, int *source, int *dest)
{
    CART("MPI_Cart_shift", comm, c);
    if (direction < 0 || direction >= c->ndims)
        return fail(comm, c, MPI_ERR_ARG, "MPI_Cart_shift", "invalid direction %d", direction);
    int coords[64];
    MPI_Cart_coords(comm, rank_in(c, me()), 64, coords);
    int at = coords[direction], n = c->dims[direction];
    int to[2] = {at + disp, at - disp};
    int out[2];
    for (int k = 0; k < 2; k++) {
        int x = to[k];
        if (c->periods[direction])
            x = ((x % n) + n) % n;
        if (x < 0 || x >= n) {
            out[k] = MPI_PROC_NULL;
            continue;
        }
        coords[direction] = x;
        MPI_Cart_rank(comm, coords, &out[k]);
    }
    *dest = out[0];
    *source = out[1];
    return MPI_SUCCESS;
}

/* The sub-grids that keep the dimensions `remain`: members sharing the
 * coordinates of the dropped dimensions form one. */
int MPI_Cart_sub(MPI_Comm comm, const int remain[], MPI_Comm *newcomm)
{
    CART("MPI_Cart_sub", comm, c);
    int ndims = c->ndims, dims[64], periods[64], coords[64], kept = 0, color = 0, key = 0;
    MPI_Cart_coords(comm, rank_in(c, me()), 64, coords);
    for (int d = 0; d < ndims; d++) {
        if (remain[d]) {
            dims[kept] = c->dims[d];
            periods[kept++] = c->periods[d];
            key = key * c->dims[d] + coords[d];
        } else {
            color = color * c->dims[d] + coords[d];
        }
    }
    int err = MPI_Comm_split(comm, color, key, newcomm);
    if (err)
        return err;
    pthread_mutex_lock(&big);
    struct comm *s = comm_of(*newcomm);
    if (!s->ndims) {
        int n = kept ? kept : 1;
        s->dims = malloc(sizeof(int) * (size_t)n);
        s->periods = malloc(sizeof(int) * (size_t)n);
        s->dims[0] = 1;
        s->periods[0] = 0;
        memcpy(s->dims, dims, sizeof(int) * (size_t)kept);
        memcpy(s->periods, periods, sizeof(int) * (size_t)kept);
        s->ndims = n;
    }
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- matched probes --------------------------------------------------- */

/* A message MPI_Mprobe took off the queue: a send request, handed to
 * MPI_Mrecv through a request-table handle. */
static void probe_status(MPI_Status *status, const struct req *s)
{
    if (status == MPI_STATUS_IGNORE)
        return;
    status->MPI_SOURCE = s ? s->peer : MPI_PROC_NULL;
    status->MPI_TAG = s ? s->tag : MPI_ANY_TAG;
    status->count_lo = s ? (int)s->bytes : 0;
    status->count_hi_and_cancelled = 0;
    status->MPI_ERROR = MPI_SUCCESS;
}

static int mprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
                  MPI_Status *status, int block_for_it, const char *fn)
{
    started(fn);
    if (source == MPI_PROC_NULL) {
        *flag = 1;
        *message = MPI_MESSAGE_NO_PROC;
        probe_status(status, NULL);
        return MPI_SUCCESS;
    }
    COMM(fn, comm, c);
    pthread_mutex_lock(&big);
    struct req *s;
    while (!(s = probe(source, tag, c)) && block_for_it)
        block(fn);
    *flag = s != NULL;
    if (s) {
        struct rank *m = &ranks[me()];
        unlink_req(&m->unexpected, &m->unexpected_tail, s);
        /* The send may be one its sender still waits on: it stays in
         * flight; the handle names it until MPI_Mrecv delivers it. */
        struct req *holder = calloc(1, sizeof *holder);
        holder->sbuf = (const void *)s;
        holder->done = 1;
        *message = new_handle(holder);
        probe_status(status, s);
    } else {
        *message = MPI_MESSAGE_NULL;
    }
    pthread_mutex_unlock(&big);
    if (!s)
        sched_yield();
    return MPI_SUCCESS;
}

int MPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message, MPI_Status *status)
{
    int flag;
    return mprobe(source, tag, comm, &flag, message, status, 1, "MPI_Mprobe");
}

int MPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
                MPI_Status *status)
{
    return mprobe(source, tag, comm, flag, message, status, 0, "MPI_Improbe");
}

int MPI_Mrecv(void *buf, int count, MPI_Datatype t, MPI_Message *message, MPI_Status *status)
{
    started("MPI_Mrecv");
    if (*message == MPI_MESSAGE_NO_PROC) {
        probe_status(status, NULL);
        *message = MPI_MESSAGE_NULL;
        return MPI_SUCCESS;
    }
    pthread_mutex_lock(&big);
    struct req *holder = request_of(*message);
    if (!holder) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_REQUEST, "MPI_Mrecv", "invalid message");
    }
    struct req *s = (struct req *)holder->sbuf;
    release(holder);
    *message = MPI_MESSAGE_NULL;
    /* A receive for exactly that send, delivered at once. */
    struct req *r = calloc(1, sizeof *r);
    r->owner = me();
    r->bytes = (size_t)count * type_size(t);
    r->rbuf = buf;
    r->what = "MPI_Mrecv";
    if (!contiguous(t)) {
        r->rbuf = malloc(r->bytes ? r->bytes : 1);
        r->unpack_to = buf;
        r->utype = t;
    }
    deliver(s, r);
    set_status(status, r);
    int truncated = r->st.MPI_ERROR == MPI_ERR_TRUNCATE;
    release(r);
    pthread_mutex_unlock(&big);
    return truncated ? fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TRUNCATE, "MPI_Mrecv",
                            "message truncated")
                     : MPI_SUCCESS;
}

int MPI_Imrecv(void *buf, int count, MPI_Datatype t, MPI_Message *message, MPI_Request *request)
{
    MPI_Status st;
    int err = MPI_Mrecv(buf, count, t, message, &st);
    if (err)
        return err;
    /* Complete already: a request that says so, with the status. */
    pthread_mutex_lock(&big);
    struct req *done = calloc(1, sizeof *done);
    done->done = 1;
    done->owner = me();
    done->st = st;
    *request = new_handle(done);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* ---- memory, names, attributes, info ----------------------------------- */

int MPI_Alloc_mem(MPI_Aint size, MPI_Info info, void *baseptr)
{
    (void)info;
    void *p = malloc(size > 0 ? (size_t)size : 1);
    if (!p)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_NO_MEM, "MPI_Alloc_mem",
                    "cannot allocate %ld bytes", (long)size);
    *(void **)baseptr = p;
    return MPI_SUCCESS;
}

int MPI_Free_mem(void *base)
{
    free(base);
    return MPI_SUCCESS;
}

int MPI_Comm_set_name(MPI_Comm comm, const char *name)
{
    COMM("MPI_Comm_set_name", comm, c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return MPI_SUCCESS;
}

int MPI_Comm_get_name(MPI_Comm comm, char *name, int *resultlen)
{
    COMM("MPI_Comm_get_name", comm, c);
    const char *n = c->name[0] ? c->name
                    : comm == MPI_COMM_WORLD ? "MPI_COMM_WORLD"
                    : comm == MPI_COMM_SELF  ? "MPI_COMM_SELF"
                                             : "";
    snprintf(name, MPI_MAX_OBJECT_NAME, "%s", n);
    *resultlen = (int)strlen(name);
    return MPI_SUCCESS;
}

/* User keyvals and attributes: a process's own, so per rank here. */
#define MAX_KEYVALS 256
#define MAX_ATTRS 4096
struct keyval {
    int used, owner;
    MPI_Comm_copy_attr_function *copy;
    MPI_Comm_delete_attr_function *del;
    void *extra;
};
static struct keyval keyvals[MAX_KEYVALS];
struct attr {
    int used, owner, keyval;
    MPI_Comm comm;
    void *value;
};
static struct attr attrs[MAX_ATTRS];

/* MPICH's MPI_COMM_DUP_FN: the duplicate gets the same value. */
int MPIR_Dup_fn(MPI_Comm comm, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)comm;
    (void)keyval;
    (void)extra;
    *(void **)out = in;
    *flag = 1;
    return MPI_SUCCESS;
}

static struct keyval *keyval_of(int k)
{
    unsigned i = (unsigned)k & 0xffffff;
    if (((unsigned)k >> 24) != 0xa4 || i == 0 || i >= MAX_KEYVALS || !keyvals[i].used)
        return NULL;
    return &keyvals[i];
}

static struct attr *attr_of(MPI_Comm comm, int keyval, int owner)
{
    for (int i = 0; i < MAX_ATTRS; i++)
        if (attrs[i].used && attrs[i].comm == comm && attrs[i].keyval == keyval &&
            attrs[i].owner == owner)
            return &attrs[i];
    return NULL;
}

/* Keyvals of communicators, windows and datatypes are one kind here: their
 * callbacks' types differ only in the handle's name (all are ints). */
static int create_keyval(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
                         int *keyval, void *extra, const char *fn)
{
    int r = started(fn);
    pthread_mutex_lock(&big);
    for (int i = 1; i < MAX_KEYVALS; i++)
        if (!keyvals[i].used) {
            keyvals[i] = (struct keyval){1, r, copy, del, extra};
            *keyval = (int)(0xa4000000u | (unsigned)i);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INTERN, fn, "more than %d keyvals",
                MAX_KEYVALS);
}

int MPI_Comm_create_keyval(MPI_Comm_copy_attr_function *copy, MPI_Comm_delete_attr_function *del,
                           int *keyval, void *extra)
{
    return create_keyval(copy, del, keyval, extra, "MPI_Comm_create_keyval");
}

static int free_keyval(int *keyval, const char *fn)
{
    pthread_mutex_lock(&big);
    struct keyval *k = keyval_of(*keyval);
    if (k)
        k->used = 0;
    pthread_mutex_unlock(&big);
    *keyval = MPI_KEYVAL_INVALID;
    return k ? MPI_SUCCESS
             : fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, fn, "invalid keyval");
}

int MPI_Comm_free_keyval(int *keyval)
{
    return free_keyval(keyval, "MPI_Comm_free_keyval");
}

/* Under `big`: runs the delete callback of an attribute and drops it. */
static void drop_attr(struct attr *a)
{
    struct keyval *k = keyval_of(a->keyval);
    struct attr copy = *a;
    a->used = 0;
    if (k && k->del) {
        pthread_mutex_unlock(&big);
        k->del(copy.comm, copy.keyval, copy.value, k->extra);
        pthread_mutex_lock(&big);
    }
}

/* Sets the calling rank's attribute `keyval` of object h (a
 * communicator, window or datatype: their handles never coincide). */
static int set_attr(int h, int keyval, void *value, const char *fn)
{
    int r = started(fn);
    pthread_mutex_lock(&big);
    if (!keyval_of(keyval)) {
        pthread_mutex_unlock(&big);
        return fail(MPI_COMM_WORLD, comm_of(h), MPI_ERR_KEYVAL, fn, "invalid keyval 0x%x",
                    (unsigned)keyval);
    }
    struct attr *a = attr_of(h, keyval, r);
    if (a)
        drop_attr(a);
    for (int i = 0; i < MAX_ATTRS; i++)
        if (!attrs[i].used) {
            attrs[i] = (struct attr){1, r, keyval, h, value};
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(MPI_COMM_WORLD, comm_of(h), MPI_ERR_INTERN, fn, "more than %d attributes",
                MAX_ATTRS);
}

int MPI_Comm_set_attr(MPI_Comm comm, int keyval, void *value)
{
    started("MPI_Comm_set_attr");
    COMM("MPI_Comm_set_attr", comm, c);
    (void)c;
    return set_attr(comm, keyval, value, "MPI_Comm_set_attr");
}

static int delete_attr(int h, int keyval, const char *fn)
{
    int r = started(fn);
    pthread_mutex_lock(&big);
    struct attr *a = attr_of(h, keyval, r);
    if (a)
        drop_attr(a);
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

int MPI_Comm_delete_attr(MPI_Comm comm, int keyval)
{
    return delete_attr(comm, keyval, "MPI_Comm_delete_attr");
}

/* The user attributes of comm (for MPI_Comm_get_attr). */
static int user_attr(MPI_Comm comm, int keyval, void *value, int *flag)
{
    pthread_mutex_lock(&big);
    struct attr *a = attr_of(comm, keyval, me());
    *flag = a != NULL;
    if (a)
        *(void **)value = a->value;
    pthread_mutex_unlock(&big);
    return MPI_SUCCESS;
}

/* On MPI_Comm_dup: each attribute of `from` whose copy callback says so
 * goes to `to`; on MPI_Comm_free, delete callbacks run. */
static void copy_attrs(MPI_Comm from, MPI_Comm to)
{
    int r = me();
    pthread_mutex_lock(&big);
    for (int i = 0; i < MAX_ATTRS; i++) {
        if (!attrs[i].used || attrs[i].comm != from || attrs[i].owner != r)
            continue;
        struct keyval *k = keyval_of(attrs[i].keyval);
        if (!k || !k->copy)
            continue;
        struct attr a = attrs[i];
        void *out = NULL;
        int flag = 0;
        pthread_mutex_unlock(&big);
        k->copy(from, a.keyval, k->extra, a.value, &out, &flag);
        pthread_mutex_lock(&big);
        if (flag)
            for (int j = 0; j < MAX_ATTRS; j++)
                if (!attrs[j].used) {
                    attrs[j] = (struct attr){1, r, a.keyval, to, out};
                    break;
                }
    }
    pthread_mutex_unlock(&big);
}

static void delete_attrs(MPI_Comm comm)
{
    int r = me();
    pthread_mutex_lock(&big);
    for (int i = 0; i < MAX_ATTRS; i++)
        if (attrs[i].used && attrs[i].comm == comm && attrs[i].owner == r)
            drop_attr(&attrs[i]);
    pthread_mutex_unlock(&big);
}

/* Info objects: key/value lists, a rank's own. */
#define MAX_INFOS 1024
#define MAX_INFO_KEYS 64
struct info {
    int used, n;
    char *keys[MAX_INFO_KEYS], *values[MAX_INFO_KEYS];
};
static struct info infos[MAX_INFOS];

static struct info *info_of(MPI_Info h)
{
    unsigned i = (unsigned)h & 0xffffff;
    if (((unsigned)h >> 24) != 0x9c || i == 0 || i >= MAX_INFOS || !infos[i].used)
        return NULL;
    return &infos[i];
}

#define INFO(fn, h, x)                                                                        \
    struct info *x = info_of(h);                                                              \
    if (!x)                                                                                   \
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INFO, fn, "invalid info object");

int MPI_Info_create(MPI_Info *info)
{
    pthread_mutex_lock(&big);
    for (int i = 1; i < MAX_INFOS; i++)
        if (!infos[i].used) {
            memset(&infos[i], 0, sizeof infos[i]);
            infos[i].used = 1;
            *info = (MPI_Info)(0x9c000000u | (unsigned)i);
            pthread_mutex_unlock(&big);
            return MPI_SUCCESS;
        }
    pthread_mutex_unlock(&big);
    return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INTERN, "MPI_Info_create",
                "more than %d info objects", MAX_INFOS);
}

static int info_find(const struct info *x, const char *key)
{
    for (int k = 0; k < x->n; k++)
        if (!strcmp(x->keys[k], key))
            return k;
    return -1;
}

int MPI_Info_set(MPI_Info info, const char *key, const char *value)
{
    INFO("MPI_Info_set", info, x);
    int k = info_find(x, key);
    if (k >= 0) {
        free(x->values[k]);
        x->values[k] = strdup(value);
        return MPI_SUCCESS;
    }
    if (x->n == MAX_INFO_KEYS)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INFO_NOKEY, "MPI_Info_set",
                    "more than %d keys", MAX_INFO_KEYS);
    x->keys[x->n] = strdup(key);
    x->values[x->n++] = strdup(value);
    return MPI_SUCCESS;
}

int MPI_Info_get(MPI_Info info, const char *key, int valuelen, char *value, int *flag)
{
    INFO("MPI_Info_get", info, x);
    int k = info_find(x, key);
    *flag = k >= 0;
    if (k >= 0)
        snprintf(value, (size_t)valuelen + 1, "%s", x->values[k]);
    return MPI_SUCCESS;
}

int MPI_Info_get_valuelen(MPI_Info info, const char *key, int *valuelen, int *flag)
{
    INFO("MPI_Info_get_valuelen", info, x);
    int k = info_find(x, key);
    *flag = k >= 0;
    if (k >= 0)
        *valuelen = (int)strlen(x->values[k]);
    return MPI_SUCCESS;
}

int MPI_Info_get_nkeys(MPI_Info info, int *nkeys)
{
    INFO("MPI_Info_get_nkeys", info, x);
    *nkeys = x->n;
    return MPI_SUCCESS;
}

int MPI_Info_get_nthkey(MPI_Info info, int n, char *key)
{
    INFO("MPI_Info_get_nthkey", info, x);
    if (n < 0 || n >= x->n)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, "MPI_Info_get_nthkey",
                    "no key %d (%d keys)", n, x->n);
    snprintf(key, MPI_MAX_INFO_KEY + 1, "%s", x->keys[n]);
    return MPI_SUCCESS;
}

int MPI_Info_delete(MPI_Info info, const char *key)
{
    INFO("MPI_Info_delete", info, x);
    int k = info_find(x, key);
    if (k < 0)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INFO_NOKEY, "MPI_Info_delete",
                    "no key `%s`", key);
    free(x->keys[k]);
    free(x->values[k]);
    memmove(&x->keys[k], &x->keys[k + 1], sizeof(char *) * (size_t)(x->n - k - 1));
    memmove(&x->values[k], &x->values[k + 1], sizeof(char *) * (size_t)(x->n - k - 1));
    x->n--;
    return MPI_SUCCESS;
}

int MPI_Info_dup(MPI_Info info, MPI_Info *newinfo)
{
    INFO("MPI_Info_dup", info, x);
    int err = MPI_Info_create(newinfo);
    for (int k = 0; !err && k < x->n; k++)
        err = MPI_Info_set(*newinfo, x->keys[k], x->values[k]);
    return err;
}

int MPI_Info_free(MPI_Info *info)
{
    INFO("MPI_Info_free", *info, x);
    for (int k = 0; k < x->n; k++) {
        free(x->keys[k]);
        free(x->values[k]);
    }
    memset(x, 0, sizeof *x);
    *info = MPI_INFO_NULL;
    return MPI_SUCCESS;
}

/* ---- what is not supported -------------------------------------------- */

/* Calls a program may make that this library does not implement: each
 * ends the job with one line naming the call and the rank, instead of the
 * program failing to load. (Arguments are ignored: the C calling
 * convention lets a function take fewer than it is passed.) */
static void not_supported(const char *fn) __attribute__((noreturn));
static void not_supported(const char *fn)
{
    ending();
    fprintf(stderr, "weaves mpi: rank %d: %s not supported\n", me(), fn);
    job_exit(1);
}

#define UNSUPPORTED(name, fortran)                                                            \
    int name(void) { not_supported(#name); }                                                  \
    void fortran(void) { not_supported(#name); }

UNSUPPORTED(MPI_File_open, mpi_file_open_)
UNSUPPORTED(MPI_File_close, mpi_file_close_)
UNSUPPORTED(MPI_File_read, mpi_file_read_)
UNSUPPORTED(MPI_File_write, mpi_file_write_)
UNSUPPORTED(MPI_Comm_spawn, mpi_comm_spawn_)

/* ---- derived datatypes ------------------------------------------------ */

#include "datatypes.c"
#include "darray.c"

/* ---- block-moving and non-blocking collectives ----------------------- */

#include "nbc.c"

/* ---- more communicators, generalized requests ------------------------- */

#include "comm_more.c"
#include "graph.c"
#include "persist_coll.c"
#include "intercomm.c"
#include "intercoll.c"

/* ---- one-sided communication ------------------------------------------ */

#include "rma.c"
#include "rma_more.c"
#include "attrs.c"
#include "grequest.c"

static size_t derived_size(MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    return d ? d->size : 0;
}
