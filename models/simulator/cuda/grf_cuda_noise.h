#pragma once
// White noise generated directly in Fourier space, keyed like the reference path: the same inline
// functions run on the host (g++: tests, reference loops) and on the device (nvcc: the fused
// spectrum kernel), so a key gives the same spectrum on any host, device or shard (device values
// may differ from host values in the last bit where nvcc contracts a·b + c into an FMA).
//
// Layout: the rfft half spectrum of an N³ real field, [N, N, N/2 + 1] (C order), element (i, j, l)
// ↔ mode (f(i), f(j), l) with f(i) = i for i < N/2, else i − N (standard FFT order) and l ≥ 0 the
// halved last axis. The real field W = C2R(X) (unnormalised inverse, as cuFFT computes it) is iid
// N(0, 1) up to its mean (the DC coefficient is 0):
//   general mode        X = s·(z₀ + i z₁),   s = (2N³)^-½   (E|X|² = 1/N³, Re and Im each half)
//   self-conjugate mode X = s_c·z₀,          s_c = (N³)^-½  (the 8 modes with every index ∈ {0, N/2})
//   planes l = 0 and l = N/2: X(i, j, l) = conj X(mirror(i, j), l), mirror(i, j) = (−i mod N, −j mod N);
//   the member of each pair with the smaller row index i·N + j draws the numbers, the other takes
//   the complex conjugate, so the C2R input is a valid spectrum of a real field.
// Random numbers: Philox4x32-10 (the reference's generator) under key (key mod 2³², ⌊key/2³²⌋) at
// counter (b mod 2³², ⌊b/2³²⌋, kSpectralStream, 0), b = (i·N + j)·(N/4 + 1) + ⌊l/2⌋; the four words
// give two normal pairs by the reference's Box–Muller (normal_pair): words 0, 1 for even l, words
// 2, 3 for odd l. The stream word keeps these numbers apart from the reference's real-space white
// noise (stream word 0), which uses the same key.
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LNPSAXS_HD __host__ __device__ __forceinline__
#else
#define LNPSAXS_HD inline
#endif

namespace lnpsaxs::sim::grf_noise {

/// Third Philox counter word of the spectral noise stream (the real-space noise uses 0).
inline constexpr std::uint32_t kSpectralStream = 1u;

struct Words {
  std::uint32_t w[4];
};
struct Normal2 {
  float z0, z1;
};
struct Complex {
  float re, im;
};

LNPSAXS_HD std::uint32_t mul_hi(std::uint32_t a, std::uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(a) * b) >> 32);
#endif
}

LNPSAXS_HD float bits_to_float(std::uint32_t v) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(v);
#else
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
#endif
}

LNPSAXS_HD std::uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t v;
  std::memcpy(&v, &f, sizeof v);
  return v;
#endif
}

/// Philox4x32-10 (Salmon et al., SC'11): the simulator's one implementation, for the device, the
/// cpu backend and the reference (sim::philox4x32_10 calls it); Random123's known-answer vectors
/// are its tests.
LNPSAXS_HD Words philox(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                        std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    const std::uint32_t hi0 = mul_hi(kM0, c0), lo0 = kM0 * c0;
    const std::uint32_t hi1 = mul_hi(kM1, c2), lo1 = kM1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

/// Box–Muller from two words, the algorithm of sim::normal_pair: u = a·2⁻³² + 2⁻³³ ∈ (0, 1],
/// θ = 2π(b + ½)·2⁻³², z = √(−2 ln u)·(cos θ, sin θ); ln from the exponent and an atanh series of
/// the mantissa, cos/sin from the quadrant (top two bits of b) and Taylor series on (−π/4, π/4).
/// Float arithmetic only, no libm: identical on host and device up to FMA contraction.
LNPSAXS_HD Normal2 normal_pair(std::uint32_t a, std::uint32_t b) {
  const float u = static_cast<float>(a) * 2.3283064365386963e-10f + 1.1641532182693481e-10f;
  const std::uint32_t ubits = float_to_bits(u);
  std::uint32_t mbits = (ubits & 0x007FFFFFu) | 0x3F800000u;  // mantissa m ∈ [1, 2)
  int e = static_cast<int>(ubits >> 23) - 127;
  if (mbits > 0x3FB504F3u) {  // m > √2: use m/2 ∈ [√½, 1) and e + 1
    mbits -= 1u << 23;
    e += 1;
  }
  const float m = bits_to_float(mbits);
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float ln_m =
      2.0f * s * (1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9)))));
  const float r2 = -2.0f * (static_cast<float>(e) * 0.693147180559945f + ln_m);
#if defined(__CUDA_ARCH__)
  const float r = sqrtf(r2);
#else
  const float r = std::sqrt(r2);
#endif
  const std::uint32_t k = b >> 30;
  const float f = (static_cast<float>(b & 0x3FFFFFFFu) + 0.5f) * 9.313225746154785e-10f;
  const float ph = (f - 0.5f) * 1.5707963267948966f, p2 = ph * ph;
  const float sn =
      ph * (1.0f - p2 * (1.0f / 6 - p2 * (1.0f / 120 - p2 * (1.0f / 5040 - p2 * (1.0f / 362880)))));
  const float cs =
      1.0f - p2 * (0.5f - p2 * (1.0f / 24 - p2 * (1.0f / 720 - p2 * (1.0f / 40320 - p2 * (1.0f / 3628800)))));
  const float c45 = 0.70710678118654752f * (cs - sn);  // cos(π/4 + φ)
  const float s45 = 0.70710678118654752f * (cs + sn);  // sin(π/4 + φ)
  float x = (k & 1u) ? s45 : c45;
  float y = (k & 1u) ? c45 : s45;
  if (k == 1u || k == 2u) x = -x;
  if (k >= 2u) y = -y;
  return {r * x, r * y};
}

/// Philox blocks per half-spectrum row: one block covers the modes l = 2p and 2p + 1.
LNPSAXS_HD std::uint64_t blocks_per_row(std::int64_t n) { return static_cast<std::uint64_t>(n / 4 + 1); }

/// The four words of Philox block `block` under `key`.
LNPSAXS_HD Words block_words(std::uint64_t key, std::uint64_t block) {
  return philox(static_cast<std::uint32_t>(block), static_cast<std::uint32_t>(block >> 32), kSpectralStream,
                0u, static_cast<std::uint32_t>(key), static_cast<std::uint32_t>(key >> 32));
}

/// The two normals of mode l from the words of its block.
LNPSAXS_HD Normal2 slot_normals(const Words& w, std::int64_t l) {
  return (l & 1) ? normal_pair(w.w[2], w.w[3]) : normal_pair(w.w[0], w.w[1]);
}

/// Amplitudes: s = (2N³)^-½ for general modes, s_c = (N³)^-½ for self-conjugate ones (see top).
struct Scales {
  float general;
  float self_conjugate;
};
inline Scales scales_for(std::int64_t n) {
  const double n3 = static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return {static_cast<float>(1.0 / std::sqrt(2.0 * n3)), static_cast<float>(1.0 / std::sqrt(n3))};
}

/// White-noise coefficient X of half-spectrum element (i, j, l) (layout and law: see top).
/// `w` must be block_words(key, (i·N + j)·blocks_per_row(N) + l/2): the caller usually shares one
/// Philox call between l = 2p and 2p + 1. Modes of the self-mirrored planes whose mirror draws
/// the numbers make a second Philox call for the mirror's block.
LNPSAXS_HD Complex mode_value(std::uint64_t key, std::int64_t n, std::int64_t i, std::int64_t j,
                              std::int64_t l, const Words& w, Scales sc) {
  if (l == 0 || l == n / 2) {
    const std::int64_t row = i * n + j;
    const std::int64_t mrow = (i == 0 ? 0 : n - i) * n + (j == 0 ? 0 : n - j);
    if (mrow == row) {  // self-conjugate: real; DC is 0
      if (row == 0 && l == 0) return {0.0f, 0.0f};
      return {slot_normals(w, l).z0 * sc.self_conjugate, 0.0f};
    }
    if (mrow < row) {  // the mirror draws: conj of its value
      const Normal2 z = slot_normals(block_words(key, static_cast<std::uint64_t>(mrow) * blocks_per_row(n) +
                                                          static_cast<std::uint64_t>(l / 2)),
                                     l);
      return {z.z0 * sc.general, -z.z1 * sc.general};
    }
  }
  const Normal2 z = slot_normals(w, l);
  return {z.z0 * sc.general, z.z1 * sc.general};
}

/// Integer |k|² of element (i, j, l): f(i)² + f(j)² + l² with f the standard-order frequency
/// (index N/2 ↔ −N/2, as the reference's |q|² index).
LNPSAXS_HD std::int64_t mode_k2(std::int64_t n, std::int64_t i, std::int64_t j, std::int64_t l) {
  const std::int64_t fi = i < n / 2 ? i : i - n, fj = j < n / 2 ? j : j - n;
  return fi * fi + fj * fj + l * l;
}

/// How many modes of the full spectrum element (i, j, l) stands for: 1 on the planes l = 0 and
/// l = N/2 (their mirrors are stored too), else 2 (Parseval over the half spectrum).
LNPSAXS_HD int mode_multiplicity(std::int64_t n, std::int64_t l) { return (l == 0 || l == n / 2) ? 1 : 2; }

}  // namespace lnpsaxs::sim::grf_noise
