// tests/op_cases/cases_concat.cpp: concat rows of the op harness (op_harness.hpp): concatenation along the
// last axis, forward and backward (ops/concat.hpp, ops/dispatch/concat.hpp). The CUDA tier runs the
// launchers of kernels/concat.cu part by part (concat_part_forward / concat_part_backward at each part's
// column offset), as the Tensor dispatch does. Copies and one addition per element: exact in CUDA.
#include <string>
#include <vector>

#include "op_harness.hpp"
#include "simad/ops/dispatch/concat.hpp"
#include "simad/ops/reference/concat.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

template <typename IoT>
using Elem = typename std::remove_reference_t<IoT>::value_type;

constexpr Tolerance kExact{0.0, 0.0};

// "p0", "dp1" ... (appended, not prefix + string: GCC 12's -Wrestrict false positive).
std::string name_of(const char* prefix, int64_t p) {
  std::string s = prefix;
  s += std::to_string(p);
  return s;
}

// Parts p0 .. p{P-1} of shape (A, B, w_p); the whole (A, B, sum w_p), outer = A * B rows.
Specs concat_tensors(const Sizes& s) {
  const int64_t A = s.at("A"), B = s.at("B"), P = s.at("P");
  int64_t total = 0;
  Specs v;
  for (int64_t p = 0; p < P; ++p) {
    const int64_t w = s.at(name_of("w", p));
    total += w;
    v.push_back(real(name_of("p", p), {A, B, w}));
    v.push_back(acc(name_of("dp", p), {A, B, w}));
  }
  v.push_back(out("out", {A, B, total}));
  v.push_back(real("dout", {A, B, total}));
  return v;
}

template <typename IoT>
std::vector<simad::Tensor<Elem<IoT>>> tensors_of(const IoT& io, const char* prefix) {
  std::vector<simad::Tensor<Elem<IoT>>> t;
  for (int64_t p = 0; p < io.n("P"); ++p) t.push_back(io.t(name_of(prefix, p)));
  return t;
}

const OpCase kCases[] = {
    {.name = "concat forward, backward",
     .sizes = sizes_of({"A", "B", "P", "w0", "w1", "w2"},
                       {{1, 1, 3, 3, 1, 300}, {1, 7, 3, 3, 1, 300}, {1, 130, 3, 3, 1, 300}, {2, 3, 2, 5, 7, 0},
                        {1, 33, 1, 37, 0, 0}, {5, 1, 3, 1, 1, 1030}}),
     .tensors = concat_tensors,
     .call =
         [](auto& io, Tier tier) {
           using T = Elem<decltype(io)>;
           const int64_t outer = io.n("A") * io.n("B");
           std::vector<int64_t> widths;
           std::vector<const T*> parts;
           std::vector<T*> dparts;
           for (int64_t p = 0; p < io.n("P"); ++p) {
             widths.push_back(io.n(name_of("w", p)));
             parts.push_back(io.p(name_of("p", p)));
             dparts.push_back(io.p(name_of("dp", p)));
           }
           if (tier == Tier::reference) {
             simad::ops::reference::concat_forward<T>(io.p("out"), parts, widths, outer);
             simad::ops::reference::concat_backward<T>(dparts, io.p("dout"), widths, outer);
           } else if (tier == Tier::cpu) {
             simad::ops::concat_forward<T>(io.p("out"), parts, widths, outer);
             simad::ops::concat_backward<T>(dparts, io.p("dout"), widths, outer);
           } else {
             SIMAD_OP_CUDA(T, const int64_t total = io.t("out").dim(-1); int64_t offset = 0;
                           for (size_t p = 0; p < widths.size(); offset += widths[p], ++p) {
                             concat_part_forward(io.p("out"), parts[p], outer, total, offset, widths[p]);
                             concat_part_backward(dparts[p], io.p("dout"), outer, total, offset, widths[p]);
                           });
           }
         },
     .tensor_call =
         [](auto& io) {
           using T = Elem<decltype(io)>;
           const auto parts = tensors_of(io, "p"), dparts = tensors_of(io, "dp");
           simad::ops::concat_forward(io.t("out"), std::span<const simad::Tensor<T>>(parts));
           simad::ops::concat_backward(std::span<const simad::Tensor<T>>(dparts), io.t("dout"));
         },
     .cpu = {0.0, 1e-7},  // the backward's float addition against the double reference
     .cuda = kExact,
     .dbl = kExact},
};

}  // namespace

TEST_CASE("op_cases: concat") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
