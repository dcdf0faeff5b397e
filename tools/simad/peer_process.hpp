// tools/simad/peer_process.hpp: a benchmark peer that runs as a child process (e.g. FAISS from PyPI
// under a Python interpreter, benchmarks/faiss_peer.py), spoken to by lines and binary payloads over
// its stdin and stdout. Its stderr stays the terminal's, so its own errors reach the user.
//
// A peer is optional: no call throws or exits. The first failure (the program cannot start, a reply
// is late, malformed or "error ...", the child dies) is kept in error(), the child is ended, and the
// caller reports it and skips the peer's rows. Writing to a dead child must not kill simad with
// SIGPIPE, so SIGPIPE is ignored while a peer lives (write then fails with EPIPE).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace simad::cli {

class PeerProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with the arguments. name: how messages call
  // the peer.
  PeerProcess(std::string name, const std::vector<std::string>& argv) : name_(std::move(name)) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
      fail("pipe: " + std::string(std::strerror(errno)));
      return;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
      fail("pipe: " + std::string(std::strerror(errno)));
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);  // dup2 clears O_CLOEXEC on the copy
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    old_sigpipe_ = ::signal(SIGPIPE, SIG_IGN);
    const int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      fail("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
  }
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess() {
    stop();
    if (old_sigpipe_ != SIG_ERR) ::signal(SIGPIPE, old_sigpipe_);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Sends one command line and, when given, a binary payload right after it.
  bool send(const std::string& line, const void* payload = nullptr, size_t bytes = 0) {
    if (!ok()) return false;
    last_command_ = line;
    const std::string l = line + "\n";
    return write_all(l.data(), l.size()) && (bytes == 0 || write_all(payload, bytes));
  }

  // Reads the next reply line, which must be `want` or start with `want` and a space; *rest gets
  // what follows. On "error TEXT", another word, end of output or no reply within timeout_s, records
  // the failure and returns false.
  bool expect(const std::string& want, double timeout_s, std::string* rest = nullptr) {
    if (!ok()) return false;
    std::string line;
    if (!read_line(line, timeout_s)) return false;
    if (line.rfind(want, 0) != 0 || (line.size() > want.size() && line[want.size()] != ' ')) {
      fail((last_command_.empty() ? std::string("first line") : "reply to '" + last_command_ + "'") + " was '" +
         line.substr(0, 300) + "', expected '" + want + " ...'");
      return false;
    }
    if (rest) *rest = line.size() > want.size() ? line.substr(want.size() + 1) : std::string();
    return true;
  }

  // Reads exactly `bytes` of binary payload.
  bool read_bytes(void* dst, size_t bytes, double timeout_s) {
    auto* p = static_cast<char*>(dst);
    while (bytes > 0 && ok()) {
      if (!buf_.empty()) {
        const size_t n = std::min(bytes, buf_.size());
        std::memcpy(p, buf_.data(), n);
        buf_.erase(0, n);
        p += n;
        bytes -= n;
      } else if (!fill(timeout_s)) {
        return false;
      }
    }
    return ok();
  }

  // Records a failure found by the caller (e.g. a reply that does not parse) and ends the child.
  void fail(const std::string& what) {
    if (error_.empty()) error_ = name_ + ": " + what;
    stop();
  }

 private:
  bool write_all(const void* data, size_t n) {
    const auto* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(to_child_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail("writing '" + last_command_ + "' failed: " + std::strerror(errno) + " (the peer exited?)");
        return false;
      }
      p += w;
      n -= size_t(w);
    }
    return true;
  }

  // Appends what the child wrote to buf_, waiting up to timeout_s for it.
  bool fill(double timeout_s) {
    pollfd pfd{from_child_, POLLIN, 0};
    const int pr = ::poll(&pfd, 1, int(timeout_s * 1e3));
    if (pr < 0 && errno == EINTR) return true;
    if (pr == 0) {
      fail("no reply to '" + last_command_ + "' within " + std::to_string(int(timeout_s)) + " s");
      return false;
    }
    char chunk[1 << 16];
    const ssize_t n = pr > 0 ? ::read(from_child_, chunk, sizeof chunk) : -1;
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      fail(last_command_.empty() ? std::string("exited before saying hello (see its messages above)")
                                 : "exited after '" + last_command_ + "' (see its messages above)");
      return false;
    }
    buf_.append(chunk, size_t(n));
    return true;
  }

  bool read_line(std::string& line, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
      const size_t eol = buf_.find('\n');
      if (eol != std::string::npos) {
        line = buf_.substr(0, eol);
        buf_.erase(0, eol + 1);
        if (line.rfind("error", 0) == 0) {
          fail((last_command_.empty() ? std::string("on start") : "'" + last_command_ + "'") + ": " + line);
          return false;
        }
        return true;
      }
      const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        fail("no reply to '" + last_command_ + "' within " + std::to_string(int(timeout_s)) + " s");
        return false;
      }
      if (!fill(left)) return false;
    }
  }

  // Closing stdin makes a well-behaved peer exit; one that does not within 2 s is killed.
  void stop() {
    if (to_child_ >= 0) ::close(to_child_);
    to_child_ = -1;
    if (pid_ > 0) {
      int status = 0;
      for (int i = 0; i < 200 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(10000);
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
      pid_ = -1;
    }
    if (from_child_ >= 0) ::close(from_child_);
    from_child_ = -1;
  }

  std::string name_, error_, last_command_, buf_;
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  void (*old_sigpipe_)(int) = SIG_ERR;
};

}  // namespace simad::cli
