/* display.so: receives readings on "in" until the end marker and checks
 * that none was lost, duplicated or reordered (sequence numbers 0, 1, 2,
 * ... exactly) and that each was transformed.
 *
 * Entry: int display_main(int argc, char **argv)
 *   argv[1] = expected count. Prints one summary line; returns 0 iff all
 *   checks hold. */
#include <stdio.h>
#include <stdlib.h>

#include "reading.h"
#include "weaves.h"

int display_main(int argc, char **argv)
{
    int expected = argc > 1 ? atoi(argv[1]) : 10;
    int next = 0, bad = 0, versions[4] = {0};
    double sum = 0;
    for (;;) {
        struct reading r;
        if (wv_recv("in", &r, sizeof r) != (long)sizeof r) {
            perror("display: wv_recv");
            return 1;
        }
        if (r.seq < 0)
            break;
        if (r.seq != next) {
            printf("display: expected reading %d, got %d\n", next, r.seq);
            bad++;
        }
        next = r.seq + 1;
        if (r.value != r.seq * 3.0)
            bad++;
        if (r.version >= 1 && r.version <= 3)
            versions[r.version]++;
        else
            bad++;
        sum += r.value;
    }
    if (next != expected)
        bad++;
    printf("display: %d readings in order, %d bad, sum %.1f, v1 %d v2 %d, queued after end %ld\n",
           next, bad, sum, versions[1], versions[2], wv_poll("in"));
    return bad == 0 ? 0 : 1;
}
