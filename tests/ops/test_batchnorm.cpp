// Tests of include/simad/ops/batchnorm.hpp: the training forward (batch mean, unbiased variance,
// normalisation with either fork's denominator, the running statistics' momentum update) and the
// inference forward against the reference tier in double (Darknet's formulas); the backward against
// the tier and central finite differences in double, accumulating into non-zero gradients; float
// against double.
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "simad/ops/batchnorm.hpp"
#include "simad/ops/reference/batchnorm.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::random_vector;

namespace {

constexpr ops::BatchNormVariant kVariants[] = {ops::BatchNormVariant::pjreddie, ops::BatchNormVariant::alexeyab};

struct NaiveTrain {
  std::vector<double> out, mean, var, running_mean, running_var;
};

// The reference tier (ops/reference/batchnorm.hpp) in double, with its own momentum 0.01 and the
// forks' denominators.
NaiveTrain naive_train(const std::vector<double>& x, const std::vector<double>& scale, const std::vector<double>& bias,
                       std::vector<double> running_mean, std::vector<double> running_var, int64_t B, int64_t C,
                       int64_t HW, ops::BatchNormVariant v) {
  NaiveTrain r{std::vector<double>(x.size()), std::vector<double>(size_t(C)), std::vector<double>(size_t(C)),
               std::move(running_mean), std::move(running_var)};
  ops::reference::batchnorm_forward_train(r.out.data(), r.mean.data(), r.var.data(), r.running_mean.data(),
                                          r.running_var.data(), x.data(), scale.data(), bias.data(), B, C, HW, v);
  return r;
}

}  // namespace

TEST_CASE("ops/batchnorm: training forward and running statistics match a naive double loop") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  struct Dims {
    int64_t B, C, HW;
  };
  for (const Dims d : {Dims{2, 3, 7}, Dims{1, 4, 5}, Dims{3, 1, 1}, Dims{4, 2, 9}}) {
    for (const ops::BatchNormVariant v : kVariants) {
      CAPTURE(d.B);
      CAPTURE(d.C);
      CAPTURE(d.HW);
      CAPTURE(int(v));
      const size_t n = size_t(d.B * d.C * d.HW), C = size_t(d.C);
      const std::vector<double> x = random_vector<double>(rng, n, -2.0, 3.0);
      const std::vector<double> scale = random_vector<double>(rng, C, 0.5, 1.5), bias = random_vector<double>(rng, C);
      const std::vector<double> rm0 = random_vector<double>(rng, C), rv0 = random_vector<double>(rng, C, 0.5, 2.0);
      const NaiveTrain want = naive_train(x, scale, bias, rm0, rv0, d.B, d.C, d.HW, v);
      std::vector<double> out(n), mean(C), var(C), rm = rm0, rv = rv0;
      simad::testing::poison(std::span<double>(out));
      simad::testing::poison(std::span<double>(mean));
      simad::testing::poison(std::span<double>(var));
      ops::batchnorm_forward_train(out.data(), mean.data(), var.data(), rm.data(), rv.data(), x.data(), scale.data(),
                                   bias.data(), d.B, d.C, d.HW, v);
      simad::testing::check_close(out, want.out, 1e-12, 1e-12, "out");
      simad::testing::check_close(mean, want.mean, 1e-12, 1e-12, "batch mean");
      simad::testing::check_close(var, want.var, 1e-12, 1e-12, "batch variance");
      simad::testing::check_close(rm, want.running_mean, 1e-12, 1e-12, "running mean");
      simad::testing::check_close(rv, want.running_var, 1e-12, 1e-12, "running variance");
      // In place, without running statistics: same output.
      std::vector<double> inplace = x;
      ops::batchnorm_forward_train<double>(inplace.data(), mean.data(), var.data(), nullptr, nullptr, inplace.data(),
                                           scale.data(), bias.data(), d.B, d.C, d.HW, v);
      simad::testing::check_close(inplace, want.out, 1e-12, 1e-12, "in place");
      // float against the double reference.
      const std::vector<float> xf(x.begin(), x.end()), sf(scale.begin(), scale.end()), bf(bias.begin(), bias.end());
      std::vector<float> outf(n), meanf(C), varf(C), rmf(rm0.begin(), rm0.end()), rvf(rv0.begin(), rv0.end());
      ops::batchnorm_forward_train(outf.data(), meanf.data(), varf.data(), rmf.data(), rvf.data(), xf.data(), sf.data(),
                                   bf.data(), d.B, d.C, d.HW, v);
      simad::testing::check_close(outf, want.out, 1e-5, 1e-5, "out float");
      simad::testing::check_close(rvf, want.running_var, 1e-6, 1e-5, "running variance float");
    }
  }
}

TEST_CASE("ops/batchnorm: inference forward uses the running statistics") {
  Rng rng = simad::testing::test_rng();
  const int64_t B = 2, C = 3, HW = 5;
  const std::vector<double> x = random_vector<double>(rng, size_t(B * C * HW));
  const std::vector<double> scale = random_vector<double>(rng, size_t(C)), bias = random_vector<double>(rng, size_t(C));
  const std::vector<double> rm = random_vector<double>(rng, size_t(C)), rv = random_vector<double>(rng, size_t(C), 0.1, 2.0);
  for (const ops::BatchNormVariant v : kVariants) {
    std::vector<double> want(x.size()), out(x.size());
    ops::reference::batchnorm_forward_inference(want.data(), x.data(), scale.data(), bias.data(), rm.data(), rv.data(),
                                                B, C, HW, v);
    simad::testing::poison(std::span<double>(out));
    ops::batchnorm_forward_inference(out.data(), x.data(), scale.data(), bias.data(), rm.data(), rv.data(), B, C, HW, v);
    simad::testing::check_close(out, want, 1e-12, 1e-12, "inference out");
  }
}

TEST_CASE("ops/batchnorm: backward matches finite differences of the training forward") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  struct Dims {
    int64_t B, C, HW;
  };
  for (const Dims d : {Dims{2, 3, 7}, Dims{1, 2, 6}, Dims{3, 2, 1}, Dims{2, 1, 2}}) {
    for (const ops::BatchNormVariant v : kVariants) {
      CAPTURE(d.B);
      CAPTURE(d.C);
      CAPTURE(d.HW);
      CAPTURE(int(v));
      const size_t n = size_t(d.B * d.C * d.HW), C = size_t(d.C);
      std::vector<double> x = random_vector<double>(rng, n, -2.0, 2.0);
      std::vector<double> scale = random_vector<double>(rng, C, 0.5, 1.5), bias = random_vector<double>(rng, C);
      const std::vector<double> r = random_vector<double>(rng, n);  // loss = sum(out * r)
      std::vector<double> out(n), mean(C), var(C);
      auto loss = [&] {
        ops::batchnorm_forward_train<double>(out.data(), mean.data(), var.data(), nullptr, nullptr, x.data(),
                                             scale.data(), bias.data(), d.B, d.C, d.HW, v);
        double l = 0;
        for (size_t i = 0; i < n; ++i) l += out[i] * r[i];
        return l;
      };
      loss();
      const std::vector<double> dx0 = random_vector<double>(rng, n), ds0 = random_vector<double>(rng, C),
                                db0 = random_vector<double>(rng, C);
      std::vector<double> dx = dx0, ds = ds0, db = db0;
      ops::batchnorm_backward(dx.data(), ds.data(), db.data(), r.data(), x.data(), mean.data(), var.data(),
                              scale.data(), d.B, d.C, d.HW, v);
      std::vector<double> want_dx = dx0, want_ds = ds0, want_db = db0;
      ops::reference::batchnorm_backward(want_dx.data(), want_ds.data(), want_db.data(), r.data(), x.data(),
                                         mean.data(), var.data(), scale.data(), d.B, d.C, d.HW, v);
      simad::testing::check_close(dx, want_dx, 1e-12, 1e-11, "dinp vs the reference tier");
      simad::testing::check_close(ds, want_ds, 1e-12, 1e-11, "dscale vs the reference tier");
      simad::testing::check_close(db, want_db, 1e-12, 1e-11, "dbias vs the reference tier");
      for (size_t i = 0; i < n; ++i) dx[i] -= dx0[i];
      for (size_t c = 0; c < C; ++c) ds[c] -= ds0[c], db[c] -= db0[c];
      SIMAD_CHECK_GRADIENT(dx, simad::testing::numeric_gradient(std::span<double>(x), loss), "dinp");
      SIMAD_CHECK_GRADIENT(ds, simad::testing::numeric_gradient(std::span<double>(scale), loss), "dscale");
      SIMAD_CHECK_GRADIENT(db, simad::testing::numeric_gradient(std::span<double>(bias), loss), "dbias");
      // float against double.
      const std::vector<float> xf(x.begin(), x.end()), sf(scale.begin(), scale.end()), rf(r.begin(), r.end());
      const std::vector<float> mf(mean.begin(), mean.end()), vf(var.begin(), var.end());
      std::vector<float> dxf(n, 0.0f), dsf(C, 0.0f), dbf(C, 0.0f);
      ops::batchnorm_backward(dxf.data(), dsf.data(), dbf.data(), rf.data(), xf.data(), mf.data(), vf.data(),
                              sf.data(), d.B, d.C, d.HW, v);
      simad::testing::check_close(dxf, dx, 1e-4, 1e-4, "dinp float");
      simad::testing::check_close(dsf, ds, 1e-4, 1e-4, "dscale float");
    }
  }
}

TEST_CASE("ops/batchnorm: a single value per channel is rejected in training") {
  std::vector<double> x(3, 1.0), s(3, 1.0), m(3), v(3);
  CHECK_THROWS_WITH(ops::batchnorm_forward_train<double>(x.data(), m.data(), v.data(), nullptr, nullptr, x.data(),
                                                         s.data(), s.data(), 1, 3, 1, ops::BatchNormVariant::pjreddie),
                    doctest::Contains("at least 2 values"));
}

}  // namespace SIMAD_TEST_FILE_ID
