! fortran_common: a Fortran program keeping its state in a COMMON block.
!
! Entry: main (built as a default PIE executable). argv[1] = tag.
! Each bead must have its own COMMON /state/, so every bead prints exactly what
! a plain native run prints (with its tag instead of the native one):
!   <tag>: n=5 total=55
!   <tag>: mean=11.0000 root=7.4162
!    <tag>           5          55        (list-directed PRINT *)
program fortran_common
  implicit none
  integer :: n, total, k
  common /state/ n, total
  character(len=32) :: tag
  real(8) :: mean

  if (command_argument_count() >= 1) then
    call get_command_argument(1, tag)
  else
    tag = 'native'
  end if

  do k = 1, 5
    call bump(k)
  end do
  mean = dble(total) / dble(n)

  write (*, '(a,a,i0,a,i0)') trim(tag), ': n=', n, ' total=', total
  write (*, '(a,a,f0.4,a,f0.4)') trim(tag), ': mean=', mean, ' root=', sqrt(dble(total))
  print *, trim(tag), n, total
end program fortran_common

subroutine bump(k)
  implicit none
  integer, intent(in) :: k
  integer :: n, total
  common /state/ n, total
  n = n + 1
  total = total + k * k
end subroutine bump
