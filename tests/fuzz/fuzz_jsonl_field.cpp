// libFuzzer target for the JSON-lines field reader (include/simad/io/jsonl_field.hpp), what
// `simad tokenize --jsonl` runs on each line of a user's file. The first byte picks the field name
// (mod 3: "text", "title", ""), the rest is the line. The reader either returns the field or throws
// simad::Error (anything else, a crash or a sanitizer report, is a bug); a returned field, written
// back as the only member of an object, reads back the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "simad/io/jsonl_field.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 16)) return 0;
  static const std::string fields[] = {"text", "title", ""};
  const std::string& field = fields[data[0] % 3];
  const std::string_view line(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string value;
  try {
    value = simad::io::jsonl_string_field(line, field, "fuzz.jsonl", 1);
  } catch (const simad::Error&) {
    return 0;
  }
  nlohmann::json row = nlohmann::json::object();
  row[field] = value;
  try {
    if (simad::io::jsonl_string_field(row.dump(), field, "again.jsonl", 1) != value) __builtin_trap();
  } catch (const simad::Error&) {
    __builtin_trap();
  }
  return 0;
}
