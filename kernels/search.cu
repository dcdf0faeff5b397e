// kernels/search.cu: exact top-k search (simad/cuda/kernels/search.hpp): norms, distance tiles and
// warp-level k-selection. See the header for the pipeline and why the results are batch-invariant.
#include "simad/cuda/portable.hpp"

#include <math.h>

#include <climits>
#include <cstddef>
#include <cstdint>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/search.hpp"

namespace simad::cuda::kernels {
namespace {

constexpr int kTileRows = 128, kTileK = 8;   // distance tile: 128 queries x 128 vectors, 8 dimensions a slice
constexpr int kTileThreads = 256;            // 16 x 16 threads, 8 x 8 keys each
constexpr int64_t kNoId = LLONG_MAX;         // an empty list entry sorts after every candidate
constexpr unsigned kFull = 0xffffffffu;

// ||x_i||^2 = fmaf chain over d in order (the distance tile's arithmetic for <x_i, x_i>).
__global__ void squared_norms_kernel(float* norms, const float* x, int n, int d) {
  const int i = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (i >= n) return;
  const float* r = x + int64_t(i) * d;
  float s = 0.0f;
  for (int k = 0; k < d; ++k) s = __fmaf_rn(r[k], r[k], s);
  norms[i] = s;
}

// A block computes a 128 x 128 tile of keys (queries x stored vectors) with 256 threads, each an 8 x 8
// register tile: queries ty + 16 r, vectors tx + 16 c (neighbouring threads store neighbouring keys). The
// dimensions are staged 8 at a time in shared memory, k-major (consecutive threads load consecutive
// dimensions of a row); each of a thread's 64 dot products is one __fmaf_rn chain over k = 0 .. d - 1 in
// order, exactly as before the blocking (and as squared_norms_kernel), so a key's bits do not depend on the
// tile, the batch or the block it falls in. 16 shared loads per 64 FMAs (the 16 x 16 version needed 2 per 1).
__global__ void __launch_bounds__(kTileThreads)
    distance_tile_kernel(float* keys, const float* q, const float* qn, const float* base, const float* bn, int nq,
                         int nt, int d, int metric) {
  __shared__ float sq[kTileK][kTileRows + 4], sb[kTileK][kTileRows + 4];
  const int tid = int(threadIdx.x), tx = tid % 16, ty = tid / 16;
  const int q0 = int(blockIdx.y) * kTileRows, b0 = int(blockIdx.x) * kTileRows;
  float acc[8][8];
#pragma unroll
  for (int r = 0; r < 8; ++r)
#pragma unroll
    for (int c = 0; c < 8; ++c) acc[r][c] = 0.0f;
  for (int k0 = 0; k0 < d; k0 += kTileK) {
#pragma unroll
    for (int l = 0; l < kTileRows * kTileK / kTileThreads; ++l) {
      const int e = tid + l * kTileThreads, row = e / kTileK, k = k0 + e % kTileK;
      sq[e % kTileK][row] = (q0 + row < nq && k < d) ? q[int64_t(q0 + row) * d + k] : 0.0f;
      sb[e % kTileK][row] = (b0 + row < nt && k < d) ? base[int64_t(b0 + row) * d + k] : 0.0f;
    }
    __syncthreads();
    const int kn = d - k0 < kTileK ? d - k0 : kTileK;  // only real dimensions: the chain is exactly d long
    for (int k = 0; k < kn; ++k) {
      float a[8], b[8];
#pragma unroll
      for (int r = 0; r < 8; ++r) a[r] = sq[k][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < 8; ++c) b[c] = sb[k][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < 8; ++r)
#pragma unroll
        for (int c = 0; c < 8; ++c) acc[r][c] = __fmaf_rn(a[r], b[c], acc[r][c]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 8; ++r) {
    const int qi = q0 + ty + 16 * r;
    if (qi >= nq) continue;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const int bj = b0 + tx + 16 * c;
      if (bj >= nt) continue;
      float key;
      if (metric == int(SearchMetric::L2)) {
        key = (qn[qi] + bn[bj]) - (acc[r][c] + acc[r][c]);
        key = key < 0.0f ? 0.0f : key;  // never negative (rounding of the expansion)
      } else {
        key = 0.0f - acc[r][c];  // larger inner product = smaller key
      }
      keys[int64_t(qi) * nt + bj] = key;
    }
  }
}

__device__ bool better(float ka, int64_t ia, float kb, int64_t ib) { return ka < kb || (ka == kb && ia < ib); }

__global__ void topk_init_kernel(float* lk, int64_t* li, int64_t total) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  lk[i] = INFINITY;
  li[i] = kNoId;
}

// Bitonic sort of the warp's 2C shared entries, ascending in (key, id).
__device__ void warp_bitonic_sort(float* sk, int64_t* si, int n, int lane) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = lane; t < n / 2; t += 32) {
        const int i = 2 * stride * (t / stride) + t % stride, j = i + stride;
        const bool ascending = (i & size) == 0;
        const bool j_first = better(sk[j], si[j], sk[i], si[i]);
        if (j_first == ascending) {
          const float k = sk[i];
          sk[i] = sk[j];
          sk[j] = k;
          const int64_t x = si[i];
          si[i] = si[j];
          si[j] = x;
        }
      }
      __syncwarp();
    }
  }
}

// One warp (block of 32) per query; dynamic shared memory: 2C keys then 2C ids.
__global__ void topk_merge_kernel(float* lk, int64_t* li, const float* keys, const int64_t* ids,
                                  const int64_t* exclude, int nt, int k, int C) {
  SIMAD_DYNAMIC_SHARED(unsigned char, smem);
  int64_t* si = reinterpret_cast<int64_t*>(smem);
  float* sk = reinterpret_cast<float*>(smem + sizeof(int64_t) * 2 * size_t(C));
  const int lane = int(threadIdx.x);
  const int64_t row = blockIdx.x;
  float* gk = lk + row * C;
  int64_t* gi = li + row * C;
  for (int t = lane; t < 2 * C; t += 32) {
    sk[t] = t < C ? gk[t] : INFINITY;
    si[t] = t < C ? gi[t] : kNoId;
  }
  __syncwarp();
  const int64_t ex = exclude ? exclude[row] : -1;
  float thr_k = sk[k - 1];
  int64_t thr_i = si[k - 1];
  int count = 0;  // candidates in the buffer sk[C .. C + count)
  const float* rk = keys + row * nt;
  for (int j0 = 0; j0 < nt; j0 += 32) {
    const int j = j0 + lane;
    float key = INFINITY;
    int64_t id = kNoId;
    if (j < nt) key = rk[j], id = ids[j];
    const bool take = j < nt && id != ex && better(key, id, thr_k, thr_i);
    const unsigned ballot = __ballot_sync(kFull, take);
    if (take) {
      const int pos = C + count + __popc(ballot & ((1u << lane) - 1u));
      sk[pos] = key;
      si[pos] = id;
    }
    count += __popc(ballot);
    __syncwarp();
    const bool last = j0 + 32 >= nt;
    if (count > C - 32 || (last && count > 0)) {  // the next 32 might not fit, or the tile is done
      for (int t = C + count + lane; t < 2 * C; t += 32) sk[t] = INFINITY, si[t] = kNoId;
      __syncwarp();
      warp_bitonic_sort(sk, si, 2 * C, lane);
      for (int t = C + lane; t < 2 * C; t += 32) sk[t] = INFINITY, si[t] = kNoId;
      __syncwarp();
      count = 0;
      thr_k = sk[k - 1];
      thr_i = si[k - 1];
    }
  }
  for (int t = lane; t < C; t += 32) {
    gk[t] = sk[t];
    gi[t] = si[t];
  }
}

__global__ void topk_finish_kernel(float* dist, int64_t* labels, const float* lk, const int64_t* li, int nq, int k,
                                   int C, int metric) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= int64_t(nq) * k) return;
  const int64_t row = t / k, j = t % k;
  const float key = lk[row * C + j];
  const int64_t id = li[row * C + j];
  const bool l2 = metric == int(SearchMetric::L2);
  if (id == kNoId) {
    labels[t] = -1;
    dist[t] = l2 ? INFINITY : -INFINITY;
  } else {
    labels[t] = id;
    dist[t] = l2 ? key : 0.0f - key;
  }
}

void check_int(const char* what, int64_t v, const char* name) {
  SIMAD_CHECK(v >= 0 && v <= INT_MAX, what, ": ", name, "=", v, " is negative or above INT_MAX");
}
void check_k(const char* what, int64_t k) {
  SIMAD_CHECK(k >= 1 && k <= kSearchMaxK, what, ": k must be in [1, ", kSearchMaxK, "], got ", k);
}
void check_metric(const char* what, SearchMetric m) {
  SIMAD_CHECK(m == SearchMetric::L2 || m == SearchMetric::InnerProduct, what, ": unknown metric ", int(m));
}
size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

}  // namespace

int64_t search_list_capacity(int64_t k) {
  check_k("search_list_capacity", k);
  int64_t c = 32;
  while (c < k) c *= 2;
  return c;
}

void search_squared_norms(float* norms, const float* x, int64_t n, int64_t d, cudaStream_t stream) {
  check_int("cuda search_squared_norms", n, "n");
  check_int("cuda search_squared_norms", d, "d");
  if (n == 0) return;
  SIMAD_CHECK(norms && x && d >= 1, "cuda search_squared_norms: null pointer or d < 1 (n=", n, " d=", d, ")");
  SIMAD_LAUNCH(squared_norms_kernel, unsigned((n + 255) / 256), 256, 0, stream, norms, x, int(n), int(d));
}

void search_distance_tile(float* keys, const float* queries, const float* qnorms, const float* base,
                          const float* bnorms, int64_t nq, int64_t nt, int64_t d, SearchMetric metric,
                          cudaStream_t stream) {
  const char* what = "cuda search_distance_tile";
  check_int(what, nq, "nq");
  check_int(what, nt, "nt");
  check_int(what, d, "d");
  check_metric(what, metric);
  if (nq == 0 || nt == 0) return;
  SIMAD_CHECK(keys && queries && base && d >= 1, what, ": null pointer or d < 1");
  SIMAD_CHECK(metric != SearchMetric::L2 || (qnorms && bnorms), what, ": L2 needs the norms");
  SIMAD_CHECK((nq + kTileRows - 1) / kTileRows <= 65535, what, ": nq=", nq,
              " above the grid's y limit (65535 x 128)");
  SIMAD_LAUNCH(distance_tile_kernel,
               dim3(unsigned((nt + kTileRows - 1) / kTileRows), unsigned((nq + kTileRows - 1) / kTileRows)),
               dim3(kTileThreads), 0, stream, keys, queries, qnorms, base, bnorms, int(nq), int(nt), int(d),
               int(metric));
}

void search_topk_init(float* list_keys, int64_t* list_ids, int64_t nq, int64_t k, cudaStream_t stream) {
  check_int("cuda search_topk_init", nq, "nq");
  const int64_t total = nq * search_list_capacity(k);
  if (total == 0) return;
  SIMAD_CHECK(list_keys && list_ids, "cuda search_topk_init: null list");
  SIMAD_LAUNCH(topk_init_kernel, unsigned((total + 255) / 256), 256, 0, stream, list_keys, list_ids, total);
}

void search_topk_merge(float* list_keys, int64_t* list_ids, const float* keys, const int64_t* ids,
                       const int64_t* exclude, int64_t nq, int64_t nt, int64_t k, cudaStream_t stream) {
  const char* what = "cuda search_topk_merge";
  check_int(what, nq, "nq");
  check_int(what, nt, "nt");
  const int64_t C = search_list_capacity(k);
  if (nq == 0 || nt == 0) return;
  SIMAD_CHECK(list_keys && list_ids && keys && ids, what, ": null pointer");
  const size_t smem = size_t(2 * C) * (sizeof(float) + sizeof(int64_t));  // 24 KiB at k = 1024
  SIMAD_LAUNCH(topk_merge_kernel, unsigned(nq), 32, smem, stream, list_keys, list_ids, keys, ids, exclude, int(nt),
               int(k), int(C));
}

void search_topk_finish(float* distances, int64_t* labels, const float* list_keys, const int64_t* list_ids,
                        int64_t nq, int64_t k, SearchMetric metric, cudaStream_t stream) {
  const char* what = "cuda search_topk_finish";
  check_int(what, nq, "nq");
  check_metric(what, metric);
  const int64_t C = search_list_capacity(k);
  if (nq == 0) return;
  SIMAD_CHECK(distances && labels && list_keys && list_ids, what, ": null pointer");
  SIMAD_LAUNCH(topk_finish_kernel, unsigned((nq * k + 255) / 256), 256, 0, stream, distances, labels, list_keys,
               list_ids, int(nq), int(k), int(C), int(metric));
}

size_t flat_search_workspace_bytes(int64_t nq, int64_t k, int64_t tile_n) {
  SIMAD_CHECK(nq >= 0 && tile_n >= 1, "flat_search_workspace_bytes: bad nq=", nq, " or tile_n=", tile_n);
  const size_t C = size_t(search_list_capacity(k));
  return align_up(size_t(nq) * 4) + align_up(size_t(nq) * size_t(tile_n) * 4) + align_up(size_t(nq) * C * 4) +
         align_up(size_t(nq) * C * 8);
}

void flat_search(float* distances, int64_t* labels, const float* queries, int64_t nq, const float* base,
                 const float* bnorms, const int64_t* ids, int64_t n, int64_t d, int64_t k, SearchMetric metric,
                 const int64_t* exclude, void* workspace, size_t workspace_bytes, int64_t tile_n,
                 cudaStream_t stream) {
  const char* what = "cuda flat_search";
  check_k(what, k);
  check_metric(what, metric);
  SIMAD_CHECK(n >= 1, what, ": the index is empty");
  SIMAD_CHECK(d >= 1 && nq >= 0 && tile_n >= 1, what, ": bad d=", d, " nq=", nq, " tile_n=", tile_n);
  if (nq == 0) return;
  const size_t need = flat_search_workspace_bytes(nq, k, tile_n);
  SIMAD_CHECK(workspace && workspace_bytes >= need, what, ": workspace of ", workspace_bytes, " bytes, ", need,
              " needed");
  const size_t C = size_t(search_list_capacity(k));
  unsigned char* w = static_cast<unsigned char*>(workspace);
  float* qn = reinterpret_cast<float*>(w);
  w += align_up(size_t(nq) * 4);
  float* keys = reinterpret_cast<float*>(w);
  w += align_up(size_t(nq) * size_t(tile_n) * 4);
  float* lk = reinterpret_cast<float*>(w);
  w += align_up(size_t(nq) * C * 4);
  int64_t* li = reinterpret_cast<int64_t*>(w);
  search_squared_norms(qn, queries, nq, d, stream);
  search_topk_init(lk, li, nq, k, stream);
  for (int64_t t0 = 0; t0 < n; t0 += tile_n) {
    const int64_t nt = n - t0 < tile_n ? n - t0 : tile_n;
    search_distance_tile(keys, queries, qn, base + t0 * d, bnorms + t0, nq, nt, d, metric, stream);
    search_topk_merge(lk, li, keys, ids + t0, exclude, nq, nt, k, stream);
  }
  search_topk_finish(distances, labels, lk, li, nq, k, metric, stream);
}

}  // namespace simad::cuda::kernels
