/* mpi_inter: intercommunicators. The even and the odd ranks form two
 * groups (Comm_split), joined by Intercomm_create with the world as peer
 * communicator; each rank exchanges messages with the rank of the same
 * index in the other group (Sendrecv, and MPI_ANY_SOURCE with a status
 * naming a remote rank); Comm_test_inter, Comm_remote_size,
 * Comm_remote_group; Intercomm_merge with the odd group high, and a
 * reduction on the merged communicator. With one rank there is no other
 * group. One line per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2) {
        printf("rank %d: one group only\n", rank);
        MPI_Finalize();
        return 0;
    }
    int color = rank % 2;
    MPI_Comm half, inter, merged;
    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &half);
    int hrank, hsize;
    MPI_Comm_rank(half, &hrank);
    MPI_Comm_size(half, &hsize);
    /* The other group's leader is world rank 1 for the evens, 0 for the
     * odds. */
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, 1 - color, 7, &inter);
    int is_inter, rsize, lsize, irank;
    MPI_Comm_test_inter(inter, &is_inter);
    MPI_Comm_remote_size(inter, &rsize);
    MPI_Comm_size(inter, &lsize);
    MPI_Comm_rank(inter, &irank);
    MPI_Group rgroup;
    int rgsize;
    MPI_Comm_remote_group(inter, &rgroup);
    MPI_Group_size(rgroup, &rgsize);
    MPI_Group_free(&rgroup);
    int got = -1, from = -1, tag = -1;
    if (irank < rsize) {
        int out = rank * 10;
        MPI_Sendrecv(&out, 1, MPI_INT, irank, 1, &got, 1, MPI_INT, irank, 1, inter,
                     MPI_STATUS_IGNORE);
    }
    /* Every odd rank sends its world rank to remote rank 0 (an even one). */
    int any_sum = 0;
    if (color == 1) {
        MPI_Send(&rank, 1, MPI_INT, 0, 2, inter);
    } else if (irank == 0) {
        for (int k = 0; k < rsize; k++) {
            int v;
            MPI_Status st;
            MPI_Recv(&v, 1, MPI_INT, MPI_ANY_SOURCE, 2, inter, &st);
            any_sum += v * (st.MPI_SOURCE + 1);
            if (st.MPI_SOURCE == rsize - 1) {
                from = st.MPI_SOURCE;
                tag = st.MPI_TAG;
            }
        }
    }
    MPI_Intercomm_merge(inter, color, &merged);
    int mrank, msize, msum = 0;
    MPI_Comm_rank(merged, &mrank);
    MPI_Comm_size(merged, &msize);
    MPI_Allreduce(&rank, &msum, 1, MPI_INT, MPI_SUM, merged);
    printf("rank %d: group %d rank %d of %d inter %d local %d remote %d %d got %d any %d from %d "
           "tag %d merged %d of %d sum %d\n",
           rank, color, hrank, hsize, is_inter, lsize, rsize, rgsize, got, any_sum, from, tag,
           mrank, msize, msum);
    MPI_Comm_free(&merged);
    MPI_Comm_free(&inter);
    MPI_Comm_free(&half);
    MPI_Finalize();
    return 0;
}
