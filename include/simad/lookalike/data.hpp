// simad/lookalike/data.hpp: the inputs of the lookalike experiment, read from user files, and the
// encoding of user features for the targeting model. No XGBoost here.
// - users CSV: header `user_id,<feature>,...`, one row per user; values are numbers, an empty cell
//   is missing. A feature whose values are all integers in [0, 255] with at most 64 distinct
//   values is categorical (one-hot, levels = max + 1); any other is numeric (used as is). A
//   repeated user_id is counted and skipped (the first row wins).
// - ads JSONL: {"id": int, "package": int, "category": int (optional)}, one ad per line (the
//   SynthAds / `simad embed` format; other keys are ignored). A repeated id is counted and skipped.
// - impressions CSV: header with `period`, `user_id`, and `package_id` (impressions of a whole ad
//   package, what SynthAds writes) or `ad_id` (impressions of single ads), and optionally `clicked`
//   (0/1; without it every row is a click). Rows naming a user without features or an unknown
//   ad/package are counted and skipped; a repeated (period, package or ad, user) is counted and
//   merged (clicked if any copy clicked).
// - ad ids (`simad experiment --ion-embeddings E` writes E.ids.txt): one integer id per line, line k
//   naming row k of the embeddings beside it.
// Malformed lines stop the read with an error naming the file and line. Cells are split at ','
// (no quoting: ids and numbers only).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"

namespace simad::lookalike {

namespace detail {

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Calls f(line_number, line) for each line (1-based, '\r' stripped, empty lines skipped).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  int64_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++number;
    if (!line.empty()) f(number, line);
    pos = end + 1;
  }
}

inline void split_cells(std::string_view line, std::vector<std::string_view>& cells) {
  cells.clear();
  size_t pos = 0;
  while (true) {
    const size_t comma = line.find(',', pos);
    if (comma == std::string_view::npos) {
      cells.push_back(line.substr(pos));
      return;
    }
    cells.push_back(line.substr(pos, comma - pos));
    pos = comma + 1;
  }
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

inline bool parse_int(std::string_view s, int64_t& out) {
  s = trim(s);
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && !s.empty();
}

inline bool parse_float(std::string_view s, float& out) {
  s = trim(s);
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(out);
}

[[noreturn]] inline void bad_line(const std::string& name, int64_t line, const std::string& what) {
  throw Error(name + ":" + std::to_string(line) + ": " + what);
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Users

struct UserTable {
  std::vector<int64_t> ids;                     // row order
  std::unordered_map<int64_t, int32_t> row_of;  // user id -> row
  std::vector<std::string> names;               // feature names
  std::vector<int> levels;                      // per feature: > 0 categorical (one-hot), 0 numeric
  std::vector<float> values;                    // rows x features, NaN = missing
  int64_t duplicates = 0;                       // rows skipped: user id seen before

  int64_t rows() const { return int64_t(ids.size()); }
  int64_t features() const { return int64_t(names.size()); }
  const float* row(int32_t r) const { return values.data() + size_t(r) * names.size(); }
  int32_t find(int64_t id) const {
    const auto it = row_of.find(id);
    return it == row_of.end() ? -1 : it->second;
  }
};

// Decides per feature: categorical (levels) or numeric (0), from the values (see the file comment).
inline void infer_feature_kinds(UserTable& t) {
  const size_t nf = t.names.size();
  t.levels.assign(nf, 0);
  for (size_t f = 0; f < nf; ++f) {
    bool categorical = true;
    int max_value = -1;
    std::vector<bool> seen(256, false);
    int distinct = 0;
    for (int64_t r = 0; r < t.rows() && categorical; ++r) {
      const float v = t.values[size_t(r) * nf + f];
      if (std::isnan(v)) continue;
      if (v < 0 || v > 255 || v != std::floor(v)) {
        categorical = false;
        break;
      }
      const int k = int(v);
      if (!seen[size_t(k)]) seen[size_t(k)] = true, ++distinct;
      max_value = std::max(max_value, k);
    }
    if (categorical && distinct <= 64 && max_value >= 0) t.levels[f] = max_value + 1;
  }
}

inline UserTable parse_users_csv(std::string_view text, const std::string& name = "users.csv") {
  UserTable t;
  std::vector<std::string_view> cells;
  bool header = true;
  detail::for_each_line(text, [&](int64_t line, std::string_view s) {
    detail::split_cells(s, cells);
    if (header) {
      header = false;
      if (detail::trim(cells[0]) != "user_id") detail::bad_line(name, line, "the header must start with user_id");
      if (cells.size() < 2) detail::bad_line(name, line, "no feature columns after user_id");
      for (size_t i = 1; i < cells.size(); ++i) t.names.emplace_back(detail::trim(cells[i]));
      return;
    }
    if (cells.size() != t.names.size() + 1)
      detail::bad_line(name, line, "expected " + std::to_string(t.names.size() + 1) + " cells, got " +
                                       std::to_string(cells.size()));
    int64_t id = 0;
    if (!detail::parse_int(cells[0], id)) detail::bad_line(name, line, "user_id is not an integer");
    if (t.row_of.count(id)) {
      ++t.duplicates;
      return;
    }
    t.row_of.emplace(id, int32_t(t.ids.size()));
    t.ids.push_back(id);
    for (size_t i = 1; i < cells.size(); ++i) {
      float v = std::numeric_limits<float>::quiet_NaN();
      if (!detail::trim(cells[i]).empty() && !detail::parse_float(cells[i], v))
        detail::bad_line(name, line, "column " + t.names[i - 1] + " is not a number");
      t.values.push_back(v);
    }
  });
  if (header) throw Error(name + ": empty file (expected a header user_id,...)");
  infer_feature_kinds(t);
  return t;
}

inline UserTable read_users_csv(const std::filesystem::path& path) {
  return parse_users_csv(detail::read_text(path), path.string());
}

// One-hot layout: categorical feature f takes columns offset[f] .. offset[f] + levels[f] - 1,
// a numeric one the single column offset[f].
struct FeatureLayout {
  std::vector<int64_t> offset;
  int64_t cols = 0;
};

inline FeatureLayout feature_layout(const UserTable& t) {
  FeatureLayout l;
  for (int lv : t.levels) l.offset.push_back(l.cols), l.cols += lv > 0 ? lv : 1;
  return l;
}

// A CSR matrix: what the targeting model is trained on.
struct Csr {
  std::vector<size_t> indptr{0};
  std::vector<unsigned> indices;
  std::vector<float> values;
  int64_t cols = 0;
  int64_t rows() const { return int64_t(indptr.size()) - 1; }
};

// The encoded rows `rows` of `t`: a categorical value v sets its one-hot column to 1 and leaves the
// feature's other columns absent; numeric values are stored as is; missing values are absent. For
// trees, "absent" on a one-hot column splits exactly like 0 (XGBoost learns the missing direction).
inline Csr encode_users(const UserTable& t, const FeatureLayout& l, std::span<const int32_t> rows) {
  Csr m;
  m.cols = l.cols;
  const size_t nf = t.names.size();
  m.indptr.reserve(rows.size() + 1);
  m.indices.reserve(rows.size() * nf);
  m.values.reserve(rows.size() * nf);
  for (int32_t r : rows) {
    const float* v = t.row(r);
    for (size_t f = 0; f < nf; ++f) {
      if (std::isnan(v[f])) continue;
      if (t.levels[f] > 0) {
        m.indices.push_back(unsigned(l.offset[f] + int64_t(v[f])));
        m.values.push_back(1.0f);
      } else {
        m.indices.push_back(unsigned(l.offset[f]));
        m.values.push_back(v[f]);
      }
    }
    m.indptr.push_back(m.values.size());
  }
  return m;
}

// The same rows as a dense (rows, cols) matrix with 0/1 one-hot columns (numeric as is, NaN missing).
inline std::vector<float> encode_users_dense(const UserTable& t, const FeatureLayout& l, std::span<const int32_t> rows) {
  std::vector<float> out(rows.size() * size_t(l.cols), 0.0f);
  const size_t nf = t.names.size();
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* v = t.row(rows[i]);
    float* o = out.data() + i * size_t(l.cols);
    for (size_t f = 0; f < nf; ++f) {
      if (t.levels[f] > 0) {
        if (std::isnan(v[f])) {
          for (int k = 0; k < t.levels[f]; ++k) o[l.offset[f] + k] = std::numeric_limits<float>::quiet_NaN();
        } else {
          o[l.offset[f] + int64_t(v[f])] = 1.0f;
        }
      } else {
        o[l.offset[f]] = v[f];
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Ads

struct AdTable {
  std::vector<int64_t> ids, package, category;  // category -1: unknown
  std::vector<std::string> split;               // "" when the row has none
  std::unordered_map<int64_t, int32_t> row_of;
  int64_t duplicates = 0;
  int64_t size() const { return int64_t(ids.size()); }
  int32_t find(int64_t id) const {
    const auto it = row_of.find(id);
    return it == row_of.end() ? -1 : it->second;
  }
  void add(int64_t id, int64_t pkg, int64_t cat, std::string sp = {}) {
    if (row_of.count(id)) {
      ++duplicates;
      return;
    }
    row_of.emplace(id, int32_t(ids.size()));
    ids.push_back(id), package.push_back(pkg), category.push_back(cat), split.push_back(std::move(sp));
  }
  std::vector<int64_t> ads_of_package(int64_t p) const {
    std::vector<int64_t> out;
    for (size_t i = 0; i < ids.size(); ++i)
      if (package[i] == p) out.push_back(ids[i]);
    return out;
  }
};

inline AdTable parse_ads_jsonl(std::string_view text, const std::string& name = "ads.jsonl") {
  AdTable t;
  detail::for_each_line(text, [&](int64_t line, std::string_view s) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const std::exception& e) {
      detail::bad_line(name, line, std::string("not JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("id") || !j["id"].is_number_integer())
      detail::bad_line(name, line, "expected an object with an integer \"id\"");
    if (!j.contains("package") || !j["package"].is_number_integer())
      detail::bad_line(name, line, "expected an integer \"package\" (the ad package the ad belongs to)");
    const int64_t cat = j.contains("category") && j["category"].is_number_integer() ? j["category"].get<int64_t>() : -1;
    std::string sp = j.contains("split") && j["split"].is_string() ? j["split"].get<std::string>() : std::string();
    t.add(j["id"].get<int64_t>(), j["package"].get<int64_t>(), cat, std::move(sp));
  });
  return t;
}

inline AdTable read_ads_jsonl(const std::filesystem::path& path) {
  return parse_ads_jsonl(detail::read_text(path), path.string());
}

// ------------------------------------------------------------------------------------------------
// Ad ids: the ad of each embedding row

inline std::vector<int64_t> parse_ad_ids(std::string_view text, const std::string& name = "ids.txt") {
  std::vector<int64_t> ids;
  detail::for_each_line(text, [&](int64_t line, std::string_view s) {
    int64_t id = 0;
    if (!detail::parse_int(s, id)) detail::bad_line(name, line, "not an integer ad id");
    ids.push_back(id);
  });
  return ids;
}

inline std::vector<int64_t> read_ad_ids(const std::filesystem::path& path) {
  return parse_ad_ids(detail::read_text(path), path.string());
}

// ------------------------------------------------------------------------------------------------
// Impressions

enum class KeyKind { package, ad };

// Rows sorted by (key, period, user), unique. `key` is a package id or an ad id (kind).
struct ImpressionTable {
  KeyKind kind = KeyKind::package;
  std::vector<int64_t> key;
  std::vector<int32_t> period;
  std::vector<int32_t> user;  // row of the UserTable
  std::vector<uint8_t> clicked;
  std::unordered_map<int64_t, std::pair<int64_t, int64_t>> range_of;  // key -> [begin, end)
  // What the read skipped or merged.
  int64_t lines = 0, unknown_users = 0, unknown_keys = 0, duplicates = 0;

  int64_t size() const { return int64_t(key.size()); }
  std::pair<int64_t, int64_t> range(int64_t k) const {
    const auto it = range_of.find(k);
    return it == range_of.end() ? std::pair<int64_t, int64_t>{0, 0} : it->second;
  }
};

// Sorts, merges duplicates, builds range_of.
inline void finish_impressions(ImpressionTable& t) {
  const size_t n = t.key.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (t.key[a] != t.key[b]) return t.key[a] < t.key[b];
    if (t.period[a] != t.period[b]) return t.period[a] < t.period[b];
    return t.user[a] < t.user[b];
  });
  ImpressionTable s;
  s.kind = t.kind, s.lines = t.lines, s.unknown_users = t.unknown_users, s.unknown_keys = t.unknown_keys;
  s.duplicates = t.duplicates;
  for (uint32_t i : order) {
    const size_t m = s.key.size();
    if (m > 0 && s.key[m - 1] == t.key[i] && s.period[m - 1] == t.period[i] && s.user[m - 1] == t.user[i]) {
      s.clicked[m - 1] = uint8_t(s.clicked[m - 1] | t.clicked[i]);
      ++s.duplicates;
      continue;
    }
    s.key.push_back(t.key[i]), s.period.push_back(t.period[i]), s.user.push_back(t.user[i]);
    s.clicked.push_back(t.clicked[i]);
  }
  for (int64_t b = 0; b < s.size();) {
    int64_t e = b;
    while (e < s.size() && s.key[size_t(e)] == s.key[size_t(b)]) ++e;
    s.range_of.emplace(s.key[size_t(b)], std::pair<int64_t, int64_t>{b, e});
    b = e;
  }
  t = std::move(s);
}

inline ImpressionTable parse_impressions_csv(std::string_view text, const UserTable& users, const AdTable& ads,
                                             const std::string& name = "impressions.csv") {
  ImpressionTable t;
  std::unordered_set<int64_t> packages(ads.package.begin(), ads.package.end());
  std::vector<std::string_view> cells;
  int c_period = -1, c_user = -1, c_key = -1, c_clicked = -1;
  size_t ncells = 0;
  bool header = true;
  detail::for_each_line(text, [&](int64_t line, std::string_view s) {
    detail::split_cells(s, cells);
    if (header) {
      header = false;
      ncells = cells.size();
      for (size_t i = 0; i < cells.size(); ++i) {
        const std::string_view c = detail::trim(cells[i]);
        if (c == "period") c_period = int(i);
        else if (c == "user_id") c_user = int(i);
        else if (c == "clicked") c_clicked = int(i);
        else if (c == "package_id" || c == "ad_id") {
          if (c_key >= 0) detail::bad_line(name, line, "both package_id and ad_id columns");
          c_key = int(i);
          t.kind = c == "ad_id" ? KeyKind::ad : KeyKind::package;
        }
      }
      if (c_period < 0 || c_user < 0 || c_key < 0)
        detail::bad_line(name, line, "the header needs period, user_id and package_id or ad_id (clicked optional)");
      return;
    }
    ++t.lines;
    if (cells.size() != ncells)
      detail::bad_line(name, line, "expected " + std::to_string(ncells) + " cells, got " + std::to_string(cells.size()));
    int64_t period = 0, user = 0, key = 0, clicked = 1;
    if (!detail::parse_int(cells[size_t(c_period)], period) || period < 0 || period > 1000000)
      detail::bad_line(name, line, "period is not a small non-negative integer");
    if (!detail::parse_int(cells[size_t(c_user)], user)) detail::bad_line(name, line, "user_id is not an integer");
    if (!detail::parse_int(cells[size_t(c_key)], key))
      detail::bad_line(name, line, std::string(t.kind == KeyKind::ad ? "ad_id" : "package_id") + " is not an integer");
    if (c_clicked >= 0 && (!detail::parse_int(cells[size_t(c_clicked)], clicked) || (clicked != 0 && clicked != 1)))
      detail::bad_line(name, line, "clicked must be 0 or 1");
    const int32_t row = users.find(user);
    if (row < 0) {
      ++t.unknown_users;
      return;
    }
    if (t.kind == KeyKind::ad ? ads.find(key) < 0 : packages.count(key) == 0) {
      ++t.unknown_keys;
      return;
    }
    t.key.push_back(key), t.period.push_back(int32_t(period)), t.user.push_back(row);
    t.clicked.push_back(uint8_t(clicked));
  });
  if (header) throw Error(name + ": empty file (expected a header period,package_id|ad_id,user_id[,clicked])");
  finish_impressions(t);
  return t;
}

inline ImpressionTable read_impressions_csv(const std::filesystem::path& path, const UserTable& users, const AdTable& ads) {
  return parse_impressions_csv(detail::read_text(path), users, ads, path.string());
}

}  // namespace simad::lookalike
