// kernels/maxpool2d.cu: Darknet's 2-D max pooling, forward with argmax and backward
// (simad/cuda/kernels/maxpool2d.hpp; the CPU op is simad/ops/maxpool2d.hpp).
#include "simad/cuda/kernels/maxpool2d.hpp"

#include <climits>

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/ops/maxpool2d_shape.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

// One output per thread. best starts at -FLT_MAX (Darknet's); with argmax the first element inside
// the window is taken unconditionally and later ones on a strict '>', without it best = max(best, v)
// as std::max (a NaN after the first element is not taken): the CPU op's rules, element by element.
__global__ void __launch_bounds__(kThreads)
    maxpool2d_forward_kernel(float* __restrict__ out, int32_t* __restrict__ argmax, const float* __restrict__ inp,
                             long long planes, int H, int W, int Ho, int Wo, int size, int stride, int off) {
  SIMAD_GRID_STRIDE(i, planes * Ho * Wo) {
    const int x = int(i % Wo);
    const int y = int((i / Wo) % Ho);
    const float* plane = inp + (i / (static_cast<long long>(Ho) * Wo)) * H * W;
    const int y0 = y * stride + off, x0 = x * stride + off;
    const int ya = y0 > 0 ? y0 : 0, yb = y0 + size < H ? y0 + size : H;
    const int xa = x0 > 0 ? x0 : 0, xb = x0 + size < W ? x0 + size : W;
    float best = -3.402823466e+38f;
    if (argmax) {
      int at = -1;
      for (int iy = ya; iy < yb; ++iy)
        for (int ix = xa; ix < xb; ++ix) {
          const float v = plane[iy * W + ix];
          if (v > best || at < 0) best = v, at = iy * W + ix;
        }
      argmax[i] = at;
    } else {
      for (int iy = ya; iy < yb; ++iy)
        for (int ix = xa; ix < xb; ++ix) {
          const float v = plane[iy * W + ix];
          best = best < v ? v : best;
        }
    }
    out[i] = best;
  }
}

// One input element per thread: it gathers dout over the outputs whose window holds it, in output
// order, from dinp's value: the CPU op's additions in the CPU's order, so the same bits, without atomics.
// Outputs y with y * stride + off <= iy < y * stride + off + size, likewise x.
__global__ void __launch_bounds__(kThreads)
    maxpool2d_backward_kernel(float* __restrict__ dinp, const float* __restrict__ dout,
                              const int32_t* __restrict__ argmax, long long planes, int H, int W, int Ho, int Wo,
                              int size, int stride, int off) {
  SIMAD_GRID_STRIDE(i, planes * H * W) {
    const int ix = int(i % W), iy = int((i / W) % H);
    const long long p = i / (static_cast<long long>(H) * W);
    const float* g = dout + p * Ho * Wo;
    const int32_t* arg = argmax + p * Ho * Wo;
    const int at = iy * W + ix;
    // first output whose window reaches iy: ceil((iy - off - size + 1) / stride), clipped at 0
    const int ry = iy - off - size + 1, rx = ix - off - size + 1;
    const int y0 = ry > 0 ? (ry + stride - 1) / stride : 0, x0 = rx > 0 ? (rx + stride - 1) / stride : 0;
    const int y1 = min((iy - off) / stride, Ho - 1), x1 = min((ix - off) / stride, Wo - 1);
    float acc = dinp[i];
    bool hit = false;
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x)
        if (arg[y * Wo + x] == at) acc += g[y * Wo + x], hit = true;
    if (hit) dinp[i] = acc;
  }
}

}  // namespace

void maxpool2d_forward(float* out, const float* inp, int64_t B, int64_t C, int64_t H, int64_t W, int64_t size,
                       int64_t stride, int64_t padding, int32_t* argmax, cudaStream_t stream) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 1 && W >= 1 && size >= 1 && stride >= 1 && padding >= 0,
              "cuda maxpool2d_forward: bad arguments B=", B, " C=", C, " H=", H, " W=", W, " size=", size,
              " stride=", stride, " padding=", padding);
  SIMAD_CHECK(H + padding >= size && W + padding >= size, "cuda maxpool2d_forward: window ", size,
              " larger than the padded input");
  SIMAD_CHECK(H * W <= INT_MAX && size <= INT_MAX && stride <= INT_MAX && padding <= INT_MAX,
              "cuda maxpool2d_forward: plane of ", H, "x", W, " or window too large");
  const int64_t Ho = ops::maxpool2d_out_size(H, size, stride, padding);
  const int64_t Wo = ops::maxpool2d_out_size(W, size, stride, padding);
  if (B * C == 0) return;
  SIMAD_CHECK(out != nullptr && inp != nullptr, "cuda maxpool2d_forward: null out or inp");
  const long long n = static_cast<long long>(B * C * Ho * Wo);
  SIMAD_LAUNCH(maxpool2d_forward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, out, argmax,
               inp, static_cast<long long>(B * C), int(H), int(W), int(Ho), int(Wo), int(size), int(stride),
               int(-(padding / 2)));
}

void maxpool2d_backward(float* dinp, const float* dout, const int32_t* argmax, int64_t B, int64_t C, int64_t H,
                        int64_t W, int64_t size, int64_t stride, int64_t padding, cudaStream_t stream) {
  SIMAD_CHECK(B >= 0 && C >= 0 && H >= 1 && W >= 1 && size >= 1 && stride >= 1 && padding >= 0 &&
                  H + padding >= size && W + padding >= size,
              "cuda maxpool2d_backward: bad arguments B=", B, " C=", C, " H=", H, " W=", W, " size=", size,
              " stride=", stride, " padding=", padding);
  SIMAD_CHECK(H * W <= INT_MAX && size <= INT_MAX && stride <= INT_MAX && padding <= INT_MAX,
              "cuda maxpool2d_backward: plane of ", H, "x", W, " or window too large");
  if (!dinp || B * C == 0) return;
  SIMAD_CHECK(dout != nullptr && argmax != nullptr, "cuda maxpool2d_backward: null dout or argmax");
  const int64_t Ho = ops::maxpool2d_out_size(H, size, stride, padding);
  const int64_t Wo = ops::maxpool2d_out_size(W, size, stride, padding);
  const long long n = static_cast<long long>(B * C * H * W);
  SIMAD_LAUNCH(maxpool2d_backward_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dinp, dout,
               argmax, static_cast<long long>(B * C), int(H), int(W), int(Ho), int(Wo), int(size), int(stride),
               int(-(padding / 2)));
}

}  // namespace simad::cuda::kernels
