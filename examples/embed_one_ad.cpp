// examples/embed_one_ad.cpp: embed one ad (a text and an image) in a C++ program with a trained
// model folder (from `simad train` or examples/train_ion).
//   embed_one_ad MODEL_DIR IMAGE "ad text"
// Without object boxes the regions are a G x G grid of the image (as a service without a detector
// would do); with a model trained on oracle boxes, pass the boxes you have instead (oracle_regions).
#include <cstdio>
#include <string>
#include <vector>

#include <simad/simad.hpp>

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE TEXT\n", argv[0]);
    return 2;
  }
  namespace models = simad::models;
  models::SavedModel m = models::load_model(argv[1]);  // weights, config, vocabularies
  const simad::text::Tokenizer tok = simad::text::Tokenizer::load();

  models::AdExample ad;
  ad.id = 0;
  for (const simad::text::Word& w : tok.tokenize(argv[3])) {  // words -> ids, as in training
    if (int64_t(ad.words.size()) == m.data.max_words) break;
    ad.words.push_back(m.words.id(w.text));
    ad.tags.push_back(m.tags.id(w.tag));
    ad.keyword.push_back(w.keyword);
  }
  const simad::image::Image img = simad::image::load(argv[2]);
  models::grid_regions(img, m.data.grid, ad);  // no boxes here: the G x G cells

  const std::vector<const models::AdExample*> rows = {&ad};
  const models::AdBatch<float> batch = models::make_batch<float>(rows, m.data.max_words);
  std::vector<float> embedding(size_t(m.model.embedding_dim()));
  m.model.embed(batch, embedding.data());

  std::printf("%s embedding of %zu words and %lld regions (%lld values):\n", m.model.kind().c_str(), ad.words.size(),
              static_cast<long long>(ad.regions), static_cast<long long>(embedding.size()));
  for (float v : embedding) std::printf("%.5f ", v);
  std::printf("\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "embed_one_ad: %s\n", e.what());
  return 1;
}
