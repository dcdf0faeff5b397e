// kernels/shortcut.cu: Darknet's [shortcut] (residual addition with a linear or leaky activation), forward
// and backward (simad/cuda/kernels/shortcut.hpp; the CPU op is simad/ops/shortcut.hpp). Grid-stride,
// one element per thread and step.
#include "simad/cuda/kernels/shortcut.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;
constexpr float kSlope = 0.1f;  // ops::kShortcutLeakySlope

__global__ void __launch_bounds__(kThreads)
    shortcut_forward_kernel(float* out, const float* a, const float* b, long long n, bool leaky) {
  SIMAD_GRID_STRIDE(i, n) {
    const float v = a[i] + b[i];
    out[i] = leaky && !(v > 0.0f) ? kSlope * v : v;
  }
}

// da and db may be the same array (a shortcut from the layer it follows): one thread adds g twice.
__global__ void __launch_bounds__(kThreads)
    shortcut_backward_kernel(float* da, float* db, const float* dout, const float* out, long long n, bool leaky) {
  SIMAD_GRID_STRIDE(i, n) {
    const float g = leaky && !(out[i] > 0.0f) ? kSlope * dout[i] : dout[i];
    if (da) da[i] += g;
    if (db) db[i] += g;
  }
}

}  // namespace

void shortcut_forward(float* out, const float* a, const float* b, int64_t n, bool leaky, cudaStream_t stream) {
  SIMAD_CHECK(n >= 0, "cuda shortcut_forward: negative size ", n);
  if (n == 0) return;
  SIMAD_CHECK(out != nullptr && a != nullptr && b != nullptr, "cuda shortcut_forward: null out, a or b");
  SIMAD_LAUNCH(shortcut_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, a, b,
               static_cast<long long>(n), leaky);
}

void shortcut_backward(float* da, float* db, const float* dout, const float* out, int64_t n, bool leaky,
                       cudaStream_t stream) {
  SIMAD_CHECK(n >= 0, "cuda shortcut_backward: negative size ", n);
  if (n == 0 || (!da && !db)) return;
  SIMAD_CHECK(dout != nullptr && out != nullptr, "cuda shortcut_backward: null dout or out");
  SIMAD_LAUNCH(shortcut_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, da, db,
               dout, out, static_cast<long long>(n), leaky);
}

}  // namespace simad::cuda::kernels
