// simad/core/error.hpp: the one exception type of simad, and the checks that throw it.
// Library code never exits or aborts on bad input: it throws simad::Error with a message that says
// what was wrong and where (the file a user gave, a byte offset, a tensor name), plus the source
// location of the check, so a bug report can point at the line.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace simad {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Where a check sits in the source. std::source_location would do, but clang 14 with libstdc++ 12
// (Debian 12) does not provide it; the builtins behind it work in GCC, clang and nvcc's host pass.
struct SourceLocation {
  const char* file = "";
  unsigned line = 0;
  static constexpr SourceLocation current(const char* file = __builtin_FILE(), unsigned line = __builtin_LINE()) {
    return SourceLocation{file, line};
  }
};

namespace detail {

template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

[[noreturn]] inline void throw_error(const std::string& message, SourceLocation where) {
  std::string file = where.file;
  if (auto slash = file.rfind("include/simad/"); slash != std::string::npos) file = file.substr(slash + 8);
  throw Error(message + " [" + file + ":" + std::to_string(where.line) + "]");
}

}  // namespace detail

// fail("tensor '", name, "': expected ", n, " bytes"): throws simad::Error with the pieces joined.
template <typename... Args>
struct fail {
  [[noreturn]] explicit fail(Args&&... args, SourceLocation where = SourceLocation::current()) {
    detail::throw_error(detail::concat(std::forward<Args>(args)...), where);
  }
};
template <typename... Args>
fail(Args&&...) -> fail<Args...>;

}  // namespace simad

// SIMAD_CHECK(cond, pieces...): throws simad::Error("pieces... (check failed: cond)") when cond is false.
#define SIMAD_CHECK(cond, ...)                                                                      \
  do {                                                                                              \
    if (!(cond)) [[unlikely]]                                                                       \
      ::simad::detail::throw_error(::simad::detail::concat(__VA_ARGS__, " (check failed: " #cond ")"), \
                                   ::simad::SourceLocation::current());                             \
  } while (0)
