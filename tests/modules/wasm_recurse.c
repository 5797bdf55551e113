/* A computation over globals, the heap and deep recursion that passes a
 * reconfiguration point at the bottom of every recursion: a string can be
 * captured there with the whole recursion on its stack and resumed under
 * another engine. Its output must be the same however often it moved.
 *
 *   wasm_recurse [STEPS [DEPTH [wait]]]
 *
 * With `wait`, the first step waits at its bottom (yielding) until the
 * string runs under wasmi, and the next step until it runs under wasmtime
 * again: a test can move it from outside while the recursion is live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weaves_wasm.h"

static unsigned long long acc = 1;     /* a global */
static long long *table;                   /* heap */
static const int table_len = 1 << 12;
static int wait_for = -2;              /* engine the current step waits for */

static unsigned long long descend(int depth, unsigned long long x)
{
    volatile unsigned char frame[48];  /* each frame holds its own state */
    frame[depth % 48] = (unsigned char)x;
    if (depth == 0) {
        wv_reconfig_point("bottom");
        while (wait_for >= 0 && wv_engine() != wait_for) {
            wv_yield();
            wv_reconfig_point("waiting");
        }
        table[x % table_len] += (long long)(x >> 7);
        return x ^ frame[0];
    }
    unsigned long long below = descend(depth - 1, x * 6364136223846793005ULL + 1442695040888963407ULL);
    return below + frame[depth % 48] + (unsigned long long)depth;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 20;
    int depth = argc > 2 ? atoi(argv[2]) : 300;
    int wait = argc > 3 && strcmp(argv[3], "wait") == 0 && wv_engine() >= 0;
    table = calloc(table_len, sizeof *table);
    if (!table)
        return 1;
    for (int i = 0; i < steps; i++) {
        wait_for = !wait ? -1 : i == 0 ? 1 : i == 1 ? 0 : -1;
        acc = acc * 31 + descend(depth, acc + (unsigned long long)i);
        printf("step %d acc %llu\n", i, acc);
    }
    long long sum = 0;
    for (int i = 0; i < table_len; i++)
        sum += table[i];
    printf("table sum %lld\n", sum);
    return (int)(acc % 7);
}
