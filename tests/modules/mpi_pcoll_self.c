/* mpi_pcoll_self: the persistent collectives Debian's MPICH 4.0.2 gets
 * wrong (Gather_init and Allgather_init deliver the send buffer's data as
 * it was at init time; Scatter_init fails from 4 ranks on), checked
 * against their blocking forms over several rounds with new data, and
 * Neighbor_allgather_init on a periodic ring. Prints "rank N: ok" or what
 * differs. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int dims[1] = {size}, periods[1] = {1};
    MPI_Comm ring;
    MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &ring);
    int mine[2], scat = -1, want_scat = -1, nb[2], want_nb[2];
    int *gat = calloc(2 * size, sizeof(int)), *want = calloc(2 * size, sizeof(int));
    int *all = calloc(2 * size, sizeof(int)), *want_all = calloc(2 * size, sizeof(int));
    int *src = calloc(size, sizeof(int));
    MPI_Request req[4];
    int root = size - 1;
    MPI_Gather_init(mine, 2, MPI_INT, gat, 2, MPI_INT, root, MPI_COMM_WORLD, MPI_INFO_NULL,
                    &req[0]);
    MPI_Allgather_init(mine, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD, MPI_INFO_NULL, &req[1]);
    MPI_Scatter_init(src, 1, MPI_INT, &scat, 1, MPI_INT, root, MPI_COMM_WORLD, MPI_INFO_NULL,
                     &req[2]);
    MPI_Neighbor_allgather_init(mine, 1, MPI_INT, nb, 1, MPI_INT, ring, MPI_INFO_NULL, &req[3]);
    int bad = 0;
    for (int round = 0; round < 5; round++) {
        mine[0] = rank * 10 + round;
        mine[1] = -rank - round;
        for (int k = 0; k < size; k++)
            src[k] = k * 1000 + round;
        MPI_Startall(4, req);
        MPI_Waitall(4, req, MPI_STATUSES_IGNORE);
        MPI_Gather(mine, 2, MPI_INT, want, 2, MPI_INT, root, MPI_COMM_WORLD);
        MPI_Allgather(mine, 2, MPI_INT, want_all, 2, MPI_INT, MPI_COMM_WORLD);
        MPI_Scatter(src, 1, MPI_INT, &want_scat, 1, MPI_INT, root, MPI_COMM_WORLD);
        MPI_Neighbor_allgather(mine, 1, MPI_INT, want_nb, 1, MPI_INT, ring);
        if (rank == root && memcmp(gat, want, 2 * size * sizeof(int)))
            bad = printf("rank %d: Gather_init differs in round %d\n", rank, round);
        if (memcmp(all, want_all, 2 * size * sizeof(int)))
            bad = printf("rank %d: Allgather_init differs in round %d\n", rank, round);
        if (scat != want_scat || scat != rank * 1000 + round)
            bad = printf("rank %d: Scatter_init gave %d in round %d\n", rank, scat, round);
        if (memcmp(nb, want_nb, sizeof nb))
            bad = printf("rank %d: Neighbor_allgather_init differs in round %d\n", rank, round);
    }
    for (int k = 0; k < 4; k++)
        MPI_Request_free(&req[k]);
    if (!bad)
        printf("rank %d: ok\n", rank);
    MPI_Comm_free(&ring);
    free(gat);
    free(want);
    free(all);
    free(want_all);
    free(src);
    MPI_Finalize();
    return 0;
}
