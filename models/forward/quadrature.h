#pragma once
// Size-distribution quadrature of the polydisperse forward models (docs/method.md §5.1:
// K Gauss–Legendre nodes mapped through the truncated inverse CDF, with
// the Gauss–Legendre weights). Plain double precision; the torch side is in forward_model.cpp,
// the double-precision distribution itself in common (lnpsaxs/physics/size_distribution.h).
#include <cstdint>
#include <vector>

namespace lnpsaxs::fit {

/// Gauss–Legendre rule on [0, 1]: nodes u_k = (x_k + 1)/2 ascending and weights w_k = w_k^GL/2
/// (Σ w_k = 1), exact for polynomials of degree ≤ 2K − 1. Newton iteration on P_K in double.
/// Throws InputError for K < 1.
struct GaussLegendre {
  std::vector<double> node;    ///< [K] nodes in (0, 1), ascending
  std::vector<double> weight;  ///< [K] weights, summing to 1
};
/// The K-node rule on [0, 1] (see GaussLegendre).
GaussLegendre gauss_legendre_unit(std::int64_t k);

/// Trapezoid weights c_i of ∫ f dq over grid points [begin, end): Σ c_i f(q_i) (the Porod
/// invariant window). end − begin ≥ 2, else InputError.
std::vector<double> trapezoid_weights(const std::vector<double>& q, std::int64_t begin, std::int64_t end);

}  // namespace lnpsaxs::fit
