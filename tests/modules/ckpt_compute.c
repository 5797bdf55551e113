/* A computation over globals, the heap and deep recursion, for checkpoint
 * tests: every step recurses DEPTH frames and sleeps at the bottom (a call
 * where a checkpoint can catch it, with the whole recursion on the stack),
 * then writes a line to its output file. Its final state is checked at the
 * end, so a run restored from any checkpoint must print what an
 * uninterrupted run prints.
 *
 *   ckpt_compute OUT STEPS [DEPTH] */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long long acc = 1;     /* a global */
static long *table;                    /* heap */
static int table_len = 1 << 15;
static int steps_done;

static unsigned long long descend(int depth, unsigned long long x)
{
    volatile unsigned char frame[48];  /* each frame holds its own state */
    frame[depth % 48] = (unsigned char)x;
    if (depth == 0) {
        usleep(1000);
        table[x % table_len] += (long)(x >> 7);
        return x ^ frame[0];
    }
    unsigned long long below = descend(depth - 1, x * 6364136223846793005ULL + 1442695040888963407ULL);
    return below + frame[depth % 48] + (unsigned long long)depth;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ckpt_compute OUT STEPS [DEPTH]\n");
        return 2;
    }
    const char *out = argv[1];
    int steps = atoi(argv[2]);
    int depth = argc > 3 ? atoi(argv[3]) : 500;
    table = calloc(table_len, sizeof *table);
    FILE *f = fopen(out, "w");
    if (!table || !f) {
        perror("ckpt_compute");
        return 1;
    }
    for (int i = 0; i < steps; i++) {
        acc = acc * 31 + descend(depth, acc + (unsigned long long)i);
        steps_done++;
        fprintf(f, "step %d acc %llu\n", i, acc);
    }
    unsigned long long sum = 0;
    for (int k = 0; k < table_len; k++)
        sum += (unsigned long long)table[k] * (unsigned long long)(k + 1);
    fprintf(f, "table %llu\n", sum);
    fclose(f);
    printf("ckpt_compute: %d steps, acc %llu, table %llu\n", steps_done, acc, sum);
    return 0;
}
