// libFuzzer target for the lookalike inputs a user supplies to `simad expand` (include/simad/lookalike/
// data.hpp): users CSV, ads JSONL, impressions CSV and the ad ids beside an embeddings file. The first
// byte of an input picks the parser (mod 4: users, ads, impressions, ids), the rest is the file. Each
// parser either accepts the text or throws simad::Error (anything else, a crash or a sanitizer report,
// is a bug), and what it accepts is checked for consistency:
// - users: one row of values per kept id, row_of the inverse of ids, levels one per feature;
// - ads: the per-ad columns of equal length, row_of the inverse of ids;
// - impressions (against a small fixed user and ad table): rows sorted by (key, period, user) and
//   unique, users in range, clicked 0 or 1, range_of covering exactly the rows of each key;
// - ids: written back one per line, they parse to the same ids.
// Seeds: corpus/lookalike_inputs/ (one small file of each kind behind its selector byte).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "simad/lookalike/data.hpp"

namespace lookalike = simad::lookalike;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_users(const lookalike::UserTable& t) {
  check(t.values.size() == size_t(t.rows()) * size_t(t.features()));
  check(t.levels.size() == t.names.size() && t.row_of.size() == t.ids.size());
  for (size_t r = 0; r < t.ids.size(); ++r) check(t.find(t.ids[r]) == int32_t(r));
  for (const int levels : t.levels) check(levels >= 0 && levels <= 256);
}

void check_ads(const lookalike::AdTable& t) {
  const size_t n = t.ids.size();
  check(t.package.size() == n && t.category.size() == n && t.split.size() == n && t.row_of.size() == n);
  for (size_t r = 0; r < n; ++r) check(t.find(t.ids[r]) == int32_t(r));
}

void check_impressions(const lookalike::ImpressionTable& t, const lookalike::UserTable& users) {
  const size_t n = t.key.size();
  check(t.period.size() == n && t.user.size() == n && t.clicked.size() == n);
  for (size_t i = 0; i < n; ++i) {
    check(t.user[i] >= 0 && t.user[i] < users.rows() && t.clicked[i] <= 1 && t.period[i] >= 0);
    if (i > 0)
      check(std::tie(t.key[i - 1], t.period[i - 1], t.user[i - 1]) < std::tie(t.key[i], t.period[i], t.user[i]));
  }
  size_t covered = 0;
  for (const auto& [key, range] : t.range_of) {
    check(range.first < range.second && range.second <= int64_t(n));
    for (int64_t i = range.first; i < range.second; ++i) check(t.key[size_t(i)] == key);
    covered += size_t(range.second - range.first);
  }
  check(covered == n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 16)) return 0;
  const int which = data[0] % 4;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (which == 0) {
      check_users(lookalike::parse_users_csv(text, "fuzz.users.csv"));
    } else if (which == 1) {
      check_ads(lookalike::parse_ads_jsonl(text, "fuzz.ads.jsonl"));
    } else if (which == 2) {
      static const lookalike::UserTable users = lookalike::parse_users_csv("user_id,f\n1,0\n2,1\n3,\n-4,2\n", "u");
      static const lookalike::AdTable ads = lookalike::parse_ads_jsonl(
          "{\"id\":1,\"package\":7}\n{\"id\":2,\"package\":8}\n{\"id\":9,\"package\":7}\n", "a");
      check_impressions(lookalike::parse_impressions_csv(text, users, ads, "fuzz.impressions.csv"), users);
    } else {
      const std::vector<int64_t> ids = lookalike::parse_ad_ids(text, "fuzz.ids.txt");
      std::string back;
      for (const int64_t id : ids) back += std::to_string(id) + "\n";
      check(lookalike::parse_ad_ids(back, "again.ids.txt") == ids);
    }
  } catch (const simad::Error&) {
  }
  return 0;
}
