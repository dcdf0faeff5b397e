// libFuzzer target for the text pipeline's parsers of untrusted input. The first byte picks what
// the rest of the input is fed to:
//   0: the segmenter (both modes) on arbitrary bytes: the tokens must tile the input exactly
//   1: UTF-8 decode / repair / normalise: the repaired text is valid and decodes like the input
//   2: a jieba dict.txt (JiebaDict::from_text): loads or throws simad::Error
//   3: a jieba HMM model file (the Python literal parser): parses or throws simad::Error
//   4: a vocabulary file (Vocab::parse): loads (then ids round-trip) or throws simad::Error
// Segmentation uses Debian's jieba when installed (SIMAD_JIEBA_DIR), else a small built-in model.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simad/text/text.hpp"

namespace {

namespace text = simad::text;

const text::Segmenter& segmenter() {
  static const std::unique_ptr<text::Segmenter> seg = [] {
    if (std::filesystem::exists(text::jieba_dir() + "/dict.txt"))
      return std::make_unique<text::Segmenter>(text::Segmenter::load());
    return std::make_unique<text::Segmenter>(
        text::JiebaDict::from_text("中国 100 ns\n中 50 n\n国 40 n\n人 60 n\n中国人 20 n\nab 5 eng\nC++ 3 nz\n"),
        text::HmmSegmenter::from_text(
            "P={'B': -0.26, 'E': -3.14e+100, 'M': -3.14e+100, 'S': -1.46}",
            "P={'B': {'E': -0.51, 'M': -0.92}, 'E': {'B': -0.59, 'S': -0.81}, 'M': {'E': -0.33, 'M': -1.26}, "
            "'S': {'B': -0.72, 'S': -0.67}}",
            "P={'B': {'\\u4e2d': -3.0}, 'M': {'\\u4e2d': -5.0}, 'E': {'\\u56fd': -2.0}, 'S': {'\\u4eba': -4.0}}"));
  }();
  return *seg;
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: {
      text::Segmenter::Scratch scratch;
      for (bool hmm : {false, true}) {
        std::vector<text::TokenSpan> spans;
        segmenter().cut(in, hmm, spans, scratch);
        uint32_t at = 0;
        for (const text::TokenSpan& t : spans) {
          check(t.begin == at && t.end > t.begin);
          at = t.end;
        }
        check(at == in.size());
      }
      break;
    }
    case 1: {
      size_t replaced = 0;
      const std::string repaired = text::repair_utf8(in, &replaced);
      check(text::is_valid_utf8(repaired));
      const text::Decoded d = text::decode(in);
      check(d.replaced == replaced);
      check(text::decode(repaired).chars == d.chars);
      check(text::is_valid_utf8(text::normalize(in)));
      break;
    }
    case 2:
      try {
        const text::JiebaDict dict = text::JiebaDict::from_text(in, "fuzz");
        check(dict.total() > 0);
      } catch (const simad::Error&) {
      }
      break;
    case 3:
      try {
        text::PyLiteralParser(in, "fuzz").parse_assignment("P");
      } catch (const simad::Error&) {
      }
      break;
    default:
      try {
        const text::Vocab v = text::Vocab::parse(in, "fuzz");
        for (size_t i = 0; i < v.size(); ++i) check(v.id(v.token(int32_t(i))) == int32_t(i));
      } catch (const simad::Error&) {
      }
      break;
  }
  return 0;
}
