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

__device__ bool better(float ka, int64_t ia, float kb, int64_t ib) { return ka < kb || (ka == kb && ia < ib); }

// The key of a (query, vector) pair from its dot product (the header's formula; every kernel forms it so).
__device__ float pair_key(float dot, float qn, float bn, int metric) {
  if (metric != int(SearchMetric::L2)) return 0.0f - dot;  // larger inner product = smaller key
  const float key = (qn + bn) - (dot + dot);
  return key < 0.0f ? 0.0f : key;  // never negative (rounding of the expansion)
}

// Where a tile's candidates go: query i's are appended at cand_{keys,ids}[i * cap ..], count[i] of them.
// A candidate is a key that beats the query's current k-th list entry (key, id), the excluded id left out.
struct CandidateSink {
  float* keys;
  int64_t* ids;
  int* count;
  int cap;
  const float* list_keys;
  const int64_t* list_ids;
  int C, k;
  const int64_t* exclude;
  const int64_t* vector_ids;  // (nt) ids of the tile's vectors

  // Appends the n (<= 8) keys of query qi against vectors bj[0 .. n) that qualify, with one atomic.
  __device__ void offer(int qi, const float* key, const int* bj, int n) const {
    const float thr_k = list_keys[int64_t(qi) * C + k - 1];
    const int64_t thr_i = list_ids[int64_t(qi) * C + k - 1];
    const int64_t ex = exclude ? exclude[qi] : -1;
    bool take[8];
    int m = 0;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      take[c] = c < n && vector_ids[bj[c]] != ex && better(key[c], vector_ids[bj[c]], thr_k, thr_i);
      m += take[c] ? 1 : 0;
    }
    if (m == 0) return;
    int at = atomicAdd(count + qi, m);
#pragma unroll
    for (int c = 0; c < 8; ++c)
      if (take[c]) {
        keys[int64_t(qi) * cap + at] = key[c];
        ids[int64_t(qi) * cap + at] = vector_ids[bj[c]];
        ++at;
      }
  }
};

// A block computes a 128 x 128 tile of keys (queries x stored vectors) with 256 threads, each an 8 x 8
// register tile: queries ty + 16 r, vectors tx + 16 c. The dimensions are staged 8 at a time in shared
// memory, k-major (consecutive threads load consecutive dimensions of a row); each of a thread's 64 dot
// products is one __fmaf_rn chain over k = 0 .. d - 1 in order (the arithmetic of squared_norms_kernel), so a
// key's bits do not depend on the tile, the batch or the block it falls in. 16 shared loads per 64 FMAs. The
// keys never go to memory: only those that beat their query's current k-th do, as candidates (CandidateSink).
__global__ void __launch_bounds__(kTileThreads)
    distance_tile_kernel(CandidateSink sink, const float* q, const float* qn, const float* base, const float* bn,
                         int nq, int nt, int d, int metric) {
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
  int bj[8], n = 0;
#pragma unroll
  for (int c = 0; c < 8; ++c) {
    bj[c] = b0 + tx + 16 * c;
    n += bj[c] < nt ? 1 : 0;  // the real vectors are a prefix of c
  }
#pragma unroll
  for (int r = 0; r < 8; ++r) {
    const int qi = q0 + ty + 16 * r;
    if (qi >= nq) continue;
    float key[8];
#pragma unroll
    for (int c = 0; c < 8; ++c) key[c] = c < n ? pair_key(acc[r][c], qn ? qn[qi] : 0.0f, bn ? bn[bj[c]] : 0.0f, metric) : 0.0f;
    sink.offer(qi, key, bj, n);
  }
}

// Few queries (nq < kFewQueries): the 128-query tile would idle 127 of 128 rows at nq = 1. A block of 128
// threads takes 128 vectors (one per thread) against kRowsQueries queries (blockIdx.y picks which), so the
// stored vectors spread over nt / 128 blocks however few the queries are. Same chains, same keys.
constexpr int kRowsThreads = 128, kRowsQueries = 4, kFewQueries = 32;

__global__ void __launch_bounds__(kRowsThreads)
    distance_rows_kernel(CandidateSink sink, const float* q, const float* qn, const float* base, const float* bn,
                         int nq, int nt, int d, int metric) {
  __shared__ float sq[kTileK][kRowsQueries], sb[kTileK][kRowsThreads + 4];
  const int tid = int(threadIdx.x);
  const int q0 = int(blockIdx.y) * kRowsQueries, b0 = int(blockIdx.x) * kRowsThreads;
  float acc[kRowsQueries] = {};
  for (int k0 = 0; k0 < d; k0 += kTileK) {
#pragma unroll
    for (int l = 0; l < kTileK; ++l) {
      const int e = tid + l * kRowsThreads, row = e / kTileK, k = k0 + e % kTileK;
      sb[e % kTileK][row] = (b0 + row < nt && k < d) ? base[int64_t(b0 + row) * d + k] : 0.0f;
    }
    if (tid < kRowsQueries * kTileK) {
      const int row = tid / kTileK, k = k0 + tid % kTileK;
      sq[tid % kTileK][row] = (q0 + row < nq && k < d) ? q[int64_t(q0 + row) * d + k] : 0.0f;
    }
    __syncthreads();
    const int kn = d - k0 < kTileK ? d - k0 : kTileK;
    for (int k = 0; k < kn; ++k) {
      const float b = sb[k][tid];
#pragma unroll
      for (int r = 0; r < kRowsQueries; ++r) acc[r] = __fmaf_rn(sq[k][r], b, acc[r]);
    }
    __syncthreads();
  }
  const int bj[8] = {b0 + tid};
  if (bj[0] >= nt) return;
#pragma unroll
  for (int r = 0; r < kRowsQueries; ++r) {
    const int qi = q0 + r;
    if (qi >= nq) break;
    const float key[8] = {pair_key(acc[r], qn ? qn[qi] : 0.0f, bn ? bn[bj[0]] : 0.0f, metric)};
    sink.offer(qi, key, bj, 1);
  }
}

__global__ void topk_init_kernel(float* lk, int64_t* li, int* count, int64_t total, int64_t nq) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < nq) count[i] = 0;
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

// One warp (block of 32) per query merges the query's count[row] candidates into its list, then zeroes the
// count for the next tile. Dynamic shared memory: 2C ids then 2C keys.
__global__ void topk_merge_kernel(float* lk, int64_t* li, const float* cand_keys, const int64_t* cand_ids, int* count,
                                  int cap, int k, int C) {
  SIMAD_DYNAMIC_SHARED(unsigned char, smem);
  int64_t* si = reinterpret_cast<int64_t*>(smem);
  float* sk = reinterpret_cast<float*>(smem + sizeof(int64_t) * 2 * size_t(C));
  const int lane = int(threadIdx.x);
  const int64_t row = blockIdx.x;
  const int n = count[row];
  if (n == 0) return;  // nothing beat the k-th: the list stands
  float* gk = lk + row * C;
  int64_t* gi = li + row * C;
  for (int t = lane; t < 2 * C; t += 32) {
    sk[t] = t < C ? gk[t] : INFINITY;
    si[t] = t < C ? gi[t] : kNoId;
  }
  __syncwarp();
  float thr_k = sk[k - 1];
  int64_t thr_i = si[k - 1];
  int buffered = 0;  // candidates in the buffer sk[C .. C + buffered)
  const float* rk = cand_keys + row * cap;
  const int64_t* ri = cand_ids + row * cap;
  for (int j0 = 0; j0 < n; j0 += 32) {
    const int j = j0 + lane;
    float key = INFINITY;
    int64_t id = kNoId;
    if (j < n) key = rk[j], id = ri[j];
    // The threshold may have tightened since the candidate was offered: test it again.
    const bool take = j < n && better(key, id, thr_k, thr_i);
    const unsigned ballot = __ballot_sync(kFull, take);
    if (take) {
      const int pos = C + buffered + __popc(ballot & ((1u << lane) - 1u));
      sk[pos] = key;
      si[pos] = id;
    }
    buffered += __popc(ballot);
    __syncwarp();
    const bool last = j0 + 32 >= n;
    if (buffered > C - 32 || (last && buffered > 0)) {  // the next 32 might not fit, or the tile is done
      for (int t = C + buffered + lane; t < 2 * C; t += 32) sk[t] = INFINITY, si[t] = kNoId;
      __syncwarp();
      warp_bitonic_sort(sk, si, 2 * C, lane);
      for (int t = C + lane; t < 2 * C; t += 32) sk[t] = INFINITY, si[t] = kNoId;
      __syncwarp();
      buffered = 0;
      thr_k = sk[k - 1];
      thr_i = si[k - 1];
    }
  }
  for (int t = lane; t < C; t += 32) {
    gk[t] = sk[t];
    gi[t] = si[t];
  }
  if (lane == 0) count[row] = 0;
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

void search_tile_candidates(float* cand_keys, int64_t* cand_ids, int* count, const float* queries,
                            const float* qnorms, const float* base, const float* bnorms, const int64_t* ids,
                            const int64_t* exclude, const float* list_keys, const int64_t* list_ids, int64_t nq,
                            int64_t nt, int64_t d, int64_t k, SearchMetric metric, cudaStream_t stream) {
  const char* what = "cuda search_tile_candidates";
  check_int(what, nq, "nq");
  check_int(what, nt, "nt");
  check_int(what, d, "d");
  check_metric(what, metric);
  const int64_t C = search_list_capacity(k);
  if (nq == 0 || nt == 0) return;
  SIMAD_CHECK(cand_keys && cand_ids && count && queries && base && ids && list_keys && list_ids && d >= 1, what,
              ": null pointer or d < 1");
  SIMAD_CHECK(metric != SearchMetric::L2 || (qnorms && bnorms), what, ": L2 needs the norms");
  const CandidateSink sink{cand_keys, cand_ids, count, int(nt), list_keys, list_ids, int(C), int(k), exclude, ids};
  const unsigned vector_blocks = unsigned((nt + kTileRows - 1) / kTileRows);
  if (nq < kFewQueries) {
    SIMAD_LAUNCH(distance_rows_kernel, dim3(vector_blocks, unsigned((nq + kRowsQueries - 1) / kRowsQueries)),
                 dim3(kRowsThreads), 0, stream, sink, queries, qnorms, base, bnorms, int(nq), int(nt), int(d),
                 int(metric));
    return;
  }
  SIMAD_CHECK((nq + kTileRows - 1) / kTileRows <= 65535, what, ": nq=", nq,
              " above the grid's y limit (65535 x 128)");
  SIMAD_LAUNCH(distance_tile_kernel, dim3(vector_blocks, unsigned((nq + kTileRows - 1) / kTileRows)),
               dim3(kTileThreads), 0, stream, sink, queries, qnorms, base, bnorms, int(nq), int(nt), int(d),
               int(metric));
}

void search_topk_init(float* list_keys, int64_t* list_ids, int* count, int64_t nq, int64_t k, cudaStream_t stream) {
  check_int("cuda search_topk_init", nq, "nq");
  const int64_t total = nq * search_list_capacity(k);
  if (total == 0) return;
  SIMAD_CHECK(list_keys && list_ids && count, "cuda search_topk_init: null list or count");
  SIMAD_LAUNCH(topk_init_kernel, unsigned((total + 255) / 256), 256, 0, stream, list_keys, list_ids, count, total,
               nq);  // total >= nq: C >= 32
}

void search_topk_merge(float* list_keys, int64_t* list_ids, const float* cand_keys, const int64_t* cand_ids,
                       int* count, int64_t nq, int64_t nt, int64_t k, cudaStream_t stream) {
  const char* what = "cuda search_topk_merge";
  check_int(what, nq, "nq");
  check_int(what, nt, "nt");
  const int64_t C = search_list_capacity(k);
  if (nq == 0 || nt == 0) return;
  SIMAD_CHECK(list_keys && list_ids && cand_keys && cand_ids && count, what, ": null pointer");
  const size_t smem = size_t(2 * C) * (sizeof(float) + sizeof(int64_t));  // 24 KiB at k = 1024
  SIMAD_LAUNCH(topk_merge_kernel, unsigned(nq), 32, smem, stream, list_keys, list_ids, cand_keys, cand_ids, count,
               int(nt), int(k), int(C));
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
  const size_t C = size_t(search_list_capacity(k)), cand = size_t(nq) * size_t(tile_n);
  return align_up(size_t(nq) * 4) + align_up(size_t(nq) * 4) + align_up(cand * 4) + align_up(cand * 8) +
         align_up(size_t(nq) * C * 4) + align_up(size_t(nq) * C * 8);
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
  const size_t C = size_t(search_list_capacity(k)), cand = size_t(nq) * size_t(tile_n);
  unsigned char* w = static_cast<unsigned char*>(workspace);
  auto take = [&w](size_t bytes) {
    unsigned char* p = w;
    w += align_up(bytes);
    return p;
  };
  float* qn = reinterpret_cast<float*>(take(size_t(nq) * 4));
  int* count = reinterpret_cast<int*>(take(size_t(nq) * 4));
  float* cand_keys = reinterpret_cast<float*>(take(cand * 4));
  int64_t* cand_ids = reinterpret_cast<int64_t*>(take(cand * 8));
  float* lk = reinterpret_cast<float*>(take(size_t(nq) * C * 4));
  int64_t* li = reinterpret_cast<int64_t*>(take(size_t(nq) * C * 8));
  search_squared_norms(qn, queries, nq, d, stream);
  search_topk_init(lk, li, count, nq, k, stream);
  for (int64_t t0 = 0; t0 < n; t0 += tile_n) {
    const int64_t nt = n - t0 < tile_n ? n - t0 : tile_n;
    search_tile_candidates(cand_keys, cand_ids, count, queries, qn, base + t0 * d, bnorms + t0, ids + t0, exclude,
                           lk, li, nq, nt, d, k, metric, stream);
    search_topk_merge(lk, li, cand_keys, cand_ids, count, nq, nt, k, stream);
  }
  search_topk_finish(distances, labels, lk, li, nq, k, metric, stream);
}

}  // namespace simad::cuda::kernels
