// simad/search/flat_index.hpp: FlatIndex<T>, exact nearest-neighbour search by squared L2 distance
// or inner product over vectors with 64-bit ids (what FAISS' IndexFlatL2 / IndexIDMap2 give), CPU.
//
//   simad::search::FlatIndex<float> index(128);                 // dim 128, Metric::L2
//   index.add(vectors, ids, n);                                 // (n, 128) row-major, ids >= 0, unique
//   index.remove(id);                                           // the other ids keep their numbers
//   index.search(queries, nq, k, distances, labels);            // (nq, k) each, best first
//   index.search(queries, nq, k, distances, labels, self_ids);  // skips id self_ids[i] for query i
//
// Results: row i holds query i's k best, sorted by distance ascending (L2) or by inner product
// descending, ties broken by the smaller id. When k exceeds the number of candidates (the pool, less
// an excluded self) the missing slots hold id -1 and distance +inf (L2) or -inf (inner product).
// Squared L2 distances are computed as ||q||^2 + ||x||^2 - 2<q, x> and clamped at 0, so they are
// never negative (identical vectors get exactly 0: same arithmetic on both sides).
//
// Batch invariance: a query gets the same ids and bit-identical distances whether it is searched
// alone, in a batch of 1000, on 1 thread or on 64. Every <q, x> is computed by the same sequence of
// operations whatever the batch: simad's own micro-kernel (not a GEMM library, whose blocking and
// kernel choice depend on the matrix sizes, faiss#297/#563/#806) accumulates each dot product in
// one register lane, over the dimensions in order, from 0, with fused multiply-adds (float; double:
// multiply then add), and the selection order (distance, id) is total, so how candidates are split
// between threads and merged cannot change the result (search/topk.hpp). The kernel is chosen at run
// time (cpu::isa(): AVX-512, AVX2 + FMA or portable C++, each compiled with a target attribute, not
// -march); all of them give the same bits, so a forced lower level (SIMAD_CPU_ISA, cpu::IsaScope)
// changes the speed only.
//
// Layout and loop (docs/search.md has the numbers): vectors are stored in blocks of kLanes (16
// floats: one AVX-512 register) transposed, block[dim][lane], with their squared norms. A search
// takes the queries in blocks of kQueryBlock; each thread scans its own contiguous range of the
// stored blocks (so one query is split across the threads too), two blocks (32 vectors, 16 KB at
// d = 128, L1-resident) at a time against every query of the block, 14 queries at a time on AVX-512
// (14 x 32 dot products in 28 registers; 6 x 16 on AVX2); up to 3 queries meet 8 blocks at a time
// instead (enough independent FMA chains and memory streams for a single query). The distances leave
// the registers only to be compared with each query's current k-th best, so the nq x N distance
// matrix never exists: memory is bounded by kQueryBlock x k candidates per thread. Per-thread lists
// are merged at the end of each query block.
//
// The int8 prefilter (float, L2; search/int8_prefilter.hpp, set_prefilter): where the CPU has
// AVX512-VNNI, an int8 copy of the vectors is scanned first for a lower and an upper bound of every
// exact key, and only the blocks that can hold one of the k best are scanned by the exact kernel
// above: a quarter of the bytes and instructions for the scan, the same results bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIMAD_SEARCH_X86 1
// The kernels are compiled for their instruction set by target attributes (not -march), so one binary
// carries all of them and cpu::isa() picks one at run time (as ops/cpu/sgemm_tiles.hpp does).
#define SIMAD_SEARCH_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define SIMAD_SEARCH_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

#include "simad/core/cpu_features.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/search/int8_prefilter.hpp"
#include "simad/search/topk.hpp"

// Full unrolling of the register-tile loops (over query rows and register halves): without it GCC
// keeps the accumulators in memory and the micro-kernel runs ~8x slower.
#if defined(__CUDACC__)
#define SIMAD_UNROLL
#else
#define SIMAD_UNROLL _Pragma("GCC unroll 16")
#endif

namespace simad::search {

enum class Metric : uint32_t {
  L2 = 1,            // squared Euclidean distance, smaller is nearer
  InnerProduct = 2,  // <q, x>, larger is nearer
};

inline const char* metric_name(Metric m) { return m == Metric::L2 ? "l2" : "ip"; }

namespace detail {

// Whether dot products are accumulated with fused multiply-adds: always for float (the AVX-512 and
// AVX2 kernels use FMA instructions, the portable one std::fma, so every ISA level gives the same
// bits and an index built under one level can be searched under another), multiply then add for
// double (only the portable kernel exists for it, and std::fma may be a library call).
template <typename T>
inline constexpr bool kFusedDot = std::is_same_v<T, float>;

// ||x||^2 summed over the dimensions in order with the micro-kernel's arithmetic: queries and stored
// vectors use this same function, so ||x||^2 == <x, x> bit for bit and a stored copy of a query is at
// distance exactly 0 from it.
template <typename T>
inline T squared_norm(const T* x, int64_t d) {
  T s = 0;
  for (int64_t j = 0; j < d; ++j) {
    if constexpr (kFusedDot<T>) s = std::fma(x[j], x[j], s);
    else s += x[j] * x[j];
  }
  return s;
}

// Throws unless every element of row-major rows (n, d) is finite and every squared norm too (a
// vector of norm^2 = inf would turn distances into NaN).
template <typename T>
inline void check_finite_rows(const T* x, int64_t n, int64_t d, const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * d;
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(row[j])) fail(what, ": row ", i, " column ", j, " is ", double(row[j]), " (NaN or inf)");
    if (!std::isfinite(squared_norm(row, d))) fail(what, ": row ", i, " has a squared norm that overflows");
  }
}

}  // namespace detail

template <typename T>
class FlatIndex {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "FlatIndex: float or double");

 public:
  static constexpr int64_t kLanes = 64 / int64_t(sizeof(T));  // vectors per stored block
  static constexpr int64_t kQueryBlock = 512;                 // queries scanned together
  explicit FlatIndex(int64_t dim, Metric metric = Metric::L2) : dim_(dim), metric_(metric) {
    SIMAD_CHECK(dim >= 1 && dim <= (int64_t(1) << 24), "FlatIndex: dimension must be in [1, 2^24], got ", dim);
    SIMAD_CHECK(metric == Metric::L2 || metric == Metric::InnerProduct, "FlatIndex: unknown metric ",
                uint32_t(metric));
    set_prefilter(Prefilter::automatic);
  }

  // The int8 prefilter (search/int8_prefilter.hpp): float, L2 and dim <= 65536 only; results are the
  // exact search's, bit for bit, with it or without it. automatic (the default) keeps the int8 copy
  // (a quarter of the vectors' bytes again) where the CPU has AVX512-VNNI; off drops it; int8 keeps and
  // uses it everywhere (the portable loop where the CPU lacks the instructions: tests).
  void set_prefilter(Prefilter p) {
    prefilter_ = p;
    keep_int8_ = std::is_same_v<T, float> && metric_ == Metric::L2 && dim_ <= Int8Blocks::kMaxDim &&
                 (p == Prefilter::int8 || (p == Prefilter::automatic && cpu::features().avx512_vnni));
    int8_ = keep_int8_ ? Int8Blocks(dim_) : Int8Blocks();
    if (!keep_int8_ || empty()) return;
    if constexpr (std::is_same_v<T, float>) {
      std::vector<float> all(size_t(size() * dim_));
      for (int64_t i = 0; i < size(); ++i) vector_at(i, all.data() + i * dim_);
      int8_.set_centre(all.data(), size());
      int8_.resize(size());
      for (int64_t i = 0; i < size(); ++i) int8_.put(i, all.data() + i * dim_, norms_[size_t(i)]);
    }
  }
  Prefilter prefilter() const { return prefilter_; }
  // What a search would scan first now: "AVX512-VNNI", "portable int8" or "off" (fp32 scan only).
  const char* prefilter_kernel() const {
    if (!prefilter_active()) return "off";
    return detail::prefilter_cpu_has_vnni() ? "AVX512-VNNI" : "portable int8";
  }
  // Bytes held for the vectors (fp32 blocks, norms, ids; and the int8 copy when kept).
  size_t memory_bytes() const {
    return data_.size() * sizeof(T) + norms_.size() * sizeof(T) + ids_.size() * sizeof(int64_t) + int8_.bytes();
  }

  // The kernel a search would use now (cpu::isa()), named for benchmark headers.
  static const char* kernel_name() {
    if constexpr (std::is_same_v<T, float>) {
#if defined(SIMAD_SEARCH_X86)
      if (cpu::isa() == cpu::Isa::avx512) return "AVX-512 (14 queries x 32 vectors; 1-3 queries x 128 vectors)";
      if (cpu::isa() == cpu::Isa::avx2) return "AVX2+FMA (6 queries x 16 vectors)";
#endif
    }
    return "portable C++";
  }

  int64_t dim() const { return dim_; }
  Metric metric() const { return metric_; }
  int64_t size() const { return int64_t(ids_.size()); }
  bool empty() const { return ids_.empty(); }
  bool contains(int64_t id) const { return pos_.count(id) != 0; }

  // Stored ids in storage order (remove() moves the last vector into the hole) and vector i of that order.
  std::span<const int64_t> ids() const { return ids_; }
  void vector_at(int64_t i, T* out) const {
    SIMAD_CHECK(i >= 0 && i < size(), "FlatIndex::vector_at: position ", i, " out of [0, ", size(), ")");
    const T* blk = block(i / kLanes);
    for (int64_t j = 0; j < dim_; ++j) out[j] = blk[j * kLanes + i % kLanes];
  }
  std::vector<T> vector_of(int64_t id) const {
    auto it = pos_.find(id);
    SIMAD_CHECK(it != pos_.end(), "FlatIndex: no vector with id ", id);
    std::vector<T> v(static_cast<size_t>(dim_));
    vector_at(it->second, v.data());
    return v;
  }

  // Appends n vectors (n, dim) with their ids. Nothing is added when anything is wrong: a NaN/inf
  // element (error names the row), a negative id (-1 marks missing results) or an id already present.
  void add(const T* vectors,     // (n, dim)
           const int64_t* ids,   // (n)
           int64_t n) {
    SIMAD_CHECK(n >= 0, "FlatIndex::add: negative count ", n);
    if (n == 0) return;
    SIMAD_CHECK(vectors != nullptr && ids != nullptr, "FlatIndex::add: null vectors or ids");
    detail::check_finite_rows(vectors, n, dim_, "FlatIndex::add");
    std::unordered_map<int64_t, int64_t> fresh;
    for (int64_t i = 0; i < n; ++i) {
      SIMAD_CHECK(ids[i] >= 0, "FlatIndex::add: row ", i, " has negative id ", ids[i]);
      SIMAD_CHECK(!contains(ids[i]), "FlatIndex::add: row ", i, " id ", ids[i], " is already in the index");
      SIMAD_CHECK(fresh.emplace(ids[i], i).second, "FlatIndex::add: row ", i, " repeats id ", ids[i]);
    }
    const int64_t old = size(), total = old + n;
    data_.resize(size_t((total + kLanes - 1) / kLanes * kLanes * dim_), T(0));
    norms_.resize(size_t((total + kLanes - 1) / kLanes * kLanes), T(0));
    ids_.resize(size_t(total));
    if constexpr (std::is_same_v<T, float>) {
      if (keep_int8_) {
        if (!int8_.has_centre()) int8_.set_centre(vectors, n);
        int8_.resize(total);
      }
    }
    for (int64_t i = 0; i < n; ++i) put(old + i, vectors + i * dim_, ids[i]);
  }
  // Convenience: ids start, start + 1, ...
  void add_sequential(const T* vectors, int64_t n, int64_t first_id) {
    std::vector<int64_t> ids(size_t(std::max<int64_t>(n, 0)));
    for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = first_id + i;
    add(vectors, ids.data(), n);
  }

  // Removes the vector with this id (the last stored vector takes its place; ids never change).
  // Returns false when the id is not present.
  bool remove(int64_t id) {
    auto it = pos_.find(id);
    if (it == pos_.end()) return false;
    const int64_t p = it->second, last = size() - 1;
    pos_.erase(it);
    if (p != last) {
      std::vector<T> v(static_cast<size_t>(dim_));
      vector_at(last, v.data());
      const int64_t moved = ids_[size_t(last)];
      put(p, v.data(), moved);
    }
    T* blk = block(last / kLanes);
    for (int64_t j = 0; j < dim_; ++j) blk[j * kLanes + last % kLanes] = T(0);
    norms_[size_t(last)] = T(0);
    ids_.pop_back();
    data_.resize(size_t((size() + kLanes - 1) / kLanes * kLanes * dim_));
    norms_.resize(size_t((size() + kLanes - 1) / kLanes * kLanes));
    if (keep_int8_) {
      int8_.erase(last);
      int8_.resize(size());
    }
    return true;
  }
  void clear() {
    data_.clear();
    norms_.clear();
    ids_.clear();
    pos_.clear();
    if (keep_int8_) int8_ = Int8Blocks(dim_);
  }

  // The k best stored vectors for each of nq queries (see the top of the file for the order and the
  // missing slots). exclude_ids (nq) or nullptr: query i never gets id exclude_ids[i] (its own id
  // when the queries come from the pool; -1 excludes nothing).
  void search(const T* queries,          // (nq, dim)
              int64_t nq, int64_t k,
              T* distances,              // (nq, k)
              int64_t* labels,           // (nq, k)
              const int64_t* exclude_ids = nullptr) const {
    SIMAD_CHECK(k >= 1, "FlatIndex::search: k must be >= 1, got ", k);
    SIMAD_CHECK(nq >= 0, "FlatIndex::search: negative query count ", nq);
    SIMAD_CHECK(!empty(), "FlatIndex::search: the index is empty");
    if (nq == 0) return;
    SIMAD_CHECK(queries != nullptr && distances != nullptr && labels != nullptr,
                "FlatIndex::search: null queries or outputs");
    detail::check_finite_rows(queries, nq, dim_, "FlatIndex::search: query");
    const int64_t cap = std::min<int64_t>(k, size());
    const int64_t nblocks = (size() + kLanes - 1) / kLanes;
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(num_threads(), nblocks));
    std::vector<T> qnorm(size_t(std::min(nq, kQueryBlock)));
    std::vector<Candidate<T>> store(size_t(parts * std::min(nq, kQueryBlock) * cap));
    const cpu::Isa isa = cpu::isa();  // once per call: a whole search runs one kernel family
    const bool prefiltered = prefilter_active();
    for (int64_t q0 = 0; q0 < nq; q0 += kQueryBlock) {
      const int64_t nb = std::min(kQueryBlock, nq - q0);
      const T* qb = queries + q0 * dim_;
      for (int64_t r = 0; r < nb; ++r) qnorm[size_t(r)] = detail::squared_norm(qb + r * dim_, dim_);
      const int64_t* ex = exclude_ids ? exclude_ids + q0 : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (prefiltered) {
          search_prefiltered(qb, qnorm.data(), nb, ex, cap, k, distances + q0 * k, labels + q0 * k, parts, isa);
          continue;
        }
      }
      std::vector<KSelect<T>> sel(size_t(parts * nb));
      for (int64_t i = 0; i < parts * nb; ++i) sel[size_t(i)] = KSelect<T>(store.data() + i * cap, cap);
      parallel_for(parts, 1, [&](int64_t pb, int64_t pe) {
        for (int64_t p = pb; p < pe; ++p)
          scan(qb, qnorm.data(), nb, ex, p * nblocks / parts, (p + 1) * nblocks / parts, sel.data() + p * nb, isa);
      });
      // Merge the parts' lists: select_sorted's order is total, so the split does not matter.
      parallel_for(nb, 16, [&](int64_t rb, int64_t re) {
        std::vector<Candidate<T>> all;
        for (int64_t r = rb; r < re; ++r) {
          all.clear();
          for (int64_t p = 0; p < parts; ++p) {
            const auto items = sel[size_t(p * nb + r)].items();
            all.insert(all.end(), items.begin(), items.end());
          }
          T* dist = distances + (q0 + r) * k;
          select_sorted(std::span<Candidate<T>>(all), k, dist, labels + (q0 + r) * k,
                        std::numeric_limits<T>::infinity());
          if (metric_ == Metric::InnerProduct)
            for (int64_t j = 0; j < k; ++j) dist[j] = T(0) - dist[j];  // keys are -<q, x>: +inf -> -inf
        }
      });
    }
  }

  // Convenience: results as vectors (nq * k each).
  struct Result {
    std::vector<T> distances;
    std::vector<int64_t> labels;
  };
  Result search(const T* queries, int64_t nq, int64_t k, const int64_t* exclude_ids = nullptr) const {
    SIMAD_CHECK(k >= 1 && nq >= 0, "FlatIndex::search: k must be >= 1 and nq >= 0, got k=", k, " nq=", nq);
    Result r{std::vector<T>(size_t(nq * k)), std::vector<int64_t>(size_t(nq * k))};
    search(queries, nq, k, r.distances.data(), r.labels.data(), exclude_ids);
    return r;
  }

 private:
  T* block(int64_t b) { return data_.data() + b * kLanes * dim_; }
  const T* block(int64_t b) const { return data_.data() + b * kLanes * dim_; }

  void put(int64_t p, const T* v, int64_t id) {
    T* blk = block(p / kLanes);
    for (int64_t j = 0; j < dim_; ++j) blk[j * kLanes + p % kLanes] = v[j];
    norms_[size_t(p)] = detail::squared_norm(v, dim_);
    ids_[size_t(p)] = id;
    pos_[id] = p;
    if constexpr (std::is_same_v<T, float>)
      if (keep_int8_) int8_.put(p, v, norms_[size_t(p)]);
  }

  // Candidates of queries (nb, dim) against stored blocks [b0, b1) into sel (nb), with the kernel of
  // `isa` (float; double always takes the portable one). The tiles differ only in how many queries and
  // blocks share a pass over the dimensions, never in the arithmetic of one <q, x> (one fused chain in
  // one lane), so the shape chosen for a batch size cannot change a result.
  void scan(const T* q, const T* qnorm, int64_t nb, const int64_t* ex, int64_t b0, int64_t b1, KSelect<T>* sel,
            cpu::Isa isa) const {
    std::vector<T> thr(size_t(nb), std::numeric_limits<T>::infinity());
    const auto at = [&](int64_t r0) {
      return Rows{q + r0 * dim_, qnorm + r0, ex ? ex + r0 : nullptr, sel + r0, thr.data() + r0};
    };
#if defined(SIMAD_SEARCH_X86)
    if constexpr (std::is_same_v<T, float>) {
      if (isa == cpu::Isa::avx512 && nb <= kFewRows) {
        // Few queries (latency): 8 blocks per pass, so the FMA chains of R x 8 accumulators overlap
        // and 8 streams of the base are in flight; the base is read once, from memory, at its speed.
        int64_t b = b0;
        for (; b + 8 <= b1; b += 8) rows_avx512<8, false>(int(nb), at(0), b);
        for (; b < b1; ++b) rows_avx512<1, false>(int(nb), at(0), b);
        return;
      }
      if (isa == cpu::Isa::avx512) {
        // Batches: two blocks (32 vectors, 16 KB at d = 128) stay in L1 while every query of the
        // batch (in L2) passes over them, 14 at a time: 28 accumulators + 2 vectors + 1 broadcast of
        // the 32 zmm registers, 16 loads per 28 FMAs. The queries are first copied into panels of 14
        // rows, dimension-major, so a tile's broadcasts come from one pointer and one cache line per
        // dimension (14 row pointers would not fit the general registers: GCC spills them, -30%).
        const int64_t panels = (nb + kRows512 - 1) / kRows512;
        std::vector<T> packed(size_t(panels * kRows512 * dim_), T(0));
        for (int64_t r = 0; r < nb; ++r)
          for (int64_t j = 0; j < dim_; ++j)
            packed[size_t((r / kRows512) * kRows512 * dim_ + j * kRows512 + r % kRows512)] = q[r * dim_ + j];
        for (int64_t b = b0; b < b1; b += 2) {
          for (int64_t r0 = 0; r0 < nb; r0 += kRows512) {
            const int rows = int(std::min<int64_t>(kRows512, nb - r0));
            Rows t = at(r0);
            t.q = packed.data() + r0 * dim_;
            if (b + 1 < b1) rows_avx512<2>(rows, t, b);
            else rows_avx512<1>(rows, t, b);
          }
        }
        return;
      }
      if (isa == cpu::Isa::avx2) {
        for (int64_t b = b0; b < b1; b += 2) {
          for (int64_t r0 = 0; r0 < nb; r0 += kRows2) {
            const int rows = int(std::min<int64_t>(kRows2, nb - r0));
            if (b + 1 < b1) rows_avx2<2>(rows, at(r0), b);
            else rows_avx2<1>(rows, at(r0), b);
          }
        }
        return;
      }
    }
#else
    (void)isa;
#endif
    for (int64_t b = b0; b < b1; b += 2) {
      for (int64_t r0 = 0; r0 < nb; r0 += kRowsGeneric) {
        const int rows = int(std::min<int64_t>(kRowsGeneric, nb - r0));
        if (b + 1 < b1) rows_generic<2>(rows, at(r0), b);
        else rows_generic<1>(rows, at(r0), b);
      }
    }
  }

  bool prefilter_active() const {
    if (!keep_int8_ || !int8_.in_range()) return false;
    return prefilter_ == Prefilter::int8 || detail::prefilter_cpu_has_vnni();
  }

  // One query in one part of the prefiltered scan: upper bounds (the k smallest of all seen are among
  // them), a threshold >= the k-th smallest of them, and the positions whose lower bound passed it.
  struct PrefilterState {
    std::vector<float> uppers;  // at most 2 cap: trimmed to the cap smallest when it fills (nth_element,
                                // amortised O(1) a bound; a heap costs log k for each)
    float threshold = std::numeric_limits<float>::infinity();
    std::vector<Candidate<float>> kept;  // (lower bound, position)
    size_t next_compaction = 0;
    bool exact = false;  // the query takes the exact scan of every block (out of range, or too many kept)

    void add_upper(float u, int64_t cap) {
      if (u >= threshold) return;  // k bounds <= threshold exist already
      uppers.push_back(u);
      if (int64_t(uppers.size()) == 2 * cap) {
        std::nth_element(uppers.begin(), uppers.begin() + (cap - 1), uppers.end());
        threshold = uppers[size_t(cap - 1)];
        uppers.resize(size_t(cap));
      }
    }
  };
  // Beyond this many kept positions (after dropping those above the threshold) a query is searched
  // exactly instead: data with many equidistant vectors (duplicates) would keep them all.
  static int64_t prefilter_keep_limit(int64_t cap) { return 4096 + 16 * cap; }

  // The prefiltered search of one query block (float, L2): int8 scan of every block for lower and
  // upper bounds (search/int8_prefilter.hpp), then the exact kernel over the blocks that hold a kept
  // position, and the usual selection. Writes rows (nb, k) of distances and labels.
  void search_prefiltered(const float* qb, const float* qnorm, int64_t nb, const int64_t* ex, int64_t cap, int64_t k,
                          float* distances, int64_t* labels, int64_t parts, cpu::Isa isa) const {
    const int64_t np = int8_.quads(), nblocks = (size() + kLanes - 1) / kLanes;
    std::vector<uint32_t> words(size_t(nb * np));
    std::vector<PrefilterQuery> consts(static_cast<size_t>(nb));
    std::vector<char> in_range(static_cast<size_t>(nb));
    for (int64_t r = 0; r < nb; ++r)
      in_range[size_t(r)] = int8_.prepare(qb + r * dim_, qnorm[r], words.data() + r * np, consts[size_t(r)]);
    const bool hw = detail::prefilter_cpu_has_vnni();
    std::vector<uint32_t> panels;  // the batch tile's queries, kPanelRows words per quad of dims
    if (hw && nb > kFewRows) {
      constexpr int64_t P = prefilter::kPanelRows;
      panels.assign(size_t((nb + P - 1) / P * P * np), 0u);
      for (int64_t r = 0; r < nb; ++r)
        for (int64_t j = 0; j < np; ++j) panels[size_t((r / P) * P * np + j * P + r % P)] = words[size_t(r * np + j)];
    }
    std::vector<PrefilterState> states(size_t(parts * nb));
    for (int64_t i = 0; i < parts * nb; ++i) {
      states[size_t(i)].uppers.reserve(size_t(2 * cap));
      states[size_t(i)].next_compaction = size_t(2 * cap + 64);
      states[size_t(i)].exact = !in_range[size_t(i % nb)];
    }
    parallel_for(parts, 1, [&](int64_t pb, int64_t pe) {
      for (int64_t p = pb; p < pe; ++p)
        scan_int8(words.data(), panels.data(), consts.data(), nb, ex, p * nblocks / parts, (p + 1) * nblocks / parts,
                  states.data() + p * nb, cap, hw);
    });
    parallel_for(nb, 4, [&](int64_t rb, int64_t re) {
      std::vector<Candidate<float>> all, exact_store(static_cast<size_t>(cap));
      std::vector<float> uppers;
      std::vector<int64_t> blocks;
      for (int64_t r = rb; r < re; ++r) {
        const float* q = qb + r * dim_;
        const int64_t* exr = ex ? ex + r : nullptr;
        bool exact = false;
        uppers.clear();
        for (int64_t p = 0; p < parts; ++p) {
          const PrefilterState& st = states[size_t(p * nb + r)];
          exact = exact || st.exact;
          uppers.insert(uppers.end(), st.uppers.begin(), st.uppers.end());
        }
        KSelect<float> sel(exact_store.data(), cap);
        if (exact) {
          scan(q, qnorm + r, 1, exr, 0, nblocks, &sel, isa);
        } else {
          // U: the k-th smallest upper bound (+inf with fewer than k candidates in all).
          float bound = std::numeric_limits<float>::infinity();
          if (int64_t(uppers.size()) >= cap) {
            std::nth_element(uppers.begin(), uppers.begin() + (cap - 1), uppers.end());
            bound = uppers[size_t(cap - 1)];
          }
          blocks.clear();
          for (int64_t p = 0; p < parts; ++p)
            for (const auto& c : states[size_t(p * nb + r)].kept)
              if (c.key <= bound) blocks.push_back(c.id / kLanes);
          std::sort(blocks.begin(), blocks.end());
          blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
          // No key above U can be among the k best: the selection's ceiling spares most pushes.
          sel = KSelect<float>(exact_store.data(), cap, bound);
          rescan_blocks(q, qnorm + r, exr, blocks, sel, isa);
        }
        const auto items = sel.items();
        all.assign(items.begin(), items.end());
        select_sorted(std::span<Candidate<float>>(all), k, distances + r * k, labels + r * k,
                      std::numeric_limits<float>::infinity());
      }
    });
  }

  // The exact scan of one query over some blocks (sorted, distinct) into sel. AVX-512: 8 blocks per pass
  // wherever they are (8 independent fused chains; one block alone would wait on the FMA latency).
  void rescan_blocks(const float* q, const float* qn, const int64_t* ex, const std::vector<int64_t>& blocks,
                     KSelect<float>& sel, cpu::Isa isa) const {
    size_t i = 0;
#if defined(SIMAD_SEARCH_X86)
    if (isa == cpu::Isa::avx512) {
      float thr = sel.threshold();
      const Rows t{q, qn, ex, &sel, &thr};
      for (; i + 8 <= blocks.size(); i += 8) gather_avx512<8>(t, blocks.data() + i);
      for (; i < blocks.size(); ++i) gather_avx512<1>(t, blocks.data() + i);
      return;
    }
#endif
    while (i < blocks.size()) {  // runs of consecutive blocks, one scan each
      size_t j = i + 1;
      while (j < blocks.size() && blocks[j] == blocks[j - 1] + 1) ++j;
      scan(q, qn, 1, ex, blocks[i], blocks[j - 1] + 1, &sel, isa);
      i = j;
    }
  }

  // The int8 scan of blocks [b0, b1) for queries (nb) into states (nb): AVX512-VNNI tiles where the
  // CPU has them (hw), else the portable loop.
  void scan_int8(const uint32_t* words, const uint32_t* panels, const PrefilterQuery* consts, int64_t nb,
                 const int64_t* ex, int64_t b0, int64_t b1, PrefilterState* states, int64_t cap, bool hw) const {
    const int64_t np = int8_.quads(), n = size();
    std::vector<float> thr(static_cast<size_t>(nb));
    for (int64_t r = 0; r < nb; ++r)
      thr[size_t(r)] = states[r].exact ? -std::numeric_limits<float>::infinity() : states[r].threshold;
    int64_t r0 = 0;  // the tile's first row, read by emit
    const auto emit = [&](int row, int64_t blk, const float* lower, const float* upper, uint32_t mask) {
      const int64_t r = r0 + row;
      PrefilterState& st = states[r];
      const int64_t skip = ex ? ex[r] : -1;
      while (mask) {
        const int c = __builtin_ctz(mask);
        mask &= mask - 1;
        const int64_t pos = blk * kLanes + c;
        if (pos >= n) break;  // padding lanes of the last block
        if (ids_[size_t(pos)] == skip) continue;
        st.kept.push_back({lower[c], pos});
        st.add_upper(upper[c], cap);
      }
      float t = st.threshold;
      if (st.kept.size() >= st.next_compaction) {
        std::erase_if(st.kept, [t](const Candidate<float>& c) { return c.key > t; });
        st.next_compaction = std::max(st.next_compaction, 2 * st.kept.size());
        if (int64_t(st.kept.size()) > prefilter_keep_limit(cap)) {
          st.exact = true;
          st.kept.clear();
          st.kept.shrink_to_fit();
          t = -std::numeric_limits<float>::infinity();
        }
      }
      thr[size_t(r)] = t;
    };
#if defined(SIMAD_PREFILTER_X86)
    if (hw && nb <= kFewRows) {
      // Few queries: 8 blocks per pass (8 streams of the base in flight; the scan is bound by memory).
      const prefilter::Tile t{words, consts, thr.data()};
      const auto few = [&](auto rows, auto blocks_per_pass, int64_t b) {
        prefilter::tile_avx512vnni<decltype(rows)::value, decltype(blocks_per_pass)::value, false>(int8_, t, b, emit);
      };
      int64_t b = b0;
      for (; b + 8 <= b1; b += 8) dispatch_rows<3>(int(nb), [&](auto rows) { few(rows, std::integral_constant<int, 8>{}, b); });
      for (; b < b1; ++b) dispatch_rows<3>(int(nb), [&](auto rows) { few(rows, std::integral_constant<int, 1>{}, b); });
      return;
    }
    if (hw) {
      constexpr int64_t P = prefilter::kPanelRows;
      for (int64_t b = b0; b < b1; b += 2) {
        for (r0 = 0; r0 < nb; r0 += P) {
          const prefilter::Tile t{panels + r0 * np, consts + r0, thr.data() + r0};
          const int rows = int(std::min<int64_t>(P, nb - r0));
          if (b + 1 < b1)
            dispatch_rows<P>(rows, [&](auto R) { prefilter::tile_avx512vnni<decltype(R)::value, 2, true>(int8_, t, b, emit); });
          else
            dispatch_rows<P>(rows, [&](auto R) { prefilter::tile_avx512vnni<decltype(R)::value, 1, true>(int8_, t, b, emit); });
        }
      }
      return;
    }
#endif
    (void)hw;
    for (int64_t b = b0; b < b1; ++b) {
      for (r0 = 0; r0 < nb; ++r0) {
        const prefilter::Tile t{words + r0 * np, consts + r0, thr.data() + r0};
        prefilter::tile_portable<1, 1>(int8_, t, b, emit);
      }
    }
  }

  // Calls f(std::integral_constant<int, rows>) for rows in [1, R].
  template <int R, typename F>
  static void dispatch_rows(int rows, F&& f) {
    if constexpr (R > 1) {
      if (rows == R) return f(std::integral_constant<int, R>{});
      return dispatch_rows<R - 1>(rows, f);
    } else {
      return f(std::integral_constant<int, 1>{});
    }
  }

  // A tile's queries: their rows, squared norms, excluded ids (or null), selections and thresholds.
  struct Rows {
    const T* q;  // row-major (R, dim); the AVX-512 batch tile reads a packed panel instead (pack_queries)
    const T* qn;
    const int64_t* ex;
    KSelect<T>* sel;
    T* thr;
  };

  static constexpr int kRows512 = 14;     // AVX-512 tile rows for batches
  static constexpr int64_t kFewRows = 3;  // up to this many queries: the AVX-512 tile 3 x 8 blocks
  static constexpr int kRows2 = 6;        // AVX2: 6 x 16 dot products in 12 ymm
  static constexpr int kRowsGeneric = 4;

  template <int NB>
  void rows_generic(int rows, const Rows& t, int64_t b) const {
    switch (rows) {
      case 4: tile_generic<4, NB>(t, b); break;
      case 3: tile_generic<3, NB>(t, b); break;
      case 2: tile_generic<2, NB>(t, b); break;
      default: tile_generic<1, NB>(t, b); break;
    }
  }

  // Offers the candidates of one tile row whose key passed the threshold test: lanes in `mask`.
  void offer(const T* keys, uint32_t mask, int64_t first_pos, int64_t ex, KSelect<T>& sel, T& thr) const {
    const int64_t n = size();
    while (mask) {
      const int c = __builtin_ctz(mask);
      mask &= mask - 1;
      const int64_t pos = first_pos + c;
      if (pos >= n) break;  // padding lanes of the last block (lanes ascend)
      const int64_t id = ids_[size_t(pos)];
      if (id == ex) continue;
      sel.push(keys[c], id);
    }
    thr = sel.threshold();
  }

  // Portable: R queries x NB blocks, dot products with std::fma for float (the SIMD kernels' fused
  // chain, so every ISA level gives the same bits) and multiply-add for double.
  template <int R, int NB>
  void tile_generic(const Rows& t, int64_t b) const {
    const int64_t d = dim_;
    constexpr int64_t L = kLanes;
    T acc[R][NB][L] = {};
    for (int64_t j = 0; j < d; ++j) {
      for (int r = 0; r < R; ++r) {
        const T a = t.q[r * d + j];
        for (int h = 0; h < NB; ++h) {
          const T* x = block(b + h) + j * L;
          for (int64_t c = 0; c < L; ++c) {
            if constexpr (detail::kFusedDot<T>) acc[r][h][c] = std::fma(a, x[c], acc[r][h][c]);
            else acc[r][h][c] += a * x[c];
          }
        }
      }
    }
    T keys[L];
    for (int h = 0; h < NB; ++h) {
      const T* bn = norms_.data() + (b + h) * L;
      for (int r = 0; r < R; ++r) {
        uint32_t mask = 0;
        for (int64_t c = 0; c < L; ++c) {
          T key;
          if (metric_ == Metric::L2) {
            key = (t.qn[r] + bn[c]) - (acc[r][h][c] + acc[r][h][c]);
            key = key < T(0) ? T(0) : key;
          } else {
            key = T(0) - acc[r][h][c];
          }
          keys[c] = key;
          if (key <= t.thr[r]) mask |= uint32_t(1) << c;
        }
        if (mask) offer(keys, mask, (b + h) * L, t.ex ? t.ex[r] : -1, t.sel[r], t.thr[r]);
      }
    }
  }

#if defined(SIMAD_SEARCH_X86)
  // P: t.q is a packed panel (dimension-major, kRows512 values per dimension), else row-major rows.
  template <int NB, bool P = true>
  SIMAD_SEARCH_TARGET_AVX512 void rows_avx512(int rows, const Rows& t, int64_t b) const {
    if constexpr (!P) {
      switch (rows) {
        case 3: tile_avx512<3, NB, false>(t, b); break;
        case 2: tile_avx512<2, NB, false>(t, b); break;
        default: tile_avx512<1, NB, false>(t, b); break;
      }
    } else {
      switch (rows) {
        case 14: tile_avx512<14, NB>(t, b); break;
        case 13: tile_avx512<13, NB>(t, b); break;
        case 12: tile_avx512<12, NB>(t, b); break;
        case 11: tile_avx512<11, NB>(t, b); break;
        case 10: tile_avx512<10, NB>(t, b); break;
        case 9: tile_avx512<9, NB>(t, b); break;
        case 8: tile_avx512<8, NB>(t, b); break;
        case 7: tile_avx512<7, NB>(t, b); break;
        case 6: tile_avx512<6, NB>(t, b); break;
        case 5: tile_avx512<5, NB>(t, b); break;
        case 4: tile_avx512<4, NB>(t, b); break;
        case 3: tile_avx512<3, NB>(t, b); break;
        case 2: tile_avx512<2, NB>(t, b); break;
        default: tile_avx512<1, NB>(t, b); break;
      }
    }
  }

  // AVX-512: R queries x NB blocks of 16 vectors, R x NB zmm accumulators (R * NB <= 28). Per
  // dimension: NB loads of 16 vectors' values, R broadcasts, R x NB FMAs.
  template <int R, int NB, bool P = true>
  SIMAD_SEARCH_TARGET_AVX512 void tile_avx512(const Rows& t, int64_t b) const {
    static_assert(R * NB <= 28, "the tile's accumulators must stay in registers");
    const int64_t d = dim_;
    const float* x0 = block(b);
    __m512 acc[R][NB];
    SIMAD_UNROLL
    for (int r = 0; r < R; ++r)
      SIMAD_UNROLL
      for (int h = 0; h < NB; ++h) acc[r][h] = _mm512_setzero_ps();
    const int64_t stride = kLanes * d;  // floats from one block to the next
    for (int64_t j = 0; j < d; ++j) {
      __m512 x[NB];
      SIMAD_UNROLL
      for (int h = 0; h < NB; ++h) x[h] = _mm512_loadu_ps(x0 + h * stride + j * 16);
      SIMAD_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_set1_ps(P ? t.q[j * kRows512 + r] : t.q[r * d + j]);
        SIMAD_UNROLL
        for (int h = 0; h < NB; ++h) acc[r][h] = _mm512_fmadd_ps(a, x[h], acc[r][h]);
      }
    }
    // The dot products go to the stack before the keys are formed: with the epilogue's values live
    // across the loop, GCC 12 keeps 6 of 28 accumulators in memory (-25%).
    alignas(64) float dots[R][NB][16];
    SIMAD_UNROLL
    for (int r = 0; r < R; ++r)
      SIMAD_UNROLL
      for (int h = 0; h < NB; ++h) _mm512_store_ps(dots[r][h], acc[r][h]);
    epilogue_avx512<R, NB>(&dots[0][0][0], t, b);
  }

  // One query against NB blocks anywhere (the prefilter's survivors): the same fused chain per lane as
  // tile_avx512, so the same bits.
  template <int NB>
  SIMAD_SEARCH_TARGET_AVX512 void gather_avx512(const Rows& t, const int64_t* blks) const {
    const int64_t d = dim_;
    const float* x[NB];
    __m512 acc[NB];
    SIMAD_UNROLL
    for (int h = 0; h < NB; ++h) {
      x[h] = block(blks[h]);
      acc[h] = _mm512_setzero_ps();
    }
    for (int64_t j = 0; j < d; ++j) {
      const __m512 a = _mm512_set1_ps(t.q[j]);
      SIMAD_UNROLL
      for (int h = 0; h < NB; ++h) acc[h] = _mm512_fmadd_ps(a, _mm512_loadu_ps(x[h] + j * 16), acc[h]);
    }
    alignas(64) float dots[NB][16];
    SIMAD_UNROLL
    for (int h = 0; h < NB; ++h) _mm512_store_ps(dots[h], acc[h]);
    for (int h = 0; h < NB; ++h) epilogue_avx512<1, 1>(dots[h], t, blks[h]);
  }

  // Keys of a tile's dot products (R x NB x 16, from tile_avx512), compared 16 at a time with each
  // query's threshold; only lanes at or under it go to offer().
  template <int R, int NB>
  SIMAD_SEARCH_TARGET_AVX512 void epilogue_avx512(const float* dots, const Rows& t, int64_t b) const {
    alignas(64) float keys[16];
    const __m512 zero = _mm512_setzero_ps();
    for (int h = 0; h < NB; ++h) {
      const __m512 bn = _mm512_loadu_ps(norms_.data() + (b + h) * 16);
      for (int r = 0; r < R; ++r) {
        const __m512 dot = _mm512_load_ps(dots + (r * NB + h) * 16);
        const __m512 dot2 = _mm512_add_ps(dot, dot);
        // (maskz_max: plain _mm512_max_ps trips GCC 12's -Wmaybe-uninitialized on its passthrough)
        const __m512 l2 = _mm512_sub_ps(_mm512_add_ps(_mm512_set1_ps(t.qn[r]), bn), dot2);
        const __m512 key = metric_ == Metric::L2 ? _mm512_maskz_max_ps(0xFFFF, l2, zero) : _mm512_sub_ps(zero, dot);
        const uint32_t mask = _mm512_cmp_ps_mask(key, _mm512_set1_ps(t.thr[r]), _CMP_LE_OQ);
        if (mask) {
          _mm512_store_ps(keys, key);
          offer(keys, mask, (b + h) * 16, t.ex ? t.ex[r] : -1, t.sel[r], t.thr[r]);
        }
      }
    }
  }

  template <int NB>
  SIMAD_SEARCH_TARGET_AVX2 void rows_avx2(int rows, const Rows& t, int64_t b) const {
    switch (rows) {
      case 6: tile_avx2<6, NB>(t, b); break;
      case 5: tile_avx2<5, NB>(t, b); break;
      case 4: tile_avx2<4, NB>(t, b); break;
      case 3: tile_avx2<3, NB>(t, b); break;
      case 2: tile_avx2<2, NB>(t, b); break;
      default: tile_avx2<1, NB>(t, b); break;
    }
  }

  // AVX2 + FMA: R queries x one block (16 vectors, 2 ymm) at a time, NB blocks in turn.
  template <int R, int NB>
  SIMAD_SEARCH_TARGET_AVX2 void tile_avx2(const Rows& t, int64_t b) const {
    const int64_t d = dim_;
    alignas(32) float keys[16];
    const __m256 zero = _mm256_setzero_ps();
    SIMAD_UNROLL
    for (int h = 0; h < NB; ++h) {
      const float* blk = block(b + h);
      __m256 acc[R][2];
      SIMAD_UNROLL
      for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = zero;
      for (int64_t j = 0; j < d; ++j) {
        const __m256 x0 = _mm256_loadu_ps(blk + j * 16), x1 = _mm256_loadu_ps(blk + j * 16 + 8);
        SIMAD_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m256 a = _mm256_broadcast_ss(t.q + r * d + j);
          acc[r][0] = _mm256_fmadd_ps(a, x0, acc[r][0]);
          acc[r][1] = _mm256_fmadd_ps(a, x1, acc[r][1]);
        }
      }
      SIMAD_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m256 th = _mm256_set1_ps(t.thr[r]);
        uint32_t mask = 0;
        SIMAD_UNROLL
        for (int half = 0; half < 2; ++half) {
          const __m256 dot = acc[r][half];
          const __m256 key =
              metric_ == Metric::L2
                  ? _mm256_max_ps(_mm256_sub_ps(_mm256_add_ps(_mm256_set1_ps(t.qn[r]),
                                                              _mm256_loadu_ps(norms_.data() + (b + h) * 16 + half * 8)),
                                                _mm256_add_ps(dot, dot)),
                                  zero)
                  : _mm256_sub_ps(zero, dot);
          _mm256_store_ps(keys + half * 8, key);
          mask |= uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(key, th, _CMP_LE_OQ))) << (8 * half);
        }
        if (mask) offer(keys, mask, (b + h) * 16, t.ex ? t.ex[r] : -1, t.sel[r], t.thr[r]);
      }
    }
  }
#endif

  int64_t dim_;
  Metric metric_;
  Prefilter prefilter_ = Prefilter::automatic;
  bool keep_int8_ = false;
  Int8Blocks int8_;          // the prefilter's copy (positions as data_) when keep_int8_
  std::vector<T> data_;      // blocks of kLanes vectors, each (dim, kLanes)
  std::vector<T> norms_;     // squared norm per stored position (0 in padding)
  std::vector<int64_t> ids_;  // id per stored position
  std::unordered_map<int64_t, int64_t> pos_;  // id -> position
};

}  // namespace simad::search
