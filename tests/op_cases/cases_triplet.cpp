// tests/op_cases/cases_triplet.cpp: batch-hard triplet loss rows of the op harness (op_harness.hpp). The
// CUDA launchers take a device workspace and write the loss and the skipped count to device memory, so
// the row writes its tiers out; loss and skipped come back as the row's scalars.
#include <span>
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/triplet.hpp"
#include "simad/ops/reference/triplet.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/triplet.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;
using simad::ops::TripletDistance;

constexpr double kMargin = 0.4, kDloss = 1.5;

// labels (B) from `classes` labels, and anchor 3 alone in its class (no positive) when B > 5.
Spec labels(int64_t B, int64_t classes) {
  Spec s = index("labels", {B}, 0, classes);
  s.make_index = [classes](simad::Rng& rng, std::span<int32_t> l) {
    for (int32_t& x : l) x = int32_t(rng.next_below(uint32_t(classes)));
    if (l.size() > 5) l[3] = 77;
  };
  return s;
}

// emb (B, D): "ties" 1 draws every coordinate from {-1, 0, 1}, so equal distances happen (the smaller
// index wins).
Spec embeddings(int64_t B, int64_t D, bool ties) {
  Spec s = real("emb", {B, D});
  if (ties)
    s.make_real = [](simad::Rng& rng, std::span<float> x) {
      for (float& v : x) v = float(int(rng.next_below(3)) - 1);
    };
  return s;
}

TripletDistance distance_of(const auto& io) {
  return io.n("euclidean") ? TripletDistance::Euclidean : TripletDistance::Squared;
}

template <typename Io>
void triplet_call(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const int64_t B = io.n("B"), D = io.n("D");
  const TripletDistance dist = distance_of(io);
  const T margin = T(kMargin), dloss = T(kDloss);
  T loss = T(-7);
  int64_t skipped = -7;
  if (tier == Tier::reference) {
    simad::ops::reference::batch_hard_triplet_forward(&loss, io.i("pos"), io.i("neg"), &skipped, io.p("emb"),
                                                      io.i("labels"), B, D, margin, dist);
    simad::ops::reference::batch_hard_triplet_backward(io.p("demb"), dloss, io.p("emb"), io.i("pos"), io.i("neg"), B,
                                                       D, margin, dist);
  } else if (tier == Tier::cpu) {
    simad::ops::batch_hard_triplet_forward(&loss, io.i("pos"), io.i("neg"), &skipped, io.p("emb"), io.i("labels"), B,
                                           D, margin, dist);
    simad::ops::batch_hard_triplet_backward(io.p("demb"), dloss, io.p("emb"), io.i("pos"), io.i("neg"), B, D, margin,
                                            dist);
  } else {
    SIMAD_OP_CUDA(T, const size_t bytes = triplet_workspace_bytes(B);
                  const auto ws = simad::cuda::to_device(simad::Tensor<uint8_t>::full({int64_t(bytes) + 1}, 0xff));
                  const auto d_loss = simad::cuda::to_device(simad::Tensor<float>::full({1}, -7.0f));
                  const auto d_skipped = simad::cuda::to_device(simad::Tensor<int64_t>::full({1}, -7));
                  batch_hard_triplet_forward(d_loss.data(), io.i("pos"), io.i("neg"), d_skipped.data(), io.p("emb"),
                                             io.i("labels"), B, D, margin, dist, ws.data(), bytes);
                  batch_hard_triplet_backward(io.p("demb"), dloss, io.p("emb"), io.i("pos"), io.i("neg"), B, D, margin,
                                              dist, ws.data(), bytes);
                  loss = simad::cuda::to_host(d_loss).data()[0]; skipped = simad::cuda::to_host(d_skipped).data()[0])
  }
  io.scalars["loss"] = double(loss);
  io.scalars["skipped"] = double(skipped);
}

const OpCase kCases[] = {
    // B = 1 (no positive: skipped 1, loss 0), B = 2 with D = 1, a lonely label, many anchors per warp.
    {.name = "batch_hard_triplet forward, backward",
     .sizes = times(sizes_of({"B", "D", "classes", "ties"},
                             {{1, 3, 1, 0}, {2, 1, 2, 0}, {7, 5, 3, 0}, {33, 17, 4, 0}, {70, 40, 9, 0}, {45, 2, 3, 1}}),
                    "euclidean", {0, 1}),
     .tensors =
         [](const Sizes& s) {
           const int64_t B = s.at("B"), D = s.at("D");
           return Specs{embeddings(B, D, s.at("ties") != 0), labels(B, s.at("classes")), out("pos", {B}, Kind::index),
                        out("neg", {B}, Kind::index), acc("demb", {B, D})};
         },
     .call = [](auto& io, Tier tier) { triplet_call(io, tier); },
     .tensor_call =
         [](auto& io) {
           using T = typename std::remove_reference_t<decltype(io)>::value_type;
           int64_t skipped = -7;
           const T loss = simad::ops::batch_hard_triplet_forward(io.ti("pos"), io.ti("neg"), &skipped, io.t("emb"),
                                                                 io.ti("labels"), T(kMargin), distance_of(io));
           simad::ops::batch_hard_triplet_backward(io.t("demb"), T(kDloss), io.t("emb"), io.ti("pos"), io.ti("neg"),
                                                   T(kMargin), distance_of(io));
           io.scalars["loss"] = double(loss);
           io.scalars["skipped"] = double(skipped);
         },
     .cpu = {1e-6, 1e-5},
     .cuda = {1e-6, 1e-5}},
};

}  // namespace

TEST_CASE("op_cases: triplet") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
