// A C++ PIE with its own thread_local objects (a std::string, a counter, an
// object with a destructor) and std::call_once, whose inline code reaches
// libstdc++'s own thread-locals through TPOFF64 slots. Prints the same
// lines natively and as beads.
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

thread_local std::string label = "none";
thread_local int hits = 0;
struct Noisy {
    int id = 0;
    ~Noisy() { std::printf("dtor %d\n", id); }
};
thread_local Noisy noisy;
std::once_flag once;

int main(int argc, char **argv) {
    const char *tag = argc > 1 ? argv[1] : "?";
    std::mutex m;
    std::vector<std::thread> threads;
    int total = 0;
    for (int i = 0; i < 4; i++)
        threads.emplace_back([&, i] {
            std::call_once(once, [&] { std::printf("%s: once\n", tag); });
            label = "t" + std::to_string(i);
            for (int k = 0; k < 100; k++) hits++;
            noisy.id = 100 + i;
            std::lock_guard<std::mutex> g(m);
            total += hits;
            std::printf("%s: %s hits=%d\n", tag, label.c_str(), hits);
        });
    for (auto &t : threads) t.join();
    std::printf("%s: main label=%s total=%d\n", tag, label.c_str(), total);
    std::printf("%s failures %d\n", tag, total == 400 ? 0 : 1);
    return 0;
}
