#include "lnpsaxs/h5.h"

#include <cstring>
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

void H5Id::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

hid_t check(hid_t status, const std::string& what) {
  if (status < 0) throw RuntimeFailure(what + ": " + hdf5_message());
  return status;
}

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
  f.id_ = H5Id(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), "cannot create HDF5 file " + path),
               H5Fclose);
  f.path_ = path;
  f.comm_ = comm;
  return f;
}

File File::open(const std::string& path, Mode mode, MPI_Comm comm) {
  H5Id fapl = file_access(comm);
  File f;
  f.id_ = H5Id(check(H5Fopen(path.c_str(), mode == Mode::read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl),
                     "cannot open HDF5 file " + path),
               H5Fclose);
  f.path_ = path;
  f.comm_ = comm;
  return f;
}

void File::flush() { check(H5Fflush(id_, H5F_SCOPE_GLOBAL), "H5Fflush " + path_); }

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
  return H5Id(check(H5Dcreate2(loc, path.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), "H5Dcreate " + path),
              H5Dclose);
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
  check(H5Dwrite(dataset, native_type<T>(), ms, fs, xfer, data), "H5Dwrite");
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

}  // namespace lnpsaxs::io
