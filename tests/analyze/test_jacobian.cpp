// Autograd Jacobians with respect to min–max scaled parameters against central finite differences,
// in both strategies (reverse: one backward per q; forward: double backward, one per parameter).
#include <torch/torch.h>

#include <cmath>

#include "jacobian.h"

#include "doctest_torch.h"

using namespace lnpsaxs::analysis;

namespace {

const at::Tensor kQ = torch::linspace(0.002, 0.2, 40, torch::kFloat64);

/// A smooth nonlinear "forward model": [R, 3] physical (radius-like, width-like, weight) → [R, 40].
at::Tensor model(const at::Tensor& th) {
  const at::Tensor r = th.select(1, 0).unsqueeze(1), s = th.select(1, 1).unsqueeze(1), w = th.select(1, 2).unsqueeze(1);
  const at::Tensor x = kQ.unsqueeze(0) * r;
  const at::Tensor i = (1 - w) * torch::exp(-x.pow(2) / 5.0) + w * torch::exp(-(kQ.unsqueeze(0) * s - 2.0).pow(2)) + 1e-3;
  return torch::log10(i * r.pow(2));
}

at::Tensor finite_difference(const at::Tensor& theta, const at::Tensor& lo, const at::Tensor& hi) {
  const std::int64_t p = theta.size(1);
  at::Tensor j = torch::zeros({theta.size(0), kQ.size(0), p}, torch::kFloat64);
  const double h = 1e-6;  // in scaled units
  for (std::int64_t k = 0; k < p; ++k) {
    at::Tensor dp = theta.clone(), dm = theta.clone();
    const double step = h * (hi[k].item<double>() - lo[k].item<double>());
    dp.select(1, k).add_(step);
    dm.select(1, k).sub_(step);
    j.select(2, k).copy_((model(dp) - model(dm)) / (2 * h));
  }
  return j;
}

}  // namespace

TEST_CASE("Jacobian w.r.t. scaled parameters matches central finite differences in both modes") {
  const at::Tensor lo = torch::tensor({100.0, 10.0, 0.0}, torch::kFloat64);
  const at::Tensor hi = torch::tensor({500.0, 60.0, 1.0}, torch::kFloat64);
  const at::Tensor theta = torch::tensor({{150.0, 20.0, 0.3}, {250.0, 35.0, 0.7}, {420.0, 55.0, 0.1},
                                          {300.0, 12.0, 0.5}, {180.0, 40.0, 0.9}},
                                         torch::kFloat64);
  const at::Tensor fd = finite_difference(theta, lo, hi);
  for (JacobianMode mode : {JacobianMode::reverse, JacobianMode::forward}) {
    JacobianMode used = mode == JacobianMode::forward ? JacobianMode::reverse : JacobianMode::forward;
    const at::Tensor j = scaled_jacobian(model, theta, lo, hi, mode, /*chunk=*/2, &used);
    CHECK(static_cast<int>(used) == static_cast<int>(mode));
    REQUIRE((j.sizes() == fd.sizes()));
    CHECK((j.scalar_type() == torch::kFloat64));
    const double err = (j - fd).abs().max().item<double>();
    const double scale = fd.abs().max().item<double>();
    MESSAGE("max |J - FD| = " << err << " (max |J| = " << scale << ")");
    CHECK(err < 1e-6 * scale);
  }
}

TEST_CASE("Jacobian of a linear map is A times the span, on float32 input as well") {
  const at::Tensor a = torch::randn({4, 7}, torch::TensorOptions().dtype(torch::kFloat64).requires_grad(false));
  const ForwardFn f = [a](const at::Tensor& th) { return th.matmul(a.to(th.scalar_type())); };
  const at::Tensor lo = torch::tensor({0.0, -1.0, 5.0, 2.0}, torch::kFloat64), hi = torch::tensor({1.0, 1.0, 9.0, 2.5}, torch::kFloat64);
  const at::Tensor theta = torch::rand({6, 4}, torch::kFloat32) + 0.1;
  for (JacobianMode mode : {JacobianMode::reverse, JacobianMode::forward}) {
    const at::Tensor j = scaled_jacobian(f, theta, lo, hi, mode, 4);
    const at::Tensor want = (a.t() * (hi - lo).unsqueeze(0)).unsqueeze(0).expand({6, 7, 4});
    CHECK((j - want).abs().max().item<double>() < 1e-5 * want.abs().max().item<double>());
  }
}

TEST_CASE("Jacobian of a model that ignores a parameter has a zero column") {
  const ForwardFn f = [](const at::Tensor& th) { return th.select(1, 0).unsqueeze(1).pow(2).expand({th.size(0), 3}) * 1.0; };
  const at::Tensor theta = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kFloat64);
  const at::Tensor lo = torch::zeros({2}, torch::kFloat64), hi = torch::ones({2}, torch::kFloat64);
  for (JacobianMode mode : {JacobianMode::reverse, JacobianMode::forward}) {
    const at::Tensor j = scaled_jacobian(f, theta, lo, hi, mode);
    CHECK(j.select(2, 1).abs().max().item<double>() == 0.0);
    CHECK(j[1][2][0].item<double>() == doctest::Approx(6.0));
  }
}
