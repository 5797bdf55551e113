/* Preemption. `spin_wait` spins (no calls at all) until `go` is set;
 * `spin_set` sets it. `go` is shared through a tuple space. On one worker
 * without preemption, the spinner would never let the setter run. */
#include <stdio.h>

volatile int go = 0;

int spin_wait(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    unsigned long spins = 0;
    while (!go)
        spins++;
    printf("spin: released after spinning\n");
    return spins > 0 ? 0 : 1;
}

int spin_set(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    go = 1;
    printf("spin: set\n");
    return 0;
}
