/* mpi_intercoll: collectives on an intercommunicator between the even
 * and the odd ranks (groups of different sizes for odd counts): Barrier,
 * Bcast (MPI_ROOT, MPI_PROC_NULL), Allreduce, Allgather, Alltoall,
 * Reduce, Gather, Scatter, from either group, blocking and non-blocking
 * (Ibcast, Iallreduce, Ialltoall). One line per rank, compared with
 * MPICH's output (one rank has no other group: it says so). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static long mix(long h, long v)
{
    return (h * 131 + v) % 1000000007L;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        printf("rank %d: no other group\n", rank);
        MPI_Finalize();
        return 0;
    }
    int color = rank % 2;
    MPI_Comm local, inter;
    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &local);
    int lrank, lsize, rsize;
    MPI_Comm_rank(local, &lrank);
    MPI_Comm_size(local, &lsize);
    /* Leaders: world 0 (evens) and world 1 (odds). */
    MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, 1 - color, 7, &inter);
    MPI_Comm_remote_size(inter, &rsize);
    long h = 0;

    MPI_Barrier(inter);

    /* Bcast from the evens' last rank, then from the odds' first. */
    int b[3] = {-1, -1, -1};
    int root0 = lsize - 1;
    if (color == 0) {
        if (lrank == root0)
            b[0] = 10, b[1] = 20, b[2] = 30;
        MPI_Bcast(b, 3, MPI_INT, lrank == root0 ? MPI_ROOT : MPI_PROC_NULL, inter);
    } else {
        MPI_Bcast(b, 3, MPI_INT, rsize - 1, inter);
    }
    h = mix(mix(mix(h, b[0]), b[1]), b[2]);
    double d = -1;
    if (color == 1) {
        if (lrank == 0)
            d = 2.5;
        MPI_Bcast(&d, 1, MPI_DOUBLE, lrank == 0 ? MPI_ROOT : MPI_PROC_NULL, inter);
    } else {
        MPI_Bcast(&d, 1, MPI_DOUBLE, 0, inter);
    }
    h = mix(h, (long)(d * 10));

    /* Each group gets the other's sum. */
    int mine[2] = {rank + 1, rank * rank}, sum[2] = {0, 0};
    MPI_Allreduce(mine, sum, 2, MPI_INT, MPI_SUM, inter);
    h = mix(mix(h, sum[0]), sum[1]);

    /* Every rank gets the other group's values, in its rank order. */
    int *all = calloc(2 * rsize, sizeof(int));
    MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, inter);
    for (int k = 0; k < 2 * rsize; k++)
        h = mix(h, all[k]);

    /* Block k to remote rank k. */
    int *out = calloc(rsize, sizeof(int)), *in = calloc(rsize, sizeof(int));
    for (int k = 0; k < rsize; k++)
        out[k] = rank * 100 + k;
    MPI_Alltoall(out, 1, MPI_INT, in, 1, MPI_INT, inter);
    for (int k = 0; k < rsize; k++)
        h = mix(h, in[k]);

    /* Reduce into the odds' rank 0; Gather into the evens' rank 0;
     * Scatter from the odds' last rank. */
    int red = -1, dummy[2] = {0, 0};
    if (color == 1)
        MPI_Reduce(dummy, &red, 1, MPI_INT, MPI_MAX, lrank == 0 ? MPI_ROOT : MPI_PROC_NULL, inter);
    else
        MPI_Reduce(&mine[0], dummy, 1, MPI_INT, MPI_MAX, 0, inter);
    h = mix(h, red);
    int *gat = calloc(rsize, sizeof(int));
    if (color == 0)
        MPI_Gather(dummy, 0, MPI_INT, gat, 1, MPI_INT, lrank == 0 ? MPI_ROOT : MPI_PROC_NULL,
                   inter);
    else
        MPI_Gather(&mine[1], 1, MPI_INT, dummy, 0, MPI_INT, 0, inter);
    for (int k = 0; k < rsize; k++)
        h = mix(h, gat[k]);
    int *src = calloc(rsize, sizeof(int)), got = -1;
    for (int k = 0; k < rsize; k++)
        src[k] = 1000 + k * 3;
    if (color == 1)
        MPI_Scatter(src, 1, MPI_INT, dummy, 0, MPI_INT,
                    lrank == lsize - 1 ? MPI_ROOT : MPI_PROC_NULL, inter);
    else
        MPI_Scatter(dummy, 0, MPI_INT, &got, 1, MPI_INT, rsize - 1, inter);
    h = mix(h, got);

    /* Non-blocking, all in flight at once. */
    int nb = color == 0 && lrank == 0 ? 77 : -1, nsum = 0;
    int *nin = calloc(rsize, sizeof(int));
    MPI_Request rq[3];
    if (color == 0)
        MPI_Ibcast(&nb, 1, MPI_INT, lrank == 0 ? MPI_ROOT : MPI_PROC_NULL, inter, &rq[0]);
    else
        MPI_Ibcast(&nb, 1, MPI_INT, 0, inter, &rq[0]);
    MPI_Iallreduce(&mine[0], &nsum, 1, MPI_INT, MPI_PROD, inter, &rq[1]);
    MPI_Ialltoall(out, 1, MPI_INT, nin, 1, MPI_INT, inter, &rq[2]);
    MPI_Waitall(3, rq, MPI_STATUSES_IGNORE);
    h = mix(mix(h, nb), nsum);
    for (int k = 0; k < rsize; k++)
        h = mix(h, nin[k]);

    printf("rank %d: group %d of %d, remote %d, bcast %d %.1f, sum %d %d, checksum %ld\n", rank,
           color, lsize, rsize, b[2], d, sum[0], sum[1], h);
    free(all);
    free(out);
    free(in);
    free(gat);
    free(src);
    free(nin);
    MPI_Comm_free(&inter);
    MPI_Comm_free(&local);
    MPI_Finalize();
    return 0;
}
