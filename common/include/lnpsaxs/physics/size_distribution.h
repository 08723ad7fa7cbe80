#pragma once
// Truncated log-normal radius distribution in the parameterisation of the paper and of the fitting
// layer (docs/method.md §5.1, §3.9): m, s are the mean and standard deviation of the
// UNtruncated log-normal, σ² = ln(1 + s²/m²), μ = ln m − σ²/2, truncated to [A, B].
// Double precision, no torch: used by `synth` (drawing radii) and the tests; the fitting
// layer has its own differentiable tensor version.
namespace lnpsaxs::physics {

class TruncatedLogNormal {
 public:
  /// m > 0, s > 0 [Å]; 0 < A < B [Å]. Throws InputError otherwise, or if [A, B] holds no mass
  /// in double precision.
  TruncatedLogNormal(double m, double s, double a, double b);
  double mu() const { return mu_; }
  double sigma() const { return sigma_; }
  /// Density on [A, B] (0 outside), normalised to 1 over [A, B] [1/Å].
  double pdf(double r) const;
  /// CDF on [A, B].
  double cdf(double r) const;
  /// Inverse CDF: r with cdf(r) = u, u ∈ [0, 1]; clamped to [A, B].
  double quantile(double u) const;

 private:
  double m_, s_, a_, b_, mu_, sigma_, fa_, fb_;
};

/// Truncated normal on [A, B] with mean/SD (μ, σ) of the parent normal (the reference code's
/// synthetic targets, docs/method.md §3.9), for the `normal` option of `synth`.
class TruncatedNormal {
 public:
  TruncatedNormal(double mean, double sd, double a, double b);
  double pdf(double r) const;
  double quantile(double u) const;

 private:
  double mean_, sd_, a_, b_, fa_, fb_;
};

}  // namespace lnpsaxs::physics
