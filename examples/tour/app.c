/* app.c: calls counter_next(), which it does not define. The tapestry
 * decides which counter bead each app bead binds it to.
 *
 * int app_main(int argc, char **argv)
 *   argv[1]: the name it prints; argv[2]: rounds (default 10; 0: until
 *   stopped). A round bumps the counter and sleeps 100 ms; every 10 rounds
 *   it prints where the counter is. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int counter_next(void);

int app_main(int argc, char **argv) {
    const char *me = argc > 1 ? argv[1] : "app";
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    int seen = 0;
    for (int round = 1; rounds == 0 || round <= rounds; round++) {
        seen = counter_next();
        usleep(100 * 1000);
        if (round % 10 == 0)
            printf("%s: round %d, counter at %d\n", me, round, seen);
    }
    printf("%s: done after %d rounds, counter at %d\n", me, rounds, seen);
    return 0;
}
