#include "train_stage.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "accuracy.h"
#include "gradient_reducer.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/sha256.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"
#include "models/surrogate/surrogate.h"
#include "trainer.h"

namespace lnpsaxs::train {
namespace fs = std::filesystem;

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "train",
      "the neural surrogate of the simulator: DCT residual MLP, data-parallel over MPI ranks",
      "Reads RUN/curves.h5 (lnpsaxs-simulate) and fits the surrogate θ̃ → log10 I(q) (docs/method.md §4):\n"
      "input Linear, train.blocks residual blocks of width train.width (SiLU), output (μ, log σ,\n"
      "n_q − 1 DCT-II AC coefficients). AdamW with a per-epoch cosine schedule and the reference\n"
      "code's SmoothL1 loss; the global batch train.batch_size is split across the MPI ranks and\n"
      "gradients are summed in one bucket (MPI_Allreduce on CPU, NCCL on CUDA). Checkpoints every\n"
      "train.checkpoint_every epochs to RUN/surrogate/train_state.pt: rerun the same command after a\n"
      "kill to resume. Writes RUN/surrogate/weights.pt and RUN/surrogate/surrogate.h5 with the\n"
      "held-out test metrics MALE_log, RMSE_log and RelErr_log per curve and summarised.",
      stages::sections("train"),
      false};
  return info;
}

namespace {

/// One split of curves.h5, the whole of it on every rank.
struct Split {
  std::int64_t n = 0;
  std::vector<double> theta_unit;  ///< [n, 9]
  std::vector<float> log10;        ///< [n, n_q]
};

/// Gathers every rank's contiguous block (`counts` elements each, in rank order) onto all ranks.
template <class T>
std::vector<T> allgather_blocks(const std::vector<T>& mine, MPI_Datatype type, MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  const auto local = static_cast<long long>(mine.size());
  std::vector<long long> counts(static_cast<std::size_t>(size));
  MPI_Allgather(&local, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG, comm);
  std::vector<int> c(counts.size()), displ(counts.size());
  long long total = 0;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    if (total + counts[r] > INT_MAX) {
      throw RuntimeFailure("the training data have more than 2^31 values: too large for one MPI_Allgatherv");
    }
    c[r] = static_cast<int>(counts[r]);
    displ[r] = static_cast<int>(total);
    total += counts[r];
  }
  std::vector<T> all(static_cast<std::size_t>(total));
  MPI_Allgatherv(mine.data(), static_cast<int>(local), type, all.data(), c.data(), displ.data(), type, comm);
  return all;
}

/// Rows that hold a non-finite value, as "5, 17, 20 (and 3 more)".
std::string bad_rows(const std::vector<std::int64_t>& rows) {
  std::string s;
  for (std::size_t i = 0; i < rows.size() && i < 10; ++i) s += (i ? ", " : "") + std::to_string(rows[i]);
  if (rows.size() > 10) s += " (and " + std::to_string(rows.size() - 10) + " more)";
  return s;
}

template <class T>
void check_finite(const std::vector<T>& v, std::int64_t n, std::int64_t cols, const std::string& where) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      if (!std::isfinite(v[static_cast<std::size_t>(i * cols + j)])) {
        rows.push_back(i);
        break;
      }
    }
  }
  if (!rows.empty()) {
    throw InputError(where + " has NaN or infinite values in " + std::to_string(rows.size()) + " of " +
                     std::to_string(n) + " rows: " + bad_rows(rows) +
                     " (0-based item indices); rerun lnpsaxs-simulate --force or fix the input");
  }
}

std::int64_t split_rows(hid_t file, const std::string& curves, const std::string& split, std::int64_t n_q) {
  for (const char* name : {"theta_unit", "log10_intensity"}) {
    if (!io::exists(file, "/" + split + "/" + name)) {
      throw InputError(curves + ": /" + split + "/" + name + " is missing (not made by lnpsaxs-simulate?)");
    }
  }
  io::H5Id t = io::open_dataset(file, "/" + split + "/theta_unit");
  io::H5Id y = io::open_dataset(file, "/" + split + "/log10_intensity");
  const auto dt = io::dims(t), dyv = io::dims(y);
  if (dt.size() != 2 || dt[1] != ParameterSpace::kDim || dyv.size() != 2 || dyv[0] != dt[0] ||
      static_cast<std::int64_t>(dyv[1]) != n_q) {
    throw InputError(curves + ": /" + split + "/theta_unit must be [n, 9] and /" + split + "/log10_intensity [n, " +
                     std::to_string(n_q) + "] (n_q = length of /q)");
  }
  return static_cast<std::int64_t>(dt[0]);
}

/// Reads this rank's rows of one split (serial reads: the curves are a virtual dataset over the
/// shard files) and gathers the whole split onto every rank.
Split read_split(const std::string& curves, const std::string& split, std::int64_t n, std::int64_t n_q,
                 const mpi::Environment& env) {
  Split s;
  s.n = n;
  const mpi::Range mine = mpi::block_range(n, env.size(), env.rank());
  std::vector<double> theta;
  std::vector<float> y;
  {
    io::File f = io::File::open(curves, io::File::Mode::read);
    io::H5Id t = io::open_dataset(f, "/" + split + "/theta_unit");
    io::H5Id l = io::open_dataset(f, "/" + split + "/log10_intensity");
    theta = io::read_rows<double>(t, mine.begin, mine.size());
    y = io::read_rows<float>(l, mine.begin, mine.size());
  }
  s.theta_unit = allgather_blocks(theta, MPI_DOUBLE, env.comm());
  s.log10 = allgather_blocks(y, MPI_FLOAT, env.comm());
  check_finite(s.theta_unit, n, ParameterSpace::kDim, curves + ": /" + split + "/theta_unit");
  check_finite(s.log10, n, n_q, curves + ": /" + split + "/log10_intensity");
  return s;
}

void check_q_grid(const std::vector<double>& q, const config::Config& cfg, const std::string& curves) {
  const std::vector<double> want = q_grid_from_config(cfg);
  bool same = q.size() == want.size();
  for (std::size_t i = 0; same && i < q.size(); ++i) same = std::abs(q[i] - want[i]) <= 1e-9 * std::abs(want.back());
  if (!same) {
    const auto describe = [](const std::vector<double>& v) {
      std::ostringstream o;
      o << v.size() << " points";
      if (!v.empty()) o << " on [" << v.front() << ", " << v.back() << "] Å^-1";
      return o.str();
    };
    throw InputError(curves + ": the q grid of the curves (" + describe(q) + ") differs from the config's q section (" +
                     describe(want) + "): rerun lnpsaxs-simulate with this config");
  }
}

/// Global mean and unbiased standard deviation of every training log10 I value (docs/method.md §4.1), in
/// double, plus 1e-12 on the deviation as the reference preprocessing.
std::pair<double, double> standardisation(const std::vector<float>& y) {
  double sum = 0;
  for (float v : y) sum += v;
  const double mean = sum / static_cast<double>(y.size());
  double ss = 0;
  for (float v : y) ss += (v - mean) * (v - mean);
  const double var = y.size() > 1 ? ss / static_cast<double>(y.size() - 1) : 0.0;
  return {mean, std::sqrt(var) + 1e-12};
}

/// log10 I predicted for the rows of `theta_unit` [n, 9] (float64, row-major), in chunks.
std::vector<float> predict(const surrogate::Surrogate& model, const double* theta_unit, std::int64_t n) {
  const std::int64_t n_q = model.metadata().arch.n_q;
  std::vector<float> out(static_cast<std::size_t>(n * n_q));
  at::NoGradGuard no_grad;
  constexpr std::int64_t kChunk = 1024;
  for (std::int64_t b = 0; b < n; b += kChunk) {
    const std::int64_t m = std::min(kChunk, n - b);
    const at::Tensor x = at::from_blob(const_cast<double*>(theta_unit) + b * ParameterSpace::kDim,
                                       {m, ParameterSpace::kDim}, at::kDouble);
    const at::Tensor y = model.log10_intensity(x).to(at::kCPU, at::kFloat).contiguous();
    std::copy(y.data_ptr<float>(), y.data_ptr<float>() + m * n_q, out.begin() + b * n_q);
  }
  return out;
}

std::string sha256_of_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeFailure(path + ": cannot read back the weights just written");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return sha256_hex(bytes.str());
}

void write_summary(hid_t obj, const std::string& name, const Summary& s) {
  io::set_attr(obj, name + "_mean", s.mean);
  io::set_attr(obj, name + "_std", s.std);
  io::set_attr(obj, name + "_median", s.median);
  io::set_attr(obj, name + "_p95", s.p95);
  io::set_attr(obj, name + "_max", s.max);
}

std::unique_ptr<GradientReducer> make_reducer(const cli::StageContext& ctx, c10::Device device) {
  if (ctx.mpi.size() == 1) return nullptr;
  if (device.is_cuda()) {
    if (nccl_compiled()) return make_nccl_reducer(ctx.mpi.comm(), device);
    if (ctx.root()) log::warn("this build has no NCCL: gradients of the CUDA ranks are summed with MPI on the host");
  }
  return make_mpi_reducer(ctx.mpi.comm());
}

}  // namespace

void run(cli::StageContext& ctx) {
  const config::Config& cfg = ctx.cfg;
  const std::string out = ctx.path(surrogate::kMetadataFile);
  const std::string state_path = ctx.path(kStateFile);
  if (!ctx.needs_work(out)) return;
  const std::string curves = ctx.require_input("curves.h5", "simulate");
  const Settings settings = Settings::from_config(cfg);

  // --- inputs: shapes and q grid first (cheap), then the data, checked for non-finite values ----
  std::vector<double> q;
  std::int64_t n_train = 0, n_test = 0;
  {
    io::File f = io::File::open(curves, io::File::Mode::read);
    if (!io::exists(f, "/q")) throw InputError(curves + ": /q is missing (not made by lnpsaxs-simulate?)");
    io::H5Id qd = io::open_dataset(f, "/q");
    q = io::read_all<double>(qd);
    check_q_grid(q, cfg, curves);
    n_train = split_rows(f, curves, "train", static_cast<std::int64_t>(q.size()));
    n_test = split_rows(f, curves, "test", static_cast<std::int64_t>(q.size()));
  }
  const auto n_q = static_cast<std::int64_t>(q.size());
  if (settings.batch_size > n_train) {
    throw InputError(cfg.where("train.batch_size") + "batch size " + std::to_string(settings.batch_size) +
                     " is larger than the training set (" + std::to_string(n_train) + " curves in " + curves + ")");
  }
  const Split train = read_split(curves, "train", n_train, n_q, ctx.mpi);
  const Split test = read_split(curves, "test", n_test, n_q, ctx.mpi);

  surrogate::Metadata meta;
  meta.q = q;
  std::tie(meta.y_mean, meta.y_std) = standardisation(train.log10);
  meta.box = ParameterSpace::from_config(cfg);
  meta.arch.n_inputs = ParameterSpace::kDim;
  meta.arch.width = cfg.integer("train.width");
  meta.arch.blocks = cfg.integer("train.blocks");
  meta.arch.n_q = n_q;

  const c10::Device device = torchrt::select_device(cfg, ctx.mpi.local_rank());
  const int threads = torchrt::configure_threads(cfg, ctx.mpi.local_size());
  surrogate::Surrogate model(meta, device, init_seed(settings.seed));
  Dataset data;
  data.theta_unit = at::from_blob(const_cast<double*>(train.theta_unit.data()),
                                  {n_train, ParameterSpace::kDim}, at::kDouble)
                        .to(device, at::kFloat);
  data.target = ((at::from_blob(const_cast<float*>(train.log10.data()), {n_train, n_q}, at::kFloat)
                      .to(at::kDouble) - meta.y_mean) / meta.y_std)
                    .to(device, at::kFloat);
  Trainer trainer(model, data, settings, ctx.mpi.comm(), make_reducer(ctx, device));

  if (ctx.root()) {
    std::error_code ec;
    fs::create_directories(ctx.path("surrogate"), ec);
    if (ec) throw InputError(ctx.path("surrogate") + ": cannot create the directory (" + ec.message() + ")");
    log::info("surrogate: width {}, {} residual blocks, {} parameters; {} training curves x {} q, {} test curves; "
              "y_mean {:.6f}, y_std {:.6f}",
              meta.arch.width, meta.arch.blocks, model.parameter_count(), n_train, n_q, n_test, meta.y_mean, meta.y_std);
    log::info("{} rank(s) x {} thread(s) on {}; global batch {} ({} per rank), {} epochs, AdamW lr {} → {} (cosine), "
              "weight decay {}, loss {}, checkpoint every {} epochs",
              ctx.mpi.size(), threads, device.str(), settings.batch_size,
              (settings.batch_size + ctx.mpi.size() - 1) / ctx.mpi.size(), settings.epochs, settings.lr,
              settings.lr_min, settings.weight_decay, cfg.string("train.loss"), cfg.integer("train.checkpoint_every"));
  }
  MPI_Barrier(ctx.mpi.comm());

  // --- resume ------------------------------------------------------------------------------------
  const std::string fingerprint = cfg.fingerprint(ctx.info.sections);
  if (ctx.opts.force) {
    if (ctx.root()) {
      std::error_code ec;
      fs::remove(state_path, ec);
    }
    MPI_Barrier(ctx.mpi.comm());
  } else {
    std::string why;
    if (trainer.load_state(state_path, fingerprint, &why)) {
      if (ctx.root()) log::info("resuming from {} at epoch {} of {}", state_path, trainer.epoch(), settings.epochs);
    } else if (why != "no checkpoint" && ctx.root()) {
      log::warn("ignoring {} ({}): training from the start", state_path, why);
    }
  }

  // --- training ----------------------------------------------------------------------------------
  const auto t_train = std::chrono::steady_clock::now();
  const std::int64_t first_epoch = trainer.epoch();
  const std::int64_t every = cfg.integer("train.checkpoint_every");
  // Epoch progress on rank 0: epoch, loss, lr, samples/s (since the last line) and ETA, at most
  // every 10 s and always at the first epoch of this run, at checkpoints and at the end.
  log::Progress progress("training", settings.epochs, first_epoch, 10.0, ctx.root());
  std::int64_t samples = 0;  // since the last progress line
  while (!trainer.finished()) {
    const EpochStats s = trainer.run_epoch();
    if (!std::isfinite(s.loss)) {
      throw RuntimeFailure("the training loss became " + std::to_string(s.loss) + " at epoch " + std::to_string(s.epoch) +
                           ": lower train.lr");
    }
    const bool checkpoint = s.epoch % every == 0 || s.epoch == settings.epochs;
    samples += s.samples;
    progress.update(s.epoch);
    if (progress.due(checkpoint || s.epoch == first_epoch + 1 || s.epoch == settings.epochs)) {
      const double dt = progress.last_interval();
      log::info("epoch {}/{}: loss {:.4e}, lr {:.3e}, {:.0f} samples/s, elapsed {}, ETA {}", s.epoch,
                settings.epochs, s.loss, s.lr, dt > 0 ? static_cast<double>(samples) / dt : 0.0,
                log::format_duration(progress.elapsed()), log::format_duration(progress.eta()));
      samples = 0;
    }
    if (checkpoint) {
      if (!trainer.ranks_agree()) {
        throw RuntimeFailure("the ranks' weights diverged at epoch " + std::to_string(s.epoch) +
                             " (the gradient all-reduce is not giving every rank the same sum)");
      }
      trainer.save_state(state_path, fingerprint);
      if (ctx.root()) log::info("checkpoint at epoch {} → {}", s.epoch, state_path);
    }
  }
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();

  // --- held-out test split: each rank its block, gathered on rank 0 --------------------------------
  trainer.model().train_mode(false);
  const mpi::Range mine = mpi::block_range(n_test, ctx.mpi.size(), ctx.mpi.rank());
  std::vector<float> pred_mine = predict(trainer.model(), test.theta_unit.data() + mine.begin * ParameterSpace::kDim,
                                         mine.size());
  const std::vector<float> pred = allgather_blocks(pred_mine, MPI_FLOAT, ctx.mpi.comm());
  // The same metrics on the training curves: the gap to the test split measures overfitting.
  const mpi::Range mine_train = mpi::block_range(n_train, ctx.mpi.size(), ctx.mpi.rank());
  const std::vector<float> pred_train = allgather_blocks(
      predict(trainer.model(), train.theta_unit.data() + mine_train.begin * ParameterSpace::kDim, mine_train.size()),
      MPI_FLOAT, ctx.mpi.comm());
  if (ctx.root()) {
    const CurveAccuracy acc = curve_accuracy(pred.data(), test.log10.data(), n_test, n_q);
    const Summary male = summarise(acc.male_log), rmse = summarise(acc.rmse_log), relerr = summarise(acc.relerr_log);
    const CurveAccuracy acc_train = curve_accuracy(pred_train.data(), train.log10.data(), n_train, n_q);
    const Summary male_train = summarise(acc_train.male_log);

    const std::string weights = ctx.path(surrogate::kWeightsFile);
    trainer.model().save_weights(weights);
    io::CheckpointWriter w(out, ctx.provenance(), MPI_COMM_NULL, /*allow_resume=*/false);
    surrogate::write_metadata(w.id(), meta);
    io::set_attr(w.id(), "weights_file", fs::path(weights).filename().string());
    io::set_attr(w.id(), "weights_sha256", sha256_of_file(weights));
    io::set_attr(w.id(), "parameter_count", model.parameter_count());
    io::set_attr(w.id(), "n_train", n_train);
    io::set_attr(w.id(), "n_test", n_test);
    io::set_attr(w.id(), "epochs", settings.epochs);
    io::set_attr(w.id(), "batch_size", settings.batch_size);
    io::set_attr(w.id(), "loss", cfg.string("train.loss"));
    io::set_attr(w.id(), "final_loss", trainer.loss_history().empty() ? 0.0 : trainer.loss_history().back());
    io::set_attr(w.id(), "ranks", std::int64_t{ctx.mpi.size()});
    io::set_attr(w.id(), "device", device.str());
    io::set_attr(w.id(), "train_seconds_last_run", train_seconds);
    {
      const auto& lh = trainer.loss_history();
      const auto& lr = trainer.lr_history();
      io::write_dataset<double>(w.id(), "history/loss", {lh.size()}, lh.data());
      io::write_dataset<double>(w.id(), "history/lr", {lr.size()}, lr.data());
      io::H5Id h = io::ensure_group(w.id(), "history");
      io::set_attr(h, "description", std::string("per epoch: mean global-batch training loss, learning rate"));
    }
    io::H5Id g = io::ensure_group(w.id(), "test");
    const auto nt = static_cast<hsize_t>(n_test);
    io::write_dataset<double>(g, "male_log", {nt}, acc.male_log.data());
    io::write_dataset<double>(g, "rmse_log", {nt}, acc.rmse_log.data());
    io::write_dataset<double>(g, "relerr_log", {nt}, acc.relerr_log.data());
    io::write_dataset<float>(g, "log10_intensity_pred", {nt, static_cast<hsize_t>(n_q)}, pred.data());
    io::set_attr(g, "description",
                 std::string("rows = items of curves.h5 /test; male_log = mean_q |d|, rmse_log = sqrt(mean_q d^2), "
                             "relerr_log = male_log / (max_q - min_q of the reference log10 I), d = log10 I_pred - "
                             "log10 I_ref (paper 4.2.6, mean form)"));
    write_summary(g, "male_log", male);
    write_summary(g, "rmse_log", rmse);
    write_summary(g, "relerr_log", relerr);
    io::H5Id gt = io::ensure_group(w.id(), "train_fit");
    io::write_dataset<double>(gt, "male_log", {static_cast<hsize_t>(n_train)}, acc_train.male_log.data());
    io::set_attr(gt, "description", std::string("the same metrics on the training curves (rows = items of curves.h5 /train)"));
    write_summary(gt, "male_log", male_train);
    write_summary(gt, "rmse_log", summarise(acc_train.rmse_log));
    write_summary(gt, "relerr_log", summarise(acc_train.relerr_log));
    w.commit();
    std::error_code ec;
    fs::remove(state_path, ec);
    log::info("trained {} epochs ({} this run, {}), final loss {:.4e}; test ({} curves): MALE_log mean {:.4f} "
              "(median {:.4f}), RMSE_log mean {:.4f}, RelErr_log mean {:.3f}% (median {:.3f}%); training curves MALE_log "
              "mean {:.4f} → {}",
              settings.epochs, settings.epochs - first_epoch, log::format_duration(train_seconds),
              trainer.loss_history().empty() ? 0.0 : trainer.loss_history().back(), n_test, male.mean, male.median,
              rmse.mean, 100 * relerr.mean, 100 * relerr.median, male_train.mean, out);
  }
}

}  // namespace lnpsaxs::train
