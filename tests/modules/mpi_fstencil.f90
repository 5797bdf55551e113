! mpi_fstencil: Fortran 90 with `use mpi`: a 1-D heat stencil over a
! distributed array with halo exchange (MPI_SENDRECV, MPI_PROC_NULL at the
! ends), non-blocking requests, and module variables that stay private to
! each rank. Rank 0 prints a checksum; every rank prints its slice's sum.
module field
  implicit none
  integer, parameter :: n = 96
  double precision, allocatable :: u(:), v(:)
  integer :: steps_done = 0
end module field

program fstencil
  use mpi
  use field
  implicit none
  integer :: ierr, rank, nprocs, lo, hi, m, step, up, down, i
  integer :: req(2), st(MPI_STATUS_SIZE, 2)
  double precision :: local, total, edge(2)
  call MPI_INIT(ierr)
  call MPI_COMM_RANK(MPI_COMM_WORLD, rank, ierr)
  call MPI_COMM_SIZE(MPI_COMM_WORLD, nprocs, ierr)
  m = n / nprocs + merge(1, 0, rank < mod(n, nprocs))
  lo = rank * (n / nprocs) + min(rank, mod(n, nprocs)) + 1
  hi = lo + m - 1
  allocate(u(0:m+1), v(0:m+1))
  u = 0d0
  do i = 1, m
    if (lo + i - 1 == 1) u(i) = 1000d0
  end do
  up = merge(rank - 1, MPI_PROC_NULL, rank > 0)
  down = merge(rank + 1, MPI_PROC_NULL, rank < nprocs - 1)
  do step = 1, 200
    call MPI_SENDRECV(u(1), 1, MPI_DOUBLE_PRECISION, up, 1, &
         u(m+1), 1, MPI_DOUBLE_PRECISION, down, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    call MPI_SENDRECV(u(m), 1, MPI_DOUBLE_PRECISION, down, 2, &
         u(0), 1, MPI_DOUBLE_PRECISION, up, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE, ierr)
    do i = 1, m
      if (lo + i - 1 == 1 .or. lo + i - 1 == n) then
        v(i) = u(i)
      else
        v(i) = u(i) + 0.25d0 * (u(i-1) - 2d0 * u(i) + u(i+1))
      end if
    end do
    u(1:m) = v(1:m)
    steps_done = steps_done + 1
  end do
  ! non-blocking exchange of the slice ends with the neighbours
  edge = 0d0
  call MPI_IRECV(edge(1), 1, MPI_DOUBLE_PRECISION, up, 3, MPI_COMM_WORLD, req(1), ierr)
  call MPI_IRECV(edge(2), 1, MPI_DOUBLE_PRECISION, down, 4, MPI_COMM_WORLD, req(2), ierr)
  call MPI_SEND(u(m), 1, MPI_DOUBLE_PRECISION, down, 3, MPI_COMM_WORLD, ierr)
  call MPI_SEND(u(1), 1, MPI_DOUBLE_PRECISION, up, 4, MPI_COMM_WORLD, ierr)
  call MPI_WAITALL(2, req, st, ierr)
  local = 0d0
  do i = 1, m
    local = local + u(i) * (lo + i - 1)
  end do
  call MPI_REDUCE(local, total, 1, MPI_DOUBLE_PRECISION, MPI_SUM, 0, MPI_COMM_WORLD, ierr)
  write (*, '(A,I3,A,I3,A,I3,A,ES14.6,A,ES12.4,ES12.4,A,I4)') 'f90 rank', rank, ' rows', lo, '-', hi, &
       ' sum', local, ' edges', edge(1), edge(2), ' steps', steps_done
  if (rank == 0) write (*, '(A,ES16.8)') 'f90 checksum', total
  call MPI_FINALIZE(ierr)
end program fstencil
