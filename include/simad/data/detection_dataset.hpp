// simad/data/detection_dataset.hpp: detector training data (issue #14): SynthAds rows (boxes with a
// role) -> network inputs and YOLO truths, with Darknet-style augmentation, and a loader that
// prefetches batches on its own threads.
//
//   auto ds = data::DetectionDataset::open("ads/ads.jsonl", "train");   // bad row -> simad::Error
//   data::DetectionLoader loader(ds, 16, 416, 416, data::Augment{}, seed, 2);
//   std::vector<float> x;                              // (B, 3, net_h, net_w)
//   std::vector<std::vector<nn::YoloTruth>> truths;    // per image, relative to the network input
//   loader.next(x, truths);
//
// Rows (one JSON object a line, as SynthAds writes them, docs/synthads.md "Files"):
//   {"id": 17, "image": "images/000017.jpg", "split": "train",
//    "boxes": [{"x": 10, "y": 12, "w": 40, "h": 38, "role": "product"}, ...]}
// "image" is required (relative paths are relative to the JSONL file's folder); "id" (integer;
// default: the line number), "split" (string; SynthAds writes "train", "validation" and "test") and
// "boxes" are optional; other fields are ignored. A box needs numbers x, y (top-left), w, h >= 0 in
// pixels of the image (fractions kept) and a "role": "product" -> class 0, "distractor" -> class 1.
// Blank lines are skipped; any other bad row is a simad::Error naming the file and the line.
//
// Geometry. Boxes are edges in continuous pixel coordinates: a box x0..x1 covers pixel columns
// x0 .. x1 - 1. Images are resampled centre-aligned, so an edge at x maps to x * scale + offset.
// - Without augmentation (Augment::enabled false): the pjreddie letterbox of inference
//   (image/letterbox.hpp, bit-identical input); an edge x maps to x * new_w / image_w + dx.
// - With augmentation, per example (Darknet's load_data_detection, src/data.c):
//     aspect = (W + U(-jitter W, jitter W)) / (H + U(-jitter H, jitter H)),  s = U(min_scale, max_scale)
//     aspect < 1: nh = s net_h, nw = nh aspect;  else nw = s net_w, nh = nw / aspect   (rounded, >= 1)
//     dx = round(U(0, net_w - nw)), dy = round(U(0, net_h - nh))  (negative: the image is cropped)
//   the image is resized (bilinear) to nw x nh and placed at (dx, dy) on a canvas of 0.5; then HSV
//   jitter on the whole canvas (hue + U(-hue, hue) of the full circle, wrapping; saturation and
//   value times a factor in [1/s, s]: U(1, s), inverted with probability 1/2; S and V clamped to
//   [0, 1]); then, when `flip`, a horizontal mirror with probability 1/2 (edge x -> net_w - x).
//   Differences from Darknet: its place_image samples corner-aligned and truncates nw, dx to ints
//   while its boxes use the floats (a shift of up to a pixel); here the box follows the pixels.
//   Every example draws the same 10 numbers from its Rng in a fixed order (aspect w, aspect h,
//   scale, dx, dy, flip, hue, saturation x2, exposure x2), whatever the options.
// - Boxes: clipped to the original image, transformed, clipped to the network input. A box is
//   dropped when, clipped, it is narrower or lower than 1 network pixel, or when less than
//   Augment::min_visible (0.5) of its transformed area is left inside the input (a crop took most
//   of it). Truths: centre x, y and size w, h divided by net_w, net_h (nn::YoloTruth).
//
// DetectionLoader: batch b holds samples p = b * batch .. b * batch + batch - 1 of an endless
// sequence of epochs; epoch e is a permutation of the rows drawn from Rng(seed, kShuffleStream)
// .substream(e), and sample p is augmented with Rng(seed, kAugmentStream).substream(p). A batch is
// thus a function of (dataset, options, seed, b) only: any thread count, any timing, and a
// seek(b) on a resumed run give the same batches. Worker threads (std::thread, not simad's pool, so
// they never compete with the trainer's parallel_for) each build whole batches, up to `threads + 1`
// batches ahead of the consumer; threads = 0 builds each batch inside next().
#pragma once

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/rng.hpp"
#include "simad/data/box_json.hpp"
#include "simad/image/decode.hpp"
#include "simad/image/image.hpp"
#include "simad/image/letterbox.hpp"
#include "simad/nn/yolo_loss.hpp"

namespace simad::data {

inline constexpr int kProductClass = 0, kDistractorClass = 1, kDetectionClasses = 2;

struct DetectionBox {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // edges, pixels of the original image
  int class_id = 0;                      // kProductClass or kDistractorClass
};

struct DetectionRecord {
  std::string image_path;  // resolved: relative to the JSONL's folder unless absolute
  std::string split;       // "" when the row has none
  std::vector<DetectionBox> boxes;
  int64_t id = -1;
  int64_t line = 0;  // line in the JSONL file, from 1
};

// ---------------------------------------------------------------------------------------------
// Rows

// Parses one JSONL row (image path as written, not resolved). False with *why when it is not a
// usable row; never throws (the fuzz target feeds it arbitrary bytes).
inline bool parse_detection_row(std::string_view line, DetectionRecord& r, std::string& why) {
  nlohmann::json row;
  try {
    row = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    why = std::string("not valid JSON (") + e.what() + ")";
    return false;
  }
  if (!row.is_object()) return why = std::string("not a JSON object (a ") + row.type_name() + ")", false;
  if (const auto it = row.find("id"); it != row.end() && !it->is_null()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() <= uint64_t(INT64_MAX)) r.id = int64_t(it->get<uint64_t>());
    else if (it->is_number_integer() && !it->is_number_unsigned()) r.id = it->get<int64_t>();
    else return why = "\"id\" must be an integer, got " + it->dump(), false;
  }
  const auto image = row.find("image");
  if (image == row.end() || !image->is_string() || image->get_ref<const std::string&>().empty())
    return why = "needs a non-empty string \"image\"", false;
  r.image_path = image->get<std::string>();
  if (const auto it = row.find("split"); it != row.end() && !it->is_null()) {
    if (!it->is_string()) return why = std::string("\"split\" must be a string, got a ") + it->type_name(), false;
    r.split = it->get<std::string>();
  }
  r.boxes.clear();
  const auto boxes = row.find("boxes");
  if (boxes == row.end() || boxes->is_null()) return true;
  if (!boxes->is_array()) return why = "\"boxes\" must be an array", false;
  for (size_t i = 0; i < boxes->size(); ++i) {
    const nlohmann::json& j = (*boxes)[i];
    const std::string where = "boxes[" + std::to_string(i) + "]";
    double v[4];
    if (!detail::read_box_xywh(j, where, v, why)) return false;
    const auto role = j.find("role");
    if (role == j.end() || !role->is_string())
      return why = where + " needs a string \"role\" (\"product\" or \"distractor\")", false;
    const std::string& name = role->get_ref<const std::string&>();
    int class_id = -1;
    if (name == "product") class_id = kProductClass;
    else if (name == "distractor") class_id = kDistractorClass;
    else return why = where + ": unknown \"role\" " + role->dump() + " (\"product\" or \"distractor\")", false;
    r.boxes.push_back({float(v[0]), float(v[1]), float(v[0] + v[2]), float(v[1] + v[3]), class_id});
  }
  return true;
}

class DetectionDataset {
 public:
  // Reads every row of `jsonl_path`, or only those whose "split" equals `split` when it is not
  // empty. Throws simad::Error on a missing file, a bad row ("'<file>' line <n>: <reason>"), or a
  // split that no row has (it lists the splits found).
  static DetectionDataset open(const std::string& jsonl_path, const std::string& split = "") {
    std::ifstream in(jsonl_path, std::ios::binary);
    SIMAD_CHECK(in, "cannot open the detection dataset '", jsonl_path, "'");
    const std::filesystem::path dir = std::filesystem::path(jsonl_path).parent_path();
    DetectionDataset ds;
    ds.path_ = jsonl_path;
    ds.split_ = split;
    std::map<std::string, int64_t> splits_seen;
    std::string raw;
    int64_t line_no = 0;
    while (std::getline(in, raw)) {
      ++line_no;
      std::string_view line(raw);
      if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);  // a UTF-8 byte order mark
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      DetectionRecord r;
      r.id = line_no;
      r.line = line_no;
      std::string why;
      if (!parse_detection_row(line, r, why)) fail("detection dataset '", jsonl_path, "' line ", line_no, ": ", why);
      ++splits_seen[r.split];
      if (!split.empty() && r.split != split) continue;
      const std::filesystem::path image(r.image_path);
      r.image_path = (image.is_absolute() ? image : dir / image).lexically_normal().string();
      ds.records_.push_back(std::move(r));
    }
    SIMAD_CHECK(!in.bad(), "cannot read the detection dataset '", jsonl_path, "'");
    if (!split.empty() && ds.records_.empty() && !splits_seen.empty()) {
      std::string seen;
      for (const auto& [name, count] : splits_seen)
        seen += (seen.empty() ? "" : ", ") + ("\"" + name + "\" (" + std::to_string(count) + ")");
      fail("detection dataset '", jsonl_path, "': no row has split \"", split, "\"; splits found: ", seen);
    }
    return ds;
  }

  size_t size() const { return records_.size(); }
  const DetectionRecord& record(size_t i) const {
    SIMAD_CHECK(i < records_.size(), "DetectionDataset::record: index ", i, " >= size ", records_.size());
    return records_[i];
  }
  const std::vector<DetectionRecord>& records() const { return records_; }
  const std::string& path() const { return path_; }
  const std::string& split() const { return split_; }

 private:
  std::string path_, split_;
  std::vector<DetectionRecord> records_;
};

// ---------------------------------------------------------------------------------------------
// Examples

struct Augment {
  bool enabled = true;
  double jitter = 0.2;  // aspect-ratio jitter: each side of the image +- jitter of its size (Darknet)
  double min_scale = 0.75, max_scale = 1.25;  // the placed image's long side / the network side
  bool flip = true;                           // horizontal mirror with probability 1/2
  double hue = 0.05, saturation = 1.5, exposure = 1.5;  // +- hue of the circle; factors in [1/s, s]
  double min_visible = 0.5;  // a box keeps at least this share of its transformed area, or is dropped
};

struct DetectionExample {
  std::vector<float> image;             // (3, net_h, net_w) planar RGB in [0, 1]
  std::vector<nn::YoloTruth> truths;    // centre x, y, w, h relative to the network input, class_id
};

namespace detail {

// Darknet's rgb_to_hsv / hsv_to_rgb (src/image.c), H in [0, 1).
inline void rgb_to_hsv(float r, float g, float b, float& h, float& s, float& v) {
  const float mx = std::max({r, g, b}), mn = std::min({r, g, b}), delta = mx - mn;
  v = mx;
  if (mx == 0 || delta == 0) {
    s = 0, h = 0;
    return;
  }
  s = delta / mx;
  if (r == mx) h = (g - b) / delta;
  else if (g == mx) h = 2 + (b - r) / delta;
  else h = 4 + (r - g) / delta;
  if (h < 0) h += 6;
  h /= 6;
}

inline void hsv_to_rgb(float h, float s, float v, float& r, float& g, float& b) {
  if (s == 0) {
    r = g = b = v;
    return;
  }
  const float h6 = h * 6;
  const int index = std::clamp(int(std::floor(h6)), 0, 5);
  const float f = h6 - float(index);
  const float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (index) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
}

// Hue shift (fraction of the circle), saturation and value factors on a planar RGB image.
inline void distort_hsv(std::vector<float>& im, int w, int h, float dhue, float dsat, float dexp) {
  const size_t plane = size_t(w) * size_t(h);
  float* R = im.data();
  float* G = R + plane;
  float* B = G + plane;
  for (size_t i = 0; i < plane; ++i) {
    float hh, s, v;
    rgb_to_hsv(R[i], G[i], B[i], hh, s, v);
    s = std::clamp(s * dsat, 0.0f, 1.0f);
    v = std::clamp(v * dexp, 0.0f, 1.0f);
    hh += dhue;
    hh -= std::floor(hh);  // wrap into [0, 1)
    if (hh >= 1) hh = 0;
    hsv_to_rgb(hh, s, v, R[i], G[i], B[i]);
    R[i] = std::clamp(R[i], 0.0f, 1.0f), G[i] = std::clamp(G[i], 0.0f, 1.0f), B[i] = std::clamp(B[i], 0.0f, 1.0f);
  }
}

// Darknet's rand_scale: U(1, s), inverted with probability 1/2 (two draws).
inline double rand_scale(Rng& rng, double s) {
  const double v = rng.next_uniform(1.0, s);
  return rng.next_uniform() < 0.5 ? v : 1.0 / v;
}

// `im` resized (bilinear, centre-aligned) to nw x nh and pasted at (dx, dy) on `canvas`
// (net_w x net_h, planar RGB); only the part inside the canvas is computed.
inline void place_image(const image::Image& im, int nw, int nh, int dx, int dy, std::vector<float>& canvas, int net_w,
                        int net_h) {
  const int cx0 = std::max(0, dx), cx1 = std::min(net_w, dx + nw);
  const int cy0 = std::max(0, dy), cy1 = std::min(net_h, dy + nh);
  if (cx0 >= cx1 || cy0 >= cy1) return;
  struct Tap {
    int i0, i1;
    float f;
  };
  auto taps = [](int out_lo, int out_hi, int offset, int n_out, int n_in) {
    std::vector<Tap> t;
    t.reserve(size_t(out_hi - out_lo));
    const double step = double(n_in) / double(n_out);
    for (int c = out_lo; c < out_hi; ++c) {
      const double s = std::clamp((double(c - offset) + 0.5) * step - 0.5, 0.0, double(n_in - 1));
      const int i0 = int(s);
      t.push_back({i0, std::min(i0 + 1, n_in - 1), float(s - double(i0))});
    }
    return t;
  };
  const std::vector<Tap> tx = taps(cx0, cx1, dx, nw, im.width), ty = taps(cy0, cy1, dy, nh, im.height);
  for (int k = 0; k < 3; ++k) {
    const int ck = std::min(k, im.channels - 1);
    for (int y = cy0; y < cy1; ++y) {
      const Tap& a = ty[size_t(y - cy0)];
      float* out = canvas.data() + (size_t(k) * size_t(net_h) + size_t(y)) * size_t(net_w);
      for (int x = cx0; x < cx1; ++x) {
        const Tap& b = tx[size_t(x - cx0)];
        const float top = (1 - b.f) * im.at(b.i0, a.i0, ck) + b.f * im.at(b.i1, a.i0, ck);
        const float bottom = (1 - b.f) * im.at(b.i0, a.i1, ck) + b.f * im.at(b.i1, a.i1, ck);
        out[x] = (1 - a.f) * top + a.f * bottom;
      }
    }
  }
}

// Mirrors each row of a planar image.
inline void flip_horizontal(std::vector<float>& im, int w, int h, int channels) {
  for (int r = 0; r < h * channels; ++r) {
    float* row = im.data() + size_t(r) * size_t(w);
    std::reverse(row, row + w);
  }
}

}  // namespace detail

// The affine map of one example: network x = image x * sx + ox (then mirrored when flipped).
struct ExampleTransform {
  double sx = 1, sy = 1, ox = 0, oy = 0;
  bool flipped = false;
  int net_w = 0, net_h = 0;
};

// Boxes (original pixels) -> truths for a network input, by the rule in the file comment.
inline std::vector<nn::YoloTruth> transform_boxes(const std::vector<DetectionBox>& boxes, int image_w, int image_h,
                                                  const ExampleTransform& t, double min_visible) {
  std::vector<nn::YoloTruth> truths;
  const double W = t.net_w, H = t.net_h;
  for (const DetectionBox& b : boxes) {
    const double x0 = std::clamp(double(b.x0), 0.0, double(image_w)), x1 = std::clamp(double(b.x1), 0.0, double(image_w));
    const double y0 = std::clamp(double(b.y0), 0.0, double(image_h)), y1 = std::clamp(double(b.y1), 0.0, double(image_h));
    double X0 = x0 * t.sx + t.ox, X1 = x1 * t.sx + t.ox;
    const double Y0 = y0 * t.sy + t.oy, Y1 = y1 * t.sy + t.oy;
    if (t.flipped) {
      const double mirrored_x0 = W - X1;
      X1 = W - X0;
      X0 = mirrored_x0;
    }
    const double full = (X1 - X0) * (Y1 - Y0);
    const double cx0 = std::clamp(X0, 0.0, W), cx1 = std::clamp(X1, 0.0, W);
    const double cy0 = std::clamp(Y0, 0.0, H), cy1 = std::clamp(Y1, 0.0, H);
    const double w = cx1 - cx0, h = cy1 - cy0;
    if (w < 1 || h < 1) continue;
    if (w * h < min_visible * full) continue;
    truths.push_back({(cx0 + cx1) / 2 / W, (cy0 + cy1) / 2 / H, w / W, h / H, b.class_id});
  }
  return truths;
}

// One training (or evaluation) example of an already decoded image; see the file comment.
inline DetectionExample make_example(const image::Image& im, const std::vector<DetectionBox>& boxes, int net_w,
                                     int net_h, const Augment& aug, Rng& rng, ExampleTransform* transform = nullptr) {
  SIMAD_CHECK(net_w >= 1 && net_h >= 1, "make_example: network size ", net_w, "x", net_h, " must be >= 1");
  SIMAD_CHECK(!im.empty() && im.channels >= 1, "make_example: empty image");
  DetectionExample ex;
  ExampleTransform t;
  t.net_w = net_w, t.net_h = net_h;
  if (!aug.enabled) {
    image::LetterboxGeometry g;
    image::Image rgb = im;
    if (rgb.channels != 3) {
      rgb = image::Image(im.width, im.height, 3);
      for (int k = 0; k < 3; ++k)
        for (int y = 0; y < im.height; ++y)
          for (int x = 0; x < im.width; ++x) rgb.at(x, y, k) = im.at(x, y, std::min(k, im.channels - 1));
    }
    ex.image = image::letterbox(rgb, net_w, net_h, image::ResizeMode::letterbox, &g).data;
    t.sx = double(g.new_w) / im.width, t.sy = double(g.new_h) / im.height, t.ox = g.dx, t.oy = g.dy;
    ex.truths = transform_boxes(boxes, im.width, im.height, t, 0.0);
    if (transform) *transform = t;
    return ex;
  }
  SIMAD_CHECK(aug.jitter >= 0 && aug.jitter < 1, "Augment: jitter ", aug.jitter, " must be in [0, 1)");
  SIMAD_CHECK(aug.min_scale > 0 && aug.min_scale <= aug.max_scale, "Augment: scales [", aug.min_scale, ", ",
              aug.max_scale, "] must satisfy 0 < min_scale <= max_scale");
  SIMAD_CHECK(aug.hue >= 0 && aug.hue <= 1 && aug.saturation > 0 && aug.exposure > 0, "Augment: hue ", aug.hue,
              " must be in [0, 1], saturation ", aug.saturation, " and exposure ", aug.exposure, " > 0");
  const double W = im.width, H = im.height;
  const double aw = W + rng.next_uniform(-aug.jitter * W, aug.jitter * W);
  const double ah = H + rng.next_uniform(-aug.jitter * H, aug.jitter * H);
  const double aspect = aw / ah;
  const double scale = rng.next_uniform(aug.min_scale, aug.max_scale);
  double nw, nh;
  if (aspect < 1) {
    nh = scale * net_h;
    nw = nh * aspect;
  } else {
    nw = scale * net_w;
    nh = nw / aspect;
  }
  const int inw = std::max(1, int(std::lround(nw))), inh = std::max(1, int(std::lround(nh)));
  const int dx = int(std::lround(rng.next_uniform(0.0, double(net_w - inw))));
  const int dy = int(std::lround(rng.next_uniform(0.0, double(net_h - inh))));
  const bool flip = rng.next_uniform() < 0.5;
  const double dhue = rng.next_uniform(-aug.hue, aug.hue);
  const double dsat = detail::rand_scale(rng, aug.saturation);
  const double dexp = detail::rand_scale(rng, aug.exposure);

  ex.image.assign(size_t(3) * size_t(net_w) * size_t(net_h), 0.5f);
  detail::place_image(im, inw, inh, dx, dy, ex.image, net_w, net_h);
  detail::distort_hsv(ex.image, net_w, net_h, float(dhue), float(dsat), float(dexp));
  t.sx = double(inw) / W, t.sy = double(inh) / H, t.ox = dx, t.oy = dy;
  if (aug.flip && flip) {
    detail::flip_horizontal(ex.image, net_w, net_h, 3);
    t.flipped = true;
  }
  ex.truths = transform_boxes(boxes, im.width, im.height, t, aug.min_visible);
  if (transform) *transform = t;
  return ex;
}

// Example i of the dataset: decodes its image (errors name the file) and calls make_example.
inline DetectionExample load_example(const DetectionDataset& ds, size_t i, int net_w, int net_h, const Augment& aug,
                                     Rng& rng) {
  const DetectionRecord& r = ds.record(i);
  const image::Image im = image::load(r.image_path);
  return make_example(im, r.boxes, net_w, net_h, aug, rng);
}

// ---------------------------------------------------------------------------------------------
// Loader

class DetectionLoader {
 public:
  static constexpr uint64_t kShuffleStream = 0x53687566666c65ull;  // "Shuffle"
  static constexpr uint64_t kAugmentStream = 0x4175676d656e74ull;  // "Augment"

  // `ds` is referenced, not copied: it must outlive the loader.
  DetectionLoader(const DetectionDataset& ds, int batch, int net_w, int net_h, Augment aug, uint64_t seed,
                  int threads)
      : ds_(ds), batch_(batch), net_w_(net_w), net_h_(net_h), aug_(aug), seed_(seed) {
    SIMAD_CHECK(ds.size() > 0, "DetectionLoader: the dataset '", ds.path(), "' (split \"", ds.split(), "\") is empty");
    SIMAD_CHECK(batch >= 1 && net_w >= 1 && net_h >= 1, "DetectionLoader: batch ", batch, " and network size ", net_w,
                "x", net_h, " must be >= 1");
    SIMAD_CHECK(threads >= 0, "DetectionLoader: threads ", threads, " must be >= 0");
    depth_ = threads + 1;
    for (int t = 0; t < threads; ++t) workers_.emplace_back([this] { work(); });
  }
  ~DetectionLoader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_workers_.notify_all();
    for (std::thread& t : workers_) t.join();
  }
  DetectionLoader(const DetectionLoader&) = delete;
  DetectionLoader& operator=(const DetectionLoader&) = delete;

  // The next batch: images (batch, 3, net_h, net_w), truths per image. A load error (an unreadable
  // image) is rethrown here; the batch then counts as served.
  void next(std::vector<float>& images, std::vector<std::vector<nn::YoloTruth>>& truths) {
    Batch out;
    if (workers_.empty()) {
      out.index = position_;
      ++position_;
      build(out.index, out, order_);
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      const int64_t b = position_;
      batch_ready_.wait(lock, [&] { return ready_.count(b) > 0; });
      out = std::move(ready_[b]);
      ready_.erase(b);
      ++position_;
      lock.unlock();
      wake_workers_.notify_all();
    }
    if (out.error) std::rethrow_exception(out.error);
    images = std::move(out.images);
    truths = std::move(out.truths);
  }

  // Batches served so far (the index of the batch next() returns).
  int64_t position() const {
    std::lock_guard<std::mutex> lock(mu_);
    return position_;
  }
  // Continue at batch `batches` (a resumed training passes the position it saved).
  void seek(int64_t batches) {
    SIMAD_CHECK(batches >= 0, "DetectionLoader::seek: position ", batches, " must be >= 0");
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++generation_;
      ready_.clear();
      position_ = batches;
      next_to_build_ = batches;
    }
    wake_workers_.notify_all();
  }

  // The dataset rows of batch b, in order (no decoding).
  std::vector<size_t> batch_indices(int64_t b) const {
    EpochOrder order;
    return indices(b, order);
  }
  // The Rng that augments sample p (= b * batch + k).
  Rng sample_rng(int64_t p) const { return Rng(seed_, kAugmentStream).substream(uint64_t(p)); }
  int batch() const { return batch_; }
  // Epochs served: position * batch / dataset size.
  double epoch() const { return double(position()) * batch_ / double(ds_.size()); }

 private:
  struct Batch {
    int64_t index = -1;
    std::vector<float> images;
    std::vector<std::vector<nn::YoloTruth>> truths;
    std::exception_ptr error;
  };
  // The permutation of one epoch, cached (each worker keeps its own).
  struct EpochOrder {
    int64_t epoch = -1;
    std::vector<size_t> perm;
  };

  const std::vector<size_t>& order_of(int64_t epoch, EpochOrder& cache) const {
    if (cache.epoch == epoch) return cache.perm;
    const size_t n = ds_.size();
    cache.perm.resize(n);
    for (size_t i = 0; i < n; ++i) cache.perm[i] = i;
    Rng rng = Rng(seed_, kShuffleStream).substream(uint64_t(epoch));
    for (size_t i = n; i > 1; --i) std::swap(cache.perm[i - 1], cache.perm[rng.next_below(uint32_t(i))]);
    cache.epoch = epoch;
    return cache.perm;
  }
  std::vector<size_t> indices(int64_t b, EpochOrder& cache) const {
    std::vector<size_t> out(static_cast<size_t>(batch_));
    const int64_t n = int64_t(ds_.size());
    for (int k = 0; k < batch_; ++k) {
      const int64_t p = b * batch_ + k;
      out[size_t(k)] = order_of(p / n, cache)[size_t(p % n)];
    }
    return out;
  }
  void build(int64_t b, Batch& out, EpochOrder& cache) const {
    try {
      const std::vector<size_t> rows = indices(b, cache);
      const size_t plane = size_t(3) * size_t(net_w_) * size_t(net_h_);
      out.images.assign(plane * size_t(batch_), 0.0f);
      out.truths.assign(size_t(batch_), {});
      for (int k = 0; k < batch_; ++k) {
        Rng rng = sample_rng(b * batch_ + k);
        DetectionExample ex = load_example(ds_, rows[size_t(k)], net_w_, net_h_, aug_, rng);
        std::copy(ex.image.begin(), ex.image.end(), out.images.begin() + std::ptrdiff_t(plane * size_t(k)));
        out.truths[size_t(k)] = std::move(ex.truths);
      }
    } catch (...) {
      out.error = std::current_exception();
    }
  }
  void work() {
    EpochOrder cache;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_workers_.wait(lock, [&] { return stop_ || next_to_build_ < position_ + depth_; });
      if (stop_) return;
      const int64_t b = next_to_build_++;
      const uint64_t generation = generation_;
      lock.unlock();
      Batch out;
      out.index = b;
      build(b, out, cache);
      lock.lock();
      if (generation == generation_ && b >= position_) {
        ready_[b] = std::move(out);
        batch_ready_.notify_all();
      }
    }
  }

  const DetectionDataset& ds_;
  int batch_, net_w_, net_h_;
  Augment aug_;
  uint64_t seed_;
  int64_t depth_ = 1;
  EpochOrder order_;  // threads = 0

  mutable std::mutex mu_;
  std::condition_variable wake_workers_, batch_ready_;
  std::map<int64_t, Batch> ready_;
  int64_t position_ = 0, next_to_build_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace simad::data
