#pragma once
// The q grid shared by simulate, synth, train and fit (docs/method.md §3.7: 300 points uniform on
// [0.001, 0.200] Å⁻¹; the simulator's radial average is evaluated directly at these q).
#include <vector>

namespace lnpsaxs {
namespace config {
class Config;
}

/// n points uniform on [q_min, q_max] (both included) [Å⁻¹]. n ≥ 2.
std::vector<double> linear_q_grid(double q_min, double q_max, int n);
/// The grid of config section `q` (q.min, q.max, q.n).
std::vector<double> q_grid_from_config(const config::Config& cfg);

}  // namespace lnpsaxs
