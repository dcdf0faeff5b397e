// tests/cuda/kernels/test_kernel_coverage.cpp: every kernel and every Tensor-level op is tested. The rules:
//   1. every kernels/<family>.cu has a header include/simad/cuda/kernels/<family>.hpp;
//   2. every __global__ kernel of kernels/<family>.cu is launched (SIMAD_LAUNCH / simad::cuda::launch)
//      in that .cu file, i.e. only through its host launchers;
//   3. every launcher declared in include/simad/cuda/kernels/<family>.hpp is called (name followed by
//      '(') in a row of the op harness (tests/op_cases/cases_*.cpp); only the search pipeline and the
//      queries that launch nothing (*_workspace_bytes, *_uses_cublas) and the forms whose check goes to a
//      device flag (*_deferred, *_bad_position, *_bad_row: they have no CPU twin) may be called in
//      tests/cuda/kernels/test_<family>.cpp instead;
//   4. every Tensor-level op of include/simad/ops/dispatch/*.hpp (a function declared at the start of a
//      line outside namespace detail, or one a dispatch macro defines) is called in a harness row.
// Plain string scanning (no std::regex: GCC 12 -O2 + ASan warns inside <regex>). The files are found from
// this file's path (__FILE__), so the test needs the source tree.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace SIMAD_TEST_FILE_ID {  // one per file: unity builds join the test files (tests/CMakeLists.txt)

namespace {

namespace fs = std::filesystem;

fs::path source_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path().parent_path(); }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Removes // and /* */ comments (string literals in these files never contain them).
std::string strip_comments(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (s.compare(i, 2, "/*") == 0) {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string::npos ? s.size() : end + 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

size_t skip_space(const std::string& s, size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// The identifier starting at i (empty if none); i moves past it.
std::string read_ident(const std::string& s, size_t& i) {
  const size_t b = i;
  while (i < s.size() && ident_char(s[i])) ++i;
  return s.substr(b, i - b);
}

// Positions where `word` occurs as a whole identifier.
std::vector<size_t> find_word(const std::string& s, const std::string& word) {
  std::vector<size_t> out;
  for (size_t p = s.find(word); p != std::string::npos; p = s.find(word, p + 1))
    if ((p == 0 || !ident_char(s[p - 1])) && (p + word.size() >= s.size() || !ident_char(s[p + word.size()])))
      out.push_back(p);
  return out;
}

// `name` as a whole identifier followed by '(' (a call or declaration), or qualified (`k::name`, as
// when a test calls launchers through a table of function pointers).
bool calls(const std::string& text, const std::string& name) {
  for (const size_t p : find_word(text, name)) {
    const size_t q = skip_space(text, p + name.size());
    if (q < text.size() && text[q] == '(') return true;
    if (p >= 2 && text.compare(p - 2, 2, "::") == 0) return true;
  }
  return false;
}

// The text (comments stripped) of every harness row file, tests/op_cases/cases_*.cpp.
std::string harness_rows(const fs::path& root) {
  std::string all;
  const fs::path dir = root / "tests/op_cases";
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("cases_", 0) == 0 && entry.path().extension() == ".cpp")
        all += strip_comments(read(entry.path())) + "\n";
    }
  return all;
}

// __global__ [void] [__launch_bounds__(...)] [void] name(
std::vector<std::string> kernels_in(const std::string& cu) {
  std::vector<std::string> out;
  for (const size_t p : find_word(cu, "__global__")) {
    size_t i = p + std::string("__global__").size();
    std::string word;
    for (int guard = 0; guard < 4; ++guard) {
      i = skip_space(cu, i);
      word = read_ident(cu, i);
      if (word == "__launch_bounds__") {
        int depth = 0;
        for (i = skip_space(cu, i); i < cu.size(); ++i) {
          if (cu[i] == '(') ++depth;
          if (cu[i] == ')' && --depth == 0) {
            ++i;
            break;
          }
        }
        continue;
      }
      if (word == "void" || word == "static" || word == "inline") continue;
      break;
    }
    i = skip_space(cu, i);
    if (!word.empty() && i < cu.size() && (cu[i] == '(' || cu[i] == '<')) out.push_back(word);
  }
  return out;
}

// The kernels named as the first argument of SIMAD_LAUNCH( / launch( / launch_named( (after an optional
// '(' and namespace qualifiers; template arguments ignored; launch_named's first argument is a name).
std::set<std::string> launched_in(const std::string& cu) {
  std::set<std::string> out;
  for (const char* fn : {"SIMAD_LAUNCH", "launch", "launch_named"})
    for (const size_t p : find_word(cu, fn)) {
      size_t i = skip_space(cu, p + std::string(fn).size());
      if (i >= cu.size() || cu[i] != '(') continue;
      i = skip_space(cu, i + 1);
      if (std::string(fn) == "launch_named") {  // launch_named(name, kernel, ...)
        const size_t comma = cu.find(',', i);
        if (comma == std::string::npos) continue;
        i = skip_space(cu, comma + 1);
      }
      if (i < cu.size() && cu[i] == '(') i = skip_space(cu, i + 1);
      if (cu.compare(i, 2, "::") == 0) i += 2;
      std::string last;
      for (;;) {
        const std::string id = read_ident(cu, i);
        if (id.empty()) break;
        last = id;
        if (cu.compare(i, 2, "::") != 0) break;
        i += 2;
      }
      if (!last.empty()) out.insert(last);
    }
  return out;
}

// Host launchers: declarations at the start of a line of the header: "<type> [*&]name(".
std::vector<std::string> launchers_in(const std::string& hpp) {
  std::vector<std::string> out;
  std::istringstream lines(hpp);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || !ident_char(line[0])) continue;
    const size_t paren = line.find('(');
    if (paren == std::string::npos) continue;
    std::vector<std::string> words;
    for (size_t i = 0; i < paren;) {
      if (ident_char(line[i])) words.push_back(read_ident(line, i));
      else ++i;
    }
    static const std::set<std::string> not_types = {"namespace", "using", "struct", "class", "enum", "typedef",
                                                    "return", "if", "for", "while", "static_assert"};
    if (words.size() >= 2 && !not_types.count(words.front())) out.push_back(words.back());
  }
  return out;
}

// s without the bodies of `namespace detail { ... }` blocks (braces matched).
std::string without_detail(const std::string& s) {
  std::string out;
  size_t from = 0;
  for (size_t p = s.find("namespace detail"); p != std::string::npos; p = s.find("namespace detail", from)) {
    const size_t open = skip_space(s, p + std::string("namespace detail").size());
    if (open >= s.size() || s[open] != '{') {  // not a namespace block (a comment, a qualified name)
      out += s.substr(from, open - from);
      from = open;
      continue;
    }
    out += s.substr(from, p - from);
    int depth = 0;
    size_t i = open;
    for (; i < s.size(); ++i) {
      if (s[i] == '{') ++depth;
      if (s[i] == '}' && --depth == 0) break;
    }
    from = i + 1;
  }
  return out + (from < s.size() ? s.substr(from) : std::string());
}

// Tensor-level ops of a dispatch header (comments stripped): functions declared at the start of a line
// outside namespace detail, and for each invocation "MACRO(arg" at the start of a line, the functions the
// macro's #define declares as "name##_suffix(" after a return type (arg + suffix).
std::set<std::string> tensor_ops_in(const std::string& hpp) {
  std::set<std::string> out;
  const std::string text = without_detail(hpp);
  std::map<std::string, std::vector<std::string>> macro_suffixes;
  std::string joined;  // #define lines with their continuations
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!joined.empty() || line.rfind("#define", 0) == 0) {
      joined += line;
      if (!line.empty() && line.back() == '\\') continue;
      size_t i = skip_space(joined, std::string("#define").size());
      const std::string macro = read_ident(joined, i);
      for (const size_t p : find_word(joined, "name")) {
        if (joined.compare(p + 4, 2, "##") != 0) continue;
        size_t q = p + 6;
        const std::string suffix = read_ident(joined, q);
        size_t before = p;
        while (before > 0 && std::isspace(static_cast<unsigned char>(joined[before - 1]))) --before;
        const bool declared = before >= 4 && joined.compare(before - 4, 4, "void") == 0;
        if (declared && q < joined.size() && joined[q] == '(') macro_suffixes[macro].push_back(suffix);
      }
      joined.clear();
      continue;
    }
    if (line.empty() || !ident_char(line[0])) continue;
    size_t i = 0;
    const std::string first = read_ident(line, i);
    const auto macro = macro_suffixes.find(first);
    if (macro != macro_suffixes.end() && i < line.size() && line[i] == '(') {
      ++i;
      const std::string arg = read_ident(line, i);
      for (const std::string& suffix : macro->second) out.insert(arg + suffix);
    }
  }
  for (const std::string& f : launchers_in(text)) out.insert(f);
  return out;
}

}  // namespace

TEST_CASE("cuda/coverage: every kernel in kernels/*.cu is launched by a launcher that a test calls") {
  const fs::path root = source_root();
  REQUIRE_MESSAGE(fs::is_directory(root / "kernels"), "kernels/ not found under ", root.string());
  std::vector<fs::path> sources;
  for (const auto& entry : fs::directory_iterator(root / "kernels"))
    if (entry.path().extension() == ".cu") sources.push_back(entry.path());
  std::sort(sources.begin(), sources.end());
  CHECK(!sources.empty());
  const std::string rows = harness_rows(root);
  CHECK_MESSAGE(!rows.empty(), "no harness rows found in tests/op_cases");

  for (const fs::path& cu_path : sources) {
    const std::string family = cu_path.stem().string();
    CAPTURE(family);
    const fs::path header = root / "include/simad/cuda/kernels" / (family + ".hpp");
    const fs::path test = root / "tests/cuda/kernels" / ("test_" + family + ".cpp");
    CHECK_MESSAGE(fs::exists(header), "kernels/", family, ".cu has no header ", header.string());
    if (!fs::exists(header)) continue;

    const std::string cu = strip_comments(read(cu_path));
    const std::vector<std::string> kernels = kernels_in(cu);
    CHECK_MESSAGE(!kernels.empty(), "no __global__ kernel found in kernels/", family, ".cu");
    const std::set<std::string> launched = launched_in(cu);
    for (const std::string& k : kernels)
      CHECK_MESSAGE(launched.count(k) == 1, "kernel ", k, " in kernels/", family,
                    ".cu is never launched with SIMAD_LAUNCH / simad::cuda::launch");

    const std::vector<std::string> launchers = launchers_in(strip_comments(read(header)));
    CHECK_MESSAGE(!launchers.empty(), "no launcher declared in ", header.string());
    const std::string tests = fs::exists(test) ? strip_comments(read(test)) : std::string();
    for (const std::string& l : launchers) {
      // Only what a row cannot express may be tested in the family's own file: the search pipeline
      // (k-selection over many tiles, its own workspace), queries that launch nothing, and the forms
      // that report through a device flag.
      const bool own_file = family == "search" || l.ends_with("_workspace_bytes") || l.ends_with("_uses_cublas") ||
                            l.ends_with("_deferred") || l.ends_with("_bad_position") || l.ends_with("_bad_row");
      CHECK_MESSAGE((calls(rows, l) || (own_file && calls(tests, l))), "launcher ", l, " (",
                    header.filename().string(), ") is called in no harness row (tests/op_cases/cases_*.cpp)",
                    own_file ? " nor in " + test.filename().string() : std::string());
    }
  }
}

TEST_CASE("cuda/coverage: every Tensor-level op of ops/dispatch has a harness row") {
  const fs::path root = source_root();
  const fs::path dir = root / "include/simad/ops/dispatch";
  REQUIRE_MESSAGE(fs::is_directory(dir), dir.string(), " not found");
  const std::string rows = harness_rows(root);
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename() == "common.hpp") continue;
    for (const std::string& op : tensor_ops_in(strip_comments(read(entry.path())))) {
      found.insert(op);
      CHECK_MESSAGE(calls(rows, op), "Tensor op ", op, " (", entry.path().filename().string(),
                    ") is called in no harness row (tests/op_cases/cases_*.cpp)");
    }
  }
  for (const char* op : {"softmax_backward", "relu_forward", "leaky_relu_backward", "sum_over_cols_backward",
                         "batched_matmul", "adam_update", "fusion_attention_backward"})
    CHECK_MESSAGE(found.count(op) == 1, "the scanner missed ", op);
}

TEST_CASE("cuda/coverage: the kernel and launcher scanners find what they should") {
  const auto k = kernels_in("template <int T>\n__global__ void __launch_bounds__(256)\n    my_kernel(int a) {}\n"
                            "__global__ void other(float* x);\n");
  CHECK(k == std::vector<std::string>{"my_kernel", "other"});
  const auto l = launchers_in("namespace x {\nvoid gemm(bool a,\n int b);\nbool gemm_uses_cublas();\n"
                              "void softmax_forward(float* out, // (N, C)\n int n);\n}\n");
  CHECK(l == std::vector<std::string>{"gemm", "gemm_uses_cublas", "softmax_forward"});
  CHECK(launched_in("SIMAD_LAUNCH((a::k1<1, 2>), g, b);\n simad::cuda::launch(k2, g);\n launch_named(\"x\", ::k3, g)") ==
        std::set<std::string>{"k1", "k2", "k3"});
  CHECK(calls("x = ck::gemm (a, b);", "gemm"));
  CHECK(!calls("ck::gemm_tiled(a);", "gemm"));
  CHECK(calls("const Op ops[] = {{\"x\", k::gemm, 1}};", "gemm"));
  CHECK(!calls("// gemm is mentioned in a comment", "gemm"));
  const std::string dispatch =
      "namespace detail {\nvoid helper(int a) { if (a) {} }\n}  // namespace detail\n"
      "#define MAKE_(name, x) \\\n  template <typename T> \\\n  void name##_forward(T a) { g(name##_forward(a)); } \\\n"
      "  void name##_backward(T a) {}\nMAKE_(relu, 1)\nMAKE_(tanh, 2)\n"
      "template <typename T>\nTensor<T> matmul(const Tensor<T>& a,\n  bool t);\n";
  CHECK(tensor_ops_in(strip_comments(dispatch)) ==
        std::set<std::string>{"matmul", "relu_backward", "relu_forward", "tanh_backward", "tanh_forward"});
}

}  // namespace SIMAD_TEST_FILE_ID
