// NCCL gradient all-reduce (compiled only when CUDA and NCCL are found: LNPSAXS_CUDA_ENABLED).
// One communicator per process over the ranks of an MPI communicator, one GPU per rank; the
// unique id travels by MPI_Bcast from rank 0 (docs/architecture.md §9).
#include <cuda_runtime.h>
#include <nccl.h>

#include <ATen/core/Tensor.h>

#include "gradient_reducer.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::train {
namespace {

void check_nccl(ncclResult_t rc, const char* call) {
  if (rc != ncclSuccess) throw RuntimeFailure(std::string(call) + " failed: " + ncclGetErrorString(rc));
}

void check_cuda(cudaError_t rc, const char* call) {
  if (rc != cudaSuccess) throw RuntimeFailure(std::string(call) + " failed: " + cudaGetErrorString(rc));
}

/// Owns an ncclComm_t (RAII).
class NcclComm {
 public:
  NcclComm(MPI_Comm mpi, int device) {
    int rank = 0, size = 1;
    MPI_Comm_rank(mpi, &rank);
    MPI_Comm_size(mpi, &size);
    ncclUniqueId id{};
    if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi) != MPI_SUCCESS) throw RuntimeFailure("MPI_Bcast of the NCCL unique id failed");
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_nccl(ncclCommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
  }
  ~NcclComm() {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  ncclComm_t get() const { return comm_; }

 private:
  ncclComm_t comm_ = nullptr;
};

class NcclReducer final : public GradientReducer {
 public:
  NcclReducer(MPI_Comm mpi, c10::Device device) : device_(device), comm_(mpi, device.index()) {}

  void sum(at::Tensor& flat) override {
    if (!flat.is_cuda() || flat.get_device() != device_.index() || flat.scalar_type() != at::kFloat ||
        flat.dim() != 1 || !flat.is_contiguous()) {
      throw std::invalid_argument("NcclReducer::sum: need a contiguous 1-D float32 tensor on " + device_.str());
    }
    check_cuda(cudaSetDevice(device_.index()), "cudaSetDevice");
    // LibTorch runs its kernels on the legacy default stream unless a caller sets another (we
    // never do): enqueueing on it orders the all-reduce after the backward pass and before the
    // optimiser step without extra synchronisation.
    const cudaStream_t stream = nullptr;
    check_nccl(ncclAllReduce(flat.data_ptr(), flat.data_ptr(), static_cast<size_t>(flat.numel()), ncclFloat, ncclSum,
                             comm_.get(), stream),
               "ncclAllReduce");
  }
  std::string name() const override { return "ncclAllReduce"; }

 private:
  c10::Device device_;
  NcclComm comm_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm comm, c10::Device device) {
  if (!device.is_cuda() || !device.has_index()) {
    throw InputError("the NCCL gradient all-reduce needs a CUDA device with an index, got " + device.str());
  }
  return std::make_unique<NcclReducer>(comm, device);
}

bool nccl_compiled() { return true; }

}  // namespace lnpsaxs::train
