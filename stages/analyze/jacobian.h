#pragma once
// Jacobians of a batched forward model by autograd (paper §4.2.5; docs/method.md §6):
//   J[r, i, j] = ∂ f(θ_r)[i] / ∂θ̃_j,   θ = lower + span·θ̃ (θ̃ = min–max scaled parameters),
// where f maps physical parameters [R, P] to log10 I_PI [R, n_q] with the rows independent of each
// other (true of the polydisperse forward models: restarts never mix).
//
// Two exact strategies:
//   reverse — one backward pass per output column i (n_q passes over the batch);
//   forward — forward-mode products J·e_j from reverse mode twice ("double backward"): with a dummy
//             cotangent u, g(u) = Jᵀu is linear in u, so ∂(g·e_j)/∂u = J e_j; P passes, i.e. ~30×
//             fewer than reverse for 10 parameters and 300 q. Needs a twice-differentiable f.
// This header includes no <torch/torch.h>.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "forward_fn.h"

namespace lnpsaxs::analysis {

enum class JacobianMode { forward, reverse };
JacobianMode jacobian_mode_from_string(const std::string& s);

/// Jacobian with respect to the min–max scaled parameters at the rows of `theta` [R, P]
/// (physical units, any floating dtype and device; f is evaluated in that dtype and device) for the
/// box `lower`, `upper` ([P] tensors or broadcastable). Processes `chunk` rows at a time.
/// Returns [R, n_q, P] float64 on the CPU. In forward mode, if f turns out not to be twice
/// differentiable, falls back to reverse mode (and says so through `used`, when given).
at::Tensor scaled_jacobian(const ForwardFn& f, const at::Tensor& theta, const at::Tensor& lower, const at::Tensor& upper,
                           JacobianMode mode = JacobianMode::forward, std::int64_t chunk = 256,
                           JacobianMode* used = nullptr);

}  // namespace lnpsaxs::analysis
