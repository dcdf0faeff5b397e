// tools/simad/expand_run.hpp: the work of `simad expand` (cmd_expand.cpp), shared with `simad demo`:
// read the inputs, run the lookalike experiment (include/simad/lookalike/lookalike.hpp) for each
// package, write OUT/metrics.json, OUT/metrics.csv, OUT/summary.csv and OUT/report.html.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report_html.hpp"
#include "simad/core/parallel.hpp"
#include "simad/core/progress.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/io/vectors.hpp"
#include "simad/lookalike/lookalike.hpp"

namespace simad::cli::expand {

namespace fs = std::filesystem;

struct ExpandCommand {
  std::string emb, ids, ads, clicks, users, out;
  std::vector<int64_t> packages;
  int64_t low_ctr = 0;         // instead of packages: the N lowest-CTR packages
  std::string from_split;      // with low_ctr: only packages whose ads are in this split
  std::string mode = "package";
  int threads = 0;
  bool quiet = false;
  lookalike::LookalikeOptions opt;
};

struct Summary {  // one model row averaged over packages
  std::string name;
  int64_t m = 0, packages = 0;
  double auc_test = 0, auc_next = 0, ctr = 0, lift = 0, positives = 0, same_category = 0;
  int64_t n_auc_test = 0, n_auc_next = 0, n_ctr = 0, n_same = 0;
  // Paired with M_initial: mean (this - initial) over the packages where both were trained.
  double d_auc_next = 0, d_lift = 0;
  int64_t n_paired = 0;
};

inline std::string fmt(double v, int digits = 4) {
  if (!std::isfinite(v)) return "";
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

inline nlohmann::json num_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Runs everything; returns the per-model averages (initial first, then each m).
inline std::vector<Summary> run_expand(ExpandCommand c, const std::string& command_line) {
  using clock = std::chrono::steady_clock;
  const auto t_all = clock::now();
  if (c.threads > 0) set_num_threads(c.threads);
  c.opt.xgb.nthread = num_threads();
  c.opt.mode = c.mode == "per-ad" ? lookalike::ExpandMode::per_ad : lookalike::ExpandMode::package;
  fs::create_directories(c.out);

  auto t0 = clock::now();
  const lookalike::UserTable users = lookalike::read_users_csv(c.users);
  const lookalike::AdTable ads = lookalike::read_ads_jsonl(c.ads);
  std::cerr << "expand: " << users.rows() << " users x " << users.features() << " features ("
            << users.duplicates << " duplicate rows skipped), " << ads.size() << " ads (" << ads.duplicates
            << " duplicate ids skipped)\n";
  const lookalike::ImpressionTable imps = lookalike::read_impressions_csv(c.clicks, users, ads);
  std::cerr << "expand: " << imps.lines << " impression rows (" << (imps.kind == lookalike::KeyKind::package ? "per package" : "per ad")
            << "): " << imps.unknown_users << " of users without features and " << imps.unknown_keys
            << " of unknown " << (imps.kind == lookalike::KeyKind::package ? "packages" : "ads") << " skipped, "
            << imps.duplicates << " duplicates merged\n";
  const io::Matrix<float> emb = io::read_vectors(c.emb);
  std::vector<int64_t> emb_ids;
  if (c.ids.empty() && fs::exists(c.emb + ".ids.txt")) c.ids = c.emb + ".ids.txt";
  if (!c.ids.empty()) {
    emb_ids = lookalike::read_ad_ids(c.ids);
  } else {  // rows in the order of ads.jsonl
    emb_ids = ads.ids;
  }
  if (int64_t(emb_ids.size()) != emb.rows)
    throw Error(c.emb + ": " + std::to_string(emb.rows) + " embeddings but " + std::to_string(emb_ids.size()) +
                (c.ids.empty() ? " ads in " + c.ads + " (pass --ids)" : " ids in " + c.ids));
  int64_t unknown_emb = 0;
  for (int64_t id : emb_ids) unknown_emb += ads.find(id) < 0;
  const lookalike::AdIndex index = lookalike::build_ad_index(emb.data.data(), emb.rows, emb.cols, emb_ids);
  const double seconds_read = std::chrono::duration<double>(clock::now() - t0).count();
  std::cerr << "expand: " << emb.rows << " embeddings of dimension " << emb.cols << " (" << unknown_emb
            << " of ads not in " << c.ads << ") read in " << fmt(seconds_read, 1) << " s\n";

  std::vector<int64_t> packages = c.packages;
  if (c.low_ctr > 0) {
    std::vector<int64_t> candidates;
    if (!c.from_split.empty()) {
      for (int64_t i = 0; i < ads.size(); ++i)
        if (ads.split[size_t(i)] == c.from_split) candidates.push_back(ads.package[size_t(i)]);
      std::sort(candidates.begin(), candidates.end());
      candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
      if (candidates.empty()) throw Error(c.ads + ": no ad has split \"" + c.from_split + "\"");
    }
    // Low CTR among packages with enough clickers for an initial model (the comparison needs one).
    // (clickers of the whole period: the held-out share is not known per package before the split)
    const auto need = int64_t(std::ceil(double(c.opt.min_clickers) / (1.0 - c.opt.test_share)));
    packages = lookalike::low_ctr_packages(imps, ads, c.low_ctr, c.opt.train_period, need, candidates);
    std::cerr << "expand: the " << packages.size() << " lowest-CTR packages with >= " << need
              << " clickers in period " << c.opt.train_period << "\n";
  }
  if (packages.empty()) throw Error("expand: no package to expand (--package or --low-ctr)");

  const lookalike::World world{&users, &ads, &imps, &index};
  std::vector<lookalike::PackageResult> results;
  {
    ProgressBar bar("expand: packages", int64_t(packages.size()), !c.quiet);
    for (int64_t p : packages) {
      results.push_back(lookalike::run_package(world, p, c.opt));
      const lookalike::PackageResult& r = results.back();
      bar.advance();
      if (!r.note.empty()) std::cerr << "expand: package " << p << ": " << r.note << "\n";
    }
  }

  // Averages per model over the packages where it was trained.
  std::vector<Summary> sums;
  for (const lookalike::PackageResult& r : results)
    for (size_t k = 0; k < r.models.size(); ++k) {
      if (sums.size() <= k) sums.push_back(Summary{r.models[k].name, r.models[k].m});
      const lookalike::ModelResult& m = r.models[k];
      Summary& s = sums[k];
      if (!m.trained) continue;
      ++s.packages;
      s.positives += double(m.positives);
      if (std::isfinite(m.auc_test)) s.auc_test += m.auc_test, ++s.n_auc_test;
      if (std::isfinite(m.auc_next)) s.auc_next += m.auc_next, ++s.n_auc_next;
      if (std::isfinite(m.ctr) && r.next_ctr > 0) s.ctr += m.ctr, s.lift += m.ctr / r.next_ctr, ++s.n_ctr;
      if (std::isfinite(m.same_category)) s.same_category += m.same_category, ++s.n_same;
    }
  for (const lookalike::PackageResult& r : results) {
    const lookalike::ModelResult& i = r.models.empty() ? lookalike::ModelResult{} : r.models[0];
    if (!i.trained || !std::isfinite(i.auc_next) || !(r.next_ctr > 0)) continue;
    for (size_t k = 1; k < r.models.size(); ++k) {
      const lookalike::ModelResult& m = r.models[k];
      if (!m.trained || !std::isfinite(m.auc_next)) continue;
      sums[k].d_auc_next += m.auc_next - i.auc_next, sums[k].d_lift += (m.ctr - i.ctr) / r.next_ctr, ++sums[k].n_paired;
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (Summary& s : sums) {
    s.d_auc_next = s.n_paired ? s.d_auc_next / double(s.n_paired) : nan;
    s.d_lift = s.n_paired ? s.d_lift / double(s.n_paired) : nan;
    s.positives = s.packages ? s.positives / double(s.packages) : nan;
    s.auc_test = s.n_auc_test ? s.auc_test / double(s.n_auc_test) : nan;
    s.auc_next = s.n_auc_next ? s.auc_next / double(s.n_auc_next) : nan;
    s.ctr = s.n_ctr ? s.ctr / double(s.n_ctr) : nan;
    s.lift = s.n_ctr ? s.lift / double(s.n_ctr) : nan;
    s.same_category = s.n_same ? s.same_category / double(s.n_same) : nan;
  }
  double random_ctr = 0;
  int64_t n_random = 0;
  double t_ret = 0, t_asm = 0, t_xgb = 0;
  for (const lookalike::PackageResult& r : results) {
    if (std::isfinite(r.next_ctr)) random_ctr += r.next_ctr, ++n_random;
    t_ret += r.seconds_retrieval, t_asm += r.seconds_assembly, t_xgb += r.seconds_xgboost;
  }
  random_ctr = n_random ? random_ctr / double(n_random) : nan;

  // metrics.csv (package x model), summary.csv, metrics.json.
  std::ostringstream csv, sum_csv;
  csv << "package,model,m,trained,note,positives,added_positives,negatives,similar_ads,similar_keys,same_category,"
         "auc_test,auc_next,selected,selected_clicked,ctr,random_ctr,test_users,test_clickers,next_users,next_clickers\n";
  nlohmann::json j = {{"command", command_line},
                      {"xgboost", lookalike::xgb::version()},
                      {"options",
                       {{"mode", c.mode}, {"m", c.opt.m_values}, {"negative_ratio", c.opt.negative_ratio},
                        {"test_share", c.opt.test_share}, {"select_share", c.opt.select_share},
                        {"min_clickers", c.opt.min_clickers}, {"train_period", c.opt.train_period},
                        {"next_period", c.opt.next_period}, {"rounds", c.opt.xgb.rounds},
                        {"max_depth", c.opt.xgb.max_depth}, {"eta", c.opt.xgb.eta}, {"threads", c.opt.xgb.nthread},
                        {"seed", c.opt.seed}}},
                      {"input",
                       {{"users", users.rows()}, {"features", users.features()}, {"duplicate_users", users.duplicates},
                        {"ads", ads.size()}, {"duplicate_ads", ads.duplicates}, {"impression_rows", imps.lines},
                        {"impressions_of_users_without_features", imps.unknown_users},
                        {"impressions_of_unknown_ids", imps.unknown_keys}, {"duplicate_impressions", imps.duplicates},
                        {"embeddings", emb.rows}, {"embeddings_of_unknown_ads", unknown_emb}}},
                      {"packages", nlohmann::json::array()}};
  for (const lookalike::PackageResult& r : results) {
    nlohmann::json pj = {{"package", r.package}, {"ads", r.ads}, {"ads_without_embedding", r.ads_without_embedding},
                         {"note", r.note}, {"train_users", r.train_users}, {"train_clickers", r.train_clickers},
                         {"test_users", r.test_users}, {"test_clickers", r.test_clickers},
                         {"next_users", r.next_users}, {"next_clickers", r.next_clickers},
                         {"random_ctr", num_or_null(r.next_ctr)},
                         {"seconds", {{"retrieval", r.seconds_retrieval}, {"assembly", r.seconds_assembly},
                                      {"xgboost", r.seconds_xgboost}}},
                         {"models", nlohmann::json::array()}};
    for (const lookalike::ModelResult& m : r.models) {
      pj["models"].push_back({{"model", m.name}, {"m", m.m}, {"trained", m.trained}, {"note", m.note},
                              {"positives", m.positives}, {"added_positives", m.added_positives},
                              {"negatives", m.negatives}, {"similar_ads", m.similar_ads},
                              {"similar_keys", m.similar_keys}, {"same_category", num_or_null(m.same_category)},
                              {"auc_test", num_or_null(m.auc_test)}, {"auc_next", num_or_null(m.auc_next)},
                              {"selected", m.selected}, {"selected_clicked", m.selected_clicked},
                              {"ctr", num_or_null(m.ctr)}});
      csv << r.package << ',' << m.name << ',' << m.m << ',' << (m.trained ? 1 : 0) << ",\"" << m.note << "\","
          << m.positives << ',' << m.added_positives << ',' << m.negatives << ',' << m.similar_ads << ','
          << m.similar_keys << ',' << fmt(m.same_category) << ',' << fmt(m.auc_test) << ',' << fmt(m.auc_next) << ','
          << m.selected << ',' << m.selected_clicked << ',' << fmt(m.ctr, 5) << ',' << fmt(r.next_ctr, 5) << ','
          << r.test_users << ',' << r.test_clickers << ',' << r.next_users << ',' << r.next_clickers << '\n';
    }
    j["packages"].push_back(pj);
  }
  sum_csv << "model,m,packages,mean_positives,same_category,auc_test,auc_next,ctr,ctr_lift,paired_packages,"
             "paired_delta_auc_next,paired_delta_lift\n";
  j["summary"] = nlohmann::json::array();
  for (const Summary& s : sums) {
    sum_csv << s.name << ',' << s.m << ',' << s.packages << ',' << fmt(s.positives, 1) << ',' << fmt(s.same_category)
            << ',' << fmt(s.auc_test) << ',' << fmt(s.auc_next) << ',' << fmt(s.ctr, 5) << ',' << fmt(s.lift, 3) << ','
            << s.n_paired << ',' << fmt(s.d_auc_next) << ',' << fmt(s.d_lift, 3) << '\n';
    j["summary"].push_back({{"model", s.name}, {"m", s.m}, {"packages", s.packages},
                            {"mean_positives", num_or_null(s.positives)}, {"same_category", num_or_null(s.same_category)},
                            {"auc_test", num_or_null(s.auc_test)}, {"auc_next", num_or_null(s.auc_next)},
                            {"ctr", num_or_null(s.ctr)}, {"ctr_lift", num_or_null(s.lift)},
                            {"paired_packages", s.n_paired}, {"paired_delta_auc_next", num_or_null(s.d_auc_next)},
                            {"paired_delta_lift", num_or_null(s.d_lift)}});
  }
  j["random_ctr"] = num_or_null(random_ctr);
  const double total = std::chrono::duration<double>(clock::now() - t_all).count();
  j["seconds"] = {{"read", seconds_read}, {"retrieval", t_ret}, {"assembly", t_asm}, {"xgboost", t_xgb}, {"total", total}};
  const fs::path out(c.out);
  io::write_file_atomically(out / "metrics.csv", csv.str());
  io::write_file_atomically(out / "summary.csv", sum_csv.str());
  io::write_file_atomically(out / "metrics.json", j.dump(2) + "\n");

  // report.html: the averaged table, the per-package table and the m sweep.
  report::Report rep;
  rep.title = "simad expand: lookalike audience expansion";
  rep.intro.push_back("Command: " + command_line);
  rep.intro.push_back(
      "Per package: XGBoost (max depth " + std::to_string(c.opt.xgb.max_depth) + ", eta " + fmt(c.opt.xgb.eta, 2) + ", " +
      std::to_string(c.opt.xgb.rounds) + " rounds, binary:logistic) on one-hot user features. M_initial: the package's "
      "own clickers of period " + std::to_string(c.opt.train_period) + " against " + fmt(c.opt.negative_ratio, 1) +
      "x as many of its non-clicking impression users; M_expanded: plus the clickers of the m ads most similar to the "
      "package (" + c.mode + " mode, own ads excluded). AUC test: the " + fmt(100 * c.opt.test_share, 0) +
      "% of users held out before expansion; AUC next: period " + std::to_string(c.opt.next_period) +
      "'s impression users; CTR: clicked / selected among the top " + fmt(100 * c.opt.select_share, 0) +
      "% of period " + std::to_string(c.opt.next_period) + "'s impression users each model scores highest; lift: CTR / "
      "the period's CTR (random selection: " + fmt(random_ctr, 5) + "). Averages over the packages where the model was trained.");
  rep.intro.push_back("Input: " + std::to_string(users.rows()) + " users, " + std::to_string(ads.size()) + " ads, " +
                      std::to_string(imps.lines) + " impression rows (" + std::to_string(imps.unknown_users) +
                      " of users without features, " + std::to_string(imps.unknown_keys) + " of unknown ids skipped; " +
                      std::to_string(imps.duplicates) + " duplicates merged). Time: retrieval " + fmt(t_ret, 2) +
                      " s, data assembly " + fmt(t_asm, 2) + " s, XGBoost " + fmt(t_xgb, 2) + " s.");
  report::Table table;
  table.title = "Average over " + std::to_string(results.size()) + " packages";
  table.columns = {"packages", "positives", "same category", "AUC test", "AUC next", "CTR", "CTR lift",
                   "paired: AUC next - initial", "paired: lift - initial"};
  for (const Summary& s : sums)
    table.rows.push_back({s.name, {double(s.packages), s.positives, s.same_category, s.auc_test, s.auc_next, s.ctr, s.lift,
                                   s.d_auc_next, s.d_lift}});
  rep.tables.push_back(table);
  report::Table per;
  per.title = "Per package: AUC next / CTR lift";
  per.name_header = "package";
  for (const Summary& s : sums) per.columns.push_back(s.name + " AUC"), per.columns.push_back(s.name + " lift");
  for (const lookalike::PackageResult& r : results) {
    report::TableRow row{std::to_string(r.package), {}};
    for (const lookalike::ModelResult& m : r.models)
      row.values.push_back(m.auc_next), row.values.push_back(r.next_ctr > 0 ? m.ctr / r.next_ctr : nan);
    per.rows.push_back(row);
  }
  rep.tables.push_back(per);
  report::Series e_auc{"M_expanded AUC next", {}, {}}, i_auc{"M_initial AUC next", {}, {}};
  report::Series e_lift{"M_expanded CTR lift", {}, {}}, i_lift{"M_initial CTR lift", {}, {}};
  for (size_t k = 1; k < sums.size(); ++k) {
    const double x = double(sums[k].m);
    e_auc.xs.push_back(x), e_auc.ys.push_back(sums[k].auc_next);
    e_lift.xs.push_back(x), e_lift.ys.push_back(sums[k].lift);
    i_auc.xs.push_back(x), i_auc.ys.push_back(sums[0].auc_next);
    i_lift.xs.push_back(x), i_lift.ys.push_back(sums[0].lift);
  }
  if (e_auc.xs.size() >= 2) {
    rep.plots.push_back(report::svg_line_plot("AUC (next period) against the expansion size m", "m (similar ads)", "AUC",
                                              {e_auc, i_auc}));
    rep.plots.push_back(report::svg_line_plot("CTR lift of the top-M users against m", "m (similar ads)", "CTR / random CTR",
                                              {e_lift, i_lift}));
  }
  report::write_report((out / "report.html").string(), rep);

  std::cout << "\n" << "model            packages  positives  same-cat  AUC test  AUC next  CTR       lift  "
               "| paired with initial: packages  dAUC next  dlift\n";
  for (const Summary& s : sums) {
    char line[256];
    std::snprintf(line, sizeof line, "%-16s %8lld %10.1f %9s %9s %9s %9s %6s  | %29lld %10s %6s\n", s.name.c_str(),
                  (long long)s.packages, s.positives, fmt(s.same_category, 3).c_str(), fmt(s.auc_test).c_str(),
                  fmt(s.auc_next).c_str(), fmt(s.ctr, 5).c_str(), fmt(s.lift, 2).c_str(), (long long)s.n_paired,
                  fmt(s.d_auc_next).c_str(), fmt(s.d_lift, 2).c_str());
    std::cout << line;
  }
  std::cout << "random selection CTR " << fmt(random_ctr, 5) << "; time: read " << fmt(seconds_read, 1) << " s, retrieval "
            << fmt(t_ret, 2) << " s, data assembly " << fmt(t_asm, 2) << " s, XGBoost " << fmt(t_xgb, 1) << " s, total "
            << fmt(total, 1) << " s\nexpand: wrote " << (out / "metrics.json").string() << ", metrics.csv, summary.csv and "
            << (out / "report.html").string() << "\n";
  return sums;
}

}  // namespace simad::cli::expand
