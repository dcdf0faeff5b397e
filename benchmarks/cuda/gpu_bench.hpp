// benchmarks/cuda/gpu_bench.hpp: what the GPU benchmark programs share: the machine line (CPU model, and
// the GPU, or "no CUDA device: nothing measured" and false), a timing of `reps` calls between CUDA events,
// and the median of trials.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "simad/cuda/runtime.hpp"

namespace simad::bench {

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Prints "CPU: ..." and "GPU: ..." (without a newline after the GPU, for the caller's extras); false, with
// the reason printed, when there is no device to measure on.
inline bool print_machine() {
  std::printf("CPU: %s\n", cpu_model().c_str());
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("no CUDA device (%s): nothing measured\n", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    return false;
  }
  cudaDeviceProp prop{};
  SIMAD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s (%d SMs, sm_%d%d)", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
  return true;
}

// Milliseconds per call of f, over `reps` calls between two events.
template <typename F>
float time_ms(F&& f, int reps) {
  cuda::Event start, end;
  start.record();
  for (int r = 0; r < reps; ++r) f();
  end.record();
  return cuda::elapsed_ms(start, end) / float(reps);
}

inline float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace simad::bench
