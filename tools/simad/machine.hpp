// tools/simad/machine.hpp: what every benchmark prints beside its numbers: the CPU model, the core
// count and the load (a busy machine makes every row noisy).
#pragma once

#include <fstream>
#include <string>
#include <thread>

namespace simad::cli {

struct Machine {
  std::string cpu = "unknown CPU";
  int cores = 0;
};

// The 1-minute load average (-1 if unknown): a busy machine makes every row noisy.
inline double load_average() {
  std::ifstream in("/proc/loadavg");
  double load = -1.0;
  if (!(in >> load)) load = -1.0;
  return load;
}

inline Machine read_machine() {
  Machine m;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "processor") ++m.cores;
    else if (key == "model name" && m.cpu == "unknown CPU") m.cpu = value;
  }
  if (m.cores == 0) m.cores = int(std::thread::hardware_concurrency());
  return m;
}

}  // namespace simad::cli
