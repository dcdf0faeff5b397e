// Tests of nn/darknet_train.hpp: the whole tiny network's gradient against finite differences in
// double (parameters and input), inference agreement with nn::DarknetNetwork through a .weights
// file, the safetensors round trip, and the per-layer timing hook (same numbers, every layer timed).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "nn/tiny_detector.hpp"
#include "simad/core/parallel.hpp"
#include "simad/io/darknet_weights.hpp"
#include "simad/nn/darknet.hpp"
#include "simad/nn/darknet_train.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace dk = simad::io::darknet;

namespace {

// Moves every parameter and running statistic off its initial value (biases 0, scales 1, ...).
template <typename T>
void randomise(nn::DarknetTrainNetwork<T>& net, Rng& rng) {
  net.init_random(rng.next_u64());
  for (const train::ParamSlice& s : net.params()) {
    if (s.name.ends_with(".biases")) net.params().init_uniform(s.name, rng, -0.2, 0.2);
    if (s.name.ends_with(".scales")) net.params().init_uniform(s.name, rng, 0.5, 1.5);
  }
  for (const train::ParamSlice& s : net.state()) {
    if (s.name.ends_with(".rolling_mean")) net.state().init_uniform(s.name, rng, -0.3, 0.3);
    if (s.name.ends_with(".rolling_variance")) net.state().init_uniform(s.name, rng, 0.5, 2.0);
  }
}

// One thread for the thousands of tiny forwards of a finite-difference check: the pool's
// fork/join would cost more than the work, and far more on a loaded machine.
struct OneThread {
  int saved = num_threads();
  OneThread() { set_num_threads(1); }
  ~OneThread() { set_num_threads(saved); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

}  // namespace

TEST_CASE("nn/darknet_train: the whole tiny network's gradient matches finite differences in double") {
  const OneThread one;
  Rng rng = testing::test_rng();
  const dk::Config cfg = testing::tiny_detector_cfg(8, 8);
  nn::DarknetTrainNetwork<double> net(cfg);
  randomise(net, rng);
  const int64_t B = 2;
  std::vector<double> x = testing::random_vector<double>(rng, size_t(B * net.input_numel()), 0.0, 1.0);
  const std::vector<std::vector<nn::YoloTruth>> truths = {{{0.3, 0.4, 0.35, 0.45, 0}, {0.7, 0.65, 0.5, 0.4, 1}},
                                                          {{0.55, 0.5, 0.8, 0.7, 1}}};
  net.set_input_gradient(true);
  net.params().zero_grad();
  net.forward(x.data(), B, true);
  const nn::YoloLossTerms terms = net.backward(truths);
  CHECK(terms.responsible == 3);
  CHECK(terms.coord > 0);
  CHECK(terms.noobj > 0);
  auto loss = [&] {
    net.forward(x.data(), B, true);
    return net.loss(truths).total();
  };
  CHECK(loss() == doctest::Approx(terms.total()).epsilon(1e-12));
  for (const train::ParamSlice& s : net.params()) {
    const Tensor<double> p = net.params().param(s.name), g = net.params().grad(s.name);
    const std::vector<double> analytic(g.data(), g.data() + g.numel());
    const std::vector<double> numeric = testing::numeric_gradient(p.span(), loss, 1e-5);
    SIMAD_CHECK_GRADIENT(analytic, numeric, s.name);
  }
  const std::vector<double> dx = net.input_gradient();
  const std::vector<double> numeric = testing::numeric_gradient(std::span<double>(x), loss, 1e-5);
  SIMAD_CHECK_GRADIENT(dx, numeric, "input");
}

TEST_CASE("nn/darknet_train: gradients accumulate over two backward passes") {
  Rng rng = testing::test_rng();
  nn::DarknetTrainNetwork<double> net(testing::tiny_detector_cfg(8, 8));
  randomise(net, rng);
  std::vector<float> xf;
  std::vector<std::vector<nn::YoloTruth>> truths;
  testing::synthetic_detection_batch(rng, 2, 8, 8, xf, truths);
  const std::vector<double> x(xf.begin(), xf.end());
  net.params().zero_grad();
  net.forward(x.data(), 2, true);
  net.backward(truths);
  const Tensor<double> g = net.params().grads();
  const std::vector<double> once(g.data(), g.data() + g.numel());
  net.forward(x.data(), 2, true);
  net.backward(truths);
  for (size_t k = 0; k < once.size(); ++k) REQUIRE(g.data()[k] == doctest::Approx(2 * once[k]).epsilon(1e-12));
}

TEST_CASE("nn/darknet_train: inference forward agrees with nn::DarknetNetwork on the saved .weights") {
  Rng rng = testing::test_rng();
  const dk::Config cfg = testing::tiny_detector_cfg(32, 24);
  nn::DarknetTrainNetwork<float> net(cfg);
  randomise(net, rng);
  net.seen = 1234;
  testing::TempDir dir("simad-darknet-train");
  const auto path = dir.path / "tiny.weights";
  net.save_darknet_weights(path);
  CHECK(int64_t(std::filesystem::file_size(path)) == dk::expected_file_bytes(cfg));
  const dk::Weights w = dk::read_weights(path, cfg);
  CHECK(w.seen == 1234);
  const nn::DarknetNetwork ref(cfg, w);

  const int64_t B = 3;
  Tensor<float> x = testing::random_tensor<float>(rng, {B, 3, 24, 32}, 0.0, 1.0);
  const auto out = ref.forward(x);
  net.forward(x.data(), B, false);
  REQUIRE(net.yolo_count() == out.yolo.size());
  for (size_t s = 0; s < net.yolo_count(); ++s) {
    std::vector<float> mine = net.yolo_output(s);
    const dk::Layer& l = cfg.layers[size_t(net.yolo_layers()[s])];
    const auto* y = l.as<dk::Yolo>();
    nn::DarknetNetwork::yolo_activate(mine.data(), B, y->anchor_count(), y->classes, int64_t(l.out.h) * l.out.w);
    REQUIRE(int64_t(mine.size()) == out.yolo[s].numel());
    double worst = 0;
    for (size_t k = 0; k < mine.size(); ++k)
      worst = std::max(worst, std::abs(double(mine[k]) - double(out.yolo[s].data()[k])) /
                                  (1e-4 + 1e-4 * std::abs(double(out.yolo[s].data()[k]))));
    CHECK_MESSAGE(worst <= 1.0, "scale ", s, ": worst |diff| / (1e-4 + 1e-4 |ref|) = ", worst);
  }

  // Reading the file back gives the same bits.
  nn::DarknetTrainNetwork<float> back(cfg);
  back.load_darknet_weights(path);
  CHECK(back.seen == 1234);
  for (const train::ParamSlice& s : net.params()) {
    const Tensor<float> a = net.params().param(s.name), b = back.params().param(s.name);
    CHECK_MESSAGE(std::equal(a.data(), a.data() + a.numel(), b.data()), s.name);
  }
  for (const train::ParamSlice& s : net.state()) {
    const Tensor<float> a = net.state().param(s.name), b = back.state().param(s.name);
    CHECK_MESSAGE(std::equal(a.data(), a.data() + a.numel(), b.data()), s.name);
  }
}

TEST_CASE("nn/darknet_train: safetensors round trip keeps parameters, running statistics and seen") {
  Rng rng = testing::test_rng();
  const dk::Config cfg = testing::tiny_detector_cfg(16, 16);
  nn::DarknetTrainNetwork<float> net(cfg);
  randomise(net, rng);
  net.seen = 77;
  testing::TempDir dir("simad-darknet-train-st");
  const auto path = dir.path / "tiny.safetensors";
  net.save_safetensors(path);
  nn::DarknetTrainNetwork<float> back(cfg);
  const auto meta = back.load_safetensors(path);
  CHECK(meta.at("format") == nn::kDarknetSafetensorsFormat);
  CHECK(back.seen == 77);
  const Tensor<float> a = net.params().params(), b = back.params().params();
  CHECK(std::equal(a.data(), a.data() + a.numel(), b.data()));
  const Tensor<float> sa = net.state().params(), sb = back.state().params();
  CHECK(std::equal(sa.data(), sa.data() + sa.numel(), sb.data()));
  CHECK(back.params().contains("layer0.scales"));
  CHECK(back.state().contains("layer0.rolling_mean"));
  CHECK_FALSE(back.params().contains("layer6.scales"));  // the prediction conv has no batch norm

  // Another architecture's file is an error naming a tensor.
  nn::DarknetTrainNetwork<float> other(testing::tiny_detector_cfg(16, 16));
  other.save_safetensors(dir.path / "same.safetensors");
  const dk::Config yolo_tiny = nn::yolov3_tiny_config(32, 32, 2);
  nn::DarknetTrainNetwork<float> wrong(yolo_tiny);
  CHECK_THROWS(wrong.load_safetensors(path));
}

TEST_CASE("nn/darknet_train: layer timing changes no number and times every layer and part") {
  Rng rng = testing::test_rng();
  const dk::Config cfg = testing::tiny_detector_cfg(16, 16);
  std::vector<float> x;
  std::vector<std::vector<nn::YoloTruth>> truths;
  testing::synthetic_detection_batch(rng, 2, 16, 16, x, truths);
  // Two forward / backward passes each (running statistics move), one network timed, one not.
  auto run = [&](nn::DarknetLayerTimes* times) {
    auto net = std::make_unique<nn::DarknetTrainNetwork<float>>(cfg);
    net->init_random(5);
    net->set_layer_times(times);
    net->params().zero_grad();
    for (int k = 0; k < 2; ++k) {
      net->forward(x.data(), 2, true);
      net->backward(truths);
    }
    net->forward(x.data(), 2, false);
    return net;
  };
  nn::DarknetLayerTimes times;
  const auto plain = run(nullptr), timed = run(&times);
  CHECK(timed->layer_times() == &times);
  auto same = [](const Tensor<float>& a, const Tensor<float>& b) { return std::equal(a.data(), a.data() + a.numel(), b.data()); };
  CHECK(same(plain->params().grads(), timed->params().grads()));
  CHECK(same(plain->state().params(), timed->state().params()));
  for (size_t s = 0; s < plain->yolo_count(); ++s) CHECK(plain->yolo_output(s) == timed->yolo_output(s));

  CHECK(times.forwards == 3);
  CHECK(times.backwards == 2);
  REQUIRE(times.layers.size() == cfg.layers.size());
  double layers_forward = 0, layers_backward = 0;
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const nn::DarknetLayerTimes::Layer& t = times.layers[i];
    CHECK_MESSAGE(t.forward > 0, "layer ", i);
    CHECK_MESSAGE(t.backward > 0, "layer ", i);
    layers_forward += t.forward, layers_backward += t.backward;
    const auto* c = cfg.layers[i].as<dk::Convolutional>();
    CHECK_MESSAGE((t.conv_forward > 0 && t.conv_backward > 0) == (c != nullptr), "layer ", i);
    CHECK_MESSAGE((t.bn_forward > 0 && t.bn_backward > 0) == (c && c->batch_normalize), "layer ", i);
    CHECK_MESSAGE(t.conv_forward + t.bn_forward + t.act_forward <= t.forward, "layer ", i);
    CHECK_MESSAGE(t.conv_backward + t.bn_backward + t.act_backward <= t.backward, "layer ", i);
  }
  CHECK(times.loss > 0);
  CHECK(layers_forward <= times.forward_total);
  CHECK(layers_backward + times.loss + times.clear_gradients <= times.backward_total);

  // Off again: nothing more is added.
  const double before = times.forward_total;
  timed->set_layer_times(nullptr);
  timed->forward(x.data(), 2, true);
  CHECK(times.forward_total == before);
}

}  // namespace SIMAD_TEST_FILE_ID
