/* mpi_collectives: Barrier, Bcast, Reduce and Allreduce (SUM MAX MIN PROD
 * over INT LONG FLOAT DOUBLE), Gather(v), Scatter(v), Allgather,
 * Alltoall, Comm_split / Comm_dup / Comm_free, Wtime. One line per rank. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double t0 = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD);

    int b[2] = {0, 0};
    if (rank == size - 1) {
        b[0] = 17;
        b[1] = 23;
    }
    MPI_Bcast(b, 2, MPI_INT, size - 1, MPI_COMM_WORLD);

    int i = rank + 1, isum, imax, imin, iprod;
    long l = rank + 1, lsum;
    float f = rank + 0.5f, fmax;
    double d = rank + 1.0, dsum, dprod;
    MPI_Allreduce(&i, &isum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&i, &imax, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&i, &imin, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    int small = (rank % 3) + 1;
    MPI_Allreduce(&small, &iprod, 1, MPI_INT, MPI_PROD, MPI_COMM_WORLD);
    MPI_Allreduce(&l, &lsum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&f, &fmax, 1, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Reduce(&d, &dsum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&d, &dprod, 1, MPI_DOUBLE, MPI_PROD, 0, MPI_COMM_WORLD);
    int inplace = rank;
    MPI_Allreduce(MPI_IN_PLACE, &inplace, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);

    int *g = malloc(sizeof(int) * 2 * size);
    int pair[2] = {rank, rank * rank};
    MPI_Gather(pair, 2, MPI_INT, g, 2, MPI_INT, 0, MPI_COMM_WORLD);
    long gsum = 0;
    if (rank == 0)
        for (int k = 0; k < 2 * size; k++)
            gsum += g[k] * (k + 1);

    int *counts = malloc(sizeof(int) * size), *displs = malloc(sizeof(int) * size);
    int total = 0;
    for (int k = 0; k < size; k++) {
        counts[k] = k % 3 + 1;
        displs[k] = total;
        total += counts[k];
    }
    int *vbuf = malloc(sizeof(int) * total);
    int mine[3] = {rank, rank + 100, rank + 200};
    MPI_Gatherv(mine, counts[rank], MPI_INT, vbuf, counts, displs, MPI_INT, 0, MPI_COMM_WORLD);
    long vsum = 0;
    if (rank == 0)
        for (int k = 0; k < total; k++)
            vsum += vbuf[k] * (k + 1);

    int *src = malloc(sizeof(int) * 2 * size);
    for (int k = 0; k < 2 * size; k++)
        src[k] = k * 10;
    int got[2];
    MPI_Scatter(src, 2, MPI_INT, got, 2, MPI_INT, 0, MPI_COMM_WORLD);
    int sv[3] = {-1, -1, -1};
    for (int k = 0; k < total; k++)
        vbuf[k] = 1000 + k;
    MPI_Scatterv(vbuf, counts, displs, MPI_INT, sv, counts[rank], MPI_INT, 0, MPI_COMM_WORLD);

    int *all = malloc(sizeof(int) * size);
    MPI_Allgather(&rank, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    long asum = 0;
    for (int k = 0; k < size; k++)
        asum += all[k] * (k + 1);

    int *to = malloc(sizeof(int) * size), *from = malloc(sizeof(int) * size);
    for (int k = 0; k < size; k++)
        to[k] = rank * 100 + k;
    MPI_Alltoall(to, 1, MPI_INT, from, 1, MPI_INT, MPI_COMM_WORLD);
    long tsum = 0;
    for (int k = 0; k < size; k++)
        tsum += from[k];

    MPI_Comm half, dup;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half);
    int hr, hs, hsum;
    MPI_Comm_rank(half, &hr);
    MPI_Comm_size(half, &hs);
    MPI_Allreduce(&rank, &hsum, 1, MPI_INT, MPI_SUM, half);
    MPI_Comm_dup(half, &dup);
    int dr;
    MPI_Comm_rank(dup, &dr);
    MPI_Comm_free(&dup);
    MPI_Comm_free(&half);

    double dt = MPI_Wtime() - t0;
    printf("coll rank %d of %d: bcast %d %d; int sum %d max %d min %d prod %d; long %ld; float max %.1f; "
           "double sum %.0f prod %.0f; in place %d; gather %ld gatherv %ld; scatter %d %d scatterv %d %d %d; "
           "allgather %ld alltoall %ld; half %d/%d sum %d dup %d; time %s\n",
           rank, size, b[0], b[1], isum, imax, imin, iprod, lsum, fmax, rank == 0 ? dsum : -1,
           rank == 0 ? dprod : -1, inplace, gsum, vsum, got[0], got[1], sv[0], sv[1], sv[2], asum,
           tsum, hr, hs, hsum, dr, dt >= 0 ? "ok" : "BAD");
    MPI_Finalize();
    return 0;
}
