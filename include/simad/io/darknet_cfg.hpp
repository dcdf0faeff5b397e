// simad/io/darknet_cfg.hpp: Darknet network configurations (.cfg) as typed layer descriptors: the
// parser, shape inference, and the writer (to_cfg_text). The built-in YOLOv3 architectures are
// built in code by nn/yolov3_configs.hpp.
//
// The parser follows pjreddie Darknet (src/parser.c read_cfg, src/utils.c strip): every space, tab
// and CR is removed from a line; lines starting with '#' or ';' and empty lines are skipped;
// "[name]" opens a section ([conv] = [convolutional], [max] = [maxpool], [network] = [net]);
// other lines are key=value. Unlike Darknet, unknown sections, unknown keys, repeated keys and
// malformed numbers are errors naming the file and line: a typo must not silently fall back to a
// default. Supported layers: [convolutional] (groups 1, activations linear/leaky/logistic),
// [shortcut], [route] (one or more layers, negative = relative), [upsample], [maxpool], [yolo].
// Training-only keys Darknet knows ([net] learning_rate, [yolo] jitter, ...) are accepted and kept
// as text, so a real cfg parses.
//
// After parsing, every layer carries its input and output shape (C, H, W), computed with Darknet's
// rules: conv out = (in + 2 * padding - size) / stride + 1 with padding = size / 2 when pad=1;
// maxpool padding defaults to size - 1 and out = (in + padding - size) / stride + 1 (so size 2
// stride 1 keeps 13x13: yolov3-tiny); route concatenates channels of equal-sized maps.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "simad/core/error.hpp"

namespace simad::io::darknet {

enum class Activation { linear, leaky, logistic };

inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::linear: return "linear";
    case Activation::leaky: return "leaky";
    case Activation::logistic: return "logistic";
  }
  return "?";
}

struct Convolutional {
  int filters = 1, size = 1, stride = 1, padding = 0;
  bool batch_normalize = false;
  Activation activation = Activation::logistic;  // Darknet's default
  bool operator==(const Convolutional&) const = default;
};
struct Shortcut {
  int from = 0;  // absolute layer index
  Activation activation = Activation::linear;
  bool operator==(const Shortcut&) const = default;
};
struct Route {
  std::vector<int> layers;  // absolute layer indices, concatenated along channels in this order
  bool operator==(const Route&) const = default;
};
struct Upsample {
  int stride = 2;
  float scale = 1.0f;
  bool operator==(const Upsample&) const = default;
};
struct Maxpool {
  int size = 1, stride = 1, padding = 0;
  bool operator==(const Maxpool&) const = default;
};
struct Yolo {
  std::vector<int> mask;       // which anchors this scale predicts
  std::vector<float> anchors;  // all anchors, (w, h) pairs in network-input pixels
  int classes = 20, num = 1;
  bool operator==(const Yolo&) const = default;
  int anchor_count() const { return int(mask.size()); }
};

using LayerOp = std::variant<Convolutional, Shortcut, Route, Upsample, Maxpool, Yolo>;

struct Dims {
  int c = 0, h = 0, w = 0;
  bool operator==(const Dims&) const = default;
  int64_t numel() const { return int64_t(c) * h * w; }
};

struct Layer {
  LayerOp op;
  Dims in, out;
  int line = 0;                                     // where the section starts in the cfg (0: built in code)
  std::map<std::string, std::string> ignored_keys;  // training-only keys kept as written
  // The architecture: the op and the shapes (not where it came from).
  bool operator==(const Layer& o) const { return op == o.op && in == o.in && out == o.out; }
  template <typename T>
  const T* as() const { return std::get_if<T>(&op); }
};

struct Net {
  int batch = 1, width = 416, height = 416, channels = 3;
  std::map<std::string, std::string> ignored_keys;
};

struct Config {
  std::string source;  // file name (for messages)
  Net net;
  std::vector<Layer> layers;
  // Indices of the [yolo] layers, in cfg order (largest stride first for the YOLOv3 cfgs).
  std::vector<int> yolo_layers() const {
    std::vector<int> idx;
    for (size_t i = 0; i < layers.size(); ++i)
      if (layers[i].as<Yolo>()) idx.push_back(int(i));
    return idx;
  }
  bool same_architecture(const Config& o) const {
    return net.width == o.net.width && net.height == o.net.height && net.channels == o.net.channels &&
           layers == o.layers;
  }
};

inline const char* layer_type_name(const LayerOp& op) {
  static constexpr const char* kNames[] = {"convolutional", "shortcut", "route", "upsample", "maxpool", "yolo"};
  return kNames[op.index()];
}

// ------------------------------------------------------------------------------------------------
// Shape inference. Throws on a layer whose shape makes no sense.
namespace detail {

[[noreturn]] inline void bad_layer(const std::string& source, size_t index, int line, const std::string& what,
                                   SourceLocation where = SourceLocation::current()) {
  ::simad::detail::throw_error(::simad::detail::concat("darknet cfg '", source, "'",
                                                       line > 0 ? ", line " + std::to_string(line) : std::string(),
                                                       ", layer ", index, ": ", what),
                               where);
}

// Guards sizes against overflow in later products (C * H * W fits easily in int64).
constexpr int kMaxExtent = 1 << 20;

}  // namespace detail

// Sets every layer's input and output shape from cfg.net and the ops (Darknet's rules, as the file
// comment says). parse_cfg and set_input_size call it; code that builds a Config calls it last.
inline void infer_shapes(Config& cfg) {
  using detail::kMaxExtent;
  const Net& net = cfg.net;
  if (net.width < 1 || net.height < 1 || net.channels < 1 || net.width > 65536 || net.height > 65536 ||
      net.channels > 4096)
    fail("darknet cfg '", cfg.source, "': [net] needs width, height, channels in [1, 65536] (channels <= 4096), got ",
         net.width, "x", net.height, "x", net.channels);
  Dims prev{net.channels, net.height, net.width};
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    Layer& l = cfg.layers[i];
    auto bad = [&](const std::string& what) { detail::bad_layer(cfg.source, i, l.line, what); };
    l.in = prev;
    auto check_index = [&](int j, const char* key) {
      if (j < 0 || size_t(j) >= i)
        bad(std::string(key) + " refers to layer " + std::to_string(j) + ", which is not an earlier layer");
    };
    if (auto* c = std::get_if<Convolutional>(&l.op)) {
      if (c->filters < 1 || c->filters > kMaxExtent) bad("filters must be in [1, 2^20], got " + std::to_string(c->filters));
      if (c->size < 1 || c->size > 64) bad("size must be in [1, 64], got " + std::to_string(c->size));
      if (c->stride < 1 || c->stride > 64) bad("stride must be in [1, 64], got " + std::to_string(c->stride));
      if (c->padding < 0 || c->padding > 64) bad("padding must be in [0, 64], got " + std::to_string(c->padding));
      const int h = (prev.h + 2 * c->padding - c->size), w = (prev.w + 2 * c->padding - c->size);
      if (h < 0 || w < 0)
        bad("a " + std::to_string(c->size) + "x" + std::to_string(c->size) + " kernel does not fit the " +
            std::to_string(prev.h) + "x" + std::to_string(prev.w) + " input");
      l.out = {c->filters, h / c->stride + 1, w / c->stride + 1};
    } else if (auto* s = std::get_if<Shortcut>(&l.op)) {
      check_index(s->from, "from");
      if (s->activation == Activation::logistic) bad("shortcut activation must be linear or leaky");
      const Dims& other = cfg.layers[size_t(s->from)].out;
      if (!(other == prev))
        bad("shortcut adds layer " + std::to_string(s->from) + " of shape " + std::to_string(other.c) + "x" +
            std::to_string(other.h) + "x" + std::to_string(other.w) + " to an input of shape " +
            std::to_string(prev.c) + "x" + std::to_string(prev.h) + "x" + std::to_string(prev.w) +
            " (simad needs equal shapes)");
      l.out = prev;
    } else if (auto* r = std::get_if<Route>(&l.op)) {
      if (r->layers.empty()) bad("route needs layers=");
      Dims out{0, 0, 0};
      for (size_t k = 0; k < r->layers.size(); ++k) {
        check_index(r->layers[k], "layers");
        const Dims& d = cfg.layers[size_t(r->layers[k])].out;
        if (k == 0) out = d;
        else if (d.h != out.h || d.w != out.w)
          bad("route concatenates maps of different sizes " + std::to_string(out.h) + "x" + std::to_string(out.w) +
              " and " + std::to_string(d.h) + "x" + std::to_string(d.w));
        else out.c += d.c;
        if (out.c > kMaxExtent) bad("route has too many channels");
      }
      l.in = cfg.layers[size_t(r->layers[0])].out;
      l.out = out;
    } else if (auto* u = std::get_if<Upsample>(&l.op)) {
      if (u->stride < 1 || u->stride > 64) bad("upsample stride must be in [1, 64], got " + std::to_string(u->stride));
      l.out = {prev.c, prev.h * u->stride, prev.w * u->stride};
    } else if (auto* m = std::get_if<Maxpool>(&l.op)) {
      if (m->size < 1 || m->size > 64) bad("maxpool size must be in [1, 64], got " + std::to_string(m->size));
      if (m->stride < 1 || m->stride > 64) bad("maxpool stride must be in [1, 64], got " + std::to_string(m->stride));
      if (m->padding < 0 || m->padding > 64) bad("maxpool padding must be in [0, 64], got " + std::to_string(m->padding));
      const int h = prev.h + m->padding - m->size, w = prev.w + m->padding - m->size;
      if (h < 0 || w < 0) bad("maxpool window larger than its padded input");
      l.out = {prev.c, h / m->stride + 1, w / m->stride + 1};
    } else if (auto* y = std::get_if<Yolo>(&l.op)) {
      if (y->classes < 1 || y->classes > 100000) bad("yolo classes must be in [1, 100000]");
      if (y->num < 1 || size_t(y->num) * 2 != y->anchors.size())
        bad("yolo num=" + std::to_string(y->num) + " needs " + std::to_string(2 * int64_t(y->num)) +
            " anchor numbers, got " + std::to_string(y->anchors.size()));
      if (y->mask.empty()) bad("yolo mask is empty");
      for (int a : y->mask)
        if (a < 0 || a >= y->num) bad("yolo mask entry " + std::to_string(a) + " is not an anchor index below num");
      for (float a : y->anchors)
        if (!(a > 0.0f && a < 1e6f)) bad("yolo anchors must be positive");
      const int64_t expect = int64_t(y->mask.size()) * (5 + y->classes);
      if (prev.c != expect)
        bad("yolo expects " + std::to_string(expect) + " input channels (mask size x (5 + classes)), got " +
            std::to_string(prev.c));
      l.out = prev;
    }
    if (l.out.c < 1 || l.out.h < 1 || l.out.w < 1 || l.out.h > kMaxExtent || l.out.w > kMaxExtent)
      bad("output shape " + std::to_string(l.out.c) + "x" + std::to_string(l.out.h) + "x" + std::to_string(l.out.w) +
          " is out of range");
    prev = l.out;
  }
}

namespace detail {

// ------------------------------------------------------------------------------------------------
// Parsing helpers. Values are parsed strictly: the whole value must be a number.
struct Section {
  std::string name;
  int line = 0;
  std::vector<std::pair<std::string, std::pair<std::string, int>>> keys;  // key -> (value, line)
};

class SectionReader {
 public:
  SectionReader(const std::string& source, const Section& s) : source_(source), s_(s) {}

  [[noreturn]] void bad(int line, const std::string& what, SourceLocation where = SourceLocation::current()) const {
    ::simad::detail::throw_error(
        ::simad::detail::concat("darknet cfg '", source_, "', line ", line, ", [", s_.name, "]: ", what), where);
  }
  const std::pair<std::string, int>* find(std::string_view key) {
    for (auto& [k, v] : s_.keys)
      if (k == key) {
        used_.push_back(k);
        return &v;
      }
    return nullptr;
  }
  int get_int(std::string_view key, int fallback) {
    const auto* v = find(key);
    return v ? parse_int(v->first, v->second, key) : fallback;
  }
  float get_float(std::string_view key, float fallback) {
    const auto* v = find(key);
    return v ? parse_float(v->first, v->second, key) : fallback;
  }
  int parse_int(const std::string& text, int line, std::string_view key) const {
    int value = 0;
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || p != end || text.empty())
      bad(line, std::string(key) + "='" + text + "' is not an integer");
    return value;
  }
  float parse_float(const std::string& text, int line, std::string_view key) const {
    // from_chars for float is in libstdc++ 11+; strtof would accept "1.5abc" partially.
    float value = 0;
    const char* end = text.data() + text.size();
    const auto [p, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || p != end || text.empty() || !(value == value))
      bad(line, std::string(key) + "='" + text + "' is not a number");
    return value;
  }
  template <typename T, typename Parse>
  std::vector<T> get_list(std::string_view key, Parse parse) {
    std::vector<T> out;
    const auto* v = find(key);
    if (!v) return out;
    std::string_view text = v->first;
    size_t start = 0;
    for (;;) {
      const size_t comma = text.find(',', start);
      const std::string item(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
      if (!item.empty() || comma != std::string_view::npos) out.push_back(parse(item, v->second, key));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
      if (start == text.size()) break;  // Darknet tolerates a trailing comma
      if (out.size() > 100000) bad(v->second, std::string(key) + " has too many entries");
    }
    return out;
  }
  Activation get_activation(std::string_view key, Activation fallback) {
    const auto* v = find(key);
    if (!v) return fallback;
    if (v->first == "linear") return Activation::linear;
    if (v->first == "leaky") return Activation::leaky;
    if (v->first == "logistic") return Activation::logistic;
    bad(v->second, "activation '" + v->first + "' is not supported (linear, leaky, logistic)");
  }
  // Keys Darknet reads but inference does not need: kept as text.
  std::map<std::string, std::string> keep(std::initializer_list<std::string_view> keys) {
    std::map<std::string, std::string> out;
    for (std::string_view k : keys)
      if (const auto* v = find(k)) out.emplace(std::string(k), v->first);
    return out;
  }
  // Every key must have been read by now.
  void check_all_used() const {
    for (const auto& [k, v] : s_.keys)
      if (std::find(used_.begin(), used_.end(), k) == used_.end()) bad(v.second, "unknown key '" + k + "'");
  }

 private:
  const std::string& source_;
  const Section& s_;
  std::vector<std::string> used_;
};

inline std::vector<Section> split_sections(std::string_view text, const std::string& source) {
  std::vector<Section> sections;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string line;
    for (char ch : text.substr(pos, eol - pos))
      if (ch != ' ' && ch != '\t' && ch != '\r') line += ch;
    ++line_no;
    pos = eol + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    for (char ch : line)
      if (ch == '\0' || static_cast<unsigned char>(ch) < 0x20)
        fail("darknet cfg '", source, "', line ", line_no, ": control character in the line");
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3)
        fail("darknet cfg '", source, "', line ", line_no, ": malformed section header '", line, "'");
      sections.push_back({line.substr(1, line.size() - 2), line_no, {}});
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("darknet cfg '", source, "', line ", line_no, ": expected key=value, got '", line, "'");
    if (sections.empty()) fail("darknet cfg '", source, "', line ", line_no, ": key=value before any [section]");
    std::string key = line.substr(0, eq), value = line.substr(eq + 1);
    for (const auto& kv : sections.back().keys)
      if (kv.first == key)
        fail("darknet cfg '", source, "', line ", line_no, ": key '", key, "' repeated in [", sections.back().name,
             "] (first on line ", kv.second.second, ")");
    sections.back().keys.push_back({std::move(key), {std::move(value), line_no}});
  }
  return sections;
}

inline int resolve_index(int v, size_t index) { return v < 0 ? int(index) + v : v; }

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Parses cfg text. `source` names it in errors.
inline Config parse_cfg(std::string_view text, const std::string& source = "<memory>") {
  const std::vector<detail::Section> sections = detail::split_sections(text, source);
  Config cfg;
  cfg.source = source;
  if (sections.empty()) fail("darknet cfg '", source, "': no sections");
  const std::string& first = sections[0].name;
  if (first != "net" && first != "network")
    fail("darknet cfg '", source, "', line ", sections[0].line, ": the first section must be [net], got [", first, "]");
  {
    detail::SectionReader r(source, sections[0]);
    cfg.net.batch = r.get_int("batch", 1);
    cfg.net.width = r.get_int("width", 0);
    cfg.net.height = r.get_int("height", 0);
    cfg.net.channels = r.get_int("channels", 0);
    cfg.net.ignored_keys = r.keep({"subdivisions", "momentum", "decay", "angle", "saturation", "exposure", "hue",
                                   "learning_rate", "burn_in", "max_batches", "policy", "steps", "scales", "step",
                                   "gamma", "power", "max_crop", "min_crop", "aspect", "inputs", "time_steps",
                                   "letter_box", "mosaic", "flip", "adam", "B1", "B2", "eps"});
    r.check_all_used();
    if (cfg.net.batch < 1) r.bad(sections[0].line, "batch must be >= 1");
  }
  if (sections.size() - 1 > 100000) fail("darknet cfg '", source, "': too many layers");
  for (size_t s = 1; s < sections.size(); ++s) {
    const detail::Section& sec = sections[s];
    const size_t index = cfg.layers.size();
    detail::SectionReader r(source, sec);
    Layer layer;
    layer.line = sec.line;
    const std::string& name = sec.name;
    if (name == "convolutional" || name == "conv") {
      Convolutional c;
      c.filters = r.get_int("filters", 1);
      c.size = r.get_int("size", 1);
      c.stride = r.get_int("stride", 1);
      const int pad = r.get_int("pad", 0);
      c.padding = r.get_int("padding", 0);
      if (pad) c.padding = c.size / 2;
      if (r.get_int("groups", 1) != 1) r.bad(sec.line, "groups other than 1 are not supported");
      c.batch_normalize = r.get_int("batch_normalize", 0) != 0;
      c.activation = r.get_activation("activation", Activation::logistic);
      layer.op = c;
    } else if (name == "shortcut") {
      Shortcut sc;
      const auto* from = r.find("from");
      if (!from) r.bad(sec.line, "shortcut needs from=");
      sc.from = detail::resolve_index(r.parse_int(from->first, from->second, "from"), index);
      sc.activation = r.get_activation("activation", Activation::linear);
      layer.op = sc;
    } else if (name == "route") {
      Route rt;
      for (int v : r.get_list<int>("layers", [&](const std::string& t, int line, std::string_view k) {
             return r.parse_int(t, line, k);
           }))
        rt.layers.push_back(detail::resolve_index(v, index));
      layer.op = rt;
    } else if (name == "upsample") {
      Upsample u;
      u.stride = r.get_int("stride", 2);
      u.scale = r.get_float("scale", 1.0f);
      layer.op = u;
    } else if (name == "maxpool" || name == "max") {
      Maxpool m;
      m.stride = r.get_int("stride", 1);
      m.size = r.get_int("size", m.stride);
      m.padding = r.get_int("padding", m.size - 1);
      layer.op = m;
    } else if (name == "yolo") {
      Yolo y;
      y.classes = r.get_int("classes", 20);
      y.num = r.get_int("num", 1);
      auto as_int = [&](const std::string& t, int line, std::string_view k) { return r.parse_int(t, line, k); };
      auto as_float = [&](const std::string& t, int line, std::string_view k) { return r.parse_float(t, line, k); };
      y.mask = r.get_list<int>("mask", as_int);
      y.anchors = r.get_list<float>("anchors", as_float);
      // Darknet without mask=: every anchor.
      if (y.mask.empty() && !r.find("mask"))
        for (int a = 0; a < y.num; ++a) y.mask.push_back(a);
      layer.ignored_keys = r.keep({"jitter", "ignore_thresh", "truth_thresh", "random", "max"});
      layer.op = y;
    } else {
      fail("darknet cfg '", source, "', line ", sec.line, ": unknown or unsupported section [", name, "]");
    }
    r.check_all_used();
    cfg.layers.push_back(std::move(layer));
  }
  infer_shapes(cfg);
  return cfg;
}

inline Config read_cfg(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  SIMAD_CHECK(in, "darknet cfg: cannot open '", path.string(), "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  SIMAD_CHECK(text.size() <= (size_t(16) << 20), "darknet cfg '", path.string(), "': larger than 16 MiB");
  return parse_cfg(text, path.string());
}

// Sets a new input size and recomputes every shape (the cfg's width/height are only defaults).
inline void set_input_size(Config& cfg, int width, int height) {
  cfg.net.width = width;
  cfg.net.height = height;
  infer_shapes(cfg);
}

// ------------------------------------------------------------------------------------------------
// The cfg text of `cfg` (what parse_cfg reads back as the same architecture): lets the CLI write
// the built-in architectures to files, and tests round-trip the parser.
inline std::string to_cfg_text(const Config& cfg) {
  std::ostringstream os;
  os << "[net]\nbatch=" << cfg.net.batch << "\nwidth=" << cfg.net.width << "\nheight=" << cfg.net.height
     << "\nchannels=" << cfg.net.channels << "\n";
  auto list = [&](const auto& v) {
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  };
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    const Layer& l = cfg.layers[i];
    os << "\n";
    if (const auto* c = l.as<Convolutional>()) {
      os << "[convolutional]\n";
      if (c->batch_normalize) os << "batch_normalize=1\n";
      os << "filters=" << c->filters << "\nsize=" << c->size << "\nstride=" << c->stride << "\npadding=" << c->padding
         << "\nactivation=" << activation_name(c->activation) << "\n";
    } else if (const auto* s = l.as<Shortcut>()) {
      os << "[shortcut]\nfrom=" << s->from - int(i) << "\nactivation=" << activation_name(s->activation) << "\n";
    } else if (const auto* r = l.as<Route>()) {
      os << "[route]\nlayers=";
      for (size_t k = 0; k < r->layers.size(); ++k) os << (k ? "," : "") << r->layers[k];
      os << "\n";
    } else if (const auto* u = l.as<Upsample>()) {
      os << "[upsample]\nstride=" << u->stride << "\n";
      if (u->scale != 1.0f) os << "scale=" << u->scale << "\n";
    } else if (const auto* m = l.as<Maxpool>()) {
      os << "[maxpool]\nsize=" << m->size << "\nstride=" << m->stride << "\npadding=" << m->padding << "\n";
    } else if (const auto* y = l.as<Yolo>()) {
      os << "[yolo]\nmask=";
      list(y->mask);
      os << "\nanchors=";
      list(y->anchors);
      os << "\nclasses=" << y->classes << "\nnum=" << y->num << "\n";
    }
  }
  return os.str();
}

}  // namespace simad::io::darknet
