// tests/op_cases/cases_topk_gather.cpp: top-k selection and gather rows of the op harness (op_harness.hpp).
// The selection has no CUDA form (it runs on the host, a sort of a few scores per ad); the gather has.
#include <algorithm>
#include <numeric>
#include <span>
#include <type_traits>
#include <vector>

#include "op_harness.hpp"
#include "simad/ops/dispatch/topk_gather.hpp"
#include "simad/ops/reference/topk_gather.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;

// idx (B, k) as topk_select makes it: distinct members of each set in random order, then -1 for the
// slots past the set's members (set b % 3 == 1 has fewer members than slots, or none when S is 1).
Spec slot_indices(int64_t B, int64_t S, int64_t k) {
  Spec s = index("idx", {B, k}, 0, 1);
  s.make_index = [B, S, k](simad::Rng& rng, std::span<int32_t> idx) {
    std::vector<int32_t> members(static_cast<size_t>(S));
    for (int64_t b = 0; b < B; ++b) {
      std::iota(members.begin(), members.end(), 0);
      for (int64_t i = S - 1; i > 0; --i) std::swap(members[size_t(i)], members[rng.next_below(uint32_t(i + 1))]);
      const int64_t filled = b % 3 == 1 ? std::min(k, S) / 2 : std::min(k, S);
      for (int64_t t = 0; t < k; ++t) idx[size_t(b * k + t)] = t < filled ? members[size_t(t)] : -1;
    }
  };
  return s;
}

const OpCase kCases[] = {
    // Masks cycle all real, random, one real, none real (every slot -1); k above S leaves empty slots.
    {.name = "topk_select, topk_slot_mask",
     .sizes = times(sizes_of({"B", "S", "k"}, {{1, 1, 1}, {4, 6, 3}, {3, 9, 4}, {5, 3, 4}, {6, 40, 7}}), "masked",
                    {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), k = s.at("k");
           // Tied scores: ties go to the smaller index.
           Specs v{tied("scores", {B, S}), out("idx", {B, k}, Kind::index), out("slots", {B, k}, Kind::mask)};
           if (s.at("masked")) v.push_back(mask("mask", {B, S}));
           return v;
         },
     .call = SIMAD_OP_CALL_CPU(topk_select(io.i("idx"), io.p("scores"), io.m_or_null("mask"), io.n("B"), io.n("S"),
                                           io.n("k"));
                               topk_slot_mask(io.m("slots"), io.i("idx"), io.n("B"), io.n("k"))),
     .tensor_call = {},  // no Tensor form
     .tiers = kDouble},
    // Weighted and unweighted (weight 1); C above a block (300); set 1 with empty slots.
    {.name = "topk_gather forward, backward",
     .sizes = times(sizes_of({"B", "S", "k", "C"}, {{1, 1, 1, 1}, {4, 6, 3, 5}, {3, 9, 4, 300}, {5, 3, 5, 17}}),
                    "weighted", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), S = s.at("S"), k = s.at("k"), C = s.at("C");
           Specs v{real("inp", {B, S, C}), slot_indices(B, S, k), out("out", {B, k, C}), real("dout", {B, k, C}),
                   acc("dinp", {B, S, C}), acc("dweight", {B, k})};
           if (s.at("weighted")) v.push_back(real("weight", {B, k}));
           return v;
         },
     .call = SIMAD_OP_CALL(kDouble | kCuda, const int64_t B = io.n("B"), S = io.n("S"), k = io.n("k"), C = io.n("C");
                           topk_gather_forward(io.p("out"), io.p("inp"), io.p_or_null("weight"), io.i("idx"), B, S, k,
                                               C);
                           topk_gather_backward(io.p("dinp"), io.p("dweight"), io.p("dout"), io.p("inp"),
                                                io.p_or_null("weight"), io.i("idx"), B, S, k, C);
                           // Either gradient alone: the other is skipped (the values add once more).
                           topk_gather_backward(io.p("dinp"), static_cast<T_*>(nullptr), io.p("dout"), io.p("inp"),
                                                io.p_or_null("weight"), io.i("idx"), B, S, k, C);
                           topk_gather_backward(static_cast<T_*>(nullptr), io.p("dweight"), io.p("dout"), io.p("inp"),
                                                io.p_or_null("weight"), io.i("idx"), B, S, k, C)),
     .tensor_call =
         [](auto& io) {
           using Tn = std::remove_cvref_t<decltype(io.t("inp"))>;
           const Tn w = io.t_or_undefined("weight");
           simad::ops::topk_gather_forward(io.t("out"), io.t("inp"), w, io.ti("idx"));
           simad::ops::topk_gather_backward(io.t("dinp"), io.t("dweight"), io.t("dout"), io.t("inp"), w, io.ti("idx"));
           simad::ops::topk_gather_backward(io.t("dinp"), Tn(), io.t("dout"), io.t("inp"), w, io.ti("idx"));
           simad::ops::topk_gather_backward(Tn(), io.t("dweight"), io.t("dout"), io.t("inp"), w, io.ti("idx"));
         },
     .cuda = {1e-6, 1e-5}},  // dweight's dot products sum in another order on CUDA
};

}  // namespace

TEST_CASE("op_cases: topk_gather") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
