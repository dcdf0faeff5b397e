// simad/data/synthads.hpp: SynthAds, a synthetic multimodal ad world generated deterministically
// from a seed (docs/synthads.md). It has the difficulties the papers describe: copy that alone
// cannot tell sibling products apart (text-ambiguous ads), and images whose product is small and
// surrounded by larger distractors (some image-ambiguous: tiny or occluded). Ground-truth boxes of
// every object, train/validation/test splits with categories held out of training, and users with
// impressions and clicks of ad packages over two periods for the lookalike experiment.
//
//   SynthConfig cfg;  cfg.ads = 2000;  cfg.seed = 7;
//   write_synthads("out/", cfg);                     // JSONL + images + CSVs, see write_synthads
//   Ad ad = generate_ad(default_catalogue(), cfg, 0);  // one ad in memory (text, words, image, boxes)
//
// Every ad is a pure function of (seed, index): generation runs in parallel and the same seed gives
// the same bytes on any thread count.
#pragma once


#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/progress.hpp"
#include "simad/core/rng.hpp"
#include "simad/data/synthads/ad_text.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/data/synthads/audience.hpp"
#include "simad/data/synthads/catalogue.hpp"
#include "simad/data/synthads/raster.hpp"
#include "simad/image/write.hpp"

namespace simad::data::synthads {

struct SynthConfig {
  int ads = 2000;
  uint64_t seed = 7;
  Language lang = Language::zh;
  int image_size = 416;
  std::string image_format = "jpg";  // jpg or png
  int jpeg_quality = 90;
  int ads_per_package = 5;            // one advertiser's ads of one category
  double text_ambiguous_share = 0.3;  // half name only the industry, half only generic words
  double image_ambiguous_share = 0.15;  // product tiny (half) or half-occluded (half)
  double product_area_min = 0.03, product_area_max = 0.15;
  double distractor_area_min = 0.12, distractor_area_max = 0.30;
  int max_distractors = 4;
  double heldout_category_share = 0.15;  // categories only in test (unseen-category evaluation)
  double train_share = 0.8, validation_share = 0.1;  // of the seen categories' packages; rest test
  AudienceConfig audience;
  bool write_images = true;
  bool progress = false;
  bool record_touched = false;  // fill Ad::touched (tests: boxes against pixels)
};

enum class ObjectRole : uint8_t { product, distractor };

struct ObjectBox {
  PixelBox box;       // pixels the object touched (coverage > 0)
  ObjectRole role = ObjectRole::product;
  int category = -1;  // catalogue category whose signature it wears; -1: a random, non-catalogue look
  Signature look;
};

struct Ad {
  int id = 0;
  int package = 0;
  int category = 0;
  int industry = 0;
  std::string split;  // train, validation, test
  TextClue clue = TextClue::product;
  bool image_ambiguous = false;
  std::vector<Word> words;
  std::string text;
  std::vector<ObjectBox> objects;  // objects[0] is the product
  RgbImage image;                  // empty unless rendered
  // With SynthConfig::record_touched: per pixel, bit k set when objects[k] (k < 8) touched it.
  std::vector<uint8_t> touched;
};

// Which categories never appear in train/validation: a seeded choice of round(share * count).
inline std::vector<bool> heldout_categories(const Catalogue& catalogue, const SynthConfig& cfg) {
  const size_t n = catalogue.categories.size();
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng r(cfg.seed, 0x4E1D0u);
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[r.next_below(uint32_t(i + 1))]);
  std::vector<bool> held(n, false);
  const size_t count = size_t(std::lround(cfg.heldout_category_share * double(n)));
  for (size_t i = 0; i < std::min(count, n); ++i) held[size_t(order[i])] = true;
  return held;
}

inline int package_count(const SynthConfig& cfg) { return (cfg.ads + cfg.ads_per_package - 1) / cfg.ads_per_package; }

inline int package_category(const Catalogue& catalogue, const SynthConfig& cfg, int package) {
  return int(Rng(cfg.seed, 0xCA7Eu).bits_at(uint64_t(package)) % catalogue.categories.size());
}

inline std::string package_split(const Catalogue& catalogue, const SynthConfig& cfg, int package,
                                 const std::vector<bool>& heldout) {
  if (heldout[size_t(package_category(catalogue, cfg, package))]) return "test";
  const double u = Rng(cfg.seed, 0x5B117u).uniform_at(uint64_t(package));
  return u < cfg.train_share ? "train" : u < cfg.train_share + cfg.validation_share ? "validation" : "test";
}

namespace detail {

inline Colour random_colour(Rng& r, int lo, int hi) {
  auto c = [&] { return uint8_t(lo + int(r.next_below(uint32_t(hi - lo + 1)))); };
  const uint8_t red = c(), green = c(), blue = c();
  return {red, green, blue};
}

// Centre of an object of half-size h inside the image (wholly inside when it fits).
inline double random_centre(Rng& r, double h, int size) {
  const double lo = std::min(h, size / 2.0), hi = std::max(size - h, size / 2.0);
  return lo + (hi - lo) * r.next_uniform();
}

}  // namespace detail

// Ad number `index` (0-based) of the world `cfg` describes; `render` paints its image.
inline Ad generate_ad(const Catalogue& catalogue, const SynthConfig& cfg, int index, bool render = true,
                      const std::vector<bool>* heldout = nullptr) {
  SIMAD_CHECK(index >= 0 && index < cfg.ads, "synthads: ad index " + std::to_string(index) + " out of range");
  Ad ad;
  ad.id = index;
  ad.package = index / cfg.ads_per_package;
  ad.category = package_category(catalogue, cfg, ad.package);
  const Category& category = catalogue.categories[size_t(ad.category)];
  ad.industry = category.industry;
  if (heldout) {
    ad.split = package_split(catalogue, cfg, ad.package, *heldout);
  } else {
    ad.split = package_split(catalogue, cfg, ad.package, heldout_categories(catalogue, cfg));
  }

  // Separate streams for text and image: changing one never shifts the other.
  Rng text_rng = Rng(cfg.seed, 0x7E47u).substream(uint64_t(index));
  const double t = text_rng.next_uniform();
  ad.clue = t >= cfg.text_ambiguous_share       ? TextClue::product
            : t < cfg.text_ambiguous_share / 2 ? TextClue::industry
                                               : TextClue::generic;
  ad.words = make_ad_words(catalogue, category, ad.clue, cfg.lang, text_rng);
  ad.text = join_ad_words(ad.words, cfg.lang);

  Rng r = Rng(cfg.seed, 0x1A6Eu).substream(uint64_t(index));
  const int size = cfg.image_size;
  const double pixels = double(size) * double(size);
  ad.image_ambiguous = r.next_uniform() < cfg.image_ambiguous_share;
  const bool occluded = ad.image_ambiguous && r.next_uniform() < 0.5;
  const bool tiny = ad.image_ambiguous && !occluded;

  Background bg;
  bg.from = detail::random_colour(r, 40, 230);
  bg.to = detail::random_colour(r, 40, 230);
  bg.angle = 2.0 * M_PI * r.next_uniform();
  bg.texture = int(r.next_below(3));
  bg.texture_period = 12.0 + 30.0 * r.next_uniform();
  bg.noise = 4 + int(r.next_below(14));
  bg.seed = uint32_t(r.next_u32());

  // Product geometry first (so the distractors' draws do not move it), then the distractors.
  const double area = tiny ? 0.006 + 0.012 * r.next_uniform()
                           : cfg.product_area_min + (cfg.product_area_max - cfg.product_area_min) * r.next_uniform();
  const double half = 0.5 * std::sqrt(area * pixels);
  const double pcx = detail::random_centre(r, half, size), pcy = detail::random_centre(r, half, size);

  struct Planned {
    Signature look;
    int category;
    double cx, cy, hw, hh;
  };
  std::vector<Planned> distractors;
  const int count = int(r.next_below(uint32_t(cfg.max_distractors + 1)));
  for (int k = 0; k < count + (occluded ? 1 : 0); ++k) {
    Planned d;
    if (r.next_uniform() < 0.5) {  // another category's signature
      int other = int(r.next_below(uint32_t(catalogue.categories.size() - 1)));
      if (other >= ad.category) ++other;
      d.category = other;
      d.look = catalogue.categories[size_t(other)].look;
    } else {
      d.category = -1;
      d.look.shape = Shape(r.next_below(kShapeCount));
      d.look.pattern = Pattern(r.next_below(kPatternCount));
      d.look.primary = detail::random_colour(r, 20, 240);
      d.look.secondary = detail::random_colour(r, 20, 240);
    }
    const double darea = cfg.distractor_area_min + (cfg.distractor_area_max - cfg.distractor_area_min) * r.next_uniform();
    const double aspect = 0.75 + 0.5 * r.next_uniform();
    d.hw = 0.5 * std::sqrt(darea * pixels) * aspect;
    d.hh = 0.5 * std::sqrt(darea * pixels) / aspect;
    if (occluded && k == count) {  // the occluder: centred on the product's edge, covers about half
      const double angle = 2.0 * M_PI * r.next_uniform();
      d.cx = pcx + std::cos(angle) * (half + d.hw * 0.9);
      d.cy = pcy + std::sin(angle) * (half + d.hh * 0.9);
    } else {
      d.cx = detail::random_centre(r, d.hw, size);
      d.cy = detail::random_centre(r, d.hh, size);
    }
    distractors.push_back(d);
  }

  ad.objects.push_back({{}, ObjectRole::product, ad.category, category.look});
  if (!render) return ad;

  ad.image = RgbImage(size, size);
  paint_background(ad.image, bg);
  if (cfg.record_touched) ad.touched.assign(size_t(size) * size_t(size), 0);
  uint8_t* mask = cfg.record_touched ? ad.touched.data() : nullptr;
  // Distractors keep their planned order in `objects` (1..n); the occluder is drawn after the product.
  const size_t before = distractors.size() - (occluded ? 1 : 0);
  auto draw = [&](size_t k) {
    const Planned& d = distractors[k];
    const uint8_t bit = uint8_t(k + 1 < 8 ? 1u << (k + 1) : 0u);
    return ObjectBox{draw_object(ad.image, d.look, d.cx, d.cy, d.hw, d.hh, mask, bit), ObjectRole::distractor,
                     d.category, d.look};
  };
  std::vector<ObjectBox> drawn;
  for (size_t k = 0; k < before; ++k) drawn.push_back(draw(k));
  ad.objects[0].box = draw_object(ad.image, category.look, pcx, pcy, half, half, mask, 1);
  if (occluded) drawn.push_back(draw(distractors.size() - 1));
  for (ObjectBox& o : drawn) ad.objects.push_back(o);  // empty boxes kept so bits match indices
  return ad;
}

namespace detail {

// PNG or JPEG bytes of an RGB image (image::encode; deterministic).
inline std::vector<unsigned char> encode_image(const RgbImage& img, const std::string& format, int jpeg_quality) {
  SIMAD_CHECK(format == "png" || format == "jpg", "synthads: image format '" + format + "' is not png or jpg");
  return image::encode(img.pixels.data(), img.width, img.height, 3,
                       format == "png" ? image::ImageFormat::png : image::ImageFormat::jpeg, jpeg_quality);
}

// Text files go through io::AtomicFile: an interrupted run never leaves a half-written file.
inline void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& body) {
  std::ostringstream text;
  body(text);
  io::write_file_atomically(path, text.view());
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  io::write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

inline std::string image_name(const SynthConfig& cfg, int id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%06d.%s", id, cfg.image_format.c_str());
  return std::string("images/") + buf;
}

}  // namespace detail

// The JSONL row of an ad (image path relative to the output directory).
inline nlohmann::json ad_json(const Catalogue& catalogue, const SynthConfig& cfg, const Ad& ad) {
  nlohmann::json boxes = nlohmann::json::array();
  for (const ObjectBox& o : ad.objects) {
    if (o.box.empty()) continue;  // a distractor wholly outside the image (cannot happen with centred plans)
    boxes.push_back({{"x", o.box.x0}, {"y", o.box.y0}, {"w", o.box.x1 - o.box.x0}, {"h", o.box.y1 - o.box.y0},
                     {"role", o.role == ObjectRole::product ? "product" : "distractor"}, {"category", o.category},
                     {"shape", shape_name(o.look.shape)}});
  }
  nlohmann::json words = nlohmann::json::array();
  for (const Word& w : ad.words) words.push_back({w.text, w.pos});
  const Category& c = catalogue.categories[size_t(ad.category)];
  return {{"id", ad.id},
          {"text", ad.text},
          {"image", detail::image_name(cfg, ad.id)},
          {"category", ad.category},
          {"category_name", c.en},
          {"industry", ad.industry},
          {"industry_name", catalogue.industries[size_t(ad.industry)].en},
          {"boxes", boxes},
          {"lang", cfg.lang == Language::zh ? "zh" : "en"},
          {"split", ad.split},
          {"package", ad.package},
          {"text_clue", text_clue_name(ad.clue)},
          {"image_ambiguous", ad.image_ambiguous},
          {"words", words}};
}

// A contact sheet: the first `count` ads as `thumb`-pixel thumbnails in rows of `columns`, with the
// product's box outlined in green and the distractors' in red (docs/synthads.md shows one).
inline RgbImage contact_sheet(const Catalogue& catalogue, const SynthConfig& cfg, int count, int columns, int thumb) {
  count = std::min(count, cfg.ads);
  const int rows = (count + columns - 1) / columns, gap = 4;
  RgbImage sheet(columns * (thumb + gap) + gap, rows * (thumb + gap) + gap);
  std::fill(sheet.pixels.begin(), sheet.pixels.end(), uint8_t(255));
  for (int i = 0; i < count; ++i) {
    const Ad ad = generate_ad(catalogue, cfg, i);
    const int ox = gap + (i % columns) * (thumb + gap), oy = gap + (i / columns) * (thumb + gap);
    const double f = double(ad.image.width) / thumb;
    for (int y = 0; y < thumb; ++y)  // box filter over the source pixels each thumbnail pixel covers
      for (int x = 0; x < thumb; ++x) {
        const int sx0 = int(x * f), sx1 = std::max(sx0 + 1, int((x + 1) * f));
        const int sy0 = int(y * f), sy1 = std::max(sy0 + 1, int((y + 1) * f));
        int sum[3] = {0, 0, 0};
        for (int sy = sy0; sy < sy1; ++sy)
          for (int sx = sx0; sx < sx1; ++sx)
            for (int k = 0; k < 3; ++k) sum[k] += ad.image.at(sx, sy)[k];
        for (int k = 0; k < 3; ++k) sheet.at(ox + x, oy + y)[k] = uint8_t(sum[k] / ((sx1 - sx0) * (sy1 - sy0)));
      }
    for (size_t o = ad.objects.size(); o-- > 0;) {  // product last: on top
      const PixelBox& b = ad.objects[o].box;
      const bool product = ad.objects[o].role == ObjectRole::product;
      const uint8_t colour[3] = {uint8_t(product ? 0 : 230), uint8_t(product ? 230 : 0), 0};
      const int x0 = ox + int(b.x0 / f), x1 = ox + std::min(thumb - 1, int((b.x1 - 1) / f));
      const int y0 = oy + int(b.y0 / f), y1 = oy + std::min(thumb - 1, int((b.y1 - 1) / f));
      for (int x = x0; x <= x1; ++x)
        for (int y : {y0, y1}) std::copy(colour, colour + 3, sheet.at(x, y));
      for (int y = y0; y <= y1; ++y)
        for (int x : {x0, x1}) std::copy(colour, colour + 3, sheet.at(x, y));
    }
  }
  return sheet;
}

struct SynthSummary {
  int ads = 0, train = 0, validation = 0, test = 0, heldout_categories = 0, packages = 0, users = 0;
  int64_t impressions = 0, clicks = 0;
};

// Writes the world into `dir` (created if needed):
//   ads.jsonl (every ad) and train.jsonl / validation.jsonl / test.jsonl (the splits),
//   images/NNNNNN.jpg|png, categories.jsonl, users.csv (user_id + 57 features),
//   packages.csv, impressions.csv (period,package,user,clicked), synthads.json (config + counts).
inline SynthSummary write_synthads(const std::filesystem::path& dir, const SynthConfig& cfg,
                                   const Catalogue& catalogue = default_catalogue()) {
  namespace fs = std::filesystem;
  SIMAD_CHECK(cfg.ads > 0, "synthads: --ads must be positive");
  SIMAD_CHECK(cfg.image_size >= 32 && cfg.image_size <= 4096, "synthads: image size must be in [32, 4096]");
  SIMAD_CHECK(cfg.image_format == "jpg" || cfg.image_format == "png", "synthads: image format must be jpg or png");
  SIMAD_CHECK(cfg.ads_per_package > 0, "synthads: ads per package must be positive");
  fs::create_directories(dir / "images");
  const std::vector<bool> heldout = heldout_categories(catalogue, cfg);

  std::vector<std::string> rows(size_t(cfg.ads));
  std::vector<std::string> splits(size_t(cfg.ads));
  {
    ProgressBar bar("synth: ads", cfg.ads, cfg.progress);
    parallel_for(cfg.ads, 8, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const Ad ad = generate_ad(catalogue, cfg, int(i), cfg.write_images, &heldout);
        if (cfg.write_images)
          detail::write_bytes(dir / detail::image_name(cfg, ad.id),
                              detail::encode_image(ad.image, cfg.image_format, cfg.jpeg_quality));
        rows[size_t(i)] = ad_json(catalogue, cfg, ad).dump();
        splits[size_t(i)] = ad.split;
        bar.advance();
      }
    });
  }

  SynthSummary s;
  s.ads = cfg.ads;
  detail::write_file_atomically(dir / "ads.jsonl", [&](std::ostream& o) {
    for (const std::string& row : rows) o << row << '\n';
  });
  for (const char* split : {"train", "validation", "test"}) {
    int n = 0;
    detail::write_file_atomically(dir / (std::string(split) + ".jsonl"), [&](std::ostream& o) {
      for (size_t i = 0; i < rows.size(); ++i)
        if (splits[i] == split) o << rows[i] << '\n', ++n;
    });
    (std::string(split) == "train" ? s.train : std::string(split) == "validation" ? s.validation : s.test) = n;
  }
  detail::write_file_atomically(dir / "categories.jsonl", [&](std::ostream& o) {
    for (const Category& c : catalogue.categories) {
      const Industry& ind = catalogue.industries[size_t(c.industry)];
      o << nlohmann::json{{"id", c.id},
                          {"zh", c.zh},
                          {"en", c.en},
                          {"industry", c.industry},
                          {"industry_zh", ind.zh},
                          {"industry_en", ind.en},
                          {"shape", shape_name(c.look.shape)},
                          {"colour", {c.look.primary.r, c.look.primary.g, c.look.primary.b}},
                          {"pattern", pattern_name(c.look.pattern)},
                          {"heldout", bool(heldout[size_t(c.id)])}}
                  .dump()
        << '\n';
    }
  });
  for (bool h : heldout) s.heldout_categories += h ? 1 : 0;

  // Users, packages, impressions.
  const Audience audience(catalogue, cfg.seed, cfg.audience);
  s.users = cfg.audience.users;
  std::vector<std::string> user_rows(size_t(cfg.audience.users));
  parallel_for(cfg.audience.users, 256, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      std::string line = std::to_string(u);
      for (int v : audience.feature_values(int(u))) line += ',' + std::to_string(v);
      user_rows[size_t(u)] = std::move(line);
    }
  });
  detail::write_file_atomically(dir / "users.csv", [&](std::ostream& o) {
    o << "user_id";
    for (const UserFeature& f : audience.features()) o << ',' << f.name;
    o << '\n';
    for (const std::string& row : user_rows) o << row << '\n';
  });

  s.packages = package_count(cfg);
  std::vector<std::string> impression_rows(size_t(s.packages));
  std::vector<int64_t> clicks(size_t(s.packages), 0);
  {
    ProgressBar bar("synth: clicks", s.packages, cfg.progress);
    parallel_for(s.packages, 4, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        std::string text;
        for (int period = 1; period <= 2; ++period) {
          for (const Impression& im :
               package_impressions(audience, int(p), package_category(catalogue, cfg, int(p)), period, cfg.seed)) {
            text += std::to_string(im.period) + ',' + std::to_string(im.package) + ',' + std::to_string(im.user) +
                    (im.clicked ? ",1\n" : ",0\n");
            clicks[size_t(p)] += im.clicked ? 1 : 0;
          }
        }
        impression_rows[size_t(p)] = std::move(text);
        bar.advance();
      }
    });
  }
  detail::write_file_atomically(dir / "impressions.csv", [&](std::ostream& o) {
    o << "period,package_id,user_id,clicked\n";
    for (const std::string& t : impression_rows) o << t;
  });
  detail::write_file_atomically(dir / "packages.csv", [&](std::ostream& o) {
    o << "package_id,category,industry,split,first_ad,ads\n";
    for (int p = 0; p < s.packages; ++p) {
      const int c = package_category(catalogue, cfg, p);
      const int first = p * cfg.ads_per_package, n = std::min(cfg.ads_per_package, cfg.ads - first);
      o << p << ',' << c << ',' << catalogue.categories[size_t(c)].industry << ','
        << package_split(catalogue, cfg, p, heldout) << ',' << first << ',' << n << '\n';
    }
  });
  for (int64_t c : clicks) s.clicks += c;
  s.impressions = int64_t(s.packages) * 2 * cfg.audience.impressions_per_package;

  detail::write_file_atomically(dir / "synthads.json", [&](std::ostream& o) {
    o << nlohmann::json{{"generator", "simad synth"},
                        {"seed", cfg.seed},
                        {"ads", cfg.ads},
                        {"lang", cfg.lang == Language::zh ? "zh" : "en"},
                        {"image_size", cfg.image_size},
                        {"image_format", cfg.image_format},
                        {"ads_per_package", cfg.ads_per_package},
                        {"text_ambiguous_share", cfg.text_ambiguous_share},
                        {"image_ambiguous_share", cfg.image_ambiguous_share},
                        {"heldout_categories", s.heldout_categories},
                        {"categories", catalogue.categories.size()},
                        {"splits", {{"train", s.train}, {"validation", s.validation}, {"test", s.test}}},
                        {"users", s.users},
                        {"packages", s.packages},
                        {"impressions", s.impressions},
                        {"clicks", s.clicks}}
                  .dump(2)
      << '\n';
  });
  return s;
}

}  // namespace simad::data::synthads
