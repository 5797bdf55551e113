// cxx_module.so: C++ features a bead must support.
//
// Entry: extern "C" int cxx_main(int argc, char **argv)   argv[1] = tag.
// Prints one line
//   cxx <tag>: ctor=1 sum=15 caught=bad input in <tag> base=bad input in <tag> vec=1,2,3,4,5 text=hello <tag>
// and returns 0 only if every check held. At bead teardown a global's
// destructor prints "cxx dtor <tag>".
//
// Covers: a static constructor (runs at bead init), std::string/std::vector
// (operator new -> malloc inside libstdc++), an exception of a custom type
// thrown in one function and caught in another, by its own type and by base.
#include <cstdio>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

int ctor_ran = 0;
std::string g_tag = "unset";  // constructed before g_tracer, destroyed after it

namespace {

struct Init {
    Init() { ctor_ran++; }
};
Init g_init;

struct Tracer {
    ~Tracer() { std::printf("cxx dtor %s\n", g_tag.c_str()); }
};
Tracer g_tracer;

struct ModuleError : std::runtime_error {
    explicit ModuleError(const std::string &what, int code)
        : std::runtime_error(what), code(code) {}
    int code;
};

__attribute__((noinline)) int parse(const std::string &tag, int fail) {
    if (fail)
        throw ModuleError("bad input in " + tag, 42);
    return static_cast<int>(tag.size());
}

__attribute__((noinline)) std::string catch_own_type(const std::string &tag) {
    try {
        parse(tag, 1);
    } catch (const ModuleError &e) {
        if (e.code != 42)
            return "wrong-code";
        return e.what();
    }
    return "not-thrown";
}

__attribute__((noinline)) std::string catch_by_base(const std::string &tag) {
    try {
        parse(tag, 1);
    } catch (const std::runtime_error &e) {
        return e.what();
    } catch (...) {
        return "caught-by-ellipsis";
    }
    return "not-thrown";
}

}  // namespace

extern "C" int cxx_main(int argc, char **argv) {
    std::string tag = argc > 1 ? argv[1] : "?";
    g_tag = tag;

    std::vector<int> v;
    for (int i = 1; i <= 5; i++)
        v.push_back(i);
    int sum = std::accumulate(v.begin(), v.end(), 0);

    std::ostringstream joined;
    for (size_t i = 0; i < v.size(); i++)
        joined << (i ? "," : "") << v[i];

    std::string caught = catch_own_type(tag);
    std::string base = catch_by_base(tag);
    std::string text = "hello " + tag;

    std::printf("cxx %s: ctor=%d sum=%d caught=%s base=%s vec=%s text=%s\n", tag.c_str(), ctor_ran,
                sum, caught.c_str(), base.c_str(), joined.str().c_str(), text.c_str());

    const std::string expected = "bad input in " + tag;
    bool ok = ctor_ran == 1 && sum == 15 && caught == expected && base == expected &&
              joined.str() == "1,2,3,4,5" && parse(tag, 0) == static_cast<int>(tag.size());
    return ok ? 0 : 1;
}
