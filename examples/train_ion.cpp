// examples/train_ion.cpp: train ION on a folder of JSONL ads (train.jsonl + validation.jsonl + their
// images, as `simad synth` writes them) and save the model folder that `simad embed` and
// examples/embed_one_ad read.
//   train_ion DATA_DIR MODEL_DIR [EPOCHS]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <simad/simad.hpp>

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR MODEL_DIR [EPOCHS]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1], out = argv[2];
  const int epochs = argc > 3 ? std::atoi(argv[3]) : 5;
  namespace data = simad::data;
  namespace models = simad::models;

  // 1. Rows, vocabularies from the training text, categories -> training classes.
  const simad::text::Tokenizer tok = simad::text::Tokenizer::load();  // jieba dictionary + WordNet
  const data::AdRecords train_rows = data::read_ad_records(dir + "/train.jsonl");
  const data::AdRecords val_rows = data::read_ad_records(dir + "/validation.jsonl");
  const data::Vocabularies vocab = data::build_vocabularies(train_rows.records, tok);
  const std::map<int32_t, int32_t> classes = data::category_labels(train_rows.records);

  // 2. Model inputs: word ids + region features (SynthAds' object boxes, pixel descriptors).
  data::AdDatasetOptions options;  // oracle regions, 32 words
  const data::AdDatasetLoad train = data::load_ad_examples(train_rows.records, dir, tok, vocab.words, vocab.tags, classes, options);
  const data::AdDatasetLoad val = data::load_ad_examples(val_rows.records, dir, tok, vocab.words, vocab.tags, classes, options);
  std::printf("%zu training ads (%zu skipped), %zu validation ads, %zu classes\n", train.examples.size(),
              train.skipped.size(), val.examples.size(), classes.size());

  // 3. A small ION (the paper's is d = 128, 4 layers; every field of IonConfig is a MODELS.md switch).
  models::IonConfig cfg;
  cfg.encoder.vocab_size = int64_t(vocab.words.size());
  cfg.encoder.d_model = 32, cfg.encoder.num_heads = 2, cfg.encoder.num_layers = 2, cfg.encoder.ffn_dim = 64;
  cfg.region_dim = train.examples.at(0).region_dim;
  cfg.embedding_dim = 32;
  models::Ion<float> ion(cfg);
  simad::Rng rng(1);
  ion.init(rng);

  // 4. Train: P x K batches, Adam, validation each epoch, best epoch kept.
  simad::train::TrainerOptions o;
  o.epochs = epochs, o.classes_per_batch = 8, o.ads_per_class = 4, o.lr = 1e-3, o.progress = false;
  const simad::train::TrainResult r = simad::train::train(ion, train.examples, val.examples, o);
  std::printf("trained %lld steps; best epoch %lld, validation loss %.4f\n", static_cast<long long>(r.steps),
              static_cast<long long>(r.best_epoch), r.best_validation_loss);

  // 5. Save weights + config + vocabularies + how ads become inputs.
  models::DataConfig data_cfg;
  for (const auto& [category, label] : classes) data_cfg.class_categories.push_back(category);  // ascending = label order
  models::save_model(out, ion.store(), ion.config_json(), data_cfg, vocab.words, vocab.tags);
  std::printf("saved %s\n", out.c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "train_ion: %s\n", e.what());
  return 1;
}
