/* mpi_pingpong: latency and bandwidth between ranks 0 and 1.
 *   mpi_pingpong [ROUNDS]
 * Prints one line: `latency_us L bandwidth_MBps B`: half the round-trip
 * time of a 8-byte message, and the rate of 1 MiB messages sent one way
 * and acknowledged. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define BIG (1 << 20)

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rounds = argc > 1 ? atoi(argv[1]) : 10000;
    char small[8] = {0};
    char *big = calloc(BIG, 1);
    int peer = 1 - rank;
    for (int warm = 0; warm < 2; warm++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        int n = warm ? rounds : rounds / 10 + 1;
        for (int i = 0; i < n; i++) {
            if (rank == 0) {
                MPI_Send(small, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
                MPI_Recv(small, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(small, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(small, 8, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
            }
        }
        double latency = (MPI_Wtime() - t0) / n / 2;
        int m = n / 20 + 5;
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int i = 0; i < m; i++) {
            if (rank == 0) {
                MPI_Send(big, BIG, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
                MPI_Recv(small, 1, MPI_BYTE, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(big, BIG, MPI_BYTE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(small, 1, MPI_BYTE, peer, 2, MPI_COMM_WORLD);
            }
        }
        double bw = (double)BIG * m / (MPI_Wtime() - t0) / 1e6;
        if (warm && rank == 0)
            printf("latency_us %.3f bandwidth_MBps %.1f\n", latency * 1e6, bw);
    }
    free(big);
    MPI_Finalize();
    return 0;
}
