// tools/simad/cmd_eval.cpp: `simad eval`, the papers' retrieval evaluation of a trained model.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "model_options.hpp"
#include "simad/core/parallel.hpp"

namespace simad::cli {
namespace {

struct EvalCommand {
  std::string model, data, cache, json, detector_cfg, detector_weights;
  int threads = 0;
  bool quiet = false;
};

void run_eval(const EvalCommand& c) {
  if (c.threads > 0) set_num_threads(c.threads);
  models::SavedModel saved = models::load_model(c.model);
  const text::Tokenizer tok = text::Tokenizer::load();
  models::DataConfig overrides;  // prepare_data takes only the detector's files from it
  overrides.detector_cfg = c.detector_cfg, overrides.detector_weights = c.detector_weights;
  pipeline::PreparedData d = pipeline::prepare_data(c.data, overrides, tok, !c.quiet, c.cache, &saved);
  const pipeline::Evaluation ev = pipeline::evaluate(saved.model, d.config, d.test.ads, !c.quiet);
  const train::RetrievalMetrics& r = ev.retrieval;
  std::printf("%s on %s/test.jsonl\n", saved.model.kind().c_str(), c.data.c_str());
  pipeline::print_evaluation(ev);
  if (!c.json.empty()) {
    nlohmann::json j = {{"model", c.model},       {"kind", saved.model.kind()}, {"test_ads", ev.test_ads},
                        {"ks", r.ks},             {"p_seen", r.p_seen},         {"p_unseen", r.p_unseen},
                        {"p_all", r.p_all},       {"queries_seen", r.queries_seen}, {"queries_unseen", r.queries_unseen}};
    if (ev.accuracy >= 0) j["accuracy"] = ev.accuracy;
    io::write_file_atomically(c.json, j.dump(2) + "\n");
  }
}

}  // namespace

void register_eval(CLI::App& app) {
  auto c = std::make_shared<EvalCommand>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a trained model: P@1/5/10 on seen and unseen categories");
  cmd->footer(
      "Each test ad queries all other test ads by exact L2 distance; P@k = same-category ads in its top k / k,\n"
      "averaged over queries of categories seen in training and of categories never seen (MODELS.md).\n"
      "Example:\n"
      "  simad eval --model runs/ion --data ads");
  cmd->add_option("--model", c->model, "Model folder (from `simad train`)")->required()->type_name("DIR");
  cmd->add_option("--data", c->data, "Data folder with test.jsonl")->required()->type_name("DIR");
  cmd->add_option("--json", c->json, "Also write the numbers as JSON")->type_name("FILE");
  cmd->add_option("--cache", c->cache, "Region cache folder (default: DATA/.simad-cache)")->type_name("DIR");
  add_detector_options(cmd, c->detector_cfg, c->detector_weights,
                       "The model's detector, where its recorded files moved (checked by fingerprint)");
  cmd->add_option("--threads", c->threads, "Threads")->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", c->quiet, "No progress bars");
  cmd->callback([c] { run_eval(*c); });
}

static const RegisterCommand kEval{52, "eval", &register_eval};

}  // namespace simad::cli
