// simad/core/progress.hpp: a progress bar for long CLI jobs, on stderr. Thread-safe `advance`;
// redraws at most ~10 times a second on a terminal, and only at every 10% otherwise (logs stay short).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace simad {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true)
      : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), enabled_(enabled),
        tty_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { finish(); }

  void advance(int64_t n = 1) {
    const int64_t done = done_.fetch_add(n) + n;
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    const int decile = int(10 * std::min(done, total_) / total_);
    if (tty_ ? now - last_draw_ < std::chrono::milliseconds(100) : decile == last_decile_) return;
    last_draw_ = now;
    last_decile_ = decile;
    draw(done, false);
  }

  // Prints the final state once (also called by the destructor).
  void finish() {
    if (!enabled_ || finished_.exchange(true)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t done = done_.load();
    if (!tty_ && last_decile_ == 10 && done >= total_) return;  // the 100% line is already out
    draw(done, true);
  }

 private:
  void draw(int64_t done, bool last) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double fraction = double(std::min(done, total_)) / double(total_);
    const int width = 30, filled = int(fraction * width + 0.5);
    std::string bar(size_t(filled), '#');
    bar.resize(size_t(width), ' ');
    std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld %.1fs%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
                 int(fraction * 100 + 0.5), static_cast<long long>(done), static_cast<long long>(total_), seconds,
                 tty_ && !last ? "" : "\n");
    std::fflush(stderr);
  }

  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
  std::atomic<int64_t> done_{0};
  std::atomic<bool> finished_{false};
  std::mutex mutex_;
  int last_decile_ = -1;
};

}  // namespace simad
