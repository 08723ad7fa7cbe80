#pragma once
// The parameter space of the method (docs/method.md §1, §9).
//
// Nine simulator / surrogate-input parameters in the order the surrogate expects (docs/method.md §1.1,
// the metadata order of the reference checkpoint), their training box, the affine maps between
// physical units and the unit cube, the size-distribution box (m_r, s_r, truncation), and the
// η reparameterisation that keeps m_q2 > m_q1 during fitting (docs/method.md §1.3).
#include <array>
#include <string>
#include <utility>
#include <vector>

namespace lnpsaxs {
namespace config {
class Config;
}

/// One bounded parameter: name (field term), unit, and the box [lower, upper].
struct ParameterInfo {
  std::string name;
  std::string unit;
  std::string description;
  double lower = 0;
  double upper = 1;
  double span() const { return upper - lower; }
};

/// The 9 simulator parameters. Index order = surrogate input order (docs/method.md §1.1).
class ParameterSpace {
 public:
  static constexpr int kDim = 9;
  enum Index : int {
    delta_rho_int = 0,    ///< mean interior density offset Δρ_int (interior mean = 1 + Δρ_int) [–]
    radius = 1,           ///< outer particle radius r [Å]
    w = 2,                ///< weight of spectral component 2: P = (1−w)·LN1 + w·LN2 [–]
    m_q1 = 3,             ///< real-space mean (in q) of log-normal component 1 [Å⁻¹]
    m_q2 = 4,             ///< real-space mean of component 2 [Å⁻¹]
    s_q1 = 5,             ///< real-space standard deviation of component 1 [Å⁻¹]
    s_q2 = 6,             ///< real-space standard deviation of component 2 [Å⁻¹]
    shell_thickness = 7,  ///< shell thickness d [Å]
    rho_rel = 8,          ///< shell density relative to the mean interior density [–]
  };

  /// The paper's training box (Table 3 / docs/method.md §1.1).
  static ParameterSpace defaults();
  /// The box from the config's `parameters:` section.
  static ParameterSpace from_config(const config::Config& cfg);
  explicit ParameterSpace(std::array<ParameterInfo, kDim> params) : params_(std::move(params)) {}

  const ParameterInfo& operator[](int i) const { return params_.at(static_cast<std::size_t>(i)); }
  const std::array<ParameterInfo, kDim>& params() const { return params_; }
  std::vector<std::string> names() const;
  std::vector<std::string> units() const;
  std::vector<double> lower() const;
  std::vector<double> upper() const;

  /// x̃ = (x − lower)/(upper − lower) for each of `rows` rows of kDim values (row-major).
  void to_unit(const double* physical, double* unit, std::size_t rows) const;
  /// x = lower + x̃·(upper − lower); inverse of to_unit.
  void to_physical(const double* unit, double* physical, std::size_t rows) const;

 private:
  std::array<ParameterInfo, kDim> params_;
};

/// Size-distribution box of polydisperse fitting (docs/method.md §1.2: m_r ∈ [120, 350], s_r ∈ [10, 100] Å,
/// truncated log-normal on [100, 500] Å).
struct SizeDistributionBox {
  ParameterInfo m_r{"m_r", "Å", "mean radius of the truncated log-normal", 120, 350};
  ParameterInfo s_r{"s_r", "Å", "standard deviation of the radius distribution", 10, 100};
  double truncation_lower = 100;  ///< A [Å]
  double truncation_upper = 500;  ///< B [Å]
  static SizeDistributionBox from_config(const config::Config& cfg);
};

/// η ordering reparameterisation of docs/method.md §1.3: with ε = 1e-4 and h = upper bound of m_q1,
///   η = ε + (1 − 2ε)·sigmoid(raw),  m_q2 = m_q1 + η·(h − m_q1),
/// so m_q2 ∈ (m_q1, h) for every finite raw whenever m_q1 < h.
namespace eta {
constexpr double kEpsilon = 1e-4;
/// η ∈ [ε, 1 − ε] from an unconstrained raw value.
double from_raw(double raw);
/// raw = logit((η − ε)/(1 − 2ε)), clamped like the reference (p ∈ [1e-6, 1 − 1e-6]).
double to_raw(double eta);
/// m_q2 = m_q1 + η·(h − m_q1) [Å⁻¹].
double m_q2_from_eta(double m_q1, double eta, double h);
/// η = (m_q2 − m_q1)/(h − m_q1). Requires m_q1 < h.
double eta_from_m_q2(double m_q1, double m_q2, double h);
}  // namespace eta

}  // namespace lnpsaxs
