// Readers of measured SAXS curves (common/saxs_data) and the monotone cubic interpolant
// (common/physics/interpolate): the real CoSAXS gold file, a CSV and an NXcanSAS file written here,
// and every malformed case → InputError naming the file and the line.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/physics/interpolate.h"
#include "lnpsaxs/saxs_data.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
namespace io = lnpsaxs::io;
using lnpsaxs::InputError;

namespace {
using lnpsaxs::test::TempDir;

const std::string kGold = std::string(LNPSAXS_SOURCE_DIR) + "/tests/data/au_86116_cosaxs.dat";

/// The message of the InputError `f` throws (empty if none).
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("the CoSAXS gold file reads as 987 points after masking the beam stop and one negative row") {
  const io::Curve c = io::read_curve(kGold);
  CHECK(c.format == "ascii");
  CHECK(c.rows_read == 1000);
  CHECK(c.rows_masked == 13);  // 12 beam-stop rows with I = 0 and the last row, I < 0
  REQUIRE(c.q.size() == 987);
  CHECK(c.q.front() == doctest::Approx(9.067186e-04).epsilon(1e-12));
  CHECK(c.q.back() == doctest::Approx(7.097446e-02).epsilon(1e-12));
  CHECK(c.intensity.front() == doctest::Approx(1.493214e+02).epsilon(1e-9));
  REQUIRE(c.has_sigma());
  CHECK(c.sigma.size() == 987);
  CHECK(c.sigma_unusable == 0);
  CHECK_FALSE(c.q_from_inverse_nm);
  CHECK(c.header.size() == 3);
  bool creator = false;
  for (const auto& kv : c.metadata) creator = creator || (kv.first == "creator" && kv.second == "datop");
  CHECK(creator);
  CHECK(c.where.front() == kGold + ":16");
}

TEST_CASE("a CSV file with a header row: named columns, 1/nm converted, I <= 0 masked") {
  TempDir d;
  const std::string p = d.write("curve.csv",
                                "# made by a test\n"
                                "sigma, I (cm^-1), q (1/nm)\n"
                                "0.1, 10.0, 0.1\n"
                                "0.1, 8.0, 0.2\n"
                                "0.1, -1.0, 0.3\n"
                                "0.1, 5.0, 0.4\n"
                                ",4.0,0.5\n");
  const io::Curve c = io::read_curve(p);
  CHECK(c.format == "csv");
  CHECK(c.rows_read == 5);
  CHECK(c.rows_masked == 1);
  REQUIRE(c.q.size() == 4);
  CHECK(c.q_from_inverse_nm);
  CHECK(c.q[0] == doctest::Approx(0.01));
  CHECK(c.q[3] == doctest::Approx(0.05));
  CHECK(c.intensity[2] == 5.0);
  CHECK(c.sigma[0] == 0.1);
  CHECK(std::isnan(c.sigma[3]));  // empty sigma field
  CHECK(c.where[1] == p + ":4");
  // Positional columns when the names say nothing; explicit unit wins over the header.
  const std::string p2 = d.write("plain.csv", "x,y\n0.01,3\n0.02,2\n0.03,1\n");
  const io::Curve c2 = io::read_curve(p2, io::CurveFormat::csv, io::QUnit::inverse_nm);
  CHECK(c2.q[2] == doctest::Approx(0.003));
  CHECK_FALSE(c2.has_sigma());
}

TEST_CASE("an NXcanSAS file: SASentry/SASdata with Q in 1/nm, I and Idev") {
  TempDir d;
  const std::string p = (d.path / "curve.h5").string();
  {
    io::File f = io::File::create(p);
    io::H5Id e = io::ensure_group(f, "/sasentry01");
    io::set_attr(e, "canSAS_class", "SASentry");
    io::set_attr(e, "NX_class", "NXentry");
    io::H5Id g = io::ensure_group(f, "/sasentry01/sasdata01");
    io::set_attr(g, "canSAS_class", "SASdata");
    io::set_attr(g, "NX_class", "NXdata");
    io::set_attr(g, "signal", "I");
    io::set_attr(g, "I_axes", "Q");
    const std::vector<double> q{0.05, 0.10, 0.15, 0.20, 0.25};
    const std::vector<double> in{100, 50, 0, 20, std::numeric_limits<double>::quiet_NaN()};
    const std::vector<double> dev{1, 0.5, 0.1, 0.2, 0.1};
    io::write_dataset<double>(f, "/sasentry01/sasdata01/Q", {5}, q.data());
    io::write_dataset<double>(f, "/sasentry01/sasdata01/I", {5}, in.data());
    io::write_dataset<double>(f, "/sasentry01/sasdata01/Idev", {5}, dev.data());
    io::H5Id qd = io::open_dataset(f, "/sasentry01/sasdata01/Q");
    io::set_attr(qd, "units", "1/nm");
    io::H5Id id = io::open_dataset(f, "/sasentry01/sasdata01/I");
    io::set_attr(id, "units", "1/cm");
    io::set_attr(id, "uncertainties", "Idev");
  }
  const io::Curve c = io::read_curve(p);
  CHECK(c.format == "nxcansas");
  CHECK(c.rows_read == 5);
  CHECK(c.rows_masked == 2);  // I = 0 and I = NaN
  REQUIRE(c.q.size() == 3);
  CHECK(c.q_from_inverse_nm);
  CHECK(c.q[0] == doctest::Approx(0.005));
  CHECK(c.q[2] == doctest::Approx(0.020));
  CHECK(c.intensity[2] == 20.0);
  CHECK(c.sigma[1] == 0.5);
  CHECK(c.where[2].find(":/sasentry01/sasdata01/Q[3]") != std::string::npos);
}

TEST_CASE("malformed files are InputErrors naming the file and the line") {
  TempDir d;
  struct Case {
    const char* name;
    const char* text;
    const char* line;    // expected "file:LINE"
    const char* reason;  // expected words
  };
  const Case cases[] = {
      {"empty.dat", "", ":1:", "empty"},
      {"blank.dat", "\n\n", ":1:", "empty"},
      {"header_only.dat", "title\nq I sigma\n", ":2:", "no data rows"},
      {"one_column.dat", "header\n0.01\n0.02\n", ":2:", "only one column"},
      {"text.dat", "h\n0.01 1.0 0.1\n0.02 abc 0.1\n", ":3:", "text 'abc' in numeric column 2"},
      {"unsorted.dat", "h\n0.01 1.0\n0.03 1.0\n0.02 1.0\n", ":4:", "unsorted q"},
      {"duplicate.dat", "h\n0.01 1.0\n0.02 1.0\n0.02 2.0\n", ":4:", "duplicate q"},
      {"nonpositive.dat", "h\n0.01 0\n0.02 -1\n0.03 0\n", ":2:", "all 3 intensities"},
      {"nan_q.dat", "h\n0.01 1.0\nnan 1.0\n", ":3:", "q is not a finite number"},
      {"nan_i.dat", "h\n0.01 nan\n0.02 nan\n", ":2:", "all 2 intensities"},
      {"ragged.dat", "h\n0.01 1.0 0.1\n0.02 1.0\n", ":3:", "2 columns, but the first data row"},
      {"midtext.dat", "h\n0.01 1.0\nsurprise\n0.03 1.0\n", ":3:", "unexpected text"},
      {"empty.csv", "", ":1:", "empty"},
      {"numbers.csv", "0.1,1\n0.2,2\n", ":1:", "header row"},
      {"text.csv", "q,I\n0.1,1\n0.2,x\n", ":3:", "text 'x' in numeric column 2"},
      {"short.csv", "q,I,sigma\n0.1,1,0.1\n0.2\n", ":3:", "only one column"},
      {"unsorted.csv", "q,I\n0.2,1\n0.1,1\n", ":3:", "unsorted q"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.name);
    const std::string p = d.write(k.name, k.text);
    const std::string msg = error_of([&] { io::read_curve(p); });
    CHECK(msg.find(p + k.line) == 0);
    CHECK(msg.find(k.reason) != std::string::npos);
  }
  CHECK(error_of([&] { io::read_curve((d.path / "missing.dat").string()); }).find("cannot open") !=
        std::string::npos);
  const std::string h5 = (d.path / "notcansas.h5").string();
  { io::File f = io::File::create(h5); }
  CHECK(error_of([&] { io::read_curve(h5); }).find("no SASentry") != std::string::npos);
}

TEST_CASE("monotone cubic interpolation reproduces nodes, lines and monotone data without overshoot") {
  namespace ph = lnpsaxs::physics;
  const std::vector<double> x{0, 1, 2, 3, 4, 5};
  const std::vector<double> line{1, 3, 5, 7, 9, 11};
  const std::vector<double> xs{-1, 0, 0.25, 1.5, 2, 4.75, 5, 6};
  const auto yl = ph::monotone_cubic_interpolate(x, line, xs);
  for (std::size_t i = 0; i < xs.size(); ++i)
    CHECK(yl[i] == doctest::Approx(1 + 2 * xs[i]));  // incl. linear extrapolation
  const std::vector<double> step{0, 0, 0, 1, 1, 1};
  std::vector<double> fine;
  for (int i = 0; i <= 500; ++i) fine.push_back(5.0 * i / 500);
  const auto ys = ph::monotone_cubic_interpolate(x, step, fine);
  for (std::size_t i = 1; i < ys.size(); ++i) {
    CHECK(ys[i] >= ys[i - 1] - 1e-15);
    CHECK(ys[i] >= -1e-15);
    CHECK(ys[i] <= 1 + 1e-15);
  }
  const auto yn = ph::monotone_cubic_interpolate(x, step, x);
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(yn[i] == step[i]);
  // Smooth data: third-order convergence away from extrema (exp on [0, 1]).
  auto err = [](int n) {
    std::vector<double> xn, yv;
    for (int i = 0; i <= n; ++i) {
      xn.push_back(static_cast<double>(i) / n);
      yv.push_back(std::exp(xn.back()));
    }
    std::vector<double> xm;
    for (int i = 0; i < n; ++i) xm.push_back((i + 0.5) / n);
    const auto ym = lnpsaxs::physics::monotone_cubic_interpolate(xn, yv, xm);
    double e = 0;
    for (std::size_t i = 1; i + 1 < xm.size(); ++i) e = std::max(e, std::fabs(ym[i] - std::exp(xm[i])));
    return e;
  };
  const double e1 = err(20), e2 = err(40);
  CHECK(e1 < 1e-4);
  CHECK(e1 / e2 > 6.0);  // ≈ 8 for O(h³)
  CHECK_THROWS_AS(ph::monotone_cubic_interpolate({0, 0}, {1, 2}, {0.5}), InputError);
  CHECK_THROWS_AS(ph::monotone_cubic_interpolate({0}, {1}, {0.5}), InputError);
}
