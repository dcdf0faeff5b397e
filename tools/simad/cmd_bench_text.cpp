// tools/simad/cmd_bench_text.cpp: `simad bench text`, jieba-compatible segmentation throughput.
//
// Times simad's Segmenter on one thread over a corpus of lines (each line segmented as one text, as
// `simad tokenize` does), in both modes, and the load time of jieba's dictionary and HMM model.
// The peer, Python jieba on the same corpus, is timed by benchmarks/segment_vs_jieba.py, which runs
// this command in the same session and prints the ratio; this command prints simad's side only.
//   simad bench text --corpus ads.txt [--json out.json] [--min-time 2]
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_timing.hpp"
#include "commands.hpp"
#include "machine.hpp"
#include "simad/core/error.hpp"
#include "simad/text/segmenter.hpp"

namespace simad::cli {
namespace {

struct BenchTextOptions {
  std::string corpus;
  std::string json_path;
  std::string jieba_dir;
  double min_time = 2.0;  // seconds per mode (whole passes over the corpus, at least one)
};

void run_bench_text(const BenchTextOptions& opt) {
  const std::string data = text::read_text_file(opt.corpus, "corpus", "generate one with tests/tools/make_text_corpus.py");
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < data.size();) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    lines.push_back(std::string_view(data).substr(pos, end - pos));
    pos = end + 1;
  }
  const std::string dir = opt.jieba_dir.empty() ? text::jieba_dir() : opt.jieba_dir;
  const auto t_load = Clock::now();
  const text::Segmenter seg = text::Segmenter::load(dir);
  const double load_s = seconds_since(t_load);
  std::fprintf(stdout, "simad bench text: %s, %.2f MB, %zu lines, 1 thread; %s\n", opt.corpus.c_str(),
               double(data.size()) / 1e6, lines.size(), machine_summary(read_machine()).c_str());
  std::fprintf(stdout, "load dict.txt + finalseg: %.3f s (%zu words, %zu trie nodes)\n", load_s, seg.dict().word_count(),
               seg.dict().node_count());
  std::fprintf(stdout, "%-10s %12s %12s %10s %8s\n", "mode", "MB/s", "best MB/s", "tokens", "passes");
  nlohmann::json rows = nlohmann::json::array();
  for (bool hmm : {false, true}) {
    text::Segmenter::Scratch scratch;
    std::vector<text::TokenSpan> spans;
    std::vector<double> pass_seconds;
    size_t tokens = 0;
    const auto t_mode = Clock::now();
    do {
      const auto t0 = Clock::now();
      size_t n = 0;
      for (std::string_view line : lines) {
        spans.clear();
        seg.cut(line, hmm, spans, scratch);
        n += spans.size();
      }
      pass_seconds.push_back(seconds_since(t0));
      tokens = n;
    } while (seconds_since(t_mode) < opt.min_time);
    std::vector<double> sorted = pass_seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2], best = sorted.front();
    const double mbps = double(data.size()) / 1e6 / median, best_mbps = double(data.size()) / 1e6 / best;
    std::fprintf(stdout, "%-10s %12.2f %12.2f %10zu %8zu\n", hmm ? "hmm" : "no-hmm", mbps, best_mbps, tokens,
                 pass_seconds.size());
    rows.push_back({{"mode", hmm ? "hmm" : "no-hmm"}, {"mb_per_s", mbps}, {"best_mb_per_s", best_mbps},
                    {"tokens", tokens}, {"pass_seconds", pass_seconds}});
  }
  std::fflush(stdout);
  if (!opt.json_path.empty()) {
    const nlohmann::json j = {{"corpus", opt.corpus}, {"corpus_bytes", data.size()}, {"lines", lines.size()},
                              {"threads", 1}, {"load_seconds", load_s}, {"rows", rows}};
    std::ofstream out(opt.json_path);
    if (!out) fail("cannot write '", opt.json_path, "'");
    out << j.dump(2) << "\n";
  }
}

void register_bench_text(CLI::App& bench) {
  auto opt = std::make_shared<BenchTextOptions>();
  CLI::App* cmd = bench.add_subcommand("text", "Segmentation throughput (MB/s, 1 thread) of simad's jieba-compatible segmenter");
  cmd->footer(
      "The peer (Python jieba on the same corpus, same session) and the ratio: benchmarks/segment_vs_jieba.py.\n"
      "Example:\n"
      "  tests/tools/make_text_corpus.py --megabytes 12 --seed 2 ads.txt && simad bench text --corpus ads.txt");
  cmd->add_option("--corpus", opt->corpus, "UTF-8 text, one text per line")->type_name("FILE")->required();
  cmd->add_option("--json", opt->json_path, "Also write the results as JSON to FILE")->type_name("FILE");
  cmd->add_option("--jieba-dir", opt->jieba_dir, "Directory with jieba's dict.txt and finalseg/")->type_name("DIR");
  cmd->add_option("--min-time", opt->min_time, "Least seconds per mode (whole passes; default 2)")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opt] { run_bench_text(*opt); });
}

static const RegisterBenchSuite kBenchText{20, "text", &register_bench_text};

}  // namespace
}  // namespace simad::cli
