/* Calls into libwvhelper.so, a DT_NEEDED dependency that is not a system
 * library. */
#include <stdio.h>
#include <stdlib.h>

int helper_bump(void);

int uses_main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    int n = argc > 2 ? atoi(argv[2]) : 3;
    int last = 0;
    for (int i = 0; i < n; i++)
        last = helper_bump();
    printf("uses %s: helper=%d\n", tag, last);
    return 0;
}
