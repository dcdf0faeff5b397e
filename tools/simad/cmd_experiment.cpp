// tools/simad/cmd_experiment.cpp: `simad experiment` (train and evaluate a set of model
// configurations on one data folder: the papers' comparison table, CSV + Markdown + JSON, and an HTML
// report) and `simad demo` (the main job: synthesise SynthAds, then the quick experiment).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "commands.hpp"
#include "expand_run.hpp"
#include "experiment_specs.hpp"
#include "model_options.hpp"
#include "model_pipeline.hpp"
#include "report_html.hpp"
#include "simad/core/parallel.hpp"
#include "simad/data/synthads.hpp"
#include "simad/image/decode.hpp"
#include "simad/io/atomic_file.hpp"
#include "simad/io/vectors.hpp"

namespace simad::cli {
namespace {

namespace fs = std::filesystem;
using pipeline::ModelSpec;

struct ExperimentCommand {
  std::string data, out, set = "quick", only;
  std::string regions = "oracle";  // oracle: SynthAds' boxes; detector: the trained detector's regions
  std::string detector_cfg, detector_weights, region_features = models::DataConfig{}.region_features;
  train::TrainerOptions trainer;
  int64_t d_model = 128, layers = 0;
  int threads = 0;
  bool quiet = false;
  int report_queries = 6;
  std::string ion_embeddings;  // when set: the trained ION's embeddings of every ad go here (+ .ids.txt)
};

struct Row {
  ModelSpec spec;
  pipeline::Evaluation ev;
  double seconds = 0;
  int64_t params = 0, steps = 0, best_epoch = 0;
};

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

void write_tables(const fs::path& out, const std::vector<Row>& rows, const std::string& command) {
  std::ostringstream csv, md;
  csv << "model,kind,P@1 seen,P@5 seen,P@10 seen,P@1 unseen,P@5 unseen,P@10 unseen,P@1 all,P@5 all,P@10 all,"
         "accuracy,train seconds,parameters\n";
  md << "| model | P@1 seen | P@5 seen | P@10 seen | P@1 unseen | P@5 unseen | P@10 unseen | accuracy | train s |\n"
        "|---|---|---|---|---|---|---|---|---|\n";
  nlohmann::json j = {{"command", command}, {"rows", nlohmann::json::array()}};
  for (const Row& r : rows) {
    const train::RetrievalMetrics& m = r.ev.retrieval;
    csv << '"' << r.spec.name << "\"," << r.spec.kind;
    for (const auto* p : {&m.p_seen, &m.p_unseen, &m.p_all})
      for (double v : *p) csv << ',' << fmt(v);
    csv << ',' << (r.ev.accuracy >= 0 ? fmt(r.ev.accuracy) : "") << ',' << fmt(r.seconds) << ',' << r.params << "\n";
    md << "| " << r.spec.name;
    for (const auto* p : {&m.p_seen, &m.p_unseen})
      for (double v : *p) md << " | " << fmt(v);
    md << " | " << (r.ev.accuracy >= 0 ? fmt(r.ev.accuracy) : "-") << " | " << int64_t(r.seconds + 0.5) << " |\n";
    j["rows"].push_back({{"spec", r.spec.to_json()}, {"p_seen", m.p_seen}, {"p_unseen", m.p_unseen},
                         {"p_all", m.p_all}, {"queries_seen", m.queries_seen}, {"queries_unseen", m.queries_unseen},
                         {"accuracy", r.ev.accuracy}, {"train_seconds", r.seconds}, {"parameters", r.params},
                         {"steps", r.steps}, {"best_epoch", r.best_epoch}});
  }
  io::write_file_atomically(out / "results.csv", csv.str());
  io::write_file_atomically(out / "results.md", md.str());
  io::write_file_atomically(out / "results.json", j.dump(2) + "\n");
}

void print_table(const std::vector<Row>& rows) {
  std::printf("\n%-34s %7s %7s %7s | %7s %7s %7s | %7s\n", "model", "P@1", "P@5", "P@10", "P@1", "P@5", "P@10", "acc");
  std::printf("%-34s %23s | %23s |\n", "", "seen categories", "unseen categories");
  for (const Row& r : rows) {
    const train::RetrievalMetrics& m = r.ev.retrieval;
    std::printf("%-34s %7.4f %7.4f %7.4f | %7.4f %7.4f %7.4f | %7s\n", r.spec.name.c_str(), m.p_seen[0], m.p_seen[1],
                m.p_seen[2], m.p_unseen[0], m.p_unseen[1], m.p_unseen[2],
                r.ev.accuracy >= 0 ? fmt(r.ev.accuracy).c_str() : "-");
  }
  std::fflush(stdout);
}

// Pixel box of region j from its normalised geometry (centre, size).
report::ReportBox region_box(const models::AdExample& a, int64_t j, int width, int height, double score, bool kept) {
  const float* g = a.region_geometry.data() + j * models::kGeometryDim;
  report::ReportBox b;
  b.w = double(g[2]) * width, b.h = double(g[3]) * height;
  b.x = double(g[0]) * width - b.w / 2, b.y = double(g[1]) * height - b.h / 2;
  b.score = score;
  b.highlight = kept;
  char label[32];
  std::snprintf(label, sizeof label, "%s%.2f", kept ? "kept " : "", score);
  b.label = label;
  return b;
}

report::ReportImage ad_image(const pipeline::PreparedData& d, size_t i, const fs::path& report_dir, bool match) {
  const data::AdRecord& rec = d.test.records[i];
  report::ReportImage img;
  const fs::path file = fs::path(rec.image).is_absolute() ? fs::path(rec.image) : d.dir / rec.image;
  img.href = fs::relative(fs::absolute(file), fs::absolute(report_dir)).generic_string();
  img.caption = rec.text;
  img.match = match;
  try {
    const image::ImageInfo info = image::probe(image::read_bytes(file), file.string());
    img.width = info.width, img.height = info.height;
  } catch (const std::exception&) {
    img.width = img.height = 128;
  }
  return img;
}

// Sample queries of the first model: each query's regions with their text-guided scores (kept
// ones highlighted) and its nearest test ads.
std::vector<report::QueryRow> sample_queries(models::AnyModel& m, const pipeline::PreparedData& d,
                                             const std::vector<float>& emb, int count, const fs::path& report_dir) {
  std::vector<report::QueryRow> out;
  const pipeline::Split& test = d.test;
  const int64_t n = int64_t(test.ads.size()), E = m.embedding_dim();
  if (n < 2) return out;
  const std::vector<std::vector<int64_t>> nn = train::nearest(emb.data(), n, E, 5);
  for (int q = 0; q < count && q < n; ++q) {
    const size_t i = size_t(q) * size_t(n) / size_t(count);  // spread over the test set
    const models::AdExample& a = test.ads[i];
    std::vector<const models::AdExample*> one = {&a};
    std::vector<float> e(static_cast<size_t>(E));
    m.embed(models::make_batch<float>(one, d.config.max_words), e.data());
    report::QueryRow row;
    row.query = ad_image(d, i, report_dir, true);
    const std::vector<int32_t>& kept = m.kept_regions();
    const std::vector<float>& score = m.region_scores();
    for (int64_t j = 0; j < a.regions; ++j) {
      const bool is_kept = std::find(kept.begin(), kept.end(), int32_t(j)) != kept.end();
      row.query.boxes.push_back(region_box(a, j, row.query.width, row.query.height, double(score[size_t(j)]), is_kept));
    }
    for (int64_t r : nn[i])
      if (r >= 0) row.retrieved.push_back(ad_image(d, size_t(r), report_dir, test.ads[size_t(r)].category == a.category));
    out.push_back(std::move(row));
  }
  return out;
}

void run_experiment(const ExperimentCommand& c, const std::string& command_line) {
  if (c.threads > 0) set_num_threads(c.threads);
  const fs::path out = c.out;
  fs::create_directories(out);
  const text::Tokenizer tok = text::Tokenizer::load();
  std::vector<ModelSpec> specs = experiment::specs(c.set);
  if (!c.only.empty()) {
    std::vector<ModelSpec> kept;
    for (const ModelSpec& s : specs)
      if (("," + c.only + ",").find("," + s.name + ",") != std::string::npos) kept.push_back(s);
    SIMAD_CHECK(!kept.empty(), "experiment: --only '", c.only, "' names no model of the set '", c.set, "'");
    specs = kept;
  }
  std::map<std::string, pipeline::PreparedData> data;  // by region source
  std::vector<Row> rows;
  std::vector<report::QueryRow> queries;
  const auto t_all = std::chrono::steady_clock::now();
  for (size_t k = 0; k < specs.size(); ++k) {
    ModelSpec s = specs[k];
    s.d_model = c.d_model, s.layers = c.layers > 0 ? c.layers : s.layers;
    if (c.regions == "detector") {  // the same rows on the detector's regions and its pooled map
      if (s.region_source == "grid") s.region_source.assign("detector-grid");
      else if (s.region_source == "oracle") s.region_source.assign("detector");
    }
    if (!data.count(s.region_source)) {
      models::DataConfig base;
      base.region_source = s.region_source;
      base.detector_cfg = c.detector_cfg, base.detector_weights = c.detector_weights;
      base.region_features = c.region_features;
      std::cerr << "experiment: loading " << c.data << " with " << s.region_source << " regions\n";
      data.emplace(s.region_source, pipeline::prepare_data(c.data, base, tok, !c.quiet));
    }
    const pipeline::PreparedData& d = data.at(s.region_source);
    std::cerr << "experiment: [" << k + 1 << "/" << specs.size() << "] " << s.name << "\n";
    models::AnyModel m = pipeline::build_model(s, d);
    Rng rng(c.trainer.seed, 0x1417u);
    if (m.is_ion()) m.ion().init(rng);
    else m.totyemb().init(rng);
    train::TrainerOptions o = c.trainer;
    o.progress = !c.quiet;
    if (s.lr > 0) o.lr = s.lr;
    o.metrics_log = (out / "metrics.jsonl").string();
    const auto t0 = std::chrono::steady_clock::now();
    const train::TrainResult tr = pipeline::train_model(m, d, o, s.pretrain_epochs);
    Row row;
    row.spec = s;
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    row.params = m.store().num_params(), row.steps = tr.steps, row.best_epoch = tr.best_epoch;
    row.ev = pipeline::evaluate(m, d.config, d.test.ads, false);
    std::cerr << "experiment: " << s.name << ": P@10 seen " << fmt(row.ev.retrieval.p_seen[2]) << ", unseen "
              << fmt(row.ev.retrieval.p_unseen[2]) << " (" << int64_t(row.seconds) << " s)\n";
    if (k == 0 || s.name == "ToTYEmb") {  // sample queries of ToTYEmb (it ranks regions by text), else the first
      const std::vector<float> emb = pipeline::embed_all(m, d.test.ads, d.config.max_words, false);
      queries = sample_queries(m, d, emb, c.report_queries, out);
    }
    if (!c.ion_embeddings.empty() && s.name == "ION") {  // for `simad demo`'s lookalike step
      std::vector<models::AdExample> all = d.train.ads;
      all.insert(all.end(), d.validation.ads.begin(), d.validation.ads.end());
      all.insert(all.end(), d.test.ads.begin(), d.test.ads.end());
      const std::vector<float> emb = pipeline::embed_all(m, all, d.config.max_words, !c.quiet);
      io::write_npy(c.ion_embeddings, emb.data(), int64_t(all.size()), m.embedding_dim());
      std::string ids;
      for (const models::AdExample& a : all) ids += std::to_string(a.id) + "\n";
      io::write_file_atomically(c.ion_embeddings + ".ids.txt", ids);
    }
    rows.push_back(row);
    write_tables(out, rows, command_line);  // after every model: a long run can be read as it goes
  }
  print_table(rows);
  // The HTML report: table, K sweep, sample queries.
  report::Report r;
  r.title = "simad experiment: " + c.data;
  r.intro.push_back("Command: " + command_line);
  r.intro.push_back("Each test ad queries all other test ads by exact L2 distance; P@k = same-category ads among "
                    "its k nearest / k, over queries of categories seen in training and of held-out categories.");
  report::Table table;
  table.columns = {"P@1 seen", "P@5 seen", "P@10 seen", "P@1 unseen", "P@5 unseen", "P@10 unseen"};
  for (const Row& row : rows) {
    report::TableRow tr;
    tr.name = row.spec.name;
    for (const auto* p : {&row.ev.retrieval.p_seen, &row.ev.retrieval.p_unseen})
      for (double v : *p) tr.values.push_back(v);
    table.rows.push_back(tr);
  }
  r.tables.push_back(table);
  report::Series text{"text-guided (ToTYEmb)", {}, {}}, conf{"detector confidence (Trans+YOLO)", {}, {}};
  for (const Row& row : rows) {
    const bool grid = row.spec.region_source == "grid" || row.spec.region_source == "detector-grid";
    if (row.spec.kind != "totyemb" || grid || row.spec.fusion != "fused" || !row.spec.pointer)
      continue;
    report::Series& series = row.spec.ranking == "text" ? text : conf;
    series.xs.push_back(double(row.spec.K)), series.ys.push_back(row.ev.retrieval.p_all[2]);
  }
  if (text.xs.size() >= 2 || conf.xs.size() >= 2) {
    for (report::Series* s : {&text, &conf}) {  // x ascending
      std::vector<std::pair<double, double>> p;
      for (size_t i = 0; i < s->xs.size(); ++i) p.emplace_back(s->xs[i], s->ys[i]);
      std::sort(p.begin(), p.end());
      for (size_t i = 0; i < p.size(); ++i) s->xs[i] = p[i].first, s->ys[i] = p[i].second;
    }
    r.plots.push_back(report::svg_line_plot("P@10 (all test queries) against K, regions kept", "K", "P@10", {text, conf}));
  }
  r.queries = queries;
  report::write_report((out / "report.html").string(), r);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  std::cout << "\nexperiment: " << rows.size() << " models in " << int64_t(total) << " s; wrote " << (out / "results.md").string()
            << ", results.csv, results.json and " << (out / "report.html").string() << "\n";
}

void add_experiment_options(CLI::App* cmd, ExperimentCommand& c) {
  cmd->add_option("--epochs", c.trainer.epochs, "Epochs per model")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--lr", c.trainer.lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--seed", c.trainer.seed, "Seed of every model's initialisation and sampling")->capture_default_str();
  cmd->add_option("--d-model", c.d_model, "Width d of every model")->capture_default_str()->check(CLI::Range(4, 4096));
  cmd->add_option("--layers", c.layers, "Encoder layers of every model (0: the papers', 4 for ION, 1 for ToTYEmb)")
      ->capture_default_str()->check(CLI::Range(0, 48));
  cmd->add_option("--queries", c.report_queries, "Sample queries shown in the report")
      ->capture_default_str()->check(CLI::Range(0, 100));
  cmd->add_option("--regions", c.regions,
                  "Regions of every model: oracle (SynthAds' object boxes and grid cells, pixel descriptors) or "
                  "detector (the shipped detector's detections, --region-features; the grid row pools its map)")
      ->capture_default_str()->check(CLI::IsMember({"detector", "oracle"}));
  add_detector_options(cmd, c.detector_cfg, c.detector_weights);
  add_region_feature_option(cmd, c.region_features);
  cmd->add_option("--threads", c.threads, "Threads")->type_name("N")->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", c.quiet, "No progress bars");
}

struct DemoCommand {
  ExperimentCommand exp;
  int ads = 6000, image_size = 128;
  uint64_t data_seed = 7;
  int impressions = 3000;  // per package and period: enough clicks for the lookalike step
  bool lookalike = true;
};

}  // namespace

void register_experiment(CLI::App& app) {
  auto c = std::make_shared<ExperimentCommand>();
  c->trainer.epochs = 15;
  CLI::App* cmd = app.add_subcommand("experiment",
                                     "Reproduce the papers' comparison: train and evaluate each model, baseline and ablation");
  cmd->footer(
      "Sets: quick = ION, ToTYEmb, text only, image only, Trans+YOLO (detector confidence), Trans+grid;\n"
      "full = also every ablation (KSG, SCA, DFA, pointer, rho, soft gate) and the K / k2 sweeps.\n"
      "Writes OUT/results.{md,csv,json} (after every model) and OUT/report.html.\n"
      "Example:\n"
      "  simad synth --out ads --ads 2000 --image-size 128\n"
      "  simad experiment --data ads --out exp --set full");
  cmd->add_option("--data", c->data, "Data folder (train/validation/test.jsonl + images)")->required()->type_name("DIR");
  cmd->add_option("--out", c->out, "Output folder")->required()->type_name("DIR");
  cmd->add_option("--set", c->set, "Which configurations")->capture_default_str()->check(CLI::IsMember({"quick", "full"}));
  cmd->add_option("--only", c->only, "Comma-separated model names of the set to run (e.g. \"ION,ToTYEmb\")");
  add_experiment_options(cmd, *c);
  cmd->callback([c, cmd] {
    std::string line = "simad experiment --data " + c->data + " --out " + c->out + " --set " + c->set +
                       " --epochs " + std::to_string(c->trainer.epochs) + " --seed " + std::to_string(c->trainer.seed) +
                       " --regions " + c->regions + " --region-features " + c->region_features;
    if (!c->only.empty()) line += " --only \"" + c->only + "\"";
    (void)cmd;
    run_experiment(*c, line);
  });
}

void register_demo(CLI::App& app) {
  auto c = std::make_shared<DemoCommand>();
  c->exp.out = "simad-demo";
  c->exp.trainer.epochs = 15;
  c->exp.d_model = 64;
  CLI::App* cmd = app.add_subcommand("demo", "The main job on built-in data: synthesise ads, train ION, ToTYEmb and "
                                             "the baselines, evaluate, write the table and an HTML report");
  cmd->footer(
      "Steps: `simad synth` (SynthAds, OUT/data), then `simad experiment --set quick` into OUT, then\n"
      "`simad expand` with ION's embeddings on the 8 lowest-CTR test packages into OUT/lookalike.\n"
      "Regions: SynthAds' object boxes with pixel descriptors; --regions detector takes the shipped\n"
      "SynthAds detector's detections instead (configs/synthads-detector.*, docs/models.md).\n"
      "Example:\n"
      "  simad demo --out simad-demo        # then open simad-demo/report.html");
  cmd->add_option("--out", c->exp.out, "Output folder")->capture_default_str()->type_name("DIR");
  cmd->add_option("--ads", c->ads, "SynthAds ads to generate")->capture_default_str()->check(CLI::Range(100, 1000000));
  cmd->add_option("--image-size", c->image_size, "Image size of the generated ads")
      ->capture_default_str()->check(CLI::Range(32, 1024));
  cmd->add_option("--data-seed", c->data_seed, "Seed of the generated world")->capture_default_str();
  cmd->add_option("--impressions", c->impressions, "Impressions per ad package and period")
      ->capture_default_str()->check(CLI::Range(1, 1000000));
  cmd->add_flag("!--no-lookalike", c->lookalike, "Skip the lookalike step (simad expand)");
  add_experiment_options(cmd, c->exp);
  cmd->callback([c] {
    if (c->exp.threads > 0) set_num_threads(c->exp.threads);
    const fs::path data_dir = fs::path(c->exp.out) / "data";
    data::synthads::SynthConfig cfg;
    cfg.ads = c->ads, cfg.seed = c->data_seed, cfg.image_size = c->image_size, cfg.progress = !c->exp.quiet;
    cfg.audience.impressions_per_package = c->impressions;
    std::cerr << "demo: generating " << cfg.ads << " SynthAds ads (" << cfg.image_size << " px) into " << data_dir.string() << "\n";
    const data::synthads::SynthSummary s = data::synthads::write_synthads(data_dir.string(), cfg);
    std::cerr << "demo: " << s.train << " train, " << s.validation << " validation, " << s.test << " test ads; "
              << s.heldout_categories << " categories held out of training\n";
    c->exp.data = data_dir.string();
    c->exp.set = "quick";
    if (c->lookalike) c->exp.ion_embeddings = (fs::path(c->exp.out) / "ion_embeddings.npy").string();
    run_experiment(c->exp, "simad demo --out " + c->exp.out + " --ads " + std::to_string(c->ads) + " --epochs " +
                               std::to_string(c->exp.trainer.epochs) + " --regions " + c->exp.regions +
                               " --region-features " + c->exp.region_features);
    if (!c->lookalike) return;
    expand::ExpandCommand e;
    e.emb = c->exp.ion_embeddings;
    e.ads = (data_dir / "ads.jsonl").string(), e.users = (data_dir / "users.csv").string();
    e.clicks = (data_dir / "impressions.csv").string(), e.out = (fs::path(c->exp.out) / "lookalike").string();
    e.low_ctr = 8, e.from_split = "test", e.quiet = c->exp.quiet;
    e.opt.m_values = {5, 10, 20, 50, 100, 200};
    std::cerr << "demo: lookalike (simad expand) with ION's embeddings on the 8 lowest-CTR test packages\n";
    try {
      expand::run_expand(e, "simad expand --emb " + e.emb + " --ads " + e.ads + " --users " + e.users + " --clicks " +
                                e.clicks + " --out " + e.out + " --low-ctr 8 --from-split test --m 5,10,20,50,100,200");
    } catch (const Error& err) {  // e.g. a tiny --ads / --impressions: no package with enough clickers
      std::cerr << "demo: lookalike step skipped: " << err.what() << "\n";
    }
  });
}

static const RegisterCommand kExperiment{53, "experiment", &register_experiment};
static const RegisterCommand kDemo{1, "demo", &register_demo};

}  // namespace simad::cli
