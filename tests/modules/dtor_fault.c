/* A bead whose finaliser writes through a null pointer after its string
 * finished well. */
#include <stdint.h>
#include <stdio.h>

static volatile int zero = 0;

__attribute__((destructor)) static void tear_down(void)
{
    *(volatile int *)(uintptr_t)zero = 1;
}

int dtor_fault_main(void)
{
    puts("dtor_fault: main ran");
    return 0;
}
