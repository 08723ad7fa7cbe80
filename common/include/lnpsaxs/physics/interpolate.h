#pragma once
// Monotone cubic Hermite interpolation of a sampled curve (docs/method.md §5.8), used to put
// measured and synthetic SAXS curves (LINEAR intensity) onto the model's q grid. Pure double
// precision, no LibTorch; used by `fit` (target preparation).
#include <vector>

namespace lnpsaxs::physics {

/// Interpolates y(x) at `x_new` with the monotone cubic Hermite scheme of docs/method.md §5.8:
/// secants δ_i; initial slopes δ_0 and δ_{N−2} at the ends and (δ_{i−1} + δ_i)/2 inside, zeroed
/// where δ_{i−1}·δ_i ≤ 0; per interval both slopes are zero when |δ_i| < 1e-30, a slope whose
/// ratio to δ_i is negative is zeroed, and when α² + β² > 9 both are scaled by 3/√(α² + β²)
/// (Fritsch–Carlson); each interior node then takes the mean of its two intervals' slopes.
/// Inside [x_0, x_{N−1}] the cubic Hermite segment is evaluated (the nodes are reproduced
/// exactly); outside, the curve is continued linearly with the end slope.
/// `x` must be strictly increasing with N = y.size() ≥ 2 (N = 2 gives the straight line).
/// Throws lnpsaxs::InputError otherwise. Units are the caller's (q in Å⁻¹, I in any unit).
std::vector<double> monotone_cubic_interpolate(const std::vector<double>& x, const std::vector<double>& y,
                                               const std::vector<double>& x_new);

/// The node slopes the scheme above uses (for tests and for callers that evaluate many times).
std::vector<double> monotone_cubic_slopes(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace lnpsaxs::physics
