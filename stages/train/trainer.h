#pragma once
// Data-parallel training of the surrogate (docs/method.md §4.4–4.5):
// AdamW, cosine learning rate per epoch, the reference code's loss, gradients summed
// across ranks in one flat bucket every step.
//
// Data order: epoch e visits the training set in the permutation keyed by (run seed, e); global
// batch k is items perm[kB, (k+1)B) (the last, partial batch kept); rank r of P takes the r-th
// contiguous block of it. Each rank's loss is its share of the GLOBAL batch mean, so the sum of the
// ranks' gradients is the gradient of the global batch: P ranks follow the same trajectory as one
// rank up to float rounding. The loss scale 10·mean(d_y) is taken over the global batch too (d_y is
// a property of each curve, known on every rank).
#include <ATen/core/Tensor.h>
#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gradient_reducer.h"
#include "models/surrogate/surrogate.h"

namespace lnpsaxs {
namespace config {
class Config;
}

namespace train {

enum class LossKind {
  code,   ///< 10·mean_b(d_y)·mean_{b,j} SmoothL1((ŷ − ỹ)/d_y)   (reference code, design default)
  paper,  ///< mean_{b,j} SmoothL1((ŷ − ỹ)/d_y)                  (paper text; same ratio)
};

/// Optimisation settings (config section `train`).
struct Settings {
  std::int64_t epochs = 10000;
  std::int64_t batch_size = 1024;  ///< global batch, split across ranks
  double lr = 1e-3, lr_min = 1e-7, weight_decay = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  LossKind loss = LossKind::code;
  double smooth_l1_beta = 1.0;
  std::uint64_t seed = 0;  ///< run.seed: keys the shuffle of every epoch and the initial weights

  static Settings from_config(const config::Config& cfg);
};

/// Learning rate of epoch `epoch` (0-based): lr_min + (lr − lr_min)(1 + cos(π·epoch/epochs))/2,
/// PyTorch's CosineAnnealingLR(T_max = epochs) stepped once per epoch.
double cosine_lr(const Settings& s, std::int64_t epoch);

/// The order in which epoch `epoch` visits items [0, n): Fisher–Yates driven by counter-based
/// draws keyed by (seed, epoch, position); the same on every rank and every platform.
std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n);

/// Seed of the initial weights (keyed by run.seed).
std::uint64_t init_seed(std::uint64_t run_seed);

/// Per-curve d_y = max_j ỹ_j − min_j ỹ_j of standardised targets [n, n_q] → [n] (float64, CPU),
/// floored at 1e-12 so that a flat curve cannot divide by zero.
at::Tensor curve_ranges(const at::Tensor& target);

/// Loss of one rank's slice of a global batch: `scale`·Σ_{b,j} SmoothL1_β((pred − target)/dy_b) /
/// `norm`, with norm = (global batch size)·n_q and scale = 10·mean(d_y over the global batch) for
/// LossKind::code, 1 for paper. pred, target [b, n_q]; dy [b].
at::Tensor batch_loss(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& dy, double scale,
                      double norm, double beta);

/// Training data, the whole set on every rank (32,768 × 300 float32 = 39 MB at paper scale).
struct Dataset {
  at::Tensor theta_unit;  ///< [n, 9] float32, min–max scaled inputs
  at::Tensor target;      ///< [n, n_q] float32, standardised log10 I: (y − y_mean)/y_std
};

struct EpochStats {
  std::int64_t epoch = 0;  ///< 1-based number of the epoch just finished
  double loss = 0;         ///< mean over the epoch's global batches of the global batch loss
  double lr = 0;
  double seconds = 0;
  std::int64_t samples = 0;  ///< global samples processed
};

class Trainer {
 public:
  /// Collective over `comm` (MPI_COMM_NULL: one process, no MPI calls at all). `model` must be
  /// identical on every rank (same seed or same weights); `data` is the full training set on every
  /// rank, on model.device(). `reducer` may be null for a single rank.
  Trainer(surrogate::Surrogate model, Dataset data, Settings settings, MPI_Comm comm,
          std::unique_ptr<GradientReducer> reducer);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Runs the next epoch (all its global batches). Collective.
  EpochStats run_epoch();
  /// Epochs completed so far.
  std::int64_t epoch() const;
  bool finished() const { return epoch() >= settings().epochs; }
  const Settings& settings() const;
  surrogate::Surrogate& model();
  const std::vector<double>& loss_history() const;  ///< one entry per completed epoch
  const std::vector<double>& lr_history() const;

  /// Writes model, optimiser state, epoch, histories, seed and `fingerprint` to `path` atomically
  /// (temporary file + rename). Call on every rank; rank 0 writes, then all ranks synchronise.
  void save_state(const std::string& path, const std::string& fingerprint) const;
  /// Restores a state written by save_state(). Collective. Returns false and sets `why` (the trainer
  /// is untouched) when there is none, or it was made under another fingerprint or for another
  /// training set size; throws RuntimeFailure if the file is unreadable.
  bool load_state(const std::string& path, const std::string& fingerprint, std::string* why);

  /// True if every rank holds the same weights (sum and sum of squares agree exactly). Collective.
  bool ranks_agree() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace train
}  // namespace lnpsaxs
