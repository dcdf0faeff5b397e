// kernels/cross_entropy.cu: softmax cross-entropy forward and backward
// (simad/cuda/kernels/cross_entropy.hpp). Row kernels as kernels/softmax.cu (a warp or a block per
// row, online max/sum); a one-block kernel sums the per-row losses (double) and counts the rows in a
// fixed order; the backward is a grid-stride elementwise kernel.
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/cross_entropy.hpp"
#include "simad/cuda/row_reduce.hpp"

namespace simad::cuda::kernels {
namespace {

using namespace simad::cuda::rows;

constexpr int kSumThreads = 256;  // the one block of ce_sum_kernel

// Per row: probs (if wanted) and row_loss[row] = (max - x_t) + log(sum exp(x - max)) in double, or 0
// for an ignored row or a bad target (ce_sum_kernel reports those).
template <bool kBlock>
__global__ void ce_forward_rows_kernel(float* __restrict__ probs, double* __restrict__ row_loss,
                                       const float* __restrict__ logits, const int32_t* __restrict__ targets, int N,
                                       int C, int32_t ignore_index) {
  __shared__ float red_m[32], red_s[32];
  int64_t row;
  int t, stride;
  if (!row_of_group<kBlock>(N, row, t, stride)) return;
  const float* x = logits + row * C;
  float m = -INFINITY, s = 0.0f;
  for (int j = t; j < C; j += stride) {
    const float v = x[j];
    if (v > m) {
      s = s * expf(m - v) + 1.0f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  group_max_sum<kBlock>(m, s, red_m, red_s);
  if (probs) {
    const float inv = 1.0f / s;
    float* p = probs + row * C;
    for (int j = t; j < C; j += stride) p[j] = expf(x[j] - m) * inv;
  }
  if (t == 0) {
    const int32_t target = targets[row];
    const bool counts = target != ignore_index && target >= 0 && target < C;
    row_loss[row] = counts ? double(m - x[target]) + double(logf(s)) : 0.0;
  }
}

// One block: result->total = sum of row_loss (nullptr: 0) in a fixed order, result->count = rows
// whose target is not ignored, result->first_bad = the first row with a target outside [0, C) that
// is not the ignore index (INT_MAX: none).
struct SumResult {
  double total;
  int count;
  int first_bad;
};
// Deferred forms: also *loss = the mean (0 when no row counts) and *first_bad = min(*first_bad, the first
// bad row) (both null in the synchronous forms, which read the result on the host).
__global__ void ce_sum_kernel(SumResult* result, const double* __restrict__ row_loss,
                              const int32_t* __restrict__ targets, int N, int C, int32_t ignore_index, float* loss,
                              int* first_bad_flag) {
  __shared__ double red_d[32];
  __shared__ int red_c[32], red_b[32];
  double total = 0.0;
  int count = 0, first_bad = INT_MAX;
  for (int i = int(threadIdx.x); i < N; i += int(blockDim.x)) {
    const int32_t target = targets[i];
    if (target == ignore_index) continue;
    if (target < 0 || target >= C) first_bad = min(first_bad, i);
    ++count;
    if (row_loss) total += row_loss[i];
  }
  total = warp_sum(total), count = warp_sum(count), first_bad = warp_min(first_bad);
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5, warps = int(blockDim.x) >> 5;
  if (lane == 0) red_d[warp] = total, red_c[warp] = count, red_b[warp] = first_bad;
  __syncthreads();
  if (warp == 0) {
    total = warp_sum(lane < warps ? red_d[lane] : 0.0);
    count = warp_sum(lane < warps ? red_c[lane] : 0);
    first_bad = warp_min(lane < warps ? red_b[lane] : INT_MAX);
    if (lane == 0) {
      *result = SumResult{total, count, first_bad};
      if (loss) *loss = count == 0 ? 0.0f : float(total / double(count));
      if (first_bad_flag) atomicMin(first_bad_flag, first_bad);
    }
  }
}

__global__ void ce_reset_kernel(int* first_bad) { *first_bad = INT_MAX; }

// scale = dloss / (rows that count), from ce_sum_kernel's result (no row counts: nothing to add).
__global__ void ce_backward_kernel(float* __restrict__ dlogits, const float* __restrict__ probs,
                                   const int32_t* __restrict__ targets, int64_t N, int C, int32_t ignore_index,
                                   float dloss, const SumResult* __restrict__ sum) {
  const int count = sum->count;
  if (count == 0) return;
  const float scale = dloss / float(count);
  const int64_t total = N * C;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / C;
    const int32_t target = targets[i];
    if (target == ignore_index) continue;
    const int j = int(idx - i * C);
    const float p = probs[idx];
    dlogits[idx] += (j == target ? p - 1.0f : p) * scale;
  }
}

void cuda_check(cudaError_t e, const char* what) { check_op_call(e, "cross_entropy", what); }

void check_sizes(const char* what, int64_t N, int64_t C) {
  SIMAD_CHECK(N >= 0 && C >= 0, what, ": negative size N=", N, " C=", C);
  SIMAD_CHECK(N <= INT_MAX && C <= INT_MAX, what, ": N=", N, " or C=", C, " is above INT_MAX");
}

// Runs ce_sum_kernel into a stream-ordered workspace and waits for it; throws on a bad target.
SumResult sum_and_check(const char* what, const double* row_loss, const int32_t* targets, int64_t N, int64_t C,
                        int32_t ignore_index, SumResult* dres, cudaStream_t stream) {
  SIMAD_LAUNCH(ce_sum_kernel, 1, kSumThreads, 0, stream, dres, row_loss, targets, int(N), int(C), ignore_index,
               nullptr, nullptr);
  SumResult r{};
  cuda_check(cudaMemcpyAsync(&r, dres, sizeof r, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync of the result");
  cuda_check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  cross_entropy_check_bad_row(what, r.first_bad, targets, C, ignore_index);
  return r;
}

// The row kernels (probs and the row losses) into row_loss.
void launch_rows(float* probs, double* row_loss, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                 int32_t ignore_index, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  if (C <= kWarpRowMaxC) {
    const int64_t rows_per_block = kWarpRowsThreads / 32;
    SIMAD_LAUNCH(ce_forward_rows_kernel<false>, unsigned((N + rows_per_block - 1) / rows_per_block), kWarpRowsThreads,
                 0, stream, probs, row_loss, logits, targets, int(N), int(C), ignore_index);
  } else {
    SIMAD_LAUNCH(ce_forward_rows_kernel<true>, unsigned(N), block_row_threads(C), 0, stream, probs, row_loss, logits,
                 targets, int(N), int(C), ignore_index);
  }
}

void launch_backward(float* dlogits, float dloss, const float* probs, const int32_t* targets, int64_t N, int64_t C,
                     int32_t ignore_index, const SumResult* dres, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((N * C + threads - 1) / threads, 8192);
  SIMAD_LAUNCH(ce_backward_kernel, unsigned(blocks), threads, 0, stream, dlogits, probs, targets, N, int(C),
               ignore_index, dloss, dres);
}

// The deferred forms' workspace: the SumResult, then N row losses (the backward uses the first part).
SumResult* workspace_result(void* workspace) { return static_cast<SumResult*>(workspace); }
double* workspace_row_loss(void* workspace) {
  return reinterpret_cast<double*>(static_cast<char*>(workspace) + sizeof(SumResult));
}
void check_workspace(const char* what, void* workspace, size_t bytes, size_t need) {
  SIMAD_CHECK(workspace != nullptr && bytes >= need, what, ": workspace of ", bytes, " bytes",
              workspace ? "" : " (null)", ", needs ", need);
}

// A stream-ordered device allocation, freed (stream-ordered) when it goes out of scope.
struct Workspace {
  void* ptr = nullptr;
  cudaStream_t stream;
  Workspace(std::size_t bytes, cudaStream_t s) : stream(s) {
    cuda_check(cudaMallocAsync(&ptr, bytes, stream), "cudaMallocAsync of the workspace");
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() { (void)cudaFreeAsync(ptr, stream); }
};

}  // namespace

float cross_entropy_forward(float* probs, const float* logits, const int32_t* targets, int64_t N, int64_t C,
                            int32_t ignore_index, cudaStream_t stream) {
  check_sizes("cuda cross_entropy_forward", N, C);
  if (N == 0) return 0.0f;
  SIMAD_CHECK(logits != nullptr && targets != nullptr, "cuda cross_entropy_forward: null logits or targets for N=", N);
  Workspace ws(cross_entropy_workspace_bytes(N), stream);
  auto* dres = workspace_result(ws.ptr);
  double* row_loss = workspace_row_loss(ws.ptr);
  launch_rows(probs, row_loss, logits, targets, N, C, ignore_index, stream);
  const SumResult r = sum_and_check("cuda cross_entropy_forward", C > 0 ? row_loss : nullptr, targets, N, C,
                                    ignore_index, dres, stream);
  return r.count == 0 ? 0.0f : float(r.total / double(r.count));
}

void cross_entropy_backward(float* dlogits, float dloss, const float* probs, const int32_t* targets, int64_t N,
                            int64_t C, int32_t ignore_index, cudaStream_t stream) {
  check_sizes("cuda cross_entropy_backward", N, C);
  if (N == 0 || !dlogits) return;
  SIMAD_CHECK(targets != nullptr, "cuda cross_entropy_backward: null targets for N=", N);
  Workspace ws(sizeof(SumResult), stream);
  const SumResult r = sum_and_check("cuda cross_entropy_backward", nullptr, targets, N, C, ignore_index,
                                    static_cast<SumResult*>(ws.ptr), stream);
  if (r.count == 0) return;  // every row ignored: zero gradient
  SIMAD_CHECK(probs != nullptr, "cuda cross_entropy_backward: null probs for N=", N, " C=", C);
  launch_backward(dlogits, dloss, probs, targets, N, C, ignore_index, static_cast<SumResult*>(ws.ptr), stream);
}

size_t cross_entropy_workspace_bytes(int64_t N) {
  check_sizes("cuda cross_entropy_workspace_bytes", N, 0);
  return sizeof(SumResult) + sizeof(double) * std::size_t(N);
}

void cross_entropy_reset_bad_row(int* first_bad, cudaStream_t stream) {
  SIMAD_CHECK(first_bad != nullptr, "cuda cross_entropy_reset_bad_row: null flag");
  SIMAD_LAUNCH(ce_reset_kernel, 1, 1, 0, stream, first_bad);
}

void cross_entropy_check_bad_row(const char* what, int first_bad_host, const int32_t* targets, int64_t C,
                                 int32_t ignore_index) {
  if (first_bad_host == cross_entropy_no_bad_row) return;
  SIMAD_CHECK(first_bad_host >= 0 && targets != nullptr, what, ": bad first-bad-row flag ", first_bad_host);
  int32_t bad = 0;
  cuda_check(cudaMemcpy(&bad, targets + first_bad_host, sizeof bad, cudaMemcpyDeviceToHost), "cudaMemcpy of a target");
  fail(what, ": row ", first_bad_host, " has target ", bad, ", outside [0, ", C, ") and not the ignore index ",
       ignore_index);
}

void cross_entropy_forward_deferred(float* loss, float* probs, const float* logits, const int32_t* targets, int64_t N,
                                    int64_t C, int32_t ignore_index, int* first_bad, void* workspace,
                                    size_t workspace_bytes, cudaStream_t stream) {
  constexpr const char* what = "cuda cross_entropy_forward_deferred";
  check_sizes(what, N, C);
  SIMAD_CHECK(loss != nullptr && first_bad != nullptr, what, ": null loss or first_bad");
  check_workspace(what, workspace, workspace_bytes, cross_entropy_workspace_bytes(N));
  SIMAD_CHECK(N == 0 || (logits != nullptr && targets != nullptr), what, ": null logits or targets for N=", N);
  launch_rows(probs, workspace_row_loss(workspace), logits, targets, N, C, ignore_index, stream);
  SIMAD_LAUNCH(ce_sum_kernel, 1, kSumThreads, 0, stream, workspace_result(workspace),
               C > 0 ? workspace_row_loss(workspace) : nullptr, targets, int(N), int(C), ignore_index, loss,
               first_bad);
}

void cross_entropy_backward_deferred(float* dlogits, float dloss, const float* probs, const int32_t* targets,
                                     int64_t N, int64_t C, int32_t ignore_index, int* first_bad, void* workspace,
                                     size_t workspace_bytes, cudaStream_t stream) {
  constexpr const char* what = "cuda cross_entropy_backward_deferred";
  check_sizes(what, N, C);
  if (N == 0 || !dlogits) return;
  SIMAD_CHECK(first_bad != nullptr && targets != nullptr && probs != nullptr, what,
              ": null first_bad, targets or probs");
  check_workspace(what, workspace, workspace_bytes, cross_entropy_workspace_bytes(0));
  SIMAD_LAUNCH(ce_sum_kernel, 1, kSumThreads, 0, stream, workspace_result(workspace), nullptr, targets, int(N), int(C),
               ignore_index, nullptr, first_bad);
  launch_backward(dlogits, dloss, probs, targets, N, C, ignore_index, workspace_result(workspace), stream);
}

}  // namespace simad::cuda::kernels
