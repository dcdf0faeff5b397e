// tools/simad/cmd_bench_lookalike.cpp: `simad bench lookalike`, the time of one package's lookalike
// run at production size (issue #16): a package shown to 1M users (57 categorical features, SynthAds'
// levels) in each of two periods, 100k ads to search, expansion + M_initial + M_expanded, split into
// retrieval, data assembly (splits, sampling, one-hot CSR, DMatrix) and XGBoost (train + predict).
// The tables are built in memory (reading CSV files is not timed).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "machine.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/rng.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/lookalike/lookalike.hpp"

namespace simad::cli {
namespace {

struct BenchLookalike {
  int64_t users = 1000000, features = 57, ads = 100000, dim = 64, similar_impressions = 20000;
  int64_t m = 10;
  int rounds = 550;
  int threads = 0;
  double ctr = 0.005;
  std::string json;
};

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void run_bench_lookalike(const BenchLookalike& b) {
  using namespace lookalike;
  if (b.threads > 0) set_num_threads(b.threads);
  const auto t0 = std::chrono::steady_clock::now();
  Rng rng(11, 0xBE7Cu);
  // Users: categorical features with 2..10 levels; the first two drive the click probability.
  UserTable users;
  for (int64_t f = 0; f < b.features; ++f) users.names.push_back("f" + std::to_string(f));
  std::vector<int> levels(static_cast<size_t>(b.features));
  for (int64_t f = 0; f < b.features; ++f) levels[size_t(f)] = 2 + int(f % 9);
  users.values.resize(size_t(b.users * b.features));
  users.ids.resize(size_t(b.users));
  std::vector<double> odds(static_cast<size_t>(b.users));
  double mean_odds = 0;
  for (int64_t u = 0; u < b.users; ++u) {
    users.ids[size_t(u)] = u;
    users.row_of.emplace(u, int32_t(u));
    float* v = users.values.data() + u * b.features;
    for (int64_t f = 0; f < b.features; ++f) v[f] = float(rng.next_below(uint32_t(levels[size_t(f)])));
    odds[size_t(u)] = std::exp(0.8 * (v[0] - 0.5) + 0.5 * (v[1] - 1.0));
    mean_odds += odds[size_t(u)];
  }
  mean_odds /= double(b.users);
  infer_feature_kinds(users);
  // Ads: 5 per package; package 0 is the one expanded. Embeddings random.
  AdTable ads;
  for (int64_t a = 0; a < b.ads; ++a) ads.add(a, a / 5, -1);
  std::vector<float> emb(static_cast<size_t>(b.ads * b.dim));
  for (float& x : emb) x = float(rng.next_normal());
  // Package 0 at the origin, packages 1 .. 2m around it (nearer than any other ad): the similar ads.
  for (int64_t a = 0; a < std::min(b.ads, 5 * (2 * b.m + 1)); ++a)
    for (int64_t j = 0; j < b.dim; ++j) emb[size_t(a * b.dim + j)] *= a < 5 ? 0.01f : 0.1f;
  // Impressions: package 0 to every user in periods 1 and 2; the 2 * m nearest packages' worth of
  // other packages to similar_impressions random users each in period 1.
  ImpressionTable imps;
  imps.kind = KeyKind::package;
  auto add = [&](int64_t pkg, int32_t period, int64_t u) {
    const double p = std::min(1.0, b.ctr * odds[size_t(u)] / mean_odds);
    imps.key.push_back(pkg), imps.period.push_back(period), imps.user.push_back(int32_t(u));
    imps.clicked.push_back(rng.next_uniform() < p);
  };
  for (int32_t period = 1; period <= 2; ++period)
    for (int64_t u = 0; u < b.users; ++u) add(0, period, u);
  const int64_t n_packages = b.ads / 5;
  for (int64_t pkg = 1; pkg < n_packages; ++pkg) {
    const int64_t n = pkg <= 2 * b.m ? b.similar_impressions : 50;
    for (int64_t i = 0; i < n; ++i) add(pkg, 1, int64_t(rng.next_below(uint32_t(b.users))));
  }
  finish_impressions(imps);
  const double seconds_generate = since(t0);

  const auto t1 = std::chrono::steady_clock::now();
  const AdIndex index = build_ad_index(emb.data(), b.ads, b.dim, ads.ids);
  const double seconds_index = since(t1);
  LookalikeOptions opt;
  opt.m_values = {b.m};
  opt.xgb.rounds = b.rounds;
  opt.xgb.nthread = num_threads();
  const auto t2 = std::chrono::steady_clock::now();
  const PackageResult r = run_package(World{&users, &ads, &imps, &index}, 0, opt);
  const double seconds_run = since(t2);
  const ModelResult& init = r.models.at(0);
  const ModelResult& ex = r.models.at(1);
  const Machine machine = read_machine();
  std::printf("bench lookalike: %s (%d cores, load %.2f), %d threads, XGBoost %s\n", machine.cpu.c_str(), machine.cores,
              load_average(), num_threads(), xgb::version().c_str());
  std::printf("package: %lld impression users per period x %lld features (%lld one-hot columns), %lld ads of dim %lld\n",
              (long long)b.users, (long long)b.features, (long long)feature_layout(users).cols, (long long)b.ads,
              (long long)b.dim);
  std::printf("train users %lld (%lld clickers), held out %lld, next period %lld (%lld clickers)\n",
              (long long)r.train_users, (long long)r.train_clickers, (long long)r.test_users, (long long)r.next_users,
              (long long)r.next_clickers);
  for (const ModelResult* m : {&init, &ex})
    std::printf("%-16s %7lld positives %7lld negatives  AUC test %.4f  AUC next %.4f  CTR %.5f\n", m->name.c_str(),
                (long long)m->positives, (long long)m->negatives, m->auc_test, m->auc_next, m->ctr);
  std::printf("time: retrieval %.3f s (index build %.2f s, not counted), data assembly %.2f s, XGBoost %.2f s "
              "(2 models x %d rounds: training %.2f s, predicting 2 x %lld users %.2f s), total %.2f s; "
              "generating the data %.1f s\n",
              r.seconds_retrieval, seconds_index, r.seconds_assembly, r.seconds_xgboost, b.rounds,
              r.seconds_xgboost - r.seconds_predict, (long long)(r.test_users + r.next_users), r.seconds_predict,
              seconds_run, seconds_generate);
  if (!b.json.empty()) {
    const nlohmann::json j = {{"cpu", machine.cpu}, {"cores", machine.cores}, {"threads", num_threads()}, {"users", b.users},
                              {"features", b.features}, {"ads", b.ads}, {"dim", b.dim}, {"m", b.m},
                              {"rounds", b.rounds}, {"retrieval_s", r.seconds_retrieval},
                              {"index_build_s", seconds_index}, {"assembly_s", r.seconds_assembly},
                              {"xgboost_s", r.seconds_xgboost}, {"xgboost_predict_s", r.seconds_predict}, {"total_s", seconds_run},
                              {"positives_initial", init.positives}, {"positives_expanded", ex.positives}};
    io::write_file_atomically(b.json, j.dump(2) + "\n");
  }
}

void register_bench_lookalike(CLI::App& bench) {
  auto b = std::make_shared<BenchLookalike>();
  CLI::App* cmd = bench.add_subcommand("lookalike", "Lookalike expansion + XGBoost training for one package of 1M "
                                                    "impression users: time of retrieval, data assembly and XGBoost");
  cmd->add_option("--users", b->users, "Impression users of the package (per period)")->capture_default_str()
      ->check(CLI::Range(int64_t(100), int64_t(100000000)));
  cmd->add_option("--features", b->features, "Categorical user features")->capture_default_str()
      ->check(CLI::Range(int64_t(2), int64_t(10000)));
  cmd->add_option("--ads", b->ads, "Ads to search (5 per package)")->capture_default_str()
      ->check(CLI::Range(int64_t(100), int64_t(100000000)));
  cmd->add_option("--dim", b->dim, "Embedding dimension")->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--m", b->m, "Similar ads")->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(10000)));
  cmd->add_option("--similar-impressions", b->similar_impressions, "Impressions of each similar package")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(100000000)));
  cmd->add_option("--rounds", b->rounds, "XGBoost rounds")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--threads", b->threads, "Threads")->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_option("--json", b->json, "Also write the timings as JSON")->type_name("FILE");
  cmd->callback([b] { run_bench_lookalike(*b); });
}

}  // namespace

static const RegisterBenchSuite kBenchLookalike{60, "lookalike", &register_bench_lookalike};

}  // namespace simad::cli
