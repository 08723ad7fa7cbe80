// Run under `mpiexec -n 2`: ranks write disjoint row blocks of one dataset collectively through
// parallel HDF5 (MPI-IO), commit the checkpoint, and every row reads back.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/mpi_env.h"

namespace io = lnpsaxs::io;

TEST_CASE("collective hyperslab writes from all ranks into one dataset") {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  REQUIRE(size >= 2);
  // Rank 0 chooses the folder; everyone uses it.
  char dir[64] = "/tmp/lnpsaxs-mpi-XXXXXX";
  if (rank == 0) REQUIRE(mkdtemp(dir) != nullptr);
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  const std::string out = std::string(dir) + "/rows.h5";

  const std::int64_t n = 1001, cols = 5;
  {
    io::CheckpointWriter w(out, {"test", "c", "s", "y"}, MPI_COMM_WORLD, true);
    io::H5Id ds = io::create_dataset(w.id(), "/train/x", H5T_NATIVE_DOUBLE, {n, cols});
    io::DoneMask mask(w.id(), "/train/done", n);
    const auto mine = lnpsaxs::mpi::item_range(n, 0, 1, rank, size);
    // Two collective batches; the second is empty on some ranks when sizes differ.
    const std::int64_t half = mine.size() / 2;
    for (auto part : {lnpsaxs::mpi::Range{mine.begin, mine.begin + half}, lnpsaxs::mpi::Range{mine.begin + half, mine.end}}) {
      std::vector<double> rows(static_cast<std::size_t>(part.size() * cols));
      for (std::int64_t i = 0; i < part.size(); ++i) {
        for (std::int64_t c = 0; c < cols; ++c) rows[static_cast<std::size_t>(i * cols + c)] = 10.0 * (part.begin + i) + c;
      }
      io::write_rows<double>(ds, part.begin, part.size(), rows.data(), true);
      mask.mark(part, true);
      w.file().flush();
    }
    io::set_attr(ds, "ranks", std::int64_t{size});
    ds.reset();
    w.commit();
  }
  // Every rank reads the committed file and checks every row.
  io::File f = io::File::open(out, io::File::Mode::read);
  CHECK(io::attr_int(f, "complete") == 1);
  io::H5Id ds = io::open_dataset(f, "/train/x");
  CHECK(io::attr_int(ds, "ranks") == size);
  const auto all = io::read_all<double>(ds);
  REQUIRE(all.size() == static_cast<std::size_t>(n * cols));
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t c = 0; c < cols; ++c) wrong += all[static_cast<std::size_t>(i * cols + c)] != 10.0 * i + c;
  }
  CHECK(wrong == 0);
  io::H5Id done = io::open_dataset(f, "/train/done");
  const auto mask = io::read_all<std::uint8_t>(done);
  CHECK(std::count(mask.begin(), mask.end(), 1) == n);
  f.close();
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::filesystem::remove_all(dir);
}
