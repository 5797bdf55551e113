/* A tight loop with no calls in it: built to Wasm, only the runtime's
 * preemption checks at its back-edge let other strings of its worker run,
 * and let it be moved to another engine or checkpointed in the middle.
 * Its result must be the native build's, however often that happened.
 *
 *   wasm_spin [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include "weaves_wasm.h"

int main(int argc, char **argv)
{
    unsigned long long rounds = argc > 1 ? strtoull(argv[1], 0, 10) : 1000000;
    /* Importing a reconfiguration point makes the module capturable. */
    wv_reconfig_point("start");
    unsigned long long x = 1;
    for (unsigned long long i = 0; i < rounds; i++)
        x = x * 6364136223846793005ULL + (i ^ (x >> 29));
    printf("spin %llu: %llu\n", rounds, x);
    return (int)(x % 5);
}
