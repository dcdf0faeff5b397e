// tools/simad/cmd_expand.cpp: `simad expand`, lookalike audience expansion of ad packages with an
// XGBoost targeting model (include/simad/lookalike/, docs/lookalike.md). The work is in expand_run.hpp.
#include <memory>
#include <string>

#include "commands.hpp"
#include "expand_run.hpp"

namespace simad::cli {
namespace {

void register_expand(CLI::App& app) {
  auto c = std::make_shared<expand::ExpandCommand>();
  c->opt.m_values = {5, 10, 20, 50, 100, 200};
  CLI::App* cmd = app.add_subcommand("expand", "Lookalike: expand ad packages' clickers through similar ads and compare "
                                               "XGBoost targeting models (initial vs expanded)");
  cmd->footer(
      "Inputs: --emb (from `simad embed`; ids from EMB.ids.txt when present, else the order of --ads), --ads (JSONL with\n"
      "id and package), --users (CSV user_id + features), --clicks (CSV period, package_id or ad_id, user_id[, clicked]:\n"
      "SynthAds' impressions.csv). Writes OUT/metrics.json, metrics.csv, summary.csv and report.html (docs/lookalike.md).\n"
      "Example:\n"
      "  simad expand --emb emb.npy --ads ads/ads.jsonl --users ads/users.csv --clicks ads/impressions.csv \\\n"
      "               --low-ctr 8 --from-split test --out lookalike");
  cmd->add_option("--emb", c->emb, "Ad embeddings (.npy or .fvecs)")->required()->type_name("FILE");
  cmd->add_option("--ids", c->ids, "Ad id of each embedding row, one per line (default: EMB.ids.txt)")->type_name("FILE");
  cmd->add_option("--ads", c->ads, "Ads JSONL (id, package, category optional)")->required()->type_name("FILE");
  cmd->add_option("--users", c->users, "Users CSV: user_id and features")->required()->type_name("FILE");
  cmd->add_option("--clicks", c->clicks, "Impressions and clicks CSV")->required()->type_name("FILE");
  cmd->add_option("--out", c->out, "Output folder")->required()->type_name("DIR");
  CLI::Option* pk = cmd->add_option("--package", c->packages, "Package id(s) to expand (comma-separated)")
                        ->delimiter(',')->type_name("ID,...");
  CLI::Option* low = cmd->add_option("--low-ctr", c->low_ctr, "Instead: the N packages of lowest CTR among those with at least --min-clickers clickers")
                         ->check(CLI::Range(1, 1000000))->type_name("N");
  pk->excludes(low);
  cmd->add_option("--from-split", c->from_split, "With --low-ctr: only packages whose ads have this \"split\" in --ads");
  cmd->add_option("--m", c->opt.m_values, "Expansion sizes to sweep (similar ads, in total or per ad)")
      ->delimiter(',')->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(100000)));
  cmd->add_option("--mode", c->mode, "package: m ads nearest to the package's centroid (ION); per-ad: m per ad (ToTYEmb)")
      ->capture_default_str()->check(CLI::IsMember({"package", "per-ad"}));
  cmd->add_option("--ratio", c->opt.negative_ratio, "Negatives per positive")->capture_default_str()->check(CLI::Range(0.1, 1000.0));
  cmd->add_option("--test-share", c->opt.test_share, "Share of users held out before expansion")
      ->capture_default_str()->check(CLI::Range(0.01, 0.9));
  cmd->add_option("--select", c->opt.select_share, "CTR simulation: share of next period's users each model selects")
      ->capture_default_str()->check(CLI::Range(0.0001, 1.0));
  cmd->add_option("--min-clickers", c->opt.min_clickers, "Fewer training clickers: no initial model (the papers: 1000)")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1000000000)));
  cmd->add_option("--train-period", c->opt.train_period, "Period of the training clicks")->capture_default_str();
  cmd->add_option("--next-period", c->opt.next_period, "Period of the CTR simulation")->capture_default_str();
  cmd->add_option("--rounds", c->opt.xgb.rounds, "XGBoost rounds")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--max-depth", c->opt.xgb.max_depth, "XGBoost max depth")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--eta", c->opt.xgb.eta, "XGBoost learning rate")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--seed", c->opt.seed, "Seed of the split and the negative sampling")->capture_default_str();
  cmd->add_option("--threads", c->threads, "Threads (XGBoost and search)")->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", c->quiet, "No progress bar");
  cmd->callback([c] {
    if (c->packages.empty() && c->low_ctr == 0) throw Error("expand: give --package or --low-ctr");
    std::string line = "simad expand --emb " + c->emb + " --ads " + c->ads + " --users " + c->users + " --clicks " +
                       c->clicks + " --out " + c->out + " --mode " + c->mode;
    if (c->low_ctr > 0) line += " --low-ctr " + std::to_string(c->low_ctr);
    if (!c->from_split.empty()) line += " --from-split " + c->from_split;
    if (!c->packages.empty()) {
      line += " --package ";
      for (size_t i = 0; i < c->packages.size(); ++i) line += (i ? "," : "") + std::to_string(c->packages[i]);
    }
    line += " --m ";
    for (size_t i = 0; i < c->opt.m_values.size(); ++i) line += (i ? "," : "") + std::to_string(c->opt.m_values[i]);
    line += " --rounds " + std::to_string(c->opt.xgb.rounds);
    expand::run_expand(*c, line);
  });
}

}  // namespace

static const RegisterCommand kExpand{56, "expand", &register_expand};

}  // namespace simad::cli
