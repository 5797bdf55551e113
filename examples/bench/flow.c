/* weaves bench flows: a calibrated unit of work, run as one flow or split
 * over n flows. */
#include <stdlib.h>

volatile unsigned long sink;

void flow_work(unsigned long iterations)
{
    unsigned long x = 0;
    for (unsigned long i = 0; i < iterations; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink = x;
}

int flow_main(int argc, char **argv)
{
    flow_work(argc > 1 ? strtoul(argv[1], 0, 10) : 1000000);
    return 0;
}
