#include "diagnostics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace lnpsaxs::posterior {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check(const Chains& ch) {
  if (ch.m < 1 || ch.n < 4 || ch.x.size() != static_cast<std::size_t>(ch.m * ch.n))
    throw std::invalid_argument("posterior diagnostics: need >= 1 chain of >= 4 draws, x of m*n values");
}

/// Inverse of the standard normal CDF (Acklam's rational approximation refined by one Halley step
/// on erfc: |error| < 1e-15 on (0, 1)).
double inverse_normal_cdf(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

struct ChainStats {
  std::vector<double> mean, var;  // per chain (var with divisor n − 1)
  double w = 0, var_plus = 0;
};

ChainStats chain_stats(const Chains& ch) {
  ChainStats s;
  const double n = static_cast<double>(ch.n);
  for (std::int64_t c = 0; c < ch.m; ++c) {
    double mu = 0;
    for (std::int64_t i = 0; i < ch.n; ++i) mu += ch.at(c, i);
    mu /= n;
    double v = 0;
    for (std::int64_t i = 0; i < ch.n; ++i) v += (ch.at(c, i) - mu) * (ch.at(c, i) - mu);
    s.mean.push_back(mu);
    s.var.push_back(v / (n - 1));
  }
  const double m = static_cast<double>(ch.m);
  s.w = std::accumulate(s.var.begin(), s.var.end(), 0.0) / m;
  double b_over_n = 0;
  if (ch.m > 1) {
    const double grand = std::accumulate(s.mean.begin(), s.mean.end(), 0.0) / m;
    for (double mu : s.mean) b_over_n += (mu - grand) * (mu - grand);
    b_over_n /= m - 1;
  }
  s.var_plus = (n - 1) / n * s.w + b_over_n;
  return s;
}

/// Autocovariance of chain c at lag t (divisor n, the biased estimator Stan uses).
double autocovariance(const Chains& ch, std::int64_t c, double mean, std::int64_t t) {
  double s = 0;
  for (std::int64_t i = 0; i + t < ch.n; ++i) s += (ch.at(c, i) - mean) * (ch.at(c, i + t) - mean);
  return s / static_cast<double>(ch.n);
}

Chains fold(const Chains& ch) {
  const double med = quantile(ch.x, 0.5);
  Chains f = ch;
  for (double& v : f.x) v = std::abs(v - med);
  return f;
}

Chains indicator(const Chains& ch, double threshold) {
  Chains f = ch;
  for (double& v : f.x) v = v <= threshold ? 1.0 : 0.0;
  return f;
}

}  // namespace

double quantile(std::vector<double> v, double p) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double h = (static_cast<double>(v.size()) - 1) * p;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double basic_rhat(const Chains& ch) {
  check(ch);
  const ChainStats s = chain_stats(ch);
  if (!(s.w > 0)) return kNaN;
  return std::sqrt(s.var_plus / s.w);
}

double basic_ess(const Chains& ch) {
  check(ch);
  const ChainStats s = chain_stats(ch);
  if (!(s.var_plus > 0) || !(s.w > 0)) return kNaN;
  const std::int64_t n = ch.n;
  const double m = static_cast<double>(ch.m);
  // ρ̂_t = 1 − (W − mean_m acov_t,m)/var⁺ (Stan's multi-chain form), computed only for the lags
  // Geyer's sequence reaches.
  auto rho = [&](std::int64_t t) {
    double a = 0;
    for (std::int64_t c = 0; c < ch.m; ++c) a += autocovariance(ch, c, s.mean[static_cast<std::size_t>(c)], t);
    return 1.0 - (s.w - a / m) / s.var_plus;
  };
  // Geyer's initial positive sequence, then made monotone.
  std::vector<double> pairs;
  for (std::int64_t k = 0; 2 * k + 1 < n; ++k) {
    const double p = (k == 0 ? 1.0 : rho(2 * k)) + rho(2 * k + 1);
    if (!(p > 0)) break;
    pairs.push_back(p);
  }
  for (std::size_t k = 1; k < pairs.size(); ++k) pairs[k] = std::min(pairs[k], pairs[k - 1]);
  const double tau = -1.0 + 2.0 * std::accumulate(pairs.begin(), pairs.end(), 0.0);
  const double total = m * static_cast<double>(n);
  const double cap = total * std::log10(total);
  return tau > 0 ? std::min(total / tau, cap) : cap;
}

Chains split_chains(const Chains& ch) {
  check(ch);
  const std::int64_t half = ch.n / 2;
  Chains s;
  s.m = 2 * ch.m;
  s.n = half;
  for (std::int64_t c = 0; c < ch.m; ++c) {
    for (std::int64_t i = 0; i < half; ++i) s.x.push_back(ch.at(c, i));
    for (std::int64_t i = ch.n - half; i < ch.n; ++i) s.x.push_back(ch.at(c, i));
  }
  return s;
}

Chains rank_normalise(const Chains& ch) {
  const std::size_t total = ch.x.size();
  std::vector<std::size_t> order(total);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ch.x[a] < ch.x[b]; });
  Chains z = ch;
  const double s = static_cast<double>(total);
  for (std::size_t i = 0; i < total;) {
    std::size_t j = i;
    while (j + 1 < total && ch.x[order[j + 1]] == ch.x[order[i]]) ++j;
    const double rank = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j + 1));  // average rank
    const double zv = inverse_normal_cdf((rank - 0.375) / (s + 0.25));
    for (std::size_t k = i; k <= j; ++k) z.x[order[k]] = zv;
    i = j + 1;
  }
  return z;
}

Summary summarise(const Chains& ch) {
  check(ch);
  Summary out;
  const double total = static_cast<double>(ch.x.size());
  out.mean = std::accumulate(ch.x.begin(), ch.x.end(), 0.0) / total;
  double v = 0;
  for (double x : ch.x) v += (x - out.mean) * (x - out.mean);
  out.sd = std::sqrt(v / (total - 1));
  out.q05 = quantile(ch.x, 0.05);
  out.q50 = quantile(ch.x, 0.50);
  out.q95 = quantile(ch.x, 0.95);
  const Chains split = split_chains(ch);
  const double r_bulk = basic_rhat(rank_normalise(split));
  const double r_fold = basic_rhat(rank_normalise(fold(split)));
  out.rhat = std::isnan(r_bulk) || std::isnan(r_fold) ? kNaN : std::max(r_bulk, r_fold);
  out.ess_bulk = basic_ess(rank_normalise(split));
  out.ess_tail = std::min(basic_ess(indicator(split, out.q05)), basic_ess(indicator(split, out.q95)));
  const double ess_mean = basic_ess(split);
  out.mcse_mean = out.sd / std::sqrt(ess_mean);
  // MCSE of the SD by the delta method on the variance: the variance is the mean of
  // y = (θ − mean)², whose MCSE is sd(y)/√ESS(y); d sd = d var / (2 sd). For normal draws this is
  // sd/√(2·ESS); a heavy-tailed or skewed marginal (a background cut at 0) gets the larger value
  // its kurtosis implies (the posterior R package's mcse_sd, Vehtari et al. 2021 §4).
  Chains y = split;
  for (double& x : y.x) x = (x - out.mean) * (x - out.mean);
  const double ym = std::accumulate(y.x.begin(), y.x.end(), 0.0) / total;
  double yv = 0;
  for (double x : y.x) yv += (x - ym) * (x - ym);
  yv /= std::max(static_cast<double>(y.x.size()) - 1, 1.0);
  const double ess_var = basic_ess(y);
  out.mcse_sd = out.sd > 0 && ess_var > 0 ? std::sqrt(yv / ess_var) / (2 * out.sd) : kNaN;
  return out;
}

}  // namespace lnpsaxs::posterior
