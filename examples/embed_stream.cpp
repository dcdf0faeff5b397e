// examples/embed_stream.cpp: a service-style loop. Ads arrive as JSONL lines on stdin (the format of
// `simad synth`'s rows: id, text, image, boxes); they are embedded in batches of at most BATCH ads,
// so memory stays bounded whatever the stream's length, and each embedding is written as a line
// "id v1 v2 ..." on stdout. A bad row is reported on stderr and the stream goes on.
//   embed_stream MODEL_DIR IMAGE_DIR [BATCH] < ads.jsonl
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <simad/simad.hpp>

namespace {

// Embeds the rows in `pending` and prints them; keeps nothing afterwards.
void flush(simad::models::SavedModel& m, const simad::text::Tokenizer& tok, const std::string& image_dir,
           std::vector<simad::data::AdRecord>& pending) {
  if (pending.empty()) return;
  namespace data = simad::data;
  data::AdDatasetOptions options;
  options.source = simad::models::parse_region_source(m.data.region_source);
  options.grid = m.data.grid, options.max_words = m.data.max_words;
  const data::AdDatasetLoad load = data::load_ad_examples(
      pending, image_dir, tok, m.words, m.tags, [](int32_t) { return -1; }, options);
  for (const data::RowProblem& p : load.skipped) std::cerr << "skipped ad " << p.id << ": " << p.reason << "\n";
  pending.clear();
  if (load.examples.empty()) return;
  std::vector<const simad::models::AdExample*> rows;
  for (const auto& a : load.examples) rows.push_back(&a);
  const auto batch = simad::models::make_batch<float>(rows, m.data.max_words);
  const int64_t E = m.model.embedding_dim();
  std::vector<float> emb(size_t(batch.B * E));
  m.model.embed(batch, emb.data());
  for (int64_t i = 0; i < batch.B; ++i) {
    std::printf("%lld", static_cast<long long>(batch.ids[size_t(i)]));
    for (int64_t c = 0; c < E; ++c) std::printf(" %.6g", double(emb[size_t(i * E + c)]));
    std::printf("\n");
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE_DIR [BATCH] < ads.jsonl\n", argv[0]);
    return 2;
  }
  simad::models::SavedModel m = simad::models::load_model(argv[1]);
  const simad::text::Tokenizer tok = simad::text::Tokenizer::load();
  const size_t batch = argc > 3 ? size_t(std::max(1, std::atoi(argv[3]))) : 16;
  const std::string tmp = std::string(argv[1]) + "/.stream-row.jsonl";  // one row, parsed by the library's reader
  std::vector<simad::data::AdRecord> pending;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.empty()) continue;
    simad::io::write_file_atomically(tmp, line + "\n");
    simad::data::AdRecords r = simad::data::read_ad_records(tmp);
    for (const auto& p : r.problems) std::cerr << "bad row: " << p.reason << "\n";
    for (auto& rec : r.records) pending.push_back(std::move(rec));
    if (pending.size() >= batch) flush(m, tok, argv[2], pending);
  }
  flush(m, tok, argv[2], pending);
  std::remove(tmp.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "embed_stream: %s\n", e.what());
  return 1;
}
