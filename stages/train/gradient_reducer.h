#pragma once
// Sum of a flat gradient bucket across the ranks of a communicator: the hand-written half of
// data-parallel training (LibTorch's C++ API has no DistributedDataParallel; docs/architecture.md §9).
// MPI_Allreduce on CPU tensors; NCCL (ncclAllReduce, unique id broadcast over MPI) on CUDA
// tensors, compiled only when CUDA is found (gradient_reducer_nccl.cpp) — otherwise a stub that
// throws NotCompiled.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <mpi.h>

#include <memory>
#include <string>

namespace lnpsaxs::train {

class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  /// Replaces `flat` (a contiguous 1-D float32 tensor, same length on every rank) by its sum over
  /// the ranks, in place. Collective.
  virtual void sum(at::Tensor& flat) = 0;
  virtual std::string name() const = 0;
};

/// MPI_Allreduce(MPI_SUM) on the host copy of the bucket; a CUDA bucket is copied to the host and
/// back (the fallback when NCCL is not built). Every rank gets the bit-identical result.
std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm comm);

/// ncclAllReduce(ncclSum) on the CUDA bucket of `device`; rank 0 makes the NCCL unique id and
/// broadcasts it over `comm`. Throws NotCompiled in a build without CUDA/NCCL.
std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm comm, c10::Device device);

/// True if this build has the NCCL reducer.
bool nccl_compiled();

}  // namespace lnpsaxs::train
