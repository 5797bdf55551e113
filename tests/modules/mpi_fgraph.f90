! mpi_fgraph: the Fortran 90 bindings (use mpi) of graph topologies,
! distributed graphs (adjacent, weighted; non-adjacent, MPI_UNWEIGHTED),
! neighbourhood collectives, generalized requests with Fortran callbacks,
! one-sided calls under lock_all (Fetch_and_op, Compare_and_swap,
! Get_accumulate, Rput, flushes, Win_get_attr) and persistent
! collectives. One line per rank, compared with MPICH's output.
module greq_callbacks
  use mpi
  implicit none
contains
  subroutine query_fn(extra, status, ierr)
    integer(kind=MPI_ADDRESS_KIND) :: extra
    integer :: status(MPI_STATUS_SIZE), ierr
    call MPI_Status_set_elements(status, MPI_INTEGER, int(extra), ierr)
    call MPI_Status_set_cancelled(status, .false., ierr)
    status(MPI_SOURCE) = MPI_UNDEFINED
    status(MPI_TAG) = MPI_UNDEFINED
    ierr = MPI_SUCCESS
  end subroutine
  subroutine free_fn(extra, ierr)
    integer(kind=MPI_ADDRESS_KIND) :: extra
    integer :: ierr
    ierr = MPI_SUCCESS
  end subroutine
  subroutine cancel_fn(extra, complete, ierr)
    integer(kind=MPI_ADDRESS_KIND) :: extra
    logical :: complete
    integer :: ierr
    ierr = MPI_SUCCESS
  end subroutine
end module

program fgraph
  use mpi
  use greq_callbacks
  implicit none
  integer :: ierr, rank, nprocs, left, right, i, gcomm, dcomm, ucomm
  integer, allocatable :: idx(:), edges(:)
  integer :: nn, nbrs(4), indeg, outdeg, srcs(4), sw(4), dsts(4), dw(4)
  integer :: sendv(4), recvv(4), req, reqs(2), st(MPI_STATUS_SIZE), cnt
  logical :: weighted, uweighted, flag
  integer :: win, mem(4), one, before, cmpv, newv, swapped, dummy, old, putv
  integer(kind=MPI_ADDRESS_KIND) :: disp, extra, wsize
  integer :: bval, asum, ain, sumgather
  integer :: usrc(1), udeg(1), udst(1), uin, uout
  integer :: darr, dsize, gs(1), ds(1), da(1), ps(1), fetched
  integer(kind=MPI_ADDRESS_KIND) :: dlb, dext

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  left = mod(rank + nprocs - 1, nprocs)
  right = mod(rank + 1, nprocs)

  ! A ring as a graph: each node's neighbours are its left and right.
  allocate(idx(nprocs), edges(2 * nprocs))
  do i = 0, nprocs - 1
    idx(i + 1) = 2 * (i + 1)
    edges(2 * i + 1) = mod(i + nprocs - 1, nprocs)
    edges(2 * i + 2) = mod(i + 1, nprocs)
  end do
  call MPI_Graph_create(MPI_COMM_WORLD, nprocs, idx, edges, .false., gcomm, ierr)
  call MPI_Graph_neighbors_count(gcomm, rank, nn, ierr)
  call MPI_Graph_neighbors(gcomm, rank, 4, nbrs, ierr)
  sendv = 0
  sendv(1) = rank * 10 + 1
  call MPI_Neighbor_allgather(sendv, 1, MPI_INTEGER, recvv, 1, MPI_INTEGER, gcomm, ierr)
  sumgather = recvv(1) + recvv(2)

  ! A weighted distributed graph: from the left, to the right.
  srcs(1) = left
  sw(1) = rank + 1
  dsts(1) = right
  dw(1) = rank + 2
  call MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 1, srcs, sw, 1, dsts, dw, &
                                      MPI_INFO_NULL, .false., dcomm, ierr)
  call MPI_Dist_graph_neighbors_count(dcomm, indeg, outdeg, weighted, ierr)
  srcs = -1
  sw = -1
  dsts = -1
  dw = -1
  call MPI_Dist_graph_neighbors(dcomm, 4, srcs, sw, 4, dsts, dw, ierr)
  sendv(1) = rank * 100
  call MPI_Neighbor_alltoall(sendv, 1, MPI_INTEGER, recvv, 1, MPI_INTEGER, dcomm, ierr)
  call MPI_Ineighbor_allgather(sendv, 1, MPI_INTEGER, recvv(2), 1, MPI_INTEGER, dcomm, req, ierr)
  call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
  ! Unweighted, each rank naming the edge into its left neighbour.
  usrc(1) = rank
  udeg(1) = 1
  udst(1) = left
  call MPI_Dist_graph_create(MPI_COMM_WORLD, 1, usrc, udeg, udst, MPI_UNWEIGHTED, &
                             MPI_INFO_NULL, .false., ucomm, ierr)
  call MPI_Dist_graph_neighbors_count(ucomm, uin, uout, uweighted, ierr)

  ! A generalized request completed at once; its query sets the count.
  extra = 5
  call MPI_Grequest_start(query_fn, free_fn, cancel_fn, extra, req, ierr)
  call MPI_Grequest_complete(req, ierr)
  call MPI_Wait(req, st, ierr)
  call MPI_Get_count(st, MPI_INTEGER, cnt, ierr)

  ! One-sided calls under lock_all.
  mem = 0
  call MPI_Win_create(mem, int(16, MPI_ADDRESS_KIND), 4, MPI_INFO_NULL, MPI_COMM_WORLD, win, ierr)
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_lock_all(0, win, ierr)
  one = 1
  disp = 0
  call MPI_Fetch_and_op(one, before, MPI_INTEGER, 0, disp, MPI_SUM, win, ierr)
  call MPI_Win_flush(0, win, ierr)
  cmpv = 0
  newv = rank + 1
  disp = 1
  call MPI_Compare_and_swap(newv, cmpv, swapped, MPI_INTEGER, 0, disp, win, ierr)
  call MPI_Win_flush_all(win, ierr)
  call MPI_Win_unlock_all(win, ierr)
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_lock_all(0, win, ierr)
  putv = 1000 + rank
  disp = 2
  call MPI_Rput(putv, 1, MPI_INTEGER, right, disp, 1, MPI_INTEGER, win, req, ierr)
  call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
  call MPI_Win_unlock_all(win, ierr)
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win, ierr)
  disp = 0
  call MPI_Get_accumulate(dummy, 1, MPI_INTEGER, old, 1, MPI_INTEGER, 0, disp, 1, &
                          MPI_INTEGER, MPI_NO_OP, win, ierr)
  call MPI_Win_unlock(0, win, ierr)
  call MPI_Win_lock(MPI_LOCK_SHARED, right, 0, win, ierr)
  disp = 2
  call MPI_Rget_accumulate(dummy, 1, MPI_INTEGER, fetched, 1, MPI_INTEGER, right, disp, 1, &
                           MPI_INTEGER, MPI_NO_OP, win, req, ierr)
  call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
  call MPI_Win_unlock(right, win, ierr)
  call MPI_Win_get_attr(win, MPI_WIN_SIZE, wsize, flag, ierr)
  call MPI_Barrier(MPI_COMM_WORLD, ierr)
  call MPI_Win_free(win, ierr)

  ! A cyclic(2) distribution of 2 * nprocs + 3 elements.
  gs(1) = 2 * nprocs + 3
  ds(1) = MPI_DISTRIBUTE_CYCLIC
  da(1) = 2
  ps(1) = nprocs
  call MPI_Type_create_darray(nprocs, rank, 1, gs, ds, da, ps, MPI_ORDER_FORTRAN, MPI_INTEGER, &
                              darr, ierr)
  call MPI_Type_size(darr, dsize, ierr)
  call MPI_Type_get_extent(darr, dlb, dext, ierr)
  call MPI_Type_free(darr, ierr)

  ! Persistent collectives started twice.
  call MPI_Bcast_init(bval, 1, MPI_INTEGER, 0, MPI_COMM_WORLD, MPI_INFO_NULL, reqs(1), ierr)
  call MPI_Allreduce_init(ain, asum, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL, &
                          reqs(2), ierr)
  do i = 1, 2
    bval = -1
    if (rank == 0) bval = 40 + i
    ain = rank * i
    call MPI_Startall(2, reqs, ierr)
    call MPI_Waitall(2, reqs, MPI_STATUSES_IGNORE, ierr)
  end do
  call MPI_Request_free(reqs(1), ierr)
  call MPI_Request_free(reqs(2), ierr)

  write (*, '(A,I0,A,*(G0,1X))') 'rank ', rank, ': graph ', nn, nbrs(1) + nbrs(2), &
    'gathered', sumgather, 'dist', indeg, outdeg, 'weighted', weighted, srcs(1), sw(1), &
    dsts(1), dw(1), 'got', recvv(1), recvv(2), 'unweighted', uin + uout, uweighted, &
    'greq', cnt, 'rma', mem(2) / max(mem(2), 1), mem(3), 'flag', flag, 'size', int(wsize), &
    'old', old, 'bcast', bval, 'sum', asum, 'fetched', fetched, 'darray', dsize, int(dext)
  call MPI_Comm_free(gcomm, ierr)
  call MPI_Comm_free(dcomm, ierr)
  call MPI_Comm_free(ucomm, ierr)
  call MPI_Finalize(ierr)
end program
