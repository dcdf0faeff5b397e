// kernels/region_pool.cu: region features pooled from a hidden map (simad/cuda/kernels/region_pool.hpp; the CPU
// op is simad/ops/region_pool.hpp). One block per region; its threads take the D output channels, so the row
// is stored coalesced. A detection's window is one cell (one load per channel, H W apart: at most k1 x 1024
// loads per image, nothing beside the network's forward); "no detection" and grid cells loop over their block.
#include "simad/cuda/kernels/region_pool.hpp"

#include <climits>

#include "simad/core/error.hpp"
#include "simad/cuda/portable.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 128;

__global__ void __launch_bounds__(kThreads) region_max_pool_kernel(float* __restrict__ out,
                                                                   const float* __restrict__ map,
                                                                   const int32_t* __restrict__ windows, int K, int D,
                                                                   int C, int H, int W) {
  const long long r = blockIdx.x;
  const int32_t y0 = windows[4 * r], y1 = windows[4 * r + 1], x0 = windows[4 * r + 2], x1 = windows[4 * r + 3];
  if (y0 < 0 || y0 >= y1 || y1 > H || x0 < 0 || x0 >= x1 || x1 > W) return;  // another map's region, or invalid
  const float* m = map + (r / K) * static_cast<long long>(C) * H * W;
  float* o = out + r * D;
  for (int c = int(threadIdx.x); c < D; c += kThreads) {
    float best = 0.0f;  // padding channels
    if (c < C) {
      const float* plane = m + static_cast<long long>(c) * H * W;
      best = plane[y0 * W + x0];  // the CPU op's rule: the first value, replaced by a strictly greater one
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) {
          const float v = plane[y * W + x];
          best = v > best ? v : best;
        }
    }
    o[c] = best;
  }
}

}  // namespace

void region_max_pool(float* out, const float* map, const int32_t* windows, int64_t B, int64_t K, int64_t D,
                     int64_t C, int64_t H, int64_t W, cudaStream_t stream) {
  SIMAD_CHECK(B >= 0 && K >= 0 && C >= 0 && D >= C && H >= 1 && W >= 1 && D <= INT_MAX && H * W <= INT_MAX &&
                  B * K <= INT_MAX,
              "cuda region_max_pool: bad arguments B=", B, " K=", K, " D=", D, " C=", C, " H=", H, " W=", W);
  if (B * K == 0 || D == 0) return;
  SIMAD_CHECK(out != nullptr && map != nullptr && windows != nullptr, "cuda region_max_pool: null pointer");
  SIMAD_LAUNCH(region_max_pool_kernel, unsigned(B * K), dim3(kThreads), 0, stream, out, map, windows, int(K), int(D),
               int(C), int(H), int(W));
}

}  // namespace simad::cuda::kernels
