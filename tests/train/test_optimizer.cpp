// Tests of include/simad/train/optimizer.hpp: Adam and AdamW against the reference
// tier's double implementation of PyTorch's update equations (ops/reference/adam.hpp), the bias
// correction from t = 1, the optimizer's named state, and clip_grad_norm against a naive norm.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "simad/ops/reference/adam.hpp"
#include "simad/train/optimizer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using train::AdamOptions;
using train::ParamSlice;
using train::ParamStore;

namespace {

// torch.optim.Adam / AdamW (amsgrad=False, maximize=False), single-tensor path, in double (the
// reference tier, ops/reference/adam.hpp):
//   Adam:  grad = grad + wd * param
//   AdamW: param = param * (1 - lr * wd)
//   exp_avg = exp_avg * beta1 + (1 - beta1) * grad
//   exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * grad^2
//   param -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps)
struct ReferenceAdam {
  std::vector<double> p, m, v;
  int64_t t = 0;
  bool decoupled = false;

  void step(const std::vector<double>& grad, const AdamOptions& o) {
    ++t;
    ops::reference::adam_update(p.data(), grad.data(), m.data(), v.data(), int64_t(p.size()), t, o,
                                decoupled ? train::WeightDecay::decoupled : train::WeightDecay::l2);
  }
};

// A store with awkward slice sizes (padding after most of them) and a slice big enough that the
// update runs in parallel.
template <typename T>
ParamStore<T> make_store() {
  ParamStore<T> store;
  store.add("emb", {7, 5});
  store.add("w", {3, 33});
  store.add("b", {1});
  store.add("big", {20011});
  store.allocate();
  return store;
}

// The parameter values of a store, slices concatenated (no padding).
template <typename T>
std::vector<double> gather(const ParamStore<T>& store, const Tensor<T>& flat) {
  std::vector<double> out;
  for (const ParamSlice& s : store)
    for (int64_t i = 0; i < s.numel; ++i) out.push_back(double(flat.data()[s.offset + i]));
  return out;
}

template <typename T>
void scatter(const ParamStore<T>& store, const Tensor<T>& flat, const std::vector<double>& values) {
  size_t k = 0;
  for (const ParamSlice& s : store)
    for (int64_t i = 0; i < s.numel; ++i) flat.data()[s.offset + i] = T(values[k++]);
}

template <typename T>
void check_padding_zero(const ParamStore<T>& store, const Tensor<T>& flat, const char* what) {
  int64_t next = 0;
  size_t bad = 0;
  for (const ParamSlice& s : store) {
    for (int64_t i = next; i < s.offset; ++i) bad += flat.data()[i] != T(0);
    next = s.offset + s.numel;
  }
  for (int64_t i = next; i < store.buffer_size(); ++i) bad += flat.data()[i] != T(0);
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " padding elements are not zero");
}

// Runs `steps` steps of the optimizer and the reference from the same random start and gradients
// (a few exact zeros among them), changing the learning rate between steps as a schedule would.
template <typename T, typename Opt>
void compare_with_reference(AdamOptions o, bool decoupled, int steps, double atol, double rtol) {
  auto rng = testing::test_rng();
  ParamStore<T> store = make_store<T>();
  const size_t n = size_t(store.num_params());
  ReferenceAdam ref;
  ref.decoupled = decoupled;
  ref.p = testing::random_vector<double>(rng, n, -1.0, 1.0);
  ref.m.assign(n, 0.0);
  ref.v.assign(n, 0.0);
  scatter(store, store.params(), ref.p);
  ref.p = gather(store, store.params());  // the reference starts from the rounded values
  Opt opt(store, o);
  for (int step = 1; step <= steps; ++step) {
    std::vector<double> g = testing::random_vector<double>(rng, n, -2.0, 2.0);
    for (size_t i = 0; i < n; i += 97) g[i] = 0.0;
    scatter(store, store.grads(), g);
    g = gather(store, store.grads());  // the rounded gradients the optimizer sees
    opt.options().lr = o.lr * (1.0 + 0.1 * step);
    ref.step(g, opt.options());
    opt.step();
    CHECK(opt.step_count() == step);
    const std::string at = " after step " + std::to_string(step);
    testing::check_close(gather(store, store.params()), ref.p, atol, rtol, "params" + at);
    testing::check_close(gather(store, opt.m()), ref.m, atol, rtol, "exp_avg" + at);
    testing::check_close(gather(store, opt.v()), ref.v, atol, rtol, "exp_avg_sq" + at);
  }
  check_padding_zero(store, store.params(), "params");
  check_padding_zero(store, opt.m(), "exp_avg");
  check_padding_zero(store, opt.v(), "exp_avg_sq");
}

}  // namespace

TEST_CASE("train/optimizer: Adam matches the PyTorch equations (double reference)") {
  const AdamOptions plain{.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0};
  const AdamOptions l2{.lr = 3e-3, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1};
  compare_with_reference<double, train::Adam<double>>(plain, false, 6, 1e-13, 1e-12);
  compare_with_reference<double, train::Adam<double>>(l2, false, 6, 1e-13, 1e-12);
  compare_with_reference<float, train::Adam<float>>(plain, false, 6, 2e-6, 2e-5);
  compare_with_reference<float, train::Adam<float>>(l2, false, 6, 2e-6, 2e-5);
}

TEST_CASE("train/optimizer: AdamW matches the PyTorch equations (double reference)") {
  const AdamOptions o{.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05};
  const AdamOptions big_decay{.lr = 0.1, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 2.0};
  compare_with_reference<double, train::AdamW<double>>(o, true, 6, 1e-13, 1e-12);
  compare_with_reference<double, train::AdamW<double>>(big_decay, true, 6, 1e-13, 1e-12);
  compare_with_reference<float, train::AdamW<float>>(o, true, 6, 2e-6, 2e-5);
  compare_with_reference<float, train::AdamW<float>>(big_decay, true, 6, 2e-6, 2e-5);
}

TEST_CASE("train/optimizer: the first step is lr * g / (|g| + eps) (bias correction from t = 1)") {
  ParamStore<double> store;
  store.add("x", {5});
  store.allocate();
  const std::vector<double> g = {1.0, -0.25, 1e-3, 0.0, -40.0};
  for (size_t i = 0; i < g.size(); ++i) store.grad("x")(int64_t(i)) = g[i];
  train::Adam<double> opt(store, {.lr = 0.5, .eps = 1e-8});
  CHECK(opt.step_count() == 0);
  opt.step();
  for (size_t i = 0; i < g.size(); ++i)
    CHECK(store.param("x")(int64_t(i)) == doctest::Approx(-0.5 * g[i] / (std::fabs(g[i]) + 1e-8)).epsilon(1e-14));
  // Decoupled decay alone (zero gradients): p *= 1 - lr * wd each step, m and v stay zero.
  store.param("x").fill(2.0);
  store.zero_grad();
  train::AdamW<double> w(store, {.lr = 0.1, .weight_decay = 0.5});
  w.step();
  w.step();
  for (double p : store.param("x").span()) CHECK(p == doctest::Approx(2.0 * 0.95 * 0.95).epsilon(1e-15));
  for (double m : w.m().span()) CHECK(m == 0.0);
  CHECK(train::AdamW<float>(make_store<float>()).options().weight_decay == 0.01);  // PyTorch's default
  CHECK(train::Adam<float>(make_store<float>()).options().weight_decay == 0.0);
}

TEST_CASE("train/optimizer: named state, step count, reset, bad options") {
  ParamStore<float> store = make_store<float>();
  train::AdamW<float> opt(store);
  auto rng = testing::test_rng();
  for (const ParamSlice& s : store) rng.fill_uniform(store.grad(s.name).span(), -1.0, 1.0);  // not the padding
  opt.step();
  opt.step();
  const auto state = opt.state();
  REQUIRE(state.size() == 2 * size_t(store.size()));
  CHECK(state[0].first == "exp_avg.emb");
  CHECK(state[3].first == "exp_avg.big");
  CHECK(state[4].first == "exp_avg_sq.emb");
  CHECK(state[7].first == "exp_avg_sq.big");
  CHECK(state[1].second.shape() == Shape{3, 33});
  CHECK(state[1].second.data() == opt.m().data() + store.slice("w").offset);
  CHECK(state[5].second.data() == opt.v().data() + store.slice("w").offset);
  CHECK(opt.m("w").data() == state[1].second.data());
  CHECK(opt.v("big").shape() == Shape{20011});
  CHECK_THROWS_WITH_AS(opt.m("nope"), doctest::Contains("unknown parameter 'nope'"), Error);
  CHECK(opt.m("w")(0, 0) != 0.0f);

  // Restoring state into a fresh optimizer continues identically.
  ParamStore<float> other = make_store<float>();
  std::memcpy(other.params().data(), store.params().data(), store.params().bytes());
  std::memcpy(other.grads().data(), store.grads().data(), store.grads().bytes());
  train::AdamW<float> resumed(other);
  const auto resumed_state = resumed.state();
  for (size_t i = 0; i < state.size(); ++i)
    std::memcpy(resumed_state[i].second.data(), state[i].second.data(), state[i].second.bytes());
  resumed.set_step_count(opt.step_count());
  opt.step();
  resumed.step();
  CHECK(std::memcmp(other.params().data(), store.params().data(), store.params().bytes()) == 0);

  opt.reset();
  CHECK(opt.step_count() == 0);
  for (float m : opt.m().span()) REQUIRE(m == 0.0f);
  CHECK_THROWS_AS(opt.set_step_count(-1), Error);

  CHECK_THROWS_AS(train::Adam<float>(store, {.lr = -1.0}), Error);
  CHECK_THROWS_AS(train::Adam<float>(store, {.beta1 = 1.0}), Error);
  CHECK_THROWS_AS(train::Adam<float>(store, {.beta2 = -0.1}), Error);
  CHECK_THROWS_AS(train::Adam<float>(store, {.eps = -1e-8}), Error);
  CHECK_THROWS_AS(train::AdamW<float>(store, {.weight_decay = -0.1}), Error);
  opt.options().lr = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(opt.step(), Error);
  ParamStore<float> unallocated;
  unallocated.add("x", {2});
  CHECK_THROWS_AS(train::Adam<float>{unallocated}, Error);
  float p = 0, g = 0, m = 0, v = 0;
  CHECK_THROWS_AS(train::adam_update(&p, &g, &m, &v, 1, 0, AdamOptions{}, train::WeightDecay::l2), Error);
}

TEST_CASE("train/optimizer: clip_grad_norm matches a naive norm and torch's scaling") {
  auto rng = testing::test_rng();
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    for (size_t n : {size_t(1), size_t(17), size_t(100003)}) {
      std::vector<float> g = testing::random_vector<float>(rng, n, -3.0, 3.0);
      const std::vector<float> before = g;
      double naive = 0;
      for (float x : g) naive += double(x) * double(x);
      naive = std::sqrt(naive);
      const double max_norm = naive / 2;
      const double norm = train::clip_grad_norm(std::span<float>(g), max_norm);
      CHECK(norm == doctest::Approx(naive).epsilon(1e-12));
      const double scale = max_norm / (naive + 1e-6);
      std::vector<double> expected(n);
      for (size_t i = 0; i < n; ++i) expected[i] = double(before[i]) * scale;
      testing::check_close(g, expected, 1e-7, 1e-6, "clipped gradients");
      // Clipping again (norm now ~max_norm, coefficient >= 1 - tiny) changes little; a larger
      // max_norm changes nothing, bit for bit.
      const std::vector<float> clipped = g;
      const double again = train::clip_grad_norm(std::span<float>(g), 10 * max_norm);
      CHECK(again == doctest::Approx(max_norm).epsilon(1e-6));
      CHECK(std::memcmp(g.data(), clipped.data(), n * sizeof(float)) == 0);
    }
  }
  set_num_threads(ThreadPool::default_threads());

  // Bit-identical norm whatever the thread count (fixed chunks, combined in order).
  std::vector<double> big = testing::random_vector<double>(rng, 300007, -1.0, 1.0);
  set_num_threads(1);
  const double n1 = train::grad_norm(std::span<const double>(big));
  set_num_threads(4);
  const double n4 = train::grad_norm(std::span<const double>(big));
  set_num_threads(ThreadPool::default_threads());
  CHECK(std::memcmp(&n1, &n4, sizeof n1) == 0);

  // Edge cases: empty, max_norm = 0 (everything to zero), a non-finite norm (returned, nothing
  // scaled), a negative max_norm (error).
  std::vector<float> empty;
  CHECK(train::clip_grad_norm(std::span<float>(empty), 1.0) == 0.0);
  std::vector<float> g = {3.0f, 4.0f};
  CHECK(train::clip_grad_norm(std::span<float>(g), 0.0) == doctest::Approx(5.0));
  CHECK(g[0] == 0.0f);
  CHECK(g[1] == 0.0f);
  std::vector<float> inf = {1.0f, std::numeric_limits<float>::infinity()};
  CHECK(std::isinf(train::clip_grad_norm(std::span<float>(inf), 1.0)));
  CHECK(inf[0] == 1.0f);
  CHECK_THROWS_AS(train::clip_grad_norm(std::span<float>(g), -1.0), Error);

  // Over a store: the global norm of every slice (padding contributes zeros).
  ParamStore<double> store = make_store<double>();
  rng.fill_uniform(store.grad("emb").span(), -1.0, 1.0);
  rng.fill_uniform(store.grad("big").span(), -1.0, 1.0);
  store.grad("b")(0) = 5.0;
  double naive = 0;
  for (const ParamSlice& s : store)
    for (double x : store.grad(s.name).span()) naive += x * x;
  naive = std::sqrt(naive);
  CHECK(train::clip_grad_norm(store, 1.0) == doctest::Approx(naive).epsilon(1e-12));
  CHECK(train::grad_norm(std::span<const double>(store.grads().span())) == doctest::Approx(1.0).epsilon(1e-5));
  check_padding_zero(store, store.grads(), "clipped grads");
}

}  // namespace SIMAD_TEST_FILE_ID
