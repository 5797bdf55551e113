/* globals.so: private initialised data, a function-static and TLS, per bead.
 *
 * Entry: int globals_main(int argc, char **argv)
 *   argv[1] = tag, argv[2] = amount added to `value` (default 0),
 *   argv[3] = how many times to bump the static and TLS counters (default 1).
 * Prints:   <tag> value=<7+amount> static_calls=<reps> tls_hits=<reps>
 * Returns 0 iff what it saw is what a fresh private instance must see. */
#include <stdio.h>
#include <stdlib.h>

int value = 7;
__thread int tls_hits;

static int bump(void) {
    static int static_calls; /* function-local static: lives in this bead's .bss */
    tls_hits++;
    return ++static_calls;
}

int globals_main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    int amount = argc > 2 ? atoi(argv[2]) : 0;
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    int static_calls = 0;

    value += amount;
    for (int i = 0; i < reps; i++)
        static_calls = bump();
    printf("%s value=%d static_calls=%d tls_hits=%d\n", tag, value, static_calls, tls_hits);
    return (value == 7 + amount && static_calls == reps && tls_hits == reps) ? 0 : 1;
}
