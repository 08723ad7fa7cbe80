#pragma once
// Counter-based keys for every random draw of the pipeline. A draw is keyed by
// (run seed, stream, global item index, realisation index) and never by MPI rank or shard, so a
// result does not depend on how the work was split (docs/architecture.md §6).
#include <cstdint>

namespace lnpsaxs::rng {

/// Independent purposes that draw random numbers; the value is part of the key.
enum class Stream : std::uint64_t {
  sobol_train = 1,  ///< scrambling of the training-set Sobol design
  sobol_test = 2,   ///< scrambling of the held-out test-set Sobol design
  simulate = 3,     ///< GRF white noise of the training/test curves
  synth = 4,        ///< radii and GRF noise of the synthetic polydisperse targets
  fit = 5,          ///< multi-start initialisations
  analyze = 6,      ///< realised density fields in the report
  train = 7,        ///< surrogate weight initialisation and epoch shuffles
  posterior = 8,    ///< HMC momenta, acceptance draws and step-size jitter
};

/// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Key for one draw: chained mixing of (seed, stream, item, realisation). Distinct tuples give
/// distinct keys with overwhelming probability; the same tuple always gives the same key.
constexpr std::uint64_t derive_key(std::uint64_t seed, Stream stream, std::uint64_t item,
                                   std::uint64_t realisation = 0) {
  std::uint64_t k = mix64(seed);
  k = mix64(k ^ static_cast<std::uint64_t>(stream));
  k = mix64(k ^ item);
  return mix64(k ^ (realisation * 0xd1b54a32d192ed03ULL));
}

}  // namespace lnpsaxs::rng
