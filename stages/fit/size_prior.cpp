#include "size_prior.h"

#include <ATen/ATen.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/sha256.h"

namespace lnpsaxs::fit {
namespace {

constexpr double kHalfLn2Pi = 0.91893853320467274178;

/// ln(Φ(b) − Φ(a)) for a < b, elementwise, without cancellation in either tail: where a > 0 it uses
/// Φ(−a) − Φ(−b). One branch per element (no NaN gradients from an unused branch).
at::Tensor log_normal_mass(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor flip = a > 0;
  const at::Tensor lo = at::where(flip, -b, a), hi = at::where(flip, -a, b);
  const at::Tensor lh = at::special_log_ndtr(hi);
  return lh + at::log1p(-at::exp(at::special_log_ndtr(lo) - lh));
}

/// μ and σ of ln r for the log-normal of real-space mean m and SD s (docs/method.md §1.2).
std::pair<at::Tensor, at::Tensor> log_params(const at::Tensor& m_r, const at::Tensor& s_r) {
  const at::Tensor m = m_r.to(at::kDouble), s = s_r.to(at::kDouble);
  const at::Tensor s2 = at::log1p((s / m).pow(2));
  return {at::log(m) - 0.5 * s2, at::sqrt(s2)};
}

std::string num(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

/// Reads the histogram file: one column (radii) or two (bin centre, count).
void read_histogram(SizePrior& p, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the size histogram");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  p.file = path;
  p.file_sha256 = sha256_hex(bytes);
  std::istringstream lines(bytes);
  std::string line;
  int lineno = 0;
  std::size_t cols = 0;
  std::vector<double> centres;
  while (std::getline(lines, line)) {
    ++lineno;
    const std::string at = path + ":" + std::to_string(lineno) + ": ";
    if (const auto h = line.find('#'); h != std::string::npos) line.erase(h);
    for (char& c : line) {
      if (c == ',' || c == ';' || c == '\t' || c == '\r') c = ' ';
    }
    std::istringstream ls(line);
    std::vector<double> v;
    std::string tok;
    while (ls >> tok) {
      char* end = nullptr;
      const double x = std::strtod(tok.c_str(), &end);
      if (end == tok.c_str() || *end != '\0') {
        if (v.empty() && centres.empty() && p.radii.empty()) {
          v.clear();
          break;  // a header line before the first number
        }
        throw InputError(at + "'" + tok + "' is not a number");
      }
      v.push_back(x);
    }
    if (v.empty()) continue;
    if (cols == 0) cols = v.size();
    if (v.size() != cols || cols > 2) {
      throw InputError(at + "expected " + (cols > 2 ? std::string("1 or 2") : std::to_string(cols)) +
                       " columns (radius, or bin centre and count), got " + std::to_string(v.size()));
    }
    if (!std::isfinite(v[0]) || !(v[0] > 0)) throw InputError(at + "radius " + num(v[0]) + " must be > 0");
    if (cols == 1) {
      p.radii.push_back(v[0]);
      continue;
    }
    if (!centres.empty() && !(v[0] > centres.back())) {
      throw InputError(at + "bin centres must increase strictly (" + num(v[0]) + " after " + num(centres.back()) + ")");
    }
    if (!std::isfinite(v[1]) || v[1] < 0) throw InputError(at + "count " + num(v[1]) + " must be >= 0");
    centres.push_back(v[0]);
    p.counts.push_back(v[1]);
  }
  if (cols == 2) {
    if (centres.size() < 2) throw InputError(path + ": a histogram needs at least 2 bins");
    const std::size_t n = centres.size();
    p.edges.push_back(centres[0] - 0.5 * (centres[1] - centres[0]));
    for (std::size_t i = 0; i + 1 < n; ++i) p.edges.push_back(0.5 * (centres[i] + centres[i + 1]));
    p.edges.push_back(centres[n - 1] + 0.5 * (centres[n - 1] - centres[n - 2]));
    double total = 0;
    for (double c : p.counts) total += c;
    if (!(total >= 2)) throw InputError(path + ": a histogram needs a total count >= 2");
    p.particles = static_cast<std::int64_t>(std::llround(total));
    p.kind = SizePrior::Kind::binned;
    // Reference: the observed fractions (the saturated multinomial), so NLL − reference >= 0.
    for (double c : p.counts) {
      if (c > 0) p.reference_nll -= c * std::log(c / total);
    }
    return;
  }
  if (p.radii.size() < 2) throw InputError(path + ": a radius list needs at least 2 particles");
  p.particles = static_cast<std::int64_t>(p.radii.size());
  p.kind = SizePrior::Kind::radii;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> truncated_lognormal_moments(const at::Tensor& m_r, const at::Tensor& s_r,
                                                              double lower, double upper,
                                                              bool intensity_weighted) {
  auto [mu, sigma] = log_params(m_r, s_r);
  if (intensity_weighted) mu = mu + 6.0 * sigma * sigma;  // r⁶·LN(μ, σ) ∝ LN(μ + 6σ², σ)
  const at::Tensor a = (std::log(lower) - mu) / sigma, b = (std::log(upper) - mu) / sigma;
  const at::Tensor lz = log_normal_mass(a, b);
  // E[r^k] = exp(kμ + k²σ²/2)·(Φ(b − kσ) − Φ(a − kσ))/(Φ(b) − Φ(a)).
  const at::Tensor m1 = at::exp(mu + 0.5 * sigma * sigma + log_normal_mass(a - sigma, b - sigma) - lz);
  const at::Tensor m2 = at::exp(2.0 * mu + 2.0 * sigma * sigma + log_normal_mass(a - 2.0 * sigma, b - 2.0 * sigma) - lz);
  return {m1, at::sqrt((m2 - m1 * m1).clamp_min(0.0))};
}

at::Tensor SizePrior::nll(const at::Tensor& m_r, const at::Tensor& s_r, double lower, double upper) const {
  const auto opt = m_r.options().dtype(at::kDouble);
  switch (kind) {
    case Kind::none:
      return at::zeros({m_r.size(0)}, opt);
    case Kind::moments: {
      const auto [mean_r, sd_r] = truncated_lognormal_moments(m_r, s_r, lower, upper, intensity_weighted);
      const at::Tensor zm = (mean_r + offset - mean) / mean_error, zs = (sd_r - sd) / sd_error;
      return 0.5 * (zm * zm + zs * zs);
    }
    case Kind::radii: {
      const auto [mu, sigma] = log_params(m_r, s_r);
      const at::Tensor lz = log_normal_mass((std::log(lower) - mu) / sigma, (std::log(upper) - mu) / sigma);
      double sum_lx = 0;
      for (double v : log_radii) sum_lx += v;
      const at::Tensor x = at::tensor(log_radii, opt).unsqueeze(0);          // [1, n]
      const at::Tensor z = (x - mu.unsqueeze(1)) / sigma.unsqueeze(1);       // [R, n]
      const auto n = static_cast<double>(radii.size());
      return sum_lx + n * (at::log(sigma) + kHalfLn2Pi + lz) + 0.5 * (z * z).sum(1) - reference_nll;
    }
    case Kind::binned: {
      const auto [mu, sigma] = log_params(m_r, s_r);
      const double la = std::log(lower), lb = std::log(upper);
      std::vector<double> lo, hi, c;
      for (std::size_t k = 0; k < counts.size(); ++k) {
        if (counts[k] <= 0) continue;
        lo.push_back(std::log(std::max(edges[k] - offset, lower)));
        hi.push_back(std::log(std::min(edges[k + 1] - offset, upper)));
        c.push_back(counts[k]);
      }
      const at::Tensor m = mu.unsqueeze(1), s = sigma.unsqueeze(1);
      const at::Tensor lp = log_normal_mass((at::tensor(lo, opt).unsqueeze(0) - m) / s, (at::tensor(hi, opt).unsqueeze(0) - m) / s) -
                            log_normal_mass((la - m) / s, (lb - m) / s);
      return -(at::tensor(c, opt).unsqueeze(0) * lp).sum(1) - reference_nll;
    }
  }
  return at::zeros({m_r.size(0)}, opt);
}

void SizePrior::check_support(double lower, double upper, const std::string& where) const {
  if (kind == Kind::radii) {
    for (std::size_t i = 0; i < radii.size(); ++i) {
      const double x = radii[i] - offset;
      if (!(x > lower && x < upper)) {
        throw InputError(where + ": size_prior.histogram " + file + ": radius " + num(radii[i]) + " Å (particle " +
                         std::to_string(i + 1) + ") minus offset " + num(offset) + " lies outside the truncation (" +
                         num(lower) + ", " + num(upper) + ") Å: widen truncation or drop the particle");
      }
    }
  }
  if (kind == Kind::binned) {
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (counts[k] > 0 && !(edges[k + 1] - offset > lower && edges[k] - offset < upper)) {
        throw InputError(where + ": size_prior.histogram " + file + ": bin " + std::to_string(k + 1) + " [" +
                         num(edges[k]) + ", " + num(edges[k + 1]) + "] Å holds particles but lies outside the truncation (" +
                         num(lower) + ", " + num(upper) + ") Å after the offset " + num(offset));
      }
    }
  }
}

std::string SizePrior::describe() const {
  const std::string off = offset != 0 ? ", offset " + num(offset) + " A (measured = model radius + offset)" : "";
  switch (kind) {
    case Kind::none:
      return "none";
    case Kind::moments:
      return std::string(intensity_weighted ? "intensity-weighted" : "number-weighted") + " radius mean " + num(mean) +
             " +- " + num(mean_error) + " A, SD " + num(sd) + " +- " + num(sd_error) + " A" +
             (particles > 0 ? " (from n = " + std::to_string(particles) + " particles)" : "") + off +
             "; NLL = 1/2 z_mean^2 + 1/2 z_SD^2 of the truncated log-normal's moments";
    case Kind::radii:
      return "radius list " + file + " (" + std::to_string(particles) + " particles, sha256 " + file_sha256 + ")" + off +
             "; NLL = -sum ln p(r_i) under the truncated log-normal, minus that of the untruncated ML log-normal";
    case Kind::binned:
      return "radius histogram " + file + " (" + std::to_string(counts.size()) + " bins, " + std::to_string(particles) +
             " particles, sha256 " + file_sha256 + ")" + off +
             "; NLL = -sum c_k ln P_k under the truncated log-normal, minus that of the observed fractions";
  }
  return "none";
}

std::string SizePrior::canonical() const {
  if (kind == Kind::none) return "none";
  std::ostringstream os;
  os << "kind=" << static_cast<int>(kind) << ";intensity=" << intensity_weighted << ";mean=" << num(mean)
     << ";sd=" << num(sd) << ";mean_error=" << num(mean_error) << ";sd_error=" << num(sd_error)
     << ";offset=" << num(offset) << ";file=" << file << ";sha256=" << file_sha256;
  return os.str();
}

SizePrior read_size_prior(const config::Record& r) {
  SizePrior p;
  p.offset = r.real("offset");
  p.intensity_weighted = r.string("quantity") == "intensity";
  if (!r.string("histogram").empty()) {
    read_histogram(p, r.string("histogram"));
    if (p.kind == SizePrior::Kind::radii) {
      // Reference: the untruncated log-normal fitted by maximum likelihood to ln(r − offset).
      double s1 = 0, s2 = 0;
      for (double v : p.radii) {
        if (!(v - p.offset > 0)) {
          throw InputError(r.where("offset") + "radius " + num(v) + " A of " + p.file + " minus the offset is <= 0");
        }
        p.log_radii.push_back(std::log(v - p.offset));
        s1 += p.log_radii.back();
      }
      const auto n = static_cast<double>(p.radii.size());
      const double mean_l = s1 / n;
      for (double v : p.radii) s2 += (std::log(v - p.offset) - mean_l) * (std::log(v - p.offset) - mean_l);
      const double sig = std::sqrt(std::max(s2 / n, 1e-300));
      p.reference_nll = s1 + n * (std::log(sig) + kHalfLn2Pi + 0.5);
    }
    return p;
  }
  if (!(r.real("mean") > 0)) return p;
  p.kind = SizePrior::Kind::moments;
  p.mean = r.real("mean");
  p.sd = r.real("sd");
  p.particles = r.integer("n");
  if (p.particles > 0) {
    const auto n = static_cast<double>(p.particles);
    p.mean_error = p.sd / std::sqrt(n);
    p.sd_error = p.sd / std::sqrt(2.0 * (n - 1.0));
  } else {
    p.mean_error = r.real("mean_error");
    p.sd_error = r.real("sd_error");
  }
  return p;
}

}  // namespace lnpsaxs::fit
