// tests/cuda/emu/asan_overruns.cu: deliberate one-element overruns that AddressSanitizer must report
// under the emulator (built and run only in SIMAD_SANITIZE builds, which use shared-as-static).
//   asan_overruns static|dynamic|global
#include "simad/cuda/portable.hpp"

#include <cstdio>
#include <cstring>

namespace {

// Through a pointer whose origin the compiler cannot see, so that UBSan's bounds and object-size
// checks do not report it first: this is AddressSanitizer's job.
__global__ void static_shared_overrun(float* out, int past) {
  __shared__ float tile[32][32];
  float* flat = &tile[0][0];
#if !defined(__CUDACC__)
  asm volatile("" : "+r"(flat));
#endif
  flat[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = flat[1023 + past];
}

__global__ void dynamic_shared_overrun(float* out, int n) {
  SIMAD_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = buf[n];
}

__global__ void global_overrun(float* out, int n) { out[threadIdx.x + n] = 1.0f; }

}  // namespace

int main(int argc, char** argv) {
  const char* what = argc > 1 ? argv[1] : "";
  float* out = nullptr;
  if (cudaMalloc(&out, 32 * sizeof(float)) != cudaSuccess) return 2;
  if (std::strcmp(what, "static") == 0) SIMAD_LAUNCH(static_shared_overrun, 1, 32, 0, 0, out, 1);
  else if (std::strcmp(what, "dynamic") == 0) SIMAD_LAUNCH(dynamic_shared_overrun, 1, 32, 32 * sizeof(float), 0, out, 32);
  else if (std::strcmp(what, "global") == 0) SIMAD_LAUNCH(global_overrun, 1, 32, 0, 0, out, 1);
  else return 2;
  cudaDeviceSynchronize();
  std::printf("no overrun reported\n");
  cudaFree(out);
  return 0;
}
