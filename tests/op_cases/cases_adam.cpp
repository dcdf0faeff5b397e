// tests/op_cases/cases_adam.cpp: Adam / AdamW update rows of the op harness (op_harness.hpp). The CPU op
// is simad::train::adam_update (options struct); the launcher takes the options one by one.
#include <type_traits>

#include "op_harness.hpp"
#include "simad/ops/dispatch/adam.hpp"
#include "simad/ops/reference/adam.hpp"
#include "simad/train/optimizer.hpp"

#if defined(SIMAD_HAVE_CUDA_KERNELS)
#include "simad/cuda/kernels/adam.hpp"
#endif

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad::testing::op_cases;
using simad::train::AdamOptions;
using simad::train::WeightDecay;

// "variant": 0 Adam, 1 Adam with L2 0.01, 2 AdamW 0.1, 3 AdamW without decay. Three steps, new grads each.
template <typename Io>
AdamOptions options(const Io& io) {
  const double wd[] = {0.0, 0.01, 0.1, 0.0};
  return AdamOptions{.lr = 3e-3, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = wd[io.n("variant")]};
}
template <typename Io>
WeightDecay mode(const Io& io) {
  return io.n("variant") >= 2 ? WeightDecay::decoupled : WeightDecay::l2;
}

Specs adam_tensors(const simad::Shape& shape) {
  Spec m = acc("m", shape), v = acc("v", shape);
  m.lo = -0.1, m.hi = 0.1, v.lo = 0.0, v.hi = 0.01;
  return Specs{acc("params", shape), real("g1", shape), real("g2", shape), real("g3", shape), m, v};
}

template <typename Io>
void adam_steps(Io& io, Tier tier) {
  using T = typename Io::value_type;
  const AdamOptions o = options(io);
  const int64_t n = io.t("params").numel();
  const char* grads[] = {"g1", "g2", "g3"};
  for (int64_t t = 1; t <= 3; ++t) {
    T* g = io.p(grads[t - 1]);
    if (tier == Tier::reference) {
      simad::ops::reference::adam_update(io.p("params"), g, io.p("m"), io.p("v"), n, t, o, mode(io));
    } else if (tier == Tier::cpu) {
      simad::train::adam_update(io.p("params"), g, io.p("m"), io.p("v"), n, t, o, mode(io));
    } else {
#if defined(SIMAD_HAVE_CUDA_KERNELS)
      if constexpr (std::is_same_v<T, float>)
        simad::cuda::kernels::adam_update(io.p("params"), g, io.p("m"), io.p("v"), n, t, o.lr, o.beta1, o.beta2,
                                          o.eps, o.weight_decay, mode(io) == WeightDecay::decoupled);
#endif
    }
  }
}

template <typename Io>
void adam_tensor_steps(Io& io) {
  const char* grads[] = {"g1", "g2", "g3"};
  for (int64_t t = 1; t <= 3; ++t)
    simad::train::adam_update(io.t("params"), io.t(grads[t - 1]), io.t("m"), io.t("v"), t, options(io), mode(io));
}

const OpCase kCases[] = {
    {.name = "adam_update, three steps",
     .sizes = times(sizes_of({"n"}, {{1}, {31}, {1000}, {2049}}), "variant", {0, 1, 2, 3}),
     .tensors = [](const Sizes& s) { return adam_tensors({s.at("n")}); },
     .call = [](auto& io, Tier tier) { adam_steps(io, tier); },
     .tensor_call = [](auto& io) { adam_tensor_steps(io); }},
    {.name = "adam_update on rank-2 tensors",
     .sizes = times(sizes_of({"rows", "cols"}, {{7, 13}}), "variant", {1, 2}),
     .tensors = [](const Sizes& s) { return adam_tensors({s.at("rows"), s.at("cols")}); },
     .call = [](auto& io, Tier tier) { adam_steps(io, tier); },
     .tensor_call = [](auto& io) { adam_tensor_steps(io); }},
};

}  // namespace

TEST_CASE("op_cases: adam") { check_cases(kCases); }

}  // namespace SIMAD_TEST_FILE_ID
