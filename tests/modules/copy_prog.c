/* A default PIE using a library's variables (COPY relocations) and getopt
 * (COPY relocations of libc's optind/optarg). */
#include <stdio.h>
#include <unistd.h>

extern int counter;
extern const char *msg;
void bump(void);

int main(int argc, char **argv)
{
    int c, n = 0;
    const char *b = "-";
    while ((c = getopt(argc, argv, "ab:")) != -1) {
        if (c == 'b')
            b = optarg;
        n++;
    }
    bump();
    bump();
    printf("copy %s: opts=%d b=%s optind=%d counter=%d msg=%s\n", argv[0], n, b, optind, counter, msg);
    return 0;
}
