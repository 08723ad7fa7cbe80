#pragma once
// A small RAII layer over (parallel) HDF5 (docs/architecture.md §5). Every id is owned by an
// H5Id; every library call is checked and a failure throws RuntimeFailure naming the call, the
// object and HDF5's own message. Files opened with a communicator use the MPI-IO driver and
// row writes can be collective; without one (MPI_COMM_NULL) they are plain serial files.
#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs::io {

/// Owns one HDF5 identifier and closes it with the matching H5?close. Move-only.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~H5Id() { reset(); }
  H5Id(H5Id&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& o) noexcept;
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: ids are passed straight to the C API
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

/// Throws RuntimeFailure("<what>: <HDF5 message>") if `status` is negative; returns it otherwise.
hid_t check(hid_t status, const std::string& what);

/// Native HDF5 memory type of T (double, float, int32/64, uint8/32/64).
template <class T> hid_t native_type();

/// An open HDF5 file. Parallel (MPI-IO) when constructed with a communicator.
class File {
 public:
  enum class Mode { read, readwrite };
  /// Creates (truncating) `path`. Collective over `comm` when comm != MPI_COMM_NULL.
  static File create(const std::string& path, MPI_Comm comm = MPI_COMM_NULL);
  /// Opens an existing file. Throws InputError naming what is wrong when `path` is a directory,
  /// empty, not an HDF5 file or truncated/damaged (file_problem), RuntimeFailure for any other
  /// failure. Opened for reading, a file holding virtual datasets is checked first
  /// (virtual_source_problem): a missing, incomplete or foreign source file is an InputError
  /// naming it, so no reader ever sees HDF5's fill values in place of a missing shard.
  static File open(const std::string& path, Mode mode, MPI_Comm comm = MPI_COMM_NULL);
  hid_t id() const { return id_.get(); }
  operator hid_t() const { return id_.get(); }  // NOLINT
  const std::string& path() const { return path_; }
  bool parallel() const { return comm_ != MPI_COMM_NULL; }
  MPI_Comm comm() const { return comm_; }
  /// H5Fflush (collective for parallel files): data written so far reaches the disk.
  void flush();
  void close() { id_.reset(); }

 private:
  H5Id id_;
  std::string path_;
  MPI_Comm comm_ = MPI_COMM_NULL;
};

/// What is wrong with `path` as an HDF5 file, without opening it with HDF5: "is a directory, not
/// an HDF5 file", "is empty (0 bytes)", "is not an HDF5 file" (no HDF5 signature), "is missing";
/// "" when it exists and starts like an HDF5 file.
std::string file_problem(const std::string& path);

/// Checks every virtual dataset of the open file `file` (at `path`): each source file must exist,
/// be an HDF5 file flagged complete (attribute complete = 1), hold the mapped source dataset with
/// the mapped shape, and carry the same identity attributes (stage_sha256 and, where the joined
/// file has one, target_sha256) as the joined file. Returns "" when every source is good, else one
/// line naming the first bad source ("its source /run/curves/shard-0000-of-0002.h5 (for
/// /train/log10_intensity) is missing"). Never throws for a bad source.
std::string virtual_source_problem(hid_t file, const std::string& path);

/// True if `path` ("/train/theta") names an existing link below `loc`.
bool exists(hid_t loc, const std::string& path);
/// Creates a dataset of `dims` (intermediate groups too), storage allocated at creation so later
/// row writes change no metadata (a killed writer leaves a readable file). Floating-point datasets
/// are filled with NaN, so a row that was never written can never pass as data.
H5Id create_dataset(hid_t loc, const std::string& path, hid_t type, const std::vector<hsize_t>& dims);
H5Id open_dataset(hid_t loc, const std::string& path);
std::vector<hsize_t> dims(hid_t dataset);
/// Creates group `path` (and parents) if missing; returns it open.
H5Id ensure_group(hid_t loc, const std::string& path);

/// Writes rows [row0, row0 + nrows) of a 1-D or 2-D dataset from `data` (row-major, nrows × cols).
/// `collective`: every rank of the file's communicator must call (nrows may be 0).
template <class T>
void write_rows(hid_t dataset, std::int64_t row0, std::int64_t nrows, const T* data, bool collective);
/// Reads rows [row0, row0 + nrows) (all columns).
template <class T>
std::vector<T> read_rows(hid_t dataset, std::int64_t row0, std::int64_t nrows, bool collective = false);
/// Reads a whole dataset (any rank).
template <class T>
std::vector<T> read_all(hid_t dataset);
/// Creates `path` with `dims` and writes `data` (whole). For a parallel file pass its communicator:
/// every rank calls (collective) and rank 0's data is written.
template <class T>
void write_dataset(hid_t loc, const std::string& path, const std::vector<hsize_t>& dims, const T* data,
                   MPI_Comm comm = MPI_COMM_NULL);

// --- attributes (variable-length UTF-8 strings, as h5py writes them) -------------------------
bool has_attr(hid_t obj, const std::string& name);
void set_attr(hid_t obj, const std::string& name, const std::string& value);
void set_attr(hid_t obj, const std::string& name, const char* value);
void set_attr(hid_t obj, const std::string& name, std::int64_t value);
void set_attr(hid_t obj, const std::string& name, double value);
void set_attr(hid_t obj, const std::string& name, const std::vector<double>& value);
void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& value);
std::string attr_string(hid_t obj, const std::string& name);
std::int64_t attr_int(hid_t obj, const std::string& name);
double attr_double(hid_t obj, const std::string& name);
std::vector<double> attr_doubles(hid_t obj, const std::string& name);
std::vector<std::string> attr_strings(hid_t obj, const std::string& name);

/// One source of a virtual dataset: rows [0, rows) of `dataset` in `file` map to rows
/// [dest_row, dest_row + rows) of the virtual dataset. `file` relative to the VDS file's folder.
struct VdsSource {
  std::string file;
  std::string dataset;
  std::int64_t dest_row = 0;
  std::int64_t rows = 0;
};
/// Creates a 1-D ([rows]) or 2-D ([rows, cols], cols > 0) virtual dataset joining `sources`
/// without copying (HDF5 ≥ 1.10). Serial files only. Its fill value (what HDF5 returns for rows
/// whose source is unreachable) is NaN for floating-point types and -1 for integer types, never a
/// value that passes as data; readers check the sources first (File::open).
void create_virtual_dataset(hid_t loc, const std::string& path, hid_t type, std::int64_t rows, std::int64_t cols,
                            const std::vector<VdsSource>& sources);

}  // namespace lnpsaxs::io
