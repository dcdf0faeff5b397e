// benchmarks/dnnl_facts.hpp: the build facts of the oneDNN peer, printed beside its rows (`simad bench
// darknet`, simad_bench_darknet): its version and commit, and the instruction set its kernels dispatch
// to on this CPU. oneDNN picks that level at run time as simad does, so a row against oneDNN on one CPU
// says nothing of another; ONEDNN_MAX_CPU_ISA in the environment lowers it, and the line says so.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdlib>
#include <string>

namespace simad::bench {

inline const char* dnnl_isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::all: return "all";
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
  }
  return "unknown";
}

// "oneDNN 2.6.3, ISA avx512_core_bf16": "(commit abcdef0)" after the version where the build knows it,
// "; ONEDNN_MAX_CPU_ISA=..." at the end when that is set.
inline std::string dnnl_build_facts() {
  const dnnl_version_t* v = dnnl_version();
  std::string s = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                  std::to_string(v->patch);
  const std::string hash = v->hash ? v->hash : "";
  if (!hash.empty() && hash != "N/A") s += " (commit " + hash.substr(0, 7) + ")";  // Debian's build has none
  s += std::string(", ISA ") + dnnl_isa_name(dnnl::get_effective_cpu_isa());
  if (const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA")) s += std::string("; ONEDNN_MAX_CPU_ISA=") + cap;
  return s;
}

}  // namespace simad::bench
