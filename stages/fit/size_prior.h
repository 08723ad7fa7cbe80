#pragma once
// Orthogonal size data of one fit target (issue 16; docs/fit.md "Size prior"): a DLS or cryo-TEM
// mean ± SD of the particle radius, or a cryo-TEM radius list or histogram, turned into a negative
// log-likelihood (NLL) of the fitted radius distribution — the truncated log-normal of m_r, s_r on
// [A, B] (docs/method.md §1.2, §5.1). The measured radius is read as the model's outer radius plus
// `offset` (a hydration layer seen by DLS: offset > 0). Plain C++ header (LibTorch only in the .cpp).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace lnpsaxs {
namespace config {
class Record;
}

namespace fit {

struct SizePrior {
  /// none; moments: Gaussian penalty on the mean and SD; radii: one radius per particle;
  /// binned: (bin centre, count) rows.
  enum class Kind { none, moments, radii, binned };
  Kind kind = Kind::none;
  bool intensity_weighted = false;  ///< moments of the r⁶-weighted distribution (DLS), else number
  double mean = 0, sd = 0;          ///< moments: measured mean and SD [Å]
  double mean_error = 0, sd_error = 0;  ///< their standard errors [Å] (from n: sd/√n, sd/√(2(n − 1)))
  std::int64_t particles = 0;       ///< moments: n when given; radii/binned: particles in the file
  double offset = 0;                ///< measured radius = model radius + offset [Å]
  std::string file;                 ///< radii/binned: the file read
  std::string file_sha256;          ///< its content hash (part of the target's identity)
  std::vector<double> radii;        ///< radii: measured radii [Å]
  std::vector<double> log_radii;    ///< radii: ln(radius − offset), made once by read_size_prior
  std::vector<double> edges;        ///< binned: bin edges [n_bins + 1] (midpoints between centres) [Å]
  std::vector<double> counts;       ///< binned: counts [n_bins]
  /// NLL of the data's own best description (radii: the untruncated log-normal fitted by maximum
  /// likelihood; binned: the observed bin fractions), subtracted so that 2·NLL reads like a χ².
  double reference_nll = 0;

  bool active() const { return kind != Kind::none; }
  /// One line for logs and the `size_prior` output attribute.
  std::string describe() const;
  /// Canonical text of every field and the file's hash (the target's identity).
  std::string canonical() const;
  /// NLL − reference_nll per row for size parameters m_r, s_r [R] (Å, float64 or float32;
  /// differentiable) on the truncation [lower, upper] Å → [R] float64.
  at::Tensor nll(const at::Tensor& m_r, const at::Tensor& s_r, double lower, double upper) const;
  /// Throws InputError (naming `where` and the file) when a measured radius minus the offset lies
  /// outside the truncation (A, B): its likelihood would be zero.
  void check_support(double lower, double upper, const std::string& where) const;
};

/// The size_prior mapping of a fit.targets / fit.batch record (fields validated by the schema);
/// reads the histogram file. Throws InputError naming the file and line for unreadable or
/// malformed histograms (≥ 2 particles; radii > 0; bin centres strictly increasing, counts ≥ 0).
SizePrior read_size_prior(const config::Record& size_prior);

/// Mean and SD [R] of the radius under the truncated log-normal of (m_r, s_r) on [lower, upper],
/// number-weighted, or r⁶-weighted when `intensity_weighted` (the log-normal of μ + 6σ², σ,
/// truncated the same). Closed form with log-space normal CDF differences; differentiable.
std::pair<at::Tensor, at::Tensor> truncated_lognormal_moments(const at::Tensor& m_r, const at::Tensor& s_r,
                                                              double lower, double upper,
                                                              bool intensity_weighted);

}  // namespace fit
}  // namespace lnpsaxs
