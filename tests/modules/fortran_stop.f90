! fortran_stop: prints one line and ends with STOP 3.
!
! Entry: main (default PIE executable). argv[1] = tag. Inside weaves the STOP
! must end only this string, with status 3; the second line never prints.
program fortran_stop
  implicit none
  character(len=32) :: tag
  integer :: hits
  common /stopstate/ hits

  if (command_argument_count() >= 1) then
    call get_command_argument(1, tag)
  else
    tag = 'native'
  end if
  hits = hits + 1
  write (*, '(a,a,i0)') trim(tag), ': before stop hits=', hits
  stop 3
  write (*, '(a,a)') trim(tag), ': AFTER STOP'
end program fortran_stop
