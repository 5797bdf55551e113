/*
 * MPI_Type_create_darray, included by mpi.c after datatypes.c: the part
 * of a global array one process of a grid owns under a block, cyclic or
 * no distribution per dimension (what a distributed array's I/O view
 * uses). The processes are numbered row-major in their grid, whatever
 * the array's order; in each dimension a process owns some global
 * indices, in increasing order, and the type covers every combination of
 * them, the fastest dimension last (C order) or first (Fortran order).
 * Its extent is the whole array's.
 */

/* The global indices of one dimension a process at `coord` owns (a new
 * array, its length in *n), or NULL with *why set. */
static int *darray_indices(int gsize, int distrib, int darg, int psize, int coord, int *n,
                           const char **why)
{
    int *idx = malloc(sizeof(int) * (size_t)(gsize > 0 ? gsize : 1));
    *n = 0;
    if (distrib == MPI_DISTRIBUTE_NONE) {
        for (int i = 0; i < gsize; i++)
            idx[(*n)++] = i;
    } else if (distrib == MPI_DISTRIBUTE_BLOCK) {
        int blk = darg == MPI_DISTRIBUTE_DFLT_DARG ? (gsize + psize - 1) / psize : darg;
        if (blk <= 0 || (long)blk * psize < gsize) {
            *why = "a block distribution's blocks do not cover the dimension";
            free(idx);
            return NULL;
        }
        for (long i = (long)coord * blk; i < (long)(coord + 1) * blk && i < gsize; i++)
            idx[(*n)++] = (int)i;
    } else if (distrib == MPI_DISTRIBUTE_CYCLIC) {
        int k = darg == MPI_DISTRIBUTE_DFLT_DARG ? 1 : darg;
        if (k <= 0) {
            *why = "a cyclic distribution's block size must be positive";
            free(idx);
            return NULL;
        }
        for (long s = (long)coord * k; s < gsize; s += (long)psize * k)
            for (long i = s; i < s + k && i < gsize; i++)
                idx[(*n)++] = (int)i;
    } else {
        *why = "unknown distribution";
        free(idx);
        return NULL;
    }
    return idx;
}

/* One dimension at a time, as subarray_dim does, over the owned indices. */
static void darray_dim(struct builder *b, const struct dtype *o, int ndims, const int *gsizes,
                       int *const *owned, const int *nowned, int order, int level, long at)
{
    int d = order == MPI_ORDER_C ? level : ndims - 1 - level;
    long stride = o->extent;
    for (int k = d + (order == MPI_ORDER_C ? 1 : -1); order == MPI_ORDER_C ? k < ndims : k >= 0;
         k += order == MPI_ORDER_C ? 1 : -1)
        stride *= gsizes[k];
    for (int i = 0; i < nowned[d]; i++) {
        long here = at + (long)owned[d][i] * stride;
        if (level == ndims - 1)
            add_elements(b, o, here, 1);
        else
            darray_dim(b, o, ndims, gsizes, owned, nowned, order, level + 1, here);
    }
}

int MPI_Type_create_darray(int size, int rank, int ndims, const int gsizes[],
                           const int distribs[], const int dargs[], const int psizes[], int order,
                           MPI_Datatype old, MPI_Datatype *newtype)
{
    const char *fn = "MPI_Type_create_darray";
    OLD(fn, old, o, one);
    long procs = 1;
    for (int d = 0; d < ndims; d++)
        procs *= psizes[d];
    if (order != MPI_ORDER_C && order != MPI_ORDER_FORTRAN)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, fn, "invalid order %d", order);
    if (ndims < 0 || procs != size || rank < 0 || rank >= size)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, fn,
                    "a grid of %ld processes for %d processes (rank %d)", procs, size, rank);
    int **owned = calloc((size_t)(ndims > 0 ? ndims : 1), sizeof *owned);
    int *nowned = calloc((size_t)(ndims > 0 ? ndims : 1), sizeof(int));
    const char *why = NULL;
    /* Row-major grid coordinates: the last dimension varies fastest. */
    int left = rank;
    for (int d = ndims - 1; d >= 0 && !why; d--) {
        int coord = left % psizes[d];
        left /= psizes[d];
        owned[d] = darray_indices(gsizes[d], distribs[d], dargs[d], psizes[d], coord, &nowned[d],
                                  &why);
    }
    int err = 0;
    if (!why) {
        struct builder b;
        start(&b);
        if (ndims > 0)
            darray_dim(&b, &o, ndims, gsizes, owned, nowned, order, 0, 0);
        long whole = o.extent;
        for (int d = 0; d < ndims; d++)
            whole *= gsizes[d];
        b.lo = 0;
        b.hi = whole;
        err = finish_type(&b, 0, newtype, fn);
    }
    for (int d = 0; d < ndims; d++)
        free(owned[d]);
    free(owned);
    free(nowned);
    if (why)
        return fail(MPI_COMM_WORLD, &comms[0], MPI_ERR_ARG, fn, "%s", why);
    return err;
}
