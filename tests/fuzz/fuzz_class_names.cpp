// libFuzzer target for class-name files (include/simad/io/class_names.hpp): `simad detect --names`
// reads a user's file.
// - parse_class_names() either accepts the text or throws simad::Error (anything else is a bug);
// - every accepted name is non-empty valid UTF-8 without a newline, a trailing space or CR, or a
//   control character other than tab;
// - the names written back one per line parse to the same names, and the count check accepts
//   exactly their count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "simad/io/class_names.hpp"
#include "simad/text/utf8.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> names;
  try {
    names = simad::io::parse_class_names(text, "fuzz.names");
  } catch (const simad::Error&) {
    return 0;
  }
  for (const std::string& name : names) {
    check(!name.empty() && name.back() != ' ' && name.back() != '\r');
    check(simad::text::is_valid_utf8(name));
    for (const char c : name) check((static_cast<unsigned char>(c) >= 0x20 || c == '\t') && c != 0x7F);
  }
  // Written back behind a byte order mark: the parser drops exactly one, so a name that starts with
  // U+FEFF survives.
  std::string back = "\xEF\xBB\xBF";
  for (const std::string& name : names) back += name + "\n";
  try {
    check(simad::io::parse_class_names(back, "rewritten.names", int(names.size())) == names);
  } catch (const simad::Error&) {
    std::abort();
  }
  bool rejected = false;
  try {
    (void)simad::io::parse_class_names(back, "rewritten.names", int(names.size()) + 1);
  } catch (const simad::Error&) {
    rejected = true;
  }
  check(rejected);
  return 0;
}
