// tests/op_cases/cases_linear.cpp: fully connected layer rows of the op harness (op_harness.hpp). The CUDA
// form of linear_forward / linear_backward is the Tensor dispatch (GEMM + the bias kernels of
// kernels/linear.cu); the bias launchers have rows of their own.
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/linear.hpp"
#include "simad/ops/reference/linear.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/linear.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// inp (A, [B,] C) with B = 0 for rank 2, weight (OC, C), bias (OC) when "bias"; "dinp" 0: dinp undefined.
simad::Shape rows_of(const Sizes& s, int64_t last) {
  return s.at("B") ? simad::Shape{s.at("A"), s.at("B"), last} : simad::Shape{s.at("A"), last};
}

Specs linear_tensors(const Sizes& s) {
  const int64_t C = s.at("C"), OC = s.at("OC");
  Specs v{real("inp", rows_of(s, C)), real("weight", {OC, C}), out("out", rows_of(s, OC)),
          real("dout", rows_of(s, OC)), acc("dweight", {OC, C})};
  if (s.at("bias")) v.push_back(real("bias", {OC})), v.push_back(acc("dbias", {OC}));
  if (s.at("dinp")) v.push_back(acc("dinp", rows_of(s, C)));
  return v;
}

template <typename Io>
void linear_tensors_call(Io& io) {
  simad::ops::linear_forward(io.t("out"), io.t("inp"), io.t("weight"), io.t_or_undefined("bias"));
  simad::ops::linear_backward(io.t_or_undefined("dinp"), io.t("dweight"), io.t_or_undefined("dbias"), io.t("dout"),
                              io.t("inp"), io.t("weight"));
}

template <typename Io>
void linear_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t C = io.n("C"), OC = io.n("OC"), N = io.t("inp").numel() / C;
  if (tier == Tier::cuda) {
    linear_tensors_call(io);  // the dispatch on CUDA tensors: GEMM + bias kernels
  } else if (tier == Tier::reference) {
    simad::ops::reference::linear_forward(io.p("out"), io.p("inp"), io.p("weight"), io.p_or_null("bias"), N, C, OC);
    simad::ops::reference::linear_backward(io.p_or_null("dinp"), io.p("dweight"), io.p_or_null("dbias"), io.p("dout"),
                                           io.p("inp"), io.p("weight"), N, C, OC);
  } else {
    simad::ops::linear_forward(io.p("out"), io.p("inp"), io.p("weight"), static_cast<const T*>(io.p_or_null("bias")),
                               N, C, OC);
    simad::ops::linear_backward(io.p_or_null("dinp"), io.p("dweight"), io.p_or_null("dbias"), io.p("dout"),
                                io.p("inp"), io.p("weight"), N, C, OC);
  }
}

// The bias launchers (out += bias in every row, dbias += column sums of dout): no CPU op of that name,
// so the reference and CPU tiers are the loops of the definition.
template <typename Io>
void linear_bias_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t N = io.n("N"), OC = io.n("OC");
  T *out = io.p("out"), *bias = io.p("bias"), *dbias = io.p("dbias"), *dout = io.p("dout");
  if (tier == Tier::cuda) {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
    if constexpr (std::is_same_v<T, float>) {
      simad::cuda::kernels::linear_bias_forward(out, bias, N, OC);
      simad::cuda::kernels::linear_bias_backward(dbias, dout, N, OC);
    }
#endif
    return;
  }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o) out[n * OC + o] = T(double(out[n * OC + o]) + double(bias[o]));
  for (int64_t o = 0; o < OC; ++o) {
    double sum = double(dbias[o]);
    for (int64_t n = 0; n < N; ++n) sum += double(dout[n * OC + o]);
    dbias[o] = T(sum);
  }
}

const OpCase kCases[] = {
    // Odd sizes, one output, rank-3 inputs, 70 outputs; with and without bias and dinp.
    {.name = "linear forward, backward",
     .sizes = times(sizes_of({"A", "B", "C", "OC", "bias"},
                             {{4, 0, 7, 5, 1}, {2, 3, 16, 48, 1}, {1, 0, 33, 1, 0}, {6, 5, 9, 70, 1}, {5, 0, 3, 4, 0}}),
                    "dinp", {0, 1}),
     .tensors = linear_tensors,
     .call = [](auto& io, Tier tier) { linear_call(io, tier); },
     .tensor_call = [](auto& io) { linear_tensors_call(io); },
     .cuda = {1e-5, 1e-5}},
    // A single row, odd sizes, more columns than a block of threads.
    {.name = "linear bias forward, backward (launchers)",
     .sizes = sizes_of({"N", "OC"}, {{1, 1}, {5, 3}, {70, 33}, {3, 300}}),
     .tensors =
         [](const Sizes& s) {
           const int64_t N = s.at("N"), OC = s.at("OC");
           return Specs{acc("out", {N, OC}), real("bias", {OC}), real("dout", {N, OC}), acc("dbias", {OC})};
         },
     .call = [](auto& io, Tier tier) { linear_bias_call(io, tier); },
     .tensor_call = {},
     .tiers = kCuda,
     .cuda = {1e-5, 1e-5}},
};

}  // namespace

TEST_CASE("op_cases: linear") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
