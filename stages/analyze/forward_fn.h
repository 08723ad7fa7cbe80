#pragma once
// The forward map that analyze differentiates, as a type only: no LibTorch header (at::Tensor is
// declared, not defined), so that stage headers naming it stay cheap to include.
#include <functional>

namespace at {
class Tensor;
}

namespace lnpsaxs::analysis {

/// Physical parameters [R, P] → log10 I_PI [R, n_q]; must be differentiable w.r.t. its input
/// (docs/method.md §6, the Jacobians).
using ForwardFn = std::function<at::Tensor(const at::Tensor&)>;

}  // namespace lnpsaxs::analysis
