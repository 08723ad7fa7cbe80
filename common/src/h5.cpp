#include "lnpsaxs/h5.h"
#include "lnpsaxs/h5_failure.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::io {
namespace {

// Collects the innermost HDF5 error description for our exception messages.
herr_t walk_cb(unsigned n, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (n == 0 && err && err->desc) *out = err->desc;
  return 0;
}

std::string hdf5_message() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 call failed" : msg;
}

// Every description on the HDF5 error stack, innermost last, joined by "; " (for classifying).
herr_t walk_all_cb(unsigned, const H5E_error2_t* err, void* client) {
  auto* out = static_cast<std::string*>(client);
  if (err && err->desc) *out += (out->empty() ? "" : "; ") + std::string(err->desc);
  return 0;
}
std::string hdf5_stack() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_all_cb, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 call failed" : msg;
}

struct SilenceHdf5 {
  // We report errors ourselves, once, with context; HDF5's own stack dump is noise for users.
  SilenceHdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }
};
const SilenceHdf5 silence_hdf5;

H5Id make_space(const std::vector<hsize_t>& d) {
  return H5Id(check(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "H5Screate_simple"),
              H5Sclose);
}

H5Id xfer_plist(bool collective) {
  H5Id p(check(H5Pcreate(H5P_DATASET_XFER), "H5Pcreate(xfer)"), H5Pclose);
#ifdef H5_HAVE_PARALLEL
  if (collective) check(H5Pset_dxpl_mpio(p, H5FD_MPIO_COLLECTIVE), "H5Pset_dxpl_mpio");
#else
  (void)collective;
#endif
  return p;
}

H5Id vlen_string_type() {
  H5Id t(check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  check(H5Tset_size(t, H5T_VARIABLE), "H5Tset_size");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "H5Tset_cset");
  return t;
}

H5Id open_attr_for_write(hid_t obj, const std::string& name, hid_t type, hid_t space) {
  if (H5Aexists(obj, name.c_str()) > 0) check(H5Adelete(obj, name.c_str()), "H5Adelete " + name);
  return H5Id(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), "H5Acreate " + name),
              H5Aclose);
}

H5Id open_attr(hid_t obj, const std::string& name) {
  if (H5Aexists(obj, name.c_str()) <= 0) throw RuntimeFailure("HDF5 attribute '" + name + "' is missing");
  return H5Id(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "H5Aopen " + name), H5Aclose);
}

H5Id row_selection(hid_t dataset, std::int64_t row0, std::int64_t nrows, std::vector<hsize_t>& count) {
  H5Id fs(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  std::vector<hsize_t> d = dims(dataset);
  if (d.empty()) throw RuntimeFailure("row access on a scalar dataset");
  if (row0 < 0 || nrows < 0 || static_cast<hsize_t>(row0 + nrows) > d[0]) {
    throw RuntimeFailure("row range [" + std::to_string(row0) + ", " + std::to_string(row0 + nrows) +
                         ") outside a dataset of " + std::to_string(d[0]) + " rows");
  }
  std::vector<hsize_t> start(d.size(), 0);
  start[0] = static_cast<hsize_t>(row0);
  count = d;
  count[0] = static_cast<hsize_t>(nrows);
  if (nrows == 0) {
    check(H5Sselect_none(fs), "H5Sselect_none");
  } else {
    check(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "H5Sselect_hyperslab");
  }
  return fs;
}

/// Fill value that never passes as data: NaN for floating-point types, -1 for signed integers
/// (counts, indices and steps are never negative); unsigned types (done masks) keep 0.
void set_impossible_fill(hid_t dcpl, hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  if (cls == H5T_FLOAT) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    check(H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan), "H5Pset_fill_value");
  } else if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2) {
    const std::int64_t minus_one = -1;
    check(H5Pset_fill_value(dcpl, H5T_NATIVE_INT64, &minus_one), "H5Pset_fill_value");
  }
}

std::size_t product(const std::vector<hsize_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::size_t{1}, [](std::size_t a, hsize_t b) { return a * b; });
}

}  // namespace

H5Id& H5Id::operator=(H5Id&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

namespace {
int g_failed_file_closes = 0;
}  // namespace

void H5Id::reset() {
  if (id_ >= 0 && closer_ && closer_(id_) < 0) {
    // HDF5 1.10 keeps the id of a file whose close failed (its last flush could not be written),
    // pointing at a half-destroyed file: it must never be closed again (files_left_open()).
    if (closer_ == &H5Fclose) ++g_failed_file_closes;
    H5Eclear2(H5E_DEFAULT);
  }
  id_ = H5I_INVALID_HID;
}

bool files_left_open() { return g_failed_file_closes > 0; }

hid_t check(hid_t status, const std::string& what) {
  if (status < 0) throw RuntimeFailure(what + ": " + hdf5_message());
  return status;
}

std::string write_failure_cause(const std::string& path, int saved_errno) {
  if (saved_errno == ENOSPC || saved_errno == EFBIG || saved_errno == EDQUOT || saved_errno == EROFS ||
      saved_errno == EIO) {
    return std::strerror(saved_errno);
  }
  // MPI-IO does not always leave errno set: look at the limits the write can have hit.
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    return std::string(std::strerror(EFBIG)) + " (the file size limit, ulimit -f, is " + std::to_string(rl.rlim_cur) +
           " bytes)";
  }
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) == 0) {
    const unsigned long long avail = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
    if (avail < (1ull << 20)) return std::strerror(ENOSPC);
    if (vfs.f_favail == 0) return std::string(std::strerror(ENOSPC)) + " (no free inodes)";
  }
  return "";
}

/// check() for a call that writes to the file at `path`: the message names the file and the OS
/// cause (no space left on device, file too large, disk quota exceeded) before HDF5's own words.
hid_t check_write(hid_t status, const std::string& what, const std::string& path) {
  if (status >= 0) return status;
  const int saved = errno;
  const std::string msg = hdf5_message();
  const std::string cause = write_failure_cause(path, saved);
  throw RuntimeFailure("cannot write " + path + ": " + (cause.empty() ? msg : cause) + " (" + what +
                       (cause.empty() ? "" : ": " + msg) + ")");
}

namespace {
std::string file_name_of(hid_t obj) {
  const ssize_t n = H5Fget_name(obj, nullptr, 0);
  if (n <= 0) return "the HDF5 file";
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  H5Fget_name(obj, s.data(), s.size());
  s.resize(static_cast<std::size_t>(n));
  return s;
}
}  // namespace

template <> hid_t native_type<double>() { return H5T_NATIVE_DOUBLE; }
template <> hid_t native_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t native_type<std::int32_t>() { return H5T_NATIVE_INT32; }
template <> hid_t native_type<std::int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t native_type<std::uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t native_type<std::uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t native_type<std::uint64_t>() { return H5T_NATIVE_UINT64; }

// --- File ----------------------------------------------------------------------------------------
static H5Id file_access(MPI_Comm comm) {
  H5Id fapl(check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate(fapl)"), H5Pclose);
  if (comm != MPI_COMM_NULL) {
    check(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
    check(H5Pset_all_coll_metadata_ops(fapl, true), "H5Pset_all_coll_metadata_ops");
    check(H5Pset_coll_metadata_write(fapl, true), "H5Pset_coll_metadata_write");
  }
  // Closing a file closes every object still open in it: a checkpoint is really closed (and
  // its collective close really happens) when commit() closes it, whatever ids are still alive.
  check(H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG), "H5Pset_fclose_degree");
  // Newest format: compact attributes, VDS support.
  check(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  return fapl;
}

File File::create(const std::string& path, MPI_Comm comm) {
  H5Id fapl = file_access(comm);
  File f;
  f.id_ = H5Id(check_write(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "H5Fcreate", path), H5Fclose);
  f.path_ = path;
  f.comm_ = comm;
  return f;
}

File File::open(const std::string& path, Mode mode, MPI_Comm comm) {
  if (const std::string p = file_problem(path); !p.empty()) throw InputError(path + " " + p);
  H5Id fapl = file_access(comm);
  File f;
  const hid_t id = H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl);
  if (id < 0) {
    const std::string msg = hdf5_stack();
    // A file that starts like HDF5 but whose superblock or end of file does not hold up.
    for (const char* damaged : {"truncated", "signature", "superblock", "bad object header", "bad value"}) {
      if (msg.find(damaged) != std::string::npos) {
        throw InputError(path + " is truncated or damaged (HDF5: " + msg.substr(0, 160) + ")");
      }
    }
    throw RuntimeFailure("cannot open HDF5 file " + path + ": " + msg);
  }
  f.id_ = H5Id(id, H5Fclose);
  f.path_ = path;
  f.comm_ = comm;
  if (mode == Mode::read) {
    if (const std::string p = virtual_source_problem(f.id_, path); !p.empty()) throw InputError(path + " " + p);
  }
  return f;
}

void File::flush() { check_write(H5Fflush(id_, H5F_SCOPE_GLOBAL), "H5Fflush", path_); }

// --- datasets ------------------------------------------------------------------------------------
bool exists(hid_t loc, const std::string& path) {
  // Check each component so a missing parent group is "no", not an error.
  std::string cur;
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    if (cur != "/" && !cur.empty()) {
      htri_t e = H5Lexists(loc, cur.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (next == std::string::npos) break;
    pos = next;
  }
  return true;
}

H5Id ensure_group(hid_t loc, const std::string& path) {
  if (exists(loc, path)) return H5Id(check(H5Gopen2(loc, path.c_str(), H5P_DEFAULT), "H5Gopen " + path), H5Gclose);
  H5Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(lcpl)"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  return H5Id(check(H5Gcreate2(loc, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate " + path), H5Gclose);
}

H5Id create_dataset(hid_t loc, const std::string& path, hid_t type, const std::vector<hsize_t>& d) {
  H5Id space = make_space(d);
  H5Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(lcpl)"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  H5Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate(dcpl)"), H5Pclose);
  check(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time");
  check(H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC), "H5Pset_fill_time");
  set_impossible_fill(dcpl, type);
  // Early allocation writes the fill values: this is where a full disk first shows.
  const hid_t id = H5Dcreate2(loc, path.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT);
  if (id < 0) check_write(id, "H5Dcreate " + path, file_name_of(loc));
  return H5Id(id, H5Dclose);
}

H5Id open_dataset(hid_t loc, const std::string& path) {
  if (!exists(loc, path)) throw RuntimeFailure("HDF5 dataset '" + path + "' is missing");
  return H5Id(check(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), "H5Dopen " + path), H5Dclose);
}

std::vector<hsize_t> dims(hid_t dataset) {
  H5Id fs(check(H5Dget_space(dataset), "H5Dget_space"), H5Sclose);
  int nd = static_cast<int>(check(H5Sget_simple_extent_ndims(fs), "H5Sget_simple_extent_ndims"));
  std::vector<hsize_t> d(static_cast<std::size_t>(nd));
  check(H5Sget_simple_extent_dims(fs, d.data(), nullptr), "H5Sget_simple_extent_dims");
  return d;
}

template <class T>
void write_rows(hid_t dataset, std::int64_t row0, std::int64_t nrows, const T* data, bool collective) {
  std::vector<hsize_t> count;
  H5Id fs = row_selection(dataset, row0, nrows, count);
  H5Id ms = make_space(count);
  if (nrows == 0) check(H5Sselect_none(ms), "H5Sselect_none");
  H5Id xfer = xfer_plist(collective);
  const herr_t rc = H5Dwrite(dataset, native_type<T>(), ms, fs, xfer, data);
  if (rc < 0) check_write(rc, "H5Dwrite", file_name_of(dataset));
}

template <class T>
std::vector<T> read_rows(hid_t dataset, std::int64_t row0, std::int64_t nrows, bool collective) {
  std::vector<hsize_t> count;
  H5Id fs = row_selection(dataset, row0, nrows, count);
  std::vector<T> out(product(count));
  H5Id ms = make_space(count);
  if (nrows == 0) check(H5Sselect_none(ms), "H5Sselect_none");
  H5Id xfer = xfer_plist(collective);
  check(H5Dread(dataset, native_type<T>(), ms, fs, xfer, out.data()), "H5Dread");
  return out;
}

template <class T>
std::vector<T> read_all(hid_t dataset) {
  std::vector<hsize_t> d = dims(dataset);
  std::vector<T> out(product(d));
  if (!out.empty()) check(H5Dread(dataset, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

template <class T>
void write_dataset(hid_t loc, const std::string& path, const std::vector<hsize_t>& d, const T* data, MPI_Comm comm) {
  H5Id ds = create_dataset(loc, path, native_type<T>(), d);
  // In a parallel file all ranks take part; only rank 0 selects the data.
  int rank = 0;
  if (comm != MPI_COMM_NULL) MPI_Comm_rank(comm, &rank);
  if (d.empty()) {
    if (rank == 0) check(H5Dwrite(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "H5Dwrite " + path);
    return;
  }
  const std::int64_t rows = rank == 0 ? static_cast<std::int64_t>(d[0]) : 0;
  write_rows<T>(ds, 0, rows, data, comm != MPI_COMM_NULL);
}

#define LNPSAXS_H5_INSTANTIATE(T)                                                                    \
  template void write_rows<T>(hid_t, std::int64_t, std::int64_t, const T*, bool);                   \
  template std::vector<T> read_rows<T>(hid_t, std::int64_t, std::int64_t, bool);                    \
  template std::vector<T> read_all<T>(hid_t);                                                       \
  template void write_dataset<T>(hid_t, const std::string&, const std::vector<hsize_t>&, const T*, MPI_Comm);
LNPSAXS_H5_INSTANTIATE(double)
LNPSAXS_H5_INSTANTIATE(float)
LNPSAXS_H5_INSTANTIATE(std::int32_t)
LNPSAXS_H5_INSTANTIATE(std::int64_t)
LNPSAXS_H5_INSTANTIATE(std::uint8_t)
LNPSAXS_H5_INSTANTIATE(std::uint32_t)
LNPSAXS_H5_INSTANTIATE(std::uint64_t)
#undef LNPSAXS_H5_INSTANTIATE

// --- attributes ----------------------------------------------------------------------------------
bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  H5Id t = vlen_string_type();
  H5Id s(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  H5Id a = open_attr_for_write(obj, name, t, s);
  const char* p = value.c_str();
  check(H5Awrite(a, t, &p), "H5Awrite " + name);
}
void set_attr(hid_t obj, const std::string& name, const char* value) { set_attr(obj, name, std::string(value)); }

void set_attr(hid_t obj, const std::string& name, std::int64_t value) {
  H5Id s(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  H5Id a = open_attr_for_write(obj, name, H5T_NATIVE_INT64, s);
  check(H5Awrite(a, H5T_NATIVE_INT64, &value), "H5Awrite " + name);
}

void set_attr(hid_t obj, const std::string& name, double value) {
  H5Id s(check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
  H5Id a = open_attr_for_write(obj, name, H5T_NATIVE_DOUBLE, s);
  check(H5Awrite(a, H5T_NATIVE_DOUBLE, &value), "H5Awrite " + name);
}

void set_attr(hid_t obj, const std::string& name, const std::vector<double>& value) {
  H5Id s = make_space({value.size()});
  H5Id a = open_attr_for_write(obj, name, H5T_NATIVE_DOUBLE, s);
  check(H5Awrite(a, H5T_NATIVE_DOUBLE, value.data()), "H5Awrite " + name);
}

void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& value) {
  H5Id t = vlen_string_type();
  H5Id s = make_space({value.size()});
  H5Id a = open_attr_for_write(obj, name, t, s);
  std::vector<const char*> p;
  for (const auto& v : value) p.push_back(v.c_str());
  check(H5Awrite(a, t, p.data()), "H5Awrite " + name);
}

std::string attr_string(hid_t obj, const std::string& name) {
  H5Id a = open_attr(obj, name);
  H5Id ft(check(H5Aget_type(a), "H5Aget_type"), H5Tclose);
  if (H5Tget_class(ft) != H5T_STRING) throw RuntimeFailure("attribute '" + name + "' is not a string");
  if (H5Tis_variable_str(ft) > 0) {
    H5Id t = vlen_string_type();
    char* p = nullptr;
    check(H5Aread(a, t, &p), "H5Aread " + name);
    std::string out = p ? p : "";
    H5free_memory(p);
    return out;
  }
  const std::size_t n = H5Tget_size(ft);
  std::string out(n, '\0');
  check(H5Aread(a, ft, out.data()), "H5Aread " + name);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::int64_t attr_int(hid_t obj, const std::string& name) {
  H5Id a = open_attr(obj, name);
  std::int64_t v = 0;
  check(H5Aread(a, H5T_NATIVE_INT64, &v), "H5Aread " + name);
  return v;
}

double attr_double(hid_t obj, const std::string& name) {
  H5Id a = open_attr(obj, name);
  double v = 0;
  check(H5Aread(a, H5T_NATIVE_DOUBLE, &v), "H5Aread " + name);
  return v;
}

std::vector<double> attr_doubles(hid_t obj, const std::string& name) {
  H5Id a = open_attr(obj, name);
  H5Id s(check(H5Aget_space(a), "H5Aget_space"), H5Sclose);
  std::vector<double> v(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)));
  check(H5Aread(a, H5T_NATIVE_DOUBLE, v.data()), "H5Aread " + name);
  return v;
}

std::vector<std::string> attr_strings(hid_t obj, const std::string& name) {
  H5Id a = open_attr(obj, name);
  H5Id s(check(H5Aget_space(a), "H5Aget_space"), H5Sclose);
  std::vector<char*> p(static_cast<std::size_t>(H5Sget_simple_extent_npoints(s)), nullptr);
  H5Id t = vlen_string_type();
  check(H5Aread(a, t, p.data()), "H5Aread " + name);
  std::vector<std::string> out;
  for (char* c : p) {
    out.emplace_back(c ? c : "");
    H5free_memory(c);
  }
  return out;
}

// --- virtual datasets ----------------------------------------------------------------------------
void create_virtual_dataset(hid_t loc, const std::string& path, hid_t type, std::int64_t rows, std::int64_t cols,
                            const std::vector<VdsSource>& sources) {
  std::vector<hsize_t> d{static_cast<hsize_t>(rows)};
  if (cols > 0) d.push_back(static_cast<hsize_t>(cols));
  H5Id vspace = make_space(d);
  H5Id dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate(dcpl)"), H5Pclose);
  set_impossible_fill(dcpl, type);
  for (const auto& src : sources) {
    std::vector<hsize_t> sd{static_cast<hsize_t>(src.rows)};
    if (cols > 0) sd.push_back(static_cast<hsize_t>(cols));
    H5Id sspace = make_space(sd);
    std::vector<hsize_t> start(d.size(), 0), count = sd;
    start[0] = static_cast<hsize_t>(src.dest_row);
    check(H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "H5Sselect_hyperslab(vds)");
    check(H5Pset_virtual(dcpl, vspace, src.file.c_str(), src.dataset.c_str(), sspace),
          "H5Pset_virtual " + src.file + ":" + src.dataset);
  }
  H5Id lcpl(check(H5Pcreate(H5P_LINK_CREATE), "H5Pcreate(lcpl)"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl, 1), "H5Pset_create_intermediate_group");
  H5Id all = make_space(d);
  H5Id ds(check(H5Dcreate2(loc, path.c_str(), type, all, lcpl, dcpl, H5P_DEFAULT), "H5Dcreate(vds) " + path),
          H5Dclose);
}

// --- integrity checks ----------------------------------------------------------------------------
std::string file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "is missing";
  if (S_ISDIR(st.st_mode)) return "is a directory, not an HDF5 file";
  if (st.st_size == 0) return "is empty (0 bytes)";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot be read (" + std::string(std::strerror(errno)) + ")";
  // The signature sits at 0 or, after a user block, at 512, 1024, 2048, ...
  static const char sig[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  for (std::int64_t off = 0; off == 0 || off < static_cast<std::int64_t>(st.st_size); off = off ? off * 2 : 512) {
    char buf[8] = {};
    in.clear();
    in.seekg(off);
    in.read(buf, 8);
    if (in.gcount() == 8 && std::memcmp(buf, sig, 8) == 0) return "";
    if (in.gcount() < 8) break;
  }
  return "is not an HDF5 file";
}

namespace {

std::string dirname_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string root_attr(hid_t file, const char* name) {
  try {
    return has_attr(file, name) ? attr_string(file, name) : "";
  } catch (const std::exception&) {
    return "";
  }
}

/// State of one virtual-dataset source check: the joined file's identity and one verdict per
/// source file (checked once however many datasets map it).
struct VdsVisit {
  std::string dir;
  std::string stage_sha, target_sha;
  std::map<std::string, std::string> file_verdict;
  std::string problem;
};

std::string source_file_problem(const std::string& file, const VdsVisit& v) {
  if (const std::string p = file_problem(file); !p.empty()) return p;
  try {
    File f = File::open(file, File::Mode::read);
    // lnpsaxs outputs carry `complete`; a plain HDF5 file joined by a plain file has none to check.
    if (has_attr(f, "complete") || !v.stage_sha.empty()) {
      std::int64_t complete = 0;
      try {
        complete = has_attr(f, "complete") ? attr_int(f, "complete") : 0;
      } catch (const std::exception&) {
      }
      if (complete != 1) return "is not flagged complete";
    }
    if (!v.stage_sha.empty() && root_attr(f, "stage_sha256") != v.stage_sha) {
      return "was made under another config than the join (stage_sha256 differs)";
    }
    if (!v.target_sha.empty() && root_attr(f, "target_sha256") != v.target_sha) {
      return "was made for another target definition or data than the join (target_sha256 differs)";
    }
  } catch (const std::exception& e) {
    return std::string("cannot be opened (") + e.what() + ")";
  }
  return "";
}

std::string vds_string(ssize_t (*get)(hid_t, size_t, char*, size_t), hid_t dcpl, size_t i) {
  const ssize_t n = get(dcpl, i, nullptr, 0);
  if (n < 0) return "";
  std::string s(static_cast<std::size_t>(n) + 1, '\0');
  get(dcpl, i, s.data(), s.size());
  s.resize(static_cast<std::size_t>(n));
  return s;
}

herr_t visit_vds(hid_t obj, const char* name, const H5O_info_t* info, void* data) {
  auto* v = static_cast<VdsVisit*>(data);
  if (info->type != H5O_TYPE_DATASET) return 0;
  const hid_t ds_id = H5Dopen2(obj, name, H5P_DEFAULT);
  if (ds_id < 0) {
    v->problem = "has a dataset /" + std::string(name) + " that cannot be opened (" + hdf5_message() + ")";
    return 1;
  }
  H5Id ds(ds_id, H5Dclose);
  H5Id dcpl(check(H5Dget_create_plist(ds), "H5Dget_create_plist"), H5Pclose);
  if (H5Pget_layout(dcpl) != H5D_VIRTUAL) return 0;
  size_t count = 0;
  check(H5Pget_virtual_count(dcpl, &count), "H5Pget_virtual_count");
  for (size_t i = 0; i < count; ++i) {
    const std::string file = vds_string(H5Pget_virtual_filename, dcpl, i);
    const std::string dset = vds_string(H5Pget_virtual_dsetname, dcpl, i);
    if (file == ".") continue;  // a mapping inside the same file
    const std::string resolved = !file.empty() && file[0] == '/' ? file : v->dir + "/" + file;
    auto it = v->file_verdict.find(resolved);
    if (it == v->file_verdict.end()) it = v->file_verdict.emplace(resolved, source_file_problem(resolved, *v)).first;
    const std::string where = " (virtual dataset /" + std::string(name) + ")";
    if (!it->second.empty()) {
      v->problem = "has a bad source: " + resolved + " " + it->second + where;
      return 1;
    }
    // The source dataset must exist with exactly the shape the join mapped (the bounds of the
    // mapping's block in the virtual dataset).
    H5Id vspace(check(H5Pget_virtual_vspace(dcpl, i), "H5Pget_virtual_vspace"), H5Sclose);
    const int nd = H5Sget_simple_extent_ndims(vspace);
    std::vector<hsize_t> lo(static_cast<std::size_t>(std::max(nd, 0))), hi(lo.size()), want(lo.size());
    if (nd > 0) check(H5Sget_select_bounds(vspace, lo.data(), hi.data()), "H5Sget_select_bounds");
    for (std::size_t k = 0; k < want.size(); ++k) want[k] = hi[k] - lo[k] + 1;
    try {
      File f = File::open(resolved, File::Mode::read);
      if (!exists(f, dset)) {
        v->problem = "has a bad source: " + resolved + " holds no dataset " + dset + where;
        return 1;
      }
      H5Id sd = open_dataset(f, dset);
      const std::vector<hsize_t> got = dims(sd);
      if (got != want) {
        auto text = [](const std::vector<hsize_t>& d) {
          std::string t;
          for (hsize_t x : d) t += (t.empty() ? "" : ", ") + std::to_string(x);
          return "[" + t + "]";
        };
        v->problem = "has a bad source: " + resolved + " holds " + dset + " of shape " + text(got) +
                     " but the join maps " + text(want) + where;
        return 1;
      }
    } catch (const std::exception& e) {
      v->problem = "has a bad source: " + resolved + " cannot be read (" + e.what() + ")" + where;
      return 1;
    }
  }
  return 0;
}

}  // namespace

std::string virtual_source_problem(hid_t file, const std::string& path) {
  VdsVisit v;
  v.dir = dirname_of(path);
  v.stage_sha = root_attr(file, "stage_sha256");
  v.target_sha = root_attr(file, "target_sha256");
  const herr_t rc = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, visit_vds, &v, H5O_INFO_BASIC);
  if (rc < 0 && v.problem.empty()) v.problem = "cannot be walked (" + hdf5_message() + ")";
  H5Eclear2(H5E_DEFAULT);
  return v.problem;
}

}  // namespace lnpsaxs::io
