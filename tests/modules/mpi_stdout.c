/* mpi_stdout: writes through stdout and stderr directly (the executable
 * then carries COPY relocations for them) and references MPI functions the
 * in-process MPI may not have, without calling them (argv[1] = "call"
 * calls one). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    fprintf(stdout, "rank %d of %d says hello on stdout\n", rank, size);
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "call") == 0) {
        MPI_Comm joined;
        MPI_Comm_join(-1, &joined);
        fprintf(stdout, "rank %d joined a communicator\n", rank);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
