// simad/data/box_json.hpp: the geometry of one box of a JSONL row, {"x","y","w","h"} in pixels
// (x, y the top-left corner), checked the same way by every reader of ad rows (data/ad_dataset.hpp,
// data/detection_dataset.hpp): numbers, finite, within 1e7 pixels, sizes >= 0.
#pragma once

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

namespace simad::data::detail {

// v = {x, y, w, h}; false with *why ("<where> needs a number "x"", ...) when a value is missing or
// out of range.
inline bool read_box_xywh(const nlohmann::json& j, const std::string& where, double v[4], std::string& why) {
  if (!j.is_object()) return why = where + " must be an object", false;
  constexpr double kLimit = 1e7;  // pixels: far beyond any decodable image, and x + w fits an int
  const char* keys[4] = {"x", "y", "w", "h"};
  for (int k = 0; k < 4; ++k) {
    const auto it = j.find(keys[k]);
    if (it == j.end() || !it->is_number()) return why = where + " needs a number \"" + keys[k] + "\"", false;
    v[k] = it->get<double>();
    if (!std::isfinite(v[k]) || std::abs(v[k]) > kLimit || (k >= 2 && v[k] < 0))
      return why = where + ": \"" + keys[k] + "\" = " + it->dump() + " is out of range" +
                   (k >= 2 ? " (a size is >= 0)" : ""),
             false;
  }
  return true;
}

}  // namespace simad::data::detail
