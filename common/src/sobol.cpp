#include "lnpsaxs/sobol.h"

#include <boost/random/sobol.hpp>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/random_key.h"

namespace lnpsaxs {

SobolRandomisation parse_sobol_randomisation(const std::string& s) {
  if (s == "owen") return SobolRandomisation::owen;
  if (s == "digital_shift") return SobolRandomisation::digital_shift;
  if (s == "none") return SobolRandomisation::none;
  throw InputError("unknown Sobol randomisation '" + s + "' (owen, digital_shift, none)");
}

SobolDesign::SobolDesign(unsigned dim, SobolRandomisation r, std::uint64_t seed)
    : dim_(dim), r_(r), seed_(seed) {
  if (dim < 1 || dim > 3667) throw InputError("Sobol dimension " + std::to_string(dim) + " outside [1, 3667]");
}

std::uint32_t SobolDesign::randomise(std::uint32_t x, unsigned j) const {
  switch (r_) {
    case SobolRandomisation::none:
      return x;
    case SobolRandomisation::digital_shift:
      return x ^ static_cast<std::uint32_t>(rng::mix64(rng::mix64(seed_ ^ 0x5348494654ULL) + j));
    case SobolRandomisation::owen: {
      const std::uint64_t dim_key = rng::mix64(rng::mix64(seed_ ^ 0x4f57454eULL) + j);
      std::uint32_t flips = 0;
      for (unsigned b = 0; b < 32; ++b) {
        // Node of the digit tree: depth b and the b leading original digits.
        const std::uint64_t prefix = b == 0 ? 0 : static_cast<std::uint64_t>(x >> (32 - b));
        const std::uint64_t node = (static_cast<std::uint64_t>(b) << 32) | prefix;
        flips |= static_cast<std::uint32_t>(rng::mix64(dim_key ^ rng::mix64(node)) & 1u) << (31 - b);
      }
      return x ^ flips;
    }
  }
  return x;
}

std::vector<std::uint32_t> SobolDesign::integer_points(std::uint64_t first, std::uint64_t count) const {
  if (first + count > (std::uint64_t{1} << 32) - 1) throw InputError("Sobol index beyond 2^32 - 1 points");
  // Boost's engine starts one past the origin (its point k is Sobol index k + 1); we put the
  // origin back as index 0 so that the first 2^m points form a complete net.
  boost::random::sobol_engine<std::uint32_t, 32> engine(dim_);
  if (first > 1) engine.seed(static_cast<std::uint32_t>(first - 1));
  std::vector<std::uint32_t> out(count * dim_);
  for (std::uint64_t i = 0; i < count; ++i) {
    const bool origin = first + i == 0;
    for (unsigned j = 0; j < dim_; ++j) out[i * dim_ + j] = randomise(origin ? 0u : engine(), j);
  }
  return out;
}

std::vector<double> SobolDesign::points(std::uint64_t first, std::uint64_t count) const {
  const std::vector<std::uint32_t> ints = integer_points(first, count);
  std::vector<double> out(ints.size());
  constexpr double scale = 1.0 / 4294967296.0;
  for (std::size_t i = 0; i < ints.size(); ++i) out[i] = (static_cast<double>(ints[i]) + 0.5) * scale;
  return out;
}

}  // namespace lnpsaxs
