/* randoms: draws from every libc generator, yielding between draws so that
 * beads drawing at once interleave. argv[1] is a tag, argv[2] the seed.
 * Natively each process has its own generators; so must each bead. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int draw(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
    printf("%s unseeded rand %d\n", tag, rand());
    srand(seed);
    for (int i = 0; i < 4; i++) {
        usleep(300);
        printf("%s rand %d\n", tag, rand());
    }
    srandom(seed + 1);
    for (int i = 0; i < 3; i++) {
        usleep(300);
        printf("%s random %ld\n", tag, random());
    }
    srand48(seed);
    for (int i = 0; i < 3; i++) {
        usleep(300);
        printf("%s drand48 %.12f lrand48 %ld mrand48 %ld\n", tag, drand48(), lrand48(), mrand48());
    }
    unsigned short s16[3] = {1, 2, (unsigned short)seed};
    unsigned short *old = seed48(s16);
    printf("%s seed48 old %u %u %u lrand48 %ld\n", tag, old[0], old[1], old[2], lrand48());
    unsigned short x[3] = {7, 8, 9};
    printf("%s erand48 %.12f nrand48 %ld jrand48 %ld\n", tag, erand48(x), nrand48(x), jrand48(x));
    static char state[64];
    char *prev = initstate(seed, state, sizeof state);
    usleep(300);
    printf("%s initstate random %ld %ld\n", tag, random(), random());
    setstate(prev);
    printf("%s setstate back random %ld\n", tag, random());
    return 0;
}

int randoms_main(int argc, char **argv) { return draw(argc, argv); }

int main(int argc, char **argv) { return draw(argc, argv); }
