// simad/io/atomic_file.hpp: write a file so that readers never see it half written: the bytes go
// to a temporary beside the target (same directory, so the rename cannot cross file systems) and
// commit() renames it over the target; without commit() (an exception, a crash) the target is
// untouched and the destructor removes the temporary. Used by every writer of user-visible files
// (safetensors, indexes, vectors, SynthAds).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "simad/core/error.hpp"

namespace simad::io {

// Writes a file through a temporary in the same directory, renamed over `path` by commit(); the
// destructor removes the temporary when commit() was not reached.
class AtomicFile {
 public:
  explicit AtomicFile(const std::filesystem::path& path) : path_(path) {
    static std::atomic<uint64_t> counter{0};
    uint64_t pid = 0;
#if defined(__unix__) || defined(__APPLE__)
    pid = uint64_t(::getpid());
#endif
    tmp_ = path;
    tmp_ += ".tmp." + std::to_string(pid) + "." + std::to_string(counter.fetch_add(1));
    file_ = std::fopen(tmp_.string().c_str(), "wbx");  // x: never clobber an existing file
    if (!file_)
      fail("cannot create '", tmp_.string(), "' (to write '", path.string(), "'): ", std::strerror(errno));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (file_) std::fclose(file_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }

  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void write(const void* data, size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n)
      fail("cannot write '", tmp_.string(), "': ", std::strerror(errno));
  }

  void commit() {
    bool ok = std::fflush(file_) == 0;
#if defined(__unix__) || defined(__APPLE__)
    ok = ok && ::fsync(::fileno(file_)) == 0;
#endif
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    if (!ok) fail("cannot write '", tmp_.string(), "': ", std::strerror(errno));
    std::error_code ec;
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) fail("cannot rename '", tmp_.string(), "' to '", path_.string(), "': ", ec.message());
    committed_ = true;
  }

 private:
  std::filesystem::path path_, tmp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};


// Writes `bytes` to `path` atomically.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes);
  file.commit();
}

}  // namespace simad::io
