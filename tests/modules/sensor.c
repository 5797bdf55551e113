/* sensor.so: sends readings 0..N-1 on its out-interface, then an end marker.
 *
 * Entry: int sensor_main(int argc, char **argv)
 *   argv[1] = N (default 10), argv[2] = microseconds between readings (0). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "reading.h"
#include "weaves.h"

int sent; /* private to each sensor bead */

int sensor_main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    int pause = argc > 2 ? atoi(argv[2]) : 0;
    for (int i = 0; i < n; i++) {
        struct reading r = {i, 0, i * 1.5};
        if (wv_send("out", &r, sizeof r) != (long)sizeof r) {
            perror("sensor: wv_send");
            return 1;
        }
        sent++;
        if (pause)
            usleep(pause);
    }
    struct reading end = {-1, 0, 0};
    if (wv_send("out", &end, sizeof end) != (long)sizeof end)
        return 1;
    printf("sensor %s: sent %d\n", wv_bead_name(), sent);
    return 0;
}
