// Tests of include/simad/io/darknet_cfg.hpp and darknet_weights.hpp: shapes follow Darknet's rules
// (maxpool padding, route, upsample); the cfg writer round-trips; malformed cfgs are errors with
// line numbers; weights files round-trip bit for bit, the `seen` width follows the version, and
// short or long files are errors naming the layer and the byte counts. The YOLOv3 architectures come
// from nn/yolov3_configs.hpp (tested in tests/nn/test_yolov3_configs.cpp).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "simad/io/darknet.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;
using namespace simad::io::darknet;
namespace fs = std::filesystem;

namespace {

void check_error(const std::string& cfg_text, const std::string& part) {
  const std::string what = error_of([&] { (void)parse_cfg(cfg_text, "bad.cfg"); });
  CHECK_MESSAGE(what.find(part) != std::string::npos, "expected '", part, "' in: ", what);
  CHECK_MESSAGE(what.find("bad.cfg") != std::string::npos, what);
}

// Small enough for fast weights tests under ASan: batch-normalised and plain convolutions, 1x1
// and 3x3, a route, and a [yolo] head (yolov3-tiny's own weights are 35 MB).
Config small_cfg(int first_filters = 16) {
  return parse_cfg(
      "[net]\nwidth=16\nheight=16\nchannels=3\n"
      "[convolutional]\nbatch_normalize=1\nfilters=" + std::to_string(first_filters) + "\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
      "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=1\nstride=1\npad=1\nactivation=leaky\n"
      "[route]\nlayers=-1,-2\n"
      "[convolutional]\nfilters=30\nsize=1\nstride=1\nactivation=linear\n"
      "[yolo]\nmask=0,1,2\nanchors=1,2,3,4,5,6\nclasses=5\nnum=3\n",
      "small.cfg");
}

}  // namespace

TEST_CASE("io/darknet: maxpool shapes follow Darknet's padding rule") {
  // A maxpool with explicit padding 0 and odd input: out = (13 + 0 - 2) / 2 + 1 = 6.
  const Config pool = parse_cfg("[net]\nwidth=13\nheight=13\nchannels=2\n[maxpool]\nsize=2\nstride=2\npadding=0\n");
  CHECK(pool.layers[0].out == Dims{2, 6, 6});
  const Config pool_default = parse_cfg("[net]\nwidth=13\nheight=13\nchannels=2\n[max]\nsize=2\nstride=2\n");
  CHECK(pool_default.layers[0].out == Dims{2, 7, 7});  // default padding = size - 1
}

TEST_CASE("io/darknet: cfg text round trips through the parser") {
  for (const Config& c : {nn::yolov3_config(320, 256, 7), nn::yolov3_tiny_config(416, 416, 80)}) {
    const Config back = parse_cfg(to_cfg_text(c), "round-trip.cfg");
    CHECK(back.same_architecture(c));
  }
  // Darknet's syntax: spaces anywhere, comments, aliases, negative and absolute route indices.
  const Config c = parse_cfg(
      "# comment\n[network]\n width = 8\r\nheight=8\nchannels=3\n; other comment\n"
      "[conv]\nfilters=4\nsize=3\npad=1\nactivation=leaky\n"
      "[convolutional]\nfilters=4\nsize=1\nactivation=linear\n"
      "[shortcut]\nfrom=-2\n"
      "[route]\nlayers = -1, 0\n"
      "[upsample]\nstride=2\n",
      "syntax.cfg");
  REQUIRE(c.layers.size() == 5);
  CHECK(c.layers[0].as<Convolutional>()->padding == 1);
  CHECK(c.layers[1].as<Convolutional>()->padding == 0);
  CHECK(c.layers[2].as<Shortcut>()->from == 0);
  CHECK(c.layers[3].as<Route>()->layers == std::vector<int>{2, 0});
  CHECK(c.layers[3].out == Dims{8, 8, 8});
  CHECK(c.layers[4].out == Dims{8, 16, 16});
  // Darknet's default activation for a convolution is logistic.
  CHECK(parse_cfg("[net]\nwidth=4\nheight=4\nchannels=1\n[convolutional]\n").layers[0].as<Convolutional>()->activation ==
        Activation::logistic);
}

TEST_CASE("io/darknet: malformed cfgs are errors naming the file and line") {
  const std::string net = "[net]\nwidth=8\nheight=8\nchannels=3\n";
  check_error("", "no sections");
  check_error("[convolutional]\nfilters=2\n", "first section must be [net]");
  check_error(net + "[convolutional]\nfilter=2\n", "line 6");
  check_error(net + "[convolutional]\nfilter=2\n", "unknown key 'filter'");
  check_error(net + "[deconvolutional]\n", "line 5");
  check_error(net + "[deconvolutional]\n", "unknown or unsupported section");
  check_error(net + "[convolutional]\nfilters=2x\n", "is not an integer");
  check_error(net + "[convolutional]\nfilters=2\nfilters=3\n", "repeated");
  check_error(net + "[convolutional]\nactivation=mish\n", "not supported");
  check_error(net + "[convolutional]\ngroups=2\n", "groups");
  check_error(net + "[convolutional]\nsize=9\n", "does not fit");
  check_error(net + "[route]\nlayers=-1\n", "not an earlier layer");
  check_error(net + "[convolutional]\n[route]\nlayers=5\n", "not an earlier layer");
  check_error(net + "[convolutional]\n[shortcut]\nfrom=-1\nactivation=leaky\n[shortcut]\n", "needs from");
  check_error(net + "[convolutional]\nfilters=4\n[maxpool]\nsize=2\nstride=2\n[route]\nlayers=0,1\n", "different sizes");
  check_error(net + "[convolutional]\nfilters=4\n[shortcut]\nfrom=-2\n", "not an earlier layer");
  check_error(net + "[convolutional]\nfilters=20\n[yolo]\nmask=0,1\nanchors=1,2,3,4\nnum=2\nclasses=4\n",
              "expects 18 input channels");
  check_error(net + "[convolutional]\nfilters=9\n[yolo]\nmask=3\nanchors=1,2\nnum=1\nclasses=4\n", "mask entry 3");
  check_error(net + "[convolutional]\nfilters=9\n[yolo]\nmask=0\nanchors=1,2,3\nnum=1\nclasses=4\n", "anchor numbers");
  check_error(net + "[convolutional]\nfilters=9\n[yolo]\nmask=0\nanchors=1,x\nnum=1\nclasses=4\n", "not a number");
  check_error("[net]\nwidth=0\nheight=8\nchannels=3\n", "[net] needs");
  check_error(net + "filters\n", "expected key=value");
  check_error(net + "[convolutional\n", "malformed section header");
  check_error("width=3\n[net]\n", "before any [section]");
}

TEST_CASE("io/darknet: weights file sizes match Darknet's for yolov3 and yolov3-tiny at 416") {
  // Darknet's own count (FACTS.md 2): 62,001,757 and 8,858,734 floats after a 20-byte header.
  CHECK(expected_file_bytes(nn::yolov3_config(416, 416, 80)) == 20 + 4 * int64_t(62001757));
  CHECK(expected_file_bytes(nn::yolov3_tiny_config(416, 416, 80)) == 20 + 4 * int64_t(8858734));
  // The input size does not change the parameters.
  CHECK(expected_file_bytes(nn::yolov3_tiny_config(96, 96, 80)) == expected_file_bytes(nn::yolov3_tiny_config(416, 416, 80)));
}

TEST_CASE("io/darknet: weights round trip bit for bit and seen follows the version") {
  const Config cfg = small_cfg();
  const Weights w = random_weights(cfg, testing::test_seed());
  std::vector<uint8_t> bytes = serialize_weights(w);
  REQUIRE(int64_t(bytes.size()) == expected_file_bytes(cfg));
  // Layout by hand: header 0, 2, 0, seen (u64), then layer 0's biases.
  int32_t v[3];
  std::memcpy(v, bytes.data(), 12);
  CHECK(v[0] == 0);
  CHECK(v[1] == 2);
  float first_bias;
  std::memcpy(&first_bias, bytes.data() + 20, 4);
  CHECK(first_bias == w.convs[0].biases[0]);
  // First layer (BN): biases, scales, mean, variance, then weights.
  float first_weight;
  std::memcpy(&first_weight, bytes.data() + 20 + 4 * 4 * size_t(w.convs[0].filters), 4);
  CHECK(first_weight == w.convs[0].weights[0]);

  const Weights back = parse_weights(bytes, cfg, "round-trip.weights");
  REQUIRE(back.convs.size() == w.convs.size());
  CHECK(serialize_weights(back) == bytes);
  for (size_t i = 0; i < w.convs.size(); ++i) {
    CHECK(back.convs[i].weights == w.convs[i].weights);
    CHECK(back.convs[i].rolling_variance == w.convs[i].rolling_variance);
  }

  // Version 0.1: `seen` is 4 bytes (16-byte header); 1.0 (10 >= 2) and 0.2: 8 bytes.
  Weights old = w;
  old.minor = 1;
  old.seen = 12345;
  const std::vector<uint8_t> old_bytes = serialize_weights(old);
  CHECK(old_bytes.size() == bytes.size() - 4);
  const Weights old_back = parse_weights(old_bytes, cfg);
  CHECK(old_back.seen == 12345);
  CHECK(old_back.header_bytes() == 16);
  Weights v10 = w;
  v10.major = 1, v10.minor = 0, v10.seen = uint64_t(1) << 40;
  CHECK(parse_weights(serialize_weights(v10), cfg).seen == (uint64_t(1) << 40));

  // Through a file.
  const fs::path path = fs::temp_directory_path() / ("simad_test_darknet_" + std::to_string(::getpid()) + ".weights");
  write_weights(path, w);
  CHECK(serialize_weights(read_weights(path, cfg)) == bytes);
  fs::remove(path);
}

TEST_CASE("io/darknet: short and long weights files are errors naming the layer and byte counts") {
  const Config cfg = small_cfg();
  const std::vector<uint8_t> bytes = serialize_weights(random_weights(cfg, 7));
  const std::string total = std::to_string(bytes.size());

  // Cut inside layer 0's scales: 20 header bytes + 16 biases + 3 floats of scales.
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + 20 + 16 * 4 + 12);
  std::string what = error_of([&] { (void)parse_weights(cut, cfg, "cut.weights"); });
  CHECK_MESSAGE(what.find("cut.weights") != std::string::npos, what);
  CHECK_MESSAGE(what.find("layer 0 (convolutional, scales)") != std::string::npos, what);
  CHECK_MESSAGE(what.find("expected " + total) != std::string::npos, what);
  CHECK_MESSAGE(what.find("found " + std::to_string(cut.size())) != std::string::npos, what);

  // Missing the last 4 bytes: the last conv (layer 3) is short.
  cut.assign(bytes.begin(), bytes.end() - 4);
  what = error_of([&] { (void)parse_weights(cut, cfg, "short.weights"); });
  CHECK_MESSAGE(what.find("layer 3 (convolutional, weights)") != std::string::npos, what);

  std::vector<uint8_t> longer = bytes;
  longer.resize(bytes.size() + 8, 0);
  what = error_of([&] { (void)parse_weights(longer, cfg, "long.weights"); });
  CHECK_MESSAGE(what.find("8 bytes after the last layer") != std::string::npos, what);
  CHECK_MESSAGE(what.find("found " + std::to_string(longer.size())) != std::string::npos, what);

  CHECK_THROWS_AS(parse_weights(std::vector<uint8_t>(10, 0), cfg), simad::Error);
  CHECK_THROWS_AS(parse_weights(std::vector<uint8_t>(18, 0), cfg), simad::Error);  // 0.0 has a 16-byte header
  // The weights of another cfg: an error, never a silent misread.
  CHECK_THROWS_AS(parse_weights(bytes, small_cfg(17)), simad::Error);
  CHECK_THROWS_AS(parse_weights(serialize_weights(random_weights(small_cfg(15), 1)), cfg), simad::Error);
}

}  // namespace SIMAD_TEST_FILE_ID
