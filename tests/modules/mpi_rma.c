/* mpi_rma: one-sided communication. Win_create with fences (Put to the
 * right neighbour, Get from the left, Accumulate into rank 0, a Put
 * through a strided target type), Win_allocate with exclusive and shared
 * locks (Fetch_and_op counters, Compare_and_swap, Get_accumulate with
 * MPI_NO_OP, lock_all and flushes), window attributes and
 * Win_allocate_shared with Win_shared_query. One line per rank, compared
 * with MPICH's output (post/start/complete/wait: mpi_pscw.c). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

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
    int right = (rank + 1) % size, left = (rank + size - 1) % size;

    /* Fences. */
    int mem[16] = {0};
    MPI_Win w;
    MPI_Win_create(mem, sizeof mem, sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &w);
    MPI_Win_fence(0, w);
    int val = rank + 100, got = -1, one = rank + 1;
    MPI_Put(&val, 1, MPI_INT, right, 1, 1, MPI_INT, w);
    MPI_Accumulate(&one, 1, MPI_INT, 0, 0, 1, MPI_INT, MPI_SUM, w);
    MPI_Win_fence(0, w);
    MPI_Get(&got, 1, MPI_INT, left, 1, 1, MPI_INT, w);
    MPI_Win_fence(0, w);
    /* Three ints into every fourth slot of the right neighbour's window. */
    MPI_Datatype every4;
    MPI_Type_vector(3, 1, 4, MPI_INT, &every4);
    MPI_Type_commit(&every4);
    int three[3] = {rank * 3, rank * 3 + 1, rank * 3 + 2};
    MPI_Put(three, 3, MPI_INT, right, 2, 1, every4, w);
    MPI_Win_fence(0, w);
    MPI_Type_free(&every4);
    int *flavor, *unit, flag;
    MPI_Aint *wsize;
    MPI_Win_get_attr(w, MPI_WIN_CREATE_FLAVOR, &flavor, &flag);
    MPI_Win_get_attr(w, MPI_WIN_DISP_UNIT, &unit, &flag);
    MPI_Win_get_attr(w, MPI_WIN_SIZE, &wsize, &flag);
    void *base;
    MPI_Win_get_attr(w, MPI_WIN_BASE, &base, &flag);
    int attrs_ok = *flavor == MPI_WIN_FLAVOR_CREATE && *unit == 4 && *wsize == sizeof mem &&
                   base == mem;
    MPI_Win_free(&w);

    /* Locks on an allocated window: everyone counts on rank 0. */
    int *counter;
    MPI_Win cw;
    MPI_Win_allocate(4 * sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &counter, &cw);
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, rank, 0, cw);
    counter[0] = counter[1] = counter[2] = counter[3] = 0;
    MPI_Win_unlock(rank, cw);
    MPI_Barrier(MPI_COMM_WORLD);
    int inc = 1, before = -1, swapped = -1, mine = rank + 1;
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, cw);
    MPI_Fetch_and_op(&inc, &before, MPI_INT, 0, 0, MPI_SUM, cw);
    MPI_Win_unlock(0, cw);
    /* The first to find slot 1 zero claims it. */
    int zero = 0;
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, cw);
    MPI_Compare_and_swap(&mine, &zero, &swapped, MPI_INT, 0, 1, cw);
    MPI_Win_unlock(0, cw);
    MPI_Win_lock_all(0, cw);
    int max_in = rank, dummy = 0, old = -1;
    MPI_Accumulate(&max_in, 1, MPI_INT, 0, 2, 1, MPI_INT, MPI_MAX, cw);
    MPI_Win_flush(0, cw);
    MPI_Get_accumulate(&dummy, 1, MPI_INT, &old, 1, MPI_INT, right, 3, 1, MPI_INT, MPI_NO_OP, cw);
    MPI_Win_flush_all(cw);
    MPI_Win_unlock_all(cw);
    MPI_Barrier(MPI_COMM_WORLD);
    int fin[4] = {-1, -1, -1, -1};
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, cw);
    MPI_Get(fin, 4, MPI_INT, 0, 0, 4, MPI_INT, cw);
    MPI_Win_unlock(0, cw);
    int claimed = swapped == 0; /* exactly one rank */
    int claims = 0;
    MPI_Allreduce(&claimed, &claims, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Win_free(&cw);

    /* A shared window: each rank reads its left neighbour's memory
     * directly. */
    int *sh;
    MPI_Win sw;
    MPI_Win_allocate_shared(sizeof(int), sizeof(int), MPI_INFO_NULL, MPI_COMM_WORLD, &sh, &sw);
    MPI_Win_fence(0, sw);
    *sh = rank * 11;
    MPI_Win_fence(0, sw);
    MPI_Aint lsize;
    int ldisp, *lbase;
    MPI_Win_shared_query(sw, left, &lsize, &ldisp, &lbase);
    int seen = *lbase;
    MPI_Win_fence(0, sw);
    MPI_Win_free(&sw);

    printf("rank %d: fence got %d window %ld attrs %d counter %d %d %d %d before<%d %d claims %d "
           "noop %d shared %ld %d %d\n",
           rank, got, sum_of(mem, 16), attrs_ok, fin[0], fin[1] > 0, fin[2], fin[3],
           before < size, before >= 0, claims, old, (long)lsize, ldisp, seen);
    MPI_Finalize();
    return 0;
}
