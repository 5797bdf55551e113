/* hog.so: a string that hogs its worker, and strings that sleep beside it.
 *
 * `hog_spin` spins without calling anything until `finished` (shared with
 * the sleepers through a tuple space) reaches argv[1] (default 3);
 * `hog_spin_for` spins, reading only the vDSO clock, for argv[1] ms;
 * `hog_sleep` sleeps 10 x 1 ms, then counts itself in `finished`. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile int finished = 0;

int hog_spin(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 3;
    unsigned long spins = 0;
    while (__atomic_load_n(&finished, __ATOMIC_SEQ_CST) < want)
        spins++;
    printf("hog: released after %s\n", spins > 0 ? "spinning" : "nothing");
    return 0;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

int hog_spin_for(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 1000;
    long end = now_ms() + ms;
    while (now_ms() < end)
        ;
    printf("hog: spun %ld ms\n", ms);
    return 0;
}

int hog_sleep(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    for (int i = 0; i < 10; i++)
        usleep(1000);
    __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
    printf("sleeper %s: done\n", tag);
    return 0;
}
