#include "lnpsaxs/checkpoint.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "lnpsaxs/errors.h"
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

static bool read_info(const std::string& path, OutputInfo& info) {
  try {
    File f = File::open(path, File::Mode::read);
    info.stage = has_attr(f, "stage") ? attr_string(f, "stage") : "";
    info.stage_sha256 = has_attr(f, "stage_sha256") ? attr_string(f, "stage_sha256") : "";
    info.created_utc = has_attr(f, "created_utc") ? attr_string(f, "created_utc") : "";
    return has_attr(f, "complete") && attr_int(f, "complete") == 1;
  } catch (const RuntimeFailure&) {
    return false;
  }
}

OutputInfo inspect_output(const std::string& final_path) {
  namespace fs = std::filesystem;
  OutputInfo info;
  std::error_code ec;
  if (fs::exists(final_path, ec)) {
    OutputInfo c;
    if (read_info(final_path, c)) {
      c.state = OutputState::complete;
      c.path = final_path;
      return c;
    }
  }
  const std::string partial = partial_path(final_path);
  if (fs::exists(partial, ec)) {
    OutputInfo p;
    read_info(partial, p);
    if (!p.stage_sha256.empty()) {
      p.state = OutputState::partial;
      p.path = partial;
      return p;
    }
  }
  return info;
}

CheckpointWriter::CheckpointWriter(const std::string& final_path, const Provenance& p, MPI_Comm comm,
                                   bool allow_resume)
    : final_path_(final_path), comm_(comm) {
  const std::string partial = partial_path(final_path);
  if (allow_resume) {
    const OutputInfo info = inspect_output(final_path);
    if (info.state == OutputState::partial && info.stage_sha256 == p.stage_sha256 && info.stage == p.stage) {
      try {
        file_ = File::open(partial, File::Mode::readwrite, comm);
        resumed_ = true;
      } catch (const RuntimeFailure&) {
        resumed_ = false;  // unreadable partial: start over below
      }
    }
  }
  if (!resumed_) {
    file_ = File::create(partial, comm);
    write_provenance(file_, p);
    file_.flush();
  }
}

void CheckpointWriter::commit() {
  set_attr(file_, "complete", std::int64_t{1});
  file_.flush();
  file_.close();
  int rank = 0;
  if (comm_ != MPI_COMM_NULL) {
    MPI_Barrier(comm_);
    MPI_Comm_rank(comm_, &rank);
  }
  if (rank == 0) atomic_rename(partial_path(final_path_), final_path_);
  if (comm_ != MPI_COMM_NULL) MPI_Barrier(comm_);
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
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) throw InputError(path + ": cannot write (is the directory writable?)");
    out << text;
    out.flush();
    if (!out) throw RuntimeFailure(tmp + ": write failed (disk full?)");
  }
  atomic_rename(tmp, path);
}

}  // namespace lnpsaxs::io
