/* Traps in Wasm code: `wasm_trap div` divides by zero in divide_by(),
 * `wasm_trap oob` stores far outside linear memory in poke(). Either ends
 * only its own string. */
#include <stdio.h>
#include <string.h>

__attribute__((noinline)) int divide_by(volatile int d) { return 1000 / d; }
__attribute__((noinline)) void poke(volatile unsigned long at) { *(volatile int *)at = 1; }

int main(int argc, char **argv)
{
    printf("before the trap\n");
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "oob") == 0)
        poke(0xfffffff0UL);
    else
        printf("%d\n", divide_by(0));
    printf("after the trap\n");
    return 0;
}
