// simad/cuda/kernels/search.hpp: exact top-k search on the GPU (kernels/search.cu), float, with the
// semantics of simad/search/flat_index.hpp: row i of (distances, labels) holds query i's k best by
// squared L2 (ascending) or inner product (descending), ties broken by the smaller id, id -1 and
// distance +inf (L2) / -inf (IP) in the slots beyond the candidates; `exclude` (nq) or nullptr
// removes id exclude[i] from query i's candidates. Pointers are device pointers; bad sizes throw
// simad::Error; asynchronous on `stream`.
//
// Pipeline (flat_search runs it; the pieces are public so a caller can stream its own tiles):
//   1. search_squared_norms: ||x||^2 per row, summed over d in order with fmaf;
//   2. search_topk_init: every query's list of its k best (key, id) so far, search_list_capacity(k) entries
//      sorted ascending, empty ((+inf, no id) entries), and its candidate count zeroed;
//   3. per tile of tile_n stored vectors:
//      a. search_tile_candidates forms every (query, vector) key (L2: max(||q||^2 + ||x||^2 - 2<q,x>, 0);
//         IP: -<q,x>), each dot product one fmaf chain over d in order (the arithmetic of the norms: a stored
//         copy of a query is at distance exactly 0; and the same bits whatever the batch or tile position:
//         results are batch-invariant). 128 x 128 keys per block (8 x 8 per thread), or, below 32 queries,
//         128 vectors x 4 queries per block (one vector per thread), so that nq = 1 still spreads the tile
//         over tile_n / 128 blocks. The keys never go to memory: only a key that beats its query's current
//         k-th list entry in the (key, id) order, and whose id is not the query's excluded one, is appended
//         to the query's candidates (one atomicAdd per thread and query). After the first tile that is a
//         small share of them;
//      b. search_topk_merge: one warp per query merges its candidates into its list (a candidate still better
//         than the current k-th is compacted with a warp ballot into a shared buffer; list + buffer are
//         bitonic-sorted by the warp when the buffer may overflow and at the end) and zeroes the count.
//         Exact: a candidate is dropped only when k kept ones are better in the total (key, id) order, so
//         the order in which the atomics appended them does not matter;
//   4. search_topk_finish: lists -> (distances, labels).
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

// Empty lists (every entry (+inf, no id)) and zero candidate counts.
void search_topk_init(float* list_keys,   // (nq, C)
                      int64_t* list_ids,  // (nq, C)
                      int* count,         // (nq)
                      int64_t nq, int64_t k, cudaStream_t stream = nullptr);

// Appends the tile's candidates of query i at cand_{keys,ids}[i * nt + count[i] ..] and adds their number to
// count[i] (which the previous merge, or init, left at 0): the keys better than list entry k - 1.
void search_tile_candidates(float* cand_keys,         // (nq, nt)
                            int64_t* cand_ids,        // (nq, nt)
                            int* count,               // (nq)
                            const float* queries,     // (nq, d)
                            const float* qnorms,      // (nq), L2 only
                            const float* base,        // (nt, d)
                            const float* bnorms,      // (nt), L2 only
                            const int64_t* ids,       // (nt) ids of the tile's vectors (>= 0)
                            const int64_t* exclude,   // (nq) or nullptr
                            const float* list_keys,   // (nq, C)
                            const int64_t* list_ids,  // (nq, C)
                            int64_t nq, int64_t nt, int64_t d, int64_t k, SearchMetric metric,
                            cudaStream_t stream = nullptr);

// Merges each query's count[i] candidates into its list; count[i] is 0 afterwards.
void search_topk_merge(float* list_keys,         // (nq, C)
                       int64_t* list_ids,        // (nq, C)
                       const float* cand_keys,   // (nq, nt)
                       const int64_t* cand_ids,  // (nq, nt)
                       int* count,               // (nq)
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
