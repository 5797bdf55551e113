// Where a bead's memory comes from: its own malloc calls (bound directly
// to the runtime) and allocations system libraries make for it (glibc's
// strdup and fopen, libstdc++'s operator new) must all land in the
// runtime's arena, which starts at 0x2000_0000_0000.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static const char *where(const void *p)
{
    auto a = reinterpret_cast<std::uintptr_t>(p);
    return (a >= 0x200000000000ULL && a < 0x210000000000ULL) ? "arena" : "elsewhere";
}

extern "C" int heap_paths_main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    void *m = std::malloc(100);
    char *d = strdup("copied by glibc");
    FILE *f = std::fopen("/proc/self/stat", "r");
    int *n = new int[1000];
    std::string s(5000, 'x');
    std::vector<long> v(1000, 7);
    std::printf("heap %s: malloc=%s strdup=%s fopen=%s new=%s string=%s vector=%s\n", tag, where(m), where(d),
                where(f), where(n), where(s.data()), where(v.data()));
    std::free(m);
    std::free(d);
    if (f)
        std::fclose(f);
    delete[] n;
    return 0;
}
