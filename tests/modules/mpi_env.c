/* mpi_env: each rank prints the environment variables X and Y (mpirun
 * -genv) on stdout, through its own `stdout` (a COPY relocation) and on
 * stderr; with an argument N, it sleeps N seconds first. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int r;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    if (argc > 1)
        sleep((unsigned)atoi(argv[1]));
    printf("rank %d X=%s Y=%s\n", r, getenv("X") ? getenv("X") : "-", getenv("Y") ? getenv("Y") : "-");
    fprintf(stdout, "rank %d again\n", r);
    fprintf(stderr, "rank %d on stderr\n", r);
    MPI_Finalize();
    return 0;
}
