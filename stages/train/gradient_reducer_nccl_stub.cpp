// Built when CUDA/NCCL is not found: asking for the NCCL reducer is a configuration error.
#include "gradient_reducer.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::train {

std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm, c10::Device) {
  throw NotCompiled("the NCCL gradient all-reduce (CUDA data-parallel training)");
}

bool nccl_compiled() { return false; }

}  // namespace lnpsaxs::train
