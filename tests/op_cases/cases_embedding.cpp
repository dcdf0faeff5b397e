// tests/op_cases/cases_embedding.cpp: embedding rows of the op harness (op_harness.hpp).
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/embedding.hpp"
#include "simad/ops/reference/embedding.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// 1 position, 1 column, widths that are not multiples of 32, rows wider than a warp, many repeats of
// few ids (V = 3, 7) for the atomic scatter-add.
const std::vector<Sizes> kShapes = sizes_of(
    {"N", "C", "V"}, {{1, 1, 1}, {1, 37, 4}, {5, 1, 3}, {37, 33, 7}, {300, 20, 7}, {9, 1000, 5}, {4, 70, 100}});

// The padding id of the size "pad": 0 none (-1), 1 the first id, 2 the last, 3 the middle one.
template <typename Io>
int32_t padding(const Io& io) {
  const int64_t V = io.n("V");
  switch (io.n("pad")) {
    case 1: return 0;
    case 2: return int32_t(V - 1);
    case 3: return int32_t(V / 2);
    default: return -1;
  }
}

Specs forward_tensors(const Sizes& s) {
  const int64_t N = s.at("N"), C = s.at("C"), V = s.at("V");
  return Specs{index("ids", {N}, 0, V), real("table", {V, C}), out("out", {N, C})};
}
Specs backward_tensors(const Sizes& s) {
  const int64_t N = s.at("N"), C = s.at("C"), V = s.at("V");
  return Specs{index("ids", {N}, 0, V), real("dout", {N, C}), acc("dtable", {V, C})};
}

const OpCase kCases[] = {
    {.name = "embedding forward",  // a copy: exact on every tier
     .sizes = times(kShapes, "pad", {0, 1, 2}),
     .tensors = forward_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, embedding_forward(io.p("out"), io.i("ids"), io.p("table"), io.n("N"),
                                                              io.n("C"), io.n("V"), padding(io))),
     .tensor_call =
         [](auto& io) { simad::ops::embedding_forward(io.t("out"), io.ti("ids"), io.t("table"), padding(io)); },
     .cpu = {0, 0},
     .cuda = {0, 0},
     .dbl = {0, 0}},
    // CUDA adds with atomics in another order than the CPU's serial loop: up to ~100 terms per element.
    {.name = "embedding backward",
     .sizes = times(kShapes, "pad", {0, 3}),
     .tensors = backward_tensors,
     .call = SIMAD_OP_CALL(kDouble | kCuda, embedding_backward(io.p("dtable"), io.p("dout"), io.i("ids"), io.n("N"),
                                                               io.n("C"), io.n("V"), padding(io));
                           embedding_backward(static_cast<T_*>(nullptr), io.p("dout"), io.i("ids"), io.n("N"),
                                              io.n("C"), io.n("V"), padding(io))),
     .tensor_call =
         [](auto& io) {
           simad::ops::embedding_backward(io.t("dtable"), io.t("dout"), io.ti("ids"), padding(io));
           simad::ops::embedding_backward(std::remove_cvref_t<decltype(io.t("dout"))>(), io.t("dout"), io.ti("ids"),
                                          padding(io));
         },
     .cuda = {1e-5, 1e-5},
     .cuda_same_bits = false},
    // ids of rank 2 (A, B), out / dout (A, B, C); repeated ids.
    {.name = "embedding on rank-3 tensors",
     .sizes = times(sizes_of({"A", "B", "C", "V"}, {{2, 5, 7, 5}, {4, 6, 37, 11}}), "pad", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t A = s.at("A"), B = s.at("B"), C = s.at("C"), V = s.at("V");
           return Specs{index("ids", {A, B}, 0, V), real("table", {V, C}), out("out", {A, B, C}),
                        real("dout", {A, B, C}), acc("dtable", {V, C})};
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t N = io.n("A") * io.n("B");
                           embedding_forward(io.p("out"), io.i("ids"), io.p("table"), N, io.n("C"), io.n("V"),
                                             padding(io));
                           embedding_backward(io.p("dtable"), io.p("dout"), io.i("ids"), N, io.n("C"), io.n("V"),
                                              padding(io))),
     .tensor_call =
         [](auto& io) {
           simad::ops::embedding_forward(io.t("out"), io.ti("ids"), io.t("table"), padding(io));
           simad::ops::embedding_backward(io.t("dtable"), io.t("dout"), io.ti("ids"), padding(io));
         },
     .cuda = {1e-5, 1e-5},
     .cuda_same_bits = false},
};

}  // namespace

TEST_CASE("op_cases: embedding") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
