! mpi_fmore: the Fortran bindings of the calls added after the first ones
! (Scan, Exscan, Allgatherv, Reduce_scatter_block, Waitany, Waitsome,
! persistent requests, a user operation written in Fortran, MINLOC over
! 2DOUBLE_PRECISION, groups and Comm_create, Cartesian topologies, a
! vector type, Comm_get_attr, Dims_create). One line per rank, compared
! with MPICH's output.
module fmore_ops
contains
  subroutine maxabs(invec, inoutvec, len, datatype)
    integer :: len, datatype
    integer :: invec(len), inoutvec(len)
    integer :: i
    do i = 1, len
      inoutvec(i) = max(abs(invec(i)), abs(inoutvec(i)))
    end do
  end subroutine maxabs
end module fmore_ops

program fmore
  use mpi
  use fmore_ops
  implicit none
  integer :: ierr, rank, nprocs, i, k
  integer :: v, scan, exscan, counts(64), displs(64), all(2080), mine(64), agsum
  integer :: blk(2), sendb(128), reqs(4), idx, outcount, indices(4), inr(2), outr(2)
  integer :: st(MPI_STATUS_SIZE), sts(MPI_STATUS_SIZE, 4)
  integer :: pr(2), pin, pout, psum, myop, opin, opout
  double precision :: loc(2), locmax(2)
  integer :: world, evens, ecomm, ev(64), ne, er, esz
  integer :: dims(2), cart, up, down, coords(2)
  logical :: periods(2), flag
  integer :: m(4, 5), col(4), column
  integer(kind=MPI_ADDRESS_KIND) :: tag_ub
  character(len=600) :: line

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)

  v = rank + 1
  call MPI_Scan(v, scan, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  exscan = 0
  call MPI_Exscan(v, exscan, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) exscan = -1

  do i = 1, nprocs
    counts(i) = i
    displs(i) = (i - 1) * i / 2
  end do
  do i = 1, rank + 1
    mine(i) = rank
  end do
  call MPI_Allgatherv(mine, rank + 1, MPI_INTEGER, all, counts, displs, MPI_INTEGER, &
                      MPI_COMM_WORLD, ierr)
  agsum = sum(all(1:nprocs * (nprocs + 1) / 2))

  do i = 1, 2 * nprocs
    sendb(i) = i * (rank + 1)
  end do
  call MPI_Reduce_scatter_block(sendb, blk, 2, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)

  outr(1) = rank
  outr(2) = 2 * rank
  call MPI_Irecv(inr(1), 1, MPI_INTEGER, mod(rank + nprocs - 1, nprocs), 1, MPI_COMM_WORLD, &
                 reqs(1), ierr)
  call MPI_Irecv(inr(2), 1, MPI_INTEGER, mod(rank + nprocs - 1, nprocs), 2, MPI_COMM_WORLD, &
                 reqs(2), ierr)
  call MPI_Isend(outr(1), 1, MPI_INTEGER, mod(rank + 1, nprocs), 1, MPI_COMM_WORLD, reqs(3), ierr)
  call MPI_Isend(outr(2), 1, MPI_INTEGER, mod(rank + 1, nprocs), 2, MPI_COMM_WORLD, reqs(4), ierr)
  call MPI_Waitany(4, reqs, idx, st, ierr)
  k = 1
  do while (k < 4)
    call MPI_Waitsome(4, reqs, outcount, indices, sts, ierr)
    k = k + outcount
  end do
  call MPI_Waitany(4, reqs, idx, st, ierr)

  psum = 0
  call MPI_Send_init(pout, 1, MPI_INTEGER, mod(rank + 1, nprocs), 3, MPI_COMM_WORLD, pr(1), ierr)
  call MPI_Recv_init(pin, 1, MPI_INTEGER, mod(rank + nprocs - 1, nprocs), 3, MPI_COMM_WORLD, &
                     pr(2), ierr)
  do i = 1, 3
    pout = rank * 10 + i
    call MPI_Startall(2, pr, ierr)
    call MPI_Waitall(2, pr, sts, ierr)
    psum = psum + pin
  end do
  call MPI_Request_free(pr(1), ierr)
  call MPI_Request_free(pr(2), ierr)

  call MPI_Op_create(maxabs, .true., myop, ierr)
  opin = (rank - 2) * 3
  call MPI_Allreduce(opin, opout, 1, MPI_INTEGER, myop, MPI_COMM_WORLD, ierr)
  call MPI_Op_free(myop, ierr)

  loc(1) = dble(mod(rank * 7, 5))
  loc(2) = dble(rank)
  call MPI_Allreduce(loc, locmax, 1, MPI_2DOUBLE_PRECISION, MPI_MAXLOC, MPI_COMM_WORLD, ierr)

  call MPI_Comm_group(MPI_COMM_WORLD, world, ierr)
  ne = 0
  do i = 0, nprocs - 1, 2
    ne = ne + 1
    ev(ne) = i
  end do
  call MPI_Group_incl(world, ne, ev, evens, ierr)
  call MPI_Comm_create(MPI_COMM_WORLD, evens, ecomm, ierr)
  er = -1
  esz = 0
  if (ecomm /= MPI_COMM_NULL) then
    call MPI_Comm_rank(ecomm, er, ierr)
    call MPI_Comm_size(ecomm, esz, ierr)
    call MPI_Comm_free(ecomm, ierr)
  end if
  call MPI_Group_free(evens, ierr)
  call MPI_Group_free(world, ierr)

  dims = 0
  call MPI_Dims_create(nprocs, 2, dims, ierr)
  periods(1) = .true.
  periods(2) = .false.
  call MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, .false., cart, ierr)
  call MPI_Cart_shift(cart, 0, 1, up, down, ierr)
  call MPI_Cart_coords(cart, rank, 2, coords, ierr)
  call MPI_Comm_free(cart, ierr)

  do i = 1, 4
    do k = 1, 5
      m(i, k) = rank * 100 + i * 10 + k
    end do
  end do
  call MPI_Type_vector(4, 1, 1, MPI_INTEGER, column, ierr)
  call MPI_Type_commit(column, ierr)
  call MPI_Sendrecv(m(1, 3), 1, column, mod(rank + 1, nprocs), 4, col, 4, MPI_INTEGER, &
                    mod(rank + nprocs - 1, nprocs), 4, MPI_COMM_WORLD, st, ierr)
  call MPI_Type_free(column, ierr)

  call MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, tag_ub, flag, ierr)

  write (line, '(A,I0,A,I0,A,I0,A,I0,A,2I4,A,2I4,A,I0,A,I0,A,2F5.1,A,I0,A,I0,A,2I3,A,2I3,A,2I3,A,4I5,A,L1)') &
    'rank ', rank, ': scan ', scan, ' exscan ', exscan, ' agv ', agsum, ' rsb', blk, &
    ' ring', inr, ' persist ', psum, ' userop ', opout, ' maxloc', locmax, ' ecomm ', er, &
    '/', esz, ' dims', dims, ' shift', up, down, ' coords', coords, ' col', col, ' tagub ', &
    flag .and. tag_ub >= 32767
  print '(A)', trim(line)
  call MPI_Finalize(ierr)
end program fmore
