// tools/simad/bench_timing.hpp: the timing harness of every `simad bench` suite that compares simad
// with a peer row by row (the kernel table, attention, darknet). Built for noisy shared machines (2
// cores shared with compilers): time_pair warms both sides up, then alternates short timed trials of
// simad and of the peer (pairs A B or B A in random order; a trial calls its side for ~5 ms, at least
// once), so load hits both sides alike. Each pair gives one ratio (peer time / simad time per call);
// the row's ratio is their median, with a ~95% confidence half-width, and trials go on past min_time
// until that is tight (or a time cap). time_pair_trials is the same loop for sides that time
// themselves (a peer in another process reports the seconds its own calls took, so neither the pipe
// nor the interpreter counts).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "simad/core/rng.hpp"

namespace simad::cli {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Trial {
  double seconds = 0.0;  // elapsed
  int64_t calls = 0;
};

// Calls fn until at least `seconds` have passed (at least once). Both sides of a row run trials of
// the same duration, so they sample the machine's noise alike whatever their speed.
inline Trial run_trial(const std::function<void()>& fn, double seconds) {
  const auto t0 = Clock::now();
  Trial t;
  do {
    fn();
    ++t.calls;
    t.seconds = seconds_since(t0);
  } while (t.seconds < seconds);
  return t;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline double quantile(std::vector<double> v, double q) {  // linear interpolation between order statistics
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(pos), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

struct SideTiming {
  std::vector<double> per_call;  // seconds per call of each trial
  int64_t calls = 0;             // calls timed
  double total = 0.0;            // seconds timed
  double best() const { return *std::min_element(per_call.begin(), per_call.end()); }
  double median_s() const { return median(per_call); }
};

struct PairTiming {
  SideTiming simad, peer;
  std::vector<double> ratios;  // per pair of adjacent trials: peer time / simad time (per call)
  double ratio = 0.0;          // their median: the row's simad/peer
  double ratio_ci = 0.0;       // ~95% confidence half-width of that median (boxplot notch: 1.57 IQR / sqrt(n))
  bool converged = false;      // ratio_ci reached the target before the time cap
  void update(double target) {
    ratio = median(ratios);
    ratio_ci = 1.57 * (quantile(ratios, 0.75) - quantile(ratios, 0.25)) / std::sqrt(double(ratios.size()));
    converged = ratio_ci <= target * ratio;
  }
};

// A side of a pair that runs and times its own trial: calls for at least `seconds` (at least once)
// and returns the seconds they took and their count.
using TrialFn = std::function<Trial(double seconds)>;

// Interleaves trials of simad and the peer, each pair A B or B A in random order (so periodic noise
// cannot lock onto one side). The two trials of a pair run back to back, so slow drifts and bursts
// of load mostly hit both; the pair's ratio cancels them, and the median over pairs discards the
// bursts that hit only one. Runs until each side has >= min_time seconds and >= min_trials trials
// AND the median is known to +-target (relative), or until each side has run max_time seconds.
// warm_up = false skips the warm-up trials, for sides whose single call takes seconds and that the
// caller has already run.
inline PairTiming time_pair_trials(const TrialFn& simad_trial, const TrialFn& peer_trial, double min_time,
                                   int min_trials, double target, double max_time, bool warm_up = true) {
  constexpr double kTrialSeconds = 5e-3;  // long against the clock's resolution, short against noise
  PairTiming r;
  SideTiming* side[2] = {&r.simad, &r.peer};
  const TrialFn* fn[2] = {&simad_trial, &peer_trial};
  if (warm_up)
    for (int k = 0; k < 2; ++k) (*fn[k])(4 * kTrialSeconds);  // caches, pages, thread pools
  const auto start = Clock::now();
  simad::Rng order(42);
  for (int trial = 0;; ++trial) {
    double t[2];
    const int first = int(order.next_u32() >> 31);
    for (int j = 0; j < 2; ++j) {
      const int k = j == 0 ? first : 1 - first;
      const Trial one = (*fn[k])(kTrialSeconds);
      t[k] = one.seconds / double(std::max<int64_t>(1, one.calls));
      side[k]->per_call.push_back(t[k]);
      side[k]->total += one.seconds;
      side[k]->calls += one.calls;
    }
    r.ratios.push_back(t[1] / t[0]);
    const bool minimum = trial + 1 >= min_trials && r.simad.total >= min_time && r.peer.total >= min_time;
    const bool capped = std::min(r.simad.total, r.peer.total) >= max_time;
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const bool runaway = trial + 1 >= 3 && wall > 4.0 * max_time + 10.0;  // a call far slower than expected
    if (minimum && (trial % 4 == 0 || capped)) {                          // (update() sorts: not after every trial)
      r.update(target);
      if (r.converged || capped) break;
    }
    if (runaway) break;
  }
  r.update(target);
  return r;
}

// time_pair_trials for two functions timed here: each trial calls its function for ~5 ms.
inline PairTiming time_pair(const std::function<void()>& simad_fn, const std::function<void()>& peer_fn,
                            double min_time, int min_trials, double target, double max_time) {
  return time_pair_trials([&](double s) { return run_trial(simad_fn, s); },
                          [&](double s) { return run_trial(peer_fn, s); }, min_time, min_trials, target, max_time);
}

}  // namespace simad::cli
