// simad/search/int8_prefilter.hpp: an int8 copy of a FlatIndex<float> (L2) that bounds every exact
// squared distance from below and above, so that an exact search reads a quarter of the bytes and does
// a quarter of the instructions for its scan (AVX512-VNNI: four dimensions per lane and instruction),
// and recomputes exactly (with the unchanged fp32 kernel, so the same bits) only the few blocks that
// can hold one of the k best. docs/search.md, "The int8 prefilter", derives the bound; in short:
//
//   m            a fixed centre (the mean of the vectors present when the copy was made), so that the
//                bound scales with the spread of the data, not with its offset from the origin;
//   a = fl(q-m), b = fl(x-m); ã = s_a qa, b̃ = s_b qb with qa, qb int8 in [-127, 127] and s the
//                vector's scale (max |b_i| / 127), rounded to nearest; r_a = a - ã, r_b = b - b̃;
//   d̃ = (||a||^2 + ||b||^2) - 2 dot̃, dot̃ = float(sum qa_i qb_i) * (s_a * s_b): the integer sum is
//                exact, then at most three roundings;
//   |d̃ - key| <= B = 2 (||r_a|| ||b̃|| + ||a|| ||r_b||) + c1 ||ã|| ||b̃|| + c2 (||a||^2 + ||b||^2)
//                    + c3 (qn + xn) + c4 (||ã|| + ||b̃|| + 1),
//   where key is the exact kernel's squared distance before its clamp at 0, qn and xn the exact
//   kernel's squared norms, c1 = 2 (3u) for dot̃'s roundings (u = 2^-24), c2 = 2^-19 for the centring
//   and the fp32 evaluation of d̃ and B, c3 = 2 gamma(dim) + 8u for the exact kernel's own rounding,
//   c4 = 2^-100 for underflow of s_a s_b. Norms are computed in double, rounded up and inflated by
//   2^-10 so that the fp32 evaluation of B in the scan cannot come out below it.
//
// The search (FlatIndex::search) keeps, per query, the k smallest upper bounds max(d̃ + B, 0) seen so
// far (U, their largest) and every position whose lower bound d̃ - B <= U. After the scan, U is the
// k-th smallest upper bound of all: k vectors have exact keys <= U, so every vector of the exact top k
// (ties by id included) has lower bound <= its key <= U and was kept. The kept positions' blocks are
// then scanned by the exact kernel, so results are the exact search's, bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "simad/core/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIMAD_PREFILTER_X86 1
#define SIMAD_PREFILTER_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")))
#endif

#if defined(__CUDACC__)
#define SIMAD_PREFILTER_UNROLL
#else
#define SIMAD_PREFILTER_UNROLL _Pragma("GCC unroll 16")
#endif

namespace simad::search {

// Whether a FlatIndex<float> with the L2 metric keeps an int8 copy and scans it first.
enum class Prefilter : uint32_t {
  automatic = 0,  // where the CPU has AVX512-VNNI (and cpu::isa() is avx512); +25% memory there
  off = 1,        // exact fp32 scan only
  int8 = 2,       // always: the portable loop where the CPU lacks AVX512-VNNI (slower; for tests)
};

inline const char* prefilter_name(Prefilter p) {
  return p == Prefilter::off ? "off" : p == Prefilter::int8 ? "int8" : "automatic";
}

namespace detail {
inline bool prefilter_cpu_has_vnni() { return cpu::features().avx512_vnni && cpu::isa() == cpu::Isa::avx512; }
}  // namespace detail

// One query as the prefilter sees it: the scale of its int8 values and its factors of the bound.
struct PrefilterQuery {
  float scale;  // s_a
  float an;     // ||a||^2
  float ra2;    // 2 ||r_a||, inflated
  float an2;    // 2 ||a||, inflated
  float c1at;   // c1 ||ã||, inflated
  float qc;     // c2 ||a||^2 + c3 qn + c4 (||ã|| + 1), inflated
};

// The int8 copy: blocks of kLanes (16) vectors, block[quad][lane] as 32-bit words of four int8 dims
// (dim 4p + i in byte i), and per position the scale, the sum of the int8 values and the bound's
// factors. Positions match FlatIndex's. Queries are packed as unsigned bytes (value + 128), which is
// what vpdpbusd multiplies with the signed base; the scan subtracts 128 times the base's sum.
class Int8Blocks {
 public:
  static constexpr int64_t kLanes = 16;
  // The int32 sums cannot overflow up to here (255 * 127 * 65536 < 2^31).
  static constexpr int64_t kMaxDim = 65536;
  // Squared norms (of b and of the query's a, and the exact kernel's) above this disable the prefilter
  // for the query or the index, far from any fp32 overflow in the bound.
  static constexpr double kMaxSquaredNorm = 0x1p100;

  Int8Blocks() = default;
  explicit Int8Blocks(int64_t dim) : dim_(dim), quads_((dim + 3) / 4) {
    const double u = 0x1p-24, inflate = 1 + 0x1p-10, n = double(dim);
    c1_ = 2 * 3.01 * u * inflate;
    c2_ = 0x1p-19 * inflate;
    c3_ = (2 * n * u / (1 - n * u) + 8 * u) * inflate;
    c4_ = 0x1p-100 * inflate;
  }

  int64_t dim() const { return dim_; }
  int64_t quads() const { return quads_; }
  bool has_centre() const { return !centre_.empty(); }
  // Whether every stored vector is within the range the bound is derived for.
  bool in_range() const { return max_norm_ <= kMaxSquaredNorm; }
  const uint32_t* block(int64_t b) const { return words_.data() + b * quads_ * kLanes; }
  // Per position (index = block * 16 + lane).
  const float* scale() const { return scale_.data(); }
  const int32_t* sum128() const { return sum128_.data(); }
  const float* bn() const { return bn_.data(); }
  const float* bt() const { return bt_.data(); }
  const float* rb() const { return rb_.data(); }
  const float* vc() const { return vc_.data(); }
  size_t bytes() const {
    return words_.size() * sizeof(uint32_t) + sum128_.size() * sizeof(int32_t) +
           (scale_.size() + bn_.size() + bt_.size() + rb_.size() + vc_.size() + centre_.size()) * sizeof(float);
  }

  // The centre: the mean of rows (n, dim) (the first vectors the copy holds).
  void set_centre(const float* rows, int64_t n) {
    std::vector<double> s(size_t(dim_), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < dim_; ++j) s[size_t(j)] += double(rows[i * dim_ + j]);
    centre_.assign(size_t(dim_), 0.0f);
    for (int64_t j = 0; j < dim_; ++j) centre_[size_t(j)] = n > 0 ? float(s[size_t(j)] / double(n)) : 0.0f;
  }

  // Room for positions [0, count), padding lanes zero (FlatIndex never reports them).
  void resize(int64_t count) {
    const int64_t blocks = (count + kLanes - 1) / kLanes;
    words_.resize(size_t(blocks * quads_ * kLanes), 0u);
    sum128_.resize(size_t(blocks * kLanes), 0);
    for (auto* v : {&scale_, &bn_, &bt_, &rb_, &vc_}) v->resize(size_t(blocks * kLanes), 0.0f);
  }
  void clear() { *this = Int8Blocks(dim_); }

  // Stores vector x (dim) at position p; xn is the exact kernel's squared norm of x.
  void put(int64_t p, const float* x, float xn) {
    const Split s = split(x, false);
    uint32_t* blk = words_.data() + (p / kLanes) * quads_ * kLanes;
    for (int64_t k = 0; k < quads_; ++k) blk[k * kLanes + p % kLanes] = s.words[size_t(k)];
    const double inflate = 1 + 0x1p-10;
    scale_[size_t(p)] = s.scale;
    sum128_[size_t(p)] = 128 * s.sum;
    bn_[size_t(p)] = float(s.n2);
    bt_[size_t(p)] = float(std::sqrt(s.t2) * inflate);
    rb_[size_t(p)] = float(std::sqrt(s.r2) * inflate);
    vc_[size_t(p)] = float((c2_ * s.n2 + c3_ * double(xn) + c4_ * std::sqrt(s.t2)) * inflate);
    max_norm_ = std::max({max_norm_, s.n2, double(xn)});
  }
  // Zeroes position p (the hole FlatIndex::remove leaves at the end).
  void erase(int64_t p) {
    uint32_t* blk = words_.data() + (p / kLanes) * quads_ * kLanes;
    for (int64_t k = 0; k < quads_; ++k) blk[k * kLanes + p % kLanes] = 0u;
    sum128_[size_t(p)] = 0;
    scale_[size_t(p)] = bn_[size_t(p)] = bt_[size_t(p)] = rb_[size_t(p)] = vc_[size_t(p)] = 0.0f;
  }

  // Query q (dim) with the exact kernel's squared norm qn: its words (unsigned bytes, value + 128) into
  // `words` (quads) and its factors. False when out of the bound's range (it then takes the exact scan).
  bool prepare(const float* q, float qn, uint32_t* words, PrefilterQuery& out) const {
    const Split s = split(q, true);
    std::copy(s.words.begin(), s.words.end(), words);
    if (!(s.n2 <= kMaxSquaredNorm && double(qn) <= kMaxSquaredNorm)) return false;
    const double inflate = 1 + 0x1p-10;
    out.scale = s.scale;
    out.an = float(s.n2);
    out.ra2 = float(2 * std::sqrt(s.r2) * inflate);
    out.an2 = float(2 * std::sqrt(s.n2) * inflate);
    out.c1at = float(c1_ * std::sqrt(s.t2) * inflate);
    out.qc = float((c2_ * s.n2 + c3_ * double(qn) + c4_ * (std::sqrt(s.t2) + 1)) * inflate);
    return true;
  }

  // The bounds of one pair from its exact integer dot product, evaluated as the AVX512-VNNI tile does.
  static void bounds(const PrefilterQuery& q, int32_t dot_int, float scale, float bn, float bt, float rb, float vc,
                     float& lower, float& upper) {
    const float dot = float(dot_int) * (q.scale * scale);
    const float approx = (q.an + bn) - (dot + dot);
    const float bound = std::fma(q.ra2, bt, std::fma(q.an2, rb, std::fma(q.c1at, bt, q.qc + vc)));
    lower = approx - bound;
    upper = std::max(approx + bound, 0.0f);
  }

 private:
  struct Split {
    std::vector<uint32_t> words;
    float scale = 0;
    int32_t sum = 0;                // sum of the int8 values
    double n2 = 0, t2 = 0, r2 = 0;  // ||b||^2, ||b̃||^2, ||r_b||^2
  };
  // b = fl(x - m) quantised to int8 with scale max |b_i| / 127; query bytes are offset by 128.
  Split split(const float* x, bool query) const {
    Split s;
    s.words.assign(size_t(quads_), query ? 0x80808080u : 0u);
    std::vector<float> b(static_cast<size_t>(dim_));
    double maxabs = 0;
    for (int64_t j = 0; j < dim_; ++j) {
      b[size_t(j)] = x[j] - (centre_.empty() ? 0.0f : centre_[size_t(j)]);
      maxabs = std::max(maxabs, std::fabs(double(b[size_t(j)])));
    }
    s.scale = float(maxabs / 127.0);
    for (int64_t j = 0; j < dim_; ++j) {
      const double v = double(b[size_t(j)]);
      int qv = s.scale > 0 ? int(std::lround(v / double(s.scale))) : 0;
      qv = std::clamp(qv, -127, 127);
      const double vt = double(s.scale) * qv;  // exact in double; so is v - vt
      const uint32_t byte = query ? uint32_t(qv + 128) : uint32_t(uint8_t(int8_t(qv)));
      uint32_t& w = s.words[size_t(j / 4)];
      w = (w & ~(0xFFu << (8 * (j % 4)))) | (byte << (8 * (j % 4)));
      s.sum += qv;
      s.n2 += v * v;
      s.t2 += vt * vt;
      s.r2 += (v - vt) * (v - vt);
    }
    return s;
  }

  int64_t dim_ = 0, quads_ = 0;
  double c1_ = 0, c2_ = 0, c3_ = 0, c4_ = 0;
  std::vector<uint32_t> words_;
  std::vector<int32_t> sum128_;                   // per position: 128 * sum of its int8 values
  std::vector<float> scale_, bn_, bt_, rb_, vc_;  // per position: s_b, ||b||^2, ||b̃||, ||r_b||, its constant
  std::vector<float> centre_;
  double max_norm_ = 0;
};

// The prefilter kernels. A tile computes the integer dot products of R queries x NB blocks, forms each
// lane's lower bound and compares it with the query's threshold; lanes at or under it go to
// emit(row, block, lower[16], upper[16], mask). Queries: `q` is R rows of `quads` words (row-major)
// or, with P, a panel of kPanelRows words per quad (quad-major).
namespace prefilter {

inline constexpr int kPanelRows = 14;

struct Tile {
  const uint32_t* q;
  const PrefilterQuery* consts;  // per row
  const float* thr;              // per row
};

// Sum over dims of (query byte - 128) * (base byte as int8): what vpdpbusd minus the correction gives.
inline int32_t dot_int8(const uint32_t* q, const uint32_t* x, int64_t quads, int64_t stride) {
  int32_t acc = 0;
  for (int64_t p = 0; p < quads; ++p) {
    const uint32_t qa = q[p], xa = x[p * stride];
    for (int i = 0; i < 4; ++i)
      acc += (int32_t((qa >> (8 * i)) & 0xFFu) - 128) * int32_t(int8_t(uint8_t((xa >> (8 * i)) & 0xFFu)));
  }
  return acc;
}

template <int R, int NB, typename Emit>
void tile_portable(const Int8Blocks& s, const Tile& t, int64_t b, Emit&& emit) {
  const int64_t nquads = s.quads();
  float lower[16], upper[16];
  for (int h = 0; h < NB; ++h) {
    for (int r = 0; r < R; ++r) {
      uint32_t mask = 0;
      for (int c = 0; c < 16; ++c) {
        const int64_t i = (b + h) * 16 + c;
        const int32_t dot = dot_int8(t.q + r * nquads, s.block(b + h) + c, nquads, 16);
        Int8Blocks::bounds(t.consts[r], dot, s.scale()[i], s.bn()[i], s.bt()[i], s.rb()[i], s.vc()[i], lower[c],
                           upper[c]);
        if (lower[c] <= t.thr[r]) mask |= 1u << c;
      }
      if (mask) emit(r, b + h, lower, upper, mask);
    }
  }
}

#if defined(SIMAD_PREFILTER_X86)
// AVX512-VNNI: per quad, NB loads of 16 vectors' words, R broadcasts of the query's word, R x NB
// vpdpbusd (four dims each: a quarter of the fp32 kernel's instructions and bytes).
template <int R, int NB, bool P, typename Emit>
SIMAD_PREFILTER_TARGET void tile_avx512vnni(const Int8Blocks& s, const Tile& t, int64_t b, Emit&& emit) {
  static_assert(R * NB <= 28, "the tile's accumulators must stay in registers");
  const int64_t nquads = s.quads(), stride = nquads * 16;
  const uint32_t* x0 = s.block(b);
  __m512i acc[R][NB];
  SIMAD_PREFILTER_UNROLL
  for (int r = 0; r < R; ++r)
    SIMAD_PREFILTER_UNROLL
    for (int h = 0; h < NB; ++h) acc[r][h] = _mm512_setzero_si512();
  for (int64_t p = 0; p < nquads; ++p) {
    __m512i x[NB];
    SIMAD_PREFILTER_UNROLL
    for (int h = 0; h < NB; ++h) x[h] = _mm512_loadu_si512(x0 + h * stride + p * 16);
    SIMAD_PREFILTER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512i a = _mm512_set1_epi32(int(P ? t.q[p * kPanelRows + r] : t.q[r * nquads + p]));
      SIMAD_PREFILTER_UNROLL
      for (int h = 0; h < NB; ++h) acc[r][h] = _mm512_dpbusd_epi32(acc[r][h], a, x[h]);
    }
  }
  // To the stack first, as the fp32 tile does: the epilogue's values live across the loop would
  // push accumulators out of the registers.
  alignas(64) int32_t dots[R][NB][16];
  SIMAD_PREFILTER_UNROLL
  for (int r = 0; r < R; ++r)
    SIMAD_PREFILTER_UNROLL
    for (int h = 0; h < NB; ++h) _mm512_store_si512(dots[r][h], acc[r][h]);
  alignas(64) float lower[16], upper[16];
  const __m512 zero = _mm512_setzero_ps();
  for (int h = 0; h < NB; ++h) {
    const int64_t i = (b + h) * 16;
    const __m512 sc = _mm512_loadu_ps(s.scale() + i), bn = _mm512_loadu_ps(s.bn() + i),
                 bt = _mm512_loadu_ps(s.bt() + i), rb = _mm512_loadu_ps(s.rb() + i), vc = _mm512_loadu_ps(s.vc() + i);
    const __m512i sum128 = _mm512_loadu_si512(s.sum128() + i);
    for (int r = 0; r < R; ++r) {
      const PrefilterQuery& c = t.consts[r];
      // (maskz_cvt: plain _mm512_cvtepi32_ps trips GCC 12's -Wuninitialized on its passthrough)
      const __m512i di = _mm512_sub_epi32(_mm512_load_si512(dots[r][h]), sum128);
      const __m512 dot = _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(0xFFFF, di), _mm512_mul_ps(_mm512_set1_ps(c.scale), sc));
      const __m512 approx = _mm512_sub_ps(_mm512_add_ps(_mm512_set1_ps(c.an), bn), _mm512_add_ps(dot, dot));
      const __m512 bound = _mm512_fmadd_ps(
          _mm512_set1_ps(c.ra2), bt,
          _mm512_fmadd_ps(_mm512_set1_ps(c.an2), rb,
                          _mm512_fmadd_ps(_mm512_set1_ps(c.c1at), bt, _mm512_add_ps(_mm512_set1_ps(c.qc), vc))));
      const __m512 lo = _mm512_sub_ps(approx, bound);
      const uint32_t mask = _mm512_cmp_ps_mask(lo, _mm512_set1_ps(t.thr[r]), _CMP_LE_OQ);
      if (mask) {
        _mm512_store_ps(lower, lo);
        _mm512_store_ps(upper, _mm512_maskz_max_ps(0xFFFF, _mm512_add_ps(approx, bound), zero));
        emit(r, b + h, lower, upper, mask);
      }
    }
  }
}
#endif

}  // namespace prefilter
}  // namespace simad::search
