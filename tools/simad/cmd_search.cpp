// tools/simad/cmd_search.cpp: `simad search`, exact k-nearest-neighbour search of a query file in a
// base file (include/simad/search/flat_index.hpp), results in the TEXMEX formats FAISS users read:
//   simad search --base base.fvecs --query q.fvecs --k 10 --out res   -> res.ids.ivecs, res.dist.fvecs
// Row i of each output is query i's k results, best first (id -1 / distance +-inf when k exceeds
// the pool). Base vectors from .fvecs/.npy get ids 0..N-1 (their row numbers); a saved index
// (.simadidx, search/index_file.hpp) brings its own ids and metric. --exclude-self makes query i
// skip id i (the queries are the base's own rows).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "simad/core/error.hpp"
#include "simad/core/parallel.hpp"
#include "simad/io/vectors.hpp"
#include "simad/search/flat_index.hpp"
#include "simad/search/index_file.hpp"

namespace simad::cli {
namespace {

struct SearchOptions {
  std::string base, query, out, metric, save_index, prefilter = "auto";
  int64_t k = 0;
  bool exclude_self = false;
  int threads = 0;
};

void run_search(const SearchOptions& o) {
  using simad::search::FlatIndex;
  using simad::search::Metric;
  if (o.threads > 0) simad::set_num_threads(o.threads);
  SIMAD_CHECK(o.k >= 1, "--k must be >= 1, got ", o.k);
  SIMAD_CHECK(o.metric.empty() || o.metric == "l2" || o.metric == "ip", "--metric must be l2 or ip, got '", o.metric,
              "'");
  const auto t0 = std::chrono::steady_clock::now();
  const std::filesystem::path base_path(o.base);
  std::unique_ptr<FlatIndex<float>> index;
  if (base_path.extension() == ".simadidx") {
    index = std::make_unique<FlatIndex<float>>(simad::search::load_index<float>(base_path));
    if (!o.metric.empty() && o.metric != simad::search::metric_name(index->metric()))
      fail("--metric ", o.metric, " differs from the metric of index '", o.base, "' (",
           simad::search::metric_name(index->metric()), ")");
  } else {
    const io::Matrix<float> base = io::read_vectors(base_path);
    SIMAD_CHECK(base.rows > 0, "base file '", o.base, "' has no vectors");
    index = std::make_unique<FlatIndex<float>>(base.cols, o.metric == "ip" ? Metric::InnerProduct : Metric::L2);
    try {
      index->add_sequential(base.data.data(), base.rows, 0);
    } catch (const Error& e) {
      fail("base file '", o.base, "': ", e.what());
    }
  }
  if (!o.save_index.empty()) simad::search::save_index(o.save_index, *index);
  if (o.prefilter != "auto")
    index->set_prefilter(o.prefilter == "off" ? simad::search::Prefilter::off : simad::search::Prefilter::int8);
  const io::Matrix<float> q = io::read_vectors(o.query);
  SIMAD_CHECK(q.rows == 0 || q.cols == index->dim(), "query file '", o.query, "' has dimension ", q.cols,
              ", the base has ", index->dim());
  std::vector<int64_t> self;
  if (o.exclude_self)
    for (int64_t i = 0; i < q.rows; ++i) self.push_back(i);
  std::vector<float> dist(size_t(q.rows * o.k));
  std::vector<int64_t> ids(size_t(q.rows * o.k));
  const auto t1 = std::chrono::steady_clock::now();
  if (q.rows > 0) {
    try {
      index->search(q.data.data(), q.rows, o.k, dist.data(), ids.data(), o.exclude_self ? self.data() : nullptr);
    } catch (const Error& e) {
      fail("query file '", o.query, "': ", e.what());
    }
  }
  const auto t2 = std::chrono::steady_clock::now();
  io::write_ivecs(o.out + ".ids.ivecs", ids.data(), q.rows, o.k);
  io::write_fvecs(o.out + ".dist.fvecs", dist.data(), q.rows, o.k);
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double search_s = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr, "simad search: %lld queries x %lld vectors (dim %lld, %s), k=%lld: loaded in %.3f s, "
               "searched in %.3f s (%.0f queries/s, %d threads, int8 prefilter: %s); wrote %s.ids.ivecs and "
               "%s.dist.fvecs\n",
               static_cast<long long>(q.rows), static_cast<long long>(index->size()),
               static_cast<long long>(index->dim()), simad::search::metric_name(index->metric()),
               static_cast<long long>(o.k), load_s, search_s, search_s > 0 ? double(q.rows) / search_s : 0.0,
               simad::num_threads(), index->prefilter_kernel(), o.out.c_str(), o.out.c_str());
}

void register_search(CLI::App& app) {
  auto opt = std::make_shared<SearchOptions>();
  CLI::App* cmd = app.add_subcommand("search", "Exact k-nearest-neighbour search (squared L2 or inner product)");
  cmd->footer(
      "Writes PREFIX.ids.ivecs (int32 ids) and PREFIX.dist.fvecs (float distances): row i = query i's k best,\n"
      "sorted (ascending L2, descending inner product; ties by smaller id); id -1 and distance +inf (l2) or -inf (ip)\n"
      "fill the slots when k exceeds the pool. Base rows of .fvecs/.npy get ids 0..N-1.\n"
      "Examples:\n"
      "  simad search --base base.fvecs --query query.fvecs --k 10 --out result\n"
      "  simad search --base emb.npy --query emb.npy --k 5 --exclude-self --out neighbours --save-index emb.simadidx");
  cmd->add_option("--base", opt->base, "Vectors to search: .fvecs, .npy (float32/float64) or a saved .simadidx index")
      ->required()
      ->type_name("FILE");
  cmd->add_option("--query", opt->query, "Query vectors: .fvecs or .npy")->required()->type_name("FILE");
  cmd->add_option("--k", opt->k, "Neighbours per query (>= 1)")->required()->type_name("K");
  cmd->add_option("--metric", opt->metric, "l2 (squared Euclidean, default) or ip (inner product)")
      ->type_name("l2|ip");
  cmd->add_flag("--exclude-self", opt->exclude_self, "Query i never returns id i (queries taken from the base)");
  cmd->add_option("--out", opt->out, "Output prefix")->required()->type_name("PREFIX");
  cmd->add_option("--save-index", opt->save_index, "Also save the base as an index file (.simadidx)")
      ->type_name("FILE");
  cmd->add_option("--prefilter", opt->prefilter,
                  "auto (default): scan an int8 copy first where the CPU has AVX512-VNNI (+25% memory, same "
                  "results, 2-3x faster; docs/search.md); off: the fp32 scan only; int8: always (slow without "
                  "VNNI). L2 only")
      ->type_name("auto|off|int8")
      ->check(CLI::IsMember({"auto", "off", "int8"}));
  cmd->add_option("--threads", opt->threads, "Threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));
  cmd->callback([opt] { run_search(*opt); });
}

}  // namespace

static const RegisterCommand kSearch{40, "search", &register_search};

}  // namespace simad::cli
