/* prog.c: an ordinary program (a PIE, gcc's default), with a global. */
#include <stdio.h>

int visits;

int main(int argc, char **argv) {
    for (int i = 0; i < 3; i++)
        visits++;
    printf("prog %s: %d visits of my own\n", argc > 1 ? argv[1] : "?", visits);
    return 0;
}
