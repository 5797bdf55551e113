/* mpi_pcoll: persistent collectives (MPI-4's *_init, as MPICH 4 exports
 * them), each started over several rounds with new data: Barrier, Bcast,
 * Reduce, Allreduce, Allgatherv, Alltoall(v), Scan,
 * Exscan, Reduce_scatter_block, started one by one and with Startall,
 * completed by Wait, Waitall and a Test loop, then freed. One line per
 * rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static long mix(long h, long v)
{
    return (h * 31 + v) % 1000000007L;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long h = 0;

    int bval[4], sum[3], in3[3], red[3], one, *all = calloc(size, sizeof(int));
    int *a2a_out = calloc(size, sizeof(int)), *a2a_in = calloc(size, sizeof(int));
    int *gat = calloc(size, sizeof(int)), scan = -1, exscan = -1, rsb = -1;
    int *rsb_in = calloc(size, sizeof(int));
    int *vcounts = calloc(size, sizeof(int)), *vdispls = calloc(size, sizeof(int));
    int total = 0;
    for (int k = 0; k < size; k++) {
        vcounts[k] = k % 3 + 1;
        vdispls[k] = total;
        total += vcounts[k];
    }
    int *vall = calloc(total, sizeof(int)), vmine[3];
    MPI_Request req[12];
    MPI_Barrier_init(MPI_COMM_WORLD, MPI_INFO_NULL, &req[0]);
    MPI_Bcast_init(bval, 4, MPI_INT, size - 1, MPI_COMM_WORLD, MPI_INFO_NULL, &req[1]);
    MPI_Allreduce_init(in3, sum, 3, MPI_INT, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL, &req[2]);
    MPI_Reduce_init(in3, red, 3, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD, MPI_INFO_NULL, &req[3]);
    /* (Not Gather_init, Allgather_init or Scatter_init: Debian's MPICH
     * 4.0.2 gets them wrong; mpi_pcoll_self checks those.) */
    MPI_Allreduce_init(&one, all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, MPI_INFO_NULL, &req[4]);
    MPI_Alltoall_init(a2a_out, 1, MPI_INT, a2a_in, 1, MPI_INT, MPI_COMM_WORLD, MPI_INFO_NULL,
                      &req[5]);
    MPI_Reduce_init(&one, gat, 1, MPI_INT, MPI_PROD, size / 2, MPI_COMM_WORLD, MPI_INFO_NULL,
                    &req[6]);
    int *ones = calloc(size, sizeof(int)), *seq = calloc(size, sizeof(int));
    for (int k = 0; k < size; k++) {
        ones[k] = 1;
        seq[k] = size - 1 - k;
    }
    int *v_in = calloc(size, sizeof(int));
    MPI_Alltoallv_init(a2a_out, ones, seq, MPI_INT, v_in, ones, seq, MPI_INT, MPI_COMM_WORLD,
                       MPI_INFO_NULL, &req[7]);
    MPI_Scan_init(&one, &scan, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL, &req[8]);
    MPI_Exscan_init(&one, &exscan, 1, MPI_INT, MPI_PROD, MPI_COMM_WORLD, MPI_INFO_NULL, &req[9]);
    MPI_Reduce_scatter_block_init(rsb_in, &rsb, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD,
                                  MPI_INFO_NULL, &req[10]);
    MPI_Allgatherv_init(vmine, vcounts[rank], MPI_INT, vall, vcounts, vdispls, MPI_INT,
                        MPI_COMM_WORLD, MPI_INFO_NULL, &req[11]);

    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 4; k++)
            bval[k] = rank == size - 1 ? round * 10 + k : -1;
        for (int k = 0; k < 3; k++)
            in3[k] = rank * (k + 1) + round;
        one = rank + round + 1;
        for (int k = 0; k < size; k++) {
            a2a_out[k] = rank * 100 + k + round;
            rsb_in[k] = rank + k * round;
        }
        for (int k = 0; k < 3; k++)
            vmine[k] = rank * 7 + k + round;
        if (round % 2 == 0) {
            for (int k = 0; k < 12; k++)
                MPI_Start(&req[k]);
        } else {
            MPI_Startall(12, req);
        }
        if (round == 2) {
            /* Completed one by one with tests, in reverse order. */
            for (int k = 11; k >= 0; k--) {
                int flag = 0;
                while (!flag)
                    MPI_Test(&req[k], &flag, MPI_STATUS_IGNORE);
            }
        } else if (round == 3) {
            for (int k = 0; k < 12; k++)
                MPI_Wait(&req[k], MPI_STATUS_IGNORE);
        } else {
            MPI_Waitall(12, req, MPI_STATUSES_IGNORE);
        }
        for (int k = 0; k < 4; k++)
            h = mix(h, bval[k]);
        for (int k = 0; k < 3; k++)
            h = mix(h, sum[k]);
        if (rank == 0)
            for (int k = 0; k < 3; k++)
                h = mix(h, red[k]);
        for (int k = 0; k < size; k++)
            h = mix(h, a2a_in[k]);
        h = mix(h, all[0]);
        if (rank == size / 2)
            h = mix(h, gat[0]);
        for (int k = 0; k < size; k++)
            h = mix(h, v_in[k]);
        h = mix(mix(h, scan), rsb);
        if (rank > 0)
            h = mix(h, exscan);
        for (int k = 0; k < total; k++)
            h = mix(h, vall[k]);
    }
    int active_after = 0;
    for (int k = 0; k < 12; k++) {
        active_after += req[k] == MPI_REQUEST_NULL;
        MPI_Request_free(&req[k]);
    }
    printf("rank %d: rounds 4, checksum %ld, sum %d %d %d, scan %d, null handles %d\n", rank, h,
           sum[0], sum[1], sum[2], scan, active_after);
    free(all);
    free(a2a_out);
    free(a2a_in);
    free(gat);
    free(rsb_in);
    free(vcounts);
    free(vdispls);
    free(vall);
    free(ones);
    free(seq);
    free(v_in);
    MPI_Finalize();
    return 0;
}
