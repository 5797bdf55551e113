/* mpi_globals: mutable global state in an MPI program. Every rank writes
 * its own values into globals, a static array and a heap object, yields
 * to the others many times (through MPI calls), and checks nothing else
 * changed them: with every rank a bead of its own, each has private
 * copies. Prints one summary line from rank 0. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int counter;
static double table[256];
static int *heap_data;
const char *who = "nobody";

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    heap_data = malloc(64 * sizeof(int));
    char name[32];
    snprintf(name, sizeof name, "rank-%d", rank);
    who = name;
    int bad = 0;
    for (int round = 0; round < 20; round++) {
        counter = rank * 1000 + round;
        for (int k = 0; k < 256; k++)
            table[k] = rank + k * 0.5 + round;
        for (int k = 0; k < 64; k++)
            heap_data[k] = rank * 64 + k + round;
        MPI_Barrier(MPI_COMM_WORLD); /* every other rank runs here */
        int token = rank;
        MPI_Allreduce(MPI_IN_PLACE, &token, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        bad += counter != rank * 1000 + round;
        for (int k = 0; k < 256; k++)
            bad += table[k] != rank + k * 0.5 + round;
        for (int k = 0; k < 64; k++)
            bad += heap_data[k] != rank * 64 + k + round;
        bad += who != name;
        bad += token != size * (size - 1) / 2;
    }
    int total;
    MPI_Reduce(&bad, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("globals: %d ranks, 20 rounds, %d corrupted values\n", size, total);
    MPI_Finalize();
    return total == 0 || rank != 0 ? 0 : 1;
}
