// simad/cuda/kernels/search.hpp: exact top-k search on the GPU (kernels/search.cu), float, with the
// semantics of simad/search/flat_index.hpp: row i of (distances, labels) holds query i's k best by
// squared L2 (ascending) or inner product (descending), ties broken by the smaller id, id -1 and
// distance +inf (L2) / -inf (IP) in the slots beyond the candidates; `exclude` (nq) or nullptr
// removes id exclude[i] from query i's candidates. Pointers are device pointers; bad sizes throw
// simad::Error; asynchronous on `stream`.
//
// Pipeline (flat_search runs it; the pieces are public so a caller can stream its own tiles):
//   1. search_squared_norms: ||x||^2 per row, summed over d in order with fmaf;
//   2. per tile of tile_n stored vectors: search_distance_tile writes the (nq, tile_n) keys
//      (L2: max(||q||^2 + ||x||^2 - 2<q,x>, 0); IP: -<q,x>) with 128 x 128 shared-memory tiles (8 x 8
//      keys per thread) whose every dot product is one fmaf chain over d in order (the same arithmetic as the
//      norms: a stored copy of a query is at distance exactly 0; and whatever the batch or tile
//      position: results are batch-invariant);
//   3. search_topk_merge: one warp per query keeps the query's k best (key, id) sorted in a list of
//      search_list_capacity(k) entries; candidates better than the current k-th are compacted with a
//      warp ballot into a shared-memory buffer of the same size, and when it may overflow (and at
//      the end of the tile) list + buffer are bitonic-sorted by the warp and the first half kept.
//      Exact: a candidate is dropped only when k kept ones are better in the total (key, id) order.
//   4. search_topk_finish: lists -> (distances, labels).
// The distance matrix never exists beyond one (nq, tile_n) tile.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace simad::cuda::kernels {

enum class SearchMetric : int { L2 = 1, InnerProduct = 2 };  // the values of simad::search::Metric

inline constexpr int64_t kSearchMaxK = 1024;

// Entries per query list for k: the next power of two >= max(k, 32).
int64_t search_list_capacity(int64_t k);

void search_squared_norms(float* norms,    // (n)
                          const float* x,  // (n, d)
                          int64_t n, int64_t d, cudaStream_t stream = nullptr);

void search_distance_tile(float* keys,           // (nq, nt)
                          const float* queries,  // (nq, d)
                          const float* qnorms,   // (nq)
                          const float* base,     // (nt, d)
                          const float* bnorms,   // (nt)
                          int64_t nq, int64_t nt, int64_t d, SearchMetric metric, cudaStream_t stream = nullptr);

// Empty lists (every entry (+inf, no id)).
void search_topk_init(float* list_keys,     // (nq, C)
                      int64_t* list_ids,    // (nq, C)
                      int64_t nq, int64_t k, cudaStream_t stream = nullptr);

// Merges a tile's candidates into the lists.
void search_topk_merge(float* list_keys,       // (nq, C)
                       int64_t* list_ids,      // (nq, C)
                       const float* keys,      // (nq, nt) from search_distance_tile
                       const int64_t* ids,     // (nt) ids of the tile's vectors (>= 0)
                       const int64_t* exclude, // (nq) or nullptr
                       int64_t nq, int64_t nt, int64_t k, cudaStream_t stream = nullptr);

void search_topk_finish(float* distances,         // (nq, k)
                        int64_t* labels,          // (nq, k)
                        const float* list_keys,   // (nq, C)
                        const int64_t* list_ids,  // (nq, C)
                        int64_t nq, int64_t k, SearchMetric metric, cudaStream_t stream = nullptr);

// Bytes of workspace flat_search needs.
size_t flat_search_workspace_bytes(int64_t nq, int64_t k, int64_t tile_n);

// The whole search of nq queries among n stored vectors (their norms precomputed by
// search_squared_norms), tile_n stored vectors at a time.
void flat_search(float* distances,        // (nq, k)
                 int64_t* labels,         // (nq, k)
                 const float* queries,    // (nq, d)
                 int64_t nq,
                 const float* base,       // (n, d)
                 const float* bnorms,     // (n)
                 const int64_t* ids,      // (n)
                 int64_t n, int64_t d, int64_t k, SearchMetric metric,
                 const int64_t* exclude,  // (nq) or nullptr
                 void* workspace, size_t workspace_bytes, int64_t tile_n, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
