#pragma once
// An exclusive lock file that elects one process (of several SLURM array tasks finishing at about
// the same time) to join the shards of a stage output (design.md "Checkpoints and resume").
#include <string>

namespace lnpsaxs::io {

/// Holds `path` created with O_CREAT|O_EXCL for its lifetime and removes it on destruction.
/// A lock older than an hour is taken to be left by a killed process and is broken.
/// Never throws; `held()` says whether this process got the lock.
class JoinLock {
 public:
  explicit JoinLock(std::string path);
  ~JoinLock();
  JoinLock(const JoinLock&) = delete;
  JoinLock& operator=(const JoinLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace lnpsaxs::io
