#include <ATen/ATen.h>

#include <climits>

#include "gradient_reducer.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::train {
namespace {

class MpiReducer final : public GradientReducer {
 public:
  explicit MpiReducer(MPI_Comm comm) : comm_(comm) {}

  void sum(at::Tensor& flat) override {
    if (flat.scalar_type() != at::kFloat || flat.dim() != 1 || !flat.is_contiguous()) {
      throw std::invalid_argument("MpiReducer::sum: need a contiguous 1-D float32 tensor");
    }
    int size = 1;
    MPI_Comm_size(comm_, &size);
    if (size == 1) return;
    at::Tensor host = flat.is_cpu() ? flat : flat.to(at::kCPU);
    float* p = host.data_ptr<float>();
    // MPI counts are int: reduce in chunks (a 2^31-element bucket is 8 GiB, but be exact).
    for (std::int64_t off = 0, n = host.numel(); off < n;) {
      const int count = static_cast<int>(std::min<std::int64_t>(n - off, INT_MAX));
      const int rc = MPI_Allreduce(MPI_IN_PLACE, p + off, count, MPI_FLOAT, MPI_SUM, comm_);
      if (rc != MPI_SUCCESS) throw RuntimeFailure("MPI_Allreduce of the gradient bucket failed (code " + std::to_string(rc) + ")");
      off += count;
    }
    if (!flat.is_cpu()) flat.copy_(host);
  }
  std::string name() const override { return "MPI_Allreduce"; }

 private:
  MPI_Comm comm_;
};

}  // namespace

std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm comm) { return std::make_unique<MpiReducer>(comm); }

}  // namespace lnpsaxs::train
