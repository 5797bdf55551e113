/* Clients of swap_counter.c's bead, for hot-swap tests.
 *
 *   swap_driver_main ID N [STOP_FILE]  calls sc_call(ID, 1..) N times (or
 *       until STOP_FILE exists, N = 0), printing each change of version
 *   swap_nap_main MS                   one call that sleeps MS inside
 *   swap_report_main                   the bead's counts
 *   swap_keep_main FILE                waits until FILE exists (keeps a
 *                                      tapestry running meanwhile)
 */
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

extern long sc_call(int driver, long seq);
extern int sc_version(void);
extern int sc_nap(int ms);
extern long sc_calls(void);
extern long sc_misordered(void);

#ifndef NO_ECHO
/* Called back from inside the bead: calls into it again. */
long driver_echo(long seq) {
    (void)seq;
    return sc_version();
}
#endif

int swap_driver_main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int id = atoi(argv[1]);
    long n = atol(argv[2]);
    const char *stop = argc > 3 ? argv[3] : NULL;
    long last = 0, seq = 0, bad = 0;
    for (;;) {
        seq++;
        long v = sc_call(id, seq);
        if (v <= 0 && bad++ < 3) {
            printf("driver %d: call %ld got the bad answer %ld\n", id, seq, v);
            fflush(stdout);
        }
        if (v != last) {
            printf("driver %d: call %ld answered by version %ld\n", id, seq, v);
            fflush(stdout);
            last = v;
        }
        if (n > 0 && seq >= n)
            break;
        if (stop && seq % 4096 == 0) {
            if (access(stop, F_OK) == 0)
                break;
            sched_yield(); /* let the other drivers of a shared bead run */
        }
    }
    printf("driver %d: %ld calls, %ld bad answers\n", id, seq, bad);
    return bad != 0;
}

int swap_nap_main(int argc, char **argv) {
    int ms = argc > 1 ? atoi(argv[1]) : 1000;
    printf("nap: answered by version %d\n", sc_nap(ms));
    return 0;
}

int swap_report_main(void) {
    printf("report: version %d, %ld calls, %ld misordered\n", sc_version(), sc_calls(),
           sc_misordered());
    return 0;
}

int swap_keep_main(int argc, char **argv) {
    while (argc > 1 && access(argv[1], F_OK) != 0)
        usleep(2000);
    return 0;
}
