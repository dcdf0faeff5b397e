// tests/op_cases/cases_activation.cpp: activation rows of the op harness (op_harness.hpp): relu, leaky_relu,
// gelu, gelu_tanh, tanh, sigmoid (ops/activation.hpp, ops/dispatch/activation.hpp, the launchers of kernels/elementwise.cu).
#include "op_harness.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/reference/activation.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// n = R * C: 1, under a warp, a block and one, many blocks (not a multiple of anything), a (10, 30) tensor;
// grad 0: no dinp (the backward skips it).
const std::vector<Sizes> kRows = times(
    sizes_of({"R", "C", "n"}, {{1, 1, 1}, {1, 31, 31}, {1, 257, 257}, {1, 3000, 3000}, {10, 30, 300}}), "grad", {0, 1});

// Inputs over [-6, 6] plus the kinks and saturation points: 0, -0, +-tiny, +-30, -100, 100.
void activation_inputs(simad::Rng& rng, std::span<float> x) {
  rng.fill_uniform(x, -6.0, 6.0);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, -100.0f, 100.0f};
  for (size_t i = 0; i < x.size() && i < 8; ++i) x[i * 3 % x.size()] = special[i];
}

Specs activation_tensors(const Sizes& s) {
  const int64_t R = s.at("R"), C = s.at("C");
  Spec x = real("x", {R, C});
  x.make_real = activation_inputs;
  Specs v{x, out("y", {R, C}), real("dy", {R, C})};
  if (s.at("grad")) v.push_back(acc("dx", {R, C}));
  return v;
}
Specs in_place_tensors(const Sizes& s) {
  Spec x = acc("x", {s.at("R"), s.at("C")});
  x.make_real = activation_inputs;
  return Specs{x};
}

// leaky_relu's slope in the row's element type (0.2, not the default 0.1).
template <typename IoT>
typename IoT::value_type slope(const IoT&) {
  return typename IoT::value_type(0.2);
}

// Forward, then backward from the input (relu, leaky_relu, gelu) or from the forward output (tanh, sigmoid).
OpCase both(const char* name, Call call, TensorCall tensor_call) {
  return {.name = std::string(name) + " forward, backward",
          .sizes = kRows,
          .tensors = activation_tensors,
          .call = std::move(call),
          .tensor_call = std::move(tensor_call),
          .cpu = {1e-6, 1e-5},
          .cuda = {1e-6, 2e-6}};
}
OpCase in_place(const char* name, Call call, TensorCall tensor_call) {
  return {.name = std::string(name) + " forward in place",
          .sizes = sizes_of({"R", "C", "n"}, {{1, 31, 31}, {1, 3000, 3000}}),
          .tensors = in_place_tensors,
          .call = std::move(call),
          .tensor_call = std::move(tensor_call),
          .cpu = {1e-6, 1e-5},
          .cuda = {1e-6, 2e-6}};
}

const OpCase kCases[] = {
    both("relu",
         SIMAD_OP_CALL(kDouble | kCuda, relu_forward(io.p("y"), io.p("x"), io.n("n"));
                       relu_backward(io.p_or_null("dx"), io.p("dy"), io.p("x"), io.n("n"))),
         [](auto& io) {
           simad::ops::relu_forward(io.t("y"), io.t("x"));
           simad::ops::relu_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("x"));
         }),
    in_place("relu", SIMAD_OP_CALL(kDouble | kCuda, relu_forward(io.p("x"), io.p("x"), io.n("n"))),
             [](auto& io) { simad::ops::relu_forward(io.t("x"), io.t("x")); }),
    both("leaky_relu",
         SIMAD_OP_CALL(kDouble | kCuda, leaky_relu_forward(io.p("y"), io.p("x"), io.n("n"), slope(io));
                       leaky_relu_backward(io.p_or_null("dx"), io.p("dy"), io.p("x"), io.n("n"), slope(io))),
         [](auto& io) {
           simad::ops::leaky_relu_forward(io.t("y"), io.t("x"), slope(io));
           simad::ops::leaky_relu_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("x"), slope(io));
         }),
    in_place("leaky_relu",
             SIMAD_OP_CALL(kDouble | kCuda, leaky_relu_forward(io.p("x"), io.p("x"), io.n("n"), slope(io))),
             [](auto& io) { simad::ops::leaky_relu_forward(io.t("x"), io.t("x"), slope(io)); }),
    both("gelu",
         SIMAD_OP_CALL(kDouble | kCuda, gelu_forward(io.p("y"), io.p("x"), io.n("n"));
                       gelu_backward(io.p_or_null("dx"), io.p("dy"), io.p("x"), io.n("n"))),
         [](auto& io) {
           simad::ops::gelu_forward(io.t("y"), io.t("x"));
           simad::ops::gelu_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("x"));
         }),
    in_place("gelu", SIMAD_OP_CALL(kDouble | kCuda, gelu_forward(io.p("x"), io.p("x"), io.n("n"))),
             [](auto& io) { simad::ops::gelu_forward(io.t("x"), io.t("x")); }),
    both("gelu_tanh",
         SIMAD_OP_CALL(kDouble | kCuda, gelu_tanh_forward(io.p("y"), io.p("x"), io.n("n"));
                       gelu_tanh_backward(io.p_or_null("dx"), io.p("dy"), io.p("x"), io.n("n"))),
         [](auto& io) {
           simad::ops::gelu_tanh_forward(io.t("y"), io.t("x"));
           simad::ops::gelu_tanh_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("x"));
         }),
    both("tanh",
         SIMAD_OP_CALL(kDouble | kCuda, tanh_forward(io.p("y"), io.p("x"), io.n("n"));
                       tanh_backward(io.p_or_null("dx"), io.p("dy"), io.p("y"), io.n("n"))),
         [](auto& io) {
           simad::ops::tanh_forward(io.t("y"), io.t("x"));
           simad::ops::tanh_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("y"));
         }),
    in_place("tanh", SIMAD_OP_CALL(kDouble | kCuda, tanh_forward(io.p("x"), io.p("x"), io.n("n"))),
             [](auto& io) { simad::ops::tanh_forward(io.t("x"), io.t("x")); }),
    both("sigmoid",
         SIMAD_OP_CALL(kDouble | kCuda, sigmoid_forward(io.p("y"), io.p("x"), io.n("n"));
                       sigmoid_backward(io.p_or_null("dx"), io.p("dy"), io.p("y"), io.n("n"))),
         [](auto& io) {
           simad::ops::sigmoid_forward(io.t("y"), io.t("x"));
           simad::ops::sigmoid_backward(io.t_or_undefined("dx"), io.t("dy"), io.t("y"));
         }),
    in_place("sigmoid", SIMAD_OP_CALL(kDouble | kCuda, sigmoid_forward(io.p("x"), io.p("x"), io.n("n"))),
             [](auto& io) { simad::ops::sigmoid_forward(io.t("x"), io.t("x")); }),
};

}  // namespace

TEST_CASE("op_cases: activation") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
