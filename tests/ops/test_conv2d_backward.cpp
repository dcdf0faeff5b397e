// Tests of conv2d_backward (include/simad/ops/conv2d.hpp): dinp, dweight and dbias against central
// finite differences in double (1x1 and 3x3, stride 1 and 2, padding, odd sizes, batch > 1, the
// direct 1x1 path), accumulation into non-zero gradients, float against double, both against the
// reference tier (ops/reference/conv2d.hpp), and a Darknet
// training block conv -> batch norm (training mode) -> leaky checked end to end.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/ops/activation.hpp"
#include "simad/ops/batchnorm.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/reference/conv2d.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::random_vector;

namespace {

struct Case {
  int64_t B, C, H, W, O, K, S, P;
};

ops::Conv2dShape shape_of(const Case& c) {
  ops::Conv2dShape s;
  s.B = c.B, s.C = c.C, s.H = c.H, s.W = c.W, s.O = c.O, s.K = c.K, s.stride = c.S, s.pad = c.P;
  return s;
}

std::string describe(const Case& c) {
  return "B=" + std::to_string(c.B) + " C=" + std::to_string(c.C) + " H=" + std::to_string(c.H) +
         " W=" + std::to_string(c.W) + " O=" + std::to_string(c.O) + " K=" + std::to_string(c.K) +
         " stride=" + std::to_string(c.S) + " pad=" + std::to_string(c.P);
}

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> r(a.size());
  for (size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
  return r;
}

constexpr Case kCases[] = {
    {2, 3, 7, 6, 4, 3, 1, 1},  // 3x3 same, odd sizes, batch 2 (the joint small-map path)
    {2, 3, 7, 5, 4, 3, 2, 1},  // 3x3 stride 2 (YOLOv3's downsampling)
    {1, 2, 6, 6, 3, 3, 2, 0},  // 3x3 stride 2 unpadded, batch 1
    {1, 4, 5, 5, 3, 1, 1, 0},  // 1x1 direct (no im2col)
    {3, 4, 5, 3, 2, 1, 1, 0},  // 1x1 direct, batch 3
    {2, 3, 5, 7, 2, 1, 2, 0},  // 1x1 stride 2 (im2col)
    {1, 2, 4, 5, 2, 3, 1, 2},  // padding larger than K / 2
    {2, 2, 33, 32, 3, 3, 1, 1},  // a map of 1056 >= 1024 cells at batch 2: the forward image by image
    {2, 2, 32, 33, 2, 1, 1, 0},  // the same, 1x1 direct
};

// A case's random input x, weights w and output gradient g, in double.
struct BackwardInputs {
  std::vector<double> x, w, g;
};
BackwardInputs random_backward_inputs(Rng& rng, const ops::Conv2dShape& s) {
  BackwardInputs in;
  in.x = random_vector<double>(rng, size_t(s.B * s.C * s.H * s.W));
  in.w = random_vector<double>(rng, size_t(s.O * s.C * s.K * s.K));
  in.g = random_vector<double>(rng, size_t(s.B * s.O * s.out_h() * s.out_w()));
  return in;
}

}  // namespace

TEST_CASE("ops/conv2d: backward matches finite differences (dinp, dweight, dbias)") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  for (const Case& c : kCases) {
    CAPTURE(describe(c));
    const ops::Conv2dShape s = shape_of(c);
    const int64_t n_out = s.B * s.O * s.out_h() * s.out_w();
    std::vector<double> x = random_vector<double>(rng, size_t(s.B * s.C * s.H * s.W));
    std::vector<double> w = random_vector<double>(rng, size_t(s.O * s.C * s.K * s.K));
    std::vector<double> bias = random_vector<double>(rng, size_t(s.O));
    const std::vector<double> r = random_vector<double>(rng, size_t(n_out));  // loss = sum(out * r)
    std::vector<double> out(static_cast<size_t>(n_out));
    auto loss = [&] {
      ops::conv2d_forward(out.data(), x.data(), w.data(), bias.data(), s, ops::ConvActivation::linear);
      double l = 0;
      for (size_t i = 0; i < out.size(); ++i) l += out[i] * r[i];
      return l;
    };
    // Gradients start non-zero: backward must add.
    const std::vector<double> dx0 = random_vector<double>(rng, x.size()), dw0 = random_vector<double>(rng, w.size()),
                              db0 = random_vector<double>(rng, bias.size());
    std::vector<double> dx = dx0, dw = dw0, db = db0;
    ops::conv2d_backward(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), s);
    SIMAD_CHECK_GRADIENT(minus(dx, dx0), simad::testing::numeric_gradient(std::span<double>(x), loss), "dinp");
    SIMAD_CHECK_GRADIENT(minus(dw, dw0), simad::testing::numeric_gradient(std::span<double>(w), loss), "dweight");
    SIMAD_CHECK_GRADIENT(minus(db, db0), simad::testing::numeric_gradient(std::span<double>(bias), loss), "dbias");
    // Null gradients are skipped; the others come out the same.
    std::vector<double> dw_only = dw0;
    ops::conv2d_backward<double>(nullptr, dw_only.data(), nullptr, r.data(), x.data(), w.data(), s);
    simad::testing::check_close(dw_only, dw, 1e-12, 1e-12, "dweight alone");
  }
}

TEST_CASE("ops/conv2d: float backward matches the double backward") {
  Rng rng = simad::testing::test_rng();
  for (const Case& c : kCases) {
    CAPTURE(describe(c));
    const ops::Conv2dShape s = shape_of(c);
    const auto [x, w, g] = random_backward_inputs(rng, s);
    std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), db(size_t(s.O), 0.0);
    ops::conv2d_backward(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), s);
    const std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), gf(g.begin(), g.end());
    std::vector<float> dxf(x.size(), 0.0f), dwf(w.size(), 0.0f), dbf(size_t(s.O), 0.0f);
    std::vector<float> workspace(size_t(ops::conv2d_backward_workspace_size(s)));
    ops::conv2d_backward(dxf.data(), dwf.data(), dbf.data(), gf.data(), xf.data(), wf.data(), s,
                         workspace.empty() ? nullptr : workspace.data());
    simad::testing::check_close(dxf, dx, 1e-5, 1e-4, "dinp float");
    simad::testing::check_close(dwf, dw, 1e-5, 1e-4, "dweight float");
    simad::testing::check_close(dbf, db, 1e-5, 1e-4, "dbias float");
  }
}

// The op's backward, double and float, accumulating onto random gradients, against the reference tier's
// (ops/reference/conv2d.hpp: the definition's sums, no im2col or col2im).
TEST_CASE("ops/conv2d: backward matches the reference tier, double and float, onto random gradients") {
  Rng rng = simad::testing::test_rng();
  for (const Case& c : kCases) {
    CAPTURE(describe(c));
    const ops::Conv2dShape s = shape_of(c);
    const auto [x, w, g] = random_backward_inputs(rng, s);
    const std::vector<double> dx0 = random_vector<double>(rng, x.size()), dw0 = random_vector<double>(rng, w.size()),
                              db0 = random_vector<double>(rng, size_t(s.O));
    std::vector<double> rx = dx0, rw = dw0, rb = db0, dx = dx0, dw = dw0, db = db0;
    ops::reference::conv2d_backward(rx.data(), rw.data(), rb.data(), g.data(), x.data(), w.data(), s);
    ops::conv2d_backward(dx.data(), dw.data(), db.data(), g.data(), x.data(), w.data(), s);
    simad::testing::check_close(dx, rx, 1e-12, 1e-12, "dinp double");
    simad::testing::check_close(dw, rw, 1e-12, 1e-12, "dweight double");
    simad::testing::check_close(db, rb, 1e-12, 1e-12, "dbias double");
    std::vector<float> fx(dx0.begin(), dx0.end()), fw(dw0.begin(), dw0.end()), fb(db0.begin(), db0.end());
    const std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), gf(g.begin(), g.end());
    ops::conv2d_backward(fx.data(), fw.data(), fb.data(), gf.data(), xf.data(), wf.data(), s);
    simad::testing::check_close(fx, rx, 1e-5, 1e-4, "dinp float");
    simad::testing::check_close(fw, rw, 1e-5, 1e-4, "dweight float");
    simad::testing::check_close(fb, rb, 1e-5, 1e-4, "dbias float");
  }
}

// The Darknet training block: conv (no bias) -> batch norm with batch statistics -> leaky, its
// backward composed from the three ops (leaky's derivative read from the block's output).
TEST_CASE("ops/conv2d: conv, training batch norm and leaky compose to the block's gradient") {
  Rng rng = simad::testing::test_rng();
  MESSAGE("seed " << simad::testing::test_seed());
  for (const ops::BatchNormVariant variant : {ops::BatchNormVariant::pjreddie, ops::BatchNormVariant::alexeyab}) {
    CAPTURE(int(variant));
    const ops::Conv2dShape s = shape_of({2, 3, 5, 6, 4, 3, 1, 1});
    const int64_t HWo = s.out_h() * s.out_w(), n_out = s.B * s.O * HWo;
    std::vector<double> x = random_vector<double>(rng, size_t(s.B * s.C * s.H * s.W));
    std::vector<double> w = random_vector<double>(rng, size_t(s.O * s.C * s.K * s.K));
    std::vector<double> gamma = random_vector<double>(rng, size_t(s.O), 0.5, 1.5);
    std::vector<double> beta = random_vector<double>(rng, size_t(s.O));
    const std::vector<double> r = random_vector<double>(rng, size_t(n_out));
    std::vector<double> conv(static_cast<size_t>(n_out)), bn(conv.size()), act(conv.size());
    std::vector<double> mean(static_cast<size_t>(s.O)), var(mean.size());
    auto forward = [&] {
      ops::conv2d_forward<double>(conv.data(), x.data(), w.data(), nullptr, s, ops::ConvActivation::linear);
      ops::batchnorm_forward_train<double>(bn.data(), mean.data(), var.data(), nullptr, nullptr, conv.data(),
                                           gamma.data(), beta.data(), s.B, s.O, HWo, variant);
      ops::leaky_relu_forward(act.data(), bn.data(), n_out);
      double l = 0;
      for (size_t i = 0; i < act.size(); ++i) l += act[i] * r[i];
      return l;
    };
    forward();
    std::vector<double> d_bn(conv.size(), 0.0), d_conv(conv.size(), 0.0);
    std::vector<double> dx(x.size(), 0.0), dw(w.size(), 0.0), dgamma(gamma.size(), 0.0), dbeta(beta.size(), 0.0);
    ops::leaky_relu_backward(d_bn.data(), r.data(), act.data(), n_out);  // sign(act) == sign(bn)
    ops::batchnorm_backward(d_conv.data(), dgamma.data(), dbeta.data(), d_bn.data(), conv.data(), mean.data(),
                            var.data(), gamma.data(), s.B, s.O, HWo, variant);
    ops::conv2d_backward<double>(dx.data(), dw.data(), nullptr, d_conv.data(), x.data(), w.data(), s);
    SIMAD_CHECK_GRADIENT(dx, simad::testing::numeric_gradient(std::span<double>(x), forward), "dinp");
    SIMAD_CHECK_GRADIENT(dw, simad::testing::numeric_gradient(std::span<double>(w), forward), "dweight");
    SIMAD_CHECK_GRADIENT(dgamma, simad::testing::numeric_gradient(std::span<double>(gamma), forward), "dscale");
    SIMAD_CHECK_GRADIENT(dbeta, simad::testing::numeric_gradient(std::span<double>(beta), forward), "dbias");
  }
}

}  // namespace SIMAD_TEST_FILE_ID
