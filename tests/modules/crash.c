/* Faults in bead code: a write through a null pointer, and a stack
 * overflow, each in a function the runtime's diagnostic must name. */
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) void poke(volatile int *where)
{
    *where = 42;
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) int recurse(int depth)
{
    volatile char frame[4096];
    memset((char *)frame, depth, sizeof frame);
    return recurse(depth + 1) + frame[depth % 4096]; /* deliberately unbounded */
}

int crash_main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "none";
    printf("crash %s: before\n", how);
    fflush(stdout);
    if (strcmp(how, "null") == 0)
        poke((volatile int *)0);
    else if (strcmp(how, "overflow") == 0)
        return recurse(0);
    printf("crash %s: survived\n", how);
    return 0;
}
