#pragma once
// Host-side helpers of the CUDA simulator backend that need neither CUDA nor LibTorch: the host
// twin of the device noise generator, the particle masks, the smoothing factor and the byte model
// of one realisation (docs/gpu.md, tools/bench_gpu.sh). Compiled in every build, so the tests of
// the generator's logic run without a GPU.
#include <complex>
#include <cstdint>
#include <vector>

namespace lnpsaxs::sim::cuda_host {

/// Column half extents of a sphere of `radius` [Å] on the N×N columns (grf_geometry::
/// column_half_extent for every (i, j)), [N·N] row-major (i·N + j), −1 where a column misses.
std::vector<std::int32_t> column_half_extents(std::int64_t n, double dx, double radius);

/// exp(−½σ²|k|²) on the rfft2 layout [N, N/2+1] (k in rad/pixel, standard order along rows):
/// the 2-D smoothing factor of docs/method.md §3.4 step 6, as the reference builds it.
std::vector<double> smoothing_factor(std::int64_t n, double sigma_px);

/// The spectral white noise of `key` computed on the host with the device's code
/// (grf_cuda_noise.h), [N, N, N/2+1] C order, filter ≡ 1, DC = 0. N even ≥ 8.
std::vector<std::complex<float>> noise_spectrum(std::int64_t n, std::uint64_t key);

/// Σ over the full spectrum of |X|² from a half spectrum [N, N, N/2+1] (planes l = 0, N/2 once,
/// the others twice): by Parseval the variance of the real field C2R(X) when X(0) = 0.
double parseval_variance(const std::vector<std::complex<float>>& half, std::int64_t n);

/// Bytes one realisation must move through device memory in the fused design, each intermediate
/// written once and read once (the floor of this design; cuFFT's own passes come on top).
struct RealisationBytes {
  double spectrum_write = 0;  ///< half spectrum, complex64: N²(N/2+1)·8
  double c2r_read = 0;        ///< the C2R reads the half spectrum once (ideal single pass)
  double c2r_write = 0;       ///< and writes the real field once: N³·4
  double project_read = 0;    ///< the fused pass reads the real field once: N³·4 (+ its N²·8 output)
  double two_d = 0;           ///< the float64 2-D stage per realisation (see realisation_bytes)
  double total() const { return spectrum_write + c2r_read + c2r_write + project_read + two_d; }
  /// Bytes of one full read + write pass over the C2R data (the unit of cuFFT's passes).
  double c2r_pass() const { return c2r_read + c2r_write; }
};
/// The byte model at grid N, padded side N_f, n_q output points, `radial_nnz` stored radial
/// weights (n_q × K) and the 2-D batch size `batch` (the radial weights are read once per batch).
RealisationBytes realisation_bytes(std::int64_t n, std::int64_t n_fft, std::int64_t n_q,
                                   std::int64_t radial_nnz, int batch);

}  // namespace lnpsaxs::sim::cuda_host
