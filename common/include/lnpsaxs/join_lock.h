#pragma once
// Exclusive writer locks on stage outputs (docs/architecture.md §5).
//
// OutputLock makes one process the only writer of an output NAME: it holds an exclusive flock(2)
// on NAME.lock, the lock file next to NAME.partial. The kernel releases a flock when its process
// dies, however it dies, so a killed job never leaves a stale lock; a lock file left by a killed
// process is simply locked again by the next writer. The holder writes "pid P host H" into the
// lock file so that a second copy of the same job (a job submitted twice, a requeue racing the
// original) can say who is writing. Locks are re-entrant within one process: every OutputLock of
// the same path in a process shares one flock, released (and the lock file removed) with the last.
//
// On shared file systems flock must be supported (NFS: emulated with fcntl locks by Linux; Lustre:
// mount with -o flock). Where the file system refuses locks (ENOLCK, ENOSYS, EOPNOTSUPP) the lock
// counts as held and a warning says that concurrent copies are not detected there.
#include <mpi.h>

#include <memory>
#include <string>

namespace lnpsaxs::io {

class OutputLock {
 public:
  /// Tries, without waiting, to take the writer lock of output `output_path` (its lock file is
  /// `output_path` + ".lock"; its folder is created if missing). With a communicator, rank 0 takes
  /// the lock for the whole job and every rank learns the verdict (collective); with
  /// MPI_COMM_NULL this process takes it. Never throws.
  explicit OutputLock(const std::string& output_path, MPI_Comm comm = MPI_COMM_NULL);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  /// Whether this process (or, with a communicator, this job) holds the lock.
  bool held() const { return held_; }
  /// When not held: "pid 1234, host node07" as written by the holder (or what went wrong).
  const std::string& holder() const { return holder_; }
  /// Throws InputError "<output> is being written by another process (pid P, host H) ..." unless
  /// held(). Exit code 2: the job is a duplicate, not a failure of the one that is writing.
  void require() const;
  /// Releases the lock now (the destructor does it otherwise).
  void release();

 private:
  std::string output_;
  std::string key_;  ///< normalised lock-file path (registry key); empty on ranks that hold nothing
  bool held_ = false;
  std::string holder_;
};

/// Elects one process (of several SLURM array tasks finishing at about the same time) to join the
/// shards of a stage output: the output's writer lock, taken without waiting by this process
/// alone. `held()` says whether this process got it; the joined output's CheckpointWriter then
/// re-enters the same lock.
class JoinLock {
 public:
  /// `path` is the joined output (e.g. RUN/curves.h5); the lock file is `path` + ".lock".
  explicit JoinLock(const std::string& path) : lock_(path) {}
  bool held() const { return lock_.held(); }
  const std::string& holder() const { return lock_.holder(); }

 private:
  OutputLock lock_;
};

}  // namespace lnpsaxs::io
