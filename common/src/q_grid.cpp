#include "lnpsaxs/q_grid.h"

#include "lnpsaxs/config.h"

namespace lnpsaxs {

std::vector<double> linear_q_grid(double q_min, double q_max, int n) {
  std::vector<double> q(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) q[static_cast<std::size_t>(i)] = q_min + (q_max - q_min) * i / (n - 1);
  q.back() = q_max;
  return q;
}

std::vector<double> q_grid_from_config(const config::Config& cfg) {
  return linear_q_grid(cfg.real("q.min"), cfg.real("q.max"), static_cast<int>(cfg.integer("q.n")));
}

}  // namespace lnpsaxs
