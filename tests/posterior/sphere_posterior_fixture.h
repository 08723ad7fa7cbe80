#pragma once
// Shared by the posterior tests on the polydisperse sphere model (test_calibration,
// test_size_prior_posterior, test_residual_correlation): the forward setup on a linear q grid and
// the draws of one parameter of a batch of HMC chains.
#include <cstdint>
#include <utility>
#include <vector>

#include "diagnostics.h"
#include "hmc.h"
#include "multistart.h"

namespace lnpsaxs::posterior::testing {

/// Sphere forward setup in float64: n q points linear on [q_lo, q_hi] Å⁻¹, normalised over all of
/// them, radius truncation [a, b] Å, `nodes` quadrature nodes of `rule`.
inline fit::ForwardSetup sphere_setup(double q_lo, double q_hi, int n, double a, double b, std::int64_t nodes,
                                      fit::QuadratureRule rule) {
  fit::ForwardSetup setup;
  setup.model = fit::Model::sphere;
  for (int i = 0; i < n; ++i) setup.q.push_back(q_lo + (q_hi - q_lo) * i / (n - 1));
  setup.norm_begin = 0;
  setup.norm_end = n;
  setup.truncation_lower = a;
  setup.truncation_upper = b;
  setup.nodes = nodes;
  setup.rule = rule;
  setup.dtype = c10::kDouble;
  return setup;
}

/// The sphere's fit layout (m_r, s_r; no background) on the boxes m_r, s_r [Å].
inline fit::Layout sphere_layout(std::pair<double, double> m_r, std::pair<double, double> s_r) {
  fit::Boxes boxes;
  boxes.m_r = m_r;
  boxes.s_r = s_r;
  return fit::Layout(fit::Model::sphere, false, boxes);
}

/// The draws of coordinate `par` of chains [first, first + count) of `res` (rows of `dim` raw
/// coordinates): physical through `layout` for par < layout.size(), the raw coordinate otherwise.
inline Chains chain_draws(const HmcResult& res, const fit::Layout& layout, std::int64_t first, std::int64_t count,
                          std::int64_t draws, std::int64_t dim, std::int64_t par) {
  Chains ch{count, draws, {}};
  std::vector<double> phys(layout.size());
  for (std::int64_t c = first; c < first + count; ++c) {
    for (std::int64_t i = 0; i < draws; ++i) {
      const double* row = &res.position[static_cast<std::size_t>((c * draws + i) * dim)];
      if (par < static_cast<std::int64_t>(layout.size())) {
        layout.physical_from_raw(row, phys.data());
        ch.x.push_back(phys[static_cast<std::size_t>(par)]);
      } else {
        ch.x.push_back(row[par]);
      }
    }
  }
  return ch;
}

}  // namespace lnpsaxs::posterior::testing
