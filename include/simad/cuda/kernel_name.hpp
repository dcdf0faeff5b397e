// simad/cuda/kernel_name.hpp: a readable name for a kernel, for error messages (nvcc and emulator).
// The name given to SIMAD_LAUNCH (#kernel) wins; otherwise the symbol found by dladdr, demangled
// (needs the kernel's symbol in the dynamic table: simad::cuda_emu links with -rdynamic); otherwise
// the kernel's type and address.
#pragma once

#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace simad::cuda::detail {

inline std::string demangle(const char* mangled) {
  int status = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = (status == 0 && out) ? out : mangled;
  std::free(out);
  return s;
}

// given: the spelling from SIMAD_LAUNCH or nullptr; fn: the kernel's address; type: typeid(kernel).name().
inline std::string kernel_name(const char* given, const void* fn, const char* type) {
  if (given && *given) return given;
  Dl_info info{};
  if (fn && dladdr(fn, &info) != 0 && info.dli_sname && info.dli_saddr == fn) return demangle(info.dli_sname);
  char address[32];
  std::snprintf(address, sizeof address, "%p", fn);
  std::string s = "kernel at ";
  s += address;
  if (type) {
    s += " of type ";
    s += demangle(type);
  }
  return s;
}

}  // namespace simad::cuda::detail
