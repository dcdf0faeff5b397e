// tools/simad/main.cpp: the `simad` command-line program: git-style subcommands (commands.hpp),
// --help on each, --version. Exit status: 0 on success, non-zero on bad flags (CLI11's message
// on stderr) or when a command fails (its error on stderr).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "commands.hpp"

#ifndef SIMAD_VERSION
#define SIMAD_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  // `simad bench` alternates simad's and OpenBLAS's trials. OpenBLAS's threads spin 2^28 cycles (~0.1 s)
  // after each call by default and would take the cores from simad's next trial; they read how long
  // from OPENBLAS_THREAD_TIMEOUT once, when the library loads. So bench runs itself again with 2^18
  // cycles (~0.1 ms, as long as simad's own pool spins) unless the user chose a value. oneDNN's
  // OpenMP threads (GNU libgomp) spin likewise after each primitive and slowed simad's next trial by up
  // to 1.5x on 2 cores (`simad bench darknet`); OMP_WAIT_POLICY=passive puts them to sleep instead,
  // which measured no slower for oneDNN itself. Both are read once at load, hence the new process.
  const bool bench = argc > 1 && std::string(argv[1]) == "bench";
  if (bench && (!std::getenv("OPENBLAS_THREAD_TIMEOUT") || !std::getenv("OMP_WAIT_POLICY"))) {
    ::setenv("OPENBLAS_THREAD_TIMEOUT", "18", 0);  // 0: a value the user set stays
    ::setenv("OMP_WAIT_POLICY", "passive", 0);
    ::execv("/proc/self/exe", argv);  // returns only on failure: then run with the libraries' defaults
  }
  CLI::App app{"simad: similar ads. Trains and runs ad-similarity models, searches embeddings and benchmarks its "
               "kernels, without an ML framework.",
               "simad"};
  app.set_version_flag("--version", std::string("simad ") + SIMAD_VERSION);
  app.require_subcommand(1);
  simad::cli::add_registered(simad::cli::command_registry(), app);
  app.footer("Run 'simad <command> --help' for the options of a command.");  // after: not inherited

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::string who = "simad";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      who += " " + sub->get_name();
    }
    std::cerr << who << ": error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
