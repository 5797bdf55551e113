/* ckpt_team.so: three kinds of string around a shared ledger bead and a
 * message queue, for checkpoint tests of multi-string tapestries.
 *
 *   team_producer N US       sends 0..N-1 on "out" (then -1), adding every
 *                            tenth to the ledger first, sleeping US between
 *   team_consumer OUT US     receives on "in" until -1, sleeping US after
 *                            each (so messages queue up), writes each to
 *                            OUT, and prints a checksum of what it got
 *   team_holder K US         K times: holds the ledger's lock for US
 *
 * Each prints one line at its end; the lines depend only on what was
 * sent and received, not on how the strings interleaved. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "weaves.h"

void ledger_add(long v);
void ledger_hold(long us, long v);
long ledger_count(void);

static long produced; /* private to each bead */

int team_producer(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    int pause = argc > 2 ? atoi(argv[2]) : 500;
    for (long i = 0; i < n; i++) {
        if (i % 10 == 0)
            ledger_add(i);
        if (wv_send("out", &i, sizeof i) != (long)sizeof i) {
            perror("team_producer: wv_send");
            return 1;
        }
        produced++;
        usleep((useconds_t)pause);
    }
    long end = -1;
    wv_send("out", &end, sizeof end);
    printf("producer: sent %ld\n", produced);
    return 0;
}

int team_consumer(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "team.out";
    int pause = argc > 2 ? atoi(argv[2]) : 1500;
    FILE *f = fopen(out, "w");
    if (!f) {
        perror("team_consumer");
        return 1;
    }
    unsigned long long check = 7;
    long got = 0, next = 0, bad = 0;
    for (;;) {
        long v;
        if (wv_recv("in", &v, sizeof v) != (long)sizeof v) {
            perror("team_consumer: wv_recv");
            return 1;
        }
        if (v < 0)
            break;
        if (v != next++)
            bad++;
        got++;
        check = check * 1000003ULL + (unsigned long long)v;
        fprintf(f, "got %ld\n", v);
        usleep((useconds_t)pause);
    }
    fprintf(f, "end %ld\n", got);
    fclose(f);
    printf("consumer: got %ld in order (%ld out of order), check %llu\n", got, bad, check);
    return bad == 0 ? 0 : 1;
}

int team_holder(int argc, char **argv)
{
    int k = argc > 1 ? atoi(argv[1]) : 20;
    int us = argc > 2 ? atoi(argv[2]) : 3000;
    for (int i = 0; i < k; i++) {
        ledger_hold(us, i);
        usleep(700);
    }
    printf("holder: held %d times\n", k);
    return 0;
}

/* Waits for everybody, then reports the ledger. */
int team_auditor(int argc, char **argv)
{
    long want = argc > 1 ? atol(argv[1]) : 0;
    while (ledger_count() < want)
        usleep(2000);
    printf("auditor: ledger has %ld entries\n", ledger_count());
    return 0;
}
