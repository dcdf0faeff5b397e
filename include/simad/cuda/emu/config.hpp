// simad/cuda/emu/config.hpp: the SIMT emulator's run-time knobs (environment variables, read once;
// tests may change config() between launches).
//
//   SIMAD_EMU_WORKERS=n          OS threads running blocks (default: nproc; the launching thread is one
//                                of them). Forced to 1 in SIMAD_EMU_SHARED_AS_STATIC builds.
//   SIMAD_EMU_STACK_KB=n         stack of each fiber (= CUDA thread), default 64 (256 under ASan)
//   SIMAD_EMU_SCHEDULE=0|1|2     order in which runnable CUDA threads run: fifo, lifo, random
//   SIMAD_EMU_SEED=n             seed of the random schedule (default 1; per block: seed, launch, block)
//   SIMAD_EMU_STRICT_BARRIERS=1  exited threads do not count as arrived at __syncthreads, and threads
//                                meeting at different __syncthreads call sites are an error
//   SIMAD_EMU_POISON=0           do not fill cudaMalloc memory / dynamic shared memory with 0xFF (NaN)
//   SIMAD_EMU_ABORT_ON_ERROR=1   abort() at the first kernel error (for a debugger)
//   SIMAD_EMU_QUIET=1            do not print kernel errors to stderr (they still fail the launch)
#pragma once

#if defined(__CUDACC__)
#error "include/simad/cuda/emu is the host-compiler SIMT emulator: it must never be compiled by nvcc"
#endif

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

namespace simad::cuda::emu {

enum class Schedule : int { fifo = 0, lifo = 1, random = 2 };

struct Config {
  unsigned workers = 1;
  std::size_t stack_bytes = 64 * 1024;
  Schedule schedule = Schedule::fifo;
  std::uint64_t seed = 1;
  bool strict_barriers = false;
  bool poison = true;
  bool abort_on_error = false;
  bool quiet = false;
};

namespace detail {

inline long long env_int(const char* name, long long fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  return (end && *end == '\0') ? x : fallback;
}

inline Config config_from_env() {
  Config c;
  const unsigned hw = std::thread::hardware_concurrency();
  const long long workers = env_int("SIMAD_EMU_WORKERS", hw ? hw : 1);
  c.workers = workers < 1 ? 1u : workers > 256 ? 256u : unsigned(workers);
#if defined(SIMAD_EMU_SHARED_AS_STATIC)
  c.workers = 1;
#endif
#if defined(__SANITIZE_ADDRESS__)
  const long long stack_kb_default = 256;
#else
  const long long stack_kb_default = 64;
#endif
  const long long stack_kb = env_int("SIMAD_EMU_STACK_KB", stack_kb_default);
  c.stack_bytes = std::size_t(stack_kb < 16 ? 16 : stack_kb) * 1024;
  const long long schedule = env_int("SIMAD_EMU_SCHEDULE", 0);
  c.schedule = schedule == 1 ? Schedule::lifo : schedule == 2 ? Schedule::random : Schedule::fifo;
  c.seed = std::uint64_t(env_int("SIMAD_EMU_SEED", 1));
  c.strict_barriers = env_int("SIMAD_EMU_STRICT_BARRIERS", 0) != 0;
  c.poison = env_int("SIMAD_EMU_POISON", 1) != 0;
  c.abort_on_error = env_int("SIMAD_EMU_ABORT_ON_ERROR", 0) != 0;
  c.quiet = env_int("SIMAD_EMU_QUIET", 0) != 0;
  return c;
}

}  // namespace detail

// The live configuration. Change it only between launches (a launch copies it when it starts).
inline Config& config() {
  static Config c = detail::config_from_env();
  return c;
}

}  // namespace simad::cuda::emu
