// Our NXcanSAS reader against SasView's own writer (sasdata's NXcanSASWriter, Debian
// python3-sasdata): a curve written there reads here with the same q, I, sigma and dQ.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lnpsaxs/saxs_data.h"
#include "test_python.h"

namespace fs = std::filesystem;
namespace io = lnpsaxs::io;

TEST_CASE("a file written by sasdata's NXcanSAS writer reads with the same q, I, sigma, dQ") {
  const std::string probe =
      lnpsaxs::test::python() + " -c 'import sasdata.file_converter.nxcansas_writer' 2>/dev/null";
  if (std::system(probe.c_str()) != 0) {
    MESSAGE("python3-sasdata not installed (tools/install-deps.sh): skipped");
    return;
  }
  char tmpl[] = "/tmp/lnpsaxs-sasdata-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  const std::string h5 = (dir / "written_by_sasdata.h5").string();
  const std::string script = (dir / "write.py").string();
  std::ofstream(script) << "import sys, numpy as np\n"
                           "from sasdata.dataloader.data_info import Data1D\n"
                           "from sasdata.file_converter.nxcansas_writer import NXcanSASWriter\n"
                           "q = np.linspace(0.005, 0.2, 50)\n"
                           "i = 1e3 * np.exp(-(q * 60) ** 2 / 3) + 0.1\n"
                           "d = Data1D(x=q, y=i, dx=0.001 + 0.01 * q, dy=0.02 * i)\n"
                           "d.xaxis('Q', '1/A'); d.yaxis('Intensity', '1/cm')\n"
                           "NXcanSASWriter().write([d], sys.argv[1])\n"
                           "np.savetxt(sys.argv[1] + '.txt', np.c_[q, i, 0.02 * i, 0.001 + 0.01 * q], fmt='%.17g')\n";
  REQUIRE(std::system((lnpsaxs::test::python() + " " + script + " " + h5).c_str()) == 0);
  std::ifstream truth(h5 + ".txt");
  std::vector<double> q, in, s, dq;
  for (double a, b, c, e; truth >> a >> b >> c >> e;) {
    q.push_back(a);
    in.push_back(b);
    s.push_back(c);
    dq.push_back(e);
  }
  REQUIRE(q.size() == 50);
  const io::Curve c = io::read_curve(h5);
  CHECK(c.format == "nxcansas");
  REQUIRE(c.q.size() == q.size());
  REQUIRE(c.has_sigma());
  for (std::size_t k = 0; k < q.size(); ++k) {
    CHECK(c.q[k] == doctest::Approx(q[k]).epsilon(1e-12));
    CHECK(c.intensity[k] == doctest::Approx(in[k]).epsilon(1e-12));
    CHECK(c.sigma[k] == doctest::Approx(s[k]).epsilon(1e-12));
    REQUIRE(c.q_width.size() == q.size());
    CHECK(c.q_width[k] == doctest::Approx(dq[k]).epsilon(1e-12));
  }
  fs::remove_all(dir);
}
