// tests/cuda/models/test_darknet_on_cuda.cpp: whole Darknet networks on the (emulated) GPU
// (nn/darknet_cuda.hpp) against the CPU forward (nn/darknet.hpp) on the same random weights and images:
// every [yolo] output and hidden map, and with keep_all every layer, within 2e-4 + 2e-4 |cpu| (the CPU
// forward's own tolerance against a naive double forward, tests/nn/test_darknet.cpp; the convolutions'
// float sums run in another order). Networks: yolov3-tiny at 64 x 32 (every layer type it has: 3x3 and 1x1
// convolutions, both maxpools, route of one and of two layers, upsample, yolo), yolov3 at 32 x 32 (75
// convolutions with every filter count and depth of the 416 network, 23 shortcuts fused into their
// convolutions) and a small network with a [shortcut] after a logistic convolution whose filters (70) pass
// one CUDA tile.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/cuda/runtime.hpp"
#include "simad/io/darknet_cfg.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/darknet_cuda.hpp"
#include "simad/nn/yolo.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace dk = simad::io::darknet;
namespace nn = simad::nn;
namespace t = simad::testing;
using simad::Tensor;

// conv, conv (stride 2), conv 1x1, conv (logistic), shortcut (leaky) from the stride-2 conv, maxpool 2/2,
// conv, upsample, route of two layers, conv, yolo.
const char* kResidualCfg = R"([net]
width=24
height=20
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
filters=70
size=3
stride=2
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=20
size=1
stride=1
pad=1
activation=leaky
[convolutional]
batch_normalize=1
filters=70
size=3
stride=1
pad=1
activation=logistic
[shortcut]
from=-3
activation=leaky
[maxpool]
size=2
stride=2
[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky
[upsample]
stride=2
[route]
layers=-1,-4
[convolutional]
filters=14
size=1
stride=1
activation=linear
[yolo]
mask=0,1
anchors=4,5,9,7,12,12
classes=2
num=3
)";

void check_output(const nn::DarknetNetwork::Output& gpu, const nn::DarknetNetwork::Output& cpu,
                  const std::string& what) {
  REQUIRE(gpu.yolo.size() == cpu.yolo.size());
  REQUIRE(gpu.hidden.size() == cpu.hidden.size());
  CHECK(gpu.yolo_layers == cpu.yolo_layers);
  for (size_t s = 0; s < cpu.yolo.size(); ++s) {
    CHECK(gpu.yolo[s].device() == simad::Device::cuda);
    CHECK(gpu.yolo[s].shape() == cpu.yolo[s].shape());
    CHECK(gpu.hidden[s].shape() == cpu.hidden[s].shape());
    t::check_close(simad::cuda::to_host(gpu.yolo[s]), cpu.yolo[s], 2e-4, 2e-4, what + " yolo " + std::to_string(s));
    t::check_close(simad::cuda::to_host(gpu.hidden[s]), cpu.hidden[s], 2e-4, 2e-4,
                   what + " hidden " + std::to_string(s));
  }
}

void check_network(const dk::Config& cfg, int64_t B) {
  auto rng = t::test_rng();
  const dk::Weights w = dk::random_weights(cfg, t::test_seed());
  const nn::DarknetNetwork cpu(cfg, w);
  const nn::CudaDarknetNetwork gpu(cpu);
  const Tensor<float> x =
      t::random_tensor<float>(rng, {B, cfg.net.channels, cfg.net.height, cfg.net.width}, 0.0, 1.0);
  const auto want = cpu.forward(x, /*keep_all=*/true);
  // Input from the host and from the device, with and without keep_all (the shortcut fused or not).
  check_output(gpu.forward(x), want, cfg.source);
  const auto all = gpu.forward(simad::cuda::to_device(x), /*keep_all=*/true);
  check_output(all, want, cfg.source + " keep_all");
  REQUIRE(all.layers.size() == cfg.layers.size());
  for (size_t i = 0; i < cfg.layers.size(); ++i)
    t::check_close(simad::cuda::to_host(all.layers[i]), want.layers[i], 2e-4, 2e-4,
                   cfg.source + " layer " + std::to_string(i));
}

}  // namespace

TEST_CASE("cuda/darknet: yolov3-tiny at 64x32 on the GPU matches the CPU forward, layer by layer") {
  check_network(nn::yolov3_tiny_config(64, 32, 80), 2);
}

TEST_CASE("cuda/darknet: yolov3 at 32x32 on the GPU matches the CPU forward, layer by layer") {
  check_network(nn::yolov3_config(32, 32, 80), 1);
}

TEST_CASE("cuda/darknet: a shortcut fused into the convolution before it matches the CPU forward") {
  check_network(dk::parse_cfg(kResidualCfg, "residual.cfg"), 3);
}

// The emulated mma costs about 100 times an FMA here (lanes fetch fragments through shuffles): small input.
TEST_CASE("cuda/darknet: with bf16 tensor cores yolov3-tiny stays within bf16's error of the CPU forward") {
  auto rng = t::test_rng();
  const dk::Config cfg = nn::yolov3_tiny_config(32, 32, 80);
  const nn::DarknetNetwork cpu(cfg, dk::random_weights(cfg, t::test_seed()));
  const nn::CudaDarknetNetwork fp32(cpu), bf16(cpu, simad::cuda::kernels::ConvMath::bf16_tensor_cores);
  const Tensor<float> x = t::random_tensor<float>(rng, {1, 3, 32, 32}, 0.0, 1.0);
  const auto want = cpu.forward(x);
  const auto a = bf16.forward(x), b = fp32.forward(x);
  for (size_t s = 0; s < want.yolo.size(); ++s) {
    const Tensor<float> ha = simad::cuda::to_host(a.yolo[s]), hb = simad::cuda::to_host(b.yolo[s]);
    double worst = 0, differ = 0;
    for (int64_t i = 0; i < ha.numel(); ++i) {
      worst = std::max(worst, double(std::fabs(ha.data()[i] - want.yolo[s].data()[i])) /
                                  (1.0 + std::fabs(double(want.yolo[s].data()[i]))));
      differ = std::max(differ, double(std::fabs(ha.data()[i] - hb.data()[i])));
    }
    // About 0.5-1% seen through tiny's 13 convolutions (bf16 keeps 8 significant bits).
    CHECK_MESSAGE(worst < 5e-2, "scale ", s, ": worst |bf16 - cpu| / (1 + |cpu|) = ", worst);
    CHECK(differ > 1e-5);  // the convolutions did run in bf16
  }
}

TEST_CASE("cuda/darknet: candidates decoded on the GPU are nn::yolo_candidates' of the same maps") {
  // The same [yolo] maps on both sides (the CPU forward's, copied to the GPU), so the kept sets must be equal:
  // cells, anchors, order, objectness and class probabilities exactly, boxes within expf's ulps.
  auto rng = t::test_rng();
  const dk::Config cfg = nn::yolov3_tiny_config(64, 96, 80);
  const nn::DarknetNetwork cpu(cfg, dk::random_weights(cfg, t::test_seed()));
  const auto want = cpu.forward(t::random_tensor<float>(rng, {3, 3, 96, 64}, 0.0, 1.0));
  nn::DarknetOutput dev;
  dev.yolo_layers = want.yolo_layers;
  for (const auto& y : want.yolo) dev.yolo.push_back(simad::cuda::to_device(y));
  for (const float threshold : {0.25f, 0.45f}) {
    CAPTURE(threshold);
    const auto got = nn::cuda_yolo_candidates(dev, cfg, threshold);
    REQUIRE(got.size() == 3);
    size_t total = 0, cells = 0;
    for (int64_t b = 0; b < 3; ++b) {
      std::vector<nn::Candidate> expected;
      for (size_t s = 0; s < want.yolo.size(); ++s) {
        const auto& l = cfg.layers[size_t(want.yolo_layers[s])];
        const auto* y = l.as<dk::Yolo>();
        auto c = nn::yolo_candidates(want.yolo[s].data() + b * l.out.numel(), *y, l.out.w, l.out.h, cfg.net.width,
                                     cfg.net.height, threshold, int(s));
        expected.insert(expected.end(), c.begin(), c.end());
        cells += size_t(y->anchor_count() * l.out.w * l.out.h);
      }
      const auto& g = got[size_t(b)];
      REQUIRE(g.size() == expected.size());
      total += g.size();
      for (size_t j = 0; j < g.size(); ++j) {
        const nn::Candidate &a = g[j], &e = expected[j];
        CHECK((a.scale == e.scale && a.col == e.col && a.row == e.row && a.anchor == e.anchor));
        CHECK(a.objectness == e.objectness);
        CHECK(a.prob == e.prob);
        const float ab[4] = {a.box.x, a.box.y, a.box.w, a.box.h}, eb[4] = {e.box.x, e.box.y, e.box.w, e.box.h};
        for (int k = 0; k < 4; ++k) CHECK(std::fabs(ab[k] - eb[k]) <= 1e-6f * std::fabs(eb[k]) + 1e-7f);
      }
    }
    CHECK_MESSAGE(total > 0, total);  // some kept
    CHECK(total < cells);  // some not
  }
}

TEST_CASE("cuda/darknet: an input of the wrong shape is refused") {
  const dk::Config cfg = dk::parse_cfg(kResidualCfg, "residual.cfg");
  const nn::DarknetNetwork cpu(cfg, dk::random_weights(cfg, 5));
  const nn::CudaDarknetNetwork gpu(cpu);
  std::string message;
  try {
    gpu.forward(Tensor<float>::zeros({1, 3, 20, 25}));
  } catch (const simad::Error& e) {
    message = e.what();
  }
  CHECK_MESSAGE(message.find("does not match the network's (B, 3, 20, 24)") != std::string::npos, message);
}

}  // namespace SIMAD_TEST_FILE_ID
