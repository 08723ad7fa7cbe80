// The fused CPU backend of the GRF simulator (see grf_cpu.h for the pipeline and docs/cpu.md for
// the measurements). The noise, the Hermitian planes and the masks are the CUDA backend's code
// (grf_cuda_noise.h, grf_cuda_geometry.h, grf_cuda_host.h); the grid/q/structure checks and the
// radial weights come from a CPU reference GrfSimulator with a homogeneous interior, exactly as
// in the CUDA backend's host glue, so all three backends share them.
#include "models/simulator/cpu/grf_cpu.h"

#include <ATen/core/Tensor.h>
#include <fcntl.h>
#include <fftw3.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <utility>

#if defined(_OPENMP)
#include <omp.h>
#define LNPSAXS_PRAGMA(x) _Pragma(#x)
#define LNPSAXS_OMP(x) LNPSAXS_PRAGMA(omp x)
#else
#define LNPSAXS_OMP(x)
#endif

#include "models/simulator/cuda/grf_cuda_geometry.h"
#include "models/simulator/cuda/grf_cuda_host.h"
#include "models/simulator/cuda/grf_cuda_noise.h"
#include "models/simulator/grf_simulator.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/physics/form_factor.h"

namespace lnpsaxs::sim {
namespace {

namespace gn = grf_noise;
namespace gg = grf_geometry;
namespace fs = std::filesystem;

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// FFTW's planner (and wisdom) is process-global and not thread-safe; execution is.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct FloatFree {
  void operator()(void* p) const { fftwf_free(p); }
};
struct DoubleFree {
  void operator()(void* p) const { fftw_free(p); }
};
template <typename T>
using FloatBuffer = std::unique_ptr<T[], FloatFree>;
template <typename T>
using DoubleBuffer = std::unique_ptr<T[], DoubleFree>;

template <typename T>
FloatBuffer<T> float_alloc(std::size_t count) {
  void* p = fftwf_malloc(std::max<std::size_t>(count, 1) * sizeof(T));
  if (p == nullptr)
    throw RuntimeFailure("cpu simulator: fftwf_malloc of " + std::to_string(count * sizeof(T)) +
                         " bytes failed");
  return FloatBuffer<T>(static_cast<T*>(p));
}
template <typename T>
DoubleBuffer<T> double_alloc(std::size_t count) {
  void* p = fftw_malloc(std::max<std::size_t>(count, 1) * sizeof(T));
  if (p == nullptr)
    throw RuntimeFailure("cpu simulator: fftw_malloc of " + std::to_string(count * sizeof(T)) +
                         " bytes failed");
  return DoubleBuffer<T>(static_cast<T*>(p));
}

struct FloatPlan {
  fftwf_plan p = nullptr;
  FloatPlan() = default;
  explicit FloatPlan(fftwf_plan plan, const char* call) : p(plan) {
    if (p == nullptr) throw RuntimeFailure(std::string("cpu simulator: ") + call + " returned no plan");
  }
  ~FloatPlan() {
    if (p != nullptr) fftwf_destroy_plan(p);
  }
  FloatPlan(FloatPlan&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  FloatPlan& operator=(FloatPlan&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
};
struct DoublePlan {
  fftw_plan p = nullptr;
  DoublePlan() = default;
  explicit DoublePlan(fftw_plan plan, const char* call) : p(plan) {
    if (p == nullptr) throw RuntimeFailure(std::string("cpu simulator: ") + call + " returned no plan");
  }
  ~DoublePlan() {
    if (p != nullptr) fftw_destroy_plan(p);
  }
  DoublePlan(DoublePlan&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  DoublePlan& operator=(DoublePlan&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
};

/// An exclusive flock(2) on `path` for the scope (blocking; released by the kernel if the process
/// dies). Serialises wisdom making between the ranks and array tasks of a run.
class WisdomLock {
 public:
  explicit WisdomLock(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~WisdomLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  WisdomLock(const WisdomLock&) = delete;
  WisdomLock& operator=(const WisdomLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

/// Writes `text` to `path` through a temporary file and a rename (never a half-written file).
bool write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

std::string take_string(char* s) {
  std::string out = s != nullptr ? s : "";
  if (s != nullptr) std::free(s);  // FFTW allocates exported wisdom with malloc
  return out;
}

// ---- the fused arithmetic ------------------------------------------------------------------------

// The two hot loops are compiled twice, for AVX2 and for the baseline, and picked at load time
// (GCC function multi-versioning). Same IEEE operations in the same order in both (no FMA:
// -ffp-contract=off, and the avx2 clone does not enable FMA), so the bits do not depend on the CPU.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LNPSAXS_VECTOR_CLONES __attribute__((noinline, target_clones("avx2", "default")))
#else
#define LNPSAXS_VECTOR_CLONES __attribute__((noinline))
#endif

/// ½·tanh(t) from e = 2^y, y = −2|t|·log₂e (clamped at −126), by a degree-7 polynomial for 2^f on
/// f ∈ [−½, ½] and the exponent bits: branch-free, so the per-plane loop vectorises. Absolute
/// error < 1e-7 (the float rounding of S itself); it stands for the logistic S − ½ = ½·tanh(G/2).
inline float half_tanh(float t) {
  std::uint32_t tb;
  std::memcpy(&tb, &t, sizeof tb);
  const std::uint32_t sign = tb & 0x80000000u;
  const std::uint32_t ab = tb & 0x7FFFFFFFu;
  float a;
  std::memcpy(&a, &ab, sizeof a);
  const float y0 = -2.8853900817779268f * a;  // −2|t|·log₂e
  const float y = y0 > -126.0f ? y0 : -126.0f;
  const int ni = static_cast<int>(y - 0.5f);  // ceil(y − ½): f = y − ni ∈ [−½, ½]
  const float f = y - static_cast<float>(ni);
  // 2^f = e^{f ln2}: Taylor to degree 7 (remainder < 2e-9 on |f| ≤ ½).
  const float p =
      1.0f + f * (0.69314718056f +
                  f * (0.24022650695f +
                       f * (0.05550410866f +
                            f * (0.00961812911f +
                                 f * (0.00133335581f + f * (0.00015403530f + f * 0.00001525273f))))));
  std::uint32_t bits = static_cast<std::uint32_t>(ni + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = p * scale;
  const float th = 0.5f * ((1.0f - e) / (1.0f + e));  // ≥ 0
  std::uint32_t hb;
  std::memcpy(&hb, &th, sizeof hb);
  hb |= sign;
  float out;
  std::memcpy(&out, &hb, sizeof out);
  return out;
}

/// v[z] = ½·tanh(g[z]·scale) for z < n (restrict: g and v never overlap, so the loop vectorises
/// without a run-time alias check).
LNPSAXS_VECTOR_CLONES void logistic_column(const float* __restrict g, float* __restrict v, std::int64_t n,
                                           float scale) {
  LNPSAXS_OMP(simd)
  for (std::int64_t z = 0; z < n; ++z) v[z] = half_tanh(g[z] * scale);
}

// ---- Philox words: AVX2, 8 blocks per vector (the integer twin of gn::block_words) ---------------

#if defined(__GNUC__) && defined(__x86_64__)
#define LNPSAXS_PHILOX_AVX2 1

/// One Philox4x32-10 round on 8 lanes: lo and hi of the 32 × 32 → 64-bit products from vpmuludq on
/// the even and the odd lanes; the round keys are the same for every lane (one key), so they stay
/// scalar (broadcast).
struct Philox8 {
  __m256i c0, c1, c2, c3;
};
__attribute__((target("avx2"), always_inline)) inline void philox_round(Philox8& x, __m256i m0, __m256i m1,
                                                                        std::uint32_t k0, std::uint32_t k1) {
  const __m256i pe0 = _mm256_mul_epu32(x.c0, m0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(x.c0, 32), m0);
  const __m256i pe1 = _mm256_mul_epu32(x.c2, m1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(x.c2, 32), m1);
  const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
  const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
  const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
  const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
  x.c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x.c1), _mm256_set1_epi32(static_cast<int>(k0)));
  x.c1 = lo1;
  x.c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x.c3), _mm256_set1_epi32(static_cast<int>(k1)));
  x.c3 = lo0;
}

/// Words w[4b + k] of the 8 blocks in lanes b = 0 … 7 of x ([word][block] → [block][word]).
__attribute__((target("avx2"), always_inline)) inline void store_words(std::uint32_t* w, const Philox8& x) {
  const __m256i t0 = _mm256_unpacklo_epi32(x.c0, x.c1), t1 = _mm256_unpackhi_epi32(x.c0, x.c1);
  const __m256i t2 = _mm256_unpacklo_epi32(x.c2, x.c3), t3 = _mm256_unpackhi_epi32(x.c2, x.c3);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);  // blocks 0|4, 1|5
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);  // blocks 2|6, 3|7
  auto* out = reinterpret_cast<__m256i*>(w);
  _mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
  _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
  _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
  _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
}

/// Box–Muller on 8 lanes: gn::normal_pair(a, b) for each lane, the same IEEE operations in the same
/// order (no FMA), so the bits equal the scalar function's. uint32 → float is not an AVX2
/// instruction: float(a >> 16)·2¹⁶ + float(a & 0xFFFF) is the same correctly rounded value (both
/// terms exact, one rounding).
struct Normal8 {
  __m256 z0, z1;
};
__attribute__((target("avx2"), always_inline)) inline Normal8 normal_pair8(__m256i a, __m256i b) {
#define ps(v) _mm256_set1_ps(v)
#define epi(v) _mm256_set1_epi32(static_cast<int>(v))
  const __m256 one = ps(1.0f);
  const __m256 af = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(a, 16)), ps(65536.0f)),
                                  _mm256_cvtepi32_ps(_mm256_and_si256(a, epi(0xFFFFu))));
  const __m256 u = _mm256_add_ps(_mm256_mul_ps(af, ps(2.3283064365386963e-10f)), ps(1.1641532182693481e-10f));
  const __m256i ub = _mm256_castps_si256(u);
  __m256i mb = _mm256_or_si256(_mm256_and_si256(ub, epi(0x007FFFFFu)), epi(0x3F800000u));
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(ub, 23), epi(127u));
  const __m256i big = _mm256_cmpgt_epi32(mb, epi(0x3FB504F3u));  // m > √2 (all ones): m/2, e + 1
  mb = _mm256_sub_epi32(mb, _mm256_and_si256(big, epi(1u << 23)));
  e = _mm256_sub_epi32(e, big);
  const __m256 m = _mm256_castsi256_ps(mb);
  const __m256 s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
  const __m256 s2 = _mm256_mul_ps(s, s);
  __m256 t = _mm256_mul_ps(s2, ps(1.0f / 9));
  t = _mm256_mul_ps(s2, _mm256_add_ps(ps(1.0f / 7), t));
  t = _mm256_mul_ps(s2, _mm256_add_ps(ps(1.0f / 5), t));
  t = _mm256_mul_ps(s2, _mm256_add_ps(ps(1.0f / 3), t));
  const __m256 ln_m = _mm256_mul_ps(_mm256_mul_ps(ps(2.0f), s), _mm256_add_ps(one, t));
  const __m256 r2 =
      _mm256_mul_ps(ps(-2.0f), _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(e), ps(0.693147180559945f)), ln_m));
  const __m256 r = _mm256_sqrt_ps(r2);
  const __m256i k = _mm256_srli_epi32(b, 30);
  const __m256 f = _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(_mm256_and_si256(b, epi(0x3FFFFFFFu))), ps(0.5f)),
                                 ps(9.313225746154785e-10f));
  const __m256 ph = _mm256_mul_ps(_mm256_sub_ps(f, ps(0.5f)), ps(1.5707963267948966f));
  const __m256 p2 = _mm256_mul_ps(ph, ph);
  __m256 a5 = _mm256_mul_ps(p2, ps(1.0f / 362880));
  a5 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 5040), a5));
  a5 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 120), a5));
  a5 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 6), a5));
  const __m256 sn = _mm256_mul_ps(ph, _mm256_sub_ps(one, a5));
  __m256 c6 = _mm256_mul_ps(p2, ps(1.0f / 3628800));
  c6 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 40320), c6));
  c6 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 720), c6));
  c6 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(1.0f / 24), c6));
  c6 = _mm256_mul_ps(p2, _mm256_sub_ps(ps(0.5f), c6));
  const __m256 cs = _mm256_sub_ps(one, c6);
  const __m256 c45 = _mm256_mul_ps(ps(0.70710678118654752f), _mm256_sub_ps(cs, sn));
  const __m256 s45 = _mm256_mul_ps(ps(0.70710678118654752f), _mm256_add_ps(cs, sn));
  const __m256 odd = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(k, epi(1u)), epi(1u)));
  const __m256 sign = _mm256_castsi256_ps(epi(0x80000000u));
  const __m256 neg_x =
      _mm256_castsi256_ps(_mm256_or_si256(_mm256_cmpeq_epi32(k, epi(1u)), _mm256_cmpeq_epi32(k, epi(2u))));
  const __m256 neg_y = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, epi(1u)));
  const __m256 x = _mm256_xor_ps(_mm256_blendv_ps(c45, s45, odd), _mm256_and_ps(neg_x, sign));
  const __m256 y = _mm256_xor_ps(_mm256_blendv_ps(s45, c45, odd), _mm256_and_ps(neg_y, sign));
  return {_mm256_mul_ps(r, x), _mm256_mul_ps(r, y)};
#undef ps
#undef epi
}

/// The noise of the 16 Philox blocks first … first + 15 (low counter words must not wrap), all in
/// registers: words w[4b + k] (as gn::block_words) and z[4b … 4b + 3] = (z₀, z₁) of words 0, 1 and
/// of words 2, 3, × scale (as noise_from_words), bit for bit.
__attribute__((target("avx2"))) void noise16_avx2(float* z, std::uint32_t* w, std::uint64_t key,
                                                   std::uint64_t first, float scale) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i lo = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(first)));
  const __m256i hi = _mm256_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(first >> 32)));
  const __m256i stream = _mm256_set1_epi32(static_cast<int>(gn::kSpectralStream));
  Philox8 x[2] = {
      {_mm256_add_epi32(lo, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), hi, stream, _mm256_setzero_si256()},
      {_mm256_add_epi32(lo, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15)), hi, stream, _mm256_setzero_si256()}};
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    philox_round(x[0], m0, m1, k0, k1);
    philox_round(x[1], m0, m1, k0, k1);
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const __m256 sc = _mm256_set1_ps(scale);
  for (int h = 0; h < 2; ++h) {
    store_words(w + 32 * h, x[h]);
    const Normal8 a = normal_pair8(x[h].c0, x[h].c1), b = normal_pair8(x[h].c2, x[h].c3);
    const Philox8 out{_mm256_castps_si256(_mm256_mul_ps(a.z0, sc)), _mm256_castps_si256(_mm256_mul_ps(a.z1, sc)),
                      _mm256_castps_si256(_mm256_mul_ps(b.z0, sc)), _mm256_castps_si256(_mm256_mul_ps(b.z1, sc))};
    store_words(reinterpret_cast<std::uint32_t*>(z + 32 * h), out);
  }
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

/// The words of Philox blocks first … first + count − 1 under `key`: w[4p + k] =
/// gn::block_words(key, first + p).w[k] (the scalar function: the tail that noise16_avx2 leaves, or
/// every block on a CPU without AVX2).
void philox_words(std::uint32_t* w, std::uint64_t key, std::uint64_t first, std::int64_t count) {
  for (std::int64_t p = 0; p < count; ++p) {
    const gn::Words x = gn::block_words(key, first + static_cast<std::uint64_t>(p));
    std::memcpy(w + 4 * p, x.w, sizeof x.w);
  }
}

/// The general-mode noise from `count` Philox blocks' words (philox_words): block b gives the modes
/// l = 2p, 2p + 1 of its row (gn::slot_normals), × s, as floats z[4b … 4b + 3].
LNPSAXS_VECTOR_CLONES void noise_from_words(float* __restrict z, const std::uint32_t* __restrict w,
                                            std::int64_t count, float scale) {
  LNPSAXS_OMP(simd)
  for (std::int64_t p = 0; p < count; ++p) {
    const gn::Normal2 a = gn::normal_pair(w[4 * p], w[4 * p + 1]);
    const gn::Normal2 b = gn::normal_pair(w[4 * p + 2], w[4 * p + 3]);
    z[4 * p] = a.z0 * scale;
    z[4 * p + 1] = a.z1 * scale;
    z[4 * p + 2] = b.z0 * scale;
    z[4 * p + 3] = b.z1 * scale;
  }
}

/// Σ x[0 … n) in double with four interleaved partial sums (element k into sum k mod 4), combined
/// as (s0 + s1) + (s2 + s3): a fixed order that does not depend on the compiler's vectorisation, and
/// four times fewer dependent additions than a single running sum.
double sum4(const float* x, std::int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += static_cast<double>(x[k]);
    s1 += static_cast<double>(x[k + 1]);
    s2 += static_cast<double>(x[k + 2]);
    s3 += static_cast<double>(x[k + 3]);
  }
  for (; k < n; ++k) s0 += static_cast<double>(x[k]);
  return (s0 + s1) + (s2 + s3);
}

/// Words w[4p + k] and general-mode noise z[4p … 4p + 3] of the Philox blocks first … first +
/// count − 1 (philox_words, then noise_from_words; the AVX2 path does both in registers, 16 blocks
/// at a time, with the same bits).
void noise_and_words(float* z, std::uint32_t* w, std::uint64_t key, std::uint64_t first, std::int64_t count,
                     float scale) {
  std::int64_t p = 0;
#if defined(LNPSAXS_PHILOX_AVX2)
  if (cpu_has_avx2()) {
    for (; p + 16 <= count; p += 16) {
      const std::uint64_t b = first + static_cast<std::uint64_t>(p);
      if (static_cast<std::uint32_t>(b) > 0xFFFFFFEFu) break;  // the low word wraps inside: scalar
      noise16_avx2(z + 4 * p, w + 4 * p, key, b, scale);
    }
  }
#endif
  philox_words(w + 4 * p, key, first + static_cast<std::uint64_t>(p), count - p);
  noise_from_words(z + 4 * p, w + 4 * p, count - p, scale);
}

/// One half-spectrum row: o[2l], o[2l + 1] = z[2l], z[2l + 1] × table[k2_row + l²] for l ≤ N/2
/// (table null: a copy); returns the row's Parseval sum |o_0|² + |o_{N/2}|² + 2·Σ_{0<l<N/2} |o_l|²
/// (the planes l = 0 and N/2 count once, the others twice: gn::mode_multiplicity), in double, the
/// interior sum in four interleaved partial sums (l − 1 mod 4; a tail into the first) combined as
/// (s0 + s1) + (s2 + s3): a fixed order whatever the compiler vectorises.
LNPSAXS_VECTOR_CLONES double filter_row(float* __restrict o, const float* __restrict z,
                                        const float* __restrict table, std::int64_t k2_row, std::int64_t n) {
  const std::int64_t nh = n / 2 + 1;
  if (table != nullptr) {
    const float* t = table + k2_row;
    LNPSAXS_OMP(simd)
    for (std::int64_t l = 0; l < nh; ++l) {
      const float f = t[l * l];
      o[2 * l] = z[2 * l] * f;
      o[2 * l + 1] = z[2 * l + 1] * f;
    }
  } else {
    std::memcpy(o, z, static_cast<std::size_t>(2 * nh) * sizeof(float));
  }
  const auto sq = [o](std::int64_t l) {
    const double re = o[2 * l], im = o[2 * l + 1];
    return re * re + im * im;
  };
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::int64_t l = 1;
  for (; l + 4 <= n / 2; l += 4) {
    s0 += sq(l);
    s1 += sq(l + 1);
    s2 += sq(l + 2);
    s3 += sq(l + 3);
  }
  for (; l < n / 2; ++l) s0 += sq(l);
  return (sq(0) + sq(n / 2)) + 2.0 * ((s0 + s1) + (s2 + s3));
}

/// Rows (i, j) and (i, j + 1) of the half spectrum (their Philox blocks are consecutive): the CUDA
/// backend's white noise (gn::mode_value for every l; the general modes through noise_blocks, the
/// planes l = 0 and N/2 with their Hermitian mirrors and real self-conjugate modes exactly as the
/// device draws them), × the filter table (none: ≡ 1), written to out[0 … 2(N/2+1)); returns the
/// rows' Parseval sum Σ mult·|X|² in a fixed order. `scratch` holds 8·(N/4 + 1) floats and
/// `words` 8·(N/4 + 1) words.
double fill_row_pair(std::complex<float>* out, std::int64_t n, std::int64_t i, std::int64_t j,
                     std::uint64_t key, gn::Scales sc, const float* table, float* scratch, std::uint32_t* words) {
  const std::int64_t nh = n / 2 + 1;
  const auto bpr = static_cast<std::int64_t>(gn::blocks_per_row(n));
  const std::uint64_t first = static_cast<std::uint64_t>(i * n + j) * static_cast<std::uint64_t>(bpr);
  noise_and_words(scratch, words, key, first, 2 * bpr, sc.general);
  double acc = 0.0;
  for (std::int64_t h = 0; h < 2; ++h) {
    float* z = scratch + 4 * bpr * h;  // row j + h: modes l at z[2l], z[2l + 1]
    for (const std::int64_t l : {std::int64_t{0}, n / 2}) {
      gn::Words w;  // block l/2 of row j + h, already drawn
      std::memcpy(w.w, words + 4 * (h * bpr + l / 2), sizeof w.w);
      const gn::Complex v = gn::mode_value(key, n, i, j + h, l, w, sc);
      z[2 * l] = v.re;
      z[2 * l + 1] = v.im;
    }
    float* o = reinterpret_cast<float*>(out + h * nh);
    const std::int64_t fi = i < n / 2 ? i : i - n, fj = j + h < n / 2 ? j + h : j + h - n;
    acc += filter_row(o, z, table, fi * fi + fj * fj, n);
  }
  return acc;
}

/// What phase B leaves behind besides the sums.
enum class PlaneOutput { sums, standardised, raw };

}  // namespace

struct GrfSimulatorCpu::Impl {
  Impl(const GridSpec& grid, std::vector<double> q, Interior kind, CpuOptions opts)
      : reference(grid, std::move(q), c10::Device(c10::kCPU), Interior::homogeneous),
        interior(kind),
        options(std::move(opts)) {
    if (options.threads < 1)
      throw InputError("cpu simulator: threads must be >= 1, got " + std::to_string(options.threads));
    const GridSpec& g = reference.grid();
    n = g.n;
    nh = n / 2 + 1;
    nf = g.n_fft;
    nfh = nf / 2 + 1;
    smooth = g.smooth_sigma_px > 0.0;
    if (smooth) smoothing = cuda_host::smoothing_factor(n, g.smooth_sigma_px);
    const at::Tensor idx = reference.radial_index().contiguous(), wt = reference.radial_weight().contiguous();
    n_q = idx.size(0);
    radial_k = idx.size(1);
    radial_index.assign(idx.data_ptr<std::int64_t>(), idx.data_ptr<std::int64_t>() + idx.numel());
    radial_weight.assign(wt.data_ptr<double>(), wt.data_ptr<double>() + wt.numel());
    make_plans();
  }

  GrfSimulator reference;  // CPU, homogeneous: grid/q/structure checks and the radial weights
  Interior interior;
  CpuOptions options;
  std::int64_t n = 0, nh = 0, nf = 0, nfh = 0, n_q = 0, radial_k = 0;
  bool smooth = false;
  std::vector<double> smoothing;  // [N, N/2+1] exp(−½σ²k²)
  std::vector<std::int64_t> radial_index;
  std::vector<double> radial_weight;

  // 3-D (float32): the half spectrum, in place of the real field [N][N][2(N/2+1)].
  FloatBuffer<std::complex<float>> field;
  FloatPlan axis0;  // inverse complex FFT along axis 0 of 2 columns j (2(N/2+1) transforms)
  FloatPlan plane;  // 2-D C2R of planes_per_unit() consecutive planes, in place
  // 2-D (float64).
  DoubleBuffer<double> proj, padded;
  DoubleBuffer<std::complex<double>> spec2, spec_padded;
  DoublePlan smooth_forward, smooth_inverse, padded_forward;

  std::size_t cols() const { return static_cast<std::size_t>(n * n); }
  std::size_t half3() const { return cols() * static_cast<std::size_t>(nh); }
  /// Complex values from plane i to plane i + 1 of the field: N(N/2+1) padded so that the plane
  /// stride in bytes is 64 mod 4096. Unpadded, the stride is often a multiple of 4 KiB (N = 512:
  /// 257 × 4 KiB), so the N values of one axis-0 column all fall into the same cache set and
  /// FFTW falls back to transposing the data (measured at N = 512: axis 0 in 208 ms unpadded,
  /// 92 ms padded).
  std::int64_t plane_stride() const {
    const std::int64_t bytes = n * nh * static_cast<std::int64_t>(sizeof(std::complex<float>));
    const std::int64_t pad_bytes = ((64 - bytes % 4096) % 4096 + 4096) % 4096;
    return n * nh + pad_bytes / static_cast<std::int64_t>(sizeof(std::complex<float>));
  }
  std::size_t field_size() const { return static_cast<std::size_t>(plane_stride() * n); }
  /// Row (i, j) of the half spectrum (N/2 + 1 complex values).
  std::complex<float>* row(std::int64_t i, std::int64_t j) const { return field.get() + i * plane_stride() + j * nh; }
  std::int64_t units_a() const { return n / 2; }  // pairs of columns j
  /// Planes transformed together in phase B: the largest power of two (≤ 16) dividing N whose
  /// planes fit in ~1.1 MiB (about one core's L2): FFTW vectorises across them (measured at
  /// N = 256: 4 planes per call 31 ms for all planes, 1 per call 47 ms; at N = 512 one plane is
  /// 1 MiB and 1 per call is best). Fixed by N, so the work units do not depend on the threads.
  std::int64_t planes_per_unit() const {
    const double plane_bytes = static_cast<double>(plane_stride()) * sizeof(std::complex<float>);
    std::int64_t b = 1;
    while (b < 16 && n % (2 * b) == 0 && static_cast<double>(2 * b) * plane_bytes <= 1.1 * 1048576.0) b *= 2;
    return b;
  }
  int threads() const { return options.threads; }

  std::string wisdom_base() const {
    return options.wisdom_dir + "/fftw-N" + std::to_string(n) + "-F" + std::to_string(nf);
  }

  void make_plans() {
    field = float_alloc<std::complex<float>>(field_size());
    proj = double_alloc<double>(cols());
    spec2 = double_alloc<std::complex<double>>(static_cast<std::size_t>(n * nh));
    padded = double_alloc<double>(static_cast<std::size_t>(nf * nf));
    spec_padded = double_alloc<std::complex<double>>(static_cast<std::size_t>(nf * nfh));

    std::lock_guard<std::mutex> guard(planner_mutex());
    std::unique_ptr<WisdomLock> lock;
    std::string f32_file, f64_file, f32_before, f64_before;
    if (!options.wisdom_dir.empty()) {
      std::error_code ec;
      fs::create_directories(options.wisdom_dir, ec);
      lock = std::make_unique<WisdomLock>(wisdom_base() + ".lock");
      if (!lock->held()) log::warn("cpu simulator: cannot lock {}.lock; planning without it", wisdom_base());
      f32_file = wisdom_base() + "-f32.wisdom";
      f64_file = wisdom_base() + "-f64.wisdom";
      f32_before = read_text(f32_file);
      f64_before = read_text(f64_file);
      if (!f32_before.empty() && fftwf_import_wisdom_from_string(f32_before.c_str()) == 0)
        log::warn("cpu simulator: {} is not FFTW wisdom; measuring the plans again", f32_file);
      if (!f64_before.empty() && fftw_import_wisdom_from_string(f64_before.c_str()) == 0)
        log::warn("cpu simulator: {} is not FFTW wisdom; measuring the plans again", f64_file);
    }
    const auto t0 = Clock::now();
    const unsigned measure = FFTW_MEASURE;
    if (interior == Interior::grf) {
      auto* c = reinterpret_cast<fftwf_complex*>(field.get());
      // Axis 0: unit u covers the columns j = 2u, 2u + 1 (2(N/2+1) contiguous transforms of
      // stride N(N/2+1)). Every unit must run the same plan: if some unit's start is aligned
      // differently from unit 0's, plan without SIMD alignment assumptions.
      unsigned axis0_flags = measure;
      auto* r = reinterpret_cast<float*>(field.get());
      for (std::int64_t u = 1; u < units_a(); ++u)
        if (fftwf_alignment_of(r + 2 * (2 * u * nh)) != fftwf_alignment_of(r)) axis0_flags |= FFTW_UNALIGNED;
      const int len[] = {static_cast<int>(n)};
      const int stride = static_cast<int>(plane_stride());
      axis0 = FloatPlan(fftwf_plan_many_dft(1, len, static_cast<int>(2 * nh), c, nullptr, stride, 1, c,
                                            nullptr, stride, 1, FFTW_BACKWARD, axis0_flags),
                        "fftwf_plan_many_dft(axis 0)");
      const int dims[] = {static_cast<int>(n), static_cast<int>(n)};
      const int inembed[] = {static_cast<int>(n), static_cast<int>(nh)};
      const int onembed[] = {static_cast<int>(n), static_cast<int>(2 * nh)};
      const int ps = static_cast<int>(plane_stride());
      plane = FloatPlan(fftwf_plan_many_dft_c2r(2, dims, static_cast<int>(planes_per_unit()), c, inembed, 1, ps, r,
                                                onembed, 1, 2 * ps, measure),
                        "fftwf_plan_many_dft_c2r(planes)");
    }
    if (smooth) {
      smooth_forward = DoublePlan(fftw_plan_dft_r2c_2d(static_cast<int>(n), static_cast<int>(n), proj.get(),
                                                       reinterpret_cast<fftw_complex*>(spec2.get()), measure),
                                  "fftw_plan_dft_r2c_2d(smoothing)");
      smooth_inverse =
          DoublePlan(fftw_plan_dft_c2r_2d(static_cast<int>(n), static_cast<int>(n),
                                          reinterpret_cast<fftw_complex*>(spec2.get()), proj.get(), measure),
                     "fftw_plan_dft_c2r_2d(smoothing)");
    }
    padded_forward = DoublePlan(fftw_plan_dft_r2c_2d(static_cast<int>(nf), static_cast<int>(nf), padded.get(),
                                                     reinterpret_cast<fftw_complex*>(spec_padded.get()),
                                                     measure | FFTW_PRESERVE_INPUT),
                                "fftw_plan_dft_r2c_2d(padded)");
    // Planning scribbles on the arrays: the padding must start (and, preserved, stay) zero.
    std::fill(padded.get(), padded.get() + nf * nf, 0.0);
    const double planning_s = ms_since(t0) / 1000.0;
    if (!options.wisdom_dir.empty()) {
      const std::string f32_after = take_string(fftwf_export_wisdom_to_string());
      const std::string f64_after = take_string(fftw_export_wisdom_to_string());
      bool ok = true;
      if (f32_after != f32_before) ok &= write_text_atomically(f32_file, f32_after);
      if (f64_after != f64_before) ok &= write_text_atomically(f64_file, f64_after);
      if (!ok) log::warn("cpu simulator: could not write the FFTW wisdom {}-f32/f64.wisdom", wisdom_base());
      if (planning_s > 1.0 || f32_after != f32_before)
        log::info("cpu simulator: FFTW plans for N = {}, N_f = {} made in {:.1f} s ({} wisdom in {})", n, nf,
                  planning_s, f32_before.empty() ? "new" : "updated", options.wisdom_dir);
    }
  }

  // ---- validation --------------------------------------------------------------------------------

  void validate(const Structure& s) const {
    reference.validate(s);
    if (interior == Interior::grf) validate_grf_spectrum(s);
  }
  void require_grf(const char* what) const {
    if (interior != Interior::grf)
      throw InputError(std::string(what) + ": the simulator has a homogeneous interior");
  }
  std::vector<float> table_of(const Structure& s) const {
    return spectral_filter_table(n, reference.delta_q_3d(), s);
  }

  // ---- phase A: noise × filter, Parseval, FFT along axis 0 ----------------------------------------

  /// Fills the half spectrum of `key` (× table unless null) and, if `fft0`, transforms axis 0.
  /// Returns the Parseval variance Σ mult·|X|² (the population variance of the real field).
  double phase_a(std::uint64_t key, const float* table, bool fft0) const {
    const gn::Scales sc = gn::scales_for(n);
    const std::int64_t units = units_a();
    std::vector<double> partial(static_cast<std::size_t>(units), 0.0);
    const std::int64_t bpr = static_cast<std::int64_t>(gn::blocks_per_row(n));
    LNPSAXS_OMP(parallel num_threads(threads())) {
      std::vector<float> scratch(static_cast<std::size_t>(8 * bpr));
      std::vector<std::uint32_t> words(static_cast<std::size_t>(8 * bpr));
      LNPSAXS_OMP(for schedule(static))
      for (std::int64_t u = 0; u < units; ++u) {
        double acc = 0.0;
        for (std::int64_t i = 0; i < n; ++i)
          acc += fill_row_pair(row(i, 2 * u), n, i, 2 * u, key, sc, table, scratch.data(), words.data());
        partial[static_cast<std::size_t>(u)] = acc;
        if (fft0) {
          auto* c = reinterpret_cast<fftwf_complex*>(row(0, 2 * u));
          fftwf_execute_dft(axis0.p, c, c);
        }
      }
    }
    double var = 0.0;
    for (const double p : partial) var += p;  // unit order: independent of the thread count
    return var;
  }

  // ---- phase B: per-plane C2R, logistic, sums ----------------------------------------------------

  struct Masks {
    std::vector<std::vector<std::int32_t>> outer, core;  // [particle][N²] column half extents
  };
  Masks masks_of(const std::vector<Structure>& particles) const {
    Masks m;
    for (const Structure& s : particles) {
      m.outer.push_back(cuda_host::column_half_extents(n, reference.grid().dx, s.radius));
      m.core.push_back(cuda_host::column_half_extents(n, reference.grid().dx, s.radius - s.shell_thickness));
    }
    return m;
  }

  /// After phase A: the C2R of every plane and, per `mode`, the logistic sums (Σ v over the grid
  /// returned, core_sum[k][col] for each particle's core, the z = N/2 values into slice), the
  /// standardised field G/σ into `out` (N³), or the raw C2R into `out`.
  double phase_b(double variance, PlaneOutput mode, const Masks* masks,
                 std::vector<std::vector<double>>* core_sum, double* slice, float* out) const {
    const std::int64_t planes = n;
    std::vector<double> partial(static_cast<std::size_t>(planes), 0.0);
    const double inv_sd = 1.0 / std::sqrt(variance);
    const float scale = static_cast<float>(0.5 * inv_sd);  // t = G/(2σ): S − ½ = ½·tanh(t)
    const auto std_scale = static_cast<float>(inv_sd);
    const std::size_t particles = masks != nullptr ? masks->core.size() : 0;
    const std::int64_t row_len = 2 * nh, half = n / 2, per_unit = planes_per_unit();
    LNPSAXS_OMP(parallel num_threads(threads())) {
      std::vector<float> v(static_cast<std::size_t>(n));
      LNPSAXS_OMP(for schedule(static))
      for (std::int64_t unit = 0; unit < planes / per_unit; ++unit) {
        std::complex<float>* first = row(unit * per_unit, 0);
        fftwf_execute_dft_c2r(plane.p, reinterpret_cast<fftwf_complex*>(first),
                              reinterpret_cast<float*>(first));
        for (std::int64_t i = unit * per_unit; i < (unit + 1) * per_unit; ++i) {
          std::complex<float>* c = row(i, 0);
          auto* r = reinterpret_cast<float*>(c);
          if (mode == PlaneOutput::raw || mode == PlaneOutput::standardised) {
            const float f = mode == PlaneOutput::raw ? 1.0f : std_scale;
            for (std::int64_t j = 0; j < n; ++j)
              for (std::int64_t z = 0; z < n; ++z) out[(i * n + j) * n + z] = r[j * row_len + z] * f;
            continue;
          }
          double plane_total = 0.0;
          for (std::int64_t j = 0; j < n; ++j) {
            const float* g = r + j * row_len;
            float* vv = v.data();
            logistic_column(g, vv, n, scale);
            plane_total += sum4(vv, n);
            const auto at = static_cast<std::size_t>(i * n + j);
            for (std::size_t k = 0; k < particles; ++k) {
              const std::int32_t m = masks->core[k][at];
              (*core_sum)[k][at] = m >= 0 ? sum4(vv + (half - m), 2 * std::int64_t{m} + 1) : 0.0;
            }
            if (slice != nullptr) slice[at] = static_cast<double>(vv[half]);
          }
          partial[static_cast<std::size_t>(i)] = plane_total;
        }
      }
    }
    double total = 0.0;
    for (const double p : partial) total += p;  // plane order
    return total;
  }

  void check_power(double variance) const {
    if (!(variance > 0.0) || !std::isfinite(variance)) {
      const double dq = reference.delta_q_3d();
      throw InputError("GRF: the spectrum P(q) has no power on the 3-D grid (|q| from " + std::to_string(dq) +
                       " to " + std::to_string(dq * std::sqrt(3.0) * static_cast<double>(n / 2)) +
                       " Å⁻¹); check m_q1, s_q1, m_q2, s_q2, w");
    }
  }

  // ---- phase C: the 2-D stage --------------------------------------------------------------------

  /// Homogeneous projection n_core·Δρ_c + (n_outer − n_core)·Δρ_s of each column [N²].
  std::vector<double> base_of(const Structure& s, const std::vector<std::int32_t>& outer,
                              const std::vector<std::int32_t>& core) const {
    const physics::CoreShellContrast c = physics::core_shell_contrast(s.rho_rel, s.delta_rho_int);
    std::vector<double> b(cols());
    for (std::size_t p = 0; p < b.size(); ++p) b[p] = gg::base_projection(outer[p], core[p], c.core, c.shell);
    return b;
  }

  /// Adds the radial average of |rfft2(pad(smooth(projection)))|² to curve [n_q].
  void add_curve(const double* projection, double* curve) const {
    double* p = proj.get();
    std::copy(projection, projection + cols(), p);
    if (smooth) {
      fftw_execute(smooth_forward.p);
      const double inv_n2 = 1.0 / static_cast<double>(cols());
      std::complex<double>* s2 = spec2.get();
      for (std::int64_t e = 0; e < n * nh; ++e) s2[e] *= smoothing[static_cast<std::size_t>(e)] * inv_n2;
      fftw_execute(smooth_inverse.p);
    }
    const std::int64_t off = (nf - n) / 2;
    double* pad = padded.get();
    for (std::int64_t a = 0; a < n; ++a) std::copy(p + a * n, p + (a + 1) * n, pad + (off + a) * nf + off);
    fftw_execute(padded_forward.p);
    const std::complex<double>* f = spec_padded.get();
    for (std::int64_t r = 0; r < n_q; ++r) {
      double acc = 0.0;
      const std::int64_t* ix = radial_index.data() + r * radial_k;
      const double* w = radial_weight.data() + r * radial_k;
      for (std::int64_t k = 0; k < radial_k; ++k) {
        const std::complex<double> z = f[ix[k]];
        acc += w[k] * (z.real() * z.real() + z.imag() * z.imag());
      }
      curve[r] += acc;
    }
  }

  // ---- whole realisations ------------------------------------------------------------------------

  std::vector<std::vector<double>> mean_curves(const std::vector<Structure>& particles,
                                               const std::vector<std::uint64_t>& keys) const {
    require_shared_field(particles, keys.size(), interior == Interior::grf);
    for (const Structure& s : particles) validate(s);
    const Structure& s0 = particles.front();
    const Masks masks = masks_of(particles);
    std::vector<std::vector<double>> base;
    for (std::size_t k = 0; k < particles.size(); ++k)
      base.push_back(base_of(particles[k], masks.outer[k], masks.core[k]));
    std::vector<std::vector<double>> sums(particles.size(),
                                          std::vector<double>(static_cast<std::size_t>(n_q), 0.0));
    if (interior == Interior::homogeneous) {  // no randomness: one realisation is every realisation
      for (std::size_t k = 0; k < particles.size(); ++k) add_curve(base[k].data(), sums[k].data());
      return sums;
    }
    const std::vector<float> table = table_of(s0);
    std::vector<std::vector<double>> core_sum(particles.size(), std::vector<double>(cols()));
    std::vector<double> projection(cols());
    const double n3 = static_cast<double>(cols()) * static_cast<double>(n);
    for (const std::uint64_t key : keys) {
      const double var = phase_a(key, table.data(), true);
      check_power(var);
      const double delta = phase_b(var, PlaneOutput::sums, &masks, &core_sum, nullptr, nullptr) / n3;
      for (std::size_t k = 0; k < particles.size(); ++k) {
        for (std::size_t p = 0; p < cols(); ++p)
          projection[p] = base[k][p] + (core_sum[k][p] - delta * gg::column_count(masks.core[k][p]));
        add_curve(projection.data(), sums[k].data());
      }
    }
    if (keys.size() > 1)
      for (auto& curve : sums)
        for (double& v : curve) v /= static_cast<double>(keys.size());
    return sums;
  }
};

GrfSimulatorCpu::GrfSimulatorCpu(const GridSpec& grid, std::vector<double> q, Interior interior,
                                 CpuOptions options)
    : impl_(std::make_unique<Impl>(grid, std::move(q), interior, std::move(options))) {}
GrfSimulatorCpu::~GrfSimulatorCpu() = default;
GrfSimulatorCpu::GrfSimulatorCpu(GrfSimulatorCpu&&) noexcept = default;
GrfSimulatorCpu& GrfSimulatorCpu::operator=(GrfSimulatorCpu&&) noexcept = default;

const GridSpec& GrfSimulatorCpu::grid() const { return impl_->reference.grid(); }
const std::vector<double>& GrfSimulatorCpu::q() const { return impl_->reference.q(); }
Interior GrfSimulatorCpu::interior() const { return impl_->interior; }
int GrfSimulatorCpu::threads() const { return impl_->threads(); }
double GrfSimulatorCpu::max_radius() const { return impl_->reference.max_radius(); }
void GrfSimulatorCpu::validate(const Structure& s) const { impl_->validate(s); }

std::vector<double> GrfSimulatorCpu::realisation(const Structure& s, std::uint64_t key) const {
  return mean_intensity(s, {key});
}

std::vector<double> GrfSimulatorCpu::mean_intensity(const Structure& s,
                                                    const std::vector<std::uint64_t>& keys) const {
  return impl_->mean_curves({s}, keys).front();
}

std::vector<std::vector<double>> GrfSimulatorCpu::mean_intensities(
    const std::vector<Structure>& particles, const std::vector<std::uint64_t>& keys) const {
  return impl_->mean_curves(particles, keys);
}

std::vector<double> GrfSimulatorCpu::interior_slice(const Structure& s, std::uint64_t key) const {
  impl_->require_grf("interior_slice");
  impl_->validate(s);
  const std::vector<float> table = impl_->table_of(s);
  const double var = impl_->phase_a(key, table.data(), true);
  impl_->check_power(var);
  std::vector<double> slice(impl_->cols());
  const double n3 = static_cast<double>(impl_->cols()) * static_cast<double>(impl_->n);
  const double delta = impl_->phase_b(var, PlaneOutput::sums, nullptr, nullptr, slice.data(), nullptr) / n3;
  // S − mean S = (S − ½) − (mean S − ½)
  for (double& v : slice) v = (v - delta) + 1.0 + s.delta_rho_int;
  return slice;
}

std::vector<std::complex<float>> GrfSimulatorCpu::noise_spectrum(std::uint64_t key) const {
  impl_->require_grf("noise_spectrum");
  impl_->phase_a(key, nullptr, false);
  std::vector<std::complex<float>> out;
  out.reserve(impl_->half3());
  for (std::int64_t i = 0; i < impl_->n; ++i) {
    const std::complex<float>* plane = impl_->row(i, 0);
    out.insert(out.end(), plane, plane + impl_->n * impl_->nh);
  }
  return out;
}

std::vector<float> GrfSimulatorCpu::spectral_filter(const Structure& s) const {
  impl_->require_grf("spectral_filter");
  impl_->validate(s);
  const std::vector<float> table = impl_->table_of(s);
  const std::int64_t n = impl_->n, nh = impl_->nh;
  std::vector<float> out(impl_->half3());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t l = 0; l < nh; ++l)
        out[static_cast<std::size_t>((i * n + j) * nh + l)] =
            table[static_cast<std::size_t>(gn::mode_k2(n, i, j, l))];
  return out;
}

std::vector<float> GrfSimulatorCpu::white_noise(std::uint64_t key) const {
  impl_->require_grf("white_noise");
  std::vector<float> out(impl_->cols() * static_cast<std::size_t>(impl_->n));
  const double var = impl_->phase_a(key, nullptr, true);
  impl_->phase_b(var, PlaneOutput::raw, nullptr, nullptr, nullptr, out.data());
  return out;
}

std::vector<float> GrfSimulatorCpu::standardised_field(const Structure& s, std::uint64_t key) const {
  impl_->require_grf("standardised_field");
  impl_->validate(s);
  const std::vector<float> table = impl_->table_of(s);
  std::vector<float> out(impl_->cols() * static_cast<std::size_t>(impl_->n));
  const double var = impl_->phase_a(key, table.data(), true);
  impl_->check_power(var);
  impl_->phase_b(var, PlaneOutput::standardised, nullptr, nullptr, nullptr, out.data());
  return out;
}

std::vector<double> GrfSimulatorCpu::contrast_projection(const Structure& s, std::uint64_t key) const {
  impl_->validate(s);
  const Impl::Masks masks = impl_->masks_of({s});
  std::vector<double> proj = impl_->base_of(s, masks.outer[0], masks.core[0]);
  if (impl_->interior != Interior::grf) return proj;
  const std::vector<float> table = impl_->table_of(s);
  const double var = impl_->phase_a(key, table.data(), true);
  impl_->check_power(var);
  std::vector<std::vector<double>> core_sum(1, std::vector<double>(impl_->cols()));
  const double n3 = static_cast<double>(impl_->cols()) * static_cast<double>(impl_->n);
  const double delta = impl_->phase_b(var, PlaneOutput::sums, &masks, &core_sum, nullptr, nullptr) / n3;
  for (std::size_t p = 0; p < proj.size(); ++p)
    proj[p] = proj[p] + (core_sum[0][p] - delta * grf_geometry::column_count(masks.core[0][p]));
  return proj;
}

CpuStageTimes GrfSimulatorCpu::time_realisation(const Structure& s, std::uint64_t key, int repeats) const {
  impl_->require_grf("time_realisation");
  impl_->validate(s);
  repeats = std::max(1, repeats);
  const std::vector<float> table = impl_->table_of(s);
  const Impl::Masks masks = impl_->masks_of({s});
  const std::vector<double> base = impl_->base_of(s, masks.outer[0], masks.core[0]);
  std::vector<std::vector<double>> core_sum(1, std::vector<double>(impl_->cols()));
  std::vector<double> projection(impl_->cols()), curve(static_cast<std::size_t>(impl_->n_q), 0.0);
  const double n3 = static_cast<double>(impl_->cols()) * static_cast<double>(impl_->n);
  std::vector<double> ta, tb, tc, ca, cb, cc;
  auto cpu_ms = [] { return 1000.0 * static_cast<double>(std::clock()) / CLOCKS_PER_SEC; };
  for (int r = 0; r <= repeats; ++r) {  // r = 0 warms up
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    const double var = impl_->phase_a(key + static_cast<std::uint64_t>(r), table.data(), true);
    const auto t1 = Clock::now();
    const double c1 = cpu_ms();
    const double delta = impl_->phase_b(var, PlaneOutput::sums, &masks, &core_sum, nullptr, nullptr) / n3;
    const auto t2 = Clock::now();
    const double c2 = cpu_ms();
    for (std::size_t p = 0; p < projection.size(); ++p)
      projection[p] = base[p] + (core_sum[0][p] - delta * grf_geometry::column_count(masks.core[0][p]));
    impl_->add_curve(projection.data(), curve.data());
    if (r == 0) continue;
    ta.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    tb.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    tc.push_back(ms_since(t2));
    ca.push_back(c1 - c0);
    cb.push_back(c2 - c1);
    cc.push_back(cpu_ms() - c2);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  CpuStageTimes t;
  t.spectrum_fft0_ms = median(ta);
  t.planes_ms = median(tb);
  t.two_d_ms = median(tc);
  t.total_ms = t.spectrum_fft0_ms + t.planes_ms + t.two_d_ms;
  t.spectrum_fft0_cpu_ms = median(ca);
  t.planes_cpu_ms = median(cb);
  t.two_d_cpu_ms = median(cc);
  t.total_cpu_ms = t.spectrum_fft0_cpu_ms + t.planes_cpu_ms + t.two_d_cpu_ms;
  t.repeats = repeats;
  return t;
}

}  // namespace lnpsaxs::sim
