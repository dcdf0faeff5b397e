// tests/search/test_index_io.cpp: .fvecs/.ivecs/.npy readers and writers (io/vectors.hpp; int64 ids to .ivecs) against
// fixtures written by NumPy and Python's struct (tests/search/data/make_vector_fixtures.py; values
// recomputed here from their formula), and the FlatIndex file format (search/index_file.hpp): round
// trip, atomic write, and every kind of damage (truncation, bad fields, checksum, NaN, repeated id).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/vectors.hpp"
#include "simad/search/index_file.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace t = simad::testing;
namespace io = simad::io;
namespace fs = std::filesystem;
using simad::search::FlatIndex;
using simad::search::Metric;

const fs::path kData = fs::path(SIMAD_TESTS_DIR) / "search" / "data";

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A fresh directory for one test's files.
fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("simad_test_index_io_" + name + "_" + std::to_string(t::test_seed() % 100000));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

void check_fixture_values(const io::Matrix<float>& m) {
  REQUIRE(m.rows == 3);
  REQUIRE(m.cols == 5);
  for (int64_t i = 0; i < 15; ++i) CHECK(m.data[size_t(i)] == float(double(i) * 0.5 - 3.0));
}

}  // namespace

TEST_CASE("search/io: reads the NumPy and struct fixtures") {
  check_fixture_values(io::read_npy(kData / "fixture_f4.npy"));
  check_fixture_values(io::read_npy(kData / "fixture_f8.npy"));
  check_fixture_values(io::read_fvecs(kData / "fixture.fvecs"));
  check_fixture_values(io::read_vectors(kData / "fixture_f4.npy"));
  check_fixture_values(io::read_vectors(kData / "fixture.fvecs"));
  const auto iv = io::read_ivecs(kData / "fixture.ivecs");
  REQUIRE(iv.rows == 3);
  REQUIRE(iv.cols == 5);
  for (int64_t i = 0; i < 15; ++i) CHECK(iv.data[size_t(i)] == int32_t(i - 3));
}

TEST_CASE("search/io: writers produce the fixture bytes and round-trip random data") {
  std::vector<float> m(15);
  for (int i = 0; i < 15; ++i) m[size_t(i)] = float(double(i) * 0.5 - 3.0);
  CHECK(io::serialize_npy(m.data(), 3, 5) == bytes_of(kData / "fixture_f4.npy"));  // NumPy's own bytes
  const fs::path dir = scratch("writers");
  io::write_fvecs(dir / "m.fvecs", m.data(), 3, 5);
  CHECK(bytes_of(dir / "m.fvecs") == bytes_of(kData / "fixture.fvecs"));
  std::vector<int32_t> iv(15);
  for (int i = 0; i < 15; ++i) iv[size_t(i)] = i - 3;
  io::write_ivecs(dir / "m.ivecs", iv.data(), 3, 5);
  CHECK(bytes_of(dir / "m.ivecs") == bytes_of(kData / "fixture.ivecs"));
  auto rng = t::test_rng();
  for (const int64_t rows : {0, 1, 7}) {
    for (const int64_t cols : {1, 13}) {
      const auto v = t::random_vector<float>(rng, size_t(rows * cols), -100.0, 100.0);
      io::write_npy(dir / "r.npy", v.data(), rows, cols);
      io::write_fvecs(dir / "r.fvecs", v.data(), rows, cols);
      const auto a = io::read_npy(dir / "r.npy");
      const auto b = io::read_fvecs(dir / "r.fvecs");
      CHECK(a.data == v);
      CHECK(a.rows == rows);
      CHECK(a.cols == cols);
      CHECK(b.data == v);
      CHECK(b.rows == rows);
      if (rows) CHECK(b.cols == cols);
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("search/io: int64 ids write as .ivecs when they fit int32, else an error names the file, row and column") {
  const fs::path dir = scratch("ivecs64");
  auto rng = t::test_rng();
  for (const int64_t rows : {0, 1, 9}) {
    for (const int64_t cols : {1, 5}) {
      std::vector<int64_t> ids(size_t(rows * cols));
      std::vector<int32_t> narrow(ids.size());
      for (size_t i = 0; i < ids.size(); ++i) {
        // The edges of int32, -1 (FlatIndex's "no result"), and random ids.
        const uint32_t pick = rng.next_below(4);
        narrow[i] = pick == 0 ? std::numeric_limits<int32_t>::min()
                    : pick == 1 ? std::numeric_limits<int32_t>::max()
                    : pick == 2 ? -1
                                : int32_t(rng.next_u32());
        ids[i] = narrow[i];
      }
      io::write_ivecs(dir / "wide.ivecs", ids.data(), rows, cols);
      io::write_ivecs(dir / "narrow.ivecs", narrow.data(), rows, cols);
      CHECK(bytes_of(dir / "wide.ivecs") == bytes_of(dir / "narrow.ivecs"));
      const auto back = io::read_ivecs(dir / "wide.ivecs");
      CHECK(back.rows == rows);
      CHECK(back.data == narrow);
    }
  }
  std::vector<int64_t> ids{0, 1, 2, 3, 4, int64_t(std::numeric_limits<int32_t>::max()) + 1};
  CHECK_THROWS_WITH_AS(io::write_ivecs(dir / "big.ivecs", ids.data(), 2, 3),
                       doctest::Contains("big.ivecs: row 1, column 2: id 2147483648 does not fit the int32"),
                       simad::Error);
  ids[5] = 5;
  ids[1] = int64_t(std::numeric_limits<int32_t>::min()) - 1;
  CHECK_THROWS_WITH_AS(io::write_ivecs(dir / "small.ivecs", ids.data(), 3, 2),
                       doctest::Contains("row 0, column 1: id -2147483649"), simad::Error);
  CHECK_FALSE(fs::exists(dir / "big.ivecs"));  // nothing written
  CHECK_FALSE(fs::exists(dir / "small.ivecs"));
  CHECK_THROWS_WITH_AS(io::write_ivecs(dir / "shape.ivecs", ids.data(), 2, 0), doctest::Contains("shape.ivecs"),
                       simad::Error);
  fs::remove_all(dir);
}

TEST_CASE("search/io: damaged vector files throw with the place") {
  const auto fv = bytes_of(kData / "fixture.fvecs");
  auto cut = fv;
  cut.resize(fv.size() - 3);
  CHECK_THROWS_WITH_AS(io::parse_fvecs(cut, "x.fvecs"), doctest::Contains("truncated"), simad::Error);
  auto bad_dim = fv;
  bad_dim[24] = 4;  // row 1's dimension
  CHECK_THROWS_WITH_AS(io::parse_fvecs(bad_dim, "x.fvecs"), doctest::Contains("row 1"), simad::Error);
  auto zero_dim = fv;
  zero_dim[0] = 0;
  CHECK_THROWS_AS(io::parse_fvecs(zero_dim, "x.fvecs"), simad::Error);
  CHECK_THROWS_AS(io::parse_fvecs(std::vector<uint8_t>{1, 0}, "x.fvecs"), simad::Error);
  const auto np = bytes_of(kData / "fixture_f4.npy");
  auto np_cut = np;
  np_cut.pop_back();
  CHECK_THROWS_WITH_AS(io::parse_npy(np_cut, "x.npy"), doctest::Contains("x.npy"), simad::Error);
  auto np_magic = np;
  np_magic[1] = 'X';
  CHECK_THROWS_AS(io::parse_npy(np_magic, "x.npy"), simad::Error);
  auto np_type = np;
  np_type[10 + std::string_view("{'descr': '<").size()] = 'i';  // '<f4' -> '<i4'
  REQUIRE(np_type[10 + 13] == '4');
  CHECK_THROWS_WITH_AS(io::parse_npy(np_type, "x.npy"), doctest::Contains("dtype"), simad::Error);
  auto np_long = np;
  np_long[8] = 0xff;  // header length past the end
  CHECK_THROWS_WITH_AS(io::parse_npy(np_long, "x.npy"), doctest::Contains("truncated"), simad::Error);
  CHECK_THROWS_WITH_AS(io::read_fvecs("/nonexistent/simad/x.fvecs"), doctest::Contains("cannot open"), simad::Error);
  CHECK_THROWS_WITH_AS(io::read_vectors(kData / "make_vector_fixtures.py"), doctest::Contains("extension"),
                       simad::Error);
}

TEST_CASE("search/index_file: save then load gives the same index and results") {
  auto rng = t::test_rng();
  const fs::path dir = scratch("roundtrip");
  for (const Metric metric : {Metric::L2, Metric::InnerProduct}) {
    const int64_t n = 77, d = 19;
    const auto v = t::random_vector<float>(rng, size_t(n * d));
    FlatIndex<float> index(d, metric);
    index.add_sequential(v.data(), n, 1000);
    index.remove(1003);  // storage order differs from id order after this
    index.remove(1050);
    simad::search::save_index(dir / "i.simadidx", index);
    CHECK(fs::file_size(dir / "i.simadidx") == 48 + 75 * (8 + 19 * 4));
    for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename() == "i.simadidx");  // no temp left
    const auto back = simad::search::load_index<float>(dir / "i.simadidx");
    CHECK(back.size() == index.size());
    CHECK(back.metric() == metric);
    for (const int64_t id : index.ids()) CHECK(back.vector_of(id) == index.vector_of(id));
    const auto q = t::random_vector<float>(rng, size_t(5 * d));
    const auto a = index.search(q.data(), 5, 9), b = back.search(q.data(), 5, 9);
    CHECK(a.labels == b.labels);
    CHECK(std::memcmp(a.distances.data(), b.distances.data(), a.distances.size() * sizeof(float)) == 0);
    // A double index loads into a float one (converted) and the other way round.
    const auto as_double = simad::search::load_index<double>(dir / "i.simadidx");
    for (const int64_t id : index.ids()) {
      const auto x = as_double.vector_of(id);
      const auto y = index.vector_of(id);
      for (size_t j = 0; j < x.size(); ++j) CHECK(x[j] == double(y[j]));
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("search/index_file: damaged index files throw naming the problem") {
  auto rng = t::test_rng();
  const int64_t n = 6, d = 3;
  const auto v = t::random_vector<float>(rng, size_t(n * d));
  FlatIndex<float> index(d);
  index.add_sequential(v.data(), n, 0);
  const fs::path dir = scratch("damage");
  simad::search::save_index(dir / "i.simadidx", index);
  const auto good = bytes_of(dir / "i.simadidx");
  CHECK(simad::search::parse_index<float>(good, "i").size() == n);
  auto expect = [&](std::vector<uint8_t> b, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(simad::search::parse_index<float>(b, "i.simadidx"), doctest::Contains(what), simad::Error);
  };
  auto b = good;
  b.resize(good.size() - 1);
  expect(b, "size mismatch");
  b = good;
  b.push_back(0);
  expect(b, "size mismatch");
  b = good;
  b.resize(20);
  expect(b, "truncated");
  b = good;
  b[0] = 'X';
  expect(b, "magic");
  b = good;
  b[8] = 2;
  expect(b, "version");
  b = good;
  b[12] = 7;
  expect(b, "metric");
  b = good;
  b[16] = 2;
  expect(b, "element size");
  b = good;
  b[24] = 0;
  expect(b, "dimension");
  b = good;
  b[32] = 200;  // count
  expect(b, "size mismatch");
  b = good;
  b[48 + 8 * n + 5] ^= 1;  // one vector bit
  expect(b, "checksum");
  // Consistent checksum but bad contents: repeat an id, put a NaN in row 4.
  auto rechecksum = [](std::vector<uint8_t>& f) {
    simad::search::Checksum c;
    c.update(f.data() + 48, f.size() - 48);
    const uint64_t s = c.value();
    std::memcpy(f.data() + 40, &s, 8);
  };
  b = good;
  std::memcpy(b.data() + 48 + 8 * 2, b.data() + 48, 8);  // ids[2] = ids[0]
  rechecksum(b);
  expect(b, "repeats id");
  b = good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.data() + 48 + 8 * n + 4 * (4 * d + 1), &nan, 4);
  rechecksum(b);
  expect(b, "row 4");
  CHECK_THROWS_WITH_AS(simad::search::load_index<float>(dir / "missing.simadidx"), doctest::Contains("cannot open"),
                       simad::Error);
  fs::remove_all(dir);
}

}  // namespace SIMAD_TEST_FILE_ID
