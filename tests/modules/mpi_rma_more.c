/* mpi_rma_more: request-based one-sided operations (Rput, Rget,
 * Raccumulate, Rget_accumulate under lock_all, completed by Wait and
 * Waitall), a dynamic window (Win_create_dynamic, Win_attach with
 * addresses exchanged by Allgather, Put and Get under fences,
 * Win_detach, a second attachment), and user attributes on windows and
 * datatypes (keyvals with copy and delete callbacks, Type_dup copying
 * them, Type_free and Win_free deleting them). One line per rank,
 * compared with MPICH's output. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int deletes, copies;

static int count_delete(int handle, int keyval, void *value, void *extra)
{
    (void)handle;
    (void)keyval;
    deletes += *(int *)extra + (int)(long)value;
    return MPI_SUCCESS;
}

static int copy_plus_one(MPI_Datatype t, int keyval, void *extra, void *in, void *out, int *flag)
{
    (void)t;
    (void)keyval;
    (void)extra;
    copies++;
    *(void **)out = (void *)((long)in + 1);
    *flag = 1;
    return MPI_SUCCESS;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    /* Request-based operations on an allocated window. */
    int *mem;
    MPI_Win w;
    MPI_Win_allocate(8 * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &mem, &w);
    for (int k = 0; k < 8; k++)
        mem[k] = rank * 10 + k;
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock_all(0, w);
    MPI_Request rq[4];
    int val = 1000 + rank, got = -1, add = rank + 1, old = -1, fetched[2] = {-1, -1};
    MPI_Rput(&val, 1, MPI_INT, right, 7, 1, MPI_INT, w, &rq[0]);
    MPI_Rget(fetched, 2, MPI_INT, left, 1, 2, MPI_INT, w, &rq[1]);
    MPI_Raccumulate(&add, 1, MPI_INT, 0, 0, 1, MPI_INT, MPI_SUM, w, &rq[2]);
    MPI_Rget_accumulate(&add, 1, MPI_INT, &old, 1, MPI_INT, right, 3, 1, MPI_INT, MPI_NO_OP, w,
                        &rq[3]);
    MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
    MPI_Waitall(3, &rq[1], MPI_STATUSES_IGNORE);
    MPI_Win_unlock_all(w);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, w);
    int mine7 = mem[7], mine0 = mem[0];
    MPI_Win_unlock(rank, w);
    MPI_Request rg;
    MPI_Win_lock(MPI_LOCK_SHARED, left, 0, w);
    MPI_Rget(&got, 1, MPI_INT, left, 7, 1, MPI_INT, w, &rg);
    MPI_Wait(&rg, MPI_STATUS_IGNORE);
    MPI_Win_unlock(left, w);

    /* Window attributes. */
    int wkey, extra = 100;
    MPI_Win_create_keyval(MPI_WIN_NULL_COPY_FN, count_delete, &wkey, &extra);
    MPI_Win_set_attr(w, wkey, (void *)(long)(rank + 1));
    void *wv;
    int wflag = 0;
    MPI_Win_get_attr(w, wkey, &wv, &wflag);
    MPI_Win_set_attr(w, wkey, (void *)(long)(rank + 2)); /* deletes the first value */
    MPI_Win_free(&w);                                    /* deletes the second */
    MPI_Win_free_keyval(&wkey);

    /* A dynamic window: memory attached, its address told to the others. */
    MPI_Win dw;
    MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &dw);
    int *flavor, fl;
    MPI_Win_get_attr(dw, MPI_WIN_CREATE_FLAVOR, &flavor, &fl);
    int dynamic_flavor = *flavor;
    int area[4] = {-1, -1, -1, -1};
    MPI_Win_attach(dw, area, sizeof area);
    MPI_Aint at, *addrs = calloc(size, sizeof(MPI_Aint));
    MPI_Get_address(area, &at);
    MPI_Allgather(&at, 1, MPI_AINT, addrs, 1, MPI_AINT, MPI_COMM_WORLD);
    MPI_Win_fence(0, dw);
    int two[2] = {rank * 3, rank * 3 + 1};
    MPI_Put(two, 2, MPI_INT, right, addrs[right] + sizeof(int), 2, MPI_INT, dw);
    MPI_Win_fence(0, dw);
    int back[4];
    MPI_Get(back, 4, MPI_INT, left, addrs[left], 4, MPI_INT, dw);
    MPI_Win_fence(0, dw);
    MPI_Win_detach(dw, area);
    long later[2] = {rank * 1000L, -1};
    MPI_Win_attach(dw, later, sizeof later);
    MPI_Get_address(later, &at);
    MPI_Allgather(&at, 1, MPI_AINT, addrs, 1, MPI_AINT, MPI_COMM_WORLD);
    MPI_Win_fence(0, dw);
    long from_left = -1;
    MPI_Get(&from_left, 1, MPI_LONG, left, addrs[left], 1, MPI_LONG, dw);
    MPI_Win_fence(0, dw);
    MPI_Win_detach(dw, later);
    MPI_Win_free(&dw);

    /* Datatype attributes: copied by Type_dup as the callback says. */
    int tkey, tkey2, textra = 1000;
    MPI_Datatype vec, dup;
    MPI_Type_vector(2, 1, 3, MPI_INT, &vec);
    MPI_Type_commit(&vec);
    MPI_Type_create_keyval(copy_plus_one, count_delete, &tkey, &textra);
    MPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, MPI_TYPE_NULL_DELETE_FN, &tkey2, NULL);
    MPI_Type_set_attr(vec, tkey, (void *)(long)(rank * 2));
    MPI_Type_set_attr(vec, tkey2, (void *)7L);
    MPI_Type_dup(vec, &dup);
    void *tv = NULL, *tv2 = NULL;
    int tflag = 0, tflag2 = 1, tflag3 = 1;
    MPI_Type_get_attr(dup, tkey, &tv, &tflag);
    MPI_Type_get_attr(dup, tkey2, &tv2, &tflag2);
    MPI_Type_delete_attr(vec, tkey2);
    MPI_Type_get_attr(vec, tkey2, &tv2, &tflag3);
    MPI_Type_set_attr(MPI_INT, tkey2, (void *)9L);
    void *onint = NULL;
    int intflag = 0;
    MPI_Type_get_attr(MPI_INT, tkey2, &onint, &intflag);
    MPI_Type_free(&vec);
    MPI_Type_free(&dup);
    MPI_Type_free_keyval(&tkey);
    MPI_Type_free_keyval(&tkey2);

    printf("rank %d: put %d acc0 %d got %d old %d fetched %d %d win attr %d %ld flavor %d "
           "dynamic %d %d %d %d then %ld type attr %d %ld %d %d int attr %d %ld "
           "copies %d deletes %d\n",
           rank, mine7, rank == 0 ? mine0 : 0, got, old, fetched[0], fetched[1], wflag,
           (long)wv, dynamic_flavor, back[0], back[1], back[2], back[3], from_left, tflag, (long)tv,
           tflag2, tflag3, intflag, (long)onint, copies, deletes);
    free(addrs);
    MPI_Finalize();
    return 0;
}
