/* Sleeps in small steps: with strings as fibers, sleeping parks the fiber
 * and its worker runs other strings, so thousands of sleepers finish in
 * about the time one of them sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int slept;

int sleeper_main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 10;
    int us = argc > 3 ? atoi(argv[3]) : 1000;
    for (int i = 0; i < n; i++) {
        usleep(us);
        slept++;
    }
    return slept == n ? 0 : 1;
}
