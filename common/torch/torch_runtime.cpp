#include "lnpsaxs/torch_runtime.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::torchrt {

c10::Device select_device(const config::Config& cfg, int local_rank) {
  if (cfg.string("execution.device") == "cpu") return c10::Device(c10::kCPU);
  if (!torch::cuda::is_available()) {
    throw InputError(cfg.where("execution.device") +
                     "cuda requested, but this LibTorch has no CUDA support or no GPU is visible");
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

int configure_threads(const config::Config& cfg, int ranks_on_node) {
  int n = static_cast<int>(cfg.integer("execution.threads"));
  if (n <= 0) {
    if (const char* omp = std::getenv("OMP_NUM_THREADS")) n = std::atoi(omp);
  }
  if (n <= 0) {
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    n = std::max(1, hw / std::max(1, ranks_on_node));
  }
  at::set_num_threads(n);
  return n;
}

}  // namespace lnpsaxs::torchrt
