/* mpi_jacobi: a 2-D Jacobi iteration on a grid split into row blocks,
 * with halo rows exchanged by Sendrecv each step (MPI_PROC_NULL at the
 * edges) and the residual by Allreduce. Rank 0 prints the residual every
 * 20 steps and a checksum; output is the same for any number of ranks. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 48
#define STEPS 100

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rows = N / size + (rank < N % size ? 1 : 0);
    int first = rank * (N / size) + (rank < N % size ? rank : N % size);
    double *u = calloc((size_t)(rows + 2) * N, sizeof(double));
    double *v = calloc((size_t)(rows + 2) * N, sizeof(double));
    /* hot top edge, cold elsewhere */
    if (first == 0)
        for (int j = 0; j < N; j++)
            u[1 * N + j] = v[1 * N + j] = 100.0;
    int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
    int down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    for (int step = 1; step <= STEPS; step++) {
        MPI_Sendrecv(&u[1 * N], N, MPI_DOUBLE, up, 0, &u[(rows + 1) * N], N, MPI_DOUBLE, down, 0,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Sendrecv(&u[rows * N], N, MPI_DOUBLE, down, 1, &u[0], N, MPI_DOUBLE, up, 1,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        double local = 0;
        for (int i = 1; i <= rows; i++) {
            int gi = first + i - 1;
            for (int j = 0; j < N; j++) {
                if (gi == 0 || gi == N - 1 || j == 0 || j == N - 1) {
                    v[i * N + j] = u[i * N + j];
                    continue;
                }
                double n = 0.25 * (u[(i - 1) * N + j] + u[(i + 1) * N + j] + u[i * N + j - 1] +
                                   u[i * N + j + 1]);
                local += (n - u[i * N + j]) * (n - u[i * N + j]);
                v[i * N + j] = n;
            }
        }
        double *t = u;
        u = v;
        v = t;
        double global;
        MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0 && step % 20 == 0)
            printf("jacobi step %d squared residual %.6e\n", step, global);
    }
    double sum = 0;
    for (int i = 1; i <= rows; i++)
        for (int j = 0; j < N; j++)
            sum += u[i * N + j] * (first + i) * (j + 1);
    double total;
    MPI_Reduce(&sum, &total, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("jacobi checksum %.6e\n", total);
    MPI_Finalize();
    return 0;
}
