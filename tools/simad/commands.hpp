// tools/simad/commands.hpp: the subcommands of the `simad` program. Each lives in its own
// cmd_<name>.cpp and registers itself with one static object, so adding a command touches no other
// file:
//     static const simad::cli::RegisterCommand kTokenize{20, "tokenize", &register_tokenize};
// The function adds the subcommand to the top-level CLI::App: its options (with --help text) and a
// callback that runs it. A callback reports failure by throwing (simad::Error or any
// std::exception): main prints "simad <command>: error: ..." and exits 1.
// Benchmark suites that are too big for the default `simad bench` table (search, darknet, ...)
// register as subcommands of `bench` the same way (`simad bench search`):
//     static const simad::cli::RegisterBenchSuite kSearch{10, "search", &register_bench_search};
#pragma once

#include <CLI/CLI.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace simad::cli {

using Register = void (*)(CLI::App& parent);

struct Registration {
  int order;         // `--help` lists commands by this, then by name
  std::string name;  // for ordering and duplicate checks only; the function names the subcommand
  Register add;
};

// Function-local statics: safe to use from other translation units' static initialisers.
inline std::vector<Registration>& command_registry() {
  static std::vector<Registration> registry;
  return registry;
}
inline std::vector<Registration>& bench_suite_registry() {
  static std::vector<Registration> registry;
  return registry;
}

struct RegisterCommand {
  RegisterCommand(int order, std::string name, Register add) {
    command_registry().push_back({order, std::move(name), add});
  }
};
struct RegisterBenchSuite {
  RegisterBenchSuite(int order, std::string name, Register add) {
    bench_suite_registry().push_back({order, std::move(name), add});
  }
};

// Adds every registered entry to `parent` in (order, name) order.
inline void add_registered(std::vector<Registration> entries, CLI::App& parent) {
  std::sort(entries.begin(), entries.end(), [](const Registration& a, const Registration& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  for (const Registration& e : entries) e.add(parent);
}

}  // namespace simad::cli
