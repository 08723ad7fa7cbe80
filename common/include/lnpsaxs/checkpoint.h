#pragma once
// Stage outputs as checkpoints (docs/architecture.md §5).
//
// Every output file carries the attributes schema_version, stage, config_sha256 (the whole
// resolved config), stage_sha256 (fingerprint of the config sections this output depends on; the
// compatibility test), config_yaml (the resolved config text), lnpsaxs_version, created_utc and
// complete (0 while written, set to 1 last). It is written as NAME.partial and renamed to NAME
// only when complete, so a reader never sees half a file under the final name and a killed stage
// leaves NAME.partial to resume from. Long stages keep a per-item `done` mask, flushed at batch
// boundaries.
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lnpsaxs/h5.h"
#include "lnpsaxs/join_lock.h"
#include "lnpsaxs/mpi_env.h"

namespace lnpsaxs::io {

/// Version of the on-disk layout of all lnpsaxs outputs; bump on incompatible changes.
constexpr std::int64_t kSchemaVersion = 1;

/// Who made an output and under which config.
struct Provenance {
  std::string stage;          ///< "sample", "simulate", ...
  std::string config_sha256;  ///< Config::sha256()
  std::string stage_sha256;   ///< Config::fingerprint(sections the output depends on)
  std::string config_yaml;    ///< Config::resolved_yaml()
};

/// "2026-11-21T10:00:00Z"
std::string utc_now_iso8601();

/// Writes the standard attributes (complete = 0) on the root group of `file`.
void write_provenance(hid_t file, const Provenance& p);

/// missing: nothing there; partial: NAME.partial (resumable); complete: NAME flagged complete with
/// every virtual-dataset source in place; damaged: NAME exists but cannot be used (not HDF5,
/// truncated, not flagged complete, or a source of its virtual datasets is missing or foreign).
enum class OutputState { missing, partial, complete, damaged };

/// What is on disk for an output path.
struct OutputInfo {
  OutputState state = OutputState::missing;
  std::string path;          ///< the final path, or NAME.partial when state == partial
  std::string stage;         ///< attribute `stage`, if readable
  std::string stage_sha256;  ///< attribute `stage_sha256`, if readable
  std::string created_utc;
  /// What is wrong with NAME, a phrase that follows the path ("is not an HDF5 file", "is
  /// truncated or damaged (...)", "has a bad source: RUN/curves/shard-0000-of-0001.h5 is
  /// missing (...)"); empty when NAME is missing or complete.
  std::string problem;
  /// What is wrong with NAME.partial when it exists but cannot be resumed (empty otherwise).
  std::string partial_problem;
};

std::string partial_path(const std::string& final_path);

/// Looks at NAME (complete if it exists with complete = 1 and its virtual-dataset sources check
/// out) and NAME.partial. Never throws for an unreadable file: it reports it as `damaged` (NAME)
/// or in `partial_problem` (NAME.partial, which cannot be resumed then).
OutputInfo inspect_output(const std::string& final_path);

/// Writer of one output file as NAME.partial, renamed to NAME by commit(). Collective over `comm`
/// (MPI_COMM_NULL for a serial file written by one process).
///
/// Integrity: the writer holds the output's exclusive OutputLock from construction to commit (a
/// second copy of the same job exits 2 instead of writing into the same NAME.partial), and
/// commit() verifies, from the file as written, every expectation registered with expect_*()
/// before it flags the file complete. Destroyed without commit (an exception), it closes every
/// HDF5 id of the file and removes NAME.partial when nothing in it can be resumed (no item of
/// any `done` mask is set, or the file is unreadable); the previous NAME is never touched.
class CheckpointWriter {
 public:
  /// Takes the output lock (throws InputError naming the holder when another process holds it),
  /// then opens NAME.partial: if it exists, was made with the same stage_sha256 and
  /// `allow_resume` is true, it is reopened and resumed() is true; otherwise it is created afresh
  /// (a damaged partial is discarded with a warning).
  CheckpointWriter(const std::string& final_path, const Provenance& p, MPI_Comm comm, bool allow_resume);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;
  File& file() { return file_; }
  hid_t id() const { return file_.id(); }
  bool resumed() const { return resumed_; }
  const std::string& final_path() const { return final_path_; }

  /// At commit, dataset `path` must hold exactly `values` (e.g. the q grid).
  void expect_values(const std::string& path, std::vector<double> values);
  /// At commit, the done mask `path` must have `n` items, all set.
  void expect_done(const std::string& path, std::int64_t n);
  /// At commit, dataset `path` must have `rows` rows (its first dimension).
  void expect_rows(const std::string& path, std::int64_t rows);

  /// Closes the file, verifies the expectations and the sources of any virtual dataset on the
  /// file as written, marks complete = 1 and renames NAME.partial → NAME (replacing an older
  /// NAME). Collective. Throws RuntimeFailure (and removes NAME.partial) when the verification
  /// fails. After commit the writer is closed and the lock released.
  void commit();

 private:
  struct Expectation {
    enum Kind { equal_values, all_done, row_count } kind;
    std::string path;
    std::vector<double> values;
    std::int64_t n = 0;
  };
  std::string verify(hid_t file) const;
  void abandon() noexcept;

  std::unique_ptr<OutputLock> lock_;
  File file_;
  std::string final_path_;
  MPI_Comm comm_;
  bool resumed_ = false;
  bool committed_ = false;
  std::vector<Expectation> expect_;
};

/// Per-item `done` mask (uint8 [n]) stored in an output file, e.g. "/train/done".
class DoneMask {
 public:
  /// Opens the dataset at `path` or creates it (all zero). Reads the whole mask.
  DoneMask(hid_t file, const std::string& path, std::int64_t n);
  bool done(std::int64_t i) const { return mask_.at(static_cast<std::size_t>(i)) != 0; }
  std::int64_t count_done() const;
  std::int64_t count_done(const mpi::Range& r) const;
  /// First item of `r` not done, or r.end when all are done.
  std::int64_t first_not_done(const mpi::Range& r) const;
  /// Marks items [r.begin, r.end) done and writes those rows (collective when `collective`;
  /// then every rank calls, with an empty range if it has nothing). Call File::flush() after.
  void mark(const mpi::Range& r, bool collective);
  std::int64_t size() const { return static_cast<std::int64_t>(mask_.size()); }

 private:
  H5Id dset_;
  std::vector<std::uint8_t> mask_;
};

/// Renames `from` to `to` atomically (same file system). Throws RuntimeFailure.
void atomic_rename(const std::string& from, const std::string& to);
/// Writes `text` to `path` atomically (a temporary file unique to this process + rename, so
/// concurrent writers of the same path never rename each other's file away).
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace lnpsaxs::io
