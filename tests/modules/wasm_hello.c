/* WASI conformance: arguments, environment, stdout and stderr, stdin,
 * clocks, random bytes, sleeping, and the exit status. Built natively and
 * to wasm32-wasi; both must print the same and exit the same.
 *
 *   wasm_hello [STATUS [stdin]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>

int main(int argc, char **argv)
{
    printf("argc %d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] %s\n", i, argv[i]);
    const char *v = getenv("WV_TEST");
    printf("WV_TEST %s\n", v ? v : "(unset)");
    fprintf(stderr, "a line on stderr\n");

    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    usleep(2000);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ns = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    printf("slept at least 2 ms: %s\n", ns >= 2000000 ? "yes" : "no");
    sched_yield();
    time_t now = time(NULL);
    printf("realtime after 2020: %s\n", now > 1577836800 ? "yes" : "no");
    unsigned char r[16] = {0};
    arc4random_buf(r, sizeof r);
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= r[i];
    printf("random bytes: %s\n", nonzero ? "yes" : "no");

    if (argc > 2 && strcmp(argv[2], "stdin") == 0) {
        char line[256];
        long lines = 0, bytes = 0;
        while (fgets(line, sizeof line, stdin)) {
            lines++;
            bytes += (long)strlen(line);
        }
        printf("stdin: %ld lines, %ld bytes\n", lines, bytes);
    }
    fflush(stdout);
    return argc > 1 ? atoi(argv[1]) : 0;
}
