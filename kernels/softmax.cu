// kernels/softmax.cu: masked row softmax, forward and backward (simad/cuda/kernels/softmax.hpp).
// A row is handled by one "row group": a warp (C <= kWarpRowMaxC, 8 rows per 256-thread block) or a
// whole block (longer rows). Threads of a group stride over the row (coalesced), reduce with warp
// shuffles, and (block groups) combine the warps' values through 32 words of shared memory. Every
// thread of a group ends with the same bits of the row's reductions.
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/softmax.hpp"
#include "simad/cuda/row_reduce.hpp"

namespace simad::cuda::kernels {
namespace {

using namespace simad::cuda::rows;


template <bool kBlock>
__global__ void softmax_forward_kernel(float* out, const float* inp, const uint8_t* mask, int N, int C) {
  __shared__ float red_m[32], red_s[32];
  int64_t row;
  int t, stride;
  if (!row_of_group<kBlock>(N, row, t, stride)) return;
  const float* x = inp + row * C;
  const uint8_t* mk = mask ? mask + row * C : nullptr;
  float m = -INFINITY, s = 0.0f;
  for (int j = t; j < C; j += stride) {
    if (mk && !mk[j]) continue;
    const float v = x[j];
    if (v > m) {
      s = s * expf(m - v) + 1.0f;  // first kept element: expf(-inf) = 0
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  group_max_sum<kBlock>(m, s, red_m, red_s);
  const float inv = s > 0.0f ? 1.0f / s : 0.0f;  // s == 0: every position padded
  float* y = out + row * C;
  for (int j = t; j < C; j += stride) y[j] = (mk && !mk[j]) ? 0.0f : expf(x[j] - m) * inv;
}

template <bool kBlock>
__global__ void softmax_backward_kernel(float* dinp, const float* dout, const float* out, int N, int C) {
  __shared__ float red[32];
  int64_t row;
  int t, stride;
  if (!row_of_group<kBlock>(N, row, t, stride)) return;
  const float* y = out + row * C;
  const float* dy = dout + row * C;
  float dot = 0.0f;
  for (int j = t; j < C; j += stride) dot += y[j] * dy[j];
  dot = group_sum<kBlock>(dot, red);
  float* dx = dinp + row * C;
  for (int j = t; j < C; j += stride) dx[j] += y[j] * (dy[j] - dot);
}

void check_sizes(const char* what, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, what, ": negative size N=", N, " C=", C);
  SIMAD_CHECK(N <= INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is above INT_MAX");
}

}  // namespace

void softmax_forward(float* out, const float* inp, const uint8_t* mask, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda softmax_forward", N, C);
  if (N == 0 || C == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda softmax_forward: null out or inp for N=", N, " C=", C);
  if (C <= kWarpRowMaxC) {
    const int rows_per_block = kWarpRowsThreads / 32;
    SIMAD_LAUNCH(softmax_forward_kernel<false>, unsigned((N + rows_per_block - 1) / rows_per_block),
                 kWarpRowsThreads, 0, stream, out, inp, mask, int(N), int(C));
  } else {
    SIMAD_LAUNCH(softmax_forward_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, out, inp, mask, int(N),
                 int(C));
  }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t N, int64_t C, cudaStream_t stream) {
  check_sizes("cuda softmax_backward", N, C);
  if (N == 0 || C == 0 || !dinp) return;
  SIMAD_CHECK(dout != nullptr && out != nullptr, "cuda softmax_backward: null dout or out for N=", N, " C=", C);
  if (C <= kWarpRowMaxC) {
    const int rows_per_block = kWarpRowsThreads / 32;
    SIMAD_LAUNCH(softmax_backward_kernel<false>, unsigned((N + rows_per_block - 1) / rows_per_block),
                 kWarpRowsThreads, 0, stream, dinp, dout, out, int(N), int(C));
  } else {
    SIMAD_LAUNCH(softmax_backward_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, dinp, dout, out,
                 int(N), int(C));
  }
}

}  // namespace simad::cuda::kernels
