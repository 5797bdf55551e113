/*
 * The variables MPICH exports that programs use by value: MPI_UNWEIGHTED
 * and MPI_WEIGHTS_EMPTY. A PIE program takes them by COPY relocation, and
 * a bead may hand a variable to one executable only, so this module is a
 * bead of each rank's own (the shared MPI bead cannot be their home).
 * Their values are addresses no array can have (weaves_mpi.h), which the
 * MPI bead recognises whichever rank's copy a program passes.
 */
#include "weaves_mpi.h"

int *const MPI_UNWEIGHTED = WEAVES_UNWEIGHTED;
int *const MPI_WEIGHTS_EMPTY = WEAVES_WEIGHTS_EMPTY;
