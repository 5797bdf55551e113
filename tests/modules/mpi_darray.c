/* mpi_darray: Type_create_darray (block, cyclic, cyclic(2) and no
 * distribution; C and Fortran order; 2-D and 3-D grids from Dims_create;
 * sizes that do not divide evenly) seen through Type_size,
 * Type_get_extent and MPI_Pack of a global array, and a darray type used
 * to send a rank's part to rank 0; and Dist_graph_create (the
 * non-adjacent form: each rank names edges between other ranks), with
 * weights, asked with Dist_graph_neighbors(_count) and used by
 * neighbourhood collectives. MPICH orders a rank's neighbours as their
 * edges arrive, so they are printed sorted. One line per rank, compared
 * with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long mix(long h, long v)
{
    return (h * 131 + v) % 1000000007L;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The darray's size, extent and packed elements of a global array whose
 * values are their own indices, into h. */
static long darray_sum(long h, int size, int rank, int ndims, const int *gsizes,
                       const int *distribs, const int *dargs, const int *psizes, int order)
{
    MPI_Datatype t;
    MPI_Type_create_darray(size, rank, ndims, gsizes, distribs, dargs, psizes, order, MPI_INT,
                           &t);
    MPI_Type_commit(&t);
    int tsize;
    MPI_Aint lb, extent;
    MPI_Type_size(t, &tsize);
    MPI_Type_get_extent(t, &lb, &extent);
    int total = 1;
    for (int d = 0; d < ndims; d++)
        total *= gsizes[d];
    int *global = malloc(sizeof(int) * total), *local = malloc(tsize + 4);
    for (int k = 0; k < total; k++)
        global[k] = k;
    int pos = 0;
    MPI_Pack(global, 1, t, local, tsize + 4, &pos, MPI_COMM_SELF);
    h = mix(mix(mix(h, tsize), (long)lb), (long)extent);
    for (int k = 0; k < tsize / 4; k++)
        h = mix(h, local[k]);
    MPI_Type_free(&t);
    free(global);
    free(local);
    return h;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long h = 0;

    int p2[2] = {0, 0};
    MPI_Dims_create(size, 2, p2);
    int g2[2] = {7, 5}, dflt[3] = {MPI_DISTRIBUTE_DFLT_DARG, MPI_DISTRIBUTE_DFLT_DARG,
                                    MPI_DISTRIBUTE_DFLT_DARG};
    int bb[2] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_BLOCK};
    int cb[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_BLOCK};
    h = darray_sum(h, size, rank, 2, g2, bb, dflt, p2, MPI_ORDER_C);
    h = darray_sum(h, size, rank, 2, g2, cb, dflt, p2, MPI_ORDER_FORTRAN);
    int cn[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_NONE}, two[2] = {2, 0};
    int row[2] = {size, 1}, g11[2] = {11, 3};
    h = darray_sum(h, size, rank, 2, g11, cn, two, row, MPI_ORDER_C);
    int p3[3] = {0, 0, 0};
    MPI_Dims_create(size, 3, p3);
    int g3[3] = {4, 5, 6}, d3[3] = {MPI_DISTRIBUTE_BLOCK, MPI_DISTRIBUTE_CYCLIC,
                                    MPI_DISTRIBUTE_CYCLIC},
        a3[3] = {MPI_DISTRIBUTE_DFLT_DARG, 2, MPI_DISTRIBUTE_DFLT_DARG};
    h = darray_sum(h, size, rank, 3, g3, d3, a3, p3, MPI_ORDER_FORTRAN);
    h = darray_sum(h, size, rank, 3, g3, d3, a3, p3, MPI_ORDER_C);

    /* Each rank's part of a 7x5 block-cyclic array, sent to rank 0 as
     * the darray type and received as plain ints. */
    MPI_Datatype part;
    int cc[2] = {MPI_DISTRIBUTE_CYCLIC, MPI_DISTRIBUTE_CYCLIC};
    MPI_Type_create_darray(size, rank, 2, g2, cc, dflt, p2, MPI_ORDER_C, MPI_INT, &part);
    MPI_Type_commit(&part);
    int global[35];
    for (int k = 0; k < 35; k++)
        global[k] = rank * 100 + k;
    MPI_Request sreq;
    MPI_Isend(global, 1, part, 0, 5, MPI_COMM_WORLD, &sreq);
    if (rank == 0) {
        int got[35];
        for (int from = 0; from < size; from++) {
            MPI_Status st;
            int n;
            MPI_Recv(got, 35, MPI_INT, from, 5, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_INT, &n);
            h = mix(h, n);
            for (int k = 0; k < n; k++)
                h = mix(h, got[k]);
        }
    }
    MPI_Wait(&sreq, MPI_STATUS_IGNORE);
    MPI_Type_free(&part);

    /* A distributed graph whose edges are named by other ranks: rank r
     * names r+1 -> r+2 (weight r) and r+3 -> r (weight 10 + r). */
    int srcs[2] = {(rank + 1) % size, (rank + 3) % size}, degs[2] = {1, 1};
    int dsts[2] = {(rank + 2) % size, rank}, wts[2] = {rank, 10 + rank};
    MPI_Comm g;
    MPI_Dist_graph_create(MPI_COMM_WORLD, 2, srcs, degs, dsts, wts, MPI_INFO_NULL, 0, &g);
    int status, indeg, outdeg, weighted;
    MPI_Topo_test(g, &status);
    MPI_Dist_graph_neighbors_count(g, &indeg, &outdeg, &weighted);
    int in[8], inw[8], out[8], outw[8];
    MPI_Dist_graph_neighbors(g, indeg, in, inw, outdeg, out, outw);
    /* Sorted (neighbour, weight) pairs, as one number each. */
    int ins[8], outs[8];
    for (int k = 0; k < indeg; k++)
        ins[k] = in[k] * 1000 + inw[k];
    for (int k = 0; k < outdeg; k++)
        outs[k] = out[k] * 1000 + outw[k];
    qsort(ins, indeg, sizeof(int), cmp_int);
    qsort(outs, outdeg, sizeof(int), cmp_int);
    /* Neighbourhood collectives, whose sums do not depend on order. */
    int me = rank * 7 + 1, from[8], to[8], back[8];
    MPI_Neighbor_allgather(&me, 1, MPI_INT, from, 1, MPI_INT, g);
    for (int k = 0; k < outdeg; k++)
        to[k] = rank * 1000 + out[k];
    MPI_Neighbor_alltoall(to, 1, MPI_INT, back, 1, MPI_INT, g);
    long sum_from = 0, sum_back = 0;
    for (int k = 0; k < indeg; k++) {
        sum_from += from[k];
        sum_back += back[k];
    }
    /* Unweighted, with a rank naming no edges. */
    MPI_Comm u;
    int usrc = rank, udeg = rank % 2 ? 0 : 1, udst = (rank + size - 1) % size;
    MPI_Dist_graph_create(MPI_COMM_WORLD, 1, &usrc, &udeg, &udst, MPI_UNWEIGHTED, MPI_INFO_NULL,
                          0, &u);
    int uin, uout, uw;
    MPI_Dist_graph_neighbors_count(u, &uin, &uout, &uw);

    /* One printf per line: MPICH's launcher may splice pieces of lines. */
    char line[512];
    int at = snprintf(line, sizeof line, "rank %d: darray %ld, graph %d in", rank, h,
                      status == MPI_DIST_GRAPH);
    for (int k = 0; k < indeg; k++)
        at += snprintf(line + at, sizeof line - at, " %d", ins[k]);
    at += snprintf(line + at, sizeof line - at, " out");
    for (int k = 0; k < outdeg; k++)
        at += snprintf(line + at, sizeof line - at, " %d", outs[k]);
    printf("%s weighted %d gathered %ld exchanged %ld; unweighted %d %d %d\n", line, weighted,
           sum_from, sum_back, uin, uout, uw);
    MPI_Comm_free(&g);
    MPI_Comm_free(&u);
    MPI_Finalize();
    return 0;
}
