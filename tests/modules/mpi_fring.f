C     mpi_fring: Fortran 77 point to point and collectives, with state
C     in a COMMON block (private to each rank under weaves). One line
C     per rank.
      program fring
      implicit none
      include 'mpif.h'
      integer ierr, rank, nprocs, token, left, right, k, isum
      integer status(MPI_STATUS_SIZE), counts
      double precision x, total, vals(4), allv(256)
      integer calls
      common /state/ calls
      calls = 0
      call MPI_INIT(ierr)
      call MPI_COMM_RANK(MPI_COMM_WORLD, rank, ierr)
      call MPI_COMM_SIZE(MPI_COMM_WORLD, nprocs, ierr)
      right = mod(rank + 1, nprocs)
      left = mod(rank + nprocs - 1, nprocs)
      token = rank * 10
      do k = 1, 3
         call MPI_SENDRECV_REPLACE(token, 1, MPI_INTEGER, right, k,
     &        left, k, MPI_COMM_WORLD, status, ierr)
         call bump()
      end do
      call MPI_GET_COUNT(status, MPI_INTEGER, counts, ierr)
      x = rank + 1
      call MPI_ALLREDUCE(x, total, 1, MPI_DOUBLE_PRECISION, MPI_SUM,
     &     MPI_COMM_WORLD, ierr)
      call MPI_ALLREDUCE(MPI_IN_PLACE, x, 1, MPI_DOUBLE_PRECISION,
     &     MPI_MAX, MPI_COMM_WORLD, ierr)
      isum = rank
      call MPI_REDUCE(rank, isum, 1, MPI_INTEGER, MPI_SUM, 0,
     &     MPI_COMM_WORLD, ierr)
      do k = 1, 4
         vals(k) = rank * 100 + k
      end do
      call MPI_ALLGATHER(vals, 4, MPI_DOUBLE_PRECISION, allv, 4,
     &     MPI_DOUBLE_PRECISION, MPI_COMM_WORLD, ierr)
      call MPI_BCAST(token, 1, MPI_INTEGER, nprocs - 1,
     &     MPI_COMM_WORLD, ierr)
      call MPI_BARRIER(MPI_COMM_WORLD, ierr)
      if (rank .ne. 0) isum = -1
      write (*, '(A,I3,A,I4,A,I2,A,F8.1,A,F6.1,A,I6,A,F8.1,A,I2)')
     &     'f77 rank', rank, ' token', token, ' count', counts,
     &     ' total', total, ' max', x, ' rank-sum', isum,
     &     ' last', allv(4 * nprocs), ' calls', calls
      call MPI_FINALIZE(ierr)
      end

      subroutine bump()
      integer calls
      common /state/ calls
      calls = calls + 1
      end
