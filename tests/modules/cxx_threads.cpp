// Threads that libstdc++ creates and waits for: std::thread with a
// std::mutex, std::async with futures (an exception crossing threads),
// std::condition_variable, std::call_once. Prints one line per check, each
// prefixed with argv[1], and exits 0 when every check holds.
//
// With a second argument FILE: two std::threads wait on a condition
// variable and a std::async task waits on a future until FILE exists
// (the main thread looks every 10 ms), so that their waits can be seen.
#include <condition_variable>
#include <fstream>
#include <cstdio>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::mutex counter_lock;
static long counter;

static void add(int times) {
  for (int i = 0; i < times; i++) {
    std::lock_guard<std::mutex> g(counter_lock);
    counter++;
  }
}

static int square(int x) {
  if (x < 0) throw std::runtime_error("negative input " + std::to_string(x));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return x * x;
}

static std::once_flag once;
static int once_runs;

static int hold_until(const char *tag, const char *file) {
  std::mutex m;
  std::condition_variable cv;
  bool go = false;
  std::promise<int> p;
  std::shared_future<int> sf = p.get_future().share();
  auto waiter = [&](int n) {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return go; });
    return n;
  };
  std::thread t1(waiter, 1), t2(waiter, 2);
  auto a = std::async(std::launch::async, [sf] { return sf.get() + 1; });
  while (!std::ifstream(file)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    std::lock_guard<std::mutex> g(m);
    go = true;
  }
  cv.notify_all();
  p.set_value(41);
  t1.join();
  t2.join();
  std::printf("%s held until %s: %d\n", tag, file, a.get());
  return 0;
}

int main(int argc, char **argv) {
  const char *tag = argc > 1 ? argv[1] : "x";
  if (argc > 2) return hold_until(tag, argv[2]);
  int failures = 0;

  // Four threads and a mutex.
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) ts.emplace_back(add, 10000);
  for (auto &t : ts) t.join();
  std::printf("%s threads counter %ld\n", tag, counter);
  failures += counter != 40000;

  // Futures from std::async (a new thread each), one throwing.
  std::vector<std::future<int>> fs;
  for (int x = 1; x <= 3; x++) fs.push_back(std::async(std::launch::async, square, x));
  int sum = 0;
  for (auto &f : fs) sum += f.get();
  std::printf("%s async sum %d\n", tag, sum);
  failures += sum != 14;
  auto bad = std::async(std::launch::async, square, -2);
  try {
    bad.get();
    std::printf("%s async no exception\n", tag);
    failures++;
  } catch (const std::exception &e) {
    std::printf("%s async caught: %s\n", tag, e.what());
  }

  // A promise fulfilled by another thread.
  std::promise<std::string> p;
  std::future<std::string> pf = p.get_future();
  std::thread setter([&p, tag] { p.set_value(std::string(tag) + "-value"); });
  std::printf("%s promise %s\n", tag, pf.get().c_str());
  setter.join();

  // A condition variable: a producer hands items to a consumer.
  std::mutex m;
  std::condition_variable cv;
  std::vector<int> queue;
  bool done = false;
  long consumed = 0;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv.wait(lk, [&] { return !queue.empty() || done; });
      while (!queue.empty()) {
        consumed += queue.back();
        queue.pop_back();
      }
      if (done) break;
    }
  });
  for (int i = 1; i <= 100; i++) {
    {
      std::lock_guard<std::mutex> g(m);
      queue.push_back(i);
    }
    cv.notify_one();
    if (i % 10 == 0) std::this_thread::yield();
  }
  {
    std::lock_guard<std::mutex> g(m);
    done = true;
  }
  cv.notify_all();
  consumer.join();
  std::printf("%s condvar consumed %ld\n", tag, consumed);
  failures += consumed != 5050;

  // std::call_once from several threads: the function runs once.
  std::vector<std::thread> os;
  for (int t = 0; t < 3; t++)
    os.emplace_back([] { std::call_once(once, [] { once_runs++; }); });
  for (auto &t : os) t.join();
  std::call_once(once, [] { once_runs++; });
  std::printf("%s call_once runs %d\n", tag, once_runs);
  failures += once_runs != 1;

  std::printf("%s failures %d\n", tag, failures);
  return failures == 0 ? 0 : 1;
}
