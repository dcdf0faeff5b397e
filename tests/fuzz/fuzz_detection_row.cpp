// libFuzzer target for the detector's JSONL rows (include/simad/data/detection_dataset.hpp). The input
// is one row: parse_detection_row either accepts it or says why not (it never throws). An accepted
// row has an image path and boxes with finite, ordered edges of class 0 or 1; its boxes then go
// through an augmented example of a small picture, whose truths must lie inside the input (centre
// and size in [0, 1], size > 0). Seeds: corpus/detection_row/. Build and run: tests/fuzz/CMakeLists.txt.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "simad/data/detection_dataset.hpp"

namespace data = simad::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(bytes), size);
  data::DetectionRecord r;
  std::string why;
  if (!data::parse_detection_row(line, r, why)) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  if (r.image_path.empty()) __builtin_trap();
  for (const data::DetectionBox& b : r.boxes) {
    if (!std::isfinite(b.x0) || !std::isfinite(b.y0) || !std::isfinite(b.x1) || !std::isfinite(b.y1)) __builtin_trap();
    if (b.x1 < b.x0 || b.y1 < b.y0 || (b.class_id != 0 && b.class_id != 1)) __builtin_trap();
  }
  const simad::image::Image im(24, 18, 3, 0.25f);
  simad::Rng rng(size);
  const data::DetectionExample ex = data::make_example(im, r.boxes, 32, 32, data::Augment{}, rng);
  for (const auto& t : ex.truths) {
    if (!(t.w > 0 && t.h > 0 && t.w <= 1 && t.h <= 1)) __builtin_trap();
    if (!(t.x - t.w / 2 >= -1e-9 && t.x + t.w / 2 <= 1 + 1e-9 && t.y - t.h / 2 >= -1e-9 && t.y + t.h / 2 <= 1 + 1e-9))
      __builtin_trap();
  }
  return 0;
}
