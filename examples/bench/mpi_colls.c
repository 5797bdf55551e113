/* The collectives part of `weaves bench mpi`: on every rank of
 * MPI_COMM_WORLD, Allreduce of 8 bytes and of 1 MiB, and Alltoall of
 * 1 KiB per pair, each timed over R rounds after a warm-up; rank 0 prints
 * the median time per call of each, in microseconds:
 *
 *   colls allreduce8 US allreduce1m US alltoall US
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median_us(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2] * 1e6;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rounds = argc > 1 ? atoi(argv[1]) : 100;
    if (rounds < 3)
        rounds = 3;
    double *t = malloc(sizeof(double) * (size_t)rounds);
    double small = rank, small_out;
    size_t big_n = (1 << 20) / sizeof(double);
    double *big = malloc(big_n * sizeof(double)), *big_out = malloc(big_n * sizeof(double));
    for (size_t k = 0; k < big_n; k++)
        big[k] = (double)(rank + k);
    size_t pair = 1024;
    char *a2a = malloc(pair * (size_t)size), *a2a_out = malloc(pair * (size_t)size);
    memset(a2a, rank, pair * (size_t)size);

    double r[3];
    for (int which = 0; which < 3; which++) {
        int n = which == 1 ? (rounds + 9) / 10 : rounds;
        for (int k = -1; k < n; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (which == 0)
                MPI_Allreduce(&small, &small_out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            else if (which == 1)
                MPI_Allreduce(big, big_out, (int)big_n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            else
                MPI_Alltoall(a2a, (int)pair, MPI_CHAR, a2a_out, (int)pair, MPI_CHAR, MPI_COMM_WORLD);
            double dt = MPI_Wtime() - t0, slowest;
            MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (k >= 0)
                t[k] = slowest;
        }
        r[which] = median_us(t, n);
    }
    if (rank == 0)
        printf("colls allreduce8 %.3f allreduce1m %.3f alltoall %.3f\n", r[0], r[1], r[2]);
    free(t);
    free(big);
    free(big_out);
    free(a2a);
    free(a2a_out);
    MPI_Finalize();
    return 0;
}
