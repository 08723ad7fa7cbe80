#include "lnpsaxs/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/version.h"

namespace lnpsaxs::io {

std::string utc_now_iso8601() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_provenance(hid_t file, const Provenance& p) {
  set_attr(file, "schema_version", kSchemaVersion);
  set_attr(file, "stage", p.stage);
  set_attr(file, "config_sha256", p.config_sha256);
  set_attr(file, "stage_sha256", p.stage_sha256);
  set_attr(file, "config_yaml", p.config_yaml);
  set_attr(file, "lnpsaxs_version", std::string(version_string()));
  set_attr(file, "created_utc", utc_now_iso8601());
  set_attr(file, "complete", std::int64_t{0});
}

std::string partial_path(const std::string& final_path) { return final_path + ".partial"; }

namespace {

/// Reads the provenance of `path` into `info`. Returns whether it is flagged complete; `problem`
/// gets what makes the file unusable (as a phrase following the path), or stays empty.
bool read_info(const std::string& path, OutputInfo& info, std::string& problem) {
  try {
    File f = File::open(path, File::Mode::read);  // also checks the sources of virtual datasets
    info.stage = has_attr(f, "stage") ? attr_string(f, "stage") : "";
    info.stage_sha256 = has_attr(f, "stage_sha256") ? attr_string(f, "stage_sha256") : "";
    info.created_utc = has_attr(f, "created_utc") ? attr_string(f, "created_utc") : "";
    return has_attr(f, "complete") && attr_int(f, "complete") == 1;
  } catch (const InputError& e) {
    problem = e.what();
    if (problem.rfind(path + " ", 0) == 0) problem = problem.substr(path.size() + 1);
  } catch (const std::exception& e) {
    problem = std::string("cannot be read (") + e.what() + ")";
  }
  return false;
}

herr_t find_done(hid_t obj, const char* name, const H5O_info_t* info, void* data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  const std::string n = name;
  if (n != "done" && (n.size() < 5 || n.compare(n.size() - 5, 5, "/done") != 0)) return 0;
  try {
    H5Id ds = open_dataset(obj, n);
    for (std::uint8_t v : read_all<std::uint8_t>(ds)) {
      if (v) {
        *static_cast<bool*>(data) = true;
        return 1;
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}

/// Whether any `done` mask of the file has an item set (something in it can be resumed).
bool any_done(hid_t file) {
  bool found = false;
  H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, find_done, &found, H5O_INFO_BASIC);
  H5Eclear2(H5E_DEFAULT);
  return found;
}

bool path_exists(const std::string& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec) || std::filesystem::is_symlink(p, ec);
}

}  // namespace

OutputInfo inspect_output(const std::string& final_path) {
  OutputInfo info;
  if (path_exists(final_path)) {
    OutputInfo c;
    std::string problem;
    if (read_info(final_path, c, problem) && problem.empty()) {
      c.state = OutputState::complete;
      c.path = final_path;
      return c;
    }
    info = c;
    info.problem = problem.empty() ? "is not flagged complete (attribute complete is not 1)" : problem;
  }
  const std::string partial = partial_path(final_path);
  if (path_exists(partial)) {
    OutputInfo p;
    std::string problem;
    read_info(partial, p, problem);
    if (problem.empty() && !p.stage_sha256.empty()) {
      p.state = OutputState::partial;
      p.path = partial;
      p.problem = info.problem;
      return p;
    }
    info.partial_problem = problem.empty() ? "has no provenance attributes (not an lnpsaxs output?)" : problem;
  }
  info.state = info.problem.empty() ? OutputState::missing : OutputState::damaged;
  info.path = info.problem.empty() ? "" : final_path;
  return info;
}

CheckpointWriter::CheckpointWriter(const std::string& final_path, const Provenance& p, MPI_Comm comm,
                                   bool allow_resume)
    : final_path_(final_path), comm_(comm) {
  lock_ = std::make_unique<OutputLock>(final_path, comm);
  lock_->require();  // a second copy of the same job stops here, before touching NAME.partial
  int rank = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
  const std::string partial = partial_path(final_path);
  if (allow_resume) {
    const OutputInfo info = inspect_output(final_path);
    if (info.state == OutputState::partial && info.stage_sha256 == p.stage_sha256 && info.stage == p.stage) {
      try {
        file_ = File::open(partial, File::Mode::readwrite, comm);
        resumed_ = true;
      } catch (const std::exception& e) {
        if (rank == 0) log::warn("{}: discarding the damaged partial file ({}); starting afresh", partial, e.what());
        resumed_ = false;
      }
    } else if (!info.partial_problem.empty()) {
      if (rank == 0) log::warn("{}: discarding the damaged partial file ({}); starting afresh", partial, info.partial_problem);
    } else if (info.state == OutputState::partial && rank == 0) {
      log::info("{} was made under another config: starting afresh", partial);
    }
  }
  if (!resumed_) {
    try {
      file_ = File::create(partial, comm);
      write_provenance(file_, p);
      file_.flush();
    } catch (...) {
      // Nothing in a partial that could not even be started is resumable (disk full, quota).
      file_.close();
      if (rank == 0) std::remove(partial.c_str());
      throw;
    }
  }
}

CheckpointWriter::~CheckpointWriter() { abandon(); }

void CheckpointWriter::abandon() noexcept {
  if (committed_ || file_.id() < 0) return;
  // Closing the file closes every id still open in it (H5F_CLOSE_STRONG); a close that fails (disk
  // full) must still release the library's handle, or HDF5's exit-time cleanup crashes on it.
  file_.close();
  int rank = 0;
  if (comm_ != MPI_COMM_NULL) MPI_Comm_rank(comm_, &rank);
  if (rank != 0) return;
  const std::string partial = partial_path(final_path_);
  bool resumable = false;
  try {
    File f = File::open(partial, File::Mode::read);
    resumable = any_done(f);
  } catch (const std::exception&) {
    resumable = false;  // unreadable: nothing in it can be resumed
  }
  if (!resumable && std::remove(partial.c_str()) == 0) {
    log::info("removed {}: nothing in it could be resumed", partial);
  }
}

void CheckpointWriter::expect_values(const std::string& path, std::vector<double> values) {
  expect_.push_back({Expectation::equal_values, path, std::move(values), 0});
}
void CheckpointWriter::expect_done(const std::string& path, std::int64_t n) {
  expect_.push_back({Expectation::all_done, path, {}, n});
}
void CheckpointWriter::expect_rows(const std::string& path, std::int64_t rows) {
  expect_.push_back({Expectation::row_count, path, {}, rows});
}

std::string CheckpointWriter::verify(hid_t file) const {
  for (const Expectation& e : expect_) {
    if (!exists(file, e.path)) return "dataset " + e.path + " is missing";
    H5Id ds = open_dataset(file, e.path);
    const std::vector<hsize_t> d = dims(ds);
    switch (e.kind) {
      case Expectation::equal_values: {
        const std::vector<double> got = read_all<double>(ds);
        if (got != e.values) {
          std::size_t k = 0;
          while (k < got.size() && k < e.values.size() && got[k] == e.values[k]) ++k;
          return "dataset " + e.path + " differs from what was written (" + std::to_string(got.size()) +
                 " values, expected " + std::to_string(e.values.size()) + "; first difference at index " +
                 std::to_string(k) + ")";
        }
        break;
      }
      case Expectation::all_done: {
        const std::vector<std::uint8_t> m = read_all<std::uint8_t>(ds);
        std::int64_t set = 0;
        for (std::uint8_t v : m) set += v != 0;
        if (static_cast<std::int64_t>(m.size()) != e.n || set != e.n) {
          return "done mask " + e.path + " has " + std::to_string(set) + " of " + std::to_string(m.size()) +
                 " items set, expected all " + std::to_string(e.n);
        }
        break;
      }
      case Expectation::row_count:
        if (d.empty() || static_cast<std::int64_t>(d[0]) != e.n) {
          return "dataset " + e.path + " has " + (d.empty() ? std::string("no rows") : std::to_string(d[0]) + " rows") +
                 ", expected " + std::to_string(e.n);
        }
        break;
    }
  }
  return "";
}

void CheckpointWriter::commit() {
  file_.flush();
  file_.close();
  int rank = 0;
  if (comm_ != MPI_COMM_NULL) {
    MPI_Barrier(comm_);
    MPI_Comm_rank(comm_, &rank);
  }
  const std::string partial = partial_path(final_path_);
  std::string problem;
  if (rank == 0) {
    // Verify what is on disk, then flag it complete: a file named NAME is always what was written.
    try {
      File f = File::open(partial, File::Mode::readwrite);
      problem = verify(f);
      if (problem.empty()) problem = virtual_source_problem(f, partial);
      if (problem.empty()) {
        set_attr(f, "complete", std::int64_t{1});
        f.flush();
      }
      f.close();
      if (problem.empty()) atomic_rename(partial, final_path_);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!problem.empty()) std::remove(partial.c_str());
  }
  if (comm_ != MPI_COMM_NULL) {
    int len = static_cast<int>(problem.size());
    MPI_Bcast(&len, 1, MPI_INT, 0, comm_);
    problem.resize(static_cast<std::size_t>(len));
    if (len > 0) MPI_Bcast(problem.data(), len, MPI_CHAR, 0, comm_);
  }
  committed_ = true;
  lock_.reset();
  if (!problem.empty()) {
    throw RuntimeFailure(final_path_ + ": not flagged complete, the verification of " + partial +
                         " failed: " + problem + " (the partial file was removed; rerun to remake it)");
  }
}

DoneMask::DoneMask(hid_t file, const std::string& path, std::int64_t n) {
  if (exists(file, path)) {
    dset_ = open_dataset(file, path);
    mask_ = read_all<std::uint8_t>(dset_);
    if (static_cast<std::int64_t>(mask_.size()) != n) {
      throw RuntimeFailure("done mask " + path + " has " + std::to_string(mask_.size()) + " items, expected " +
                           std::to_string(n));
    }
  } else {
    dset_ = create_dataset(file, path, H5T_NATIVE_UINT8, {static_cast<hsize_t>(n)});
    mask_.assign(static_cast<std::size_t>(n), 0);
  }
}

std::int64_t DoneMask::count_done() const { return count_done({0, size()}); }

std::int64_t DoneMask::count_done(const mpi::Range& r) const {
  std::int64_t c = 0;
  for (std::int64_t i = r.begin; i < r.end; ++i) c += mask_[static_cast<std::size_t>(i)] != 0;
  return c;
}

std::int64_t DoneMask::first_not_done(const mpi::Range& r) const {
  for (std::int64_t i = r.begin; i < r.end; ++i) {
    if (!mask_[static_cast<std::size_t>(i)]) return i;
  }
  return r.end;
}

void DoneMask::mark(const mpi::Range& r, bool collective) {
  for (std::int64_t i = r.begin; i < r.end; ++i) mask_[static_cast<std::size_t>(i)] = 1;
  const std::uint8_t* p = r.size() > 0 ? &mask_[static_cast<std::size_t>(r.begin)] : mask_.data();
  write_rows<std::uint8_t>(dset_, r.size() > 0 ? r.begin : 0, r.size(), p, collective);
}

void atomic_rename(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    throw RuntimeFailure("cannot rename " + from + " to " + to + ": " + std::strerror(errno));
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw InputError(path + ": cannot write (" + std::strerror(errno) + "; is the directory writable?)");
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      std::remove(tmp.c_str());
      throw RuntimeFailure(path + ": write failed: " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);
  if (::close(fd) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw RuntimeFailure(path + ": write failed: " + std::strerror(err));
  }
  try {
    atomic_rename(tmp, path);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace lnpsaxs::io
