/*
 * Derived datatypes, included by mpi.c (one translation unit: these are
 * its static helpers and the MPI_Type_* entry points).
 *
 * A derived type is flattened when it is made: the byte blocks
 * (offset, length) one element covers, relative to the buffer, in order,
 * adjacent ones merged; its size (bytes of data), lower bound and extent
 * (the step between consecutive elements); and, when every element of it
 * is one basic type, that type and how many (reductions need them). A
 * message of a non-contiguous type is packed into a contiguous copy when
 * sent and unpacked when it arrives: the rest of the library only ever
 * moves contiguous bytes.
 */

struct block {
    long off;
    size_t len;
};

struct dtype {
    int used, committed;
    size_t size;
    long lb, extent;
    int nblocks;
    struct block *blocks;
    MPI_Datatype basic; /* 0 when elements are of several basic types */
    size_t basic_count; /* (predefined reductions do not apply to derived
                           types, as the standard and MPICH say; kept for
                           the day a user operation wants them) */
    size_t align; /* the largest alignment of its basic types (struct padding) */
};

#define MAX_DTYPES 8192
static struct dtype dtypes[MAX_DTYPES];

static struct dtype *dtype_of(MPI_Datatype t)
{
    unsigned i = (unsigned)t & 0xffffff;
    if (((unsigned)t >> 24) != 0xcc || i == 0 || i >= MAX_DTYPES || !dtypes[i].used)
        return NULL;
    return &dtypes[i];
}

/* A basic (or pair) type viewed as a one-block type; 0 if t is unknown. */
static int view_of(MPI_Datatype t, struct dtype *out, struct block *one)
{
    struct dtype *d = dtype_of(t);
    if (d) {
        *out = *d;
        return 1;
    }
    size_t s = type_size(t);
    if (!s)
        return 0;
    one->off = 0;
    one->len = s;
    *out = (struct dtype){1, 1, s, 0, (long)s, 1, one, t, 1, s > 16 ? 16 : s};
    if (pair_of(t)) {
        out->basic = 0;
        out->align = pair_of(t)->value_size;
    }
    return 1;
}

/* A type under construction: blocks appended in order. */
struct builder {
    struct block *blocks;
    int n, cap;
    size_t size;
    long lo, hi; /* lower bound, upper bound */
    MPI_Datatype basic;
    size_t basic_count;
    int mixed;
    size_t align;
};

static void add_block(struct builder *b, long off, size_t len)
{
    if (!len)
        return;
    if (b->n && b->blocks[b->n - 1].off + (long)b->blocks[b->n - 1].len == off) {
        b->blocks[b->n - 1].len += len;
    } else {
        if (b->n == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 8;
            b->blocks = realloc(b->blocks, sizeof *b->blocks * (size_t)b->cap);
        }
        b->blocks[b->n++] = (struct block){off, len};
    }
    b->size += len;
}

/* Appends `count` elements of `old` starting at byte `at`. */
static void add_elements(struct builder *b, const struct dtype *old, long at, long count)
{
    if (count <= 0)
        return;
    for (long k = 0; k < count; k++)
        for (int j = 0; j < old->nblocks; j++)
            add_block(b, at + k * old->extent + old->blocks[j].off, old->blocks[j].len);
    long lo = at + old->lb, hi = at + old->lb + count * old->extent;
    if (b->lo > lo)
        b->lo = lo;
    if (b->hi < hi)
        b->hi = hi;
    if (old->basic && (!b->basic || b->basic == old->basic)) {
        b->basic = old->basic;
        b->basic_count += old->basic_count * (size_t)count;
    } else {
        b->mixed = 1;
    }
    if (old->align > b->align)
        b->align = old->align;
}

static void start(struct builder *b)
{
    memset(b, 0, sizeof *b);
    b->lo = LONG_MAX;
    b->hi = LONG_MIN;
}

/* Registers the type built (struct types pad their extent to their
 * alignment, as MPICH does, so arrays of C structs step right). */
static int finish_type(struct builder *b, int pad, MPI_Datatype *out, const char *fn)
{
    if (b->lo == LONG_MAX)
        b->lo = b->hi = 0;
    long extent = b->hi - b->lo;
    if (pad && b->align > 1 && extent % (long)b->align)
        extent += (long)b->align - extent % (long)b->align;
    /* The table is the whole job's and ranks build types at once on
     * several workers: a slot is claimed by an atomic exchange of `used`,
     * or two ranks took the same one and the second free failed. */
    for (int i = 1; i < MAX_DTYPES; i++) {
        int unused = 0;
        if (__atomic_compare_exchange_n(&dtypes[i].used, &unused, 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            dtypes[i] = (struct dtype){1, 0, b->size, b->lo, extent, b->n, b->blocks,
                                       b->mixed ? 0 : b->basic, b->basic_count, b->align};
            *out = (MPI_Datatype)(0xcc000000u | (unsigned)i);
            return MPI_SUCCESS;
        }
    }
    free(b->blocks);
    return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_INTERN, fn, "more than %d datatypes",
                MAX_DTYPES);
}

#define OLD(fn, t, view, one)                                                                 \
    struct dtype view;                                                                        \
    struct block one;                                                                         \
    if (!view_of(t, &view, &one))                                                             \
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, fn, "invalid datatype 0x%x",    \
                    (unsigned)(t));

int MPI_Type_contiguous(int count, MPI_Datatype old, MPI_Datatype *newtype)
{
    OLD("MPI_Type_contiguous", old, o, one);
    struct builder b;
    start(&b);
    add_elements(&b, &o, 0, count);
    return finish_type(&b, 0, newtype, "MPI_Type_contiguous");
}

static int hvector(int count, int blocklen, long stride_bytes, MPI_Datatype old,
                   MPI_Datatype *newtype, const char *fn)
{
    OLD(fn, old, o, one);
    struct builder b;
    start(&b);
    for (int i = 0; i < count; i++)
        add_elements(&b, &o, (long)i * stride_bytes, blocklen);
    return finish_type(&b, 0, newtype, fn);
}

int MPI_Type_vector(int count, int blocklen, int stride, MPI_Datatype old, MPI_Datatype *newtype)
{
    struct dtype o;
    struct block one;
    if (!view_of(old, &o, &one))
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Type_vector",
                    "invalid datatype 0x%x", (unsigned)old);
    return hvector(count, blocklen, (long)stride * o.extent, old, newtype, "MPI_Type_vector");
}

int MPI_Type_create_hvector(int count, int blocklen, MPI_Aint stride, MPI_Datatype old,
                            MPI_Datatype *newtype)
{
    return hvector(count, blocklen, stride, old, newtype, "MPI_Type_create_hvector");
}

int MPI_Type_hvector(int count, int blocklen, MPI_Aint stride, MPI_Datatype old,
                     MPI_Datatype *newtype)
{
    return hvector(count, blocklen, stride, old, newtype, "MPI_Type_hvector");
}

/* Indexed types: block i has lens[i] (or `same`) elements at displs[i]
 * elements (or bytes, with `bytes`). */
static int indexed(int count, const int *lens, int same, const void *displs, int bytes,
                   MPI_Datatype old, MPI_Datatype *newtype, const char *fn)
{
    OLD(fn, old, o, one);
    struct builder b;
    start(&b);
    for (int i = 0; i < count; i++) {
        long d = bytes ? (long)((const MPI_Aint *)displs)[i] : (long)((const int *)displs)[i] * o.extent;
        add_elements(&b, &o, d, lens ? lens[i] : same);
    }
    return finish_type(&b, 0, newtype, fn);
}

int MPI_Type_indexed(int count, const int lens[], const int displs[], MPI_Datatype old,
                     MPI_Datatype *newtype)
{
    return indexed(count, lens, 0, displs, 0, old, newtype, "MPI_Type_indexed");
}

int MPI_Type_create_hindexed(int count, const int lens[], const MPI_Aint displs[],
                             MPI_Datatype old, MPI_Datatype *newtype)
{
    return indexed(count, lens, 0, displs, 1, old, newtype, "MPI_Type_create_hindexed");
}

int MPI_Type_create_indexed_block(int count, int len, const int displs[], MPI_Datatype old,
                                  MPI_Datatype *newtype)
{
    return indexed(count, NULL, len, displs, 0, old, newtype, "MPI_Type_create_indexed_block");
}

int MPI_Type_create_struct(int count, const int lens[], const MPI_Aint displs[],
                           const MPI_Datatype types[], MPI_Datatype *newtype)
{
    struct builder b;
    start(&b);
    for (int i = 0; i < count; i++) {
        struct dtype o;
        struct block one;
        if (!view_of(types[i], &o, &one)) {
            free(b.blocks);
            return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Type_create_struct",
                        "invalid datatype 0x%x", (unsigned)types[i]);
        }
        add_elements(&b, &o, (long)displs[i], lens[i]);
    }
    return finish_type(&b, 1, newtype, "MPI_Type_create_struct");
}

int MPI_Type_struct(int count, const int lens[], const MPI_Aint displs[],
                    const MPI_Datatype types[], MPI_Datatype *newtype)
{
    return MPI_Type_create_struct(count, lens, displs, types, newtype);
}

/* One dimension of a subarray at a time, the fastest last (C order) or
 * first (Fortran order). */
static void subarray_dim(struct builder *b, const struct dtype *o, int ndims, const int *sizes,
                         const int *subsizes, const int *starts, int order, int level, long at)
{
    int d = order == MPI_ORDER_C ? level : ndims - 1 - level;
    long stride = o->extent;
    for (int k = d + (order == MPI_ORDER_C ? 1 : -1); order == MPI_ORDER_C ? k < ndims : k >= 0;
         k += order == MPI_ORDER_C ? 1 : -1)
        stride *= sizes[k];
    for (int i = 0; i < subsizes[d]; i++) {
        long here = at + (long)(starts[d] + i) * stride;
        if (level == ndims - 1)
            add_elements(b, o, here, 1);
        else
            subarray_dim(b, o, ndims, sizes, subsizes, starts, order, level + 1, here);
    }
}

int MPI_Type_create_subarray(int ndims, const int sizes[], const int subsizes[],
                             const int starts[], int order, MPI_Datatype old,
                             MPI_Datatype *newtype)
{
    OLD("MPI_Type_create_subarray", old, o, one);
    if (order != MPI_ORDER_C && order != MPI_ORDER_FORTRAN)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, "MPI_Type_create_subarray",
                    "invalid order %d", order);
    struct builder b;
    start(&b);
    if (ndims > 0)
        subarray_dim(&b, &o, ndims, sizes, subsizes, starts, order, 0, 0);
    /* The extent is the whole array's. */
    long whole = o.extent;
    for (int d = 0; d < ndims; d++)
        whole *= sizes[d];
    b.lo = 0;
    b.hi = whole;
    return finish_type(&b, 0, newtype, "MPI_Type_create_subarray");
}

int MPI_Type_create_resized(MPI_Datatype old, MPI_Aint lb, MPI_Aint extent, MPI_Datatype *newtype)
{
    OLD("MPI_Type_create_resized", old, o, one);
    struct builder b;
    start(&b);
    add_elements(&b, &o, 0, 1);
    b.lo = lb;
    b.hi = lb + extent;
    return finish_type(&b, 0, newtype, "MPI_Type_create_resized");
}

int MPI_Type_dup(MPI_Datatype old, MPI_Datatype *newtype)
{
    OLD("MPI_Type_dup", old, o, one);
    struct builder b;
    start(&b);
    add_elements(&b, &o, 0, 1);
    b.lo = o.lb;
    b.hi = o.lb + o.extent;
    int err = finish_type(&b, 0, newtype, "MPI_Type_dup");
    if (!err)
        copy_attrs(old, *newtype);
    return err;
}

int MPI_Type_commit(MPI_Datatype *t)
{
    struct dtype *d = dtype_of(*t);
    if (d)
        d->committed = 1;
    else if (!known_type(*t))
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Type_commit",
                    "invalid datatype 0x%x", (unsigned)*t);
    return MPI_SUCCESS;
}

int MPI_Type_free(MPI_Datatype *t)
{
    struct dtype *d = dtype_of(*t);
    if (!d)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_TYPE, "MPI_Type_free",
                    "not a derived datatype: 0x%x", (unsigned)*t);
    delete_attrs(*t);
    free(d->blocks);
    /* Everything but `used`, then `used`: the slot is free only once it is
     * clean (another rank may claim it at once). */
    struct dtype clean = {0};
    clean.used = 1;
    *d = clean;
    __atomic_store_n(&d->used, 0, __ATOMIC_RELEASE);
    *t = MPI_DATATYPE_NULL;
    return MPI_SUCCESS;
}

int MPI_Type_get_extent(MPI_Datatype t, MPI_Aint *lb, MPI_Aint *extent)
{
    OLD("MPI_Type_get_extent", t, o, one);
    *lb = o.lb;
    *extent = o.extent;
    return MPI_SUCCESS;
}

int MPI_Type_get_true_extent(MPI_Datatype t, MPI_Aint *lb, MPI_Aint *extent)
{
    OLD("MPI_Type_get_true_extent", t, o, one);
    long lo = LONG_MAX, hi = LONG_MIN;
    for (int i = 0; i < o.nblocks; i++) {
        if (o.blocks[i].off < lo)
            lo = o.blocks[i].off;
        if (o.blocks[i].off + (long)o.blocks[i].len > hi)
            hi = o.blocks[i].off + (long)o.blocks[i].len;
    }
    *lb = o.nblocks ? lo : 0;
    *extent = o.nblocks ? hi - lo : 0;
    return MPI_SUCCESS;
}

int MPI_Type_extent(MPI_Datatype t, MPI_Aint *extent)
{
    MPI_Aint lb;
    return MPI_Type_get_extent(t, &lb, extent);
}

int MPI_Get_address(const void *location, MPI_Aint *address)
{
    *address = (MPI_Aint)location;
    return MPI_SUCCESS;
}

int MPI_Address(void *location, MPI_Aint *address)
{
    return MPI_Get_address(location, address);
}

/* Whether count elements of t lie in one contiguous run from the buffer. */
static int contiguous(MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    return !d || (d->nblocks <= 1 && (d->nblocks == 0 || d->blocks[0].off == 0) &&
                  d->lb == 0 && d->extent == (long)d->size);
}

/* Gathers count elements of t from buf into out (size(t) * count bytes). */
static void pack(const void *buf, int count, MPI_Datatype t, void *out)
{
    struct dtype *d = dtype_of(t);
    if (contiguous(t)) {
        memcpy(out, buf, (size_t)count * type_size(t));
        return;
    }
    char *o = out;
    for (int k = 0; k < count; k++)
        for (int j = 0; j < d->nblocks; j++) {
            memcpy(o, (const char *)buf + (long)k * d->extent + d->blocks[j].off, d->blocks[j].len);
            o += d->blocks[j].len;
        }
}

/* Scatters `bytes` packed bytes into elements of t at buf (a partial last
 * element stops where the bytes do). */
static void unpack(const void *in, size_t bytes, void *buf, MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    if (contiguous(t)) {
        memcpy(buf, in, bytes);
        return;
    }
    const char *i = in;
    for (long k = 0; bytes; k++)
        for (int j = 0; j < d->nblocks && bytes; j++) {
            size_t n = d->blocks[j].len < bytes ? d->blocks[j].len : bytes;
            memcpy((char *)buf + k * d->extent + d->blocks[j].off, i, n);
            i += n;
            bytes -= n;
        }
}

/* A user operation over count packed elements of a non-contiguous type
 * t: the function expects its operands laid out as t says, so both are
 * unpacked into scratch buffers covering the elements' span, the function
 * runs (inout = acc OP in, in the ranks' order), and its result is packed
 * back into acc. */
static void user_combine_laid_out(MPI_User_function *fn, void *acc, const void *in, size_t count,
                                  MPI_Datatype t)
{
    struct dtype *d = dtype_of(t);
    long lo = 0, hi = 0; /* where one element's bytes lie */
    for (int j = 0; j < d->nblocks; j++) {
        long a = d->blocks[j].off, b = a + (long)d->blocks[j].len;
        lo = j == 0 || a < lo ? a : lo;
        hi = j == 0 || b > hi ? b : hi;
    }
    long steps = count ? (long)(count - 1) * d->extent : 0;
    long first = lo + (steps < 0 ? steps : 0), last = hi + (steps > 0 ? steps : 0);
    size_t span = (size_t)(last - first);
    char *x = calloc(1, span ? span : 1), *y = calloc(1, span ? span : 1);
    /* Element 0 sits -first bytes into each scratch buffer. */
    size_t bytes = count * d->size;
    unpack(acc, bytes, x - first, t);
    unpack(in, bytes, y - first, t);
    int len = (int)count;
    MPI_Datatype dt = t;
    fn(x - first, y - first, &len, &dt);
    pack(y - first, len, t, acc);
    free(x);
    free(y);
}

int MPI_Pack_size(int incount, MPI_Datatype t, MPI_Comm comm, int *size)
{
    (void)comm;
    *size = incount * (int)type_size(t);
    return MPI_SUCCESS;
}

int MPI_Pack(const void *inbuf, int incount, MPI_Datatype t, void *outbuf, int outsize,
             int *position, MPI_Comm comm)
{
    size_t n = (size_t)incount * type_size(t);
    if (*position + (long)n > outsize)
        return fail(comm, comm_of(comm), MPI_ERR_TRUNCATE, "MPI_Pack",
                    "%zu bytes do not fit at position %d of %d", n, *position, outsize);
    pack(inbuf, incount, t, (char *)outbuf + *position);
    *position += (int)n;
    return MPI_SUCCESS;
}

int MPI_Unpack(const void *inbuf, int insize, int *position, void *outbuf, int outcount,
               MPI_Datatype t, MPI_Comm comm)
{
    size_t n = (size_t)outcount * type_size(t);
    if (*position + (long)n > insize)
        return fail(comm, comm_of(comm), MPI_ERR_TRUNCATE, "MPI_Unpack",
                    "%zu bytes wanted at position %d of %d", n, *position, insize);
    unpack((const char *)inbuf + *position, n, outbuf, t);
    *position += (int)n;
    return MPI_SUCCESS;
}
