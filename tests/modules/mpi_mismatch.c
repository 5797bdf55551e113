/* Collectives the ranks do not agree on (MODE): MPICH hangs or computes
 * garbage; weaves ends the job with one line naming who called what.
 *
 *   kind      rank 0 broadcasts while the others reduce
 *   root      a broadcast whose root depends on the rank
 *   count     a reduction whose count depends on the rank
 *   op        a reduction whose operation depends on the rank
 *   finalize  rank 0 finalises while the others wait in a barrier
 *   agree     every rank does the same (no error)
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *mode = argc > 1 ? argv[1] : "agree";
    int v[4] = {rank, rank, rank, rank}, out[4];
    if (!strcmp(mode, "kind")) {
        if (rank == 0)
            MPI_Bcast(v, 4, MPI_INT, 0, MPI_COMM_WORLD);
        else
            MPI_Allreduce(v, out, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    } else if (!strcmp(mode, "root")) {
        MPI_Bcast(v, 4, MPI_INT, rank % 2, MPI_COMM_WORLD);
    } else if (!strcmp(mode, "count")) {
        MPI_Allreduce(v, out, rank == size - 1 ? 2 : 4, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    } else if (!strcmp(mode, "op")) {
        MPI_Reduce(v, out, 4, MPI_INT, rank ? MPI_SUM : MPI_MAX, 0, MPI_COMM_WORLD);
    } else if (!strcmp(mode, "finalize")) {
        if (rank != 0)
            MPI_Barrier(MPI_COMM_WORLD);
    } else {
        MPI_Allreduce(v, out, 4, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        printf("rank %d: sum %d\n", rank, out[0]);
    }
    MPI_Finalize();
    return 0;
}
