// Tests of include/simad/nn/transformer.hpp: golden outputs of PyTorch's nn.TransformerEncoder (ReLU
// and GELU, 2 layers, padded batches; fixtures written by tests/tools/make_transformer_fixture.py and
// loaded by PyTorch's parameter names), finite-difference gradients of a layer and of the stack with
// word + POS-tag embeddings in training mode (dropout on), the sinusoidal table against its closed
// form, and bad configurations.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "simad/io/safetensors.hpp"
#include "simad/nn/positional_encoding.hpp"
#include "simad/nn/transformer.hpp"
#include "simad/train/param_store.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;

namespace {

std::filesystem::path fixture(const char* name) { return std::filesystem::path(SIMAD_TESTS_DIR) / "data" / name; }

nn::TransformerConfig config_from(const io::safetensors::Metadata& meta) {
  const auto j = nlohmann::json::parse(meta.at("config"));
  nn::TransformerConfig cfg;
  cfg.d_model = j.at("d_model").get<int64_t>();
  cfg.num_heads = j.at("nhead").get<int64_t>();
  cfg.ffn_dim = j.at("dim_feedforward").get<int64_t>();
  cfg.num_layers = j.at("num_layers").get<int64_t>();
  cfg.activation = j.at("activation").get<std::string>() == "gelu" ? nn::FfnActivation::gelu : nn::FfnActivation::relu;
  cfg.layernorm_eps = j.at("layer_norm_eps").get<double>();
  return cfg;
}

// Loads the fixture's weights by their PyTorch names and runs the encoder in eval mode; compares the
// real (unpadded) rows with PyTorch's float64 output.
template <typename T>
void check_golden(const char* name, double atol, double rtol) {
  CAPTURE(name);
  const auto path = fixture(name);
  io::safetensors::Reader reader(path);
  const nn::TransformerConfig cfg = config_from(reader.metadata());
  train::ParamStore<T> store;
  nn::TransformerEncoder<T> encoder(store, "", cfg);
  store.allocate();
  encoder.bind(store);
  io::safetensors::load(path, store, /*strict=*/false);  // the file also holds input, mask, expected
  const Tensor<T> x = reader.read<T>("input");
  const Tensor<float> maskf = reader.read<float>("mask");
  const Tensor<double> expected = reader.read<double>("expected");
  const int64_t B = x.dim(0), N = x.dim(1), d = x.dim(2);
  REQUIRE(d == cfg.d_model);
  std::vector<uint8_t> mask(size_t(B * N));
  for (int64_t i = 0; i < B * N; ++i) mask[size_t(i)] = maskf.data()[i] != 0.0f;
  std::vector<T> out(size_t(B * N * d));
  testing::poison(std::span<T>(out));
  encoder.forward_vectors(out.data(), x.data(), mask.data(), B, N, /*training=*/false);
  std::vector<T> got;
  std::vector<double> want;
  for (int64_t r = 0; r < B * N; ++r)
    if (mask[size_t(r)])
      for (int64_t c = 0; c < d; ++c) {
        got.push_back(out[size_t(r * d + c)]);
        want.push_back(expected.data()[r * d + c]);
      }
  REQUIRE(!got.empty());
  testing::check_close(got, want, atol, rtol, "encoder output vs PyTorch");
  // Padded rows are computed too (PyTorch's fast path writes zeros there): finite, never read.
  for (const T v : out) CHECK(std::isfinite(double(v)));
}

std::vector<uint8_t> ragged_mask(int64_t B, int64_t N) {
  std::vector<uint8_t> m(size_t(B * N), 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < std::max<int64_t>(1, N - b); ++i) m[size_t(b * N + i)] = 1;
  return m;
}

// Gradient check of the whole stack in training mode (dropout on, the same stream positions in every
// evaluation): every parameter of the store and, without embeddings, the input.
void check_stack_gradients(nn::TransformerConfig cfg, bool with_embedding) {
  auto rng = testing::test_rng();
  const int64_t B = 3, N = 4, d = cfg.d_model, M = B * N;
  train::ParamStore<double> store;
  nn::TransformerEncoder<double> encoder(store, "text.", cfg);
  store.allocate();
  encoder.bind(store);
  encoder.init(rng);
  // Random layer norms and biases, so nothing sits at PyTorch's symmetric initial values.
  for (const auto& s : store)
    if (s.name.find("norm") != std::string::npos || s.name.find("bias") != std::string::npos)
      store.init_uniform(s.name, rng, 0.5, 1.5);
  const auto mask = ragged_mask(B, N);
  auto x = testing::random_vector<double>(rng, size_t(M * d), -1.0, 1.0);
  std::vector<int32_t> words(static_cast<size_t>(M)), tags(static_cast<size_t>(M));
  for (auto& w : words) w = int32_t(rng.next_below(uint32_t(cfg.vocab_size > 0 ? cfg.vocab_size : 1)));
  for (auto& t : tags) t = int32_t(rng.next_below(uint32_t(cfg.pos_tag_count > 0 ? cfg.pos_tag_count : 1)));
  const auto W = testing::random_vector<double>(rng, size_t(M * d));
  const Rng drop_rng(99, 1);
  std::vector<double> out(size_t(M * d));
  auto loss = [&] {
    nn::DropoutStream drop{&drop_rng, 1000};
    if (with_embedding)
      encoder.forward(out.data(), words.data(), cfg.pos_tag_count > 0 ? tags.data() : nullptr, mask.data(), B, N,
                      true, &drop);
    else
      encoder.forward_vectors(out.data(), x.data(), mask.data(), B, N, true, &drop);
    double L = 0;
    for (size_t i = 0; i < out.size(); ++i) L += out[i] * W[i];
    return L;
  };
  loss();
  const auto start = testing::random_vector<double>(rng, size_t(store.buffer_size()));
  std::copy(start.begin(), start.end(), store.grads().data());
  std::vector<double> dx(x.size(), 0.25);
  encoder.backward(with_embedding ? nullptr : dx.data(), W.data());
  std::vector<double> analytic(start.size());
  for (size_t i = 0; i < start.size(); ++i) analytic[i] = store.grads().data()[i] - start[i];
  const auto numeric = testing::numeric_gradient(store.params().span(), loss);
  SIMAD_CHECK_GRADIENT(analytic, numeric, "encoder parameter gradients");
  if (!with_embedding) {
    for (auto& g : dx) g -= 0.25;
    SIMAD_CHECK_GRADIENT(dx, testing::numeric_gradient(std::span<double>(x), loss), "encoder input gradient");
  }
}

}  // namespace

TEST_CASE("nn/transformer: ReLU encoder reproduces PyTorch's outputs") {
  check_golden<double>("transformer_relu.safetensors", 1e-9, 1e-9);
  check_golden<float>("transformer_relu.safetensors", 2e-5, 2e-5);
}

TEST_CASE("nn/transformer: GELU encoder reproduces PyTorch's outputs") {
  check_golden<double>("transformer_gelu.safetensors", 1e-9, 1e-9);
  check_golden<float>("transformer_gelu.safetensors", 2e-5, 2e-5);
}

TEST_CASE("nn/transformer: layer gradients match finite differences with dropout on") {
  for (auto act : {nn::FfnActivation::relu, nn::FfnActivation::gelu}) {
    CAPTURE(int(act));
    nn::TransformerConfig cfg;
    cfg.d_model = 8, cfg.num_heads = 2, cfg.ffn_dim = 12, cfg.num_layers = 1, cfg.activation = act;
    cfg.dropout = 0.2;
    check_stack_gradients(cfg, false);
  }
}

TEST_CASE("nn/transformer: stack with word and POS-tag embeddings matches finite differences") {
  nn::TransformerConfig cfg;
  cfg.d_model = 8, cfg.num_heads = 4, cfg.ffn_dim = 6, cfg.num_layers = 2, cfg.activation = nn::FfnActivation::gelu;
  cfg.dropout = 0.1, cfg.vocab_size = 7, cfg.pos_tag_count = 3;
  check_stack_gradients(cfg, true);
}

TEST_CASE("nn/transformer: eval mode ignores dropout and is deterministic") {
  auto rng = testing::test_rng();
  nn::TransformerConfig cfg;
  cfg.d_model = 16, cfg.num_heads = 4, cfg.ffn_dim = 20, cfg.num_layers = 2, cfg.dropout = 0.5, cfg.vocab_size = 11;
  train::ParamStore<float> store;
  nn::TransformerEncoder<float> encoder(store, "", cfg);
  store.allocate();
  encoder.bind(store);
  encoder.init(rng);
  const int64_t B = 2, N = 5;
  std::vector<int32_t> words(size_t(B * N));
  for (auto& w : words) w = int32_t(rng.next_below(11));
  const auto mask = ragged_mask(B, N);
  std::vector<float> a(size_t(B * N * 16)), b(a.size()), c(a.size());
  encoder.forward(a.data(), words.data(), nullptr, mask.data(), B, N, false);
  encoder.forward(b.data(), words.data(), nullptr, mask.data(), B, N, false);
  CHECK(a == b);
  const Rng drop_rng(5);
  nn::DropoutStream drop{&drop_rng, 0};
  encoder.forward(c.data(), words.data(), nullptr, mask.data(), B, N, true, &drop);
  CHECK(drop.offset > 0);  // training drew dropout masks
  CHECK(a != c);
}

TEST_CASE("nn/transformer: sinusoidal positions match the closed form") {
  const int64_t N = 50, C = 12;
  std::vector<double> pe(size_t(N * C));
  testing::poison(std::span<double>(pe));
  nn::sinusoidal_positions(pe.data(), N, C);
  std::vector<double> want(pe.size());
  for (int64_t pos = 0; pos < N; ++pos)
    for (int64_t k = 0; k < C / 2; ++k) {
      const double w = std::exp(-std::log(10000.0) * double(2 * k) / double(C));
      want[size_t(pos * C + 2 * k)] = std::sin(double(pos) * w);
      want[size_t(pos * C + 2 * k + 1)] = std::cos(double(pos) * w);
    }
  testing::check_close(pe, want, 1e-12, 1e-12, "sinusoidal positions");
}

TEST_CASE("nn/transformer: bad configurations and unbound layers throw") {
  train::ParamStore<float> store;
  nn::TransformerConfig cfg;
  cfg.d_model = 10, cfg.num_heads = 4;
  CHECK_THROWS_AS(nn::TransformerEncoder<float>(store, "", cfg), Error);
  cfg.num_heads = 2, cfg.dropout = 1.0;
  CHECK_THROWS_AS(nn::TransformerEncoder<float>(store, "", cfg), Error);
  cfg.dropout = 0.1;
  nn::TransformerEncoderLayer<float> layer(store, "l.", cfg);
  std::vector<float> x(40);
  CHECK_THROWS_AS(layer.forward(x.data(), x.data(), nullptr, 1, 4, false), Error);  // not bound
  store.allocate();
  layer.bind(store);
  CHECK_THROWS_AS(layer.forward(x.data(), x.data(), nullptr, 1, 4, true, nullptr), Error);  // no DropoutStream
  // A file missing a tensor the store declares names the file and the tensor.
  train::ParamStore<float> other;
  nn::TransformerConfig big;
  big.d_model = 64, big.num_heads = 4, big.ffn_dim = 8, big.num_layers = 1;
  nn::TransformerEncoder<float> enc(other, "", big);
  other.allocate();
  CHECK_THROWS_AS(io::safetensors::load(fixture("transformer_relu.safetensors"), other, false), Error);
}

}  // namespace SIMAD_TEST_FILE_ID
