/* mpi_icoll: the block-moving collectives, blocking and not (Igather(v),
 * Iscatter(v), Iallgather(v), Ialltoall(v), Ialltoallw and Alltoallw,
 * Ireduce_scatter(_block), Iscan, Iexscan), all in flight at once and
 * completed in reverse order, MPI_IN_PLACE where the standard allows it,
 * and non-contiguous derived datatypes (a strided vector, a column
 * resized to one element so the columns interleave) in the blocking gathers, scatters and all-to-alls. One line per
 * rank: a checksum of each result, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define MAXR 32

static long sum_of(const int *v, int n)
{
    long s = 0;
    for (int i = 0; i < n; i++)
        s = s * 31 + v[i];
    return s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int root = size - 1;
    int counts[MAXR], displs[MAXR], total = 0;
    for (int k = 0; k < size; k++) {
        counts[k] = k % 3 + 1;
        displs[k] = total;
        total += counts[k];
    }
    int mine[4] = {rank * 10 + 1, rank * 10 + 2, rank * 10 + 3, rank * 10 + 4};
    int *gat = calloc(4 * MAXR, sizeof(int)), *gatv = calloc(4 * MAXR, sizeof(int));
    int *allg = calloc(4 * MAXR, sizeof(int)), *allgv = calloc(4 * MAXR, sizeof(int));
    int *src = malloc(4 * MAXR * sizeof(int)), scat[4] = {0}, scatv[4] = {0};
    for (int i = 0; i < 4 * MAXR; i++)
        src[i] = 1000 + i;
    int *a2a_s = malloc(2 * MAXR * sizeof(int)), *a2a_r = calloc(2 * MAXR, sizeof(int));
    for (int k = 0; k < 2 * size; k++)
        a2a_s[k] = rank * 100 + k;
    int vs[MAXR], vsd[MAXR], vr[MAXR], vrd[MAXR], vst = 0, vrt = 0;
    for (int k = 0; k < size; k++) {
        vs[k] = (rank + k) % 2 + 1; /* what this rank sends k */
        vr[k] = (k + rank) % 2 + 1; /* what k sends this rank */
        vsd[k] = vst;
        vrd[k] = vrt;
        vst += vs[k];
        vrt += vr[k];
    }
    int *a2av_s = malloc(vst * sizeof(int)), *a2av_r = calloc(vrt, sizeof(int));
    for (int i = 0; i < vst; i++)
        a2av_s[i] = rank * 1000 + i;
    /* Alltoallw: one int to each, displacements in bytes, taken backwards. */
    int ws[MAXR], wr[MAXR], wsd[MAXR], wrd[MAXR];
    MPI_Datatype wt[MAXR];
    int *w_s = malloc(MAXR * sizeof(int)), *w_r = calloc(MAXR, sizeof(int));
    for (int k = 0; k < size; k++) {
        ws[k] = wr[k] = 1;
        wsd[k] = (size - 1 - k) * (int)sizeof(int);
        wrd[k] = k * (int)sizeof(int);
        wt[k] = MPI_INT;
        w_s[k] = rank * 7 + k;
    }
    int rs_in[MAXR * 3], rs_out[3] = {0}, rsb_out[2] = {0}, scan = 0, exscan = -5;
    for (int i = 0; i < total; i++)
        rs_in[i] = rank + i;
    int rsb_in[2 * MAXR];
    for (int i = 0; i < 2 * size; i++)
        rsb_in[i] = rank * i;
    int one = rank % 3 + 1;

    MPI_Request r[12];
    MPI_Igather(mine, 2, MPI_INT, gat, 2, MPI_INT, root, MPI_COMM_WORLD, &r[0]);
    MPI_Igatherv(mine, counts[rank], MPI_INT, gatv, counts, displs, MPI_INT, 0, MPI_COMM_WORLD,
                 &r[1]);
    MPI_Iscatter(src, 3, MPI_INT, scat, 3, MPI_INT, root, MPI_COMM_WORLD, &r[2]);
    MPI_Iscatterv(src, counts, displs, MPI_INT, scatv, counts[rank], MPI_INT, 0, MPI_COMM_WORLD,
                  &r[3]);
    MPI_Iallgather(mine, 3, MPI_INT, allg, 3, MPI_INT, MPI_COMM_WORLD, &r[4]);
    MPI_Iallgatherv(mine, counts[rank], MPI_INT, allgv, counts, displs, MPI_INT, MPI_COMM_WORLD,
                    &r[5]);
    MPI_Ialltoall(a2a_s, 2, MPI_INT, a2a_r, 2, MPI_INT, MPI_COMM_WORLD, &r[6]);
    MPI_Ialltoallv(a2av_s, vs, vsd, MPI_INT, a2av_r, vr, vrd, MPI_INT, MPI_COMM_WORLD, &r[7]);
    MPI_Ialltoallw(w_s, ws, wsd, wt, w_r, wr, wrd, wt, MPI_COMM_WORLD, &r[8]);
    MPI_Ireduce_scatter(rs_in, rs_out, counts, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &r[9]);
    MPI_Ireduce_scatter_block(rsb_in, rsb_out, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &r[10]);
    MPI_Iscan(&one, &scan, 1, MPI_INT, MPI_PROD, MPI_COMM_WORLD, &r[11]);
    MPI_Request ex;
    MPI_Iexscan(&one, &exscan, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &ex);
    MPI_Wait(&ex, MPI_STATUS_IGNORE);
    for (int k = 11; k >= 0; k--)
        MPI_Wait(&r[k], MPI_STATUS_IGNORE);

    /* MPI_IN_PLACE: Iallgather, Ialltoall, blocking Alltoallw. */
    int ip_allg[MAXR];
    ip_allg[rank] = rank * rank + 5;
    int ip_a2a[2 * MAXR];
    for (int k = 0; k < 2 * size; k++)
        ip_a2a[k] = rank * 50 + k;
    MPI_Request ip[2];
    MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, ip_allg, 1, MPI_INT, MPI_COMM_WORLD, &ip[0]);
    MPI_Ialltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, ip_a2a, 2, MPI_INT, MPI_COMM_WORLD, &ip[1]);
    MPI_Waitall(2, ip, MPI_STATUSES_IGNORE);
    int ip_w[MAXR];
    for (int k = 0; k < size; k++)
        ip_w[k] = rank * 3 + k;
    MPI_Alltoallw(MPI_IN_PLACE, NULL, NULL, NULL, ip_w, wr, wrd, wt, MPI_COMM_WORLD);

    /* Non-contiguous types: every other int (a vector), and a column of a
     * 4-wide matrix resized to one int so blocks interleave. */
    MPI_Datatype every_other, column, col1;
    MPI_Type_vector(3, 1, 2, MPI_INT, &every_other);
    MPI_Type_commit(&every_other);
    MPI_Type_vector(3, 1, size, MPI_INT, &column);
    MPI_Type_create_resized(column, 0, sizeof(int), &col1);
    MPI_Type_commit(&col1);
    int spread[6] = {rank, -1, rank + 1, -1, rank + 2, -1};
    int g_nc[3 * MAXR] = {0};
    MPI_Gather(spread, 1, every_other, g_nc, 3, MPI_INT, 0, MPI_COMM_WORLD);
    int ag_nc[3 * MAXR] = {0}; /* 3 x size matrix, rank k's data in column k */
    int mat[3 * MAXR] = {0};
    MPI_Allgather(spread, 1, every_other, mat, 1, col1, MPI_COMM_WORLD);
    for (int i = 0; i < 3 * size; i++)
        ag_nc[i] = mat[i];
    int sc_src[6 * MAXR], sc_nc[6] = {0};
    for (int i = 0; i < 6 * size; i++)
        sc_src[i] = 2 * i;
    MPI_Scatter(sc_src, 3, MPI_INT, sc_nc, 1, every_other, root, MPI_COMM_WORLD);
    int a2_s[6 * MAXR], a2_r[3 * MAXR] = {0};
    for (int i = 0; i < 6 * size; i++)
        a2_s[i] = rank * 1000 + i;
    MPI_Alltoall(a2_s, 1, every_other, a2_r, 3, MPI_INT, MPI_COMM_WORLD);
    MPI_Type_free(&every_other);
    MPI_Type_free(&column);
    MPI_Type_free(&col1);

    printf("rank %d: gather %ld gatherv %ld scatter %ld scatterv %ld allgather %ld allgatherv %ld "
           "alltoall %ld alltoallv %ld alltoallw %ld reduce_scatter %ld block %ld scan %d exscan %d "
           "in_place %ld %ld %ld derived %ld %ld %ld %ld\n",
           rank, rank == root ? sum_of(gat, 2 * size) : 0, rank == 0 ? sum_of(gatv, total) : 0,
           sum_of(scat, 3), sum_of(scatv, counts[rank]), sum_of(allg, 3 * size),
           sum_of(allgv, total), sum_of(a2a_r, 2 * size), sum_of(a2av_r, vrt), sum_of(w_r, size),
           sum_of(rs_out, counts[rank]), sum_of(rsb_out, 2), scan, rank ? exscan : 0,
           sum_of(ip_allg, size), sum_of(ip_a2a, 2 * size), sum_of(ip_w, size),
           rank == 0 ? sum_of(g_nc, 3 * size) : 0, sum_of(ag_nc, 3 * size), sum_of(sc_nc, 6),
           sum_of(a2_r, 3 * size));
    MPI_Finalize();
    return 0;
}
