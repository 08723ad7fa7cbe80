#include "trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/mpi_env.h"
#include "lnpsaxs/random_key.h"

namespace lnpsaxs::train {
namespace {

constexpr auto kTrainStream = rng::Stream::train;
// Item index of the initial-weights key: far from every epoch number.
constexpr std::uint64_t kInitItem = ~std::uint64_t{0};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

Settings Settings::from_config(const config::Config& cfg) {
  Settings s;
  s.epochs = cfg.integer("train.epochs");
  s.batch_size = cfg.integer("train.batch_size");
  s.lr = cfg.real("train.lr");
  s.lr_min = cfg.real("train.lr_min");
  s.weight_decay = cfg.real("train.weight_decay");
  s.beta1 = cfg.real("train.beta1");
  s.beta2 = cfg.real("train.beta2");
  s.eps = cfg.real("train.eps");
  s.loss = cfg.string("train.loss") == "paper" ? LossKind::paper : LossKind::code;
  s.smooth_l1_beta = cfg.real("train.smooth_l1_beta");
  s.seed = static_cast<std::uint64_t>(cfg.integer("run.seed"));
  return s;
}

double cosine_lr(const Settings& s, std::int64_t epoch) {
  const double t = static_cast<double>(epoch) / static_cast<double>(s.epochs);
  return s.lr_min + (s.lr - s.lr_min) * 0.5 * (1.0 + std::cos(M_PI * t));
}

std::vector<std::int64_t> epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::int64_t n) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    // Modulo of a 64-bit draw: bias below n/2^64, immaterial for a shuffle.
    const std::uint64_t r = rng::derive_key(seed, kTrainStream, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(i));
    const auto j = static_cast<std::int64_t>(r % static_cast<std::uint64_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

std::uint64_t init_seed(std::uint64_t run_seed) { return rng::derive_key(run_seed, kTrainStream, kInitItem); }

at::Tensor curve_ranges(const at::Tensor& target) {
  const torch::Tensor t = target.to(torch::kCPU, torch::kDouble);
  return (std::get<0>(t.max(1)) - std::get<0>(t.min(1))).abs().clamp_min(1e-12);
}

at::Tensor batch_loss(const at::Tensor& pred, const at::Tensor& target, const at::Tensor& dy, double scale,
                      double norm, double beta) {
  const torch::Tensor r = (pred - target) / dy.to(pred.dtype()).unsqueeze(1);
  const torch::Tensor a = r.abs();
  const torch::Tensor s = torch::where(a < beta, 0.5 * r * r / beta, a - 0.5 * beta);
  return s.sum() * (scale / norm);
}

struct Trainer::Impl {
  Impl(surrogate::Surrogate m, Dataset d, Settings s, MPI_Comm c, std::unique_ptr<GradientReducer> r)
      : model(std::move(m)),
        data(std::move(d)),
        settings(s),
        comm(c),
        reducer(std::move(r)),
        params(model.parameters()),
        optimizer(params, torch::optim::AdamWOptions(s.lr)
                              .betas(std::make_tuple(s.beta1, s.beta2))
                              .eps(s.eps)
                              .weight_decay(s.weight_decay)) {
    if (comm != MPI_COMM_NULL) {
      MPI_Comm_rank(comm, &rank);
      MPI_Comm_size(comm, &size);
    }
    n = data.theta_unit.size(0);
    n_q = data.target.size(1);
    dy_host = curve_ranges(data.target);
    dy = dy_host.to(model.device(), torch::kFloat);
    std::int64_t total = 0;
    for (const auto& p : params) total += p.numel();
    n_weights = total;
    // One flat bucket: every gradient plus one slot for the loss, reduced in one call.
    bucket = torch::zeros({total + 1}, torch::TensorOptions().dtype(torch::kFloat).device(model.device()));
    if (size > 1 && !reducer) throw std::invalid_argument("Trainer: a gradient reducer is needed on more than one rank");
  }

  /// One optimiser step on global batch `items` (this rank takes its block). Returns the global loss.
  double step(const std::vector<std::int64_t>& items) {
    const auto b_global = static_cast<std::int64_t>(items.size());
    double scale = 1.0;
    if (settings.loss == LossKind::code) {
      const double* d = dy_host.data_ptr<double>();
      double sum = 0;
      for (std::int64_t i : items) sum += d[i];
      scale = 10.0 * sum / static_cast<double>(b_global);
    }
    const double norm = static_cast<double>(b_global) * static_cast<double>(n_q);
    const mpi::Range mine = mpi::block_range(b_global, size, rank);

    for (auto& p : params) p.mutable_grad() = torch::Tensor();
    torch::Tensor local_loss;
    if (mine.size() > 0) {
      const torch::Tensor idx =
          torch::from_blob(const_cast<std::int64_t*>(items.data()) + mine.begin, {mine.size()}, torch::kLong)
              .to(model.device());
      const torch::Tensor pred = model.standardised(data.theta_unit.index_select(0, idx));
      local_loss = batch_loss(pred, data.target.index_select(0, idx), dy.index_select(0, idx), scale, norm,
                              settings.smooth_l1_beta);
      local_loss.backward();
    }
    {
      torch::NoGradGuard no_grad;
      std::int64_t off = 0;
      for (auto& p : params) {
        torch::Tensor slot = bucket.narrow(0, off, p.numel());
        if (p.grad().defined()) {
          slot.copy_(p.grad().reshape({-1}));
        } else {
          slot.zero_();
        }
        off += p.numel();
      }
      if (local_loss.defined()) {
        bucket.narrow(0, off, 1).copy_(local_loss.detach().reshape({1}));
      } else {
        bucket.narrow(0, off, 1).zero_();
      }
    }
    if (size > 1) reducer->sum(bucket);
    std::int64_t off = 0;
    for (auto& p : params) {
      p.mutable_grad() = bucket.narrow(0, off, p.numel()).view_as(p);
      off += p.numel();
    }
    optimizer.step();
    return bucket.narrow(0, n_weights, 1).item<double>();
  }

  surrogate::Surrogate model;
  Dataset data;
  Settings settings;
  MPI_Comm comm;
  std::unique_ptr<GradientReducer> reducer;
  std::vector<torch::Tensor> params;
  torch::optim::AdamW optimizer;
  int rank = 0, size = 1;
  std::int64_t n = 0, n_q = 0, n_weights = 0;
  torch::Tensor dy_host, dy, bucket;
  std::int64_t epoch = 0;
  std::vector<double> loss_history, lr_history;
};

Trainer::Trainer(surrogate::Surrogate model, Dataset data, Settings settings, MPI_Comm comm,
                 std::unique_ptr<GradientReducer> reducer)
    : impl_(std::make_unique<Impl>(std::move(model), std::move(data), settings, comm, std::move(reducer))) {
  if (settings.batch_size < 1 || settings.batch_size > impl_->n) {
    throw InputError("train.batch_size " + std::to_string(settings.batch_size) + " must be in [1, " +
                     std::to_string(impl_->n) + "] (the training set size)");
  }
}

Trainer::~Trainer() = default;

EpochStats Trainer::run_epoch() {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  const double lr = cosine_lr(m.settings, m.epoch);
  for (auto& group : m.optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  m.model.train_mode(true);
  const std::vector<std::int64_t> perm = epoch_permutation(m.settings.seed, m.epoch, m.n);
  double loss_sum = 0;
  std::int64_t batches = 0;
  for (std::int64_t begin = 0; begin < m.n; begin += m.settings.batch_size) {
    const std::int64_t end = std::min(m.n, begin + m.settings.batch_size);
    const std::vector<std::int64_t> items(perm.begin() + begin, perm.begin() + end);
    loss_sum += m.step(items);
    ++batches;
  }
  ++m.epoch;
  EpochStats s;
  s.epoch = m.epoch;
  s.loss = loss_sum / static_cast<double>(batches);
  s.lr = lr;
  s.samples = m.n;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.loss_history.push_back(s.loss);
  m.lr_history.push_back(lr);
  return s;
}

std::int64_t Trainer::epoch() const { return impl_->epoch; }
const Settings& Trainer::settings() const { return impl_->settings; }
surrogate::Surrogate& Trainer::model() { return impl_->model; }
const std::vector<double>& Trainer::loss_history() const { return impl_->loss_history; }
const std::vector<double>& Trainer::lr_history() const { return impl_->lr_history; }

void Trainer::save_state(const std::string& path, const std::string& fingerprint) const {
  const Impl& m = *impl_;
  int failed = 0;
  std::string why;
  if (m.rank == 0) {
    try {
      torch::serialize::OutputArchive archive;
      torch::serialize::OutputArchive model_archive;
      m.model.save_weights(model_archive);
      archive.write("model", model_archive);
      torch::serialize::OutputArchive optim_archive;
      m.optimizer.save(optim_archive);
      archive.write("optimizer", optim_archive);
      archive.write("epoch", c10::IValue(m.epoch));
      archive.write("fingerprint", c10::IValue(fingerprint));
      archive.write("n_train", c10::IValue(m.n));
      archive.write("seed", c10::IValue(static_cast<std::int64_t>(m.settings.seed)));
      archive.write("loss_history", torch::tensor(m.loss_history, torch::kDouble), /*is_buffer=*/true);
      archive.write("lr_history", torch::tensor(m.lr_history, torch::kDouble), /*is_buffer=*/true);
      const std::string tmp = path + ".tmp";
      archive.save_to(tmp);
      io::atomic_rename(tmp, path);
    } catch (const std::exception& e) {
      failed = 1;
      why = first_line(e.what());
    }
  }
  if (m.comm != MPI_COMM_NULL) MPI_Bcast(&failed, 1, MPI_INT, 0, m.comm);
  if (failed) throw RuntimeFailure(path + ": cannot write the training checkpoint" + (why.empty() ? "" : " (" + why + ")"));
}

bool Trainer::load_state(const std::string& path, const std::string& fingerprint, std::string* why) {
  Impl& m = *impl_;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (why) *why = "no checkpoint";
    return false;
  }
  const auto unreadable = [&](const std::string& what) {
    return RuntimeFailure(path + ": unreadable training checkpoint (" + first_line(what) +
                          "); delete it or rerun with --force");
  };
  torch::serialize::InputArchive archive;
  std::int64_t epoch = 0;
  try {
    archive.load_from(path, m.model.device());
    c10::IValue v;
    archive.read("fingerprint", v);
    if (v.toStringRef() != fingerprint) {
      if (why) *why = "made under a different config";
      return false;
    }
    archive.read("n_train", v);
    if (v.toInt() != m.n) {
      if (why) *why = "made for " + std::to_string(v.toInt()) + " training curves, not " + std::to_string(m.n);
      return false;
    }
    archive.read("seed", v);
    if (static_cast<std::uint64_t>(v.toInt()) != m.settings.seed) {
      if (why) *why = "made with another run.seed";
      return false;
    }
    archive.read("epoch", v);
    epoch = v.toInt();
    if (epoch < 0 || epoch > m.settings.epochs) {
      if (why) *why = "epoch " + std::to_string(epoch) + " is outside [0, train.epochs]";
      return false;
    }
  } catch (const c10::Error& e) {
    throw unreadable(e.what());
  }
  // From here on the trainer changes: a failure is fatal (the message says what to do).
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    m.model.load_weights(model_archive, path);
    torch::serialize::InputArchive optim_archive;
    archive.read("optimizer", optim_archive);
    m.optimizer.load(optim_archive);
    torch::Tensor loss, lr;
    archive.read("loss_history", loss, /*is_buffer=*/true);
    archive.read("lr_history", lr, /*is_buffer=*/true);
    loss = loss.to(torch::kCPU).contiguous();
    lr = lr.to(torch::kCPU).contiguous();
    m.loss_history.assign(loss.data_ptr<double>(), loss.data_ptr<double>() + loss.numel());
    m.lr_history.assign(lr.data_ptr<double>(), lr.data_ptr<double>() + lr.numel());
  } catch (const std::exception& e) {
    throw unreadable(e.what());
  }
  m.epoch = epoch;
  return true;
}

bool Trainer::ranks_agree() const {
  const Impl& m = *impl_;
  if (m.comm == MPI_COMM_NULL) return true;
  double local[2] = {0, 0};
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : m.params) {
      const torch::Tensor d = p.detach().to(torch::kCPU, torch::kDouble);
      local[0] += d.sum().item<double>();
      local[1] += (d * d).sum().item<double>();
    }
  }
  double lo[2], hi[2];
  MPI_Allreduce(local, lo, 2, MPI_DOUBLE, MPI_MIN, m.comm);
  MPI_Allreduce(local, hi, 2, MPI_DOUBLE, MPI_MAX, m.comm);
  return lo[0] == hi[0] && lo[1] == hi[1];
}

}  // namespace lnpsaxs::train
