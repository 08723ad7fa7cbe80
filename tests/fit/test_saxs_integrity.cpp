// Data integrity of the curve readers (issue 12): the unit of q comes only from the column
// header, a units/q_unit key or NXcanSAS @units (never from free text such as a sample name),
// contradictions are errors naming both places, NXcanSAS unit spellings (1/m included) are
// understood, a missing unit is assumed 1/A and says so; a UTF-8 byte-order mark loses no row; a
// directory or an empty file is refused with the right message.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/saxs_data.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
namespace io = lnpsaxs::io;
using lnpsaxs::InputError;

namespace {
using lnpsaxs::test::TempDir;

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const char* kRows = "0.010 100.0 1.0\n0.020 80.0 1.0\n0.030 50.0 1.0\n0.040 20.0 1.0\n";

/// An NXcanSAS file with Q in `units` (no attribute when empty).
std::string nxcansas(const TempDir& d, const std::string& name, const std::string& units) {
  const std::string p = (d.path / name).string();
  io::File f = io::File::create(p);
  io::H5Id e = io::ensure_group(f, "/sasentry01");
  io::set_attr(e, "canSAS_class", "SASentry");
  io::H5Id g = io::ensure_group(f, "/sasentry01/sasdata01");
  io::set_attr(g, "canSAS_class", "SASdata");
  io::set_attr(g, "signal", "I");
  io::set_attr(g, "I_axes", "Q");
  const std::vector<double> q{1e8, 2e8, 3e8, 4e8}, in{10, 8, 5, 2};
  io::write_dataset<double>(g, "Q", {4}, q.data());
  io::write_dataset<double>(g, "I", {4}, in.data());
  if (!units.empty()) {
    io::H5Id qd = io::open_dataset(g, "Q");
    io::set_attr(qd, "units", units);
  }
  return p;
}
}  // namespace

TEST_CASE("free text that mentions nm-1 is not a unit of q: a sample name in the trailer leaves q in 1/A") {
  TempDir d;
  // The column header says 1/A; a trailer line happens to contain "nm-1".
  const std::string p = d.write("au.dat", std::string("# q (1/A)  I (1/cm)  sigma\n") + kRows + "sample: Au-20nm-1\n");
  const io::Curve c = io::read_curve(p);
  REQUIRE(c.q.size() == 4);
  CHECK(c.q.front() == doctest::Approx(0.010));  // not 0.001
  CHECK(c.q_unit == "1/A");
  CHECK(c.q_unit_source.find("column header 'q (1/A)'") != std::string::npos);
  // The same free text with no unit anywhere: 1/A assumed (and said), never 1/nm.
  const std::string p2 = d.write("au2.dat", std::string("Sample: Au 20 nm-1 batch, 1/nm filter\n") + kRows +
                                                "comment: measured in nm-1 mode\n");
  const io::Curve c2 = io::read_curve(p2);
  CHECK(c2.q.front() == doctest::Approx(0.010));
  CHECK(c2.q_unit == "1/A");
  CHECK(c2.q_unit_source.rfind("assumed", 0) == 0);
}

TEST_CASE("the unit of q from the column header, a q_unit/units key, or @units - all spellings") {
  TempDir d;
  struct Case {
    const char* header;
    double first_q;
  };
  const Case cases[] = {{"# q (1/nm)  I  sigma\n", 0.001},   {"# Q [nm^-1] I sigma\n", 0.001},
                        {"q_nm-1 I sigma\n", 0.001},         {"# q(A^-1) I(cm^-1) err\n", 0.010},
                        {"# q (1/angstrom) I sigma\n", 0.010}, {"# q (\xc3\x85\xe2\x81\xbb\xc2\xb9) I sigma\n", 0.010},
                        {"# q (1/m) I sigma\n", 0.010e-10},  {"# q_unit: 1/nm\n", 0.001},
                        {"units: nm^-1\n", 0.001},           {"# units: 1/cm\n", 0.010}};  // 1/cm: an intensity unit
  int k = 0;
  for (const Case& cs : cases) {
    const std::string p = d.write("c" + std::to_string(k++) + ".dat", std::string(cs.header) + kRows);
    const io::Curve c = io::read_curve(p);
    INFO(cs.header);
    CHECK(c.q.front() == doctest::Approx(cs.first_q).epsilon(1e-12));
  }
  // A key in the trailer counts too.
  const io::Curve t = io::read_curve(d.write("t.dat", std::string(kRows) + "q_unit: 1/nm\n"));
  CHECK(t.q.front() == doctest::Approx(0.001));
  // CSV: the q column's name.
  const io::Curve csv = io::read_curve(d.write("c.csv", "q (1/m),I,sigma\n1e8,3,1\n2e8,2,1\n3e8,1,1\n"));
  CHECK(csv.q.front() == doctest::Approx(0.01));
  CHECK(csv.q_unit == "1/m");
  // NXcanSAS @units: every NXcanSAS spelling; 1/m is not 1/A.
  for (const auto& [u, scale] : std::vector<std::pair<std::string, double>>{
           {"1/m", 1e-10}, {"1/nm", 0.1}, {"1/A", 1.0}, {"1/angstrom", 1.0}, {"A^-1", 1.0}, {"nm^-1", 0.1}}) {
    const io::Curve n = io::read_curve(nxcansas(d, "n" + std::to_string(k++) + ".h5", u));
    INFO(u);
    CHECK(n.q.front() == doctest::Approx(scale * 1e8).epsilon(1e-12));
  }
  // No unit anywhere: 1/A, recorded as an assumption.
  const io::Curve none = io::read_curve(nxcansas(d, "none.h5", ""));
  CHECK(none.q_unit_source.rfind("assumed", 0) == 0);
}

TEST_CASE("contradictory units of q are an error naming both places - q_unit/--q-unit overrides the file") {
  TempDir d;
  const std::string p = d.write("x.dat", std::string("# q (1/A) I sigma\n") + kRows + "q_unit: 1/nm\n");
  const std::string e = error_of([&] { io::read_curve(p); });
  CHECK(e.find("contradictory units of q") != std::string::npos);
  CHECK(e.find(p + ":1: column header 'q (1/A)'") != std::string::npos);
  CHECK(e.find(p + ":6: 'q_unit: 1/nm'") != std::string::npos);
  // The user's unit wins over both.
  const io::Curve c = io::read_curve(p, io::CurveFormat::automatic, io::QUnit::inverse_nm);
  CHECK(c.q.front() == doctest::Approx(0.001));
  CHECK(io::read_curve(p, io::CurveFormat::automatic, io::parse_q_unit("1/m")).q.front() ==
        doctest::Approx(0.010e-10));
  // A stated unit that is not a unit of q.
  CHECK(error_of([&] { io::read_curve(d.write("y.dat", std::string("# q (pixels) I\n") + "1 2\n2 1\n3 1\n"), io::CurveFormat::ascii); })
            .find("is not a unit of q") != std::string::npos);
  CHECK(error_of([&] { io::read_curve(nxcansas(d, "bad.h5", "degrees")); }).find("is not a unit of q") != std::string::npos);
}

TEST_CASE("a UTF-8 byte-order mark before a file without a header loses no data row") {
  TempDir d;
  const std::string p = d.write("bom.dat", std::string("\xef\xbb\xbf") + kRows);
  const io::Curve c = io::read_curve(p);
  CHECK(c.rows_read == 4);
  REQUIRE(c.q.size() == 4);
  CHECK(c.q.front() == doctest::Approx(0.010));
  CHECK(c.header.empty());
  const std::string csv = d.write("bom.csv", "\xef\xbb\xbfq,I\n0.01,3\n0.02,2\n0.03,1\n");
  CHECK(io::read_curve(csv).q.size() == 3);
}

TEST_CASE("a directory or an empty file given as data says so") {
  TempDir d;
  const std::string dir = (d.path / "sub").string();
  fs::create_directory(dir);
  CHECK(error_of([&] { io::read_curve(dir); }) == dir + ": is a directory, not a data file");
  CHECK(error_of([&] { io::read_curve(dir, io::CurveFormat::ascii); }).find("is a directory") != std::string::npos);
  CHECK(error_of([&] { io::read_curve(dir, io::CurveFormat::nxcansas); }).find("is a directory") != std::string::npos);
  const std::string empty = d.write("empty.dat", "");
  CHECK(error_of([&] { io::read_curve(empty); }).find("is empty") != std::string::npos);
}
