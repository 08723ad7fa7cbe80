// Training of the surrogate in one process (stages/train/trainer.h; docs/method.md §4.4–4.6):
// schedule, shuffle, loss formula, a tiny set learnt by heart, exact resume from a checkpoint,
// and the accuracy metrics.
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "accuracy.h"
#include "models/surrogate/surrogate.h"
#include "trainer.h"

#include "doctest_torch.h"

namespace fs = std::filesystem;
using namespace lnpsaxs;

namespace {

const c10::Device kCpu(c10::kCPU);

surrogate::Metadata meta_for(std::int64_t width, std::int64_t blocks, std::int64_t n_q) {
  surrogate::Metadata m;
  m.arch.width = width;
  m.arch.blocks = blocks;
  m.arch.n_q = n_q;
  m.q.assign(static_cast<std::size_t>(n_q), 0.0);
  return m;
}

/// Smooth synthetic curves: a decaying log-intensity with a θ-dependent slope and ripple,
/// standardised roughly like real targets.
train::Dataset synthetic(std::int64_t n, std::int64_t n_q, std::uint64_t seed) {
  torch::manual_seed(seed);
  train::Dataset d;
  d.theta_unit = torch::rand({n, 9});
  const torch::Tensor q = torch::linspace(0, 1, n_q).unsqueeze(0);
  const torch::Tensor a = d.theta_unit.narrow(1, 0, 1), b = d.theta_unit.narrow(1, 1, 1), c = d.theta_unit.narrow(1, 2, 1);
  d.target = 1.5 - (2 + a) * q + 0.3 * torch::sin((4 + 6 * b) * q + c);
  return d;
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/lnpsaxs-trainer-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

}  // namespace

TEST_CASE("cosine learning rate per epoch runs from lr to lr_min") {
  train::Settings s;
  s.epochs = 100;
  s.lr = 1e-3;
  s.lr_min = 1e-7;
  CHECK(train::cosine_lr(s, 0) == doctest::Approx(1e-3));
  CHECK(train::cosine_lr(s, 50) == doctest::Approx(0.5 * (1e-3 + 1e-7)));
  CHECK(train::cosine_lr(s, 100) == doctest::Approx(1e-7));
  CHECK(train::cosine_lr(s, 25) > train::cosine_lr(s, 26));
}

TEST_CASE("epoch permutation is a permutation keyed by seed and epoch") {
  const auto p = train::epoch_permutation(5, 0, 1000);
  CHECK(std::set<std::int64_t>(p.begin(), p.end()).size() == 1000);
  CHECK(*std::min_element(p.begin(), p.end()) == 0);
  CHECK(*std::max_element(p.begin(), p.end()) == 999);
  CHECK(train::epoch_permutation(5, 0, 1000) == p);
  CHECK(train::epoch_permutation(5, 1, 1000) != p);
  CHECK(train::epoch_permutation(6, 0, 1000) != p);
  // Not close to the identity: a real shuffle.
  int fixed = 0;
  for (std::int64_t i = 0; i < 1000; ++i) fixed += p[static_cast<std::size_t>(i)] == i;
  CHECK(fixed < 10);
  CHECK(train::epoch_permutation(5, 0, 1) == std::vector<std::int64_t>{0});
}

TEST_CASE("batch loss is the reference code's scaled SmoothL1 of residuals over the curve range") {
  // Two curves of three points; residuals straddle β = 1.
  const torch::Tensor target = torch::tensor({0.0, 1.0, 3.0, 0.0, 0.5, 1.0}, torch::kDouble).view({2, 3});
  const torch::Tensor pred = torch::tensor({0.5, 1.0, 0.0, 0.2, 0.5, 1.4}, torch::kDouble).view({2, 3});
  const torch::Tensor dy = train::curve_ranges(target);
  CHECK(dy[0].item<double>() == doctest::Approx(3.0));
  CHECK(dy[1].item<double>() == doctest::Approx(1.0));
  // r = (pred − target)/dy: (1/6, 0, −1), (0.2, 0, 0.4); SmoothL1: 1/72, 0, 0.5, 0.02, 0, 0.08.
  const double sum = 1.0 / 72 + 0.5 + 0.02 + 0.08;
  const double scale = 10 * (3.0 + 1.0) / 2;
  const double got = train::batch_loss(pred, target, dy, scale, 6.0, 1.0).item<double>();
  CHECK(got == doctest::Approx(scale * sum / 6.0).epsilon(1e-12));
  // β scales the quadratic zone: |r| = 1 with β = 2 is quadratic, 0.5·1/2.
  const double got2 = train::batch_loss(pred, target, dy, 1.0, 1.0, 2.0).item<double>();
  CHECK(got2 == doctest::Approx(0.25 * (1.0 / 36) + 0.25 + 0.25 * (0.04 + 0.16)).epsilon(1e-12));
  // A flat curve cannot divide by zero.
  CHECK(train::curve_ranges(torch::ones({1, 4})).item<double>() > 0);
}

TEST_CASE("training on a tiny set drives the loss down by more than two orders of magnitude") {
  const std::int64_t n = 16, n_q = 32;
  train::Settings s;
  s.epochs = 600;
  s.batch_size = 8;
  s.lr = 2e-3;
  s.lr_min = 1e-5;
  s.seed = 1;
  train::Trainer trainer(surrogate::Surrogate(meta_for(64, 2, n_q), kCpu, 5), synthetic(n, n_q, 1), s, MPI_COMM_NULL, nullptr);
  while (!trainer.finished()) trainer.run_epoch();
  const auto& h = trainer.loss_history();
  REQUIRE(h.size() == 600);
  const double first = h.front(), last = h.back();
  MESSAGE("tiny-set loss: first epoch " << first << ", last epoch " << last << ", ratio " << first / last);
  CHECK(std::isfinite(last));
  CHECK(first / last >= 100.0);
}

TEST_CASE("resume from a checkpoint gives bit-identical weights to an uninterrupted run") {
  TempDir dir;
  const std::int64_t n = 20, n_q = 16;
  train::Settings s;
  s.epochs = 6;
  s.batch_size = 6;  // batches of 6, 6, 6, 2: the partial batch is kept
  s.seed = 9;
  const auto data = synthetic(n, n_q, 2);
  const auto meta = meta_for(32, 2, n_q);

  train::Trainer straight(surrogate::Surrogate(meta, kCpu, 4), data, s, MPI_COMM_NULL, nullptr);
  while (!straight.finished()) straight.run_epoch();

  const std::string state = dir.path + "/train_state.pt";
  {
    train::Trainer first(surrogate::Surrogate(meta, kCpu, 4), data, s, MPI_COMM_NULL, nullptr);
    for (int e = 0; e < 3; ++e) first.run_epoch();
    first.save_state(state, "fp-A");
    first.run_epoch();  // work after the checkpoint, lost by the "kill"
  }
  // A new process: even its initial weights differ; everything comes from the checkpoint.
  train::Trainer resumed(surrogate::Surrogate(meta, kCpu, 1234), data, s, MPI_COMM_NULL, nullptr);
  std::string why;
  CHECK_FALSE(resumed.load_state(state, "fp-B", &why));
  CHECK(why == "made under a different config");
  CHECK_FALSE(resumed.load_state(dir.path + "/none.pt", "fp-A", &why));
  CHECK(why == "no checkpoint");
  REQUIRE(resumed.load_state(state, "fp-A", &why));
  CHECK(resumed.epoch() == 3);
  CHECK(resumed.loss_history().size() == 3);
  while (!resumed.finished()) resumed.run_epoch();

  const auto a = straight.model().parameters(), b = resumed.model().parameters();
  bool identical = true;
  for (std::size_t i = 0; i < a.size(); ++i) identical = identical && torch::equal(a[i], b[i]);
  CHECK(identical);
  CHECK(straight.loss_history() == resumed.loss_history());
  CHECK(straight.lr_history() == resumed.lr_history());
}

TEST_CASE("test metrics MALE_log, RMSE_log, RelErr_log (mean form) and their summary") {
  // Curve 0: constant offset 0.1 over a range of 2 decades; curve 1: errors ±0.3 / 0 over range 1.
  const std::vector<float> ref = {3, 2, 1, 4, 3.5f, 3};
  const std::vector<float> pred = {3.1f, 2.1f, 1.1f, 4.3f, 3.5f, 2.7f};
  const auto a = train::curve_accuracy(pred.data(), ref.data(), 2, 3);
  CHECK(a.male_log[0] == doctest::Approx(0.1).epsilon(1e-6));
  CHECK(a.rmse_log[0] == doctest::Approx(0.1).epsilon(1e-6));
  CHECK(a.relerr_log[0] == doctest::Approx(0.05).epsilon(1e-6));
  CHECK(a.male_log[1] == doctest::Approx(0.2).epsilon(1e-6));
  CHECK(a.rmse_log[1] == doctest::Approx(std::sqrt(0.18 / 3)).epsilon(1e-6));
  CHECK(a.relerr_log[1] == doctest::Approx(0.2).epsilon(1e-6));
  const auto s = train::summarise({4, 1, 3, 2, 5});
  CHECK(s.mean == doctest::Approx(3));
  CHECK(s.median == doctest::Approx(3));
  CHECK(s.std == doctest::Approx(std::sqrt(2.5)));
  CHECK(s.max == doctest::Approx(5));
  CHECK(s.p95 == doctest::Approx(4.8));
}
