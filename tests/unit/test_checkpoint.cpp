// HDF5 checkpoints: attributes, complete flag, .partial rename, resume, done mask, VDS join.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"

namespace fs = std::filesystem;
namespace io = lnpsaxs::io;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/lnpsaxs-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

io::Provenance prov(const std::string& sha = "abc") { return {"test", "cfg" + sha, sha, "k: v\n"}; }
}  // namespace

TEST_CASE("a checkpoint is written as NAME.partial and appears complete only after commit") {
  TempDir dir;
  const std::string out = dir / "out.h5";
  CHECK(io::inspect_output(out).state == io::OutputState::missing);
  {
    io::CheckpointWriter w(out, prov(), MPI_COMM_NULL, false);
    CHECK_FALSE(w.resumed());
    std::vector<double> v{1, 2, 3, 4, 5, 6};
    io::write_dataset<double>(w.id(), "/g/x", {3, 2}, v.data());
    w.file().flush();
    CHECK(fs::exists(out + ".partial"));
    CHECK_FALSE(fs::exists(out));
    const auto mid = io::inspect_output(out);
    CHECK(mid.state == io::OutputState::partial);
    CHECK(mid.stage_sha256 == "abc");
    w.commit();
  }
  CHECK(fs::exists(out));
  CHECK_FALSE(fs::exists(out + ".partial"));
  const auto info = io::inspect_output(out);
  CHECK(info.state == io::OutputState::complete);
  CHECK(info.stage == "test");
  io::File f = io::File::open(out, io::File::Mode::read);
  CHECK(io::attr_int(f, "complete") == 1);
  CHECK(io::attr_int(f, "schema_version") == io::kSchemaVersion);
  CHECK(io::attr_string(f, "config_sha256") == "cfgabc");
  CHECK(io::attr_string(f, "config_yaml") == "k: v\n");
  CHECK(io::attr_string(f, "created_utc").size() == 20);
  CHECK_FALSE(io::attr_string(f, "lnpsaxs_version").empty());
  io::H5Id ds = io::open_dataset(f, "/g/x");
  CHECK(io::dims(ds) == std::vector<hsize_t>{3, 2});
  CHECK(io::read_rows<double>(ds, 1, 2) == std::vector<double>{3, 4, 5, 6});
}

TEST_CASE("a partial file resumes only under the same fingerprint, and keeps its done mask") {
  TempDir dir;
  const std::string out = dir / "sim.h5";
  {
    io::CheckpointWriter w(out, prov("one"), MPI_COMM_NULL, true);
    io::DoneMask mask(w.id(), "/train/done", 10);
    CHECK(mask.count_done() == 0);
    mask.mark({2, 5}, false);
    w.file().flush();
    // Simulated kill: the writer goes away without commit.
  }
  {
    io::CheckpointWriter w(out, prov("one"), MPI_COMM_NULL, true);
    CHECK(w.resumed());
    io::DoneMask mask(w.id(), "/train/done", 10);
    CHECK(mask.count_done() == 3);
    CHECK(mask.done(2));
    CHECK_FALSE(mask.done(5));
    CHECK(mask.first_not_done({0, 10}) == 0);
    CHECK(mask.first_not_done({2, 10}) == 5);
    CHECK(mask.count_done({3, 10}) == 2);
  }
  {
    io::CheckpointWriter w(out, prov("two"), MPI_COMM_NULL, true);
    CHECK_FALSE(w.resumed());  // different config: start over
    io::DoneMask mask(w.id(), "/train/done", 10);
    CHECK(mask.count_done() == 0);
  }
}

TEST_CASE("a corrupt partial file is not resumed") {
  TempDir dir;
  const std::string out = dir / "bad.h5";
  { std::ofstream(out + ".partial") << "not an HDF5 file"; }
  CHECK(io::inspect_output(out).state == io::OutputState::missing);
  io::CheckpointWriter w(out, prov(), MPI_COMM_NULL, true);
  CHECK_FALSE(w.resumed());
  w.commit();
  CHECK(io::inspect_output(out).state == io::OutputState::complete);
}

TEST_CASE("attributes round-trip") {
  TempDir dir;
  io::File f = io::File::create(dir / "a.h5");
  io::set_attr(f, "s", std::string("Å⁻¹"));
  io::set_attr(f, "i", std::int64_t{-7});
  io::set_attr(f, "d", 2.5);
  io::set_attr(f, "dv", std::vector<double>{1.5, -2});
  io::set_attr(f, "sv", std::vector<std::string>{"radius", "w"});
  io::set_attr(f, "i", std::int64_t{8});  // overwrite
  CHECK(io::attr_string(f, "s") == "Å⁻¹");
  CHECK(io::attr_int(f, "i") == 8);
  CHECK(io::attr_double(f, "d") == 2.5);
  CHECK(io::attr_doubles(f, "dv") == std::vector<double>{1.5, -2});
  CHECK(io::attr_strings(f, "sv") == std::vector<std::string>{"radius", "w"});
  CHECK_FALSE(io::has_attr(f, "nope"));
  CHECK_THROWS_AS(io::attr_int(f, "nope"), lnpsaxs::RuntimeFailure);
  CHECK_THROWS_AS(io::open_dataset(f, "/missing/x"), lnpsaxs::RuntimeFailure);
  // A missing, empty or non-HDF5 file is the user's input problem, said as such.
  CHECK_THROWS_WITH_AS(io::File::open(dir / "missing.h5", io::File::Mode::read), doctest::Contains("missing.h5 is missing"),
                       lnpsaxs::InputError);
}

TEST_CASE("a virtual dataset over two shard files reads back as one dataset") {
  TempDir dir;
  fs::create_directories(dir.path / "shards");
  const int cols = 3;
  std::vector<float> all(7 * cols);
  std::iota(all.begin(), all.end(), 0.0f);
  // Shard 0 holds rows 0..3, shard 1 rows 4..6.
  const std::int64_t split = 4;
  {
    io::File s0 = io::File::create(dir / "shards/s0.h5");
    io::write_dataset<float>(s0, "/train/y", {split, cols}, all.data());
    io::File s1 = io::File::create(dir / "shards/s1.h5");
    io::write_dataset<float>(s1, "/train/y", {7 - split, cols}, all.data() + split * cols);
  }
  {
    io::File v = io::File::create(dir / "joined.h5");
    io::create_virtual_dataset(v, "/train/y", H5T_NATIVE_FLOAT, 7, cols,
                               {{"shards/s0.h5", "/train/y", 0, split}, {"shards/s1.h5", "/train/y", split, 7 - split}});
  }
  // Read from another working directory: source paths resolve against the VDS file's folder.
  const fs::path cwd = fs::current_path();
  fs::current_path("/");
  {
    io::File v = io::File::open(dir / "joined.h5", io::File::Mode::read);
    io::H5Id ds = io::open_dataset(v, "/train/y");
    CHECK(io::dims(ds) == std::vector<hsize_t>{7, cols});
    CHECK(io::read_all<float>(ds) == all);
    CHECK(io::read_rows<float>(ds, 3, 2) == std::vector<float>(all.begin() + 9, all.begin() + 15));
  }
  fs::current_path(cwd);
}
