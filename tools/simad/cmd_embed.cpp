// tools/simad/cmd_embed.cpp: `simad embed`, ads (JSONL + images) -> embeddings (.npy) with a trained
// model. Rows that cannot be embedded (bad JSON, missing or corrupt image) are reported and skipped;
// the ids of the embedded rows go to a text file beside the matrix, one per line, in row order.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "model_options.hpp"
#include "simad/core/parallel.hpp"
#include "simad/io/vectors.hpp"

namespace simad::cli {
namespace {

struct EmbedCommand {
  std::string model, data, out, ids, cache, detector_cfg, detector_weights;
  int threads = 0;
  bool quiet = false;
};

void run_embed(const EmbedCommand& c) {
  if (c.threads > 0) set_num_threads(c.threads);
  models::SavedModel saved = models::load_model(c.model);
  const text::Tokenizer tok = text::Tokenizer::load();
  data::AdRecords rows = data::read_ad_records(c.data);
  pipeline::print_problems(c.data, rows.problems, "are not valid ads and were skipped");
  models::DataConfig cfg = saved.data;
  if (!c.detector_cfg.empty()) cfg.detector_cfg = c.detector_cfg;
  if (!c.detector_weights.empty()) cfg.detector_weights = c.detector_weights;
  const data::AdDatasetOptions options =
      pipeline::dataset_options(cfg, c.cache, !c.quiet, pipeline::attach_detector(cfg));
  data::AdDatasetLoad load = data::load_ad_examples(
      rows.records, std::filesystem::path(c.data).parent_path().string(), tok, saved.words, saved.tags,
      [&cfg](int32_t category) { return cfg.class_of(category); }, options);
  pipeline::print_problems(c.data, load.skipped, "could not be loaded and were skipped");
  pipeline::print_problems(c.data, load.warnings, "loaded with a warning");
  SIMAD_CHECK(!load.examples.empty(), "embed: no row of ", c.data, " could be embedded");
  const std::vector<float> emb = pipeline::embed_all(saved.model, load.examples, cfg.max_words, !c.quiet);
  const int64_t n = int64_t(load.examples.size()), E = saved.model.embedding_dim();
  io::write_npy(c.out, emb.data(), n, E);
  const std::string ids_path = c.ids.empty() ? c.out + ".ids.txt" : c.ids;
  std::string ids;
  for (const models::AdExample& a : load.examples) ids += std::to_string(a.id) + "\n";
  io::write_file_atomically(ids_path, ids);
  std::cout << "embed: " << n << " ads -> " << c.out << " (" << n << " x " << E << " float32), ids in " << ids_path
            << "; skipped " << rows.problems.size() + load.skipped.size() << " rows, " << load.warnings.size()
            << " with warnings\n";
}

}  // namespace

void register_embed(CLI::App& app) {
  auto c = std::make_shared<EmbedCommand>();
  CLI::App* cmd = app.add_subcommand("embed", "Embed ads (JSONL + images) with a trained model into a .npy matrix");
  cmd->footer(
      "Rows with invalid JSON, a missing or a corrupt image are reported (file, line, reason) and skipped;\n"
      "an empty text or invalid UTF-8 is embedded (with a warning). Row i of the matrix is the ad on line i\n"
      "of the ids file. Search the result with `simad search --base emb.npy --query emb.npy --exclude-self`.\n"
      "Example:\n"
      "  simad embed --model runs/ion --data ads/test.jsonl --out emb.npy");
  cmd->add_option("--model", c->model, "Model folder (from `simad train`)")->required()->type_name("DIR");
  cmd->add_option("--data", c->data, "Ads as JSONL (images relative to its folder)")->required()->type_name("FILE");
  cmd->add_option("--out", c->out, "Embeddings to write (.npy, float32, one row per embedded ad)")
      ->required()->type_name("FILE");
  cmd->add_option("--ids", c->ids, "Where the ad ids go (default: OUT.ids.txt)")->type_name("FILE");
  cmd->add_option("--cache", c->cache, "Region cache folder (default: none)")->type_name("DIR");
  add_detector_options(cmd, c->detector_cfg, c->detector_weights,
                                 "The model's detector, where its recorded files moved (checked by fingerprint)");
  cmd->add_option("--threads", c->threads, "Threads")->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", c->quiet, "No progress bars");
  cmd->callback([c] { run_embed(*c); });
}

static const RegisterCommand kEmbed{51, "embed", &register_embed};

}  // namespace simad::cli
