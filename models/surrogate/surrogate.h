#pragma once
// The neural surrogate of the monodisperse forward map (paper §4.2.2; docs/method.md §4;
// docs/method.md §9): θ̃ ∈ [0,1]^9 → log10 I(q) on the n_q-point grid.
//
// Architecture: input Linear(9 → width), SiLU, `blocks` residual blocks
// (u = SiLU(Linear(h)); v = Linear(u); h = SiLU(v + h)), output Linear(width → 2 + (n_q − 1)) =
// (μ, log σ, n_q − 1 AC coefficients of the orthonormal DCT-II basis Φ). Standardised curve
// ỹ = μ + σ·Φ_AC·h; log10 I = y_std·ỹ + y_mean with the training set's global statistics.
//
// Shared by `train` (which fits it), `fit` and `analyze` (which differentiate through it). This
// header includes no <torch/torch.h> (compile cost): only ATen's Tensor and c10's Device.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lnpsaxs/param_space.h"

namespace torch::serialize {
class OutputArchive;
class InputArchive;
}  // namespace torch::serialize

namespace lnpsaxs::surrogate {

/// Where `train` puts the model, relative to the run directory.
inline constexpr const char* kMetadataFile = "surrogate/surrogate.h5";
inline constexpr const char* kWeightsFile = "surrogate/weights.pt";

/// Network sizes (config section `train`; paper: width 1024, 9 blocks).
struct Architecture {
  std::int64_t n_inputs = 9;
  std::int64_t width = 1024;
  std::int64_t blocks = 9;
  std::int64_t n_q = 300;
};

/// What the model needs besides its weights; stored in RUN/surrogate/surrogate.h5.
struct Metadata {
  std::vector<double> q;          ///< q grid [Å⁻¹], n_q points
  double y_mean = 0;              ///< global mean of the training log10 I
  double y_std = 1;               ///< global standard deviation of the training log10 I
  ParameterSpace box = ParameterSpace::defaults();  ///< min–max scaling of the inputs
  Architecture arch;
};

/// Writes `meta` into the open HDF5 file or group `loc`: dataset `q`, attributes y_mean, y_std,
/// parameter_names, box_lower, box_upper, n_inputs, width, blocks, n_q. Serial files only.
void write_metadata(hid_t loc, const Metadata& meta);
/// Reads what write_metadata wrote. Throws InputError naming `where` (the file) when something
/// is missing or inconsistent (q length ≠ n_q, parameter names ≠ the surrogate input order).
Metadata read_metadata(hid_t loc, const std::string& where);

/// Orthonormal DCT-II basis Φ [n, n] float64 on the CPU: Φ[j, k] = α_k cos(π(j + ½)k/n),
/// α_0 = 1/√n, α_k = √(2/n) (docs/method.md §4.2).
at::Tensor dct_basis(std::int64_t n);

/// The model. Copies share one set of weights (like a torch::nn module holder); float32 unless
/// convert() is called.
class Surrogate {
 public:
  /// Loads RUN/surrogate/surrogate.h5 and the weights beside it onto `device`.
  /// Throws InputError if they are missing, incomplete or inconsistent.
  static Surrogate load(const std::string& run_dir, c10::Device device);
  /// A freshly initialised (untrained) model with PyTorch's default initialisation drawn from
  /// `seed`: what `train` starts from, and what tests use.
  Surrogate(const Metadata& meta, c10::Device device, std::uint64_t seed);

  /// log10 I(q) for θ̃ (min–max scaled with metadata().box): [B, 9] → [B, n_q], float32 on
  /// device(); differentiable with respect to θ̃ and the weights.
  at::Tensor log10_intensity(const at::Tensor& theta_unit) const;
  /// The standardised output ỹ (what the training loss sees), [B, n_q].
  at::Tensor standardised(const at::Tensor& theta_unit) const;

  const Metadata& metadata() const;
  c10::Device device() const;
  /// The trainable parameters (for optimisers and the gradient all-reduce), in a fixed order.
  std::vector<at::Tensor> parameters() const;
  /// Writes the weights as a LibTorch archive to `path`, atomically (temporary file + rename);
  /// the metadata go into surrogate.h5 through write_metadata() and the caller's checkpoint layer.
  void save_weights(const std::string& path) const;
  /// Reads weights written by save_weights(). Throws InputError naming `path` if it is missing,
  /// unreadable or made for another architecture.
  void load_weights(const std::string& path);
  void train_mode(bool on);

  // --- additions for `train` and the tests ---------------------------------------------------
  /// The same weights and buffers as a LibTorch archive entry (train's checkpoint bundles them
  /// with the optimiser state). load_weights throws InputError if names or shapes differ.
  void save_weights(torch::serialize::OutputArchive& archive) const;
  void load_weights(torch::serialize::InputArchive& archive, const std::string& where);
  /// Converts weights and the DCT basis to `dtype` (kFloat by default; kDouble for precise
  /// finite-difference checks). log10_intensity() then returns `dtype`.
  void convert(c10::ScalarType dtype);
  c10::ScalarType dtype() const;
  /// Number of trainable scalars.
  std::int64_t parameter_count() const;
  /// FLOPs of one forward pass per input row (2·in·out per Linear layer + the DCT synthesis):
  /// the benchmark's work count (backward ≈ 2× forward).
  double forward_flops_per_row() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace lnpsaxs::surrogate
