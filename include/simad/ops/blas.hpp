// simad/ops/blas.hpp: the OpenBLAS boundary. Declares the cblas calls simad uses and keeps
// OpenBLAS' own thread pool from fighting simad's (two pools spinning on 2 cores run 2-3x slower):
// a GEMM called outside simad's parallel regions runs on num_threads() BLAS threads; code that
// calls BLAS from inside a parallel region first opens a BlasThreadsScope(1) on the calling thread.
#pragma once

#include <cblas.h>  // OpenBLAS' own (openblas-pthread), which declares openblas_set_num_threads

#include <atomic>
#include <string>

#include "simad/core/parallel.hpp"

namespace simad::blas {

namespace detail {
inline std::atomic<int>& configured_threads() {
  static std::atomic<int> n{0};
  return n;
}
}  // namespace detail

inline void set_threads(int threads) {
  if (detail::configured_threads().exchange(threads) != threads) openblas_set_num_threads(threads);
}
inline int threads() { return openblas_get_num_threads(); }
// The kernel family OpenBLAS chose for this CPU (e.g. "Haswell", "SkylakeX"): benchmarks print it.
inline std::string core_name() { return openblas_get_corename(); }

// Called by every simad BLAS entry point outside parallel regions: BLAS uses simad's thread count.
inline void match_simad_threads() {
  if (!simad::detail::in_parallel_region) set_threads(simad::num_threads());
}

// Sets the BLAS thread count for a scope, restoring simad's afterwards. Open it on the thread that
// starts the parallel region, never inside one.
class BlasThreadsScope {
 public:
  explicit BlasThreadsScope(int threads) { set_threads(threads); }
  ~BlasThreadsScope() { set_threads(simad::num_threads()); }
  BlasThreadsScope(const BlasThreadsScope&) = delete;
  BlasThreadsScope& operator=(const BlasThreadsScope&) = delete;
};

}  // namespace simad::blas
