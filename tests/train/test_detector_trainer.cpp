// Tests of train/detector_trainer.hpp: Darknet's SGD update against a hand-computed step, the
// burn-in and steps schedule, the cfg's [net] training keys, loss going down when overfitting
// synthetic images, and a resumed run reproducing the uninterrupted one bit for bit.
// GCC 12 warns falsely (-Wrestrict, bug 105329) inside safetensors' header assembly (std::string
// assignment) once the optimiser inlines it into the checkpoint writer; the warning sits in
// libstdc++'s char_traits.h, so only a file-wide pragma reaches it.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <vector>

#include "nn/tiny_detector.hpp"
#include "simad/nn/darknet_train.hpp"
#include "simad/train/detector_trainer.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace dk = simad::io::darknet;

TEST_CASE("train/detector_trainer: SGD step matches a hand-computed Darknet update") {
  train::ParamStore<float> store;
  store.add("l.weights", {2});
  store.add("l.biases", {2});
  store.allocate();
  const float w0[] = {1.0f, -2.0f}, b0[] = {0.5f, 0.25f}, gw[] = {0.4f, -0.2f}, gb[] = {0.1f, 0.3f};
  std::copy_n(w0, 2, store.param("l.weights").data());
  std::copy_n(b0, 2, store.param("l.biases").data());
  train::DarknetSgd<float> sgd(store, &nn::DarknetTrainNetwork<float>::is_decayed);
  // lr 0.1, momentum 0.9, decay 0.01, batch 2: step lr / batch = 0.05, decay * batch = 0.02.
  //   step 1: v_w = g + 0.02 w = (0.42, -0.24), w = (0.979, -1.988); v_b = g, b = (0.495, 0.235)
  //   step 2: v_w = 0.9 v_w + g + 0.02 w = (0.79758, -0.45576), w = (0.939121, -1.965212);
  //           v_b = (0.19, 0.57), b = (0.4855, 0.2065)
  const double want_w[2][2] = {{0.979, -1.988}, {0.939121, -1.965212}};
  const double want_b[2][2] = {{0.495, 0.235}, {0.4855, 0.2065}};
  for (int step = 0; step < 2; ++step) {
    std::copy_n(gw, 2, store.grad("l.weights").data());
    std::copy_n(gb, 2, store.grad("l.biases").data());
    sgd.step(store, 0.1, 0.9, 0.01, 2);
    for (int k = 0; k < 2; ++k) {
      CHECK(store.param("l.weights").data()[k] == doctest::Approx(want_w[step][k]).epsilon(1e-6));
      CHECK(store.param("l.biases").data()[k] == doctest::Approx(want_b[step][k]).epsilon(1e-6));
    }
  }
}

TEST_CASE("train/detector_trainer: burn-in and steps learning-rate schedule as Darknet") {
  train::DetectorSgdOptions o;
  o.learning_rate = 0.01, o.burn_in = 100, o.power = 4, o.policy = "steps", o.steps = {200, 300}, o.scales = {0.1, 0.5};
  CHECK(train::detector_learning_rate(o, 1) == doctest::Approx(0.01 * 1e-8));
  CHECK(train::detector_learning_rate(o, 50) == doctest::Approx(0.01 * 0.0625));
  CHECK(train::detector_learning_rate(o, 99) == doctest::Approx(0.01 * std::pow(0.99, 4)));
  CHECK(train::detector_learning_rate(o, 100) == doctest::Approx(0.01));
  CHECK(train::detector_learning_rate(o, 199) == doctest::Approx(0.01));
  CHECK(train::detector_learning_rate(o, 200) == doctest::Approx(0.001));
  CHECK(train::detector_learning_rate(o, 299) == doctest::Approx(0.001));
  CHECK(train::detector_learning_rate(o, 300) == doctest::Approx(0.0005));
  CHECK(train::detector_learning_rate(o, 100000) == doctest::Approx(0.0005));
  o.policy = "constant";
  CHECK(train::detector_learning_rate(o, 250) == doctest::Approx(0.01));
  o.policy = "poly", o.max_batches = 1000, o.power = 2;
  CHECK(train::detector_learning_rate(o, 500) == doctest::Approx(0.01 * 0.25));
}

TEST_CASE("train/detector_trainer: the cfg's [net] training keys set the options, bad ones are errors") {
  const dk::Config cfg = testing::tiny_detector_cfg(16, 16, 4);
  const train::DetectorSgdOptions o = train::detector_sgd_options(cfg);
  CHECK(o.learning_rate == doctest::Approx(0.01));
  CHECK(o.momentum == doctest::Approx(0.9));
  CHECK(o.decay == doctest::Approx(0.0005));
  CHECK(o.policy == "steps");
  CHECK(o.steps == std::vector<int64_t>{1000});
  CHECK(o.scales == std::vector<double>{0.1});
  CHECK(o.batch == 4);
  CHECK(o.subdivisions == 1);
  auto with = [](const std::string& extra) {
    return dk::parse_cfg("[net]\nwidth=16\nheight=16\nchannels=3\n" + extra +
                             "\n[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
                             "[yolo]\nmask=0\nanchors=4,4\nclasses=2\nnum=1\n",
                         "bad.cfg");
  };
  CHECK_THROWS_WITH(train::detector_sgd_options(with("policy=sig")), doctest::Contains("bad.cfg"));
  CHECK_THROWS_WITH(train::detector_sgd_options(with("policy=steps\nsteps=10,20\nscales=.1")),
                    doctest::Contains("2 steps but 1 scales"));
  CHECK_THROWS_WITH(train::detector_sgd_options(with("learning_rate=fast")), doctest::Contains("learning_rate"));
  CHECK_THROWS(train::detector_sgd_options(with("batch=6\nsubdivisions=4")));
  CHECK(train::detector_sgd_options(with("batch=8\nsubdivisions=2\nburn_in=10")).burn_in == 10);
}

TEST_CASE("train/detector_trainer: the cfg's augmentation keys set data::Augment, bad ones are errors") {
  auto with = [](const std::string& net, const std::string& yolo) {
    return dk::parse_cfg("[net]\nwidth=16\nheight=16\nchannels=3\n" + net +
                             "\n[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
                             "[yolo]\nmask=0\nanchors=4,4\nclasses=2\nnum=1\njitter=.1\n"
                             "[route]\nlayers=-2\n[convolutional]\nfilters=7\nsize=1\nactivation=linear\n"
                             "[yolo]\nmask=0\nanchors=4,4\nclasses=2\nnum=1\n" + yolo + "\n",
                         "aug.cfg");
  };
  // Silent cfg: the base comes back unchanged (a base unlike the defaults, so a reset would show).
  data::Augment base;
  base.hue = 0.11, base.saturation = 1.7, base.exposure = 1.9, base.jitter = 0.27, base.flip = false;
  const data::Augment same = train::detector_augment(with("", ""), base);
  CHECK(same.hue == 0.11);
  CHECK(same.saturation == 1.7);
  CHECK(same.exposure == 1.9);
  CHECK(same.jitter == 0.27);  // the first [yolo]'s jitter is not Darknet's: only the last one counts
  CHECK(!same.flip);
  const data::Augment a = train::detector_augment(with("hue=.03\nsaturation=1.25\nexposure=2\nflip=1", "jitter=.35"), base);
  CHECK(a.hue == doctest::Approx(0.03));
  CHECK(a.saturation == doctest::Approx(1.25));
  CHECK(a.exposure == doctest::Approx(2.0));
  CHECK(a.jitter == doctest::Approx(0.35));
  CHECK(a.flip);
  CHECK(a.min_scale == base.min_scale);
  CHECK_THROWS_WITH(train::detector_augment(with("hue=.7", "")), doctest::Contains("hue"));
  CHECK_THROWS_WITH(train::detector_augment(with("saturation=0.5", "")), doctest::Contains("aug.cfg"));
  CHECK_THROWS_WITH(train::detector_augment(with("flip=2", "")), doctest::Contains("flip"));
  CHECK_THROWS_WITH(train::detector_augment(with("", "jitter=lots")), doctest::Contains("jitter"));
}

TEST_CASE("train/detector_trainer: loss decreases when overfitting a few synthetic images") {
  Rng rng = testing::test_rng();
  const dk::Config cfg = testing::tiny_detector_cfg(32, 32, 4);
  nn::DarknetTrainNetwork<float> net(cfg);
  net.init_random(rng.next_u64());
  train::DetectorSgdOptions sgd = train::detector_sgd_options(cfg);
  sgd.learning_rate = 0.005;
  train::DetectorTrainer trainer(net, sgd, 1);
  std::vector<float> images;
  std::vector<std::vector<nn::YoloTruth>> truths;
  testing::synthetic_detection_batch(rng, 4, 32, 32, images, truths);
  auto same = [&](std::vector<float>& x, std::vector<std::vector<nn::YoloTruth>>& t) { x = images, t = truths; };
  const double first = trainer.step(same).loss_per_image();
  double last = first;
  for (int i = 0; i < 80; ++i) last = trainer.step(same).loss_per_image();
  INFO("loss per image: first ", first, ", after 81 steps ", last);  // ~99 -> ~9
  CHECK(std::isfinite(last));
  CHECK(last < 0.3 * first);
  CHECK(net.seen == 81 * 4);
}

TEST_CASE("train/detector_trainer: a resumed run reproduces the uninterrupted run bit for bit") {
  const uint64_t data_seed = testing::test_seed();
  const dk::Config cfg = testing::tiny_detector_cfg(16, 16, 4);
  train::DetectorSgdOptions sgd = train::detector_sgd_options(cfg);
  sgd.subdivisions = 2, sgd.burn_in = 3;
  // Mini-batch k is a function of k only (as DetectionLoader's batches are of the batch index).
  struct Source {
    uint64_t seed;
    int64_t next_batch = 0;
    void operator()(std::vector<float>& x, std::vector<std::vector<nn::YoloTruth>>& t) {
      Rng rng(seed, uint64_t(next_batch++));
      testing::synthetic_detection_batch(rng, 2, 16, 16, x, t);
    }
  };
  auto fresh = [&](nn::DarknetTrainNetwork<float>& net) { net.init_random(5); };
  testing::TempDir dir("simad-detector-resume");

  nn::DarknetTrainNetwork<float> straight(cfg);
  fresh(straight);
  train::DetectorTrainer a(straight, sgd, 9);
  Source sa{data_seed};
  for (int i = 0; i < 6; ++i) a.step(std::ref(sa));
  a.save_checkpoint(dir.path / "straight.weights");

  {
    nn::DarknetTrainNetwork<float> first(cfg);
    fresh(first);
    train::DetectorTrainer b(first, sgd, 9);
    Source sb{data_seed};
    for (int i = 0; i < 3; ++i) b.step(std::ref(sb));
    b.save_checkpoint(dir.path / "half.weights");
  }
  nn::DarknetTrainNetwork<float> resumed(cfg);  // fresh parameters: everything comes from the state
  train::DetectorTrainer c(resumed, sgd, 9);
  c.load_checkpoint(train::DetectorTrainer::state_path(dir.path / "half.weights"));
  CHECK(c.iteration() == 3);
  CHECK(c.mini_batches_drawn() == 6);
  Source sc{data_seed, c.mini_batches_drawn()};
  while (c.iteration() < 6) c.step(std::ref(sc));
  c.save_checkpoint(dir.path / "resumed.weights");

  const Tensor<float> p = straight.params().params(), q = resumed.params().params();
  CHECK(std::equal(p.data(), p.data() + p.numel(), q.data()));
  const Tensor<float> s = straight.state().params(), r = resumed.state().params();
  CHECK(std::equal(s.data(), s.data() + s.numel(), r.data()));
  CHECK(resumed.seen == straight.seen);
  auto bytes = [](const std::filesystem::path& f) {
    std::ifstream in(f, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(dir.path / "straight.weights") == bytes(dir.path / "resumed.weights"));
  CHECK(bytes(dir.path / "straight.weights.state") == bytes(dir.path / "resumed.weights.state"));

  // A state written by another run (seed) is refused.
  nn::DarknetTrainNetwork<float> other(cfg);
  train::DetectorTrainer d(other, sgd, 10);
  CHECK_THROWS_WITH(d.load_checkpoint(dir.path / "half.weights.state"), doctest::Contains("same run"));
}

}  // namespace SIMAD_TEST_FILE_ID
