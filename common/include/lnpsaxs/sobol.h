#pragma once
// Randomised Sobol designs (docs/method.md §2; issue "Foundation").
//
// Points come from Boost.Random's `sobol_engine` (Joe–Kuo direction numbers, 32-bit output).
// Randomisation acts on the 32-bit digits of each coordinate and keeps the (t,m,s)-net property:
//  - `owen`: nested uniform scrambling (Owen 1995). Digit b of coordinate j is flipped by a random
//    bit that depends on (seed, j, b, the b more-significant ORIGINAL digits); distinct prefixes
//    get independent flips, i.e. a random permutation at every node of the digit tree. The flips
//    are hashed (SplitMix64), so point i depends only on (seed, i) and any index range can be
//    generated independently (Burley 2020 does the same with a cheaper, less exact hash).
//  - `digital_shift`: XOR every coordinate with a random 32-bit constant per dimension.
//  - `none`: the plain sequence.
// Point i of the design is Sobol index i in Gray-code order, starting at the origin (i = 0), so the
// first 2^m points form a (t,m,s)-net; Boost's engine, which skips the origin, supplies i ≥ 1.
// The coordinate value is (y + ½)·2⁻³², in (0, 1).
#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs {

enum class SobolRandomisation { none, digital_shift, owen };

/// Parses "owen" | "digital_shift" | "none"; throws InputError otherwise.
SobolRandomisation parse_sobol_randomisation(const std::string& s);

class SobolDesign {
 public:
  /// `dim` ∈ [1, 3667] (Boost's table). Throws InputError outside.
  SobolDesign(unsigned dim, SobolRandomisation r, std::uint64_t seed);

  /// Randomised 32-bit digits of points [first, first + count): row-major [count, dim].
  std::vector<std::uint32_t> integer_points(std::uint64_t first, std::uint64_t count) const;
  /// Points [first, first + count) in (0, 1): row-major [count, dim].
  std::vector<double> points(std::uint64_t first, std::uint64_t count) const;
  unsigned dim() const { return dim_; }

 private:
  std::uint32_t randomise(std::uint32_t x, unsigned j) const;
  unsigned dim_;
  SobolRandomisation r_;
  std::uint64_t seed_;
};

}  // namespace lnpsaxs
