// Tests of include/simad/nn/yolov3_configs.hpp: the built-in YOLOv3 architectures equal the real
// yolov3.cfg / yolov3-tiny.cfg (when ../shared/data has them) and have Darknet's shapes at any
// input size and class count; load_darknet_config() picks a built-in by name or reads a file, and
// its errors say what was wrong.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "simad/io/darknet_cfg.hpp"
#include "simad/nn/yolov3_configs.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;
using io::darknet::Config;
using io::darknet::Dims;
namespace fs = std::filesystem;

namespace {

fs::path shared_darknet() { return fs::path(SIMAD_SHARED_DATA_DIR) / "darknet"; }

}  // namespace

TEST_CASE("nn/yolov3_configs: real yolov3 and yolov3-tiny cfgs equal the built-in architectures") {
  const fs::path dir = shared_darknet();
  if (!fs::exists(dir / "yolov3.cfg") || !fs::exists(dir / "yolov3-tiny.cfg")) {
    MESSAGE("skipped: ", dir.string(), " has no cfgs");
    return;
  }
  const Config v3 = io::darknet::read_cfg(dir / "yolov3.cfg");
  CHECK(v3.layers.size() == 107);
  CHECK(v3.net.width == 608);  // the repository's yolov3.cfg; yolov3-416 is the same at 416
  CHECK(v3.same_architecture(nn::yolov3_config(608, 608, 80)));
  CHECK(v3.layers[83].line > 0);
  CHECK(v3.net.ignored_keys.at("learning_rate") == "0.001");
  const Config tiny = io::darknet::read_cfg(dir / "yolov3-tiny.cfg");
  CHECK(tiny.layers.size() == 24);
  CHECK(tiny.same_architecture(nn::yolov3_tiny_config(416, 416, 80)));
  // The same file at another size equals the built-in at that size.
  Config v3_416 = v3;
  io::darknet::set_input_size(v3_416, 416, 416);
  CHECK(v3_416.same_architecture(nn::yolov3_config(416, 416, 80)));
  CHECK_FALSE(v3_416.same_architecture(nn::yolov3_config(416, 416, 20)));
}

TEST_CASE("nn/yolov3_configs: shapes at 416 and other sizes follow Darknet's rules") {
  const Config v3 = nn::yolov3_config(416, 416, 80);
  CHECK(v3.layers.size() == 107);
  const std::vector<int> yolo = v3.yolo_layers();
  REQUIRE(yolo == std::vector<int>{82, 94, 106});
  CHECK(v3.layers[82].out == Dims{255, 13, 13});
  CHECK(v3.layers[94].out == Dims{255, 26, 26});
  CHECK(v3.layers[106].out == Dims{255, 52, 52});
  CHECK(v3.layers[86].out == Dims{768, 26, 26});   // route -1, 61: 256 upsampled + 512
  CHECK(v3.layers[98].out == Dims{384, 52, 52});   // route -1, 36: 128 + 256
  CHECK(v3.layers[80].out == Dims{1024, 13, 13});  // the hidden map of the 13x13 scale
  const Config tiny = nn::yolov3_tiny_config(416, 416, 80);
  CHECK(tiny.layers.size() == 24);
  CHECK(tiny.layers[11].out == Dims{512, 13, 13});  // maxpool size 2 stride 1 keeps 13x13
  CHECK(tiny.layers[20].out == Dims{384, 26, 26});
  CHECK(tiny.yolo_layers() == std::vector<int>{16, 23});
  // Other sizes and class counts.
  const Config small = nn::yolov3_tiny_config(96, 128, 3);
  CHECK(small.layers[16].out == Dims{3 * 8, 4, 3});
  CHECK(small.layers[23].out == Dims{3 * 8, 8, 6});
  // A size the network cannot take is an error from the shape inference, not a wrong network.
  CHECK_THROWS_AS((void)nn::yolov3_config(0, 416, 80), simad::Error);
}

TEST_CASE("nn/yolov3_configs: load_darknet_config takes a built-in name or a cfg file") {
  const Config v3 = nn::load_darknet_config("builtin:yolov3");
  CHECK(v3.source == "builtin:yolov3");
  CHECK(v3.same_architecture(nn::yolov3_config(416, 416, 80)));
  const Config tiny = nn::load_darknet_config("builtin:yolov3-tiny", 320, 256, 7);
  CHECK(tiny.same_architecture(nn::yolov3_tiny_config(320, 256, 7)));
  // Only the width given: the height stays the built-in default.
  CHECK(nn::load_darknet_config("builtin:yolov3-tiny", 320).same_architecture(nn::yolov3_tiny_config(320, 416, 80)));

  testing::TempDir dir("simad_test_yolov3_configs");
  const fs::path file = dir.path / "tiny.cfg";
  std::ofstream(file) << io::darknet::to_cfg_text(nn::yolov3_tiny_config(416, 416, 5));
  const Config read = nn::load_darknet_config(file.string());
  CHECK(read.source == file.string());
  CHECK(read.same_architecture(nn::yolov3_tiny_config(416, 416, 5)));
  // A size given for a file overrides the file's own.
  CHECK(nn::load_darknet_config(file.string(), 0, 256).same_architecture(nn::yolov3_tiny_config(416, 256, 5)));

  std::string what = error_of([] { (void)nn::load_darknet_config("builtin:yolov4"); });
  CHECK_MESSAGE(what.find("unknown built-in cfg 'yolov4'") != std::string::npos, what);
  what = error_of([&] { (void)nn::load_darknet_config(file.string(), 0, 0, 3); });
  CHECK_MESSAGE(what.find("built-in cfgs only") != std::string::npos, what);
  what = error_of([&] { (void)nn::load_darknet_config((dir.path / "missing.cfg").string()); });
  CHECK_MESSAGE(what.find("missing.cfg") != std::string::npos, what);
}

}  // namespace SIMAD_TEST_FILE_ID
