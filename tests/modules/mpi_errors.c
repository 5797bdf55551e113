/* mpi_errors: wrong usage, by argv[1]:
 *   before-init   MPI_Send before MPI_Init
 *   bad-rank      MPI_Send to rank == size
 *   truncate      a receive smaller than the message
 *   bad-type      an unknown datatype handle
 *   returned      MPI_ERRORS_RETURN: the error codes come back
 *   unsupported   a call weaves' MPI does not implement (MPI_File_open)
 *   no-finalize   rank 1 returns without MPI_Finalize while rank 0 waits */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int v[4] = {1, 2, 3, 4};
    if (!strcmp(mode, "before-init"))
        MPI_Send(v, 1, MPI_INT, 0, 0, MPI_COMM_WORLD);
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (!strcmp(mode, "bad-rank") && rank == 0)
        MPI_Send(v, 1, MPI_INT, size, 0, MPI_COMM_WORLD);
    if (!strcmp(mode, "truncate") && size > 1) {
        if (rank == 1)
            MPI_Send(v, 4, MPI_INT, 0, 3, MPI_COMM_WORLD);
        if (rank == 0)
            MPI_Recv(v, 2, MPI_INT, 1, 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    if (!strcmp(mode, "bad-type") && rank == 0)
        MPI_Send(v, 1, (MPI_Datatype)0x12345678, 0, 0, MPI_COMM_WORLD);
    if (!strcmp(mode, "unsupported")) {
        MPI_File f;
        MPI_File_open(MPI_COMM_WORLD, "unsupported.dat", MPI_MODE_RDONLY, MPI_INFO_NULL, &f);
    }
    if (!strcmp(mode, "no-finalize")) {
        if (rank == 1)
            return 0;
        MPI_Recv(v, 1, MPI_INT, 1, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    if (!strcmp(mode, "returned")) {
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        int e1 = MPI_Send(v, 1, MPI_INT, size + 5, 0, MPI_COMM_WORLD);
        int e2 = MPI_Send(v, -1, MPI_INT, 0, 0, MPI_COMM_WORLD);
        int e3 = MPI_Send(v, 1, MPI_INT, 0, -7, MPI_COMM_WORLD);
        printf("rank %d: errors returned: rank %s, count %s, tag %s\n", rank,
               e1 == MPI_ERR_RANK ? "MPI_ERR_RANK" : "?", e2 == MPI_ERR_COUNT ? "MPI_ERR_COUNT" : "?",
               e3 == MPI_ERR_TAG ? "MPI_ERR_TAG" : "?");
    }
    MPI_Finalize();
    return 0;
}
