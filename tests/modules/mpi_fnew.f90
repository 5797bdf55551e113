! mpi_fnew: the Fortran 90 bindings (use mpi) of the newer calls:
! Iallgather, Ialltoall, Iscan, Comm_split_type, Comm_idup,
! Comm_dup_with_info, and one-sided communication (Win_create, Win_fence,
! Put, Get, Accumulate, Win_lock/Win_unlock, Win_free). One line per rank,
! compared with MPICH's output.
program mpi_fnew
  use mpi
  implicit none
  integer :: ierr, rank, nprocs, right, left, req, reqs(3), shared, srank, dup, idup
  integer :: win, k, got, sc
  integer :: ag(64), a2a_s(64), a2a_r(64), win_mem(4), one
  integer(kind=MPI_ADDRESS_KIND) :: wsize, disp
  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  right = mod(rank + 1, nprocs)
  left = mod(rank + nprocs - 1, nprocs)
  do k = 1, nprocs
    a2a_s(k) = rank * 100 + k
  end do
  one = rank + 1
  call MPI_Iallgather(rank, 1, MPI_INTEGER, ag, 1, MPI_INTEGER, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Ialltoall(a2a_s, 1, MPI_INTEGER, a2a_r, 1, MPI_INTEGER, MPI_COMM_WORLD, reqs(2), ierr)
  call MPI_Iscan(one, sc, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, reqs(3), ierr)
  call MPI_Waitall(3, reqs, MPI_STATUSES_IGNORE, ierr)
  call MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, -rank, MPI_INFO_NULL, shared, ierr)
  call MPI_Comm_rank(shared, srank, ierr)
  call MPI_Comm_dup_with_info(shared, MPI_INFO_NULL, dup, ierr)
  call MPI_Comm_idup(dup, idup, req, ierr)
  call MPI_Wait(req, MPI_STATUS_IGNORE, ierr)
  win_mem = 0
  wsize = 16
  call MPI_Win_create(win_mem, wsize, 4, MPI_INFO_NULL, MPI_COMM_WORLD, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  disp = 1
  call MPI_Put(rank, 1, MPI_INTEGER, right, disp, 1, MPI_INTEGER, win, ierr)
  disp = 0
  call MPI_Accumulate(one, 1, MPI_INTEGER, 0, disp, 1, MPI_INTEGER, MPI_SUM, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  disp = 1
  call MPI_Win_lock(MPI_LOCK_SHARED, left, 0, win, ierr)
  call MPI_Get(got, 1, MPI_INTEGER, left, disp, 1, MPI_INTEGER, win, ierr)
  call MPI_Win_unlock(left, win, ierr)
  call MPI_Win_fence(0, win, ierr)
  call MPI_Win_free(win, ierr)
  write (*, '(A,I0,A,I0,A,I0,A,I0,A,I0,A,I0,A,I0,A,I0)') 'rank ', rank, ': allgather ', &
    sum(ag(1:nprocs) * (/ (k, k = 1, nprocs) /)), ' alltoall ', sum(a2a_r(1:nprocs)), &
    ' scan ', sc, ' shared ', srank, ' window ', win_mem(1) * 1000 + win_mem(2), &
    ' got ', got, ' ierr ', ierr
  call MPI_Comm_free(idup, ierr)
  call MPI_Comm_free(dup, ierr)
  call MPI_Comm_free(shared, ierr)
  call MPI_Finalize(ierr)
end program mpi_fnew
