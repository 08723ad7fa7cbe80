#pragma once
// The `synth` stage: synthetic polydisperse benchmark targets with known ground truth
// (paper Table S2; docs/method.md §3.9; issue 3). For each case, N particles with radii from
// the truncated log-normal (m_r, s_r) on [A, B] and one fresh GRF realisation each; the target is
// the mean of the particles' linear intensities on the config's q grid.
//
// Output: RUN/targets/shard-IIII-of-NNNN.h5 (per-particle intensities and radii, resumable) and,
// when all shards are complete, RUN/targets/case-K.h5: /q, /intensity (mean over particles),
// /radius (all N radii), root attributes truth_names / truth_values.
#include <array>
#include <string>
#include <vector>

#include "lnpsaxs/cli.h"
#include "models/simulator/grf_types.h"

namespace lnpsaxs::synth {

/// Ground truth of one Table S2 case. `w` is the weight of spectral component 2 (docs/method.md §3.3), so
/// the table's [w1, w2] gives w = w2.
struct Case {
  int id;
  sim::Structure structure;  ///< radius unused (drawn per particle)
  double m_r, s_r;           ///< size distribution [Å]
};

/// Table S2 cases 1..4. Throws InputError for another id.
const Case& table_s2_case(int id);

/// Names and values in the fit stage's parameter order (m_r, s_r, delta_rho_int, w, m_q1, m_q2,
/// s_q1, s_q2, shell_thickness, rho_rel).
std::vector<std::string> truth_names();
std::vector<double> truth_values(const Case& c);

const cli::StageInfo& stage_info();
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::synth
