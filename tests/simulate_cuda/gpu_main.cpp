// Entry point of the GPU tests: exits with the skip code 77 (ctest SKIP_RETURN_CODE) when this
// build has no CUDA backend or no CUDA device is visible, so CI without a GPU stays green.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "models/simulator/cuda/grf_cuda.h"

int main(int argc, char** argv) {
  constexpr int kSkip = 77;
  if (!lnpsaxs::sim::cuda_backend_compiled()) {
    std::printf("SKIPPED: this build has no CUDA backend (LNPSAXS_CUDA_ENABLED off)\n");
    return kSkip;
  }
  const int devices = lnpsaxs::sim::cuda_device_count();
  if (devices == 0) {
    std::printf("SKIPPED: no CUDA device visible (cudaGetDeviceCount reports none)\n");
    return kSkip;
  }
  std::printf("CUDA device 0 of %d: %s\n", devices, lnpsaxs::sim::cuda_device_name(0).c_str());
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
