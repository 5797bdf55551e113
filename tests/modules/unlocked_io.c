/* A single-threaded program that writes its standard output with the
 * unlocked stdio calls (as coreutils and other gnulib programs do), a few
 * thousand lines of each kind, then checks it can close stdout. Several
 * copies as beads on several workers must print every line exactly once.
 * Built with -O0 so that the calls stay calls: at -O2 glibc's
 * header expands fputc_unlocked inline, touching the buffer directly. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    char line[64];
    for (int i = 0; i < 3000; i++) {
        /* One call per line: lines made of several calls interleave with
         * other beads' lines, as a process's threads' lines do. */
        int n = snprintf(line, sizeof line, "%s fwrite %d\n", tag, i);
        fwrite_unlocked(line, 1, (size_t)n, stdout);
        snprintf(line, sizeof line, "%s fputs %d\n", tag, i);
        fputs_unlocked(line, stdout);
    }
    fputc_unlocked('\n', stdout);
    if (fclose(stdout) != 0) {
        perror("fclose");
        return 1;
    }
    return 0;
}
