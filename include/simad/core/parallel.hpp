// simad/core/parallel.hpp: simad's one thread pool and the loops built on it.
// - parallel_for(n, grain, fn(begin, end)): splits [0, n) into chunks run on the pool; the caller
//   works too. Nested calls (from inside a chunk) and calls while another thread uses the pool run
//   inline, so code never deadlocks and never oversubscribes the cores.
// - parallel_reduce(n, chunk, init, fn(begin, end) -> R, combine): chunk boundaries depend only on
//   `chunk`, never on the thread count, and partials are combined left to right: the same inputs
//   give bit-identical results on 1 thread or 64.
// Size: SIMAD_NUM_THREADS in the environment, else the number of cores; set_num_threads() at run
// time. OpenBLAS keeps its own pool: see ops/gemm.hpp for how the two are kept from fighting.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "simad/core/error.hpp"

namespace simad {

namespace detail {
inline thread_local bool in_parallel_region = false;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { start(threads); }
  ~ThreadPool() { stop(); }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool, created on first use.
  static ThreadPool& global() {
    static ThreadPool pool(default_threads());
    return pool;
  }
  static int default_threads() {
    if (const char* env = std::getenv("SIMAD_NUM_THREADS")) {
      char* end = nullptr;
      const long n = std::strtol(env, &end, 10);
      SIMAD_CHECK(end != env && *end == '\0' && n >= 1 && n <= 1024,
                  "SIMAD_NUM_THREADS='", env, "': expected an integer from 1 to 1024");
      return int(n);
    }
    return std::max(1, int(std::thread::hardware_concurrency()));
  }

  // Threads that run a parallel region, the caller included.
  int num_threads() const { return int(workers_.size()) + 1; }

  void set_num_threads(int threads) {
    SIMAD_CHECK(threads >= 1, "thread count must be >= 1, got ", threads);
    std::lock_guard<std::mutex> use(in_use_);
    stop();
    start(threads);
  }

  // Runs task(i) for every i in [0, count) and returns when all are done. The first exception a
  // task throws is rethrown here (the remaining tasks still run).
  void run(int64_t count, const std::function<void(int64_t)>& task) {
    if (count <= 0) return;
    std::unique_lock<std::mutex> use(in_use_, std::try_to_lock);
    if (count == 1 || workers_.empty() || detail::in_parallel_region || !use.owns_lock()) {
      for (int64_t i = 0; i < count; ++i) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = count;
      next_.store(0);
      busy_workers_ = int(workers_.size());
      error_ = nullptr;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    const auto spin_end = std::chrono::steady_clock::now() + kSpin;  // the workers finish within microseconds
    while (busy_workers_.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < spin_end)
      cpu_relax();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_workers_ == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // A new worker has seen the regions before it: it joins the next one, not a past one. (Starting it from
  // generation 0 made it pass through an empty region at once and count itself done in the next run,
  // which could then return while the worker still ran one of its tasks.) No region runs meanwhile:
  // set_num_threads holds in_use_.
  void start(int threads) {
    stopping_ = false;
    const uint64_t now = generation_.load();
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, now] { worker_loop(now); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }
  // Claims and runs tasks until none are left (the caller and every worker do this).
  void work() {
    const bool was_inside = detail::in_parallel_region;
    detail::in_parallel_region = true;
    for (int64_t i; (i = next_.fetch_add(1)) < count_;) {
      try {
        (*task_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    detail::in_parallel_region = was_inside;
  }
  void worker_loop(uint64_t seen) {
    for (;;) {
      // Spin a little before sleeping: parallel regions come in quick succession (a layer's ops, the
      // GEMMs of a step), and waking a sleeping thread costs 10-60 us, more than a small region's
      // work. Sleeping after kSpin keeps an idle process from holding a core.
      const auto spin_end = std::chrono::steady_clock::now() + kSpin;
      while (generation_.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < spin_end)
        cpu_relax();
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_.load();
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_workers_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex in_use_;  // one parallel region at a time; others run inline
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> busy_workers_{0};  // written under mutex_, read without it while spinning
  std::atomic<uint64_t> generation_{0};  // written under mutex_, read without it while spinning
  static constexpr std::chrono::microseconds kSpin{100};
  bool stopping_ = false;
  std::exception_ptr error_;
};

inline int num_threads() { return ThreadPool::global().num_threads(); }
inline void set_num_threads(int threads) { ThreadPool::global().set_num_threads(threads); }

// fn(begin, end) over [0, n) in chunks of at least `grain` elements.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  ThreadPool& pool = ThreadPool::global();
  const int64_t max_chunks = int64_t(pool.num_threads()) * 4;  // a few per thread: load balance
  const int64_t chunks = std::min((n + grain - 1) / grain, max_chunks);
  if (chunks <= 1 || detail::in_parallel_region) {
    fn(int64_t(0), n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  pool.run(chunks, [&](int64_t c) {
    const int64_t b = c * step, e = std::min(n, b + step);
    if (b < e) fn(b, e);
  });
}

// Deterministic reduction: fn(begin, end) -> R over fixed chunks of `chunk` elements, combined in
// chunk order with combine(R, R) -> R starting from init.
template <typename R, typename F, typename C>
R parallel_reduce(int64_t n, int64_t chunk, R init, F&& fn, C&& combine) {
  if (n <= 0) return init;
  chunk = std::max<int64_t>(chunk, 1);
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::vector<R> partial(size_t(chunks), init);
  parallel_for(chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) partial[size_t(c)] = fn(c * chunk, std::min(n, (c + 1) * chunk));
  });
  R acc = init;
  for (const R& p : partial) acc = combine(acc, p);
  return acc;
}

// Deterministic sum of fn(begin, end) partials.
template <typename R, typename F>
R parallel_sum(int64_t n, int64_t chunk, F&& fn) {
  return parallel_reduce(n, chunk, R{}, std::forward<F>(fn), [](R a, R b) { return a + b; });
}

}  // namespace simad
