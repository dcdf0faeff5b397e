// Tests of include/simad/io/class_names.hpp: class-name files parse as the line-by-line reading
// `simad detect` always did (trailing spaces and CRs cut, empty lines skipped), checked against a
// reference splitter on random files; bad names (invalid UTF-8, control characters such as a CR
// inside a name) and wrong counts are errors naming the file and line.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/io/class_names.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;
namespace fs = std::filesystem;

namespace {

void check_error(const std::string& text, int classes, const std::string& part) {
  const std::string what = error_of([&] { (void)io::parse_class_names(text, "bad.names", classes); });
  CHECK_MESSAGE(what.find(part) != std::string::npos, "expected '", part, "' in: ", what);
  CHECK_MESSAGE(what.find("bad.names") != std::string::npos, what);
}

// The names as std::getline reads them: split at '\n', cut trailing ' ' and '\r', skip empty.
std::vector<std::string> reference_names(const std::string& text) {
  std::vector<std::string> names;
  std::string line;
  for (char c : text + "\n") {
    if (c != '\n') {
      line += c;
      continue;
    }
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) names.push_back(line);
    line.clear();
  }
  return names;
}

}  // namespace

TEST_CASE("io/class_names: one name per line, trailing spaces and CRs cut, empty lines skipped") {
  CHECK(io::parse_class_names("person\nbicycle\ncar\n") == std::vector<std::string>{"person", "bicycle", "car"});
  CHECK(io::parse_class_names("person\r\n\r\n  traffic light \r\n\nlast") ==
        std::vector<std::string>{"person", "  traffic light", "last"});
  CHECK(io::parse_class_names("\xEF\xBB\xBF" "dog\ncat\n") == std::vector<std::string>{"dog", "cat"});  // BOM
  CHECK(io::parse_class_names("gou\tdog\n\xE7\x8B\x97\n") == std::vector<std::string>{"gou\tdog", "\xE7\x8B\x97"});
  CHECK(io::parse_class_names("").empty());
  CHECK(io::parse_class_names(" \r\n\n").empty());
  CHECK(io::parse_class_names("a\nb\n", "two.names", 2).size() == 2);
}

TEST_CASE("io/class_names: random files read as the line reader reads them") {
  Rng rng = testing::test_rng();
  static const char* const kPieces[] = {"dog", "traffic light", " ", "\r", "\n", "\r\n", "\xE7\x8B\x97", "\t", "x"};
  for (int round = 0; round < 500; ++round) {
    std::string text;
    const uint32_t n = rng.next_below(20);
    for (uint32_t i = 0; i < n; ++i) text += kPieces[rng.next_below(uint32_t(std::size(kPieces)))];
    const std::vector<std::string> want = reference_names(text);
    // A CR inside a name (old Mac line ends, a mangled file) is an error, not part of the name.
    bool has_cr = false;
    for (const std::string& name : want) has_cr = has_cr || name.find('\r') != std::string::npos;
    if (has_cr) {
      CHECK_THROWS_WITH_AS((void)io::parse_class_names(text), doctest::Contains("control character 13"), simad::Error);
      continue;
    }
    CHECK_MESSAGE(io::parse_class_names(text) == want, "round ", round, "; seed ", testing::test_seed());
    // The count check accepts exactly the right count.
    const int count = int(want.size());
    if (count > 0) CHECK_NOTHROW((void)io::parse_class_names(text, "r.names", count));
    CHECK_THROWS_AS((void)io::parse_class_names(text, "r.names", count + 1), simad::Error);
  }
  // Random bytes: names come back, or an error; never a name that the rules forbid.
  for (int round = 0; round < 500; ++round) {
    std::string text(rng.next_below(64), '\0');
    for (char& c : text) c = char(rng.next_below(256));
    try {
      for (const std::string& name : io::parse_class_names(text, "random.names")) {
        CHECK(!name.empty());
        CHECK(name.find('\n') == std::string::npos);
        CHECK(name.back() != ' ');
        CHECK(name.back() != '\r');
        CHECK(name.find('\0') == std::string::npos);
      }
    } catch (const simad::Error& e) {
      CHECK(std::string(e.what()).find("random.names") != std::string::npos);
    }
  }
}

TEST_CASE("io/class_names: bad names and wrong counts are errors naming the file and line") {
  check_error("dog\ncat\n\nbird\n", 2, "has 3 names, the cfg has 2 classes: name 3 is on line 4");
  check_error("dog\ncat\n", 3, "has 2 names, the cfg has 3 classes");
  check_error("dog\nc\xFF" "t\n", 0, "line 2: invalid UTF-8 at byte 2");
  check_error("dog\n\ncat\n\xE7\x8B\n", 0, "line 4: invalid UTF-8");
  check_error("dog\nca\x01t\n", 0, "line 2: control character 1 at byte 3");
  check_error(std::string("dog\nc\0t\n", 8), 0, "line 2: control character 0");
  check_error("dog\ncat\x7F\n", 0, "line 2: control character 127");
  check_error("dog\rcat\rbird\r", 0, "line 1: control character 13 at byte 4");  // CR-only line ends
}

TEST_CASE("io/class_names: read_class_names reads a file and names it in errors") {
  testing::TempDir dir("simad_test_class_names");
  const fs::path file = dir.path / "three.names";
  std::ofstream(file, std::ios::binary) << "person\r\nbicycle\r\ncar\r\n";
  CHECK(io::read_class_names(file) == std::vector<std::string>{"person", "bicycle", "car"});
  CHECK(io::read_class_names(file, 3).size() == 3);
  std::string what = error_of([&] { (void)io::read_class_names(file, 80); });
  CHECK_MESSAGE(what.find("three.names' has 3 names, the cfg has 80 classes") != std::string::npos, what);
  what = error_of([&] { (void)io::read_class_names(dir.path / "missing.names"); });
  CHECK_MESSAGE(what.find("cannot open names file") != std::string::npos, what);
  CHECK_MESSAGE(what.find("missing.names") != std::string::npos, what);
}

}  // namespace SIMAD_TEST_FILE_ID
