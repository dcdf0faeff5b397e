// simad/io/jsonl_field.hpp: one string field of a JSON-lines record, as `simad tokenize --jsonl
// --field NAME` reads its input (one JSON object per line).
//
// A blank line (spaces, tabs, a CR) has no record and gives an empty string, so line k of the output
// still answers line k of the input. Anything else must be a JSON object whose `field` is a string;
// otherwise the error names the source, the line and what is wrong.
//
//   std::string text = io::jsonl_string_field(line, "text", "ads.jsonl", line_no);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "simad/core/error.hpp"

namespace simad::io {

inline std::string jsonl_string_field(std::string_view line, const std::string& field, const std::string& source,
                                      int64_t line_no) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return std::string();
  nlohmann::json row;
  try {
    row = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    fail(source, " line ", line_no, ": not valid JSON (", e.what(), ")");
  }
  if (!row.is_object()) fail(source, " line ", line_no, ": expected a JSON object");
  const auto it = row.find(field);
  if (it == row.end()) fail(source, " line ", line_no, ": no field '", field, "'");
  if (!it->is_string()) fail(source, " line ", line_no, ": field '", field, "' is not a string");
  return it->get<std::string>();
}

}  // namespace simad::io
