// Tests of include/simad/io/jsonl_field.hpp: the string field of a JSON line comes back as written
// (random texts with quotes, backslashes, control characters and multi-byte UTF-8, escaped here by
// hand), a blank line gives an empty text, and each kind of bad line is an error naming the source
// and the line.
#include <cstdio>
#include <string>

#include "simad/core/error.hpp"
#include "simad/io/jsonl_field.hpp"
#include "testing.hpp"

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

using namespace simad;
using simad::testing::error_of;

namespace {

// A JSON string literal written by hand (RFC 8259 section 7), independent of the parser under test.
std::string json_quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", unsigned(u));
      out += b;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

TEST_CASE("io/jsonl_field: random texts come back as written, other fields and blank lines aside") {
  Rng rng = testing::test_rng();
  const std::string pieces[] = {"a", "Z", " ", "\"", "\\", "\n", "\t", "\x01", "/", "\xE5\xB9\xBF\xE5\x91\x8A",
                                "\xC3\xA9", "\xF0\x9F\x98\x80", "{", "}", ",", ":"};
  for (int trial = 0; trial < 200; ++trial) {
    std::string text;
    const uint32_t len = rng.next_below(12);
    for (uint32_t i = 0; i < len; ++i) text += pieces[rng.next_below(uint32_t(std::size(pieces)))];
    const std::string line = "{\"id\": " + std::to_string(trial) + ", \"title\": " + json_quoted(text + "!") +
                             ", \"text\": " + json_quoted(text) + "}" + (trial % 2 ? "\r" : "");
    CHECK(io::jsonl_string_field(line, "text", "ads.jsonl", trial + 1) == text);
    CHECK(io::jsonl_string_field(line, "title", "ads.jsonl", trial + 1) == text + "!");
  }
  CHECK(io::jsonl_string_field("", "text", "ads.jsonl", 1).empty());
  CHECK(io::jsonl_string_field(" \t\r", "text", "ads.jsonl", 1).empty());
}

TEST_CASE("io/jsonl_field: a bad line is an error naming the source and the line") {
  const auto check_error = [](const std::string& line, const std::string& part) {
    const std::string what = error_of([&] { (void)io::jsonl_string_field(line, "text", "ads.jsonl", 7); });
    CHECK_MESSAGE(what.find("ads.jsonl line 7: " + part) != std::string::npos, what);
  };
  check_error("{\"text\": \"a\"", "not valid JSON");
  check_error("{\"text\": \"a\"} x", "not valid JSON");
  check_error("[\"text\"]", "expected a JSON object");
  check_error("\"text\"", "expected a JSON object");
  check_error("{\"title\": \"a\"}", "no field 'text'");
  check_error("{\"text\": 3}", "field 'text' is not a string");
  check_error("{\"text\": null}", "field 'text' is not a string");
}

}  // namespace SIMAD_TEST_FILE_ID
