! sim.f90: a Fortran program with a COMMON block and its arguments.
program sim
  implicit none
  integer :: steps
  real :: t
  common /state/ steps, t
  character(len=16) :: name
  call get_command_argument(1, name)
  steps = 0
  t = 0.0
  do while (steps < 4)
     steps = steps + 1
     t = t + 0.25
  end do
  print '(a, a, i0, a, f4.2)', trim(name), ': steps=', steps, ' t=', t
end program sim
