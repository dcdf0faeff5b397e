// kernels/yolo_decode.cu: a [yolo] layer's candidates, decoded and compacted per image in the CPU's order
// (simad/cuda/kernels/yolo_decode.hpp; the CPU op is simad/ops/yolo_decode.hpp).
#include "simad/cuda/kernels/yolo_decode.hpp"

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;

// Block b: image b. Thread t owns the cell-anchors [t run, (t + 1) run) (e = cell A + anchor), counts the
// kept ones, then writes them from its offset: the sum of the counts of threads before it.
__global__ void __launch_bounds__(kThreads)
    yolo_decode_kernel(float* __restrict__ box, float* __restrict__ objectness, float* __restrict__ prob,
                       int32_t* __restrict__ where, int32_t* __restrict__ count, const float* __restrict__ pred,
                       const float* __restrict__ anchors, int A, int classes, int lw, int lh, int net_w, int net_h,
                       float threshold) {
  __shared__ int offsets[kThreads + 1];
  const int HW = lw * lh, cap = A * HW, t = static_cast<int>(threadIdx.x);
  const long long b = blockIdx.x;
  const float* pb = pred + b * static_cast<long long>(A) * (5 + classes) * HW;
  const int run = (cap + kThreads - 1) / kThreads, e0 = min(cap, t * run), e1 = min(cap, e0 + run);
  auto objectness_of = [&](int e) { return pb[(static_cast<long long>(e % A) * (5 + classes) + 4) * HW + e / A]; };
  int kept = 0;
  for (int e = e0; e < e1; ++e) kept += objectness_of(e) > threshold;
  offsets[t + 1] = kept;
  __syncthreads();
  if (t == 0) {  // 256 additions in order: the exclusive prefix of the runs' counts
    offsets[0] = 0;
    for (int k = 1; k <= kThreads; ++k) offsets[k] += offsets[k - 1];
    count[b] = offsets[kThreads];
  }
  __syncthreads();
  long long s = b * cap + offsets[t];
  for (int e = e0; e < e1; ++e) {
    const float obj = objectness_of(e);
    if (!(obj > threshold)) continue;
    const int i = e / A, n = e % A;
    const float* p = pb + static_cast<long long>(n) * (5 + classes) * HW + i;
    box[s * 4 + 0] = (float(i % lw) + p[0]) / float(lw);
    box[s * 4 + 1] = (float(i / lw) + p[HW]) / float(lh);
    box[s * 4 + 2] = expf(p[2 * HW]) * anchors[2 * n] / float(net_w);
    box[s * 4 + 3] = expf(p[3 * HW]) * anchors[2 * n + 1] / float(net_h);
    objectness[s] = obj;
    for (int k = 0; k < classes; ++k) {
      const float pk = obj * p[(5 + k) * HW];
      prob[s * classes + k] = pk > threshold ? pk : 0.0f;
    }
    where[s] = e;
    ++s;
  }
}

}  // namespace

void yolo_decode(float* box, float* objectness, float* prob, int32_t* where, int32_t* count, const float* pred,
                 const float* anchors, int64_t B, int64_t A, int64_t classes, int64_t lw, int64_t lh, int64_t net_w,
                 int64_t net_h, float threshold, cudaStream_t stream) {
  SIMAD_CHECK(B >= 0 && A >= 1 && classes >= 0 && lw >= 1 && lh >= 1 && net_w >= 1 && net_h >= 1 &&
                  A * lw * lh <= 2147483647 && classes <= 2147483647 - 5 && net_w <= 2147483647 &&
                  net_h <= 2147483647,
              "cuda yolo_decode: bad arguments B=", B, " anchors=", A, " classes=", classes, " grid=", lw, "x", lh,
              " net=", net_w, "x", net_h);
  if (B == 0) return;
  SIMAD_CHECK(box && objectness && (prob || classes == 0) && where && count && pred && anchors,
              "cuda yolo_decode: null pointer");
  SIMAD_CHECK(B <= 2147483647, "cuda yolo_decode: batch ", B, " too large");
  SIMAD_LAUNCH(yolo_decode_kernel, dim3(static_cast<unsigned>(B)), dim3(kThreads), 0, stream, box, objectness, prob,
               where, count, pred, anchors, int(A), int(classes), int(lw), int(lh), int(net_w), int(net_h), threshold);
}

}  // namespace simad::cuda::kernels
