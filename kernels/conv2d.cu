// kernels/conv2d.cu: Darknet's convolution as implicit GEMMs, forward (bias, activation and a [shortcut]
// fused into the stores) and backward (simad/cuda/kernels/conv2d.hpp; the CPU op is simad/ops/conv2d.hpp).
//
// Each product is a Problem of the tile GEMM (simad/cuda/tile_gemm.hpp: 64 x 64 tiles, slices of 16
// double-buffered in shared memory, multiplied by fp32 FMAs or bf16 tensor cores): it says how to gather
// element (m, k) of A and (k, n) of B from the tensors (zero outside the input or the matrix; B through a
// Col, what column n's gather needs, worked out once per thread) and how to store a result.
#include "simad/cuda/kernels/conv2d.hpp"

#include <algorithm>
#include <climits>
#include <cstddef>

#include "simad/core/error.hpp"
#include "simad/cuda/grid_stride.hpp"
#include "simad/cuda/portable.hpp"
#include "simad/cuda/row_reduce.hpp"
#include "simad/cuda/tile_gemm.hpp"

namespace simad::cuda::kernels {

namespace {

constexpr int kThreads = 256;  // the bias gradient's blocks
using tile_gemm::FmaMath;

// The geometry every product needs, as ints (checked on the host).
struct Geometry {
  int B, C, H, W, O, K, S, P, Ho, Wo;
  __host__ __device__ int KK() const { return K * K; }
};

// The forward: A = weight (O, C K K) as stored, B(k = (c, i, j), n = (b, y, x)) = inp[b, c, y S - P + i, x S - P + j].
struct ForwardProblem {
  static constexpr bool kAKFast = true, kBNFast = true;
  Geometry g;
  const float* inp;
  const float* weight;
  const float* bias;
  const float* residual;
  float* out;
  int act;  // ops::ConvActivation
  bool residual_leaky;
  __device__ int M() const { return g.O; }
  __device__ int N() const { return g.B * g.Ho * g.Wo; }
  __device__ int Kdim() const { return g.C * g.KK(); }
  __device__ const float* a_at(int m, int k) const { return weight + m * Kdim() + k; }
  __device__ const float* a_base() const { return weight; }
  __device__ const float* b_base() const { return inp; }
  struct Col {  // output pixel n = (img, y, x): its image and its window's origin (ints: see checked_geometry)
    int image;
    int iy0, ix0;
  };
  __device__ Col col(int n) const {
    const int HWo = g.Ho * g.Wo, img = n / HWo, p = n % HWo;
    return Col{img * g.C * g.H * g.W, (p / g.Wo) * g.S - g.P, (p % g.Wo) * g.S - g.P};
  }
  __device__ const float* b_at(int k, const Col& at) const {
    const int c = k / g.KK(), r = k % g.KK();
    const int iy = at.iy0 + r / g.K, ix = at.ix0 + r % g.K;
    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return nullptr;  // padding
    return inp + at.image + (c * g.H + iy) * g.W + ix;
  }
  __device__ void store(int m, int n, float acc) const {
    const int HWo = g.Ho * g.Wo, img = n / HWo, p = n % HWo;
    float v = acc + (bias ? bias[m] : 0.0f);
    if (act == int(ops::ConvActivation::leaky))
      v = v > 0.0f ? v : 0.1f * v;
    else if (act == int(ops::ConvActivation::logistic))
      v = 1.0f / (1.0f + expf(-v));
    const long long at = (static_cast<long long>(img) * g.O + m) * HWo + p;
    if (residual) {
      v += residual[at];
      if (residual_leaky && !(v > 0.0f)) v *= 0.1f;  // ops/shortcut.hpp's rule
    }
    out[at] = v;
  }
};

// dinp: A(m = c, k = (o, i, j)) = weight[o, c, i, j]; B(k, n = (b, h, w)) = dout[b, o, y, x] where
// y S - P + i = h and x S - P + j = w (zero where no such output exists).
struct DataGradientProblem {
  static constexpr bool kAKFast = true, kBNFast = true;
  Geometry g;
  const float* dout;
  const float* weight;
  float* dinp;
  __device__ int M() const { return g.C; }
  __device__ int N() const { return g.B * g.H * g.W; }
  __device__ int Kdim() const { return g.O * g.KK(); }
  __device__ const float* a_at(int m, int k) const {
    const int o = k / g.KK(), r = k % g.KK();
    return weight + (o * g.C + m) * g.KK() + r;
  }
  __device__ const float* a_base() const { return weight; }
  __device__ const float* b_base() const { return dout; }
  struct Col {  // input pixel n = (img, h, w): its image's gradient map and h + P, w + P
    int image;
    int hp, wp;
  };
  __device__ Col col(int n) const {
    const int HW = g.H * g.W, img = n / HW, q = n % HW;
    return Col{img * g.O * g.Ho * g.Wo, q / g.W + g.P, q % g.W + g.P};
  }
  __device__ const float* b_at(int k, const Col& at) const {
    const int o = k / g.KK(), r = k % g.KK();
    const int ty = at.hp - r / g.K, tx = at.wp - r % g.K;  // y S, x S
    if (ty < 0 || tx < 0 || ty % g.S != 0 || tx % g.S != 0) return nullptr;
    const int y = ty / g.S, x = tx / g.S;
    if (y >= g.Ho || x >= g.Wo) return nullptr;
    return dout + at.image + (o * g.Ho + y) * g.Wo + x;
  }
  __device__ void store(int m, int n, float acc) const {
    const int HW = g.H * g.W, img = n / HW, q = n % HW;
    dinp[(static_cast<long long>(img) * g.C + m) * HW + q] += acc;
  }
};

// dweight: A(m = o, k = (b, y, x)) = dout[b, o, y, x]; B(k, n = (c, i, j)) = inp[b, c, y S - P + i, x S - P + j].
struct WeightGradientProblem {
  static constexpr bool kAKFast = true, kBNFast = false;
  Geometry g;
  const float* dout;
  const float* inp;
  float* dweight;
  __device__ int M() const { return g.O; }
  __device__ int N() const { return g.C * g.KK(); }
  __device__ int Kdim() const { return g.B * g.Ho * g.Wo; }
  __device__ const float* a_at(int m, int k) const {
    const int HWo = g.Ho * g.Wo, img = k / HWo, p = k % HWo;
    return dout + (img * g.O + m) * HWo + p;
  }
  __device__ const float* a_base() const { return dout; }
  __device__ const float* b_base() const { return inp; }
  struct Col {  // weight n = (c, i, j): its input plane and the tap's offset i - P, j - P
    int plane;
    int di, dj;
  };
  __device__ Col col(int n) const {
    const int c = n / g.KK(), r = n % g.KK();
    return Col{c * g.H * g.W, r / g.K - g.P, r % g.K - g.P};
  }
  __device__ const float* b_at(int k, const Col& at) const {
    const int HWo = g.Ho * g.Wo, img = k / HWo, p = k % HWo;
    const int iy = (p / g.Wo) * g.S + at.di, ix = (p % g.Wo) * g.S + at.dj;
    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return nullptr;
    return inp + img * g.C * g.H * g.W + at.plane + iy * g.W + ix;
  }
  __device__ void store(int m, int n, float acc) const { dweight[static_cast<long long>(m) * N() + n] += acc; }
};

// The weight gradient as a split-K: part z of the B Ho Wo reduction stores its (O, C K K) partial sums at
// partial + z O C K K (overwriting), and split_sum_kernel adds the parts in z order: the same bits on every run.
// YOLOv3's shallow layers have a handful of 64 x 64 tiles (the first: 1) over a reduction of B x 173,056 pixels.
struct WeightGradientPartProblem : WeightGradientProblem {
  float* partial;
  __device__ void store(int m, int n, float acc) const {
    partial[(static_cast<long long>(blockIdx.z) * M() + m) * N() + n] = acc;
  }
};

__global__ void __launch_bounds__(kThreads)
    split_sum_kernel(float* __restrict__ out, const float* __restrict__ partial, int splits, long long n) {
  SIMAD_GRID_STRIDE(e, n) {
    float sum = 0.0f;
    for (int z = 0; z < splits; ++z) sum += partial[z * n + e];
    out[e] += sum;
  }
}

// Parts of the weight gradient's reduction: enough blocks to fill a GPU (about 2 x 132 SMs) where the tiles alone
// do not, each part at least 32 slices (512 pixels) long, at most 64 parts.
int weight_gradient_splits(const Geometry& g) {
  const long long tiles = (static_cast<long long>(g.O) + tile_gemm::kTileM - 1) / tile_gemm::kTileM *
                          ((static_cast<long long>(g.C) * g.KK() + tile_gemm::kTileN - 1) / tile_gemm::kTileN);
  const long long slices = (static_cast<long long>(g.B) * g.Ho * g.Wo + tile_gemm::kTileK - 1) / tile_gemm::kTileK;
  long long splits = (264 + tiles - 1) / tiles;
  splits = std::min<long long>({splits, slices / 32, 64});
  return static_cast<int>(std::max<long long>(splits, 1));
}

// dbias[o] += the sum of dout[:, o, :]: one block per filter, each thread a strided partial sum, then the
// block's fixed-order tree (the same bits on every run).
__global__ void __launch_bounds__(kThreads)
    conv_bias_gradient_kernel(float* __restrict__ dbias, const float* __restrict__ dout, int B, int O, int HWo) {
  __shared__ float red[32];
  const int o = static_cast<int>(blockIdx.x);
  float sum = 0.0f;
  for (long long e = threadIdx.x; e < static_cast<long long>(B) * HWo; e += kThreads) {
    const long long img = e / HWo, p = e % HWo;
    sum += dout[(img * O + o) * HWo + p];
  }
  sum = rows::group_sum<true>(sum, red);
  if (threadIdx.x == 0) dbias[o] += sum;
}


Geometry checked_geometry(const char* who, const ops::Conv2dShape& s) {
  s.check();
  const int64_t Ho = s.out_h(), Wo = s.out_w();
  // Every element offset the kernels form is below one of these three counts, so int arithmetic serves
  // (a quarter of the registers and instructions of 64-bit offsets in the gathers).
  SIMAD_CHECK(s.B * s.C * s.H * s.W <= INT_MAX && s.B * s.O * Ho * Wo <= INT_MAX && s.O * s.C * s.K * s.K <= INT_MAX,
              who, ": shape beyond 32-bit indices B=", s.B, " C=", s.C, " H=", s.H, " W=", s.W, " O=", s.O,
              " K=", s.K);
  return Geometry{int(s.B), int(s.C), int(s.H), int(s.W), int(s.O), int(s.K), int(s.stride), int(s.pad), int(Ho),
                  int(Wo)};
}

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const ops::Conv2dShape& s,
                    ops::ConvActivation act, const float* residual, bool residual_leaky, ConvMath math,
                    cudaStream_t stream) {
  const Geometry g = checked_geometry("cuda conv2d_forward", s);
  SIMAD_CHECK(act == ops::ConvActivation::linear || act == ops::ConvActivation::leaky ||
                  act == ops::ConvActivation::logistic,
              "cuda conv2d_forward: unknown activation ", int(act));
  SIMAD_CHECK(out != nullptr && inp != nullptr && weight != nullptr, "cuda conv2d_forward: null out, inp or weight");
  const ForwardProblem pr{g, inp, weight, bias, residual, out, int(act), residual_leaky};
  const int64_t N = s.B * s.out_h() * s.out_w();
  switch (math) {
    case ConvMath::fp32: tile_gemm::launch(pr, s.O, N, stream); break;
    case ConvMath::bf16_tensor_cores: tile_gemm::launch_bf16(pr, s.O, N, stream); break;
    case ConvMath::bf16_tensor_cores_64: tile_gemm::launch_bf16(pr, s.O, N, stream, 64); break;
    case ConvMath::bf16_tensor_cores_128: tile_gemm::launch_bf16(pr, s.O, N, stream, 128); break;
    default: SIMAD_CHECK(false, "cuda conv2d_forward: unknown ConvMath ", int(math));
  }
}

size_t conv2d_backward_workspace_bytes(const ops::Conv2dShape& s) {
  const Geometry g = checked_geometry("cuda conv2d_backward_workspace_bytes", s);
  const int splits = weight_gradient_splits(g);
  return splits > 1 ? size_t(splits) * size_t(s.O) * size_t(s.C * s.K * s.K) * sizeof(float) : 0;
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::Conv2dShape& s, cudaStream_t stream) {
  const size_t bytes = dweight ? conv2d_backward_workspace_bytes(s) : 0;
  float* ws = nullptr;
  if (bytes > 0)
    SIMAD_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ws), bytes, stream) == cudaSuccess,
                "cuda conv2d_backward: cudaMallocAsync of ", bytes, " bytes of workspace failed");
  try {
    conv2d_backward(dinp, dweight, dbias, dout, inp, weight, s, ws, bytes, stream);
  } catch (...) {
    if (ws) (void)cudaFreeAsync(ws, stream);
    throw;
  }
  if (ws) SIMAD_CHECK(cudaFreeAsync(ws, stream) == cudaSuccess, "cuda conv2d_backward: cudaFreeAsync failed");
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const ops::Conv2dShape& s, void* workspace, size_t workspace_bytes,
                     cudaStream_t stream) {
  const Geometry g = checked_geometry("cuda conv2d_backward", s);
  if (!dinp && !dweight && !dbias) return;
  SIMAD_CHECK(dout != nullptr, "cuda conv2d_backward: null dout");
  if (dinp) {
    SIMAD_CHECK(weight != nullptr, "cuda conv2d_backward: dinp needs the weight");
    tile_gemm::launch(DataGradientProblem{g, dout, weight, dinp}, s.C, s.B * s.H * s.W, stream);
  }
  if (dweight) {
    SIMAD_CHECK(inp != nullptr, "cuda conv2d_backward: dweight needs the input");
    const WeightGradientProblem pr{g, dout, inp, dweight};
    const int splits = weight_gradient_splits(g);
    if (splits == 1) {
      tile_gemm::launch(pr, s.O, s.C * s.K * s.K, stream);
    } else {
      const size_t need = size_t(splits) * size_t(s.O) * size_t(s.C * s.K * s.K) * sizeof(float);
      SIMAD_CHECK(workspace != nullptr && workspace_bytes >= need, "cuda conv2d_backward: workspace of ",
                  workspace_bytes, " bytes", workspace ? "" : " (null)", ", needs ", need,
                  " (conv2d_backward_workspace_bytes)");
      tile_gemm::launch(WeightGradientPartProblem{pr, static_cast<float*>(workspace)}, s.O, s.C * s.K * s.K, stream,
                        splits);
      const long long n = static_cast<long long>(s.O) * s.C * s.K * s.K;
      SIMAD_LAUNCH(split_sum_kernel, cuda::grid_stride_blocks(n, kThreads), dim3(kThreads), 0, stream, dweight,
                   static_cast<const float*>(workspace), splits, n);
    }
  }
  if (dbias)
    SIMAD_LAUNCH(conv_bias_gradient_kernel, dim3(static_cast<unsigned>(s.O)), dim3(kThreads), 0, stream, dbias, dout,
                 g.B, g.O, g.Ho * g.Wo);
}

}  // namespace simad::cuda::kernels
