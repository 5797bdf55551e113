/* getopts: parses its options the way benchmark suites do, yielding
 * between getopt calls so that several beads parsing at once interleave
 * inside clustered options (-abc).
 *
 * Built as a PIE with -D_POSIX_C_SOURCE (glibc then calls __posix_getopt)
 * and as a shared object with getopt_long (entry getopts_main).
 * Prints: "<argv0>: -<opt>[=<optarg>]" per option, "<argv0>: rest <arg>"
 * per remaining argument, "<argv0>: optind <n>"; returns the number of
 * option errors. */
#ifdef WITH_LONG
#define _GNU_SOURCE
#include <getopt.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int parse(int argc, char **argv)
{
    int c, errors = 0;
#ifdef WITH_LONG
    static struct option longs[] = {
        {"verbose", no_argument, 0, 'v'},
        {"count", required_argument, 0, 'n'},
        {"colour", optional_argument, 0, 'C'},
        {0, 0, 0, 0},
    };
    while ((c = getopt_long(argc, argv, "abcn:v", longs, NULL)) != -1) {
#else
    while ((c = getopt(argc, argv, "abcn:")) != -1) {
#endif
        usleep(500);
        if (c == '?') {
            errors++;
            printf("%s: error on -%c\n", argv[0], optopt);
        } else if (optarg)
            printf("%s: -%c=%s\n", argv[0], c, optarg);
        else
            printf("%s: -%c\n", argv[0], c);
    }
    for (int i = optind; i < argc; i++)
        printf("%s: rest %s\n", argv[0], argv[i]);
    printf("%s: optind %d\n", argv[0], optind);
    return errors;
}

int getopts_main(int argc, char **argv) { return parse(argc, argv); }

int main(int argc, char **argv) { return parse(argc, argv); }
