// tests/lookalike/test_expansion.cpp: the lookalike inputs (users CSV, ads JSONL, impressions CSV, ad ids:
// bad input counted or reported by file and line), the one-hot encoding, similar-ad retrieval
// against a brute-force reference, the expansion's training sets (held-out users never leak,
// negatives only from the package's non-clickers, the ratio), and whole packages end to end.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "simad/lookalike/lookalike.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

using namespace simad;
using simad::testing::error_of;
using namespace simad::lookalike;

TEST_CASE("lookalike/data: users CSV with categorical and numeric columns, duplicates and missing cells") {
  const UserTable t = parse_users_csv(
      "user_id,age,score,flag\n"
      "10,3,0.5,1\n"
      "11,0,-2.25,\n"
      "10,4,9,0\n"  // duplicate id: skipped
      "\n"
      "12,6,1e3,0\r\n",
      "u.csv");
  CHECK(t.rows() == 3);
  CHECK(t.duplicates == 1);
  CHECK(t.names == std::vector<std::string>{"age", "score", "flag"});
  CHECK(t.levels == std::vector<int>{7, 0, 2});  // age 0..6, score numeric, flag 0/1
  CHECK(t.find(12) == 2);
  CHECK(t.find(99) == -1);
  CHECK(std::isnan(t.row(1)[2]));
  CHECK(t.row(2)[1] == 1000.0f);
  CHECK(error_of([] { parse_users_csv("id,a\n1,2\n", "u.csv"); }).find("u.csv:1:") != std::string::npos);
  CHECK(error_of([] { parse_users_csv("user_id,a,b\n1,2,3\n2,3\n", "u.csv"); }).find("u.csv:3: expected 3 cells") !=
        std::string::npos);
  CHECK(error_of([] { parse_users_csv("user_id,a\n1,2\n2,x\n", "u.csv"); }).find("u.csv:3: column a") !=
        std::string::npos);
  CHECK(error_of([] { parse_users_csv("", "u.csv"); }).find("u.csv: empty") != std::string::npos);
}

TEST_CASE("lookalike/data: one-hot encoding, CSR and dense agree") {
  const UserTable t = parse_users_csv("user_id,a,b,c\n1,2,0.5,0\n2,0,,1\n3,1,7,\n", "u.csv");
  const FeatureLayout l = feature_layout(t);
  REQUIRE(l.cols == 3 + 1 + 2);
  const std::vector<int32_t> rows = {2, 0, 1};
  const Csr csr = encode_users(t, l, rows);
  const std::vector<float> dense = encode_users_dense(t, l, rows);
  REQUIRE(csr.rows() == 3);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<float> from_csr(size_t(l.cols), 0.0f);
    for (size_t k = csr.indptr[r]; k < csr.indptr[r + 1]; ++k) from_csr[csr.indices[k]] = csr.values[k];
    for (int64_t c = 0; c < l.cols; ++c) {
      const float d = dense[r * size_t(l.cols) + size_t(c)];
      CHECK(from_csr[size_t(c)] == (std::isnan(d) ? 0.0f : d));
    }
  }
  // Row 2 (user 3): a = 1 -> column 1; b = 7; c missing -> NaN in both c columns of the dense form.
  CHECK(dense[1] == 1.0f);
  CHECK(dense[3] == 7.0f);
  CHECK(std::isnan(dense[4]));
  CHECK(csr.indptr[1] == 2);
}

TEST_CASE("lookalike/data: ads JSONL and impressions CSV count unknown ids and merge duplicates") {
  const UserTable users = parse_users_csv("user_id,f\n100,0\n101,1\n102,1\n", "u.csv");
  const AdTable ads = parse_ads_jsonl(
      "{\"id\": 0, \"package\": 7, \"category\": 3}\n{\"id\": 1, \"package\": 7}\n{\"id\": 2, \"package\": 8}\n"
      "{\"id\": 1, \"package\": 9}\n",
      "a.jsonl");
  CHECK(ads.size() == 3);
  CHECK(ads.duplicates == 1);
  CHECK(ads.ads_of_package(7) == std::vector<int64_t>{0, 1});
  CHECK(ads.category[1] == -1);
  CHECK(error_of([] { parse_ads_jsonl("{\"id\": 0, \"package\": 1}\n{\"id\": 1}\n", "a.jsonl"); })
            .find("a.jsonl:2:") != std::string::npos);
  CHECK(error_of([] { parse_ads_jsonl("{\"id\": 0, \"package\": 1}\nnot json\n", "a.jsonl"); })
            .find("a.jsonl:2: not JSON") != std::string::npos);

  const ImpressionTable t = parse_impressions_csv(
      "period,package_id,user_id,clicked\n"
      "1,7,100,0\n"
      "1,7,101,1\n"
      "1,7,100,1\n"   // duplicate of line 2: merged, clicked
      "1,7,999,1\n"   // user without features
      "1,55,100,1\n"  // unknown package
      "2,8,102,0\n",
      users, ads, "i.csv");
  CHECK(t.kind == KeyKind::package);
  CHECK(t.lines == 6);
  CHECK(t.unknown_users == 1);
  CHECK(t.unknown_keys == 1);
  CHECK(t.duplicates == 1);
  REQUIRE(t.size() == 3);
  const LabelledUsers u = impression_users(t, std::vector<int64_t>{7}, 1);
  CHECK(u.users == std::vector<int32_t>{0, 1});
  CHECK(u.clicked == std::vector<uint8_t>{1, 1});
  CHECK(impression_users(t, std::vector<int64_t>{8}, 1).users.empty());

  // Ad-level impressions without a clicked column: every row is a click.
  const ImpressionTable a = parse_impressions_csv("user_id,ad_id,period\n100,2,1\n101,5,1\n", users, ads, "c.csv");
  CHECK(a.kind == KeyKind::ad);
  CHECK(a.unknown_keys == 1);
  REQUIRE(a.size() == 1);
  CHECK(a.clicked[0] == 1);

  CHECK(error_of([&] { parse_impressions_csv("period,user_id\n1,100\n", users, ads, "i.csv"); }).find("i.csv:1:") !=
        std::string::npos);
  CHECK(error_of([&] { parse_impressions_csv("period,package_id,user_id,clicked\n1,7,100,2\n", users, ads, "i.csv"); })
            .find("i.csv:2: clicked must be 0 or 1") != std::string::npos);
  CHECK(error_of([&] { parse_impressions_csv("period,package_id,user_id\n1,7\n", users, ads, "i.csv"); })
            .find("i.csv:2: expected 3 cells") != std::string::npos);
}

TEST_CASE("lookalike/data: ad ids read back as written, CRLF and blank lines too, a bad line named") {
  Rng rng = testing::test_rng();
  std::vector<int64_t> ids(57);
  for (int64_t& id : ids) id = int64_t(rng.next_u64());
  ids[3] = std::numeric_limits<int64_t>::min(), ids[4] = std::numeric_limits<int64_t>::max(), ids[5] = 0;
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i)
    text += std::to_string(ids[i]) + (i % 3 == 0 ? "\r\n" : "\n") + (i % 7 == 0 ? "\r\n" : "");
  CHECK(parse_ad_ids(text, "e.ids.txt") == ids);
  CHECK(parse_ad_ids(" 12 \n-3", "e.ids.txt") == std::vector<int64_t>{12, -3});
  CHECK(parse_ad_ids("", "e.ids.txt").empty());
  CHECK(error_of([] { parse_ad_ids("1\n2\n\n3x\n", "e.ids.txt"); }) == "e.ids.txt:4: not an integer ad id");
  CHECK(error_of([] { parse_ad_ids("9223372036854775808\n", "e.ids.txt"); }) == "e.ids.txt:1: not an integer ad id");
  CHECK(error_of([] { read_ad_ids("no/such/dir/e.ids.txt"); }).find("no/such/dir/e.ids.txt: cannot open") !=
        std::string::npos);
}

TEST_CASE("lookalike/expansion: similar ads equal a brute-force search, own ads excluded") {
  Rng rng = testing::test_rng();
  const int64_t n = 300, d = 8;
  std::vector<float> emb = testing::random_vector<float>(rng, size_t(n * d));
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = 1000 + 3 * i;  // ids unlike row numbers
  const AdIndex index = build_ad_index(emb.data(), n, d, ids);
  const std::vector<int64_t> own = {ids[5], ids[17], ids[200], 777};  // 777: no embedding
  auto dist = [&](const std::vector<double>& q, int64_t row) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += (q[size_t(j)] - emb[size_t(row * d + j)]) * (q[size_t(j)] - emb[size_t(row * d + j)]);
    return s;
  };
  auto brute = [&](const std::vector<double>& q, int64_t m) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t r = 0; r < n; ++r)
      if (r != 5 && r != 17 && r != 200) all.emplace_back(dist(q, r), ids[size_t(r)]);
    std::sort(all.begin(), all.end());
    std::vector<int64_t> out;
    for (int64_t i = 0; i < m; ++i) out.push_back(all[size_t(i)].second);
    return out;
  };
  const Neighbours p = similar_ads(index, own, ExpandMode::package, 12);
  CHECK(p.own_without_embedding == 1);
  REQUIRE(p.lists.size() == 1);
  std::vector<double> centroid(size_t(d), 0.0);
  for (int64_t r : {5, 17, 200})
    for (int64_t j = 0; j < d; ++j) centroid[size_t(j)] += emb[size_t(r * d + j)] / 3.0;
  CHECK(p.lists[0] == brute(centroid, 12));
  CHECK(take_similar(p, 4) == brute(centroid, 4));

  const Neighbours per = similar_ads(index, own, ExpandMode::per_ad, 3);
  REQUIRE(per.lists.size() == 3);
  std::vector<int64_t> merged;
  for (int64_t r : {5, 17, 200}) {
    const std::vector<double> q(emb.begin() + r * d, emb.begin() + (r + 1) * d);
    const std::vector<int64_t> b = brute(q, 3);
    for (int64_t id : b)
      if (std::find(merged.begin(), merged.end(), id) == merged.end()) merged.push_back(id);
  }
  CHECK(take_similar(per, 3) == merged);
  CHECK(similar_ads(index, std::vector<int64_t>{4242}, ExpandMode::package, 5).lists.empty());
}

// A small world: users with one informative feature (taste 0..4) and one noise feature; packages
// 0..9 of 2 ads each; a user clicks with a probability growing with taste.
struct World {
  UserTable users;
  AdTable ads;
  ImpressionTable imps;
  std::vector<float> emb;  // (20, 2): packages near each other in id order
  std::vector<int64_t> emb_ids;
};

World make_world(Rng& rng, int users, int per_package, double base) {
  World w;
  std::string csv = "user_id,taste,noise\n";
  std::vector<int> taste(static_cast<size_t>(users));
  for (int u = 0; u < users; ++u) {
    taste[size_t(u)] = int(rng.next_below(5));
    csv += std::to_string(u) + "," + std::to_string(taste[size_t(u)]) + "," + std::to_string(rng.next_below(3)) + "\n";
  }
  w.users = parse_users_csv(csv, "users");
  std::string ads;
  for (int a = 0; a < 20; ++a) {
    ads += "{\"id\": " + std::to_string(a) + ", \"package\": " + std::to_string(a / 2) + ", \"category\": " +
           std::to_string(a / 10) + "}\n";
    w.emb.push_back(float(a / 2) + 0.01f * float(a % 2)), w.emb.push_back(0.0f);
    w.emb_ids.push_back(a);
  }
  w.ads = parse_ads_jsonl(ads, "ads");
  std::string imp = "period,package_id,user_id,clicked\n";
  for (int p = 0; p < 10; ++p)
    for (int period = 1; period <= 2; ++period)
      for (int i = 0; i < per_package; ++i) {
        const int u = int(rng.next_below(uint32_t(users)));
        // Package 0 clicks rarely (base / 4), the others at `base`; taste 4 clicks 16x as often as taste 0.
        const double pr = (p == 0 ? base / 4 : base) * std::pow(2.0, taste[size_t(u)] - 2);
        imp += std::to_string(period) + "," + std::to_string(p) + "," + std::to_string(u) + "," +
               (rng.next_uniform() < pr ? "1" : "0") + "\n";
      }
  w.imps = parse_impressions_csv(imp, w.users, w.ads, "impressions");
  return w;
}

TEST_CASE("lookalike/expansion: training sets keep held-out users out and sample negatives at the ratio") {
  Rng rng = testing::test_rng();
  const World w = make_world(rng, 3000, 1500, 0.05);
  const LabelledUsers all = impression_users(w.imps, std::vector<int64_t>{0}, 1);
  const PackageSplit split = split_users(all, 0.1, 3, 0, w.users);
  REQUIRE(split.test.users.size() > 50);
  CHECK(split.test.users.size() + split.train.users.size() == all.users.size());
  const std::set<int32_t> test(split.test.users.begin(), split.test.users.end());
  std::set<int32_t> train_clickers, train_nonclickers;
  for (size_t i = 0; i < split.train.users.size(); ++i)
    (split.train.clicked[i] ? train_clickers : train_nonclickers).insert(split.train.users[i]);

  const std::vector<int64_t> keys = keys_of_similar(w.imps, w.ads, std::vector<int64_t>{0, 2, 3, 4}, 0);
  CHECK(keys == std::vector<int64_t>{1, 2});  // ad 0 is package 0's own: dropped; ads 2,3 -> package 1
  for (double ratio : {3.0, 1.0}) {
    const TrainingSet initial = assemble(w.imps, split, {}, 1, ratio, 9);
    CHECK(initial.positives == int64_t(train_clickers.size()));
    CHECK(initial.added_positives == 0);
    CHECK(initial.negatives == std::min<int64_t>(int64_t(train_nonclickers.size()), std::llround(ratio * double(initial.positives))));
    const TrainingSet ex = assemble(w.imps, split, keys, 1, ratio, 9);
    CHECK(ex.added_positives > 0);
    CHECK(ex.positives == initial.positives + ex.added_positives);
    // The reference: clickers of packages 1 and 2 in period 1, not held out.
    std::set<int32_t> expected = train_clickers;
    for (int64_t k : keys) {
      const auto [b, e] = w.imps.range(k);
      for (int64_t i = b; i < e; ++i)
        if (w.imps.period[size_t(i)] == 1 && w.imps.clicked[size_t(i)] && !test.count(w.imps.user[size_t(i)]))
          expected.insert(w.imps.user[size_t(i)]);
    }
    std::set<int32_t> pos, neg;
    for (size_t i = 0; i < ex.users.size(); ++i) (ex.labels[i] > 0.5f ? pos : neg).insert(ex.users[i]);
    CHECK(pos == expected);
    CHECK(int64_t(neg.size()) == ex.negatives);  // sampled without replacement
    for (int32_t u : neg) {
      CHECK(train_nonclickers.count(u) == 1);
      CHECK(pos.count(u) == 0);
    }
    for (int32_t u : test) CHECK(pos.count(u) + neg.count(u) == 0);
    int64_t pool = 0;
    for (int32_t u : train_nonclickers) pool += pos.count(u) == 0;
    CHECK(ex.negatives == std::min<int64_t>(pool, std::llround(ratio * double(ex.positives))));
  }
}

TEST_CASE("lookalike/run_package: expansion, a package without enough clickers, an empty package") {
  Rng rng = testing::test_rng();
  const World w = make_world(rng, 4000, 2000, 0.04);
  const AdIndex index = build_ad_index(w.emb.data(), 20, 2, w.emb_ids);
  const lookalike::World world{&w.users, &w.ads, &w.imps, &index};
  LookalikeOptions opt;
  opt.m_values = {4, 8};
  opt.xgb.rounds = 20, opt.xgb.nthread = 2;
  opt.min_clickers = 5;
  const PackageResult r = run_package(world, 0, opt);
  INFO("package 0: train clickers ", r.train_clickers, ", next clickers ", r.next_clickers);
  CHECK(r.note.empty());
  REQUIRE(r.models.size() == 3);
  CHECK(r.models[0].name == "initial");
  CHECK(r.models[1].m == 4);
  CHECK(r.models[1].similar_ads == 4);
  CHECK(r.models[1].similar_keys == 2);   // ads 2..5: packages 1 and 2
  CHECK(r.models[2].similar_keys == 4);
  CHECK(r.models[1].same_category == 1.0);
  CHECK(r.models[2].same_category == doctest::Approx(1.0));
  for (const ModelResult& m : r.models) {
    REQUIRE(m.trained);
    CHECK(m.selected == std::llround(0.1 * double(r.next_users)));
    CHECK(m.auc_next > 0.6);  // taste predicts clicks
  }
  CHECK(r.models[2].added_positives > r.models[1].added_positives);
  CHECK(r.models[2].auc_next > r.models[0].auc_next - 0.02);  // more positives of the same taste: no worse

  // Too few clickers for an initial model: the expanded models are still trained.
  opt.min_clickers = 1000000;
  const PackageResult few = run_package(world, 0, opt);
  CHECK_FALSE(few.models[0].trained);
  CHECK(few.models[0].note.find("no initial model") != std::string::npos);
  CHECK(few.models[1].trained);

  const PackageResult empty = run_package(world, 42, opt);
  CHECK(empty.note.find("empty package") != std::string::npos);
  CHECK(empty.models.empty());
}

TEST_CASE("lookalike/low_ctr_packages: the lowest training-period CTRs first, packages below min clickers left out") {
  Rng rng = testing::test_rng();
  const World w = make_world(rng, 2000, 800, 0.04);
  std::vector<std::pair<double, int64_t>> ref;
  std::map<int64_t, int64_t> clickers;
  for (int64_t p = 0; p < 10; ++p) {
    const LabelledUsers u = impression_users(w.imps, std::vector<int64_t>{p}, 1);
    clickers[p] = u.clickers();
    ref.emplace_back(double(u.clickers()) / double(u.users.size()), p);
  }
  std::sort(ref.begin(), ref.end());
  const std::vector<int64_t> got = low_ctr_packages(w.imps, w.ads, 4, 1, 0);
  REQUIRE(got.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(got[i] == ref[i].second);
  CHECK(got[0] == 0);  // package 0 clicks at a quarter of the others' rate
  const int64_t need = clickers[0] + 1;  // package 0 falls below the minimum
  for (int64_t p : low_ctr_packages(w.imps, w.ads, 10, 1, need)) CHECK(clickers[p] >= need);
  CHECK(low_ctr_packages(w.imps, w.ads, 10, 1, 0, {3, 42}) == std::vector<int64_t>{3});  // 42: no ads
}

TEST_CASE("lookalike/run_package: a package whose users never clicked") {
  const UserTable users = parse_users_csv("user_id,f\n1,0\n2,1\n3,0\n4,1\n5,0\n6,1\n", "u");
  const AdTable ads = parse_ads_jsonl("{\"id\": 0, \"package\": 0}\n{\"id\": 1, \"package\": 1}\n", "a");
  const ImpressionTable imps = parse_impressions_csv(
      "period,package_id,user_id,clicked\n1,0,1,0\n1,0,2,0\n1,0,3,0\n1,0,4,0\n2,0,5,0\n2,0,6,1\n1,1,6,1\n1,1,2,1\n",
      users, ads, "i");
  const std::vector<float> emb = {0, 0, 1, 0};
  const AdIndex index = build_ad_index(emb.data(), 2, 2, std::vector<int64_t>{0, 1});
  LookalikeOptions opt;
  opt.m_values = {1};
  opt.xgb.rounds = 3;
  opt.test_share = 0.01;
  const PackageResult r = run_package(lookalike::World{&users, &ads, &imps, &index}, 0, opt);
  CHECK(r.train_clickers == 0);
  CHECK_FALSE(r.models[0].trained);
  REQUIRE(r.models[1].trained);  // package 1's clickers (users 6 and 2; 2 leaves the negatives)
  CHECK(r.models[1].positives == 2);
  CHECK(r.models[1].negatives == 3);
}

}  // namespace

}  // namespace SIMAD_TEST_FILE_ID
