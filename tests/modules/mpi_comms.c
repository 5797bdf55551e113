/* mpi_comms: Comm_split_type (MPI_COMM_TYPE_SHARED and MPI_UNDEFINED),
 * Comm_dup_with_info, Comm_idup overlapped with point-to-point traffic
 * that completes only once every rank has begun it (a blocking dup would
 * deadlock), and generalized requests (Grequest_start, a Test before
 * Grequest_complete, Wait with the status the query callback sets, the
 * free callback). One line per rank, compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>

static int freed;

static int query(void *extra, MPI_Status *status)
{
    MPI_Status_set_elements(status, MPI_INT, *(int *)extra);
    MPI_Status_set_cancelled(status, 0);
    status->MPI_SOURCE = 3;
    status->MPI_TAG = 44;
    return MPI_SUCCESS;
}

static int free_fn(void *extra)
{
    (void)extra;
    freed++;
    return MPI_SUCCESS;
}

static int cancel_fn(void *extra, int complete)
{
    (void)extra;
    (void)complete;
    return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    MPI_Comm shared, none;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, size - rank, MPI_INFO_NULL, &shared);
    int srank, ssize;
    MPI_Comm_rank(shared, &srank);
    MPI_Comm_size(shared, &ssize);
    MPI_Comm_split_type(MPI_COMM_WORLD, rank == 0 ? MPI_UNDEFINED : MPI_COMM_TYPE_SHARED, 0,
                        MPI_INFO_NULL, &none);
    int nsize = -1;
    if (none != MPI_COMM_NULL) {
        MPI_Comm_size(none, &nsize);
        MPI_Comm_free(&none);
    }

    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "mpi_assert_no_any_tag", "true");
    MPI_Comm withinfo;
    MPI_Comm_dup_with_info(shared, info, &withinfo);
    MPI_Info_free(&info);
    int sum = 0;
    MPI_Allreduce(&srank, &sum, 1, MPI_INT, MPI_SUM, withinfo);
    int cmp;
    MPI_Comm_compare(shared, withinfo, &cmp);

    /* Idup, then a ring message each rank receives before it sends. */
    MPI_Comm dup;
    MPI_Request r;
    MPI_Comm_idup(MPI_COMM_WORLD, &dup, &r);
    int right = (rank + 1) % size, left = (rank + size - 1) % size, token = rank == 0;
    if (size > 1) {
        if (rank != 0)
            MPI_Recv(&token, 1, MPI_INT, left, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        token += rank;
        MPI_Send(&token, 1, MPI_INT, right, 0, MPI_COMM_WORLD);
        if (rank == 0)
            MPI_Recv(&token, 1, MPI_INT, left, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    MPI_Wait(&r, MPI_STATUS_IGNORE);
    int drank, dmax = -1;
    MPI_Comm_rank(dup, &drank);
    MPI_Allreduce(&drank, &dmax, 1, MPI_INT, MPI_MAX, dup);
    int dcmp;
    MPI_Comm_compare(MPI_COMM_WORLD, dup, &dcmp);

    /* A generalized request, completed by its own rank. */
    int elements = rank + 2, flag = -1, count = -1, cancelled = -1;
    MPI_Request g;
    MPI_Grequest_start(query, free_fn, cancel_fn, &elements, &g);
    MPI_Test(&g, &flag, MPI_STATUS_IGNORE);
    int before = flag;
    MPI_Grequest_complete(g);
    MPI_Status st;
    MPI_Wait(&g, &st);
    MPI_Get_count(&st, MPI_INT, &count);
    MPI_Test_cancelled(&st, &cancelled);

    printf("rank %d: shared %d of %d undefined %d info-dup sum %d compare %d idup %d max %d "
           "compare %d token %d grequest before %d count %d source %d tag %d cancelled %d "
           "freed %d null %d\n",
           rank, srank, ssize, nsize, sum, cmp, drank, dmax, dcmp, token, before, count,
           st.MPI_SOURCE, st.MPI_TAG, cancelled, freed, g == MPI_REQUEST_NULL);
    MPI_Comm_free(&dup);
    MPI_Comm_free(&withinfo);
    MPI_Comm_free(&shared);
    MPI_Finalize();
    return 0;
}
