/* mpi_ring: point to point. A token goes twice round the ring
 * (Sendrecv, safe at any size), every rank then sends its rank to rank 0,
 * which receives them with MPI_ANY_SOURCE / MPI_ANY_TAG and checks the
 * statuses, and Isend/Irecv/Waitall swap a message with both neighbours.
 * One line per rank, deterministic. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    int token = rank == 0 ? 1 : 0;
    for (int step = 0; step < 2 * size; step++) {
        int in;
        MPI_Sendrecv(&token, 1, MPI_INT, right, 1, &in, 1, MPI_INT, left, 1, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        token = in ? in + 1 : 0;
    }

    long from_all = 0;
    int statuses_ok = 1;
    if (rank == 0) {
        for (int k = 1; k < size; k++) {
            int v;
            MPI_Status st;
            MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            int count;
            MPI_Get_count(&st, MPI_INT, &count);
            statuses_ok &= st.MPI_SOURCE == v && st.MPI_TAG == 100 + v && count == 1;
            from_all += v;
        }
    } else {
        MPI_Send(&rank, 1, MPI_INT, 0, 100 + rank, MPI_COMM_WORLD);
    }

    /* Everyone has been heard before the neighbours' messages fly (rank 0's
     * wildcard receives would take them otherwise). */
    MPI_Barrier(MPI_COMM_WORLD);
    double mine[3] = {rank, rank * 2.0, rank * 3.0}, l[3], r[3];
    MPI_Request req[4];
    MPI_Irecv(l, 3, MPI_DOUBLE, left, 5, MPI_COMM_WORLD, &req[0]);
    MPI_Irecv(r, 3, MPI_DOUBLE, right, 6, MPI_COMM_WORLD, &req[1]);
    MPI_Isend(mine, 3, MPI_DOUBLE, right, 5, MPI_COMM_WORLD, &req[2]);
    MPI_Isend(mine, 3, MPI_DOUBLE, left, 6, MPI_COMM_WORLD, &req[3]);
    MPI_Waitall(4, req, MPI_STATUSES_IGNORE);

    printf("ring rank %d of %d: token %d, rank 0 heard %ld (statuses %s), left %.0f/%.0f/%.0f right %.0f/%.0f/%.0f\n",
           rank, size, token, from_all, statuses_ok ? "ok" : "BAD", l[0], l[1], l[2], r[0], r[1],
           r[2]);
    MPI_Finalize();
    return 0;
}
