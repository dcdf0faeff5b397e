// simad/io/darknet_weights.hpp: Darknet .weights files, read and written exactly as pjreddie
// Darknet does (src/parser.c load_weights_upto / save_weights_upto).
//
// Layout (little-endian): int32 major, minor, revision; then `seen` (images trained on), a uint64
// when major * 10 + minor >= 2 and both are < 1000, else an int32 (so yolov3.weights, version
// 0.2.0, has a 20-byte header). Then, for each [convolutional] layer in cfg order, float32:
//   biases[filters]; if batch_normalize: scales[filters], rolling_mean[filters],
//   rolling_variance[filters]; then weights[filters * in_channels * size * size] (OIHW).
// Other layers have no parameters. The file must end exactly after the last layer: a short file
// is an error naming the layer and the expected and found byte counts, and so is trailing data.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/io/darknet_cfg.hpp"

namespace simad::io::darknet {

static_assert(sizeof(float) == 4, "Darknet weights are float32");

// The stored parameters of one convolutional layer (before batch-norm folding).
struct ConvWeights {
  int layer = 0;  // index in Config::layers
  int filters = 0, channels = 0, size = 0;
  bool batch_normalize = false;
  std::vector<float> biases;                          // (filters): beta when batch-normalised
  std::vector<float> scales, rolling_mean, rolling_variance;  // (filters) each, when batch-normalised
  std::vector<float> weights;                         // (filters, channels, size, size)

  int64_t weight_count() const { return int64_t(filters) * channels * size * size; }
  int64_t float_count() const { return int64_t(filters) * (batch_normalize ? 4 : 1) + weight_count(); }
};

struct Weights {
  int32_t major = 0, minor = 2, revision = 0;
  uint64_t seen = 0;
  std::vector<ConvWeights> convs;  // one per [convolutional] layer, in cfg order

  // Darknet's rule (major * 10 + minor >= 2), in 64 bits: a hostile header must not overflow it.
  bool wide_seen() const { return int64_t(major) * 10 + minor >= 2 && major < 1000 && minor < 1000; }
  int64_t header_bytes() const { return wide_seen() ? 20 : 16; }
};

// The parameter tensors every convolution of `cfg` needs, sized but empty of values (zeros).
inline std::vector<ConvWeights> conv_layout(const Config& cfg) {
  std::vector<ConvWeights> out;
  for (size_t i = 0; i < cfg.layers.size(); ++i)
    if (const auto* c = cfg.layers[i].as<Convolutional>()) {
      ConvWeights w;
      w.layer = int(i);
      w.filters = c->filters;
      w.channels = cfg.layers[i].in.c;
      w.size = c->size;
      w.batch_normalize = c->batch_normalize;
      const size_t n = size_t(w.filters);
      w.biases.assign(n, 0.0f);
      if (w.batch_normalize) {
        w.scales.assign(n, 1.0f);
        w.rolling_mean.assign(n, 0.0f);
        w.rolling_variance.assign(n, 1.0f);
      }
      w.weights.assign(size_t(w.weight_count()), 0.0f);
      out.push_back(std::move(w));
    }
  return out;
}

// Bytes a weights file for `cfg` has with the given header.
inline int64_t expected_file_bytes(const Config& cfg, const Weights& header = {}) {
  int64_t floats = 0;  // counted, not allocated: yolov3 has 62 million
  for (const Layer& l : cfg.layers)
    if (const auto* c = l.as<Convolutional>())
      floats += int64_t(c->filters) * ((c->batch_normalize ? 4 : 1) + int64_t(l.in.c) * c->size * c->size);
  return header.header_bytes() + 4 * floats;
}

namespace detail {
inline bool little_endian_host() {
  const uint32_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}
}  // namespace detail

// Reads a weights image (whole file in memory) for `cfg`. `source` names it in errors.
inline Weights parse_weights(std::span<const uint8_t> file, const Config& cfg, const std::string& source = "<memory>") {
  SIMAD_CHECK(detail::little_endian_host(), "darknet weights: big-endian hosts are not supported");
  Weights w;
  auto bad = [&](auto&&... parts) { fail("darknet weights '", source, "': ", parts...); };
  if (file.size() < 12) bad("file is ", file.size(), " bytes, shorter than the 12-byte version header");
  std::memcpy(&w.major, file.data(), 4);
  std::memcpy(&w.minor, file.data() + 4, 4);
  std::memcpy(&w.revision, file.data() + 8, 4);
  size_t pos = 12;
  if (w.wide_seen()) {
    if (file.size() < 20) bad("version ", w.major, ".", w.minor, " needs a 20-byte header, file has ", file.size(), " bytes");
    std::memcpy(&w.seen, file.data() + 12, 8);
    pos = 20;
  } else {
    if (file.size() < 16) bad("version ", w.major, ".", w.minor, " needs a 16-byte header, file has ", file.size(), " bytes");
    int32_t seen32 = 0;
    std::memcpy(&seen32, file.data() + 12, 4);
    w.seen = uint64_t(uint32_t(seen32));
    pos = 16;
  }
  const uint64_t total = uint64_t(expected_file_bytes(cfg, w));
  w.convs = conv_layout(cfg);
  auto take = [&](std::vector<float>& v, const ConvWeights& c, const char* what) {
    const size_t bytes = v.size() * 4;
    if (file.size() - pos < bytes)
      bad("file ends inside layer ", c.layer, " (convolutional, ", what, "): needs ", bytes, " bytes at offset ", pos,
          ", only ", file.size() - pos, " left; expected ", total, " bytes in all, found ", file.size());
    if (bytes) std::memcpy(v.data(), file.data() + pos, bytes);
    pos += bytes;
  };
  for (ConvWeights& c : w.convs) {
    take(c.biases, c, "biases");
    if (c.batch_normalize) {
      take(c.scales, c, "scales");
      take(c.rolling_mean, c, "rolling_mean");
      take(c.rolling_variance, c, "rolling_variance");
    }
    take(c.weights, c, "weights");
  }
  if (pos != file.size())
    bad(file.size() - pos, " bytes after the last layer: expected ", total, " bytes for this cfg, found ", file.size(),
        " (wrong cfg for these weights?)");
  return w;
}

inline Weights read_weights(const std::filesystem::path& path, const Config& cfg) {
  std::ifstream in(path, std::ios::binary);
  SIMAD_CHECK(in, "darknet weights: cannot open '", path.string(), "'");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  SIMAD_CHECK(size >= 0, "darknet weights: cannot read the size of '", path.string(), "'");
  // A file far larger than the cfg needs is rejected before reading it into memory.
  const int64_t expected = expected_file_bytes(cfg);
  SIMAD_CHECK(int64_t(size) <= expected + 64, "darknet weights '", path.string(), "': ", int64_t(size),
              " bytes, but the cfg needs ", expected, " (wrong cfg for these weights?)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size));
  SIMAD_CHECK(in || size == 0, "darknet weights: short read of '", path.string(), "'");
  return parse_weights(bytes, cfg, path.string());
}

// The file image of `w` (its header version decides the width of `seen`).
inline std::vector<uint8_t> serialize_weights(const Weights& w) {
  SIMAD_CHECK(detail::little_endian_host(), "darknet weights: big-endian hosts are not supported");
  std::vector<uint8_t> out;
  auto put = [&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  put(&w.major, 4);
  put(&w.minor, 4);
  put(&w.revision, 4);
  if (w.wide_seen()) put(&w.seen, 8);
  else {
    const auto seen32 = uint32_t(w.seen);
    put(&seen32, 4);
  }
  for (const ConvWeights& c : w.convs) {
    const auto n = size_t(c.filters);
    SIMAD_CHECK(c.biases.size() == n && c.weights.size() == size_t(c.weight_count()) &&
                    (!c.batch_normalize ||
                     (c.scales.size() == n && c.rolling_mean.size() == n && c.rolling_variance.size() == n)),
                "darknet weights: layer ", c.layer, " has parameter vectors of the wrong size");
    put(c.biases.data(), n * 4);
    if (c.batch_normalize) {
      put(c.scales.data(), n * 4);
      put(c.rolling_mean.data(), n * 4);
      put(c.rolling_variance.data(), n * 4);
    }
    put(c.weights.data(), c.weights.size() * 4);
  }
  return out;
}

inline void write_weights(const std::filesystem::path& path, const Weights& w) {
  const std::vector<uint8_t> bytes = serialize_weights(w);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SIMAD_CHECK(out, "darknet weights: cannot create '", tmp.string(), "'");
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    SIMAD_CHECK(out.good(), "darknet weights: write to '", tmp.string(), "' failed");
  }
  std::filesystem::rename(tmp, path);  // never leave a half-written weights file under the real name
}

// Random parameters for `cfg`, for tests and demos (no pretrained weights can be downloaded here).
// Convolution weights are uniform with variance 2 / fan_in (He), batch-norm statistics near the
// identity, so activations stay finite through yolov3's 75 convolutions. The prediction layers (no
// batch norm) get an objectness bias of -1.5 (logistic 0.18) and weights that move the logits by
// about +-1 from cell to cell: a random detector finds boxes on every photo (from a few dozen to a
// few hundred per photo at threshold 0.3, depending on the seed), not every anchor of every cell.
inline Weights random_weights(const Config& cfg, uint64_t seed) {
  Weights w;
  w.major = 0, w.minor = 2, w.revision = 0, w.seen = 0;
  w.convs = conv_layout(cfg);
  Rng rng(seed);
  for (ConvWeights& c : w.convs) {
    const double fan_in = double(c.channels) * c.size * c.size;
    const double a = std::sqrt(6.0 / fan_in);  // uniform(-a, a) has variance 2 / fan_in
    const Layer* next =
        size_t(c.layer + 1) < cfg.layers.size() ? &cfg.layers[size_t(c.layer + 1)] : nullptr;
    if (c.batch_normalize) {
      rng.fill_uniform(std::span<float>(c.weights), -a, a);
      rng.fill_uniform(std::span<float>(c.biases), -0.1, 0.1);
      // A residual branch starts small (as in "zero-init residual" training): yolov3's 23
      // shortcuts then do not blow the activations up.
      const bool residual = next && next->as<Shortcut>();
      rng.fill_uniform(std::span<float>(c.scales), residual ? 0.05 : 0.5, residual ? 0.1 : 1.0);
      rng.fill_uniform(std::span<float>(c.rolling_mean), -0.1, 0.1);
      rng.fill_uniform(std::span<float>(c.rolling_variance), 0.5, 1.5);
    } else {
      // Large weights: the logits vary from cell to cell by about +-1.
      rng.fill_uniform(std::span<float>(c.weights), -4 * a, 4 * a);
      rng.fill_uniform(std::span<float>(c.biases), -1.0, 1.0);
      // A [yolo] head: channel 4 of every anchor's (5 + classes) block is the objectness logit.
      if (const auto* y = next ? next->as<Yolo>() : nullptr)
        for (int n = 0; n < y->anchor_count(); ++n) c.biases[size_t(n * (5 + y->classes) + 4)] = -1.5f;
    }
  }
  return w;
}

}  // namespace simad::io::darknet
