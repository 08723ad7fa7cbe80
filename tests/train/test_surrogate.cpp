// The surrogate model (models/surrogate/surrogate.h; docs/method.md §4.2–4.3): DCT basis,
// forward pass against the spec's formulas written out by hand, initialisation, gradients against
// finite differences, save/load and Surrogate::load from a run directory.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/sha256.h"
#include "models/surrogate/surrogate.h"

#include "doctest_torch.h"

namespace fs = std::filesystem;
using lnpsaxs::surrogate::Metadata;
using lnpsaxs::surrogate::Surrogate;

namespace {

const c10::Device kCpu(c10::kCPU);

Metadata small_meta(std::int64_t width = 16, std::int64_t blocks = 2, std::int64_t n_q = 24) {
  Metadata m;
  m.arch.width = width;
  m.arch.blocks = blocks;
  m.arch.n_q = n_q;
  for (std::int64_t j = 0; j < n_q; ++j) m.q.push_back(0.002 + 0.198 * static_cast<double>(j) / static_cast<double>(n_q - 1));
  m.y_mean = 8.17;
  m.y_std = 1.54;
  return m;
}

/// A fresh temporary directory, removed at scope exit.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/lnpsaxs-train-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

lnpsaxs::io::Provenance provenance(const std::string& stage) { return {stage, "cfg-sha", "stage-sha", "yaml: 1"}; }

/// Writes RUN/surrogate/{weights.pt, surrogate.h5} the way the train stage does.
void write_run(const Surrogate& s, const std::string& run, bool commit = true) {
  fs::create_directories(fs::path(run) / "surrogate");
  const std::string weights = (fs::path(run) / lnpsaxs::surrogate::kWeightsFile).string();
  s.save_weights(weights);
  std::ifstream in(weights, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string meta_path = (fs::path(run) / lnpsaxs::surrogate::kMetadataFile).string();
  auto fill = [&](hid_t f) {
    lnpsaxs::surrogate::write_metadata(f, s.metadata());
    lnpsaxs::io::set_attr(f, "weights_file", std::string("weights.pt"));
    lnpsaxs::io::set_attr(f, "weights_sha256", lnpsaxs::sha256_hex(bytes));
  };
  if (!commit) {
    // What a killed train leaves behind: NAME.partial with complete = 0 (a CheckpointWriter that is
    // destroyed without commit removes a partial that holds nothing resumable).
    lnpsaxs::io::File f = lnpsaxs::io::File::create(lnpsaxs::io::partial_path(meta_path));
    lnpsaxs::io::write_provenance(f, provenance("train"));
    fill(f);
    return;
  }
  lnpsaxs::io::CheckpointWriter w(meta_path, provenance("train"), MPI_COMM_NULL, false);
  fill(w.id());
  w.commit();
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("DCT-II basis is orthonormal and follows the spec formula") {
  for (std::int64_t n : {1, 2, 8, 63, 300}) {
    const torch::Tensor phi = lnpsaxs::surrogate::dct_basis(n);
    REQUIRE((phi.sizes() == torch::IntArrayRef({n, n})));
    REQUIRE((phi.scalar_type() == torch::kDouble));
    const torch::Tensor eye = torch::eye(n, torch::kDouble);
    INFO("n = " << n);
    CHECK(max_abs_diff(phi.t().matmul(phi), eye) < 1e-12);
    CHECK(max_abs_diff(phi.matmul(phi.t()), eye) < 1e-12);
    // Column 0 is the constant 1/√n; entry (j, k) = √(2/n)·cos(π(j + ½)k/n).
    CHECK(max_abs_diff(phi.select(1, 0), torch::full({n}, 1.0 / std::sqrt(static_cast<double>(n)), torch::kDouble)) < 1e-15);
    if (n >= 8) {
      const double want = std::sqrt(2.0 / static_cast<double>(n)) * std::cos(M_PI * (5 + 0.5) * 3 / static_cast<double>(n));
      CHECK(phi[5][3].item<double>() == doctest::Approx(want).epsilon(1e-14));
      // AC columns sum to zero: the curve's mean is carried by μ alone.
      CHECK(phi.narrow(1, 1, n - 1).sum(0).abs().max().item<double>() < 1e-12);
    }
  }
}

TEST_CASE("surrogate forward pass equals the spec formulas written out by hand") {
  const Metadata meta = small_meta(12, 3, 20);
  Surrogate s(meta, kCpu, 42);
  s.convert(torch::kDouble);
  const torch::Tensor x = torch::rand({5, 9}, torch::kDouble);
  const auto p = s.parameters();
  // input, 3 × (fc1, fc2), output: (weight, bias) each.
  REQUIRE(p.size() == 2 * (1 + 2 * 3 + 1));
  CHECK(s.parameter_count() == 9 * 12 + 12 + 3 * 2 * (12 * 12 + 12) + 12 * 21 + 21);
  CHECK(s.forward_flops_per_row() == doctest::Approx(2.0 * (9 * 12 + 3 * 2 * 12 * 12 + 12 * 21 + 20 * 19)));
  const auto lin = [&](const torch::Tensor& h, std::size_t i) { return h.matmul(p[2 * i].t()) + p[2 * i + 1]; };
  torch::Tensor h = torch::silu(lin(x, 0));
  for (std::size_t b = 0; b < 3; ++b) {
    const torch::Tensor u = torch::silu(lin(h, 1 + 2 * b));
    h = torch::silu(lin(u, 2 + 2 * b) + h);  // post-activation on the sum
  }
  const torch::Tensor z = lin(h, 7);
  REQUIRE(z.size(1) == meta.arch.n_q + 1);  // μ, log σ, n_q − 1 AC coefficients
  const torch::Tensor phi = lnpsaxs::surrogate::dct_basis(meta.arch.n_q);
  torch::Tensor want = z.narrow(1, 0, 1) + z.narrow(1, 1, 1).exp() * z.narrow(1, 2, meta.arch.n_q - 1).matmul(phi.narrow(1, 1, meta.arch.n_q - 1).t());
  const torch::Tensor got = s.standardised(x);
  CHECK(max_abs_diff(got, want) < 1e-12);
  // The curve's mean over q is μ: the AC columns carry no mean.
  CHECK(max_abs_diff(got.mean(1), z.select(1, 0)) < 1e-12);
  CHECK(max_abs_diff(s.log10_intensity(x), got * meta.y_std + meta.y_mean) < 1e-12);
}

TEST_CASE("initial weights are PyTorch's default Linear initialisation, keyed by the seed") {
  const Metadata meta = small_meta(64, 1, 16);
  Surrogate a(meta, kCpu, 7), b(meta, kCpu, 7), c(meta, kCpu, 8);
  const auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  bool all_equal = true, any_differs = false;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    all_equal = all_equal && torch::equal(pa[i], pb[i]);
    any_differs = any_differs || !torch::equal(pa[i], pc[i]);
  }
  CHECK(all_equal);
  CHECK(any_differs);
  // U(±1/√fan_in) for weight and bias; 64² draws reach close to the bound.
  const torch::Tensor w = pa[2];  // blocks.0.fc1.weight [64, 64]
  const double bound = 1.0 / 8.0;
  CHECK(w.abs().max().item<double>() <= bound);
  CHECK(w.abs().max().item<double>() > 0.99 * bound);
  CHECK(std::abs(w.mean().item<double>()) < 0.01);
  CHECK(pa[0].abs().max().item<double>() <= 1.0 / 3.0);  // input layer: fan_in 9
  CHECK((a.dtype() == torch::kFloat));
}

TEST_CASE("surrogate gradients agree with central finite differences") {
  const Metadata meta = small_meta(16, 2, 24);
  Surrogate s(meta, kCpu, 3);
  s.convert(torch::kDouble);
  const torch::Tensor x0 = torch::rand({3, 9}, torch::kDouble);
  const torch::Tensor c = torch::randn({3, meta.arch.n_q}, torch::kDouble);
  const auto f = [&](const torch::Tensor& x) { return (c * s.log10_intensity(x)).sum(); };

  // With respect to θ̃ (what `fit` differentiates).
  torch::Tensor x = x0.clone().requires_grad_(true);
  const torch::Tensor g = torch::autograd::grad({f(x)}, {x})[0];
  const double h = 1e-6;
  double worst = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    for (std::int64_t j = 0; j < 9; ++j) {
      torch::NoGradGuard ng;
      torch::Tensor xp = x0.clone(), xm = x0.clone();
      xp[i][j] += h;
      xm[i][j] -= h;
      const double fd = (f(xp).item<double>() - f(xm).item<double>()) / (2 * h);
      const double ad = g[i][j].item<double>();
      worst = std::max(worst, std::abs(fd - ad) / std::max(1.0, std::abs(ad)));
    }
  }
  MESSAGE("worst relative error (θ̃, float64): " << worst);
  CHECK(worst < 1e-6);

  // With respect to weights of every kind of layer (what `train` differentiates).
  auto params = s.parameters();
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  f(x0).backward();
  worst = 0;
  for (std::size_t k : {std::size_t{0}, std::size_t{3}, params.size() - 2, params.size() - 1}) {
    torch::Tensor p = params[k];
    const torch::Tensor flat_grad = p.grad().reshape({-1});
    for (std::int64_t e : {std::int64_t{0}, p.numel() / 2, p.numel() - 1}) {
      double fp = 0, fm = 0;
      {
        torch::NoGradGuard ng;
        torch::Tensor v = p.view({-1});
        const double orig = v[e].item<double>();
        v[e] = orig + h;
        fp = f(x0).item<double>();
        v[e] = orig - h;
        fm = f(x0).item<double>();
        v[e] = orig;
      }
      const double fd = (fp - fm) / (2 * h);
      const double ad = flat_grad[e].item<double>();
      worst = std::max(worst, std::abs(fd - ad) / std::max(1.0, std::abs(ad)));
    }
  }
  MESSAGE("worst relative error (weights, float64): " << worst);
  CHECK(worst < 1e-6);

  // float32, as `fit` runs it: a coarser step, a looser bound.
  Surrogate s32(meta, kCpu, 3);
  const torch::Tensor c32 = c.to(torch::kFloat);
  const auto f32 = [&](const torch::Tensor& xx) { return (c32 * s32.log10_intensity(xx)).sum(); };
  torch::Tensor x32 = x0.to(torch::kFloat).requires_grad_(true);
  const torch::Tensor g32 = torch::autograd::grad({f32(x32)}, {x32})[0];
  worst = 0;
  for (std::int64_t j = 0; j < 9; ++j) {
    torch::NoGradGuard ng;
    const float h32 = 1e-2f;
    torch::Tensor xp = x0.to(torch::kFloat), xm = x0.to(torch::kFloat);
    xp[1][j] += h32;
    xm[1][j] -= h32;
    const double fd = (f32(xp).item<double>() - f32(xm).item<double>()) / (2 * h32);
    const double ad = g32[1][j].item<double>();
    worst = std::max(worst, std::abs(fd - ad) / std::max(1.0, std::abs(ad)));
  }
  MESSAGE("worst relative error (θ̃, float32): " << worst);
  CHECK(worst < 1e-2);
}

TEST_CASE("weights and metadata round-trip through the run directory") {
  TempDir dir;
  const Metadata meta = small_meta(8, 1, 12);
  Surrogate trained(meta, kCpu, 11);
  write_run(trained, dir.path);
  const Surrogate loaded = Surrogate::load(dir.path, kCpu);
  CHECK(loaded.metadata().q == meta.q);
  CHECK(loaded.metadata().y_mean == meta.y_mean);
  CHECK(loaded.metadata().y_std == meta.y_std);
  CHECK(loaded.metadata().arch.width == 8);
  CHECK(loaded.metadata().box.lower() == meta.box.lower());
  CHECK(loaded.metadata().box.upper() == meta.box.upper());
  const torch::Tensor x = torch::rand({4, 9});
  CHECK(torch::equal(loaded.log10_intensity(x), trained.log10_intensity(x)));

  // A model loaded into a converted (float64) instance keeps its dtype.
  Surrogate other(meta, kCpu, 99);
  other.convert(torch::kDouble);
  other.load_weights((fs::path(dir.path) / lnpsaxs::surrogate::kWeightsFile).string());
  CHECK((other.dtype() == torch::kDouble));
  CHECK(max_abs_diff(other.log10_intensity(x.to(torch::kDouble)), trained.log10_intensity(x).to(torch::kDouble)) < 1e-5);
}

TEST_CASE("Surrogate::load refuses missing, incomplete, replaced or mismatched files") {
  TempDir dir;
  const Metadata meta = small_meta(8, 1, 12);
  CHECK_THROWS_WITH_AS(Surrogate::load(dir.path, kCpu), doctest::Contains("is missing: run lnpsaxs-train"),
                       lnpsaxs::InputError);
  Surrogate s(meta, kCpu, 1);
  write_run(s, dir.path, /*commit=*/false);
  CHECK_THROWS_WITH_AS(Surrogate::load(dir.path, kCpu), doctest::Contains("is incomplete"), lnpsaxs::InputError);

  TempDir dir2;
  write_run(s, dir2.path);
  // Weights of another architecture under the same name: the checksum no longer matches.
  Surrogate wide(small_meta(10, 1, 12), kCpu, 1);
  wide.save_weights((fs::path(dir2.path) / lnpsaxs::surrogate::kWeightsFile).string());
  CHECK_THROWS_WITH_AS(Surrogate::load(dir2.path, kCpu), doctest::Contains("weights_sha256 differs"),
                       lnpsaxs::InputError);
  // Loaded directly, the shape check names the tensor, and the model is left as it was.
  Surrogate narrow(meta, kCpu, 1);
  const torch::Tensor x = torch::rand({2, 9});
  const torch::Tensor before = narrow.log10_intensity(x).detach().clone();
  CHECK_THROWS_WITH_AS(narrow.load_weights((fs::path(dir2.path) / lnpsaxs::surrogate::kWeightsFile).string()),
                       doctest::Contains("tensor input.weight has shape [10, 9], expected [8, 9]"), lnpsaxs::InputError);
  CHECK(torch::equal(narrow.log10_intensity(x), before));
  CHECK_THROWS_AS(narrow.load_weights(dir2.path + "/nothing.pt"), lnpsaxs::InputError);
}
