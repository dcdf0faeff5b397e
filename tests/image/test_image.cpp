// Tests of include/simad/image/: decoding (PNG, BMP, JPEG, GIF; grey and RGBA to RGB), limits and
// corrupt files, Darknet's letterbox and bilinear resize (exact pixels and an independent double
// reference), stretching, batches, and writing PNG/JPEG.
#include <stb_image_write.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "simad/image/decode.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/image/write.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using namespace simad::image;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

void append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

// Random interleaved pixels (h, w, c).
Bytes random_pixels(Rng& rng, int w, int h, int c) {
  Bytes px(size_t(w) * size_t(h) * size_t(c));
  for (auto& v : px) v = uint8_t(rng.next_below(256));
  return px;
}

Bytes encode_png(const Bytes& px, int w, int h, int c) {
  Bytes out;
  REQUIRE(stbi_write_png_to_func(append, &out, w, h, c, px.data(), w * c) != 0);
  return out;
}
Bytes encode_bmp(const Bytes& px, int w, int h, int c) {
  Bytes out;
  REQUIRE(stbi_write_bmp_to_func(append, &out, w, h, c, px.data()) != 0);
  return out;
}
Bytes encode_jpeg(const Bytes& px, int w, int h, int c, int quality) {
  Bytes out;
  REQUIRE(stbi_write_jpg_to_func(append, &out, w, h, c, px.data(), quality) != 0);
  return out;
}

// Expected RGB float (CHW) of interleaved pixels with c channels: grey replicated, alpha dropped.
std::vector<float> expected_rgb(const Bytes& px, int w, int h, int c) {
  const size_t plane = size_t(w) * size_t(h);
  std::vector<float> out(3 * plane);
  for (size_t i = 0; i < plane; ++i)
    for (size_t k = 0; k < 3; ++k) {
      const size_t src = (c <= 2) ? 0 : k;  // grey (+alpha): channel 0 for R, G and B
      out[k * plane + i] = float(px[i * size_t(c) + src]) / 255.0f;
    }
  return out;
}

bool message_has(const simad::Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("image/decode: PNG and BMP decode to the exact RGB values for 1 2 3 and 4 channels") {
  Rng rng = testing::test_rng();
  for (int c : {1, 2, 3, 4}) {
    const int w = 7, h = 5;  // odd sizes: row padding in BMP
    const Bytes px = random_pixels(rng, w, h, c);
    const Image png = decode(encode_png(px, w, h, c), "test.png");
    REQUIRE(png.width == w);
    REQUIRE(png.height == h);
    REQUIRE(png.channels == 3);
    testing::check_close(png.data, expected_rgb(px, w, h, c), 0.0, 0.0, "png channels " + std::to_string(c));
    if (c == 3 || c == 4) {  // stb writes BMP as RGB (3) or RGBA (4)
      const Image bmp = decode(encode_bmp(px, w, h, c), "test.bmp");
      testing::check_close(bmp.data, expected_rgb(px, w, h, c), 0.0, 0.0, "bmp channels " + std::to_string(c));
    }
  }
}

TEST_CASE("image/decode: JPEG decodes close to its source pixels") {
  // A smooth gradient: JPEG at quality 100 keeps it within a few levels.
  const int w = 16, h = 8;
  Bytes px(size_t(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < 3; ++k) px[size_t((y * w + x) * 3 + k)] = uint8_t(40 + 8 * x + 5 * y + 20 * k);
  const Image im = decode(encode_jpeg(px, w, h, 3, 100), "test.jpg");
  REQUIRE(im.width == w);
  REQUIRE(im.height == h);
  testing::check_close(im.data, expected_rgb(px, w, h, 3), 6.0 / 255.0, 0.0, "jpeg q100");
}

TEST_CASE("image/decode: GIF first frame uses its palette") {
  // A 1x1 GIF89a with a 2-entry global palette (5, 4, 4), (0, 0, 0); the pixel is index 0.
  const Bytes gif{0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x05, 0x04, 0x04, 0x00, 0x00,
                  0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};
  const Image im = decode(gif, "pixel.gif");
  REQUIRE(im.width == 1);
  REQUIRE(im.height == 1);
  for (int k = 0; k < 3; ++k) CHECK(im.at(0, 0, k) == float(gif[size_t(13 + k)]) / 255.0f);
}

TEST_CASE("image/decode: corrupt empty and oversized images are errors naming the file") {
  Rng rng = testing::test_rng();
  const Bytes px = random_pixels(rng, 32, 32, 3);
  const Bytes png = encode_png(px, 32, 32, 3);

  auto expect_error = [](const Bytes& bytes, const std::string& source, const std::string& part,
                         const DecodeLimits& limits = {}) {
    try {
      (void)decode(bytes, source, limits);
      FAIL("no error for ", source);
    } catch (const simad::Error& e) {
      CHECK_MESSAGE(message_has(e, source), e.what());
      CHECK_MESSAGE(message_has(e, part), e.what());
    }
  };
  expect_error({}, "empty.png", "empty file");
  expect_error({'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'}, "text.png", "not a readable");
  expect_error(Bytes(png.begin(), png.begin() + long(png.size() / 2)), "truncated.png", "corrupt");
  expect_error(png, "limits.png", "exceeds the limits", DecodeLimits{16, 1000, 1 << 20});
  expect_error(png, "pixels.png", "exceeds the limits", DecodeLimits{1000, 1000, 1000});

  // A BMP header that claims 100000 x 100000 pixels and carries none: rejected before decoding.
  Bytes bmp(54, 0);
  auto put32 = [&](size_t at, uint32_t v) {
    for (size_t i = 0; i < 4; ++i) bmp[at + i] = uint8_t(v >> (8 * i));
  };
  bmp[0] = 'B', bmp[1] = 'M';
  put32(2, 54), put32(10, 54), put32(14, 40), put32(18, 100000), put32(22, 100000);
  bmp[26] = 1, bmp[28] = 24;
  expect_error(bmp, "huge.bmp", "exceeds the limits");

  // Files: the path is named.
  testing::TempDir dir("simad_test_image");
  CHECK_THROWS_AS(load(dir.path / "missing.jpg"), simad::Error);
}

TEST_CASE("image/letterbox: geometry follows Darknet's integer rule") {
  // Wide: 640x480 into 416x416: new 416x312, centred at y = 52.
  LetterboxGeometry g = letterbox_geometry(640, 480, 416, 416);
  CHECK(g.new_w == 416);
  CHECK(g.new_h == 480 * 416 / 640);
  CHECK(g.dx == 0);
  CHECK(g.dy == (416 - g.new_h) / 2);
  // Tall: 100x300: new_w = 100 * 416 / 300 = 138 (truncated), dx = 139.
  g = letterbox_geometry(100, 300, 416, 416);
  CHECK(g.new_h == 416);
  CHECK(g.new_w == 138);
  CHECK(g.dx == 139);
  CHECK(g.dy == 0);
  // Stretch: the whole input, no offset.
  g = letterbox_geometry(100, 300, 416, 320, ResizeMode::stretch);
  CHECK(g.new_w == 416);
  CHECK(g.new_h == 320);
  CHECK(g.dx == 0);
  CHECK(g.dy == 0);
  CHECK_THROWS_AS(letterbox_geometry(0, 10, 416, 416), simad::Error);
}

TEST_CASE("image/letterbox: exact pixels of a hand-computed resize and the 0.5 border") {
  // One row [0, 1] widened to 3 columns: Darknet samples x = 0, 0.5 and copies the last column.
  Image row(2, 1, 1);
  row.at(0, 0, 0) = 0.0f, row.at(1, 0, 0) = 1.0f;
  const Image wide = resize_bilinear(row, 3, 1);
  CHECK(wide.at(0, 0, 0) == 0.0f);
  CHECK(wide.at(1, 0, 0) == 0.5f);
  CHECK(wide.at(2, 0, 0) == 1.0f);
  // A column [0, 1] made 3 rows tall: 0, 0.5, 1.
  Image col(1, 2, 1);
  col.at(0, 0, 0) = 0.0f, col.at(0, 1, 0) = 1.0f;
  const Image tall = resize_bilinear(col, 1, 3);
  CHECK(tall.at(0, 0, 0) == 0.0f);
  CHECK(tall.at(0, 1, 0) == 0.5f);
  CHECK(tall.at(0, 2, 0) == 1.0f);

  // 4x2 into 8x8: resized to 8x4 at dy = 2; rows 0, 1, 6, 7 are exactly 0.5.
  Image im(4, 2, 3);
  for (size_t i = 0; i < im.data.size(); ++i) im.data[i] = float(i % 7) / 8.0f;
  LetterboxGeometry g;
  const Image boxed = letterbox(im, 8, 8, ResizeMode::letterbox, &g);
  REQUIRE(g.new_w == 8);
  REQUIRE(g.new_h == 4);
  REQUIRE(g.dy == 2);
  const Image resized = resize_bilinear(im, 8, 4);
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const float want = (y < 2 || y >= 6) ? 0.5f : resized.at(x, y - 2, k);
        CHECK(boxed.at(x, y, k) == want);
      }
}

TEST_CASE("image/letterbox: bilinear resize matches a double reference on random images") {
  Rng rng = testing::test_rng();
  // Reference: the value at source position (c * (W-1)/(w-1), r * (H-1)/(h-1)), bilinear between
  // the four neighbours, the last column/row taken as is.
  auto reference = [](const Image& im, int w, int h) {
    std::vector<double> out(size_t(w) * size_t(h) * size_t(im.channels));
    for (int k = 0; k < im.channels; ++k)
      for (int r = 0; r < h; ++r)
        for (int c = 0; c < w; ++c) {
          const double sx = (c == w - 1) ? im.width - 1 : c * double(im.width - 1) / (w - 1);
          const double sy = (r == h - 1) ? im.height - 1 : r * double(im.height - 1) / (h - 1);
          const int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
          const int x1 = std::min(x0 + 1, im.width - 1), y1 = std::min(y0 + 1, im.height - 1);
          const double fx = sx - x0, fy = sy - y0;
          const double top = (1 - fx) * im.at(x0, y0, k) + fx * im.at(x1, y0, k);
          const double bot = (1 - fx) * im.at(x0, y1, k) + fx * im.at(x1, y1, k);
          out[size_t((k * h + r) * w + c)] = (1 - fy) * top + fy * bot;
        }
    return out;
  };
  for (auto [W, H, w, h] : {std::array{13, 7, 5, 9}, std::array{5, 9, 31, 17}, std::array{64, 48, 41, 31}}) {
    Image im(W, H, 3);
    rng.fill_uniform(std::span<float>(im.data), 0.0, 1.0);
    const Image out = resize_bilinear(im, w, h);
    testing::check_close(out.data, reference(im, w, h), 1e-5, 1e-5,
                         "resize " + std::to_string(W) + "x" + std::to_string(H) + " to " + std::to_string(w) + "x" +
                             std::to_string(h));
  }
}

TEST_CASE("image/letterbox: stretch and batches") {
  Rng rng = testing::test_rng();
  Image a(20, 10, 3), b(9, 30, 3);
  rng.fill_uniform(std::span<float>(a.data), 0.0, 1.0);
  rng.fill_uniform(std::span<float>(b.data), 0.0, 1.0);
  const Image stretched = letterbox(a, 16, 16, ResizeMode::stretch);
  CHECK(stretched.data == resize_bilinear(a, 16, 16).data);

  std::vector<LetterboxGeometry> geoms;
  const std::vector<Image> images{a, b};
  const Tensor<float> batch = letterbox_batch(images, 16, 12, ResizeMode::letterbox, &geoms);
  REQUIRE(batch.shape() == Shape{2, 3, 12, 16});
  REQUIRE(geoms.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const Image one = letterbox(images[i], 16, 12);
    const std::vector<float> got(batch.data() + i * one.data.size(), batch.data() + (i + 1) * one.data.size());
    CHECK(got == one.data);
  }
  CHECK(geoms[1].new_h == 12);
  CHECK(geoms[1].new_w == 9 * 12 / 30);
}

TEST_CASE("image/write: PNG round trips exactly and JPEG closely") {
  Rng rng = testing::test_rng();
  testing::TempDir dir("simad_test_image");
  Image im(11, 6, 3);
  for (auto& v : im.data) v = float(rng.next_below(256)) / 255.0f;
  write(im, dir.path / "out.png");
  const Image png = load(dir.path / "out.png");
  REQUIRE(png.width == 11);
  testing::check_close(png.data, im.data, 0.0, 0.0, "png round trip");
  Image smooth(16, 16, 3);
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) smooth.at(x, y, k) = float(x + y + 10 * k) / 64.0f;
  write(smooth, dir.path / "out.jpg");
  testing::check_close(load(dir.path / "out.jpg").data, smooth.data, 8.0 / 255.0, 0.0, "jpeg round trip");
  CHECK_THROWS_AS(write(im, dir.path / "out.tiff"), simad::Error);
  // draw_box writes the outline only.
  Image canvas(10, 8, 3, 0.0f);
  const float red[3] = {1, 0, 0};
  draw_box(canvas, 2, 1, 7, 6, red, 1);
  CHECK(canvas.at(2, 3, 0) == 1.0f);
  CHECK(canvas.at(7, 6, 0) == 1.0f);
  CHECK(canvas.at(4, 3, 0) == 0.0f);
  CHECK(canvas.at(2, 3, 1) == 0.0f);
}

TEST_CASE("image/encode: PNG bytes of 1-4 channel pixels decode exactly, JPEG is deterministic, bad sizes throw") {
  Rng rng = testing::test_rng();
  for (int channels = 1; channels <= 4; ++channels) {
    CAPTURE(channels);
    const int w = 13, h = 7;
    std::vector<uint8_t> px(size_t(w * h * channels));
    for (auto& v : px) v = uint8_t(rng.next_below(256));
    const std::vector<uint8_t> bytes = encode(px.data(), w, h, channels, ImageFormat::png);
    const Image im = decode(std::span<const uint8_t>(bytes));
    REQUIRE(im.width == w);
    REQUIRE(im.height == h);
    testing::check_close(im.data, expected_rgb(px, w, h, channels), 0.0, 0.0, "encode png");
  }
  std::vector<uint8_t> rgb(size_t(20 * 10 * 3));
  for (auto& v : rgb) v = uint8_t(rng.next_below(256));
  CHECK(encode(rgb.data(), 20, 10, 3, ImageFormat::jpeg, 80) == encode(rgb.data(), 20, 10, 3, ImageFormat::jpeg, 80));
  CHECK_THROWS_AS(encode(rgb.data(), 0, 10, 3, ImageFormat::png), simad::Error);
  CHECK_THROWS_AS(encode(rgb.data(), 20, 10, 5, ImageFormat::png), simad::Error);
  CHECK_THROWS_AS(encode(rgb.data(), 20, 10, 3, ImageFormat::jpeg, 0), simad::Error);
  // write goes through a temporary renamed over the target: only the target is left.
  testing::TempDir dir("simad_test_image");
  Image im(5, 4, 3, 0.25f);
  write(im, dir.path / "a.png");
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);
  CHECK_THROWS_AS(write(im, dir.path / "missing-dir" / "a.png"), simad::Error);
}

TEST_CASE("image/decode: the sample photos decode") {
  const fs::path dir = fs::path(SIMAD_SHARED_DATA_DIR) / "darknet";
  if (!fs::exists(dir / "dog.jpg")) {
    MESSAGE("skipped: ", (dir / "dog.jpg").string(), " is absent");
    return;
  }
  const Image dog = load(dir / "dog.jpg");
  CHECK(dog.width == 768);
  CHECK(dog.height == 576);
  CHECK(dog.channels == 3);
  float lo = 1, hi = 0;
  for (float v : dog.data) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= 0.0f);
  CHECK(hi <= 1.0f);
  CHECK(hi > lo);
}

}  // namespace SIMAD_TEST_FILE_ID
