/* compute.so: receives readings on "in", doubles their value, stamps its
 * version (COMPUTE_VERSION, set when compiling), and sends them on "out".
 * The end marker is passed on and ends the string.
 *
 * Entry: int compute_main(int argc, char **argv) */
#include <stdio.h>

#include "reading.h"
#include "weaves.h"

#ifndef COMPUTE_VERSION
#define COMPUTE_VERSION 1
#endif

int handled; /* private to each compute bead */

int compute_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (;;) {
        struct reading r;
        long n = wv_recv("in", &r, sizeof r);
        if (n != (long)sizeof r) {
            perror("compute: wv_recv");
            return 1;
        }
        if (r.seq >= 0) {
            r.value *= 2;
            r.version = COMPUTE_VERSION;
            handled++;
        }
        if (wv_send("out", &r, sizeof r) != (long)sizeof r) {
            perror("compute: wv_send");
            return 1;
        }
        if (r.seq < 0)
            break;
    }
    printf("compute %s v%d: handled %d\n", wv_bead_name(), COMPUTE_VERSION, handled);
    return 0;
}
