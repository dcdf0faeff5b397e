// tests/op_cases/cases_gemm.cpp: GEMM rows of the op harness (op_harness.hpp): the launchers gemm,
// gemm_tiled, gemm_strided_batched(_tiled), gemm_bf16_tensor_cores ("impl" 0..4; batch 1 for the
// single-matrix rows) and the
// Tensor ops matmul and batched_matmul. Padded leading dimensions: the padding of C must stay as it was.
#include <algorithm>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/gemm.hpp"
#include "simad/ops/reference/gemm.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/gemm.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// "ab": alpha/beta case: 0 (1, 0), 1 (0.5, -1.5), 2 (-2, 0), 3 (0, 1) alpha 0 keeps C, 4 (0.75, 0.5), 5 (1, 2.5),
// 6 (0.5, 1), 7 (1, 0.5).
constexpr double kAlpha[] = {1.0, 0.5, -2.0, 0.0, 0.75, 1.0, 0.5, 1.0};
constexpr double kBeta[] = {0.0, -1.5, 0.0, 1.0, 0.5, 2.5, 1.0, 0.5};

struct Dims {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc, batch, sa, sb, sc;
};
Dims dims_of(const Sizes& s) {
  Dims d{};
  d.ta = s.at("t") & 1, d.tb = s.at("t") & 2;
  d.M = s.at("M"), d.N = s.at("N"), d.K = s.at("K");
  const int64_t pad = s.count("pad") ? s.at("pad") : 0;
  d.lda = std::max<int64_t>((d.ta ? d.M : d.K) + pad, 1);
  d.ldb = std::max<int64_t>((d.tb ? d.K : d.N) + pad, 1);
  d.ldc = std::max<int64_t>(d.N + pad, 1);
  d.batch = s.count("batch") ? s.at("batch") : 1;
  const int64_t gap = s.count("gap") ? s.at("gap") : 0;
  d.sa = (d.ta ? d.K : d.M) * d.lda + gap, d.sb = (d.tb ? d.N : d.K) * d.ldb + gap;
  d.sc = s.count("stride_c") ? s.at("stride_c") : d.M * d.ldc + gap;
  return d;
}

Specs gemm_tensors(const Sizes& s) {
  const Dims d = dims_of(s);
  const int64_t nc = std::max<int64_t>(d.sc * (d.batch - 1) + d.M * d.ldc, 1);
  // beta 0 without padding or gaps: C starts poisoned (it must not be read)
  const bool poisoned = kBeta[s.at("ab")] == 0.0 && nc == d.M * d.N * d.batch;
  return Specs{real("A", {std::max<int64_t>(d.sa * d.batch, 1)}), real("B", {std::max<int64_t>(d.sb * d.batch, 1)}),
               poisoned ? out("C", {nc}) : acc("C", {nc})};
}

template <typename Io>
void gemm_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const Dims d = dims_of(io.sizes);
  const T alpha = T(kAlpha[io.n("ab")]), beta = T(kBeta[io.n("ab")]);
  T *A = io.p("A"), *B = io.p("B"), *C = io.p("C");
  if (tier == Tier::reference) {
    simad::ops::reference::gemm_strided_batched(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, d.sa, B, d.ldb, d.sb,
                                                beta, C, d.ldc, d.sc, d.batch);
  } else if (tier == Tier::cpu) {
    simad::ops::gemm_strided_batched(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, d.sa, B, d.ldb, d.sb, beta, C, d.ldc,
                                     d.sc, d.batch);
  } else {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    namespace ck = simad::cuda::kernels;
    if constexpr (std::is_same_v<T, float>) switch (io.n("impl")) {
        case 0: ck::gemm(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, B, d.ldb, beta, C, d.ldc); break;
        case 1: ck::gemm_tiled(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, B, d.ldb, beta, C, d.ldc); break;
        case 2:
          ck::gemm_strided_batched(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, d.sa, B, d.ldb, d.sb, beta, C, d.ldc,
                                   d.sc, d.batch);
          break;
        case 3:
          ck::gemm_strided_batched_tiled(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, d.sa, B, d.ldb, d.sb, beta, C,
                                         d.ldc, d.sc, d.batch);
          break;
        default: ck::gemm_bf16_tensor_cores(d.ta, d.tb, d.M, d.N, d.K, alpha, A, d.lda, B, d.ldb, beta, C, d.ldc);
      }
#endif
  }
}

// One row / column / inner element, sizes off the 64 x 64 x 16 tile and the warp, exact tiles, several tiles.
const std::vector<Sizes> kShapes =
    sizes_of({"M", "N", "K"}, {{1, 1, 1}, {1, 67, 53}, {37, 1, 53}, {37, 19, 1}, {37, 19, 53}, {130, 67, 129},
                               {64, 64, 16}, {65, 33, 17}, {128, 130, 31}, {200, 190, 250}});
const std::vector<Sizes> kBf16Shapes =
    sizes_of({"M", "N", "K"}, {{1, 67, 53}, {37, 19, 53}, {65, 33, 17}, {130, 67, 129}});
const std::vector<Sizes> kSmall = sizes_of({"M", "N", "K"}, {{1, 5, 3}, {37, 19, 53}, {130, 67, 129}});

std::vector<Sizes> with(std::vector<Sizes> base, const std::string& name, int64_t value) {
  for (Sizes& s : base) s[name] = value;
  return base;
}

template <typename Io>
void matmul_tensor(Io& io) {
  using T = typename Io::value_type;
  const bool ta = io.n("t") & 1, tb = io.n("t") & 2;
  if (io.sizes.count("batch"))
    simad::ops::batched_matmul(io.t("C"), io.t("A"), io.t("B"), ta, tb, T(kBeta[io.n("ab")]));
  else simad::ops::matmul(io.t("C"), io.t("A"), io.t("B"), ta, tb, T(kBeta[io.n("ab")]));
}

const OpCase kCases[] = {
    {.name = "gemm_tiled, four transposes",
     .sizes = with(with(times(kShapes, "t", {0, 1, 2, 3}), "impl", 1), "ab", 0),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    {.name = "gemm_tiled, alpha, beta, padded leading dimensions",
     .sizes = times(times(with(times(kSmall, "t", {0, 1, 2, 3}), "impl", 1), "ab", {1, 2, 3}), "pad", {0, 3}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    {.name = "gemm, gemm_strided_batched(_tiled) with batch 1",
     .sizes = times(times(times(sizes_of({"M", "N", "K"}, {{1, 1, 1}, {37, 19, 53}, {130, 67, 129}, {1, 67, 53},
                                                          {37, 1, 1}}),
                                "t", {0, 1, 2, 3}),
                          "impl", {0, 2, 3}),
                    "ab", {0, 4}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    // bf16 on tensor cores against the fp32 CPU op: rounding each input to 8 significant bits moves a product
    // of two values in [-1, 1] by about 2^-9 |a b| (rms about 5e-4), so a sum of K = 129 of them by about
    // sqrt(129) 5e-4 = 0.006 (rms; 0.045 was seen at K = 250): 0.08 leaves a wide margin. test_gemm.cpp checks
    // the kernel exactly on bf16 inputs; this row covers the transposes, alpha / beta and padding against
    // the fp32 op. Shapes: a row, past one tile, off the slice; fewer than the fp32 rows (emulated mma is slow).
    {.name = "gemm_bf16_tensor_cores, four transposes, alpha, beta, padding",
     .sizes = times(times(times(with(kBf16Shapes, "impl", 4), "t", {0, 1, 2, 3}), "ab", {0, 1}), "pad", {0, 3}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {8e-2, 1e-2}},
    {.name = "gemm: K 0 gives beta C, empty outputs",
     .sizes = times(times(times(sizes_of({"M", "N", "K"}, {{7, 9, 0}, {0, 9, 4}, {6, 0, 4}}), "t", {0, 3}), "impl",
                          {0, 1, 4}),
                    "ab", {0, 5}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    // Gaps between the matrices; stride_c 0: every product summed into one C (beta 1).
    {.name = "gemm_strided_batched(_tiled), gaps and a shared C",
     .sizes = times(times(with(with(with(with(sizes_of({"M", "N", "K"}, {{19, 33, 21}}), "batch", 5), "gap", 7), "ab",
                                    1),
                               "impl", 2),
                          "t", {0, 1, 2, 3}),
                    "impl", {2, 3}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    {.name = "gemm_strided_batched(_tiled), stride_c 0",
     .sizes = times(times(with(with(with(sizes_of({"M", "N", "K"}, {{19, 33, 21}}), "batch", 5), "stride_c", 0), "ab",
                               6),
                          "t", {0, 1, 2, 3}),
                    "impl", {2, 3}),
     .tensors = gemm_tensors,
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = {},
     .cuda = {1e-5, 1e-5}},
    // The Tensor ops (alpha 1): on CUDA the launcher row is gemm / gemm_strided_batched.
    {.name = "matmul",
     .sizes = times(with(times(sizes_of({"M", "N", "K"}, {{37, 19, 53}, {1, 5, 3}}), "t", {0, 1, 2, 3}), "impl", 0),
                    "ab", {0, 7}),
     .tensors =
         [](const Sizes& s) {
           const int64_t M = s.at("M"), N = s.at("N"), K = s.at("K");
           const bool ta = s.at("t") & 1, tb = s.at("t") & 2, beta0 = s.at("ab") == 0;
           return Specs{real("A", ta ? simad::Shape{K, M} : simad::Shape{M, K}),
                        real("B", tb ? simad::Shape{N, K} : simad::Shape{K, N}),
                        beta0 ? out("C", {M, N}) : acc("C", {M, N})};
         },
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = [](auto& io) { matmul_tensor(io); },
     .cuda = {1e-5, 1e-5}},
    {.name = "batched_matmul",
     .sizes = times(with(with(times(sizes_of({"M", "N", "K"}, {{17, 29, 40}, {1, 3, 2}}), "t", {0, 1, 2, 3}), "impl",
                              2),
                         "batch", 3),
                    "ab", {0, 7}),
     .tensors =
         [](const Sizes& s) {
           const int64_t M = s.at("M"), N = s.at("N"), K = s.at("K"), b = s.at("batch");
           const bool ta = s.at("t") & 1, tb = s.at("t") & 2, beta0 = s.at("ab") == 0;
           return Specs{real("A", ta ? simad::Shape{b, K, M} : simad::Shape{b, M, K}),
                        real("B", tb ? simad::Shape{b, N, K} : simad::Shape{b, K, N}),
                        beta0 ? out("C", {b, M, N}) : acc("C", {b, M, N})};
         },
     .call = [](auto& io, Tier tier) { gemm_call(io, tier); },
     .tensor_call = [](auto& io) { matmul_tensor(io); },
     .cuda = {1e-5, 1e-5}},
};

}  // namespace

TEST_CASE("op_cases: gemm") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
