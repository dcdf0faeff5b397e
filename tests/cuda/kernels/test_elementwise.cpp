// tests/cuda/kernels/test_elementwise.cpp: kernels/elementwise.cu (include/simad/cuda/kernels/
// elementwise.hpp) against the CPU ops of simad/ops/activation.hpp (themselves tested against double
// references), plus fill / scale / axpy against plain loops and the Tensor dispatch of
// simad/ops/dispatch/activation.hpp. Tolerance: |gpu - cpu| <= 1e-6 + 2e-6 |cpu| (the same float
// formulas; a GPU's erff / expf / tanhf may differ from libm by a few ulp). Sizes: 1, 31 (under a
// warp), 257 (a block and one), 3000 (many blocks, not a multiple of anything). Outputs are poisoned
// with NaN in device memory first; backward starts from a random dinp (it accumulates).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/kernels/elementwise.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/ops/activation.hpp"
#include "simad/ops/dispatch/activation.hpp"
#include "simad/ops/dispatch/elementwise.hpp"
#include "testing.hpp"

namespace {

using simad::Device;
using simad::Tensor;
namespace ck = simad::cuda::kernels;
namespace ops = simad::ops;

constexpr double kAtol = 1e-6, kRtol = 2e-6;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const int64_t kSizes[] = {1, 31, 257, 3000};

Tensor<float> upload(const std::vector<float>& h) {
  return simad::cuda::to_device(Tensor<float>::from({int64_t(h.size())}, std::span<const float>(h)));
}
std::vector<float> download(const Tensor<float>& d) {
  SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
  SIMAD_CUDA_CHECK(cudaGetLastError());
  const Tensor<float> h = simad::cuda::to_host(d);
  return std::vector<float>(h.data(), h.data() + h.numel());
}

// Inputs over [-6, 6] plus the kinks and saturation points: 0, +-tiny, +-30, -100.
std::vector<float> activation_inputs(simad::Rng& rng, int64_t n) {
  auto x = simad::testing::random_vector<float>(rng, size_t(n), -6.0, 6.0);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, -100.0f, 100.0f};
  for (size_t i = 0; i < x.size() && i < 8; ++i) x[i * 3 % x.size()] = special[i];
  return x;
}

using PtrForward = std::function<void(float*, const float*, int64_t)>;
using PtrBackward = std::function<void(float*, const float*, const float*, int64_t)>;

struct Activation {
  const char* name;
  PtrForward cpu_fwd, gpu_fwd;
  PtrBackward cpu_bwd, gpu_bwd;
  bool backward_from_output;  // tanh, sigmoid: backward takes the forward output
};

std::vector<Activation> activations() {
  const float slope = 0.2f;
  return {
      {"relu", [](float* o, const float* i, int64_t n) { ops::relu_forward(o, i, n); },
       [](float* o, const float* i, int64_t n) { ck::relu_forward(o, i, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ops::relu_backward(d, g, s, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ck::relu_backward(d, g, s, n); }, false},
      {"leaky_relu", [=](float* o, const float* i, int64_t n) { ops::leaky_relu_forward(o, i, n, slope); },
       [=](float* o, const float* i, int64_t n) { ck::leaky_relu_forward(o, i, n, slope); },
       [=](float* d, const float* g, const float* s, int64_t n) { ops::leaky_relu_backward(d, g, s, n, slope); },
       [=](float* d, const float* g, const float* s, int64_t n) { ck::leaky_relu_backward(d, g, s, n, slope); }, false},
      {"gelu", [](float* o, const float* i, int64_t n) { ops::gelu_forward(o, i, n); },
       [](float* o, const float* i, int64_t n) { ck::gelu_forward(o, i, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ops::gelu_backward(d, g, s, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ck::gelu_backward(d, g, s, n); }, false},
      {"tanh", [](float* o, const float* i, int64_t n) { ops::tanh_forward(o, i, n); },
       [](float* o, const float* i, int64_t n) { ck::tanh_forward(o, i, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ops::tanh_backward(d, g, s, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ck::tanh_backward(d, g, s, n); }, true},
      {"sigmoid", [](float* o, const float* i, int64_t n) { ops::sigmoid_forward(o, i, n); },
       [](float* o, const float* i, int64_t n) { ck::sigmoid_forward(o, i, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ops::sigmoid_backward(d, g, s, n); },
       [](float* d, const float* g, const float* s, int64_t n) { ck::sigmoid_backward(d, g, s, n); }, true},
  };
}

}  // namespace

TEST_CASE("cuda/elementwise: activation forward kernels match the CPU ops") {
  auto rng = simad::testing::test_rng();
  for (const Activation& a : activations())
    for (const int64_t n : kSizes) {
      const auto x = activation_inputs(rng, n);
      std::vector<float> want(size_t(n), kNaN);
      a.cpu_fwd(want.data(), x.data(), n);
      const Tensor<float> dx = upload(x), dout = upload(std::vector<float>(size_t(n), kNaN));
      a.gpu_fwd(dout.data(), dx.data(), n);
      simad::testing::check_close(download(dout), want, kAtol, kRtol, simad::detail::concat(a.name, "_forward n=", n));
      // in place (out == inp)
      a.gpu_fwd(dx.data(), dx.data(), n);
      simad::testing::check_close(download(dx), want, kAtol, kRtol,
                                  simad::detail::concat(a.name, "_forward in place n=", n));
    }
}

TEST_CASE("cuda/elementwise: activation backward kernels accumulate like the CPU ops") {
  auto rng = simad::testing::test_rng();
  for (const Activation& a : activations())
    for (const int64_t n : kSizes) {
      const auto x = activation_inputs(rng, n);
      std::vector<float> saved = x;
      if (a.backward_from_output) a.cpu_fwd(saved.data(), x.data(), n);
      const auto dout = simad::testing::random_vector<float>(rng, size_t(n));
      const auto dinp0 = simad::testing::random_vector<float>(rng, size_t(n));
      std::vector<float> want = dinp0;
      a.cpu_bwd(want.data(), dout.data(), saved.data(), n);
      const Tensor<float> d_saved = upload(saved), d_dout = upload(dout), d_dinp = upload(dinp0);
      a.gpu_bwd(d_dinp.data(), d_dout.data(), d_saved.data(), n);
      simad::testing::check_close(download(d_dinp), want, kAtol, kRtol,
                                  simad::detail::concat(a.name, "_backward n=", n));
      a.gpu_bwd(nullptr, d_dout.data(), d_saved.data(), n);  // null dinp: nothing to do
      SIMAD_CUDA_CHECK(cudaDeviceSynchronize());
    }
}

TEST_CASE("cuda/elementwise: fill scale and axpy match plain loops") {
  auto rng = simad::testing::test_rng();
  for (const int64_t n : kSizes) {
    const auto x = simad::testing::random_vector<float>(rng, size_t(n));
    const auto y = simad::testing::random_vector<float>(rng, size_t(n));
    const Tensor<float> dx = upload(std::vector<float>(size_t(n), kNaN));
    ck::fill(dx.data(), 0.25f, n);
    CHECK(download(dx) == std::vector<float>(size_t(n), 0.25f));
    ck::scale(dx.data(), 0.0f, n);  // alpha 0 writes 0 (NaN would stay NaN otherwise)
    SIMAD_CUDA_CHECK(cudaMemcpy(dx.data(), std::vector<float>(size_t(n), kNaN).data(), size_t(n) * sizeof(float),
                                cudaMemcpyHostToDevice));
    ck::scale(dx.data(), 0.0f, n);
    CHECK(download(dx) == std::vector<float>(size_t(n), 0.0f));

    const Tensor<float> dy = upload(y), dx2 = upload(x);
    ck::scale(dy.data(), -1.5f, n);
    std::vector<float> want(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) want[i] = -1.5f * y[i];
    simad::testing::check_close(download(dy), want, 0.0, 0.0, simad::detail::concat("scale n=", n));
    ck::axpy(dy.data(), 0.5f, dx2.data(), n);
    for (size_t i = 0; i < want.size(); ++i) want[i] += 0.5f * x[i];
    simad::testing::check_close(download(dy), want, kAtol, kRtol, simad::detail::concat("axpy n=", n));
  }
}

TEST_CASE("cuda/elementwise: bad arguments throw simad::Error and n 0 launches nothing") {
  const Tensor<float> d = upload(std::vector<float>(4, 1.0f));
  CHECK_THROWS_AS(ck::relu_forward(d.data(), d.data(), -1), simad::Error);
  CHECK_THROWS_AS(ck::gelu_forward(nullptr, d.data(), 4), simad::Error);
  CHECK_THROWS_AS(ck::tanh_backward(d.data(), nullptr, d.data(), 4), simad::Error);
  CHECK_THROWS_AS(ck::leaky_relu_forward(d.data(), d.data(), 4, std::numeric_limits<float>::infinity()),
                  simad::Error);
  CHECK_THROWS_AS(ck::axpy(d.data(), 1.0f, nullptr, 4), simad::Error);
  CHECK_NOTHROW(ck::sigmoid_forward(nullptr, nullptr, 0));
  CHECK_NOTHROW(ck::fill(nullptr, 1.0f, 0));
}

TEST_CASE("cuda/elementwise: Tensor dispatch runs the same op on CPU and CUDA tensors") {
  auto rng = simad::testing::test_rng();
  const int64_t n = 300;
  const Tensor<float> x = simad::testing::random_tensor<float>(rng, {10, 30}, -3.0, 3.0);
  const Tensor<float> dout = simad::testing::random_tensor<float>(rng, {10, 30});
  const Tensor<float> dx = simad::cuda::to_device(x), d_dout = simad::cuda::to_device(dout);
  const auto compare = [&](const Tensor<float>& gpu, const Tensor<float>& cpu, const char* what) {
    simad::testing::check_close(simad::cuda::to_host(gpu), std::span<const float>(cpu.data(), size_t(n)), kAtol, kRtol,
                                what);
  };
  // forward
  Tensor<float> y = Tensor<float>::empty({10, 30});
  const Tensor<float> dy = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({10, 30}));
  ops::gelu_forward(y, x);
  ops::gelu_forward(dy, dx);
  compare(dy, y, "gelu_forward dispatch");
  ops::leaky_relu_forward(y, x, 0.3f);
  ops::leaky_relu_forward(dy, dx, 0.3f);
  compare(dy, y, "leaky_relu_forward dispatch");
  ops::sigmoid_forward(y, x);
  ops::sigmoid_forward(dy, dx);
  compare(dy, y, "sigmoid_forward dispatch");
  // backward (accumulates)
  const Tensor<float> g = simad::testing::random_tensor<float>(rng, {10, 30});
  const Tensor<float> dg = simad::cuda::to_device(g);
  ops::sigmoid_backward(g, dout, y);
  ops::sigmoid_backward(dg, d_dout, dy);
  compare(dg, g, "sigmoid_backward dispatch");
  ops::relu_backward(g, dout, x);
  ops::relu_backward(dg, d_dout, dx);
  compare(dg, g, "relu_backward dispatch");
  ops::relu_backward(Tensor<float>(), d_dout, dx);  // undefined dinp: skipped

  // mixed devices and sizes
  CHECK_THROWS_WITH_AS(ops::relu_forward(dy, x), doctest::Contains("different devices"), simad::Error);
  CHECK_THROWS_AS(ops::relu_forward(dy, simad::cuda::to_device(Tensor<float>::full({3}, 1.0f))), simad::Error);
}

TEST_CASE("cuda/elementwise: fill, copy, scale, axpy and add on Tensors give the plain loops' results on both devices") {
  simad::Rng rng = simad::testing::test_rng(95);
  const int64_t n = 3001;
  const Tensor<float> a = simad::testing::random_tensor<float>(rng, {n});
  const Tensor<float> b_full = simad::testing::random_tensor<float>(rng, {n});
  const float alpha = -1.75f;
  // Plain loops in float (the same single roundings the ops promise).
  std::vector<float> scaled(static_cast<size_t>(n)), axpy_ref(static_cast<size_t>(n)), add_ref(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    scaled[size_t(i)] = a.data()[i] * alpha;
    axpy_ref[size_t(i)] = b_full.data()[i] + alpha * a.data()[i];
    add_ref[size_t(i)] = a.data()[i] + b_full.data()[i];
  }
  for (Device device : {Device::cpu, Device::cuda}) {
    CAPTURE(int(device));
    const auto on = [&](const Tensor<float>& t) { return device == Device::cpu ? t.clone() : simad::cuda::to_device(t); };
    const auto back = [](const Tensor<float>& t) {
      return t.device() == Device::cpu ? t : simad::cuda::to_host(t);
    };
    const auto exact = [&](const Tensor<float>& got, const std::vector<float>& want, const char* what) {
      const Tensor<float> h = back(got);
      for (int64_t i = 0; i < n; ++i) REQUIRE_MESSAGE(h.data()[i] == want[size_t(i)], what, " at ", i);
    };
    const Tensor<float> x = on(simad::testing::poisoned_tensor<float>({n}));
    ops::fill(x, 2.5f);
    exact(x, std::vector<float>(static_cast<size_t>(n), 2.5f), "fill");
    ops::copy(x, on(a));
    exact(x, std::vector<float>(a.data(), a.data() + n), "copy");
    ops::scale(x, alpha);
    exact(x, scaled, "scale");
    const Tensor<float> y = on(b_full);
    ops::axpy(y, alpha, on(a));
    exact(y, axpy_ref, "axpy");
    const Tensor<float> out = on(simad::testing::poisoned_tensor<float>({n}));
    ops::add(out, on(a), on(b_full));
    exact(out, add_ref, "add");
    const Tensor<float> in_place = on(b_full);
    ops::add(in_place, on(a), in_place);  // out aliases b
    exact(in_place, add_ref, "add into b");
  }
  // copy crosses devices; the others do not; sizes must agree.
  const Tensor<float> d = simad::cuda::to_device(Tensor<float>::zeros({n}));
  ops::copy(d, a);
  const Tensor<float> h = simad::cuda::to_host(d);
  for (int64_t i = 0; i < n; ++i) REQUIRE(h.data()[i] == a.data()[i]);
  CHECK_THROWS_AS(ops::axpy(d, 1.0f, a), simad::Error);
  CHECK_THROWS_AS(ops::add(d, d, simad::cuda::to_device(Tensor<float>::zeros({5}))), simad::Error);
}

TEST_CASE("cuda/elementwise: mul forward and backward against plain loops, launchers and dispatch") {
  simad::Rng rng = simad::testing::test_rng(96);
  const int64_t n = 1029;
  const Tensor<float> a = simad::testing::random_tensor<float>(rng, {n}), b = simad::testing::random_tensor<float>(rng, {n});
  const Tensor<float> g = simad::testing::random_tensor<float>(rng, {n});
  const Tensor<float> da0 = simad::testing::random_tensor<float>(rng, {n}), db0 = simad::testing::random_tensor<float>(rng, {n});
  std::vector<float> prod(static_cast<size_t>(n)), da_ref(static_cast<size_t>(n)), db_ref(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    prod[size_t(i)] = a.data()[i] * b.data()[i];
    da_ref[size_t(i)] = da0.data()[i] + g.data()[i] * b.data()[i];
    db_ref[size_t(i)] = db0.data()[i] + g.data()[i] * a.data()[i];
  }
  const auto exact = [&](const Tensor<float>& got, const std::vector<float>& want, const char* what) {
    const Tensor<float> h = got.device() == Device::cpu ? got : simad::cuda::to_host(got);
    for (int64_t i = 0; i < n; ++i) REQUIRE_MESSAGE(h.data()[i] == want[size_t(i)], what, " at ", i);
  };
  // Launchers.
  const Tensor<float> d_a = simad::cuda::to_device(a), d_b = simad::cuda::to_device(b), d_g = simad::cuda::to_device(g);
  const Tensor<float> d_out = simad::cuda::to_device(simad::testing::poisoned_tensor<float>({n}));
  ck::mul_forward(d_out.data(), d_a.data(), d_b.data(), n);
  exact(d_out, prod, "mul_forward");
  const Tensor<float> d_da = simad::cuda::to_device(da0), d_db = simad::cuda::to_device(db0);
  ck::mul_backward(d_da.data(), d_db.data(), d_g.data(), d_a.data(), d_b.data(), n);
  exact(d_da, da_ref, "mul_backward da");
  exact(d_db, db_ref, "mul_backward db");
  // Dispatch on both devices.
  for (Device device : {Device::cpu, Device::cuda}) {
    const auto on = [&](const Tensor<float>& t) { return device == Device::cpu ? t.clone() : simad::cuda::to_device(t); };
    const Tensor<float> out = on(simad::testing::poisoned_tensor<float>({n}));
    ops::mul_forward(out, on(a), on(b));
    exact(out, prod, "dispatch mul_forward");
    const Tensor<float> da = on(da0), db = on(db0);
    ops::mul_backward(da, db, on(g), on(a), on(b));
    exact(da, da_ref, "dispatch da");
    exact(db, db_ref, "dispatch db");
  }
  CHECK_THROWS_AS(ck::mul_forward(nullptr, d_a.data(), d_b.data(), n), simad::Error);
}
