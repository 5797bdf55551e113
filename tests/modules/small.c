/* small.so: a tiny module for scale tests (thousands of beads).
 *
 * Entry: int small_main(int argc, char **argv)
 *   argv[1] = tag. Checks that its globals are fresh (private to this bead),
 *   touches them, prints "small <tag> ok" and returns 0; returns 1..3 and
 *   prints what it saw if the globals were not fresh. */
#include <stdio.h>

int seed = 1;
int table[16];
static int runs;

int small_main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    if (runs++ != 0) {
        printf("small %s: runs=%d (bead ran twice or is shared)\n", tag, runs);
        return 1;
    }
    if (seed != 1 || table[15] != 0) {
        printf("small %s: seed=%d table[15]=%d (globals not fresh)\n", tag, seed, table[15]);
        return 2;
    }
    for (int i = 0; i < 16; i++)
        table[i] = seed + i;
    seed = table[15];
    if (seed != 16)
        return 3;
    printf("small %s ok\n", tag);
    return 0;
}
