/* rollback_try.so: "try, then roll back" with wv_checkpoint/wv_rollback.
 *
 *   try_main OUT     takes a checkpoint, tries path A (spends from a
 *                    global balance, notes it in a heap buffer and the
 *                    output file); finding the balance overdrawn, rolls
 *                    back and takes path B. What it prints after the
 *                    rollback shows the global, the heap and the file as
 *                    they were at the checkpoint.
 *   ticker_main OUT N  writes "tick I" lines to OUT every 20 ms, asking
 *                    for a checkpoint at tick 5 (to roll back to from the
 *                    command line); says when it resumed from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weaves.h"

static long balance = 100;
static int attempts;

int try_main(int argc, char **argv)
{
    FILE *f = fopen(argc > 1 ? argv[1] : "try.out", "w");
    char *note = malloc(32);
    if (!f || !note)
        return 1;
    strcpy(note, "untouched");
    fprintf(f, "before\n");
    fflush(f);
    int resumed = wv_checkpoint();
    if (resumed < 0)
        return 1;
    if (resumed == 0) {
        attempts++;
        balance -= 250;
        strcpy(note, "spent 250");
        fprintf(f, "path A\n");
        fflush(f);
        printf("try: path A: balance %ld, attempts %d, note '%s'\n", balance, attempts, note);
        if (balance < 0) {
            printf("try: overdrawn; rolling back\n");
            wv_rollback();
            printf("try: rollback refused\n");
            return 1;
        }
    } else {
        printf("try: rolled back: balance %ld, attempts %d, note '%s'\n", balance, attempts, note);
        balance -= 50;
        fprintf(f, "path B\n");
        printf("try: path B: balance %ld\n", balance);
    }
    fclose(f);
    return 0;
}

static int ticks;

int ticker_main(int argc, char **argv)
{
    FILE *f = fopen(argc > 1 ? argv[1] : "ticks.out", "w");
    int n = argc > 2 ? atoi(argv[2]) : 50;
    if (!f)
        return 1;
    for (; ticks < n; ticks++) {
        fprintf(f, "tick %d\n", ticks);
        fflush(f);
        if (ticks == 5) {
            int resumed = wv_checkpoint();
            if (resumed < 0)
                return 1;
            if (resumed == 1)
                printf("ticker: resumed at tick %d\n", ticks);
        }
        usleep(20000);
    }
    fclose(f);
    printf("ticker: %d ticks\n", ticks);
    return 0;
}
