! An OpenMP program in Fortran whose team size comes from OMP_NUM_THREADS:
! `parallel do` with a reduction, `critical`, `barrier`, `single`, omp locks
! and omp_get_thread_num. Prints one line per check, prefixed with the
! first argument; stops with code 1 unless every check holds.
program omp_fortran
  use omp_lib
  implicit none
  character(len=32) :: tag
  integer :: failures, team, crit, after, me, i, all, maxt
  integer(8) :: total, locked, want
  integer :: seen(0:63)
  integer(omp_lock_kind) :: lock

  tag = 'x'
  if (command_argument_count() >= 1) call get_command_argument(1, tag)
  failures = 0
  maxt = omp_get_max_threads()
  print '(a,a,i0)', trim(tag), ' max threads ', maxt

  total = 0
  !$omp parallel do reduction(+:total)
  do i = 1, 200000
    total = total + i
  end do
  !$omp end parallel do
  print '(a,a,i0)', trim(tag), ' parallel do sum ', total
  if (total /= 200000_8 * 200001_8 / 2) failures = failures + 1

  seen = 0
  team = 0
  crit = 0
  after = 0
  !$omp parallel private(me, all, i)
  me = omp_get_thread_num()
  !$omp single
  team = omp_get_num_threads()
  !$omp end single
  !$omp critical
  crit = crit + 1
  !$omp end critical
  if (me < 64) seen(me) = seen(me) + 1
  !$omp barrier
  all = 0
  do i = 0, min(team, 64) - 1
    all = all + seen(i)
  end do
  !$omp critical
  if (all == team) after = after + 1
  !$omp end critical
  !$omp end parallel
  print '(a,a,i0,a,i0,a,i0)', trim(tag), ' team ', team, ' critical ', crit, ' after barrier ', after
  if (team /= maxt .or. crit /= team .or. after /= team) failures = failures + 1

  call omp_init_lock(lock)
  locked = 0
  !$omp parallel do
  do i = 0, 2999
    call omp_set_lock(lock)
    locked = locked + mod(i, 7)
    call omp_unset_lock(lock)
  end do
  !$omp end parallel do
  call omp_destroy_lock(lock)
  want = 0
  do i = 0, 2999
    want = want + mod(i, 7)
  end do
  print '(a,a,i0)', trim(tag), ' lock total ', locked
  if (locked /= want) failures = failures + 1

  print '(a,a,i0)', trim(tag), ' failures ', failures
  if (failures /= 0) stop 1
end program omp_fortran
