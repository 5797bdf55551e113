/* mpi_pscw: general active target synchronisation. Each rank exposes its
 * window to its left neighbour (Win_post) and writes into its right one
 * (Win_start, Put, Win_complete), then waits for its own exposure to end
 * (Win_wait); a second round polls with Win_test. Prints what arrived
 * and whether it is what the standard says must (MPICH 4.0 as Debian
 * ships it puts these blocks into the wrong windows, so this program
 * checks itself rather than being compared with it). */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    int *box;
    MPI_Win w;
    MPI_Win_allocate(2 * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &box, &w);
    box[0] = box[1] = -1;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Group world, from, to;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    MPI_Group_incl(world, 1, &left, &from);
    MPI_Group_incl(world, 1, &right, &to);
    int ok = 1;
    for (int round = 0; round < 2; round++) {
        MPI_Win_post(from, 0, w);
        MPI_Win_start(to, 0, w);
        int msg[2] = {rank + round, rank * rank};
        MPI_Put(msg, 2, MPI_INT, right, 0, 2, MPI_INT, w);
        MPI_Win_complete(w);
        if (round == 0) {
            MPI_Win_wait(w);
        } else {
            int flag = 0;
            while (!flag)
                MPI_Win_test(w, &flag);
        }
        ok &= box[0] == left + round && box[1] == left * left;
    }
    printf("rank %d: from %d got %d %d %s\n", rank, left, box[0], box[1], ok ? "ok" : "WRONG");
    MPI_Group_free(&from);
    MPI_Group_free(&to);
    MPI_Group_free(&world);
    MPI_Win_free(&w);
    MPI_Finalize();
    return 0;
}
