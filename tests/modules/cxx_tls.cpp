// C++ thread-local machinery inside beads: std::call_once (libstdc++'s own
// thread-locals, reached through the TLS of a system library), a
// thread_local object with a destructor (__cxa_thread_atexit_impl, run when
// the string ends), and std::mutex.
#include <cstdio>
#include <mutex>
#include <string>

static std::once_flag once;
static int once_runs = 0;
static std::mutex lock;

struct Tracer {
    std::string tag;
    ~Tracer() { std::printf("cxx_tls %s: thread_local destroyed\n", tag.c_str()); }
};
thread_local Tracer tracer;

extern "C" int cxx_tls_main(int argc, char **argv)
{
    const char *tag = argc > 1 ? argv[1] : "?";
    for (int i = 0; i < 3; i++)
        std::call_once(once, [] { once_runs++; });
    {
        std::lock_guard<std::mutex> g(lock);
        tracer.tag = tag;
    }
    std::printf("cxx_tls %s: once_runs=%d tracer=%s\n", tag, once_runs, tracer.tag.c_str());
    return once_runs == 1 ? 0 : 1;
}
