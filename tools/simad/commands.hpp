// tools/simad/commands.hpp: the subcommands of the `simad` program. Each lives in its own
// cmd_<name>.cpp and exposes one function that adds itself to the top-level CLI::App: it declares
// its options (with --help text) and a callback that runs it. A callback reports failure by
// throwing (simad::Error or any std::exception): main prints "simad <command>: error: ..." and
// exits 1. Adding a command = a new cmd_<name>.cpp (picked up by CMake) + one line in each list below.
#pragma once

#include <CLI/CLI.hpp>

namespace simad::cli {

void register_bench(CLI::App& app);  // cmd_bench.cpp: kernel benchmark table, simad vs peers

using Register = void (*)(CLI::App&);
// In the order `simad --help` lists them.
inline constexpr Register kCommands[] = {
    &register_bench,
};

}  // namespace simad::cli
