/* churn.so: a long-running client of a shared counter bead, for live-change
 * stress tests. Calls counter_next() (imported from another bead of its
 * weave) and sleeps, N times; allocates and frees a little on its own heap
 * each round, so the runtime's bookkeeping for sleeps and allocations runs
 * while beads come and go around it.
 *
 * Entry: int churn_main(int argc, char **argv)
 *   argv[1] = rounds (default 100), argv[2] = microseconds per sleep (1000).
 * Returns 0 when the counter only ever went forwards. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int counter_next(void);

int churn_main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 100;
    int us = argc > 2 ? atoi(argv[2]) : 1000;
    int last = 0;
    for (int i = 0; i < rounds; i++) {
        int next = counter_next();
        if (next <= last)
            return 1;
        last = next;
        char *scratch = malloc(64 + (size_t)(i % 7) * 32);
        if (scratch == NULL)
            return 2;
        memset(scratch, i, 64);
        usleep(us);
        free(scratch);
    }
    return 0;
}
