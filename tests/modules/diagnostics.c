/* The C library's error() and err() families: argv[2] picks which one.
 * Prints the same lines and ends with the same status natively and as a
 * bead (where only the calling string ends). */
#include <error.h>
#include <err.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
int main(int argc, char **argv) {
    const char *how = argc > 2 ? argv[2] : "ok";
    printf("%s start\n", argv[1]); fflush(stdout);
    if (!strcmp(how, "error")) error(3, ENOENT, "cannot open %s", "x.txt");
    if (!strcmp(how, "errx")) errx(4, "bad %d", 7);
    if (!strcmp(how, "err")) { errno = EACCES; err(5, "denied %s", "y"); }
    if (!strcmp(how, "warn")) { errno = EPERM; warn("careful %d", 1); warnx("plain %s", "z"); error(0, 0, "soft %d", 2); }
    usleep(200000);
    printf("%s end\n", argv[1]);
    return 0;
}
