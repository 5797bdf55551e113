/* mpi_more: Scan, Exscan, Reduce_scatter(_block), Allgatherv, Alltoallv,
 * Waitany, Waitsome, Testany, Testall, Testsome, Request_free and
 * Dims_create. One line per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char line[4096];
    int n = snprintf(line, sizeof line, "rank %d:", rank);

    /* Scan and Exscan (Exscan's rank 0 result is undefined: not printed). */
    int v = rank + 1, scan = 0, exscan = -1;
    double d = 0.5 * (rank + 1), dscan;
    MPI_Scan(&v, &scan, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Scan(&d, &dscan, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Exscan(&v, &exscan, 1, MPI_INT, MPI_PROD, MPI_COMM_WORLD);
    n += snprintf(line + n, sizeof line - n, " scan %d %.1f", scan, dscan);
    if (rank > 0)
        n += snprintf(line + n, sizeof line - n, " exscan %d", exscan);

    /* Reduce_scatter_block: two elements each; Reduce_scatter: rank+1 each. */
    int send[2 * MAXN], blk[2];
    for (int k = 0; k < 2 * size; k++)
        send[k] = k * (rank + 1);
    MPI_Reduce_scatter_block(send, blk, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int counts[MAXN], total = 0;
    for (int k = 0; k < size; k++) {
        counts[k] = k + 1;
        total += k + 1;
    }
    long *lsend = malloc(sizeof(long) * (size_t)total), lrecv[MAXN];
    for (int k = 0; k < total; k++)
        lsend[k] = (long)k + rank;
    MPI_Reduce_scatter(lsend, lrecv, counts, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
    n += snprintf(line + n, sizeof line - n, " rsb %d %d rs", blk[0], blk[1]);
    for (int k = 0; k <= rank; k++)
        n += snprintf(line + n, sizeof line - n, " %ld", lrecv[k]);

    /* Allgatherv: rank k contributes k+1 copies of k*10. */
    int mine[MAXN], all[MAXN * (MAXN + 1) / 2], displs[MAXN];
    for (int k = 0; k <= rank; k++)
        mine[k] = rank * 10;
    for (int k = 0, at = 0; k < size; k++) {
        displs[k] = at;
        at += counts[k];
    }
    MPI_Allgatherv(mine, rank + 1, MPI_INT, all, counts, displs, MPI_INT, MPI_COMM_WORLD);
    int agsum = 0;
    for (int k = 0; k < total; k++)
        agsum += all[k];
    n += snprintf(line + n, sizeof line - n, " agv %d", agsum);

    /* Alltoallv: to rank k, send k+1 ints of rank*100+k. */
    int *a2s = malloc(sizeof(int) * (size_t)total), a2r[MAXN];
    int sd[MAXN], rc[MAXN], rd[MAXN];
    for (int k = 0, at = 0; k < size; k++) {
        sd[k] = at;
        for (int j = 0; j <= k; j++)
            a2s[at + j] = rank * 100 + k;
        at += k + 1;
        rc[k] = rank + 1;
        rd[k] = k * (rank + 1);
    }
    MPI_Alltoallv(a2s, counts, sd, MPI_INT, a2r, rc, rd, MPI_INT, MPI_COMM_WORLD);
    n += snprintf(line + n, sizeof line - n, " a2av");
    for (int k = 0; k < size; k++)
        n += snprintf(line + n, sizeof line - n, " %d", a2r[k * (rank + 1)]);

    /* Waitany / Waitsome / Testall over a ring exchange. */
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    int in1 = -1, in2 = -1, out1 = rank, out2 = rank * 2;
    MPI_Request r[4];
    MPI_Irecv(&in1, 1, MPI_INT, left, 1, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(&in2, 1, MPI_INT, left, 2, MPI_COMM_WORLD, &r[1]);
    MPI_Isend(&out1, 1, MPI_INT, right, 1, MPI_COMM_WORLD, &r[2]);
    MPI_Isend(&out2, 1, MPI_INT, right, 2, MPI_COMM_WORLD, &r[3]);
    int done = 0, index, outcount, indices[4];
    MPI_Status sts[4];
    while (done < 4) {
        if (done % 2 == 0) {
            MPI_Waitany(4, r, &index, MPI_STATUS_IGNORE);
            done++;
        } else {
            MPI_Waitsome(4, r, &outcount, indices, sts);
            done += outcount;
        }
    }
    MPI_Waitany(4, r, &index, MPI_STATUS_IGNORE);
    int flag = 0;
    MPI_Testall(4, r, &flag, sts);
    MPI_Testany(4, r, &index, &flag, MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " ring %d %d none %s %d", in1, in2,
                  index == MPI_UNDEFINED ? "undefined" : "defined", flag);

    /* Testsome until a message arrives; a freed request still delivers. */
    int got = -1, gift = rank + 1000, sink = -1;
    MPI_Request t[2];
    MPI_Irecv(&got, 1, MPI_INT, left, 3, MPI_COMM_WORLD, &t[0]);
    MPI_Isend(&gift, 1, MPI_INT, right, 3, MPI_COMM_WORLD, &t[1]);
    int finished = 0;
    while (finished < 2) {
        MPI_Testsome(2, t, &outcount, indices, sts);
        if (outcount != MPI_UNDEFINED)
            finished += outcount;
    }
    MPI_Request fr;
    MPI_Isend(&gift, 1, MPI_INT, right, 4, MPI_COMM_WORLD, &fr);
    MPI_Request_free(&fr);
    MPI_Recv(&sink, 1, MPI_INT, left, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    n += snprintf(line + n, sizeof line - n, " some %d freed %d %s", got, sink,
                  fr == MPI_REQUEST_NULL ? "null" : "set");

    /* Dims_create. */
    int d2[2] = {0, 0}, d3[3] = {0, 0, 0}, dfix[3] = {0, 3, 0};
    MPI_Dims_create(size, 2, d2);
    MPI_Dims_create(size * 6, 3, d3);
    MPI_Dims_create(size * 6, 3, dfix);
    n += snprintf(line + n, sizeof line - n, " dims %dx%d %dx%dx%d %dx%dx%d", d2[0], d2[1], d3[0],
                  d3[1], d3[2], dfix[0], dfix[1], dfix[2]);

    printf("%s\n", line);
    free(lsend);
    free(a2s);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
