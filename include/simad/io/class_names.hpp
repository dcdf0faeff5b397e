// simad/io/class_names.hpp: class-name files (Darknet's coco.names): one class name per line, line
// k naming class k.
//
// Trailing spaces and CRs are cut (a file written on Windows or by an editor that pads lines reads
// the same), empty lines are skipped, and a UTF-8 byte order mark before the first name is dropped.
// The file is untrusted: a name with invalid UTF-8 (the names end up in JSON) or a control character
// other than tab (a binary or mangled file; a CR inside a line: old Mac line ends) is an error naming
// the file and line, and so is a count other than the detector's class count when the caller gives one.
//
//   std::vector<std::string> names = io::read_class_names("coco.names", /*classes=*/80);
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/text/utf8.hpp"

namespace simad::io {

// The class names in `text`; `source` names it in errors. classes > 0: the number of names the file
// must hold (the detector's class count); 0 accepts any number.
inline std::vector<std::string> parse_class_names(std::string_view text, const std::string& source = "<memory>",
                                                  int classes = 0) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<std::string> names;
  int extra_line = 0;  // the line of the first name past `classes`
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view name = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.remove_suffix(1);
    if (name.empty()) continue;
    if (const size_t bad = simad::text::find_invalid_utf8(name); bad != name.size())
      fail("names file '", source, "', line ", line_no, ": invalid UTF-8 at byte ", bad + 1, " of the name");
    for (size_t i = 0; i < name.size(); ++i)
      if ((uint8_t(name[i]) < 0x20 && name[i] != '\t') || name[i] == 0x7F)
        fail("names file '", source, "', line ", line_no, ": control character ", int(uint8_t(name[i])),
             " at byte ", i + 1, " of the name");
    names.emplace_back(name);
    if (classes > 0 && int64_t(names.size()) == int64_t(classes) + 1) extra_line = line_no;
  }
  if (classes > 0 && int64_t(names.size()) != classes)
    fail("names file '", source, "' has ", names.size(), " names, the cfg has ", classes, " classes",
         extra_line ? ": name " + std::to_string(int64_t(classes) + 1) + " is on line " + std::to_string(extra_line)
                    : std::string());
  return names;
}

// The class names in a file (at most 64 MiB; coco.names is 625 bytes).
inline std::vector<std::string> read_class_names(const std::filesystem::path& path, int classes = 0) {
  std::ifstream in(path, std::ios::binary);
  SIMAD_CHECK(in, "cannot open names file '", path.string(), "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  SIMAD_CHECK(!in.bad(), "cannot read names file '", path.string(), "'");
  const std::string text = ss.str();
  SIMAD_CHECK(text.size() <= (size_t(64) << 20), "names file '", path.string(), "': larger than 64 MiB");
  return parse_class_names(text, path.string(), classes);
}

}  // namespace simad::io
