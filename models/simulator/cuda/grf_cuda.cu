// The fused CUDA engine of the GRF simulator (see grf_cuda.h for the pipeline and docs/gpu.md for
// the byte counts). No LibTorch here: the host glue in grf_cuda.cpp hands over plain tables.
//
// Every CUDA and cuFFT call goes through check_cuda / check_cufft, which throw RuntimeFailure with
// the call's name; every kernel launch is followed by check_launch. Device memory, streams, events
// and cuFFT plans are RAII objects. All reductions have a fixed order that depends only on N (block
// sizes are constants, never derived from the device), so a key gives the same result on every run.
#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/simulator/cuda/grf_cuda_engine.h"
#include "models/simulator/cuda/grf_cuda_geometry.h"
#include "models/simulator/cuda/grf_cuda_noise.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::sim {
namespace cuda_detail {
namespace {

namespace gn = grf_noise;
namespace gg = grf_geometry;

// ---- checking functions ----------------------------------------------------------------------

void check_cuda(cudaError_t status, const char* call) {
  if (status != cudaSuccess)
    throw RuntimeFailure(std::string("CUDA simulator: ") + call + " failed: " + cudaGetErrorName(status) +
                         " (" + cudaGetErrorString(status) + ")");
}

const char* cufft_result_name(cufftResult r) {
  switch (r) {
    case CUFFT_SUCCESS:
      return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN:
      return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED:
      return "CUFFT_ALLOC_FAILED (out of device memory)";
    case CUFFT_INVALID_TYPE:
      return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE:
      return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR:
      return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED:
      return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED:
      return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE:
      return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA:
      return "CUFFT_UNALIGNED_DATA";
    case CUFFT_INVALID_DEVICE:
      return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE:
      return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED:
      return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED:
      return "CUFFT_NOT_SUPPORTED";
    default:
      return "cufftResult (unknown code)";
  }
}

void check_cufft(cufftResult status, const char* call) {
  if (status != CUFFT_SUCCESS)
    throw RuntimeFailure(std::string("CUDA simulator: ") + call + " failed: " + cufft_result_name(status) +
                         " (code " + std::to_string(static_cast<int>(status)) + ")");
}

/// After each launch: configuration errors now, execution errors at the next synchronisation.
void check_launch(const char* kernel) { check_cuda(cudaGetLastError(), kernel); }

// ---- RAII --------------------------------------------------------------------------------------

/// Makes `device` current for the scope and restores the previous device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() { cudaSetDevice(previous_); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

/// Device memory for `count` elements of T; reserve() grows it (contents are not kept).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void reserve(std::size_t count) {
    if (count <= capacity_) return;
    release();
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, std::max<std::size_t>(count, 1) * sizeof(T)), "cudaMalloc");
    ptr_ = static_cast<T*>(p);
    capacity_ = count;
  }
  T* get() const { return ptr_; }
  std::size_t capacity() const { return capacity_; }

 private:
  void release() {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    capacity_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t capacity_ = 0;
};

class Stream {
 public:
  Stream() { check_cuda(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"); }
  ~Stream() { cudaStreamDestroy(s_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { check_cuda(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { check_cuda(cudaEventCreate(&e_), "cudaEventCreate"); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(cudaStream_t s) { check_cuda(cudaEventRecord(e_, s), "cudaEventRecord"); }
  /// Milliseconds from `start` to this event (both recorded and complete).
  float since(const Event& start) const {
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start.e_, e_), "cudaEventElapsedTime");
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

/// A cuFFT plan with the default (dense) layout, bound to a stream.
class FftPlan {
 public:
  FftPlan(std::vector<long long> dims, cufftType type, long long batch, cudaStream_t stream) {
    check_cufft(cufftCreate(&h_), "cufftCreate");
    try {
      std::size_t work = 0;
      check_cufft(cufftMakePlanMany64(h_, static_cast<int>(dims.size()), dims.data(), nullptr, 1, 0, nullptr,
                                      1, 0, type, batch, &work),
                  "cufftMakePlanMany64");
      check_cufft(cufftSetStream(h_, stream), "cufftSetStream");
    } catch (...) {
      cufftDestroy(h_);
      throw;
    }
  }
  ~FftPlan() { cufftDestroy(h_); }
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;
  cufftHandle get() const { return h_; }

 private:
  cufftHandle h_ = 0;
};

std::size_t to_size(std::int64_t v) { return static_cast<std::size_t>(v); }

unsigned blocks_for(std::size_t threads, unsigned block) {
  return static_cast<unsigned>((threads + block - 1) / block);
}

// ---- device reductions (fixed order) ---------------------------------------------------------

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kThreads = 256;         // threads per block of the element-wise kernels
constexpr int kReduceThreads = 1024;  // the single block that combines partial sums
constexpr int kRadialThreads = 128;

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(kFullMask, v, offset);
  return v;
}

/// Sum over the block in a fixed order (warps by shuffles, then warp totals in index order).
/// Every thread must call it; the result is valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double warp_totals[32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) total += warp_totals[w];
  return total;
}

/// Σ x[0 … count) by one block: strided per thread in index order, then block_sum. Thread 0.
__device__ double fixed_order_sum(const double* __restrict__ x, unsigned count) {
  double v = 0.0;
  for (unsigned k = threadIdx.x; k < count; k += blockDim.x) v += x[k];
  return block_sum(v);
}

// ---- 3-D kernels -------------------------------------------------------------------------------

/// √P(Δq·√k²) for every integer k² ∈ [0, count), float32 (as the reference's table), DC = 0.
__global__ void filter_table_kernel(float* __restrict__ table, unsigned count, Spectrum sp) {
  const unsigned k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= count) return;
  if (k == 0) {
    table[0] = 0.0f;
    return;
  }
  const double q = sp.dq * sqrt(static_cast<double>(k));
  const double lq = log(q);
  const double norm = 2.5066282746310002;  // √(2π)
  const double z1 = (lq - sp.mu1) / sp.sigma1, z2 = (lq - sp.mu2) / sp.sigma2;
  const double p1 = exp(-0.5 * z1 * z1) / (q * sp.sigma1 * norm);
  const double p2 = exp(-0.5 * z2 * z2) / (q * sp.sigma2 * norm);
  table[k] = static_cast<float>(sqrt((1.0 - sp.w) * p1 + sp.w * p2));
}

/// The filter on the half-spectrum layout (tests only).
__global__ void expand_filter_kernel(float* __restrict__ out, const float* __restrict__ table, int n) {
  const std::size_t nh = n / 2 + 1;
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= static_cast<std::size_t>(n) * n * nh) return;
  const auto l = static_cast<std::int64_t>(e % nh), row = static_cast<std::int64_t>(e / nh);
  out[e] = table[gn::mode_k2(n, row / n, row % n, l)];
}

/// Noise × filter into the half spectrum, one thread per Philox block (modes l = 2p, 2p + 1 of a
/// row), and per block Σ mult·|X|² (Parseval) in double. table == nullptr: unit filter.
__global__ void __launch_bounds__(kThreads)
    spectrum_kernel(float2* __restrict__ spec, const float* __restrict__ table, int n, unsigned long long key,
                    gn::Scales sc, unsigned total, double* __restrict__ partials) {
  const unsigned t = blockIdx.x * kThreads + threadIdx.x;
  double acc = 0.0;
  if (t < total) {
    const unsigned bpr = static_cast<unsigned>(n / 4 + 1);
    const unsigned row = t / bpr, p = t - row * bpr;
    const int i = static_cast<int>(row / static_cast<unsigned>(n)),
              j = static_cast<int>(row % static_cast<unsigned>(n));
    const int nh = n / 2 + 1;
    const gn::Words w = gn::block_words(key, t);  // block index (i·N + j)·bpr + p = t
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int l = 2 * static_cast<int>(p) + h;
      if (l < nh) {
        gn::Complex x = gn::mode_value(key, n, i, j, l, w, sc);
        if (table != nullptr) {
          const float f = __ldg(table + gn::mode_k2(n, i, j, l));
          x.re *= f;
          x.im *= f;
        }
        spec[static_cast<std::size_t>(row) * nh + l] = make_float2(x.re, x.im);
        const double re = x.re, im = x.im;
        acc += gn::mode_multiplicity(n, l) * (re * re + im * im);
      }
    }
  }
  const double s = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

/// stats = {mean 0 (the DC coefficient is 0), 1/σ (0 if the field has no power), σ²}; σ² = Σ
/// mult·|X|² is the population variance of the C2R field (Parseval). var_log[slot] keeps σ².
__global__ void __launch_bounds__(kReduceThreads)
    finish_moments_kernel(const double* __restrict__ partials, unsigned count, double* __restrict__ stats,
                          double* __restrict__ var_log) {
  const double var = fixed_order_sum(partials, count);
  if (threadIdx.x == 0) {
    stats[0] = 0.0;
    stats[1] = (var > 0.0 && isfinite(var)) ? rsqrt(var) : 0.0;
    stats[2] = var;
    if (var_log != nullptr) *var_log = var;
  }
}

/// (G − mean)/σ in place (tests only).
__global__ void standardise_kernel(float* __restrict__ field, std::size_t count,
                                   const double* __restrict__ stats) {
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  field[e] = static_cast<float>((static_cast<double>(field[e]) - stats[0]) * stats[1]);
}

/// The fused pass over the real field: one warp per column (i, j) (z contiguous). v = S − ½ =
/// ½·tanh(½(G − mean)/σ); the block sums Σ v (→ mean S), and the warp builds the cumulative sums
/// C(m) = Σ_{|z − N/2| ≤ m} v in shared memory, from which each particle's core sum
/// core_sum[k][col] = C(m_core[k][col]) (0 if the column misses the core) is read off.
/// Shared memory per warp: (N/2+1) doubles + N floats.
template <bool kVector>
__global__ void project_kernel(const float* __restrict__ field, int n, const double* __restrict__ stats,
                               int particles, const int* __restrict__ m_core, double* __restrict__ core_sum,
                               double* __restrict__ partials) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int warps = static_cast<int>(blockDim.x >> 5), warp = static_cast<int>(threadIdx.x >> 5);
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int half = n / 2, nh = half + 1;
  const std::size_t cum_bytes = (static_cast<std::size_t>(warps) * nh * sizeof(double) + 15) / 16 * 16;
  double* cum = reinterpret_cast<double*>(smem) + static_cast<std::size_t>(warp) * nh;
  float* v = reinterpret_cast<float*>(smem + cum_bytes) + static_cast<std::size_t>(warp) * n;
  const unsigned cols = static_cast<unsigned>(n) * static_cast<unsigned>(n);
  const unsigned col = blockIdx.x * static_cast<unsigned>(warps) + static_cast<unsigned>(warp);
  const float mean = static_cast<float>(stats[0]);
  const float scale = static_cast<float>(0.5 * stats[1]);
  float local = 0.0f;
  if (col < cols) {  // uniform across the warp
    const float* column = field + static_cast<std::size_t>(col) * n;
    if (kVector) {  // N % 128 == 0: 16-byte loads, N/128 of them in flight per lane
      const float4* c4 = reinterpret_cast<const float4*>(column);
      float4* v4 = reinterpret_cast<float4*>(v);
#pragma unroll 4
      for (int c = lane; c < n / 4; c += 32) {
        float4 g = __ldcs(c4 + c);  // read once: do not keep in cache
        g.x = 0.5f * tanhf((g.x - mean) * scale);
        g.y = 0.5f * tanhf((g.y - mean) * scale);
        g.z = 0.5f * tanhf((g.z - mean) * scale);
        g.w = 0.5f * tanhf((g.w - mean) * scale);
        local += (g.x + g.y) + (g.z + g.w);
        v4[c] = g;
      }
    } else {
      for (int z = lane; z < n; z += 32) {
        const float g = 0.5f * tanhf((__ldcs(column + z) - mean) * scale);
        local += g;
        v[z] = g;
      }
    }
    __syncwarp();
    // u(t) = v(N/2 + t) + v(N/2 − t) for 0 < t < N/2, u(0) = v(N/2), u(N/2) = v(0).
    for (int t = lane; t <= half; t += 32) {
      double u;
      if (t == 0)
        u = v[half];
      else if (t == half)
        u = v[0];
      else
        u = static_cast<double>(v[half + t]) + static_cast<double>(v[half - t]);
      cum[t] = u;
    }
    __syncwarp();
    // Inclusive prefix over t: each lane scans a contiguous chunk, offsets by a warp scan.
    const int chunk = (nh + 31) / 32;
    const int lo = min(lane * chunk, nh), hi = min(lo + chunk, nh);
    double own = 0.0;
    for (int t = lo; t < hi; ++t) own += cum[t];
    double inclusive = own;
#pragma unroll
    for (int offset = 1; offset < 32; offset <<= 1) {
      const double y = __shfl_up_sync(kFullMask, inclusive, offset);
      if (lane >= offset) inclusive += y;
    }
    double run = __shfl_up_sync(kFullMask, inclusive, 1);
    if (lane == 0) run = 0.0;
    for (int t = lo; t < hi; ++t) {
      run += cum[t];
      cum[t] = run;
    }
    __syncwarp();
    for (int k = lane; k < particles; k += 32) {
      const std::size_t at = static_cast<std::size_t>(k) * cols + col;
      const int m = m_core[at];
      core_sum[at] = m < 0 ? 0.0 : cum[min(m, half)];
    }
  }
  const double s = block_sum(static_cast<double>(local));
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

/// delta = Σ (S − ½)/N³ = mean S − ½.
__global__ void __launch_bounds__(kReduceThreads)
    finish_mean_kernel(const double* __restrict__ partials, unsigned count, double inv_n3,
                       double* __restrict__ delta) {
  const double s = fixed_order_sum(partials, count);
  if (threadIdx.x == 0) *delta = s * inv_n3;
}

// ---- geometry ----------------------------------------------------------------------------------

/// m_outer[k][col], m_core[k][col]: column half extents of particle k (grf_geometry).
__global__ void extents_kernel(int n, double dx, const Particle* __restrict__ parts, int particles,
                               int* __restrict__ m_outer, int* __restrict__ m_core) {
  const std::size_t cols = static_cast<std::size_t>(n) * n;
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= cols * particles) return;
  const auto k = static_cast<int>(e / cols);
  const auto col = static_cast<std::int64_t>(e % cols);
  const std::int64_t i = col / n, j = col % n;
  m_outer[e] = gg::column_half_extent(n, dx, parts[k].radius, i, j);
  m_core[e] = gg::column_half_extent(n, dx, parts[k].core_radius, i, j);
}

// ---- 2-D kernels (float64) ---------------------------------------------------------------------

/// proj[s·K + k][col] = base_k(col) + core_sum[s][k][col] − delta[s]·n_core_k(col): the contrast
/// projection of particle k in realisation slot s (core_sum == nullptr: homogeneous, base only).
__global__ void assemble_kernel(double* __restrict__ proj, int n, int particles, int slots,
                                const int* __restrict__ m_outer, const int* __restrict__ m_core,
                                const Particle* __restrict__ parts, const double* __restrict__ core_sum,
                                const double* __restrict__ delta) {
  const std::size_t cols = static_cast<std::size_t>(n) * n;
  const std::size_t per_slot = cols * particles;
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= per_slot * slots) return;
  const std::size_t s = e / per_slot, kc = e % per_slot;  // kc = k·cols + col
  const auto k = static_cast<int>(kc / cols);
  const int mo = m_outer[kc], mc = m_core[kc];
  double value = gg::base_projection(mo, mc, parts[k].c_core, parts[k].c_shell);
  if (core_sum != nullptr) value += core_sum[e] - delta[s] * gg::column_count(mc);
  proj[e] = value;
}

/// Spectrum of the projection × the smoothing factor / N² (the inverse FFT's normalisation).
__global__ void smooth_kernel(double2* __restrict__ spec, const double* __restrict__ factor,
                              std::size_t per_image, std::size_t count, double inv_n2) {
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const double f = factor[e % per_image] * inv_n2;
  double2 z = spec[e];
  z.x *= f;
  z.y *= f;
  spec[e] = z;
}

/// Zero-pad each N×N image into the centre of an N_f×N_f one (offset (N_f − N)/2 on both axes).
__global__ void pad_kernel(double* __restrict__ padded, const double* __restrict__ proj, int n, int n_fft,
                           std::size_t count) {
  const std::size_t e = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const std::size_t per = static_cast<std::size_t>(n_fft) * n_fft;
  const std::size_t p = e / per, r = e % per;
  const int a = static_cast<int>(r / n_fft) - (n_fft - n) / 2,
            b = static_cast<int>(r % n_fft) - (n_fft - n) / 2;
  padded[e] =
      (a >= 0 && a < n && b >= 0 && b < n) ? proj[p * n * n + static_cast<std::size_t>(a) * n + b] : 0.0;
}

/// curve[p][q] = Σ_j w[q][j]·|F_p[idx[q][j]]|²: block (q, p), fixed-order sum.
__global__ void __launch_bounds__(kRadialThreads)
    radial_kernel(double* __restrict__ curves, const double2* __restrict__ spec, std::size_t per_image,
                  const int* __restrict__ index, const double* __restrict__ weight, int k_max, int n_q) {
  const int q = static_cast<int>(blockIdx.x), p = static_cast<int>(blockIdx.y);
  const double2* f = spec + static_cast<std::size_t>(p) * per_image;
  const std::size_t row = static_cast<std::size_t>(q) * k_max;
  double acc = 0.0;
  for (int j = static_cast<int>(threadIdx.x); j < k_max; j += kRadialThreads) {
    const double w = weight[row + j];
    if (w != 0.0) {
      const double2 z = f[index[row + j]];
      acc += w * (z.x * z.x + z.y * z.y);
    }
  }
  const double s = block_sum(acc);
  if (threadIdx.x == 0) curves[static_cast<std::size_t>(p) * n_q + q] = s;
}

/// sums[k][q] += curves[s·K + k][q] for s = 0 … slots − 1, in order (realisations in key order).
__global__ void accumulate_kernel(double* __restrict__ sums, const double* __restrict__ curves, int particles,
                                  int n_q, int slots) {
  const int e = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (e >= particles * n_q) return;
  double s = sums[e];
  for (int slot = 0; slot < slots; ++slot) s += curves[static_cast<std::size_t>(slot) * particles * n_q + e];
  sums[e] = s;
}

/// Batched plans of the 2-D stage for one batch size.
struct Plans2d {
  std::unique_ptr<FftPlan> smooth_forward, smooth_inverse, padded_forward;
};

}  // namespace

// ---- the engine --------------------------------------------------------------------------------

struct Engine::State {
  EngineSetup setup;
  int device = 0;
  Stream stream;
  std::unique_ptr<FftPlan> c2r;
  std::map<int, Plans2d> plans2d;

  // 3-D
  DeviceBuffer<float2> spec;
  DeviceBuffer<float> field;
  DeviceBuffer<float> table;
  DeviceBuffer<double> partials_spec, partials_proj, stats;
  // particles
  DeviceBuffer<Particle> parts;
  DeviceBuffer<int> m_outer, m_core;
  DeviceBuffer<double> core_sum, delta, var_log;
  // 2-D
  DeviceBuffer<double> smooth, proj, padded, curves, sums, radial_weight;
  DeviceBuffer<double2> spec2, spec_padded;
  DeviceBuffer<int> radial_index;
  DeviceBuffer<float> filter_out;

  std::int64_t n() const { return setup.n; }
  std::size_t cols() const { return to_size(setup.n * setup.n); }
  std::size_t half3() const { return cols() * to_size(setup.n / 2 + 1); }
  std::size_t real3() const { return cols() * to_size(setup.n); }
  unsigned spectrum_threads() const { return static_cast<unsigned>(cols() * gn::blocks_per_row(setup.n)); }
  unsigned spectrum_blocks() const { return blocks_for(spectrum_threads(), kThreads); }
  /// Warps (columns) per block of project_kernel: as many as fit 40 KB of shared memory, ≤ 8.
  int project_warps() const {
    const std::size_t per_warp = to_size(setup.n / 2 + 1) * sizeof(double) + to_size(setup.n) * sizeof(float);
    return static_cast<int>(std::clamp<std::size_t>(40960 / per_warp, 1, 8));
  }
  unsigned project_blocks() const { return blocks_for(cols(), static_cast<unsigned>(project_warps())); }
  std::size_t project_smem() const {
    const auto w = to_size(project_warps());
    return (w * to_size(setup.n / 2 + 1) * sizeof(double) + 15) / 16 * 16 +
           w * to_size(setup.n) * sizeof(float);
  }
  unsigned table_size() const { return static_cast<unsigned>(3 * (setup.n / 2) * (setup.n / 2) + 1); }

  void upload_particles(const std::vector<Particle>& particles) {
    const std::size_t k = particles.size();
    parts.reserve(k);
    m_outer.reserve(k * cols());
    m_core.reserve(k * cols());
    check_cuda(cudaMemcpyAsync(parts.get(), particles.data(), k * sizeof(Particle), cudaMemcpyHostToDevice,
                               stream.get()),
               "cudaMemcpyAsync(particles)");
    extents_kernel<<<blocks_for(k * cols(), kThreads), kThreads, 0, stream.get()>>>(
        static_cast<int>(n()), setup.dx, parts.get(), static_cast<int>(k), m_outer.get(), m_core.get());
    check_launch("extents_kernel");
  }

  void make_table(const Spectrum& sp) {
    table.reserve(table_size());
    filter_table_kernel<<<blocks_for(table_size(), kThreads), kThreads, 0, stream.get()>>>(table.get(),
                                                                                           table_size(), sp);
    check_launch("filter_table_kernel");
  }

  /// Half spectrum of `key` (filtered by `table` unless null) and the Parseval moments in stats.
  void run_spectrum(std::uint64_t key, const float* filter_table, double* var_slot) {
    spec.reserve(half3());
    partials_spec.reserve(spectrum_blocks());
    stats.reserve(3);
    spectrum_kernel<<<spectrum_blocks(), kThreads, 0, stream.get()>>>(
        spec.get(), filter_table, static_cast<int>(n()), static_cast<unsigned long long>(key),
        gn::scales_for(n()), spectrum_threads(), partials_spec.get());
    check_launch("spectrum_kernel");
    finish_moments_kernel<<<1, kReduceThreads, 0, stream.get()>>>(partials_spec.get(), spectrum_blocks(),
                                                                  stats.get(), var_slot);
    check_launch("finish_moments_kernel");
  }

  void run_c2r() {
    field.reserve(real3());
    check_cufft(cufftExecC2R(c2r->get(), reinterpret_cast<cufftComplex*>(spec.get()), field.get()),
                "cufftExecC2R");
  }

  /// The fused pass for `particles` particles into core_sum slot `slot`, and delta[slot].
  void run_project(int particles, int slot) {
    partials_proj.reserve(project_blocks());
    const std::size_t smem = project_smem();
    double* out = core_sum.get() + to_size(slot) * to_size(particles) * cols();
    const unsigned threads = static_cast<unsigned>(32 * project_warps());
    // project_warps() keeps smem under the default 48 KB limit: no cudaFuncSetAttribute needed.
    if (n() % 128 == 0) {
      project_kernel<true><<<project_blocks(), threads, smem, stream.get()>>>(
          field.get(), static_cast<int>(n()), stats.get(), particles, m_core.get(), out, partials_proj.get());
    } else {
      project_kernel<false><<<project_blocks(), threads, smem, stream.get()>>>(
          field.get(), static_cast<int>(n()), stats.get(), particles, m_core.get(), out, partials_proj.get());
    }
    check_launch("project_kernel");
    const double n3 = static_cast<double>(real3());
    finish_mean_kernel<<<1, kReduceThreads, 0, stream.get()>>>(partials_proj.get(), project_blocks(),
                                                               1.0 / n3, delta.get() + slot);
    check_launch("finish_mean_kernel");
  }

  Plans2d& plans_for(int batch) {
    auto it = plans2d.find(batch);
    if (it != plans2d.end()) return it->second;
    if (plans2d.size() >= 4) plans2d.clear();  // bounded cache: batch sizes rarely vary
    Plans2d p;
    const long long nn = n(), nf = setup.n_fft;
    if (setup.smooth) {
      p.smooth_forward =
          std::make_unique<FftPlan>(std::vector<long long>{nn, nn}, CUFFT_D2Z, batch, stream.get());
      p.smooth_inverse =
          std::make_unique<FftPlan>(std::vector<long long>{nn, nn}, CUFFT_Z2D, batch, stream.get());
    }
    p.padded_forward =
        std::make_unique<FftPlan>(std::vector<long long>{nf, nf}, CUFFT_D2Z, batch, stream.get());
    return plans2d.emplace(batch, std::move(p)).first->second;
  }

  /// 2-D stage for `slots` realisations × `particles` particles (core sums and deltas of slots
  /// 0 … slots − 1, or the homogeneous base when grf is false); adds the curves to sums.
  void run_two_d(int particles, int slots, bool grf) {
    const int batch = particles * slots;
    const std::size_t nf = to_size(setup.n_fft), nh = to_size(n() / 2 + 1), nfh = nf / 2 + 1;
    proj.reserve(to_size(batch) * cols());
    padded.reserve(to_size(batch) * nf * nf);
    spec_padded.reserve(to_size(batch) * nf * nfh);
    curves.reserve(to_size(batch) * to_size(setup.n_q));
    Plans2d& plans = plans_for(batch);
    assemble_kernel<<<blocks_for(to_size(batch) * cols(), kThreads), kThreads, 0, stream.get()>>>(
        proj.get(), static_cast<int>(n()), particles, slots, m_outer.get(), m_core.get(), parts.get(),
        grf ? core_sum.get() : nullptr, grf ? delta.get() : nullptr);
    check_launch("assemble_kernel");
    if (setup.smooth) {
      spec2.reserve(to_size(batch) * to_size(n()) * nh);
      check_cufft(cufftExecD2Z(plans.smooth_forward->get(), proj.get(),
                               reinterpret_cast<cufftDoubleComplex*>(spec2.get())),
                  "cufftExecD2Z(smoothing)");
      const std::size_t per = to_size(n()) * nh, count = per * to_size(batch);
      smooth_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream.get()>>>(
          spec2.get(), smooth.get(), per, count, 1.0 / static_cast<double>(cols()));
      check_launch("smooth_kernel");
      check_cufft(cufftExecZ2D(plans.smooth_inverse->get(),
                               reinterpret_cast<cufftDoubleComplex*>(spec2.get()), proj.get()),
                  "cufftExecZ2D(smoothing)");
    }
    const std::size_t count = to_size(batch) * nf * nf;
    pad_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream.get()>>>(
        padded.get(), proj.get(), static_cast<int>(n()), static_cast<int>(nf), count);
    check_launch("pad_kernel");
    check_cufft(cufftExecD2Z(plans.padded_forward->get(), padded.get(),
                             reinterpret_cast<cufftDoubleComplex*>(spec_padded.get())),
                "cufftExecD2Z(padded)");
    const dim3 grid(static_cast<unsigned>(setup.n_q), static_cast<unsigned>(batch));
    radial_kernel<<<grid, kRadialThreads, 0, stream.get()>>>(
        curves.get(), spec_padded.get(), nf * nfh, radial_index.get(), radial_weight.get(),
        static_cast<int>(setup.radial_k), static_cast<int>(setup.n_q));
    check_launch("radial_kernel");
    const int outputs = particles * static_cast<int>(setup.n_q);
    accumulate_kernel<<<blocks_for(to_size(outputs), kThreads), kThreads, 0, stream.get()>>>(
        sums.get(), curves.get(), particles, static_cast<int>(setup.n_q), slots);
    check_launch("accumulate_kernel");
  }

  template <typename T>
  std::vector<T> download(const T* src, std::size_t count) {
    std::vector<T> out(count);
    check_cuda(cudaMemcpyAsync(out.data(), src, count * sizeof(T), cudaMemcpyDeviceToHost, stream.get()),
               "cudaMemcpyAsync(device to host)");
    stream.synchronize();
    return out;
  }
};

Engine::Engine(EngineSetup setup, int device) {
  if (setup.n < 8 || setup.n > 2048 || setup.n % 2 != 0)
    throw InputError("CUDA simulator: grid N = " + std::to_string(setup.n) +
                     " is not supported (even, 8 <= N <= 2048); use the torch backend");
  const int devices = cuda_device_count();
  if (device < 0 || device >= devices)
    throw InputError("CUDA simulator: CUDA device " + std::to_string(device) + " does not exist (" +
                     std::to_string(devices) + " device(s) visible)");
  DeviceGuard guard(device);  // the stream, plans and buffers belong to `device`
  st_ = std::make_unique<State>();
  st_->setup = std::move(setup);
  st_->device = device;
  const EngineSetup& s = st_->setup;
  if (s.grf) {
    const long long nn = s.n;
    st_->c2r = std::make_unique<FftPlan>(std::vector<long long>{nn, nn, nn}, CUFFT_C2R, 1, st_->stream.get());
  }
  st_->radial_index.reserve(s.radial_index.size());
  st_->radial_weight.reserve(s.radial_weight.size());
  check_cuda(cudaMemcpyAsync(st_->radial_index.get(), s.radial_index.data(),
                             s.radial_index.size() * sizeof(int), cudaMemcpyHostToDevice, st_->stream.get()),
             "cudaMemcpyAsync(radial index)");
  check_cuda(
      cudaMemcpyAsync(st_->radial_weight.get(), s.radial_weight.data(),
                      s.radial_weight.size() * sizeof(double), cudaMemcpyHostToDevice, st_->stream.get()),
      "cudaMemcpyAsync(radial weight)");
  if (s.smooth) {
    st_->smooth.reserve(s.smoothing_factor.size());
    check_cuda(cudaMemcpyAsync(st_->smooth.get(), s.smoothing_factor.data(),
                               s.smoothing_factor.size() * sizeof(double), cudaMemcpyHostToDevice,
                               st_->stream.get()),
               "cudaMemcpyAsync(smoothing factor)");
  }
  st_->stream.synchronize();  // the host vectors may go away
}

Engine::~Engine() {
  if (!st_) return;
  int previous = 0;
  const bool known = cudaGetDevice(&previous) == cudaSuccess;
  cudaSetDevice(st_->device);  // release on the engine's device; errors cannot be reported here
  st_.reset();
  if (known) cudaSetDevice(previous);
}

std::vector<std::vector<double>> Engine::mean_curves(const Spectrum& spectrum,
                                                     const std::vector<Particle>& particles,
                                                     const std::vector<std::uint64_t>& keys) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  const int k = static_cast<int>(particles.size());
  const int n_q = static_cast<int>(s.setup.n_q);
  s.upload_particles(particles);
  s.sums.reserve(to_size(k) * to_size(n_q));
  check_cuda(cudaMemsetAsync(s.sums.get(), 0, to_size(k) * to_size(n_q) * sizeof(double), s.stream.get()),
             "cudaMemsetAsync(sums)");
  std::vector<double> variances;
  if (!s.setup.grf) {  // no randomness: one realisation is every realisation
    s.run_two_d(k, 1, false);
  } else {
    const int slots = std::max(1, s.setup.max_batch_2d / std::max(1, k));
    const auto n_keys = static_cast<int>(keys.size());
    s.make_table(spectrum);
    s.core_sum.reserve(to_size(slots) * to_size(k) * s.cols());
    s.delta.reserve(to_size(slots));
    s.var_log.reserve(keys.size());
    for (int first = 0; first < n_keys; first += slots) {
      const int count = std::min(slots, n_keys - first);
      for (int slot = 0; slot < count; ++slot) {
        s.run_spectrum(keys[to_size(first + slot)], s.table.get(), s.var_log.get() + first + slot);
        s.run_c2r();
        s.run_project(k, slot);
      }
      s.run_two_d(k, count, true);
    }
    variances = s.download(s.var_log.get(), keys.size());
  }
  const std::vector<double> sums = s.download(s.sums.get(), to_size(k) * to_size(n_q));
  for (std::size_t r = 0; r < variances.size(); ++r)
    if (!(variances[r] > 0.0) || !std::isfinite(variances[r]))
      throw InputError("GRF: the spectrum P(q) has no power on the 3-D grid (|q| from " +
                       std::to_string(spectrum.dq) + " to " +
                       std::to_string(spectrum.dq * std::sqrt(3.0) * s.n() / 2) +
                       " Å⁻¹); check m_q1, s_q1, m_q2, s_q2, w");
  const double div = s.setup.grf ? static_cast<double>(keys.size()) : 1.0;
  std::vector<std::vector<double>> out(to_size(k), std::vector<double>(to_size(n_q)));
  for (int p = 0; p < k; ++p)
    for (int q = 0; q < n_q; ++q)
      out[to_size(p)][to_size(q)] = sums[to_size(p) * to_size(n_q) + to_size(q)] / div;
  return out;
}

std::vector<std::complex<float>> Engine::spectrum(const Spectrum* spectrum, std::uint64_t key,
                                                  double* variance) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  if (spectrum != nullptr) s.make_table(*spectrum);
  s.run_spectrum(key, spectrum != nullptr ? s.table.get() : nullptr, nullptr);
  const std::vector<float2> raw = s.download(s.spec.get(), s.half3());
  if (variance != nullptr) *variance = s.download(s.stats.get(), 3)[2];
  std::vector<std::complex<float>> out(raw.size());
  for (std::size_t e = 0; e < raw.size(); ++e) out[e] = {raw[e].x, raw[e].y};
  return out;
}

std::vector<float> Engine::filter(const Spectrum& spectrum) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  s.make_table(spectrum);
  s.filter_out.reserve(s.half3());
  expand_filter_kernel<<<blocks_for(s.half3(), kThreads), kThreads, 0, s.stream.get()>>>(
      s.filter_out.get(), s.table.get(), static_cast<int>(s.n()));
  check_launch("expand_filter_kernel");
  return s.download(s.filter_out.get(), s.half3());
}

std::vector<float> Engine::field(const Spectrum* spectrum, std::uint64_t key, bool standardise) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  if (spectrum != nullptr) s.make_table(*spectrum);
  s.run_spectrum(key, spectrum != nullptr ? s.table.get() : nullptr, nullptr);
  s.run_c2r();
  if (standardise) {
    standardise_kernel<<<blocks_for(s.real3(), kThreads), kThreads, 0, s.stream.get()>>>(
        s.field.get(), s.real3(), s.stats.get());
    check_launch("standardise_kernel");
  }
  return s.download(s.field.get(), s.real3());
}

std::vector<double> Engine::projection(const Spectrum& spectrum, const Particle& particle,
                                       std::uint64_t key) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  s.upload_particles({particle});
  s.proj.reserve(s.cols());
  if (s.setup.grf) {
    s.make_table(spectrum);
    s.core_sum.reserve(s.cols());
    s.delta.reserve(1);
    s.run_spectrum(key, s.table.get(), nullptr);
    s.run_c2r();
    s.run_project(1, 0);
  }
  assemble_kernel<<<blocks_for(s.cols(), kThreads), kThreads, 0, s.stream.get()>>>(
      s.proj.get(), static_cast<int>(s.n()), 1, 1, s.m_outer.get(), s.m_core.get(), s.parts.get(),
      s.setup.grf ? s.core_sum.get() : nullptr, s.setup.grf ? s.delta.get() : nullptr);
  check_launch("assemble_kernel");
  return s.download(s.proj.get(), s.cols());
}

CudaStageTimes Engine::time_realisation(const Spectrum& spectrum, const Particle& particle, std::uint64_t key,
                                        int repeats) {
  State& s = *st_;
  DeviceGuard guard(s.device);
  if (!s.setup.grf) throw InputError("time_realisation: the simulator has a homogeneous interior");
  repeats = std::max(1, repeats);
  const int batch = std::max(1, s.setup.max_batch_2d);
  s.upload_particles({particle});
  s.make_table(spectrum);
  s.core_sum.reserve(to_size(batch) * s.cols());
  s.delta.reserve(to_size(batch));
  s.sums.reserve(to_size(s.setup.n_q));
  check_cuda(cudaMemsetAsync(s.sums.get(), 0, to_size(s.setup.n_q) * sizeof(double), s.stream.get()),
             "cudaMemsetAsync(sums)");
  // Fill every slot with a real realisation (never time on uninitialised data), warming up too.
  for (int slot = 0; slot < batch; ++slot) {
    s.run_spectrum(key + static_cast<std::uint64_t>(slot), s.table.get(), nullptr);
    s.run_c2r();
    s.run_project(1, slot);
  }
  s.run_two_d(1, batch, true);
  s.stream.synchronize();

  Event e0, e1, e2, e3, e4;
  std::vector<double> t_spec, t_c2r, t_proj, t_2d;
  for (int r = 0; r < repeats; ++r) {
    e0.record(s.stream.get());
    s.run_spectrum(key + 1000003u * static_cast<std::uint64_t>(r + 1), s.table.get(), nullptr);
    e1.record(s.stream.get());
    s.run_c2r();
    e2.record(s.stream.get());
    s.run_project(1, 0);
    e3.record(s.stream.get());
    s.run_two_d(1, batch, true);
    e4.record(s.stream.get());
    s.stream.synchronize();
    t_spec.push_back(e1.since(e0));
    t_c2r.push_back(e2.since(e1));
    t_proj.push_back(e3.since(e2));
    t_2d.push_back(e4.since(e3) / batch);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  CudaStageTimes t;
  t.spectrum_ms = median(t_spec);
  t.c2r_ms = median(t_c2r);
  t.project_ms = median(t_proj);
  t.two_d_ms = median(t_2d);
  t.total_ms = t.spectrum_ms + t.c2r_ms + t.project_ms + t.two_d_ms;
  t.repeats = repeats;
  return t;
}

}  // namespace cuda_detail

// ---- device queries ----------------------------------------------------------------------------

bool cuda_backend_compiled() { return true; }

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device / no driver" error
    return 0;
  }
  return count;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  cuda_detail::check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return prop.name;
}

double cuda_copy_bandwidth_gbs(int device, std::size_t bytes, int repeats) {
  using namespace cuda_detail;
  DeviceGuard guard(device);
  Stream stream;
  DeviceBuffer<unsigned char> a, b;
  a.reserve(bytes);
  b.reserve(bytes);
  check_cuda(cudaMemsetAsync(a.get(), 0x5a, bytes, stream.get()), "cudaMemsetAsync");
  check_cuda(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()),
             "cudaMemcpyAsync");
  stream.synchronize();
  Event start, stop;
  std::vector<double> ms;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    start.record(stream.get());
    check_cuda(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream.get()),
               "cudaMemcpyAsync");
    stop.record(stream.get());
    stream.synchronize();
    ms.push_back(stop.since(start));
  }
  std::sort(ms.begin(), ms.end());
  return 2.0 * static_cast<double>(bytes) / (ms[ms.size() / 2] * 1e-3) / 1e9;
}

}  // namespace lnpsaxs::sim
