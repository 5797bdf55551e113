/* weaves bench switch: two strings on one worker yield to each other. */
#include <sched.h>
#include <stdlib.h>

int pingpong_main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++)
        sched_yield();
    return 0;
}
