/* The client side of `weaves bench swap`: timed rounds of calls into the
 * swap_counter bead (tests/modules/swap_counter.c).
 *
 *   swap_bench_rounds(n, rounds, out)      native: out[r] = ns per call
 *   swap_bench_main ID N ROUNDS OUT [READY GO [AFTER]]
 *       as a string: ROUNDS rounds written to OUT; then, given READY and
 *       GO, creates READY, waits until GO exists and writes ROUNDS more
 *       rounds to AFTER
 *   swap_load_main ID START STOP           once START exists, calls until
 *                                          STOP exists
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern long sc_call(int driver, long seq);

static long seq[64];

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static double round_of(int id, long n) {
    double t0 = now_ns();
    for (long k = 0; k < n; k++)
        sc_call(id, ++seq[id]);
    return (now_ns() - t0) / n;
}

void swap_bench_rounds(long n, int rounds, double *out) {
    for (int r = 0; r < rounds; r++)
        out[r] = round_of(0, n);
}

static int rounds_to(const char *path, int id, long n, int rounds) {
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    for (int r = 0; r < rounds; r++)
        fprintf(f, "%.4f\n", round_of(id, n));
    return fclose(f) != 0;
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

int swap_bench_main(int argc, char **argv) {
    if (argc < 5)
        return 2;
    int id = atoi(argv[1]);
    long n = atol(argv[2]);
    int rounds = atoi(argv[3]);
    if (rounds_to(argv[4], id, n, rounds))
        return 1;
    if (argc < 8)
        return 0;
    touch(argv[5]);
    while (access(argv[6], F_OK) != 0)
        usleep(1000);
    return rounds_to(argv[7], id, n, rounds);
}

int swap_load_main(int argc, char **argv) {
    if (argc < 4)
        return 2;
    int id = atoi(argv[1]);
    while (access(argv[2], F_OK) != 0)
        usleep(1000);
    for (long k = 1;; k++) {
        sc_call(id, ++seq[id]);
        if (k % 4096 == 0 && access(argv[3], F_OK) == 0)
            return 0;
    }
}
