#include "jacobian.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"

namespace lnpsaxs::analysis {
namespace {

/// Jacobian of one chunk, [r, n_q, P] in the dtype of theta.
at::Tensor chunk_jacobian(const ForwardFn& f, const at::Tensor& theta, const at::Tensor& lower, const at::Tensor& span,
                          JacobianMode mode) {
  c10::AutoGradMode grad_on(true);
  const at::Tensor u = ((theta - lower) / span).detach().requires_grad_(true);
  const at::Tensor y = f(lower + span * u);
  if (y.dim() != 2 || y.size(0) != theta.size(0)) {
    throw RuntimeFailure("Jacobian: the forward model returned shape " + std::to_string(y.dim()) +
                         "-D; expected [R, n_q] for R = " + std::to_string(theta.size(0)));
  }
  const std::int64_t n_q = y.size(1), p = theta.size(1);
  at::Tensor jac = at::zeros({theta.size(0), n_q, p}, theta.options());
  if (mode == JacobianMode::reverse) {
    for (std::int64_t i = 0; i < n_q; ++i) {
      // Rows are independent, so the gradient of the column sum holds row r's derivative in row r.
      auto g = torch::autograd::grad({y.select(1, i).sum()}, {u}, {}, /*retain_graph=*/true, /*create_graph=*/false,
                                     /*allow_unused=*/true);
      if (g[0].defined()) jac.select(1, i).copy_(g[0]);
    }
    return jac;
  }
  const at::Tensor cot = at::zeros_like(y).requires_grad_(true);
  auto g = torch::autograd::grad({(y * cot).sum()}, {u}, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                 /*allow_unused=*/true);
  if (!g[0].defined() || !g[0].requires_grad()) return jac;  // f does not depend on θ at all
  for (std::int64_t j = 0; j < p; ++j) {
    auto col = torch::autograd::grad({g[0].select(1, j).sum()}, {cot}, {}, /*retain_graph=*/true,
                                     /*create_graph=*/false, /*allow_unused=*/true);
    if (col[0].defined()) jac.select(2, j).copy_(col[0]);
  }
  return jac;
}

}  // namespace

JacobianMode jacobian_mode_from_string(const std::string& s) {
  if (s == "forward") return JacobianMode::forward;
  if (s == "reverse") return JacobianMode::reverse;
  throw InputError("Jacobian mode '" + s + "' is not forward or reverse");
}

at::Tensor scaled_jacobian(const ForwardFn& f, const at::Tensor& theta, const at::Tensor& lower, const at::Tensor& upper,
                           JacobianMode mode, std::int64_t chunk, JacobianMode* used) {
  if (theta.dim() != 2) throw InputError("Jacobian: parameters must be [R, P]");
  const at::Tensor lo = lower.to(theta.options()).reshape({1, -1});
  const at::Tensor span = (upper.to(theta.options()).reshape({1, -1}) - lo);
  std::vector<at::Tensor> parts;
  chunk = std::max<std::int64_t>(chunk, 1);
  for (std::int64_t r0 = 0; r0 < theta.size(0); r0 += chunk) {
    const at::Tensor rows = theta.slice(0, r0, std::min(r0 + chunk, theta.size(0)));
    at::Tensor j;
    if (mode == JacobianMode::forward) {
      try {
        j = chunk_jacobian(f, rows, lo, span, mode);
      } catch (const c10::Error& e) {
        log::warn("forward-mode Jacobian failed (the model is not twice differentiable?): {}; using reverse mode",
                  std::string(e.what_without_backtrace()).substr(0, 200));
        mode = JacobianMode::reverse;
      }
    }
    if (mode == JacobianMode::reverse) j = chunk_jacobian(f, rows, lo, span, mode);
    parts.push_back(j.detach().to(at::kCPU, at::kDouble));
  }
  if (used) *used = mode;
  if (parts.empty()) return at::zeros({0, 0, theta.size(1)}, at::kDouble);
  return at::cat(parts, 0).contiguous();
}

}  // namespace lnpsaxs::analysis
