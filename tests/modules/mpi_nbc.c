/* mpi_nbc: non-blocking collectives (Ibarrier, Ibcast, Ireduce,
 * Iallreduce) overlapped with point-to-point traffic that only completes
 * after the collective has begun everywhere (a blocking implementation
 * would deadlock), several in flight at once, completed in another order,
 * with MPI_IN_PLACE. One line per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    /* Ibarrier, then a ring message each rank receives before sending. */
    MPI_Request bar;
    MPI_Ibarrier(MPI_COMM_WORLD, &bar);
    int token = rank == 0 ? 1 : 0;
    if (rank != 0)
        MPI_Recv(&token, 1, MPI_INT, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    token *= 2;
    if (size > 1) {
        MPI_Send(&token, 1, MPI_INT, right, 1, MPI_COMM_WORLD);
        if (rank == 0)
            MPI_Recv(&token, 1, MPI_INT, left, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Wait(&bar, MPI_STATUS_IGNORE);

    /* Three in flight, completed in reverse order. */
    int b[2] = {0, 0}, v = rank + 1, sum = -1, prod = -1;
    double d = 0.5 * rank, dmax = -1;
    if (rank == size - 1) {
        b[0] = 11;
        b[1] = 22;
    }
    MPI_Request r[4];
    MPI_Ibcast(b, 2, MPI_INT, size - 1, MPI_COMM_WORLD, &r[0]);
    MPI_Iallreduce(&v, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[1]);
    MPI_Ireduce(&v, &prod, 1, MPI_INT, MPI_PROD, 0, MPI_COMM_WORLD, &r[2]);
    MPI_Iallreduce(MPI_IN_PLACE, &d, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, &r[3]);
    for (int k = 3; k >= 0; k--)
        MPI_Wait(&r[k], MPI_STATUS_IGNORE);
    dmax = d;

    printf("rank %d: token %d bcast %d %d sum %d prod %d max %.1f\n", rank, token, b[0], b[1], sum,
           rank == 0 ? prod : -1, dmax);
    MPI_Finalize();
    return 0;
}
