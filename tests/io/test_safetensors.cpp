// Tests of include/simad/io/safetensors.hpp: ParamStore round trips (F32, F64, BF16, F16
// conversions), the writer's byte layout (known answers from the Rust crate's tests and a fixture
// written by Python's `safetensors` package: tests/data/make_safetensors_fixture.py), atomic
// writes, load errors, and every malformed-file case the parser must reject with simad::Error.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "simad/io/safetensors.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
namespace st = simad::io::safetensors;
namespace fs = std::filesystem;
using train::ParamSlice;
using train::ParamStore;

namespace {

using Bytes = std::vector<uint8_t>;

// A file: u64 little-endian header length, the header text, then `data` bytes (zeros by default).
Bytes file_of(const std::string& header, size_t data_bytes = 0) {
  Bytes b(8 + header.size() + data_bytes, 0);
  for (size_t i = 0; i < 8; ++i) b[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), b.begin() + 8);
  return b;
}
Bytes with_length(uint64_t n, size_t total) {
  Bytes b(total, 0);
  for (size_t i = 0; i < 8 && i < total; ++i) b[i] = uint8_t(n >> (8 * i));
  return b;
}

Bytes read_all(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
void write_all(const fs::path& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// The number of entries in `dir` (a testing::TempDir per test): atomic writes leave no temporary behind.
size_t count(const fs::path& dir) {
  return size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

fs::path fixture_path() {
  return fs::path(__FILE__).parent_path().parent_path() / "data" / "safetensors_fixture.safetensors";
}

template <typename T>
ParamStore<T> make_store() {
  ParamStore<T> store;
  store.add("encoder.layer0.wq", {12, 7});
  store.add("encoder.layer0.bq", {7});
  store.add("head.scale", {});
  store.add("head.empty", {0, 3});
  store.add("head.w", {2, 3, 4, 5});
  store.allocate();
  return store;
}

template <typename T>
void randomize(const ParamStore<T>& store, Rng& rng) {
  for (const ParamSlice& s : store) rng.fill_uniform(store.param(s.name).span(), -3.0, 3.0);
}

std::string header_of(const Bytes& file) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[size_t(i)];
  return std::string(file.begin() + 8, file.begin() + 8 + std::ptrdiff_t(n));
}

std::span<const uint8_t> as_bytes(const void* p, size_t n) { return {static_cast<const uint8_t*>(p), n}; }

}  // namespace

// Every malformed case: parse() throws simad::Error naming the file and the tensor or offset.
#define CHECK_BAD(file, text)                                                       \
  CHECK_THROWS_WITH_AS(st::parse(file, "bad.safetensors"),                          \
                       doctest::Contains("safetensors 'bad.safetensors': " text), Error)

// A well-formed entry.
static std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                         uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// ------------------------------------------------------------------------------------------------
TEST_CASE("io/safetensors: F32 and F64 stores round trip bit for bit") {
  auto rng = testing::test_rng();
  testing::TempDir dir("simad_test_safetensors");
  {
    ParamStore<float> a = make_store<float>(), b = make_store<float>();
    randomize(a, rng);
    st::save(dir.path / "f32.safetensors", a, {{"step", "12"}});
    const st::Metadata meta = st::load(dir.path / "f32.safetensors", b);
    CHECK(meta.size() == 1);
    CHECK(meta.at("step") == "12");
    CHECK(std::memcmp(a.params().data(), b.params().data(), a.params().bytes()) == 0);
    const st::Header h = st::read_header(dir.path / "f32.safetensors");
    REQUIRE(h.tensors.size() == 5);
    for (const st::TensorInfo& t : h.tensors) {
      CHECK(t.dtype == st::Dtype::F32);
      CHECK(Shape(std::span<const int64_t>(t.shape)) == a.slice(t.name).shape);
    }
    CHECK(h.header_size % 8 == 0);
    CHECK(h.file_size() == fs::file_size(dir.path / "f32.safetensors"));
  }
  {
    ParamStore<double> a = make_store<double>(), b = make_store<double>();
    randomize(a, rng);
    st::save(dir.path / "f64.safetensors", a);
    CHECK(st::load(dir.path / "f64.safetensors", b).empty());
    CHECK(std::memcmp(a.params().data(), b.params().data(), a.params().bytes()) == 0);
    CHECK(st::read_header(dir.path / "f64.safetensors").tensors[0].dtype == st::Dtype::F64);
    // F64 into a float store and F32 into a double store convert.
    ParamStore<float> f = make_store<float>();
    st::load(dir.path / "f64.safetensors", f);
    for (const ParamSlice& s : f)
      for (int64_t i = 0; i < s.numel; ++i) REQUIRE(f.param(s.name).data()[i] == float(a.param(s.name).data()[i]));
    st::save(dir.path / "f32.safetensors", f);
    st::load(dir.path / "f32.safetensors", b);
    for (const ParamSlice& s : f)
      for (int64_t i = 0; i < s.numel; ++i) REQUIRE(b.param(s.name).data()[i] == double(f.param(s.name).data()[i]));
  }
  CHECK(count(dir.path) == 2);  // no temporary files left behind
}

TEST_CASE("io/safetensors: BF16 and F16 storage round to nearest even and convert back") {
  auto rng = testing::test_rng();
  testing::TempDir dir("simad_test_safetensors");
  ParamStore<float> a = make_store<float>();
  randomize(a, rng);
  a.param("encoder.layer0.bq")(0) = 1.0f + 0x1p-8f;  // a bf16 tie: rounds to even (1.0)
  a.param("encoder.layer0.bq")(1) = 70000.0f;        // beyond f16: inf
  a.param("encoder.layer0.bq")(2) = 1e-7f;           // f16 subnormal
  for (st::Dtype dtype : {st::Dtype::BF16, st::Dtype::F16}) {
    const fs::path path = dir.path / (std::string(st::dtype_name(dtype)) + ".safetensors");
    st::save(path, a, {}, dtype);
    CHECK(fs::file_size(path) == st::read_header(path).data_offset() + 2 * uint64_t(a.num_params()));
    for (const st::TensorInfo& t : st::read_header(path).tensors) CHECK(t.dtype == dtype);
    ParamStore<float> f = make_store<float>();
    ParamStore<double> d = make_store<double>();
    st::load(path, f);
    st::load(path, d);
    for (const ParamSlice& s : a)
      for (int64_t i = 0; i < s.numel; ++i) {
        const float x = a.param(s.name).data()[i];
        const float expected = dtype == st::Dtype::BF16 ? bf16_to_float(float_to_bf16(x)) : f16_to_float(float_to_f16(x));
        REQUIRE(f.param(s.name).data()[i] == expected);
        REQUIRE(d.param(s.name).data()[i] == double(expected));
      }
  }
  ParamStore<float> f = make_store<float>();
  st::load(dir.path / "BF16.safetensors", f);
  CHECK(f.param("encoder.layer0.bq")(0) == 1.0f);
  st::load(dir.path / "F16.safetensors", f);
  CHECK(std::isinf(f.param("encoder.layer0.bq")(1)));
  CHECK(f.param("encoder.layer0.bq")(2) == f16_to_float(f16{2}));  // 1e-7 = 1.68 * 2^-24 -> 2 * 2^-24
  CHECK_THROWS_AS(st::save(dir.path / "i32.safetensors", a, {}, st::Dtype::I32), Error);
  CHECK(!fs::exists(dir.path / "i32.safetensors"));
}

TEST_CASE("io/safetensors: a file written by Python's safetensors package") {
  const Bytes fixture = read_all(fixture_path());
  REQUIRE_MESSAGE(!fixture.empty(), "missing fixture ", fixture_path().string());
  const st::Header h = st::parse(fixture, "fixture");
  st::Reader reader(fixture_path());
  CHECK(reader.header().tensors.size() == h.tensors.size());
  const std::string note = "simad fixture \"v1\" \\ caf\xc3\xa9\n\t\x01 / \xc3\xbf";
  CHECK(h.has_metadata);
  CHECK(h.metadata == st::Metadata{{"note", note}});

  // Data order as prepare() sorts: F64 before F32 before BF16 before F16, then by name.
  std::vector<std::string> names;
  for (const st::TensorInfo& t : h.tensors) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"dense.bias", "scale", "dense.weight", "empty", "embed.bf16", "embed.f16"});
  CHECK(h.at("scale").shape.empty());
  CHECK(h.at("empty").shape == std::vector<int64_t>{0, 3});
  CHECK(h.at("empty").nbytes() == 0);

  // The values, recomputed from the generator's formulas.
  std::vector<float> weight(12), bf16_src(6), f16_src(5);
  std::vector<double> bias(4);
  for (int i = 0; i < 12; ++i) weight[size_t(i)] = (float(i) - 5.0f) * 0.25f;
  for (int i = 0; i < 4; ++i) bias[size_t(i)] = (double(i) + 1.0) / 3.0;
  for (int i = 0; i < 6; ++i) bf16_src[size_t(i)] = float(i) / 7.0f - 0.5f;
  for (int i = 0; i < 5; ++i) f16_src[size_t(i)] = (float(i) - 2.0f) / 3.0f;
  std::vector<bf16> bf16_bits(6);
  std::vector<f16> f16_bits(5);
  for (size_t i = 0; i < 6; ++i) bf16_bits[i] = float_to_bf16(bf16_src[i]);
  for (size_t i = 0; i < 5; ++i) f16_bits[i] = float_to_f16(f16_src[i]);
  const double pi = std::numbers::pi;

  const Tensor<float> w = reader.read<float>("dense.weight");
  CHECK(w.shape() == Shape{3, 4});
  CHECK(std::memcmp(w.data(), weight.data(), 48) == 0);
  CHECK(reader.read<double>("dense.bias").span()[2] == bias[2]);
  CHECK(reader.read<double>("scale").data()[0] == pi);
  CHECK(reader.read<float>("empty").numel() == 0);
  // Raw BF16/F16 bits equal simad's round-to-nearest-even (numpy's astype for f16).
  const st::TensorInfo& tb = h.at("embed.bf16");
  CHECK(std::memcmp(st::tensor_bytes(fixture, h, tb).data(), bf16_bits.data(), 12) == 0);
  CHECK(std::memcmp(st::tensor_bytes(fixture, h, h.at("embed.f16")).data(), f16_bits.data(), 10) == 0);
  const Tensor<double> e = reader.read<double>("embed.bf16");
  for (size_t i = 0; i < 6; ++i) CHECK(e.data()[i] == double(bf16_to_float(bf16_bits[i])));

  // Into stores of both compute types (all four dtypes convert).
  auto load_into = [&](auto store) {
    store.add("dense.weight", {3, 4});
    store.add("dense.bias", {4});
    store.add("embed.bf16", {2, 3});
    store.add("embed.f16", {5});
    store.add("scale", {});
    store.add("empty", {0, 3});
    store.allocate();
    CHECK(st::load(fixture_path(), store).at("note") == note);
    using T = typename std::remove_reference_t<decltype(store.params())>::value_type;
    CHECK(store.param("dense.weight")(2, 3) == T(weight[11]));
    CHECK(store.param("dense.bias")(0) == T(bias[0]));
    CHECK(store.param("embed.bf16")(1, 2) == T(bf16_to_float(bf16_bits[5])));
    CHECK(store.param("embed.f16")(4) == T(f16_to_float(f16_bits[4])));
    CHECK(store.param("scale").data()[0] == T(pi));
  };
  load_into(ParamStore<float>());
  load_into(ParamStore<double>());

  // simad's writer produces the same bytes (tensors given in another order; one metadata key).
  const std::vector<st::TensorData> tensors = {
      {"embed.f16", st::Dtype::F16, {5}, as_bytes(f16_bits.data(), 10)},
      {"empty", st::Dtype::F32, {0, 3}, {}},
      {"dense.weight", st::Dtype::F32, {3, 4}, as_bytes(weight.data(), 48)},
      {"scale", st::Dtype::F64, {}, as_bytes(&pi, 8)},
      {"embed.bf16", st::Dtype::BF16, {2, 3}, as_bytes(bf16_bits.data(), 12)},
      {"dense.bias", st::Dtype::F64, {4}, as_bytes(bias.data(), 32)},
  };
  const Bytes ours = st::serialize(tensors, {{"note", note}});
  CHECK(header_of(ours) == header_of(fixture));
  CHECK(ours == fixture);
  testing::TempDir dir("simad_test_safetensors");
  st::write_file(dir.path / "same.safetensors", tensors, {{"note", note}});
  CHECK(read_all(dir.path / "same.safetensors") == fixture);
}

TEST_CASE("io/safetensors: writer layout matches the reference implementation") {
  // Known answers from the Rust crate's own tests (safetensors/src/tensor.rs): no tensors, with
  // and without metadata, and one F32 tensor whose header needs no padding.
  CHECK(st::serialize({}) == Bytes{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '});
  const Bytes meta = st::serialize({}, {{"framework", "pt"}});
  CHECK(meta.size() == 48);
  CHECK(meta[0] == 40);
  CHECK(header_of(meta) == "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
  const float values[] = {0, 1, 2, 3, 4, 5};
  const st::TensorData attn{"attn.0", st::Dtype::F32, {1, 2, 3}, as_bytes(values, 24)};
  const Bytes one = st::serialize(std::span(&attn, 1));
  CHECK(one[0] == 64);
  CHECK(header_of(one) == "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}");
  CHECK(std::memcmp(one.data() + 72, values, 24) == 0);

  // Sort: by dtype in the crate's enum order, descending (BF16 before F16 although both are
  // 2 bytes; U64 > I64 > F64 > C64 > F32), then by name; metadata keys sorted, first.
  std::vector<uint8_t> zeros(64, 0);
  auto t = [&](std::string name, st::Dtype d) {
    return st::TensorData{std::move(name), d, {2}, std::span<const uint8_t>(zeros.data(), size_t(2 * st::dtype_bits(d) / 8))};
  };
  const std::vector<st::TensorData> mixed = {t("a", st::Dtype::F16), t("z", st::Dtype::BF16), t("y", st::Dtype::F32),
                                             t("b", st::Dtype::I64), t("x", st::Dtype::F64), t("c", st::Dtype::U8),
                                             t("d", st::Dtype::F64), t("m", st::Dtype::BOOL), t("k", st::Dtype::U64)};
  const Bytes file = st::serialize(mixed, {{"z", "1"}, {"a", "2"}});
  const st::Header h = st::parse(file);
  std::vector<std::string> order;
  for (const st::TensorInfo& i : h.tensors) order.push_back(i.name);
  CHECK(order == std::vector<std::string>{"k", "b", "d", "x", "y", "z", "a", "c", "m"});
  CHECK(header_of(file).rfind("{\"__metadata__\":{\"a\":\"2\",\"z\":\"1\"},\"k\":", 0) == 0);
  CHECK(h.header_size % 8 == 0);
  CHECK(header_of(file).back() == ' ');

  // Writer errors: duplicate or reserved names, a byte count that does not match the shape,
  // invalid UTF-8.
  CHECK_THROWS_WITH_AS(st::serialize(std::vector{t("a", st::Dtype::F32), t("a", st::Dtype::F16)}),
                       doctest::Contains("duplicate tensor name 'a'"), Error);
  CHECK_THROWS_AS(st::serialize(std::vector{t("__metadata__", st::Dtype::F32)}), Error);
  CHECK_THROWS_AS(st::serialize(std::vector{st::TensorData{"a", st::Dtype::F32, {3}, std::span(zeros.data(), 8)}}),
                  Error);
  CHECK_THROWS_AS(st::serialize(std::vector{st::TensorData{"a", st::Dtype::F32, {-2}, {}}}), Error);
  CHECK_THROWS_AS(st::serialize(std::vector{t("bad\xff", st::Dtype::F32)}), Error);
  CHECK_THROWS_AS(st::serialize({}, {{"k", "\xc3"}}), Error);
}

TEST_CASE("io/safetensors: writes are atomic (temporary file + rename)") {
  auto rng = testing::test_rng();
  testing::TempDir dir("simad_test_safetensors");
  ParamStore<float> a = make_store<float>();
  randomize(a, rng);
  const fs::path path = dir.path / "model.safetensors";
  write_all(path, Bytes{1, 2, 3});
  st::save(path, a);  // replaces the old file
  CHECK(fs::file_size(path) > 3);
  CHECK(count(dir.path) == 1);
  // A failing save leaves the previous file as it was and no temporary behind.
  const Bytes before = read_all(path);
  st::NamedTensors<float> bad = {{"ok", a.param("head.w")}, {"ok", a.param("head.w")}};
  CHECK_THROWS_AS(st::save(path, bad), Error);
  CHECK(read_all(path) == before);
  // The rename fails (the target is a directory): the temporary is removed.
  fs::create_directory(dir.path / "a_directory");
  CHECK_THROWS_WITH_AS(st::save(dir.path / "a_directory", a), doctest::Contains("cannot rename"), Error);
  CHECK(fs::is_directory(dir.path / "a_directory"));
  CHECK(count(dir.path) == 2);
  // No such directory: nothing is created.
  CHECK_THROWS_WITH_AS(st::save(dir.path / "missing" / "m.safetensors", a), doctest::Contains("cannot create"), Error);
  CHECK(count(dir.path) == 2);
}

TEST_CASE("io/safetensors: load checks names, shapes and dtypes before writing anything") {
  auto rng = testing::test_rng();
  testing::TempDir dir("simad_test_safetensors");
  ParamStore<float> a = make_store<float>();
  randomize(a, rng);
  const fs::path path = dir.path / "model.safetensors";
  st::save(path, a);

  // A slice with another shape: an error naming the tensor, and the store untouched.
  ParamStore<float> b;
  b.add("encoder.layer0.wq", {12, 7});
  b.add("encoder.layer0.bq", {8});
  b.add("head.scale", {});
  b.add("head.empty", {0, 3});
  b.add("head.w", {2, 3, 4, 5});
  b.allocate();
  CHECK_THROWS_WITH_AS(st::load(path, b),
                       doctest::Contains("tensor 'encoder.layer0.bq': shape (7) in the file, expected (8)"), Error);
  for (float x : b.params().span()) REQUIRE(x == 0.0f);
  // Rank differs.
  ParamStore<float> c;
  c.add("head.w", {6, 4, 5});
  c.allocate();
  CHECK_THROWS_WITH_AS(st::load(path, c, false), doctest::Contains("tensor 'head.w': shape (2, 3, 4, 5)"), Error);
  // Missing from the file.
  ParamStore<float> d;
  d.add("head.w", {2, 3, 4, 5});
  d.add("head.extra", {3});
  d.allocate();
  CHECK_THROWS_WITH_AS(st::load(path, d, false), doctest::Contains("no tensor 'head.extra'"), Error);
  // Extra tensors in the file: an error when strict, ignored otherwise.
  ParamStore<float> e;
  e.add("head.w", {2, 3, 4, 5});
  e.allocate();
  CHECK_THROWS_WITH_AS(st::load(path, e), doctest::Contains("4 unexpected tensor(s)"), Error);
  st::load(path, e, false);
  CHECK(std::memcmp(e.param("head.w").data(), a.param("head.w").data(), a.param("head.w").bytes()) == 0);
  // A dtype that does not convert (I32).
  const int32_t ints[] = {1, 2, 3};
  st::write_file(dir.path / "ints.safetensors",
                 std::vector{st::TensorData{"head.w", st::Dtype::I32, {3}, as_bytes(ints, 12)}});
  ParamStore<double> f;
  f.add("head.w", {3});
  f.allocate();
  CHECK_THROWS_WITH_AS(st::load(dir.path / "ints.safetensors", f), doctest::Contains("dtype I32 cannot be converted"),
                       Error);
  // Files that do not exist or are not files.
  CHECK_THROWS_WITH_AS(st::load(dir.path / "nope.safetensors", e), doctest::Contains("nope.safetensors"), Error);
  CHECK_THROWS_AS(st::Reader(dir.path), Error);
  // Named tensors: duplicates and undefined destinations.
  CHECK_THROWS_AS(st::load(path, st::NamedTensors<float>{{"head.w", e.param("head.w")}, {"head.w", e.param("head.w")}},
                           false),
                  Error);
  CHECK_THROWS_AS(st::load(path, st::NamedTensors<float>{{"head.w", Tensor<float>()}}, false), Error);
}

TEST_CASE("io/safetensors: valid but unusual headers parse") {
  // No padding, leading whitespace, entries out of offset order, unknown fields, zero-size
  // tensors sharing an offset, every dtype of the format.
  const std::string h = " {" + entry("b", "F32", "[2]", 8, 16) + "," + entry("a", "F32", "[2]", 0, 8) + "," +
                        "\"z\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[16,16],\"extra\":[1,{\"x\":2}]}," +
                        entry("y", "I64", "[0, 5]", 16, 16) + "," + entry("c", "C64", "[1]", 16, 24) + "," +
                        entry("d", "F8_E4M3", "[3]", 24, 27) + "," + entry("e", "F4", "[2]", 27, 28) + "," +
                        entry("f", "F6_E2M3", "[4]", 28, 31) + "," + entry("g", "BOOL", "[]", 31, 32) + "}";
  const Bytes file = file_of(h, 32);
  const st::Header p = st::parse(file, "ok.safetensors");
  std::vector<std::string> order;
  for (const st::TensorInfo& t : p.tensors) order.push_back(t.name);
  CHECK(order == std::vector<std::string>{"a", "b", "y", "z", "c", "d", "e", "f", "g"});
  CHECK(!p.has_metadata);
  CHECK(p.at("c").dtype == st::Dtype::C64);
  CHECK(p.at("y").numel() == 0);
  CHECK(p.data_size == 32);
  CHECK(p.find("nope") == nullptr);
  // A zero extent next to huge ones: 0 elements, 0 bytes (and the writer agrees).
  const st::Header zero = st::parse(file_of("{" + entry("h", "F64", "[9223372036854775807, 4, 0]", 0, 0) + "}"));
  CHECK(zero.at("h").numel() == 0);
  CHECK(st::serialize(std::vector{st::TensorData{"h", st::Dtype::F64, zero.at("h").shape, {}}}) ==
        file_of("{" + entry("h", "F64", "[9223372036854775807,4,0]", 0, 0) + "}    "));  // 76 + 4 spaces
  CHECK_THROWS_WITH_AS(p.at("nope"), doctest::Contains("no tensor 'nope'"), Error);
  // Converting a non-float dtype is an error, not garbage.
  std::vector<float> out(1);
  CHECK_THROWS_AS(st::decode(p.at("c").dtype, st::tensor_bytes(file, p, p.at("c")), std::span<float>(out)), Error);
  // An empty header object and no data; metadata only.
  CHECK(st::parse(file_of("{}")).tensors.empty());
  CHECK(st::parse(file_of("{\"__metadata__\":{}}")).has_metadata);
  CHECK(st::parse(file_of("{\"__metadata__\":{\"k\":\"v\"}}")).metadata.at("k") == "v");
  for (const auto& e : {"BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ",
                        "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"}) {
    const auto d = st::dtype_from_name(e);
    REQUIRE(d.has_value());
    CHECK(st::dtype_name(*d) == e);
  }
}

TEST_CASE("io/safetensors: malformed files are rejected with an error naming the file and the tensor") {
  const std::string ok = entry("x", "F32", "[2]", 0, 8);

  // Too short for the length; a length beyond the file or beyond 100,000,000.
  CHECK_BAD(Bytes{}, "file is 0 bytes, too short");
  CHECK_BAD(Bytes(7, 0), "file is 7 bytes, too short");
  CHECK_BAD(with_length(100, 20), "header length 100 (bytes 0-7) exceeds the 12 bytes after it");
  CHECK_BAD(with_length(100'000'001, 200), "header length 100000001 (bytes 0-7) exceeds the limit");
  CHECK_BAD(with_length(~uint64_t(0), 16), "header length 18446744073709551615 (bytes 0-7) exceeds the limit");

  // Not JSON, not an object.
  CHECK_BAD(file_of("{\"x\":"), "header (bytes 8-13) is not valid JSON");
  CHECK_BAD(file_of("{} x"), "header (bytes 8-12) is not valid JSON");  // trailing garbage
  CHECK_BAD(file_of(std::string("{}\0\0\0\0\0\0", 8)), "header contains a NUL byte at file offset 10");
  CHECK_BAD(file_of(std::string("{\"a\0\":1}", 8)), "header contains a NUL byte at file offset 11");
  CHECK_BAD(file_of("{\"\xff\":1}"), "header (bytes 8-15) is not valid JSON");  // invalid UTF-8
  CHECK_BAD(file_of("\xEF\xBB\xBF{}"), "header starts with a byte order mark");
  CHECK_BAD(file_of("[]"), "header JSON is array, expected an object");
  CHECK_BAD(file_of("\"x\""), "header JSON is string, expected an object");
  CHECK_BAD(file_of("null"), "header JSON is null, expected an object");
  CHECK_BAD(file_of("{\"x\":" + std::string(40, '[') + std::string(40, ']') + "}"), "header JSON nests deeper than 16 levels");

  // Entries: missing fields, wrong JSON types, unknown dtypes.
  CHECK_BAD(file_of("{\"x\":5}"), "tensor 'x': entry is number, expected an object");
  CHECK_BAD(file_of("{\"x\":[]}"), "tensor 'x': entry is array, expected an object");
  CHECK_BAD(file_of("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor 'x': missing \"dtype\"");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "tensor 'x': missing \"shape\"");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "tensor 'x': missing \"data_offsets\"");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
            "tensor 'x': \"dtype\" is number, expected a string");
  CHECK_BAD(file_of("{" + entry("x", "F32", "\"2\"", 0, 8) + "}", 8), "tensor 'x': \"shape\" is string, expected an array");
  CHECK_BAD(file_of("{" + entry("x", "F32", "{}", 0, 8) + "}", 8), "tensor 'x': \"shape\" is object, expected an array");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[2.0]", 0, 8) + "}", 8), "tensor 'x': shape[0] is number, expected");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[1, \"2\"]", 0, 8) + "}", 8), "tensor 'x': shape[1] is string, expected");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[[2]]", 0, 8) + "}", 8), "tensor 'x': shape[0] is array, expected");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[true]", 0, 8) + "}", 8), "tensor 'x': shape[0] is boolean, expected");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\"}}", 8),
            "tensor 'x': \"data_offsets\" is string, expected [begin, end]");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", 8),
            "tensor 'x': \"data_offsets\" is an array of 1 elements, expected [begin, end]");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8),
            "tensor 'x': \"data_offsets\" is an array of 3 elements");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", 8),
            "tensor 'x': data_offsets[0] is number, expected a non-negative integer");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,null]}}", 8),
            "tensor 'x': data_offsets[1] is null");
  CHECK_BAD(file_of("{" + entry("x", "F31", "[2]", 0, 8) + "}", 8), "tensor 'x': unknown dtype 'F31'");
  CHECK_BAD(file_of("{" + entry("x", "f32", "[2]", 0, 8) + "}", 8), "tensor 'x': unknown dtype 'f32'");

  // Shapes: negative, too large for int64, overflowing the byte count, fractional bytes.
  CHECK_BAD(file_of("{" + entry("x", "F32", "[-2]", 0, 8) + "}", 8), "tensor 'x': shape[0] is negative");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[2, 9223372036854775808]", 0, 8) + "}", 8),
            "tensor 'x': shape[1] = 9223372036854775808 is too large");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[18446744073709551616]", 0, 8) + "}", 8),
            "tensor 'x': shape[0] is number");  // beyond u64: a float to nlohmann
  CHECK_BAD(file_of("{" + entry("x", "F32", "[4294967296, 4294967296]", 0, 8) + "}", 8),
            "tensor 'x': shape (4294967296, 4294967296) of F32 overflows the byte count");
  CHECK_BAD(file_of("{" + entry("x", "F64", "[3037000500, 3037000500]", 0, 8) + "}", 8),
            "tensor 'x': shape (3037000500, 3037000500) of F64 overflows the byte count");  // numel fits in u64, numel * 64 bits does not
  CHECK_BAD(file_of("{" + entry("x", "F4", "[3]", 0, 2) + "}", 2), "tensor 'x': shape (3) of F4 is not a whole number of bytes");

  // Offsets: negative, begin > end, out of range, wrong size, overlaps, gaps, trailing bytes.
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8),
            "tensor 'x': data_offsets[0] is negative");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[0]", 8, 0) + "}", 8), "tensor 'x': data_offsets [8, 0]: begin > end");
  CHECK_BAD(file_of("{" + ok + "}", 4), "tensor 'x': data_offsets [0, 8] extend beyond the 4-byte data section");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[2]", 0, 18446744073709551615ull) + "}", 8),
            "tensor 'x': data_offsets [0, 18446744073709551615] extend beyond");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[3]", 0, 8) + "}", 8),
            "tensor 'x': data_offsets [0, 8] hold 8 bytes, but shape (3) of F32 needs 12");
  CHECK_BAD(file_of("{" + ok + "," + entry("y", "F32", "[2]", 4, 12) + "}", 12),
            "tensor 'y': data_offsets [4, 12] overlap tensor 'x' [0, 8]");
  CHECK_BAD(file_of("{" + ok + "," + entry("y", "F32", "[2]", 0, 8) + "}", 8), "tensor 'y': data_offsets [0, 8] overlap");
  CHECK_BAD(file_of("{" + ok + "," + entry("y", "F32", "[1]", 12, 16) + "}", 16),
            "tensor 'y': data_offsets [12, 16] leave a gap of 4 bytes at data offset 8");
  CHECK_BAD(file_of("{" + entry("x", "F32", "[1]", 4, 8) + "}", 8), "tensor 'x': data_offsets [4, 8] leave a gap of 4");
  CHECK_BAD(file_of("{" + ok + "}", 12), "the tensors end at data offset 8 but the data section has 12 bytes");
  CHECK_BAD(file_of("{}", 1), "the tensors end at data offset 0 but the data section has 1 bytes");

  // Duplicates: tensor names, fields of an entry, metadata keys.
  CHECK_BAD(file_of("{" + ok + "," + ok + "}", 8), "duplicate key 'x'");
  CHECK_BAD(file_of("{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
            "duplicate key 'dtype'");
  CHECK_BAD(file_of("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}"), "duplicate key 'k'");
  CHECK_BAD(file_of("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate key '__metadata__'");

  // Metadata: not an object, non-string values.
  CHECK_BAD(file_of("{\"__metadata__\":\"x\"}"), "\"__metadata__\" is string, expected an object of strings");
  CHECK_BAD(file_of("{\"__metadata__\":[]}"), "\"__metadata__\" is array");
  CHECK_BAD(file_of("{\"__metadata__\":{\"k\":1}}"), "\"__metadata__\" value of 'k' is number, expected a string");
  CHECK_BAD(file_of("{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}"), "\"__metadata__\" value of 'k' is object");
  CHECK_BAD(file_of("{\"__metadata__\":{\"k\":null}}"), "\"__metadata__\" value of 'k' is null");
}

TEST_CASE("io/safetensors: the file reader rejects the same files") {
  testing::TempDir dir("simad_test_safetensors");
  const fs::path path = dir.path / "bad.safetensors";
  auto reader_error = [&](const Bytes& b) -> std::string {
    write_all(path, b);
    try {
      st::Reader r(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  };
  CHECK(reader_error(Bytes(5, 0)).find("file is 5 bytes, too short") != std::string::npos);
  CHECK(reader_error(with_length(1000, 30)).find("header length 1000 (bytes 0-7) exceeds the 22 bytes") !=
        std::string::npos);
  CHECK(reader_error(with_length(200'000'000, 30)).find("exceeds the limit") != std::string::npos);
  CHECK(reader_error(file_of("{" + entry("x", "F32", "[2]", 0, 8) + "}", 9)).find("trailing bytes") != std::string::npos);
  CHECK(reader_error(file_of("{" + entry("x", "F32", "[2]", 0, 8) + "}", 7)).find("extend beyond") != std::string::npos);
  CHECK(reader_error(file_of("{\"x\":1}")).find(path.string()) != std::string::npos);
  CHECK(reader_error(file_of("{" + entry("x", "F32", "[2]", 0, 8) + "}", 8)) == "<no error>");
}

}  // namespace SIMAD_TEST_FILE_ID
