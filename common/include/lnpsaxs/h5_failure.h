#pragma once
// Failed writes (issue 12): messages that name the file and the OS cause, and the one HDF5 state a
// process must not exit normally from. Kept out of h5.h, which nearly every file includes.
#include <hdf5.h>

#include <string>

namespace lnpsaxs::io {

/// check() for a call that writes to the file at `path`: throws RuntimeFailure("cannot write PATH:
/// <OS cause> (<what>: <HDF5 message>)"), the OS cause being "No space left on device", "File too
/// large", "Disk quota exceeded", ... (write_failure_cause).
hid_t check_write(hid_t status, const std::string& what, const std::string& path);
/// Why a write to `path` failed, from `saved_errno` (ENOSPC, EFBIG, EDQUOT, EROFS, EIO) or, where the
/// I/O layer left no errno, from the process's file size limit and the free space of the file
/// system; "" when neither explains it.
std::string write_failure_cause(const std::string& path, int saved_errno);
/// True once the close of some HDF5 file failed (its last flush could not be written: disk full).
/// HDF5 1.10 then keeps a dangling id that its exit-time cleanup crashes on: the process must end
/// without that cleanup (cli::run_stage does, after MPI_Finalize).
bool files_left_open();

}  // namespace lnpsaxs::io
