/* mpi_env: each rank prints the environment variables X and Y (mpirun -genv). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) { int r; MPI_Init(&argc,&argv); MPI_Comm_rank(MPI_COMM_WORLD,&r);
 printf("rank %d X=%s Y=%s\n", r, getenv("X")?getenv("X"):"-", getenv("Y")?getenv("Y"):"-"); MPI_Finalize(); return 0; }
