// Tests of the CPU detector: ops/conv2d.hpp against a naive double loop, ops/maxpool2d.hpp and
// ops/upsample.hpp against the reference tier; nn/darknet.hpp (a whole network against a naive double
// forward, its maxpool, upsample and shortcut from the reference tier, that applies the
// unfolded batch norm of either Darknet fork; weights written, read back, same output bit for bit;
// dog.jpg through yolov3-tiny: shapes, finiteness, determinism, batch = single images);
// nn/yolo.hpp (decode, letterbox correction and NMS on hand-computed cases); and
// nn/region_features.hpp (centre-cell features, the no-detection fallback, 7x7 grid regions).
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/io/darknet.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/region_features.hpp"
#include "simad/nn/yolo.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "simad/ops/conv2d.hpp"
#include "simad/ops/maxpool2d.hpp"
#include "simad/ops/reference/conv2d.hpp"
#include "simad/ops/reference/maxpool2d.hpp"
#include "simad/ops/reference/shortcut.hpp"
#include "simad/ops/reference/upsample.hpp"
#include "simad/ops/upsample.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace dk = simad::io::darknet;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------------------------------------
// Naive references, in double.
template <typename T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// The whole network in double, straight from the cfg and the raw (unfolded) weights.
struct NaiveOut {
  std::vector<std::vector<double>> layers;
};
NaiveOut naive_network(const dk::Config& cfg, const dk::Weights& weights, const std::vector<double>& input, int64_t B,
                       nn::BatchNormVariant variant) {
  NaiveOut r;
  size_t conv = 0;
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const dk::Layer& l = cfg.layers[i];
    const std::vector<double>& prev = i == 0 ? input : r.layers[i - 1];
    std::vector<double> out;
    if (const auto* c = l.as<dk::Convolutional>()) {
      const dk::ConvWeights& w = weights.convs[conv++];
      const ops::Conv2dShape cs{B, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
      out.resize(size_t(B * l.out.numel()));
      const std::vector<double> wd = to_double(w.weights);
      ops::reference::conv2d_forward(out.data(), prev.data(), wd.data(), static_cast<const double*>(nullptr), cs,
                                     ops::ConvActivation::linear);
      const int64_t HW = int64_t(l.out.h) * l.out.w;
      for (int64_t n = 0; n < B; ++n)
        for (int64_t o = 0; o < c->filters; ++o)
          for (int64_t k = 0; k < HW; ++k) {
            double& v = out[size_t((n * c->filters + o) * HW + k)];
            if (c->batch_normalize) {  // Darknet: normalize, scale, then add the bias (beta)
              const double var = w.rolling_variance[size_t(o)];
              const double denom = variant == nn::BatchNormVariant::pjreddie ? std::sqrt(var) + 1e-6 : std::sqrt(var + 1e-5);
              v = (v - w.rolling_mean[size_t(o)]) / denom * w.scales[size_t(o)];
            }
            v += w.biases[size_t(o)];
            if (c->activation == dk::Activation::leaky && v < 0) v *= 0.1;
            if (c->activation == dk::Activation::logistic) v = 1.0 / (1.0 + std::exp(-v));
          }
    } else if (const auto* s = l.as<dk::Shortcut>()) {
      out.resize(prev.size());
      ops::reference::shortcut_forward(out.data(), prev.data(), r.layers[size_t(s->from)].data(), int64_t(out.size()),
                                       s->activation == dk::Activation::leaky);
    } else if (const auto* rt = l.as<dk::Route>()) {
      for (int64_t n = 0; n < B; ++n)
        for (int j : rt->layers) {
          const auto& src = r.layers[size_t(j)];
          const size_t part = src.size() / size_t(B);
          out.insert(out.end(), src.begin() + long(size_t(n) * part), src.begin() + long(size_t(n + 1) * part));
        }
    } else if (const auto* u = l.as<dk::Upsample>()) {
      out.resize(size_t(B * l.out.numel()));
      ops::reference::upsample_nearest_forward(out.data(), prev.data(), B, int64_t(l.in.c), int64_t(l.in.h),
                                               int64_t(l.in.w), int64_t(u->stride), double(u->scale));
    } else if (const auto* m = l.as<dk::Maxpool>()) {
      out.resize(size_t(B * l.out.numel()));
      ops::reference::maxpool2d_forward(out.data(), prev.data(), B, int64_t(l.in.c), int64_t(l.in.h), int64_t(l.in.w),
                                        int64_t(m->size), int64_t(m->stride), int64_t(m->padding));
    } else if (const auto* yl = l.as<dk::Yolo>()) {
      out = prev;
      const int64_t HW = int64_t(l.out.h) * l.out.w, E = 5 + yl->classes;
      for (int64_t n = 0; n < B; ++n)
        for (int64_t a = 0; a < yl->anchor_count(); ++a)
          for (int64_t e = 0; e < E; ++e) {
            if (e == 2 || e == 3) continue;  // w, h stay raw
            for (int64_t k = 0; k < HW; ++k) {
              double& v = out[size_t(((n * yl->anchor_count() + a) * E + e) * HW + k)];
              v = 1.0 / (1.0 + std::exp(-v));
            }
          }
    }
    r.layers.push_back(std::move(out));
  }
  return r;
}

// A small network with every layer type and both conv paths (1x1 direct, 3x3 stride 2).
const char* kSmallCfg = R"([net]
width=20
height=14
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=12
size=3
stride=2
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=6
size=1
stride=1
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=12
size=3
stride=1
pad=1
activation=logistic
[shortcut]
from=-3
activation=leaky
[maxpool]
size=2
stride=1
[convolutional]
filters=14
size=1
stride=1
activation=linear
[yolo]
mask=1,0
anchors=4,5,9,7,12,12
classes=2
num=3
[route]
layers=-4
[upsample]
stride=2
[route]
layers=-1,0
[convolutional]
filters=7
size=1
stride=1
activation=linear
[yolo]
mask=2
anchors=4,5,9,7,12,12
classes=2
num=3
)";

Tensor<float> random_input(Rng& rng, int64_t B, const dk::Config& cfg) {
  return testing::random_tensor<float>(rng, {B, cfg.net.channels, cfg.net.height, cfg.net.width}, 0.0, 1.0);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
TEST_CASE("nn/darknet: conv2d matches the naive double reference for float and double") {
  Rng rng = testing::test_rng();
  struct Case {
    int64_t B, C, H, W, O, K, S, P;
    ops::ConvActivation act;
  };
  // 1x1 direct; 3x3 stride 1 and 2; odd sizes; batch > 1 on small maps (joint GEMM) and large ones; a
  // 1x1 input under a 3x3 stride-2 kernel (every column of some taps in the padding).
  const Case cases[] = {{1, 5, 7, 9, 4, 1, 1, 0, ops::ConvActivation::linear},
                        {2, 3, 11, 13, 6, 3, 1, 1, ops::ConvActivation::leaky},
                        {3, 4, 9, 10, 5, 3, 2, 1, ops::ConvActivation::leaky},
                        {2, 6, 5, 5, 3, 1, 1, 0, ops::ConvActivation::logistic},
                        {2, 2, 40, 36, 3, 3, 1, 1, ops::ConvActivation::leaky},
                        {1, 1, 1, 1, 1, 1, 1, 0, ops::ConvActivation::leaky},
                        {2, 3, 6, 7, 2, 5, 3, 2, ops::ConvActivation::linear},
                        {1, 2, 1, 1, 3, 3, 2, 1, ops::ConvActivation::leaky},      // taps right of the input
                        {1, 3, 40, 41, 17, 3, 2, 1, ops::ConvActivation::leaky}};  // stride 2, odd width
  for (const Case& c : cases) {
    const ops::Conv2dShape s{c.B, c.C, c.H, c.W, c.O, c.K, c.S, c.P};
    const auto in = testing::random_vector<double>(rng, size_t(c.B * c.C * c.H * c.W));
    const auto w = testing::random_vector<double>(rng, size_t(c.O * c.C * c.K * c.K));
    const auto b = testing::random_vector<double>(rng, size_t(c.O));
    std::vector<double> want(size_t(c.B * c.O * s.out_h() * s.out_w()));
    ops::reference::conv2d_forward(want.data(), in.data(), w.data(), b.data(), s, c.act);
    const std::string what = "conv B" + std::to_string(c.B) + " C" + std::to_string(c.C) + " " + std::to_string(c.H) +
                             "x" + std::to_string(c.W) + " K" + std::to_string(c.K) + " S" + std::to_string(c.S);
    std::vector<double> out_d(want.size());
    testing::poison(std::span<double>(out_d));
    ops::conv2d_forward(out_d.data(), in.data(), w.data(), b.data(), s, c.act);
    testing::check_close(out_d, want, 1e-12, 1e-12, what + " double");
    const std::vector<float> in_f(in.begin(), in.end()), w_f(w.begin(), w.end()), b_f(b.begin(), b.end());
    std::vector<float> out_f(want.size());
    testing::poison(std::span<float>(out_f));
    ops::conv2d_forward(out_f.data(), in_f.data(), w_f.data(), b_f.data(), s, c.act);
    testing::check_close(out_f, want, 1e-5, 1e-5, what + " float");
  }
  CHECK_THROWS_AS(ops::conv2d_forward<float>(nullptr, nullptr, nullptr, nullptr, ops::Conv2dShape{1, 1, 2, 2, 1, 5, 1, 0},
                                             ops::ConvActivation::linear),
                  simad::Error);
}

TEST_CASE("nn/darknet: maxpool and upsample match the reference tier including Darknet's padding") {
  Rng rng = testing::test_rng();
  struct Case {
    int64_t C, H, W, size, stride, padding;
  };
  // size 2 stride 1 (pad right/bottom only), stride 2 odd input, size 3 padding 2, all-outside windows.
  for (const Case& c : {Case{3, 13, 13, 2, 1, 1}, Case{2, 7, 9, 2, 2, 1}, Case{2, 6, 5, 3, 1, 2}, Case{1, 3, 3, 2, 2, 0},
                        Case{1, 2, 2, 1, 1, 4}}) {
    const int64_t B = 2, Ho = ops::maxpool2d_out_size(c.H, c.size, c.stride, c.padding),
                  Wo = ops::maxpool2d_out_size(c.W, c.size, c.stride, c.padding);
    const auto in = testing::random_vector<float>(rng, size_t(B * c.C * c.H * c.W));
    std::vector<float> want_f(size_t(B * c.C * Ho * Wo));  // the reference tier, in float (-FLT_MAX outside)
    ops::reference::maxpool2d_forward(want_f.data(), in.data(), B, c.C, c.H, c.W, c.size, c.stride, c.padding);
    const std::vector<double> want(want_f.begin(), want_f.end());
    std::vector<float> out(want.size());
    testing::poison(std::span<float>(out));
    ops::maxpool2d_forward(out.data(), in.data(), B, c.C, c.H, c.W, c.size, c.stride, c.padding);
    testing::check_close(out, want, 0.0, 0.0, "maxpool " + std::to_string(c.size) + "/" + std::to_string(c.stride));
  }
  CHECK(ops::maxpool2d_out_size(13, 2, 1, 1) == 13);

  const int64_t B = 2, C = 3, H = 3, W = 5, S = 2;
  const auto in = testing::random_vector<double>(rng, size_t(B * C * H * W));
  std::vector<double> want(size_t(B * C * H * S * W * S)), out(want.size());
  ops::reference::upsample_nearest_forward(want.data(), in.data(), B, C, H, W, S, 0.5);
  testing::poison(std::span<double>(out));
  ops::upsample_nearest_forward(out.data(), in.data(), B, C, H, W, S, 0.5);
  testing::check_close(out, want, 0.0, 0.0, "upsample");
}

TEST_CASE("nn/darknet: whole networks match a naive double forward with either batch-norm epsilon") {
  Rng rng = testing::test_rng();
  const std::vector<dk::Config> cfgs{dk::parse_cfg(kSmallCfg, "small.cfg"), nn::yolov3_tiny_config(32, 64, 2)};
  for (const dk::Config& cfg : cfgs) {
    dk::Weights w = dk::random_weights(cfg, testing::test_seed());
    // Small variances (scales shrunk alike, so activations keep their size) make the two
    // epsilons differ visibly.
    for (auto& c : w.convs) {
      for (auto& v : c.rolling_variance) v *= 1e-4f;
      for (auto& v : c.scales) v *= 1e-2f;
    }
    const int64_t B = 2;
    const Tensor<float> x = random_input(rng, B, cfg);
    const std::vector<double> xd(x.data(), x.data() + x.numel());
    // Both epsilons on the small network; the (slow, naive) yolov3-tiny with pjreddie's only.
    const bool small = cfg.source == "small.cfg";
    for (auto variant : {nn::BatchNormVariant::pjreddie, nn::BatchNormVariant::alexeyab}) {
      if (!small && variant == nn::BatchNormVariant::alexeyab) continue;
      const nn::DarknetNetwork net(cfg, w, variant);
      const auto out = net.forward(x, /*keep_all=*/true);
      const NaiveOut want = naive_network(cfg, w, xd, B, variant);
      REQUIRE(out.layers.size() == cfg.layers.size());
      for (size_t i = 0; i < cfg.layers.size(); ++i)
        testing::check_close(out.layers[i], std::span<const double>(want.layers[i]), 2e-4, 2e-4,
                             cfg.source + " layer " + std::to_string(i) +
                                 (variant == nn::BatchNormVariant::pjreddie ? " pjreddie" : " alexeyab"));
      // The yolo outputs and hidden maps handed back are those layers.
      const auto yolo = cfg.yolo_layers();
      REQUIRE(out.yolo.size() == yolo.size());
      for (size_t s = 0; s < yolo.size(); ++s) {
        CHECK(out.yolo[s].data() == out.layers[size_t(yolo[s])].data());
        CHECK(out.hidden[s].data() == out.layers[size_t(yolo[s] - 2)].data());
      }
    }
    // The epsilon matters: the two variants differ.
    const auto a = nn::DarknetNetwork(cfg, w, nn::BatchNormVariant::pjreddie).forward(x);
    const auto b = nn::DarknetNetwork(cfg, w, nn::BatchNormVariant::alexeyab).forward(x);
    double diff = 0;
    for (int64_t k = 0; k < a.yolo[0].numel(); ++k) diff = std::max(diff, double(std::fabs(a.yolo[0].data()[k] - b.yolo[0].data()[k])));
    CHECK(diff > 1e-4);
  }
}

TEST_CASE("nn/darknet: a convolution and the max-pool or shortcut after it in one pass give the bits of the two layers") {
  Rng rng = testing::test_rng();
  // yolov3-tiny 128 px wide: layers 0 and 2 (3 and 16 channels) run as the ring, so each takes its
  // [maxpool] 2x2/2 along. yolov3 128 px wide: the 3x3 layers of its residual blocks from 64 channels run
  // as Winograd, and the first block's (32 channels, 64 columns out) as the ring: each takes its
  // [shortcut] along.
  const std::vector<dk::Config> cfgs{nn::yolov3_tiny_config(128, 64, 3), nn::yolov3_config(128, 32, 2)};
  const int expected[] = {2, 23};  // tiny: layers 0-1 and 2-3; yolov3: all 23 residual blocks
  for (size_t n = 0; n < cfgs.size(); ++n) {
    const dk::Config& cfg = cfgs[n];
    CAPTURE(cfg.layers.size());
    const dk::Weights w = dk::random_weights(cfg, testing::test_seed());
    // Count the pairs this CPU fuses, from the same conditions the network checks.
    int pools = 0, shortcuts = 0;
    for (const dk::ConvWeights& cw : w.convs) {
      const size_t i = size_t(cw.layer);
      if (i + 1 >= cfg.layers.size()) continue;
      const auto& l = cfg.layers[i];
      const auto* c = l.as<dk::Convolutional>();
      const ops::Conv2dShape s{2, l.in.c, l.in.h, l.in.w, c->filters, c->size, c->stride, c->padding};
      const ops::Conv2dPackedWeights packed = ops::pack_conv2d_weights(cw.weights.data(), s);
      if (const auto* m = cfg.layers[i + 1].as<dk::Maxpool>())
        pools += ops::conv2d_maxpool_fusable(s, ops::ConvActivation::leaky, &packed, m->size, m->stride, m->padding);
      if (cfg.layers[i + 1].as<dk::Shortcut>())
        shortcuts += ops::conv2d_residual_fusable(s, ops::ConvActivation::leaky, &packed);
    }
    if (pools + shortcuts == 0) {
      MESSAGE("skipped: this CPU fuses no layers (no AVX2 + FMA)");
      continue;
    }
    CHECK(pools + shortcuts == expected[n]);
    const nn::DarknetNetwork net(cfg, w);
    const Tensor<float> x = random_input(rng, 2, cfg);
    const auto fused = net.forward(x);                     // the pairs in one pass each
    const auto apart = net.forward(x, /*keep_all=*/true);  // every layer's output kept: nothing fused
    REQUIRE(fused.yolo.size() == apart.yolo.size());
    for (size_t k = 0; k < fused.yolo.size(); ++k) {
      CAPTURE(k);
      REQUIRE(fused.yolo[k].numel() == apart.yolo[k].numel());
      CHECK(std::memcmp(fused.yolo[k].data(), apart.yolo[k].data(), fused.yolo[k].bytes()) == 0);
      CHECK(std::memcmp(fused.hidden[k].data(), apart.hidden[k].data(), fused.hidden[k].bytes()) == 0);
    }
    MESSAGE(cfg.layers.size(), " layers: ", pools, " max-pools and ", shortcuts, " shortcuts fused");
  }
}

TEST_CASE("nn/darknet: weights written and read back give the same output bit for bit") {
  Rng rng = testing::test_rng();
  const dk::Config cfg = dk::parse_cfg(kSmallCfg, "small.cfg");
  const dk::Weights w = dk::random_weights(cfg, 11);
  const fs::path path = fs::temp_directory_path() / ("simad_test_nn_darknet_" + std::to_string(::getpid()) + ".weights");
  dk::write_weights(path, w);
  const dk::Weights back = dk::read_weights(path, cfg);
  fs::remove(path);
  const Tensor<float> x = random_input(rng, 1, cfg);
  const auto a = nn::DarknetNetwork(cfg, w).forward(x);
  const auto b = nn::DarknetNetwork(cfg, back).forward(x);
  for (size_t s = 0; s < a.yolo.size(); ++s) {
    REQUIRE(a.yolo[s].numel() == b.yolo[s].numel());
    CHECK(std::memcmp(a.yolo[s].data(), b.yolo[s].data(), a.yolo[s].bytes()) == 0);
  }
  // Weights for another architecture are refused.
  CHECK_THROWS_AS(nn::DarknetNetwork(nn::yolov3_tiny_config(96, 96, 5), w), simad::Error);
  // Input of the wrong size too.
  CHECK_THROWS_AS(nn::DarknetNetwork(cfg, w).forward(Tensor<float>::zeros({1, 3, 14, 21})), simad::Error);
}

TEST_CASE("nn/darknet: dog.jpg through yolov3-tiny has the right shapes and is finite and deterministic") {
  const fs::path dog = fs::path(SIMAD_SHARED_DATA_DIR) / "darknet" / "dog.jpg";
  if (!fs::exists(dog)) {
    MESSAGE("skipped: ", dog.string(), " is absent");
    return;
  }
  // 256x256 keeps the test fast (yolov3-tiny at 416 is 5.6 GFLOP per image).
  const dk::Config cfg = nn::yolov3_tiny_config(256, 256, 80);
  const nn::DarknetNetwork net(cfg, dk::random_weights(cfg, 2026));
  const image::Image im = image::load(dog);
  std::vector<image::Image> two{im, image::resize_bilinear(im, 300, 500)};
  std::vector<image::LetterboxGeometry> geoms;
  const Tensor<float> x = image::letterbox_batch(two, 256, 256, image::ResizeMode::letterbox, &geoms);
  const auto out = net.forward(x);
  REQUIRE(out.yolo.size() == 2);
  CHECK(out.yolo[0].shape() == Shape{2, 255, 8, 8});
  CHECK(out.yolo[1].shape() == Shape{2, 255, 16, 16});
  CHECK(out.hidden[0].shape() == Shape{2, 512, 8, 8});
  CHECK(out.hidden[1].shape() == Shape{2, 256, 16, 16});
  CHECK(net.hidden_channels() == std::vector<int64_t>{512, 256});
  for (const auto& t : out.yolo) {
    int64_t bad = 0;
    for (float v : t.span()) bad += std::isfinite(v) ? 0 : 1;
    CHECK(bad == 0);
  }
  // Same input, same bits; the batch gives what single images give (to float rounding: the batch
  // may run a differently blocked GEMM).
  const auto again = net.forward(x);
  for (size_t s = 0; s < 2; ++s) CHECK(std::memcmp(out.yolo[s].data(), again.yolo[s].data(), out.yolo[s].bytes()) == 0);
  for (int64_t b = 1; b < 2; ++b) {
    const Tensor<float> one = x.view(b * x.numel() / 2, {1, 3, 256, 256}).clone();
    const auto single = net.forward(one);
    for (size_t s = 0; s < 2; ++s) {
      const int64_t n = single.yolo[s].numel();
      testing::check_close(std::span<const float>(out.yolo[s].data() + b * n, size_t(n)),
                           std::span<const float>(single.yolo[s].data(), size_t(n)), 1e-4, 1e-4,
                           "batch vs single, scale " + std::to_string(s));
    }
  }
  const auto dets = nn::detect(out.yolo, cfg, 0, geoms[0]);
  for (const auto& d : dets) {
    CHECK(d.confidence > 0.3f);
    CHECK(std::isfinite(d.box.x));
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE("nn/yolo: decode of a hand-computed cell and letterbox correction") {
  // One scale 2x2 cells, 1 anchor (mask 1 of anchors (10,20),(30,40)), 2 classes, network 64x64.
  dk::Yolo y{{1}, {10, 20, 30, 40}, 2, 2};
  const int lw = 2, lh = 2, HW = 4;
  std::vector<float> pred(size_t(7 * HW), 0.0f);
  auto at = [&](int e, int cell) -> float& { return pred[size_t(e * HW + cell)]; };
  // Cell (row 1, col 0) = index 2: sx 0.25, sy 0.75, tw log 2, th 0, obj 0.8, classes 0.5, 0.9.
  at(0, 2) = 0.25f, at(1, 2) = 0.75f, at(2, 2) = std::log(2.0f), at(3, 2) = 0.0f, at(4, 2) = 0.8f;
  at(5, 2) = 0.5f, at(6, 2) = 0.9f;
  at(4, 0) = 0.3f;  // objectness at the threshold: not kept (Darknet keeps > thresh)
  auto cands = nn::yolo_candidates(pred.data(), y, lw, lh, 64, 64, 0.3f, 0);
  REQUIRE(cands.size() == 1);
  const nn::Candidate& c = cands[0];
  CHECK(c.box.x == doctest::Approx((0 + 0.25) / 2));
  CHECK(c.box.y == doctest::Approx((1 + 0.75) / 2));
  CHECK(c.box.w == doctest::Approx(2.0 * 30 / 64));
  CHECK(c.box.h == doctest::Approx(1.0 * 40 / 64));
  CHECK(c.prob[0] == doctest::Approx(0.4));  // 0.8 * 0.5 > 0.3
  CHECK(c.prob[1] == doctest::Approx(0.72));
  CHECK(c.col == 0);
  CHECK(c.row == 1);
  CHECK(c.anchor == 1);
  // prob <= thresh is zeroed.
  at(5, 2) = 0.3f;
  CHECK(nn::yolo_candidates(pred.data(), y, lw, lh, 64, 64, 0.3f, 0)[0].prob[0] == 0.0f);

  // Letterbox correction: a 128x64 picture in a 64x64 network is resized to 64x32 at dy = 16.
  const image::LetterboxGeometry g = image::letterbox_geometry(128, 64, 64, 64);
  REQUIRE(g.new_h == 32);
  std::vector<nn::Candidate> one(1);
  one[0].box = {0.5f, 0.5f, 0.25f, 0.25f};  // centre of the network input
  nn::correct_boxes(one, g);
  CHECK(one[0].box.x == doctest::Approx(64.0));    // centre of the picture
  CHECK(one[0].box.y == doctest::Approx(32.0));
  CHECK(one[0].box.w == doctest::Approx(32.0));    // 0.25 of 64 network pixels = 16 -> x2 = 32
  CHECK(one[0].box.h == doctest::Approx(32.0));    // 0.25 of 64 = 16 network rows of 32 -> half of 64
  one[0].box = {0.5f, 0.25f, 0.5f, 0.5f};          // y at the top edge of the pasted picture
  nn::correct_boxes(one, g);
  CHECK(one[0].box.y == doctest::Approx(0.0).epsilon(1e-6));
}

TEST_CASE("nn/yolo: per-class NMS on hand-computed boxes") {
  auto cand = [](nn::Box b, std::vector<float> prob) {
    nn::Candidate c;
    c.box = b;
    c.objectness = 1;
    c.prob = std::move(prob);
    return c;
  };
  // a and b overlap with IoU 0.6 (> 0.45), c overlaps a with IoU 1/3 (kept), d has another class.
  // a: [0, 10] x [0, 10]; b: [0, 10] x [0, 6] -> IoU 60/100; c: [5, 15] x [0, 10] -> 50/150.
  std::vector<nn::Candidate> cands{cand({5, 3, 10, 6}, {0.7f, 0}), cand({5, 5, 10, 10}, {0.9f, 0}),
                                   cand({10, 5, 10, 10}, {0.5f, 0}), cand({5, 5, 10, 10}, {0, 0.6f})};
  CHECK(nn::box_iou(cands[0].box, cands[1].box) == doctest::Approx(0.6));
  CHECK(nn::box_iou(cands[1].box, cands[2].box) == doctest::Approx(1.0 / 3));
  CHECK(nn::box_iou({0, 0, 1, 1}, {5, 5, 1, 1}) == 0.0f);
  nn::nms_per_class(cands, 2, 0.45f);
  CHECK(cands[0].prob[0] == 0.0f);  // suppressed by the 0.9 box
  CHECK(cands[1].prob[0] == 0.9f);
  CHECK(cands[2].prob[0] == 0.5f);
  CHECK(cands[3].prob[1] == 0.6f);  // another class: untouched although it is the same box
  const auto dets = nn::best_class_detections(cands);
  REQUIRE(dets.size() == 3);
  CHECK(dets[0].confidence == 0.9f);
  CHECK(dets[1].confidence == 0.6f);
  CHECK(dets[1].class_id == 1);
  CHECK(dets[2].confidence == 0.5f);
  CHECK(dets[0].left() == 0.0f);
  CHECK(dets[0].right() == 10.0f);
}

TEST_CASE("nn/yolo: detect over a batch of yolo outputs finds a planted box") {
  const dk::Config cfg = dk::parse_cfg(kSmallCfg, "small.cfg");
  const auto layers = cfg.yolo_layers();
  std::vector<Tensor<float>> outs;
  for (int l : layers) {
    const auto& d = cfg.layers[size_t(l)].out;
    outs.push_back(Tensor<float>::zeros({2, d.c, d.h, d.w}));  // all objectness 0: nothing
  }
  // Image 1, scale 0 (7x10 cells), anchor slot 1 (mask 0: anchor (4, 5)), cell row 3 col 4.
  const auto& d0 = cfg.layers[size_t(layers[0])].out;
  const int64_t HW = int64_t(d0.h) * d0.w, cell = 3 * d0.w + 4, E = 7;
  float* img1 = outs[0].data() + d0.numel();
  auto set = [&](int64_t e, float v) { img1[(1 * E + e) * HW + cell] = v; };
  set(0, 0.5f), set(1, 0.5f), set(2, 0.0f), set(3, 0.0f), set(4, 0.9f), set(5, 0.1f), set(6, 0.8f);
  const image::LetterboxGeometry g = image::letterbox_geometry(20, 14, 20, 14);
  CHECK(nn::detect(outs, cfg, 0, g).empty());
  const auto dets = nn::detect(outs, cfg, 1, g);
  REQUIRE(dets.size() == 1);
  CHECK(dets[0].class_id == 1);
  CHECK(dets[0].confidence == doctest::Approx(0.72));
  CHECK(dets[0].box.x == doctest::Approx(4.5 / 10 * 20));
  CHECK(dets[0].box.y == doctest::Approx(3.5 / 7 * 14));
  CHECK(dets[0].box.w == doctest::Approx(4.0));
  CHECK(dets[0].box.h == doctest::Approx(5.0));
  CHECK(dets[0].scale == 0);
  CHECK(dets[0].row == 3);
  CHECK(dets[0].col == 4);
  CHECK_THROWS_AS(nn::detect(outs, cfg, 2, g), simad::Error);
}

// ------------------------------------------------------------------------------------------------
TEST_CASE("nn/region_features: centre-cell features geometry padding and the no-detection fallback") {
  Rng rng = testing::test_rng();
  // Two scales: (B, 6, 3, 4) deepest, (B, 4, 6, 8).
  const int64_t B = 3;
  std::vector<Tensor<float>> hidden{testing::random_tensor<float>(rng, {B, 6, 3, 4}),
                                    testing::random_tensor<float>(rng, {B, 4, 6, 8})};
  std::vector<std::vector<nn::Detection>> dets(B);
  nn::Detection a;
  a.box = {50, 20, 30, 10}, a.confidence = 0.9f, a.scale = 1, a.row = 5, a.col = 2;
  nn::Detection b;
  b.box = {190, 90, 400, 40}, b.confidence = 0.5f, b.scale = 0, b.row = 1, b.col = 3;
  dets[0] = {a, b};
  dets[2] = {b, a, a};  // more than k1 = 2: only the first two
  const std::vector<std::pair<int, int>> sizes{{200, 100}, {64, 64}, {200, 100}};
  const nn::RegionFeatures r = nn::region_features(hidden, dets, sizes, 2);
  REQUIRE(r.features.shape() == Shape{B, 2, 6});
  CHECK(r.channels == std::vector<int64_t>{6, 4});
  // Image 0, region 0: scale 1 cell (5, 2), channels 0..3, zero beyond.
  for (int64_t c = 0; c < 6; ++c) {
    const float want = c < 4 ? hidden[1](0, c, 5, 2) : 0.0f;
    CHECK(r.features(0, 0, c) == want);
    CHECK(r.features(0, 1, c) == hidden[0](0, c, 1, 3));
  }
  CHECK(r.scale(0, 0) == 1);
  CHECK(r.mask(0, 0) == 1);
  CHECK(r.geometry(0, 0, 0) == doctest::Approx(0.25));
  CHECK(r.geometry(0, 0, 1) == doctest::Approx(0.2));
  CHECK(r.geometry(0, 0, 2) == doctest::Approx(0.15));
  CHECK(r.geometry(0, 0, 3) == doctest::Approx(0.1));
  CHECK(r.geometry(0, 0, 4) == doctest::Approx(0.9));
  CHECK(r.geometry(0, 1, 2) == 1.0f);  // 400 / 200 clamped
  // Image 1 has no detection: one region, the global max of the deepest map.
  CHECK(r.mask(1, 0) == 1);
  CHECK(r.mask(1, 1) == 0);
  CHECK(r.scale(1, 0) == 0);
  CHECK(r.scale(1, 1) == -1);
  for (int64_t c = 0; c < 6; ++c) {
    float m = -1e30f;
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 4; ++x) m = std::max(m, hidden[0](1, c, y, x));
    CHECK(r.features(1, 0, c) == m);
    CHECK(r.features(1, 1, c) == 0.0f);
  }
  CHECK(r.geometry(1, 0, 4) == 0.0f);
  // Image 2: the first two by the given order.
  CHECK(r.scale(2, 0) == 0);
  CHECK(r.scale(2, 1) == 1);
  CHECK(r.mask(2, 1) == 1);
  // Bad cells are errors.
  dets[1] = {a};
  dets[1][0].row = 6;
  CHECK_THROWS_AS(nn::region_features(hidden, dets, sizes, 2), simad::Error);
}

TEST_CASE("nn/region_features: 7x7 grid regions are adaptive max-pools of the deepest map") {
  Rng rng = testing::test_rng();
  // Deepest: (2, 5, 13, 11) (fewer cells than the (2, 3, 26, 22) map).
  std::vector<Tensor<float>> hidden{testing::random_tensor<float>(rng, {2, 3, 26, 22}),
                                    testing::random_tensor<float>(rng, {2, 5, 13, 11})};
  const nn::RegionFeatures r = nn::grid_regions(hidden, 7);
  REQUIRE(r.features.shape() == Shape{2, 49, 5});
  const int64_t H = 13, W = 11, G = 7;
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t gy = 0; gy < G; ++gy)
      for (int64_t gx = 0; gx < G; ++gx)
        for (int64_t c = 0; c < 5; ++c) {
          // PyTorch's adaptive pooling bins: floor(i * H / G) to ceil((i + 1) * H / G).
          const int64_t y0 = int64_t(std::floor(double(gy) * H / G)), y1 = int64_t(std::ceil(double(gy + 1) * H / G));
          const int64_t x0 = int64_t(std::floor(double(gx) * W / G)), x1 = int64_t(std::ceil(double(gx + 1) * W / G));
          double m = -1e30;
          for (int64_t y = y0; y < y1; ++y)
            for (int64_t x = x0; x < x1; ++x) m = std::max(m, double(hidden[1](b, c, y, x)));
          want.push_back(m);
        }
  testing::check_close(r.features, std::span<const double>(want), 0.0, 0.0, "grid regions");
  for (int64_t k = 0; k < 49; ++k) {
    CHECK(r.mask(1, k) == 1);
    CHECK(r.scale(1, k) == 1);
  }
}

}  // namespace SIMAD_TEST_FILE_ID
