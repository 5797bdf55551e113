/* Regression: a TLS descriptor call must preserve every register but %rax,
 * vector registers included (the runtime's slow path runs memcpy, which may
 * use AVX-512 registers or vzeroupper). Built with -mtls-dialect=gnu2. */
#include <stdio.h>

__thread long tv = 7;
__thread char big[256] = {1};

static long call_descriptor_ymm1(double out[4])
{
    static const double vals[4] = {1, 2, 3, 4};
    long off;
    __asm__ volatile("vmovupd (%[in]), %%ymm1\n\t"
                     "lea tv@TLSDESC(%%rip), %%rax\n\t"
                     "call *tv@TLSCALL(%%rax)\n\t"
                     "vmovupd %%ymm1, (%[out])\n\t"
                     : "=a"(off)
                     : [in] "r"(vals), [out] "r"(out)
                     : "memory", "xmm1", "cc");
    return off;
}

__attribute__((target("avx512f"))) static long call_descriptor_ymm16(double out[4])
{
    static const double vals[4] = {5, 6, 7, 8};
    long off;
    __asm__ volatile("vmovupd (%[in]), %%ymm16\n\t"
                     "lea big@TLSDESC(%%rip), %%rax\n\t"
                     "call *big@TLSCALL(%%rax)\n\t"
                     "vmovupd %%ymm16, (%[out])\n\t"
                     : "=a"(off)
                     : [in] "r"(vals), [out] "r"(out)
                     : "memory", "xmm16", "cc");
    return off;
}

static int same(const double *a, double first)
{
    return a[0] == first && a[1] == first + 1 && a[2] == first + 2 && a[3] == first + 3;
}

int tlsdesc_vec_main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    double out[4];
    long off = call_descriptor_ymm1(out);
    char *tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    int ok1 = same(out, 1) && *(long *)(tp + off) == 7;
    const char *r16 = "n/a";
    if (__builtin_cpu_supports("avx512f")) {
        long off16 = call_descriptor_ymm16(out);
        r16 = same(out, 5) && *(char *)(tp + off16) == 1 ? "ok" : "clobbered";
    }
    printf("tlsdesc %s: ymm1=%s ymm16=%s\n", tag, ok1 ? "ok" : "clobbered", r16);
    return ok1 ? 0 : 1;
}
