#include "lnpsaxs/join_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"

namespace lnpsaxs::io {
namespace {
namespace fs = std::filesystem;

/// One flock per lock file per process, shared by every OutputLock of that path.
struct Held {
  int fd = -1;  ///< -1 when the file system refused locking (counted as held, nothing to release)
  int refs = 0;
};
std::map<std::string, Held>& registry() {
  static std::map<std::string, Held> r;
  return r;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string read_holder(int fd) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    char buf[256] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string s = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (!s.empty()) return s;
    // The holder locks first and writes its name right after: give it a moment.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "pid unknown, host unknown";
}

bool locking_unsupported(int err) { return err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL; }

/// Takes the lock of `lock_path` for this process. Returns true when held; otherwise `holder`
/// says by whom (or why not).
bool acquire(const std::string& lock_path, std::string& holder) {
  Held& h = registry()[lock_path];
  if (h.refs > 0) {
    ++h.refs;
    return true;
  }
  std::error_code ec;
  fs::create_directories(fs::path(lock_path).parent_path(), ec);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      holder = "cannot create the lock file " + lock_path + ": " + std::strerror(errno);
      registry().erase(lock_path);
      return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (locking_unsupported(err)) {
        log::warn("{}: the file system does not support flock ({}): a second copy of this job would not be detected",
                  lock_path, std::strerror(err));
        ::close(fd);
        h.fd = -1;
        h.refs = 1;
        return true;
      }
      holder = err == EWOULDBLOCK ? read_holder(fd) : std::string("lock failed: ") + std::strerror(err);
      ::close(fd);
      registry().erase(lock_path);
      return false;
    }
    // The previous holder may have removed the file between our open and our flock: then we
    // locked an orphan inode, and must lock the file now at that path instead.
    struct stat a {}, b {};
    if (::fstat(fd, &a) != 0 || ::stat(lock_path.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
      ::close(fd);
      continue;
    }
    const std::string me = "pid " + std::to_string(::getpid()) + ", host " + hostname() + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      // The lock holds without the note; the loser then reports an unknown holder.
    }
    h.fd = fd;
    h.refs = 1;
    return true;
  }
  holder = "the lock file " + lock_path + " keeps being replaced";
  registry().erase(lock_path);
  return false;
}

void drop(const std::string& lock_path) {
  auto it = registry().find(lock_path);
  if (it == registry().end()) return;
  if (--it->second.refs > 0) return;
  if (it->second.fd >= 0) {
    // Remove the file while still holding the lock: a waiter that opened it re-checks the path.
    ::unlink(lock_path.c_str());
    ::close(it->second.fd);
  }
  registry().erase(it);
}

}  // namespace

OutputLock::OutputLock(const std::string& output_path, MPI_Comm comm) : output_(output_path) {
  int rank = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
  std::string key;
  if (rank == 0) {
    key = fs::absolute(fs::path(output_path + ".lock")).lexically_normal().string();
    held_ = acquire(key, holder_);
    if (held_) key_ = key;
  }
  if (comm != MPI_COMM_NULL) {
    int ok = held_ ? 1 : 0;
    MPI_Bcast(&ok, 1, MPI_INT, 0, comm);
    int len = static_cast<int>(holder_.size());
    MPI_Bcast(&len, 1, MPI_INT, 0, comm);
    holder_.resize(static_cast<std::size_t>(len));
    if (len > 0) MPI_Bcast(holder_.data(), len, MPI_CHAR, 0, comm);
    held_ = ok != 0;
  }
}

OutputLock::~OutputLock() { release(); }

void OutputLock::release() {
  if (!key_.empty()) drop(key_);
  key_.clear();
}

void OutputLock::require() const {
  if (held_) return;
  if (holder_.rfind("pid ", 0) != 0) throw InputError(output_ + ": cannot take its writer lock (" + holder_ + ")");
  throw InputError(output_ + " is being written by another process (" + holder_ +
                   "): a second copy of this job? Wait for that one to finish (or stop it), then rerun");
}

}  // namespace lnpsaxs::io
