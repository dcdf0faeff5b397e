// kernels/dropout.cu: inverted dropout (simad/ops/dropout.hpp) on the GPU. Declared in
// include/simad/cuda/kernels/dropout.hpp.
// Each thread draws its elements' Philox numbers from simad::philox_bits_at (core/rng.hpp, the
// definition the CPU uses), so the masks equal the CPU's bit for bit. The CPU keeps element i when
// double(bits >> 11) * 2^-53 >= double(p); with m = bits >> 11 an integer below 2^53 that is
// m >= ceil(p 2^53), one integer compare here (exact, no double arithmetic on the device).
#include "simad/cuda/kernels/dropout.hpp"

#include <cmath>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    dropout_forward_kernel(float* out, uint8_t* keep, const float* inp, long long n, float scale,
                           unsigned long long threshold, unsigned long long seed, unsigned long long rng_stream,
                           unsigned long long offset) {
  SIMAD_GRID_STRIDE(i, n) {
    const uint64_t bits = philox_bits_at(seed, rng_stream, offset + static_cast<unsigned long long>(i));
    const bool k = (bits >> 11) >= threshold;
    if (keep) keep[i] = static_cast<uint8_t>(k);
    out[i] = k ? inp[i] * scale : 0.0f;
  }
}

__global__ void __launch_bounds__(kThreads)
    dropout_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                            const uint8_t* __restrict__ keep, long long n, float scale) {
  SIMAD_GRID_STRIDE(i, n) {
    if (!keep) dinp[i] += dout[i];
    else if (keep[i]) dinp[i] += dout[i] * scale;
  }
}

void check_p(const char* op, float p) {
  SIMAD_CHECK(p >= 0.0f && p < 1.0f, op, ": dropout probability p must be in [0, 1), got ", p);
}

}  // namespace

void dropout_forward(float* out, uint8_t* keep, const float* inp, int64_t n, float p, uint64_t seed,
                     uint64_t rng_stream, uint64_t offset, cudaStream_t stream) {
  SIMAD_CHECK(n >= 0, "cuda::kernels::dropout_forward: negative element count ", n);
  check_p("cuda::kernels::dropout_forward", p);
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda::kernels::dropout_forward: null out or inp for n=", n);
  // p == 0 keeps everything: threshold 0 and scale 1 give out = inp * 1 = inp exactly.
  const float scale = 1.0f / (1.0f - p);  // the CPU's T(1) / (T(1) - p) in float
  const unsigned long long threshold = static_cast<unsigned long long>(std::ceil(static_cast<double>(p) * 0x1p53));
  SIMAD_LAUNCH(dropout_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, keep, inp,
               static_cast<long long>(n), scale, threshold, static_cast<unsigned long long>(seed),
               static_cast<unsigned long long>(rng_stream), static_cast<unsigned long long>(offset));
}

void dropout_backward(float* dinp, const float* dout, const uint8_t* keep, int64_t n, float p, cudaStream_t stream) {
  SIMAD_CHECK(n >= 0, "cuda::kernels::dropout_backward: negative element count ", n);
  check_p("cuda::kernels::dropout_backward", p);
  if (n == 0 || !dinp) return;
  SIMAD_CHECK(dout != nullptr, "cuda::kernels::dropout_backward: null dout for n=", n);
  SIMAD_CHECK(keep != nullptr || p == 0.0f, "cuda::kernels::dropout_backward: the keep mask is required when p=", p,
              " > 0");
  SIMAD_LAUNCH(dropout_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout, keep,
               static_cast<long long>(n), 1.0f / (1.0f - p));
}

}  // namespace simad::cuda::kernels
