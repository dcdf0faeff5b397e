// tests/op_cases/cases_elementwise.cpp: rows of the op harness (op_harness.hpp) for the small vector ops of
// ops/elementwise.hpp (fill, scale, axpy, add, mul_forward/backward), their Tensor forms (with copy and
// ensure_zeros, which have no pointer op) and their launchers in kernels/elementwise.cu (add, copy and
// ensure_zeros have none: the Tensor call on CUDA tensors). The CPU loops and the kernels round the same
// way (no FMA), so the CUDA tolerance is zero.
#include <limits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "simad/ops/reference/elementwise.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

template <typename IoT>
using Elem = typename std::remove_reference_t<IoT>::value_type;

// 1, under a warp, a block and one, many blocks, not a multiple of anything.
const std::vector<Sizes> kN = sizes_of({"n"}, {{1}, {31}, {257}, {1029}, {3001}});
constexpr Tolerance kExact{0.0, 0.0};
constexpr Tolerance kOneRounding{1e-6, 1e-6};  // float against the double loop: a rounding or two

void nan_fill(simad::Rng&, std::span<float> x) {
  for (float& v : x) v = std::numeric_limits<float>::quiet_NaN();
}

// The product of mul_forward: "out", or a / b in place ("alias" 1 / 2).
const char* product(const auto& io) { return io.n("alias") == 1 ? "a" : io.n("alias") == 2 ? "b" : "out"; }

// The sum of add: "out", or b in place ("in_place" 1).
const char* sum_of(const auto& io) { return io.n("in_place") ? "b" : "out"; }
const auto add_pointer_call = SIMAD_OP_CALL_CPU(add(io.p(sum_of(io)), io.p("a"), io.p("b"), io.n("n")));

// alpha for scale / axpy: 0 (scale writes 0 without reading x), or alpha_k / 4.
template <typename T>
T alpha_of(const Sizes& s) {
  return T(double(s.at("alpha")) / 4.0);
}

const OpCase kCases[] = {
    {.name = "fill",
     .sizes = kN,
     .tensors = [](const Sizes& s) { return Specs{out("x", {s.at("n")})}; },
     .call = SIMAD_OP_CALL(kDouble | kCuda, fill(io.p("x"), T_(2.5), io.n("n"))),
     .tensor_call = [](auto& io) { simad::ops::fill(io.t("x"), Elem<decltype(io)>(2.5)); },
     .cpu = kExact,
     .cuda = kExact,
     .dbl = kExact},
    {.name = "scale (alpha 0 over NaN writes 0)",
     .sizes = times(kN, "alpha", {-6, 0, 7}),
     .tensors =
         [](const Sizes& s) {
           Spec x = acc("x", {s.at("n")});
           if (s.at("alpha") == 0) x.make_real = nan_fill;
           return Specs{x};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, scale(io.p("x"), alpha_of<T_>(io.sizes), io.n("n"))),
     .tensor_call = [](auto& io) { simad::ops::scale(io.t("x"), alpha_of<Elem<decltype(io)>>(io.sizes)); },
     .cpu = kOneRounding,
     .cuda = kExact},
    {.name = "axpy",
     .sizes = times(kN, "alpha", {-7, 2}),
     .tensors = [](const Sizes& s) { return Specs{acc("y", {s.at("n")}), real("x", {s.at("n")})}; },
     .call = SIMAD_OP_CALL(kDouble | kCuda, axpy(io.p("y"), alpha_of<T_>(io.sizes), io.p("x"), io.n("n"))),
     .tensor_call =
         [](auto& io) { simad::ops::axpy(io.t("y"), alpha_of<Elem<decltype(io)>>(io.sizes), io.t("x")); },
     .cpu = kOneRounding,
     .cuda = kExact},
    {.name = "add (in place: out is b)",
     .sizes = times(kN, "in_place", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           if (s.at("in_place")) return Specs{real("a", {n}), acc("b", {n})};
           return Specs{real("a", {n}), real("b", {n}), out("out", {n})};
         },
     .call =
         [](auto& io, Tier tier) {
           if (tier == Tier::cuda)  // no launcher: the Tensor form copies and adds with axpy
             simad::ops::add(io.t(sum_of(io)), io.t("a"), io.t("b"));
           else
             add_pointer_call(io, tier);
         },
     .tensor_call = [](auto& io) { simad::ops::add(io.t(sum_of(io)), io.t("a"), io.t("b")); },
     .cpu = kOneRounding,
     .cuda = kExact},
    {.name = "copy, ensure_zeros",
     .sizes = kN,
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           return Specs{real("src", {n}), out("dst", {n}), out("z", {n})};
         },
     .call =
         [](auto& io, Tier tier) {
           using T = Elem<decltype(io)>;
           if (tier == Tier::reference) {
             for (int64_t i = 0; i < io.n("n"); ++i) io.p("dst")[i] = io.p("src")[i], io.p("z")[i] = T(0);
           } else {
             simad::ops::copy(io.t("dst"), io.t("src"));
             simad::Tensor<T> z = io.t("z");  // the right shape and device: filled in place
             simad::ops::ensure_zeros(z, z.shape(), io.device);
           }
         },
     .tensor_call =
         [](auto& io) {
           simad::ops::copy(io.t("dst"), io.t("src"));
           simad::Tensor<Elem<decltype(io)>> z = io.t("z");
           simad::ops::ensure_zeros(z, z.shape(), io.device);
         },
     .cpu = kExact,
     .cuda = kExact,
     .dbl = kExact},
    {.name = "mul_forward (in place: out is a / b)",
     .sizes = times(kN, "alias", {0, 1, 2}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n"), alias = s.at("alias");
           Specs v{alias == 1 ? acc("a", {n}) : real("a", {n}), alias == 2 ? acc("b", {n}) : real("b", {n})};
           if (alias == 0) v.push_back(out("out", {n}));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, mul_forward(io.p(product(io)), io.p("a"), io.p("b"), io.n("n"))),
     .tensor_call = [](auto& io) { simad::ops::mul_forward(io.t(product(io)), io.t("a"), io.t("b")); },
     .cpu = kOneRounding,
     .cuda = kExact},
    {.name = "mul_backward (grads: 1 da, 2 db)",
     .sizes = times(kN, "grads", {1, 2, 3}),
     .tensors =
         [](const Sizes& s) {
           const int64_t n = s.at("n");
           Specs v{real("dout", {n}), real("a", {n}), real("b", {n})};
           if (s.at("grads") & 1) v.push_back(acc("da", {n}));
           if (s.at("grads") & 2) v.push_back(acc("db", {n}));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, mul_backward(io.p_or_null("da"), io.p_or_null("db"), io.p("dout"),
                                                         io.p("a"), io.p("b"), io.n("n"))),
     .tensor_call =
         [](auto& io) {
           simad::ops::mul_backward(io.t_or_undefined("da"), io.t_or_undefined("db"), io.t("dout"), io.t("a"),
                                    io.t("b"));
         },
     .cpu = kOneRounding,
     .cuda = kExact},
};

}  // namespace

TEST_CASE("op_cases: elementwise") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
