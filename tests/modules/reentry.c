/* A non-reentrant bead: `critical` spins for a while with a flag raised and
 * counts any entry that finds the flag already raised. Strings sharing this
 * bead must never be switched while one of them is inside it. */
#include <stdio.h>
#include <stdlib.h>

static volatile int inside = 0;
int reentries = 0;
int completed = 0;
static int last = -1;

__attribute__((noinline)) void critical(long spins)
{
    if (inside)
        reentries++;
    inside = 1;
    for (volatile long i = 0; i < spins; i++) {
    }
    inside = 0;
    completed++;
}

int reentry_main(int argc, char **argv)
{
    int me = argc > 1 ? atoi(argv[1]) : 0;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    long spins = argc > 3 ? atol(argv[3]) : 2000000;
    /* How often this string resumed after the other one had run. */
    int handovers = 0;
    for (int r = 0; r < rounds; r++) {
        if (last != me && last != -1)
            handovers++;
        last = me;
        critical(spins);
        /* An interposed call: a safe point where a deferred tick may switch. */
        (void)getenv("WEAVES_REENTRY_PROBE");
    }
    printf("reentry %d: reentries=%d resumed_after_other=%s\n", me, reentries, handovers > 0 ? "yes" : "no");
    return reentries == 0 ? 0 : 1;
}
