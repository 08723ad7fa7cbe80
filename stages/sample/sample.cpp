#include "sample.h"

#include <cinttypes>
#include <cstdio>

#include "lnpsaxs/log.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/sobol.h"
#include "lnpsaxs/stages.h"

namespace lnpsaxs::sample {

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "sample",
      "Sobol design of the training and held-out test parameter sets",
      "Draws sample.n_train training points and sample.n_test independent test points of the\n"
      "9-parameter training box (config section `parameters`) from a randomised Sobol sequence\n"
      "and writes RUN/params.h5 (/train/theta, /train/theta_unit, /test/...).\n"
      "Train and test use independent randomisations keyed by run.seed.",
      stages::sections("sample"),
      false};
  return info;
}

namespace {

std::string hex64(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

void write_split(cli::StageContext& ctx, io::File& file, const ParameterSpace& space, const std::string& split,
                 std::int64_t n, rng::Stream stream) {
  const auto randomisation = parse_sobol_randomisation(ctx.cfg.string("sample.randomisation"));
  const std::uint64_t seed = rng::derive_key(static_cast<std::uint64_t>(ctx.cfg.integer("run.seed")), stream, 0);
  const SobolDesign design(ParameterSpace::kDim, randomisation, seed);

  const mpi::Range mine = mpi::item_range(n, 0, 1, ctx.mpi.rank(), ctx.mpi.size());
  std::vector<double> unit = design.points(static_cast<std::uint64_t>(mine.begin), static_cast<std::uint64_t>(mine.size()));
  std::vector<double> phys(unit.size());
  space.to_physical(unit.data(), phys.data(), static_cast<std::size_t>(mine.size()));

  io::H5Id group = io::ensure_group(file, "/" + split);
  io::set_attr(group, "n", n);
  io::set_attr(group, "sobol_randomisation", ctx.cfg.string("sample.randomisation"));
  io::set_attr(group, "sobol_seed", hex64(seed));
  const std::vector<hsize_t> dims{static_cast<hsize_t>(n), ParameterSpace::kDim};
  for (const auto& [name, data, what] :
       {std::tuple{"theta", &phys, "physical units"}, std::tuple{"theta_unit", &unit, "unit cube [0,1]"}}) {
    io::H5Id ds = io::create_dataset(file, "/" + split + "/" + name, H5T_NATIVE_DOUBLE, dims);
    io::set_attr(ds, "parameter_names", space.names());
    io::set_attr(ds, "units", space.units());
    io::set_attr(ds, "lower", space.lower());
    io::set_attr(ds, "upper", space.upper());
    io::set_attr(ds, "description", std::string("Sobol design, ") + what + ", rows = items, columns = parameters");
    io::write_rows<double>(ds, mine.begin, mine.size(), data->data(), true);
  }
  if (ctx.root() && (n & (n - 1)) != 0) {
    log::warn("sample.n_{} = {} is not a power of two: the design is not a complete Sobol net", split, n);
  }
}

}  // namespace

void run(cli::StageContext& ctx) {
  const std::string out = ctx.path("params.h5");
  if (!ctx.needs_work(out)) return;
  const ParameterSpace space = ParameterSpace::from_config(ctx.cfg);
  const std::int64_t n_train = ctx.cfg.integer("sample.n_train");
  const std::int64_t n_test = ctx.cfg.integer("sample.n_test");

  io::CheckpointWriter writer(out, ctx.provenance(), ctx.mpi.comm(), /*allow_resume=*/false);
  io::File& file = writer.file();
  io::set_attr(file, "parameter_names", space.names());
  io::set_attr(file, "units", space.units());
  io::set_attr(file, "lower", space.lower());
  io::set_attr(file, "upper", space.upper());
  write_split(ctx, file, space, "train", n_train, rng::Stream::sobol_train);
  write_split(ctx, file, space, "test", n_test, rng::Stream::sobol_test);
  writer.commit();
  if (ctx.root()) {
    log::info("wrote {} ({} training + {} test points, {} parameters, Sobol {})", out, n_train, n_test,
              ParameterSpace::kDim, ctx.cfg.string("sample.randomisation"));
  }
}

}  // namespace lnpsaxs::sample
