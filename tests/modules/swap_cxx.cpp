// A C++ bead in two versions (VERSION 1, 2), for hot-swap tests: its state
// is a std::map (whose heap nodes point back at the map's header, inside
// the bead's data) and a polymorphic object on the heap (whose vtable
// pointer points into the bead). Moved by symbol, both must keep working,
// and the object must answer with the new version's code.
#include <cstdio>
#include <map>
#include <string>

#ifndef VERSION
#define VERSION 1
#endif

struct Greeter {
    virtual ~Greeter() {}
    virtual const char *hello() const = 0;
};

struct Plain : Greeter {
    const char *hello() const override { return VERSION == 1 ? "hello from v1" : "hello from v2"; }
};

static std::map<std::string, long> table;
Greeter *greeter = nullptr;

extern "C" long cxx_add(const char *key)
{
    if (!greeter)
        greeter = new Plain;
    return ++table[key];
}

extern "C" void cxx_show(const char *who)
{
    long total = 0;
    std::printf("%s:", who);
    for (auto &kv : table) {
        std::printf(" %s=%ld", kv.first.c_str(), kv.second);
        total += kv.second;
    }
    std::printf(" (total %ld) | %s\n", total, greeter ? greeter->hello() : "-");
    std::fflush(stdout);
}
