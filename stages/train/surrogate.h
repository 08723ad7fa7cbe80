#pragma once
// The neural surrogate of the monodisperse forward map (paper §4.2.2; reference-model.md §4;
// design.md "Method defaults"): θ̃ ∈ [0,1]^9 → log10 I(q) on the n_q-point grid.
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

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lnpsaxs/param_space.h"

namespace lnpsaxs::surrogate {

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

/// Orthonormal DCT-II basis Φ [n, n] float64 on the CPU: Φ[j, k] = α_k cos(π(j + ½)k/n),
/// α_0 = 1/√n, α_k = √(2/n) (spec §4.2).
at::Tensor dct_basis(std::int64_t n);

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
  /// Saves weights + metadata into `dir` (surrogate.h5 written by the caller's checkpoint layer).
  void save_weights(const std::string& path) const;
  void load_weights(const std::string& path);
  void train_mode(bool on);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace lnpsaxs::surrogate
