// lnpsaxs-simulate: GRF core–shell curves for params.h5 → RUN/curves/ shards + RUN/curves.h5.
#include "simulate_stage.h"

int main(int argc, char** argv) {
  boost::program_options::options_description opts("simulate options");
  opts.add_options()("join-only", "only join complete shards into curves.h5 (the SLURM join step)")(
      "backend", boost::program_options::value<std::string>(),
      "simulator for this run, overriding simulate.backend: auto (cuda on a GPU rank, else cpu), cpu (fused FFTW3 path), "
      "torch (LibTorch reference) or cuda (fused CUDA path)");
  return lnpsaxs::cli::run_stage(argc, argv, lnpsaxs::simulate::stage_info(), opts, lnpsaxs::simulate::run);
}
