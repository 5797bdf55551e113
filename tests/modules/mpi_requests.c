/* mpi_requests: persistent requests (Send_init, Recv_init, Start,
 * Startall, reused over rounds, Request_free), buffered sends (Bsend,
 * Ibsend with an attached buffer), Irsend, Cancel of a receive nobody
 * sends to (Test_cancelled). One line per rank, compared with MPICH. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    /* A persistent ring exchange, five rounds. */
    int out = 0, in = -1, sum = 0;
    MPI_Request pr[2];
    MPI_Send_init(&out, 1, MPI_INT, right, 7, MPI_COMM_WORLD, &pr[0]);
    MPI_Recv_init(&in, 1, MPI_INT, left, 7, MPI_COMM_WORLD, &pr[1]);
    for (int round = 0; round < 5; round++) {
        out = rank * 10 + round;
        MPI_Startall(2, pr);
        MPI_Status sts[2];
        MPI_Waitall(2, pr, sts);
        sum += in;
    }
    int inactive_flag = 0;
    MPI_Status st;
    MPI_Test(&pr[0], &inactive_flag, &st);
    MPI_Request_free(&pr[0]);
    MPI_Request_free(&pr[1]);

    /* Buffered sends: they return before any receive is posted. */
    int bufsize = 2 * (sizeof(int) + MPI_BSEND_OVERHEAD) + 64;
    char *attached = malloc(bufsize);
    MPI_Buffer_attach(attached, bufsize);
    int b1 = rank + 100, b2 = rank + 200, r1 = -1, r2 = -1;
    MPI_Request ib;
    MPI_Bsend(&b1, 1, MPI_INT, right, 8, MPI_COMM_WORLD);
    MPI_Ibsend(&b2, 1, MPI_INT, right, 9, MPI_COMM_WORLD, &ib);
    MPI_Wait(&ib, MPI_STATUS_IGNORE);
    MPI_Recv(&r2, 1, MPI_INT, left, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Recv(&r1, 1, MPI_INT, left, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    void *back;
    int backsize;
    MPI_Buffer_detach(&back, &backsize);

    /* Irsend after the receive is surely posted (a barrier in between). */
    int rs = -1, rsv = rank + 300;
    MPI_Request rr, rq;
    MPI_Irecv(&rs, 1, MPI_INT, left, 10, MPI_COMM_WORLD, &rr);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Irsend(&rsv, 1, MPI_INT, right, 10, MPI_COMM_WORLD, &rq);
    MPI_Wait(&rq, MPI_STATUS_IGNORE);
    MPI_Wait(&rr, MPI_STATUS_IGNORE);

    /* A receive nobody sends to, cancelled. */
    int never;
    MPI_Request cr;
    MPI_Irecv(&never, 1, MPI_INT, left, 99, MPI_COMM_WORLD, &cr);
    MPI_Cancel(&cr);
    MPI_Wait(&cr, &st);
    int cancelled;
    MPI_Test_cancelled(&st, &cancelled);

    printf("rank %d: persistent sum %d inactive %d buffered %d %d detached %s %d irsend %d cancelled %d\n",
           rank, sum, inactive_flag, r1, r2, back == attached ? "same" : "other",
           backsize == bufsize, rs, cancelled);
    free(attached);
    MPI_Finalize();
    return 0;
}
