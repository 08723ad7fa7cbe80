#pragma once
// LibTorch run-time set-up shared by the tensor stages (simulate, synth, train, fit, analyze):
// device per rank and intra-op threads, from the config's `execution` section. Only c10 headers
// here (cheap); the implementation includes torch.
#include <c10/core/Device.h>

namespace lnpsaxs {
namespace config {
class Config;
}

namespace torchrt {
/// CPU, or for execution.device = cuda the GPU `local_rank % device_count` (one rank per GPU).
/// Throws InputError naming execution.device when CUDA is asked for but LibTorch has no CUDA or
/// no device is visible.
c10::Device select_device(const config::Config& cfg, int local_rank);
/// Sets LibTorch's intra-op threads: execution.threads if > 0, else OMP_NUM_THREADS if set, else
/// hardware threads / ranks on the node (at least 1). Returns the number set.
int configure_threads(const config::Config& cfg, int ranks_on_node);
}  // namespace torchrt
}  // namespace lnpsaxs
