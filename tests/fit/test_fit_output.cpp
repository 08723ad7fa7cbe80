// The fit output as `analyze` consumes it: run the stage (cli::run_stage, one process) on the gold
// curve, rebuild the forward model from fits.h5 with ForwardModel::from_fit_output, and check that
// it reproduces the stored final curves from the stored parameters.
#include <ATen/ATen.h>
#include "doctest_torch.h"
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "fit_stage.h"
#include "models/forward/forward_model.h"
#include "lnpsaxs/h5.h"

namespace fs = std::filesystem;
namespace io = lnpsaxs::io;

TEST_CASE("ForwardModel::from_fit_output rebuilds the fitted model: log10 M(/params) equals /curve") {
  char tmpl[] = "/tmp/lnpsaxs-fit-out-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  const std::string src = LNPSAXS_SOURCE_DIR;
  const std::string config = src + "/configs/ci.yaml", data = src + "/tests/data/au_86116_cosaxs.dat";
  std::vector<std::string> args{
      "lnpsaxs-fit", "--config",     config,    "--run-dir", dir.string(),  "--data", data,         "--model",
      "core_shell",  "--background", "--q-min", "0.002",     "--q-max",     "0.05",   "--restarts", "5",
      "--steps",     "15",           "--name",  "gold_cs",   "--log-level", "warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  int argc = static_cast<int>(argv.size());
  char** av = argv.data();
  const boost::program_options::options_description extra = lnpsaxs::fit::stage_options();
  REQUIRE(lnpsaxs::cli::run_stage(argc, av, lnpsaxs::fit::stage_info(), extra, lnpsaxs::fit::run) == 0);

  const std::string fits = (dir / "fits/gold_cs/fits.h5").string();
  const auto model = lnpsaxs::fit::ForwardModel::from_fit_output(fits, dir.string(), c10::Device(c10::kCPU));
  io::File f = io::File::open(fits, io::File::Mode::read);
  CHECK(model.parameter_names() == io::attr_strings(f, "parameter_names"));
  CHECK(model.setup().background);
  // ci.yaml starts the quadrature check at K = 16; fits.h5 records the K it chose and the error.
  CHECK(io::attr_int(f, "quadrature_nodes_configured") == 16);
  CHECK(model.setup().nodes == io::attr_int(f, "quadrature_nodes"));
  CHECK(model.setup().nodes >= 16);
  CHECK(io::attr_double(f, "quadrature_check_error") <= io::attr_double(f, "quadrature_tolerance"));
  CHECK(io::attr_double(f, "quadrature_error_best") <= 2 * io::attr_double(f, "quadrature_tolerance"));
  // Fitted at the data's own q: all 987 kept points on /q, the window's in /target/mask.
  CHECK(model.n_q() == 987);
  CHECK(io::attr_int(f, "fitted_points") == io::attr_int(f, "window_points"));
  CHECK(io::attr_string(f, "loss") == "log");  // auto for core_shell
  const auto params = io::read_all<double>(io::open_dataset(f, "/params"));
  const auto curve = io::read_all<float>(io::open_dataset(f, "/curve"));
  const at::Tensor p = at::tensor(params, at::kDouble).view({5, 5});
  const at::Tensor y = model.log10_intensity(p).to(at::kDouble).contiguous();
  REQUIRE(y.numel() == static_cast<std::int64_t>(curve.size()));
  double worst = 0;
  for (std::size_t i = 0; i < curve.size(); ++i)
    worst = std::max(worst, std::fabs(y.data_ptr<double>()[i] - curve[i]));
  CHECK(worst < 1e-5);
  // Differentiable in the physical parameters, as the Jacobians need.
  const at::Tensor pv = p.clone().requires_grad_(true);
  model.log10_intensity(pv).sum().backward();
  CHECK(at::isfinite(pv.grad()).all().item<bool>());
  CHECK(pv.grad().abs().sum().item<double>() > 0);
  fs::remove_all(dir);
}
