// The DCT residual-MLP surrogate (docs/method.md §4.2–4.3, §9).
#include "models/surrogate/surrogate.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/sha256.h"

namespace lnpsaxs::surrogate {
namespace fs = std::filesystem;

namespace {

/// First line of a LibTorch error (its messages carry multi-line C++ backtraces).
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// u = SiLU(fc1(h)); h ← SiLU(fc2(u) + h): post-activation on the sum (the reference code's block).
struct ResidualBlockImpl : torch::nn::Module {
  explicit ResidualBlockImpl(std::int64_t width)
      : fc1(register_module("fc1", torch::nn::Linear(width, width))),
        fc2(register_module("fc2", torch::nn::Linear(width, width))) {}
  torch::Tensor forward(const torch::Tensor& h) {
    return torch::silu(fc2->forward(torch::silu(fc1->forward(h))) + h);
  }
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(ResidualBlock);

/// input Linear → SiLU → residual blocks → output Linear to (μ, log σ, n_q − 1 DCT-AC coefficients).
struct NetImpl : torch::nn::Module {
  explicit NetImpl(const Architecture& a)
      : input(register_module("input", torch::nn::Linear(a.n_inputs, a.width))),
        blocks(register_module("blocks", torch::nn::ModuleList())),
        output(register_module("output", torch::nn::Linear(a.width, a.n_q + 1))) {
    for (std::int64_t b = 0; b < a.blocks; ++b) blocks->push_back(ResidualBlock(a.width));
    // Φ_AC^T [n_q − 1, n_q]: the synthesis ỹ = h·Φ_AC^T is one matmul.
    phi_ac_t = register_buffer("phi_ac_t",
                               dct_basis(a.n_q).narrow(1, 1, a.n_q - 1).t().contiguous().to(torch::kFloat));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = torch::silu(input->forward(x));
    for (const auto& m : *blocks) h = m->as<ResidualBlockImpl>()->forward(h);
    const torch::Tensor z = output->forward(h);
    const std::int64_t m = phi_ac_t.size(0);
    const torch::Tensor mu = z.narrow(1, 0, 1);
    const torch::Tensor log_sigma = z.narrow(1, 1, 1);  // no clamp, as the reference code
    return mu + log_sigma.exp() * z.narrow(1, 2, m).matmul(phi_ac_t);
  }

  /// The Linear layers in a fixed order (initialisation, FLOP count).
  std::vector<torch::nn::Linear> linears() {
    std::vector<torch::nn::Linear> v{input};
    for (const auto& m : *blocks) {
      auto* b = m->as<ResidualBlockImpl>();
      v.push_back(b->fc1);
      v.push_back(b->fc2);
    }
    v.push_back(output);
    return v;
  }

  torch::nn::Linear input;
  torch::nn::ModuleList blocks;
  torch::nn::Linear output;
  torch::Tensor phi_ac_t;
};
TORCH_MODULE(Net);

void check_architecture(const Architecture& a) {
  if (a.n_inputs < 1 || a.width < 1 || a.blocks < 0 || a.n_q < 2) {
    throw InputError("surrogate architecture: n_inputs " + std::to_string(a.n_inputs) + ", width " +
                     std::to_string(a.width) + ", blocks " + std::to_string(a.blocks) + ", n_q " +
                     std::to_string(a.n_q) + " (need n_inputs, width >= 1, blocks >= 0, n_q >= 2)");
  }
}

}  // namespace

struct Surrogate::Impl {
  Metadata meta;
  c10::Device device{c10::kCPU};
  Net net{nullptr};
};

// --- DCT basis --------------------------------------------------------------------------------

at::Tensor dct_basis(std::int64_t n) {
  if (n < 1) throw std::invalid_argument("dct_basis: n must be >= 1");
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor j = torch::arange(n, opts).unsqueeze(1) + 0.5;
  const torch::Tensor k = torch::arange(n, opts).unsqueeze(0);
  torch::Tensor alpha = torch::full({1, n}, std::sqrt(2.0 / static_cast<double>(n)), opts);
  alpha[0][0] = 1.0 / std::sqrt(static_cast<double>(n));
  return alpha * torch::cos(M_PI * j * k / static_cast<double>(n));
}

// --- metadata ----------------------------------------------------------------------------------

void write_metadata(hid_t loc, const Metadata& meta) {
  check_architecture(meta.arch);
  if (static_cast<std::int64_t>(meta.q.size()) != meta.arch.n_q) {
    throw std::invalid_argument("write_metadata: q has " + std::to_string(meta.q.size()) + " points, arch.n_q " +
                                std::to_string(meta.arch.n_q));
  }
  io::write_dataset<double>(loc, "q", {meta.q.size()}, meta.q.data());
  io::H5Id q = io::open_dataset(loc, "q");
  io::set_attr(q, "units", std::string("Å^-1"));
  io::set_attr(loc, "y_mean", meta.y_mean);
  io::set_attr(loc, "y_std", meta.y_std);
  io::set_attr(loc, "parameter_names", meta.box.names());
  io::set_attr(loc, "parameter_units", meta.box.units());
  io::set_attr(loc, "box_lower", meta.box.lower());
  io::set_attr(loc, "box_upper", meta.box.upper());
  io::set_attr(loc, "n_inputs", meta.arch.n_inputs);
  io::set_attr(loc, "width", meta.arch.width);
  io::set_attr(loc, "blocks", meta.arch.blocks);
  io::set_attr(loc, "n_q", meta.arch.n_q);
  io::set_attr(loc, "model",
               std::string("input Linear, SiLU, `blocks` x [u = SiLU(Linear(h)); h = SiLU(Linear(u) + h)], output "
                           "Linear to (mu, log sigma, n_q - 1 DCT-II AC coefficients); log10 I = y_std * (mu + "
                           "exp(log sigma) * Phi_AC h) + y_mean"));
}

Metadata read_metadata(hid_t loc, const std::string& where) {
  for (const char* a : {"y_mean", "y_std", "parameter_names", "box_lower", "box_upper", "n_inputs", "width",
                        "blocks", "n_q"}) {
    if (!io::has_attr(loc, a)) throw InputError(where + ": attribute `" + a + "` is missing (not a surrogate file?)");
  }
  if (!io::exists(loc, "q")) throw InputError(where + ": dataset /q is missing (not a surrogate file?)");
  Metadata m;
  m.y_mean = io::attr_double(loc, "y_mean");
  m.y_std = io::attr_double(loc, "y_std");
  m.arch.n_inputs = io::attr_int(loc, "n_inputs");
  m.arch.width = io::attr_int(loc, "width");
  m.arch.blocks = io::attr_int(loc, "blocks");
  m.arch.n_q = io::attr_int(loc, "n_q");
  try {
    check_architecture(m.arch);
  } catch (const InputError& e) {
    throw InputError(where + ": " + e.what());
  }
  io::H5Id q = io::open_dataset(loc, "q");
  m.q = io::read_all<double>(q);
  if (static_cast<std::int64_t>(m.q.size()) != m.arch.n_q) {
    throw InputError(where + ": /q has " + std::to_string(m.q.size()) + " points but n_q = " + std::to_string(m.arch.n_q));
  }
  const auto names = io::attr_strings(loc, "parameter_names");
  const auto lo = io::attr_doubles(loc, "box_lower");
  const auto hi = io::attr_doubles(loc, "box_upper");
  auto params = ParameterSpace::defaults().params();
  if (names.size() != params.size() || lo.size() != params.size() || hi.size() != params.size() ||
      m.arch.n_inputs != ParameterSpace::kDim) {
    throw InputError(where + ": the surrogate has " + std::to_string(names.size()) + " inputs, expected " +
                     std::to_string(ParameterSpace::kDim));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (names[i] != params[i].name) {
      throw InputError(where + ": input " + std::to_string(i) + " is `" + names[i] + "`, expected `" + params[i].name +
                       "` (surrogate input order, docs/method.md §1.1)");
    }
    if (!(lo[i] < hi[i])) throw InputError(where + ": box of " + names[i] + " is empty");
    params[i].lower = lo[i];
    params[i].upper = hi[i];
  }
  m.box = ParameterSpace(params);
  if (!(m.y_std > 0) || !std::isfinite(m.y_mean)) {
    throw InputError(where + ": y_std = " + std::to_string(m.y_std) + ", y_mean = " + std::to_string(m.y_mean) +
                     " are not a valid standardisation");
  }
  return m;
}

// --- Surrogate ---------------------------------------------------------------------------------

Surrogate::Surrogate(const Metadata& meta, c10::Device device, std::uint64_t seed) : impl_(std::make_shared<Impl>()) {
  check_architecture(meta.arch);
  impl_->meta = meta;
  impl_->device = device;
  impl_->net = Net(meta.arch);
  // PyTorch's default Linear initialisation (kaiming_uniform_ with a = √5 for the weight, which is
  // U(±1/√fan_in), and U(±1/√fan_in) for the bias), drawn from a private generator so that the
  // weights depend on `seed` only, not on the global RNG or the device.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  {
    torch::NoGradGuard no_grad;
    for (auto& lin : impl_->net->linears()) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(lin->weight.size(1)));
      lin->weight.uniform_(-bound, bound, gen);
      lin->bias.uniform_(-bound, bound, gen);
    }
  }
  impl_->net->to(device);
}

Surrogate Surrogate::load(const std::string& run_dir, c10::Device device) {
  const std::string meta_path = (fs::path(run_dir) / kMetadataFile).string();
  const io::OutputInfo info = io::inspect_output(meta_path);
  if (info.state == io::OutputState::missing) {
    throw InputError(meta_path + " is missing: run lnpsaxs-train first (same --config and --run-dir)");
  }
  if (info.state == io::OutputState::partial) {
    throw InputError(meta_path + " is incomplete (" + info.path + " exists): rerun lnpsaxs-train to finish it");
  }
  if (info.stage != "train") {
    throw InputError(meta_path + " was made by stage `" + info.stage + "`, not by lnpsaxs-train");
  }
  Metadata meta;
  std::string weights_name = "weights.pt";
  std::string weights_sha;
  {
    io::File f = io::File::open(meta_path, io::File::Mode::read);
    meta = read_metadata(f, meta_path);
    if (io::has_attr(f, "weights_file")) weights_name = io::attr_string(f, "weights_file");
    if (io::has_attr(f, "weights_sha256")) weights_sha = io::attr_string(f, "weights_sha256");
  }
  const std::string weights_path = (fs::path(meta_path).parent_path() / weights_name).string();
  if (!weights_sha.empty()) {
    std::ifstream in(weights_path, std::ios::binary);
    if (!in) throw InputError(weights_path + " is missing: rerun lnpsaxs-train --force");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (sha256_hex(bytes.str()) != weights_sha) {
      throw InputError(weights_path + " does not match " + meta_path +
                       " (weights_sha256 differs): the weights were replaced; rerun lnpsaxs-train --force");
    }
  }
  Surrogate s(meta, device, 0);
  s.load_weights(weights_path);
  return s;
}

at::Tensor Surrogate::standardised(const at::Tensor& theta_unit) const {
  if (theta_unit.dim() != 2 || theta_unit.size(1) != impl_->meta.arch.n_inputs) {
    throw std::invalid_argument("Surrogate: θ̃ must be [B, " + std::to_string(impl_->meta.arch.n_inputs) + "], got " +
                                std::to_string(theta_unit.dim()) + "-d");
  }
  return impl_->net->forward(theta_unit.to(impl_->device, dtype()));
}

at::Tensor Surrogate::log10_intensity(const at::Tensor& theta_unit) const {
  return standardised(theta_unit) * impl_->meta.y_std + impl_->meta.y_mean;
}

const Metadata& Surrogate::metadata() const { return impl_->meta; }
c10::Device Surrogate::device() const { return impl_->device; }
std::vector<at::Tensor> Surrogate::parameters() const { return impl_->net->parameters(); }
void Surrogate::train_mode(bool on) { impl_->net->train(on); }
void Surrogate::convert(c10::ScalarType dtype) {
  impl_->net->to(dtype);
  // The basis is exact by formula: recompute it rather than widen a float32 copy.
  torch::NoGradGuard no_grad;
  const std::int64_t n_q = impl_->meta.arch.n_q;
  impl_->net->phi_ac_t.copy_(dct_basis(n_q).narrow(1, 1, n_q - 1).t());
}
c10::ScalarType Surrogate::dtype() const { return impl_->net->phi_ac_t.scalar_type(); }

std::int64_t Surrogate::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

double Surrogate::forward_flops_per_row() const {
  double f = 0;
  for (auto& lin : impl_->net->linears()) f += 2.0 * static_cast<double>(lin->weight.numel());
  return f + 2.0 * static_cast<double>(impl_->net->phi_ac_t.numel());
}

void Surrogate::save_weights(torch::serialize::OutputArchive& archive) const { impl_->net->save(archive); }

namespace {

/// Reads every parameter of `module` (recursively, in Module::save's layout: own parameters by
/// name, children as nested archives) into a temporary, checks its shape, and copies it in with
/// our dtype and device. Buffers are not read: the only one, the DCT basis, is exact by formula.
/// Nothing is modified before a shape check passes for that tensor.
void load_parameters(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters(/*recurse=*/false)) {
    torch::Tensor t;
    archive.read(item.key(), t);
    if (t.sizes() != item.value().sizes()) {
      throw InputError("tensor " + prefix + item.key() + " has shape " + c10::str(t.sizes()) + ", expected " +
                       c10::str(item.value().sizes()));
    }
    item.value().copy_(t);
  }
  for (auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    archive.read(child.key(), child_archive);
    load_parameters(*child.value(), child_archive, prefix + child.key() + ".");
  }
}

}  // namespace

void Surrogate::load_weights(torch::serialize::InputArchive& archive, const std::string& where) {
  // Load into a scratch copy first so that a failure leaves this model untouched.
  Net scratch(impl_->meta.arch);
  scratch->to(impl_->device, dtype());
  try {
    load_parameters(*scratch, archive, "");
  } catch (const InputError& e) {
    throw InputError(where + ": the weights do not fit a surrogate of width " + std::to_string(impl_->meta.arch.width) +
                     ", " + std::to_string(impl_->meta.arch.blocks) + " blocks, n_q " +
                     std::to_string(impl_->meta.arch.n_q) + ": " + e.what());
  } catch (const c10::Error& e) {
    throw InputError(where + ": the weights do not fit a surrogate of width " + std::to_string(impl_->meta.arch.width) +
                     ", " + std::to_string(impl_->meta.arch.blocks) + " blocks, n_q " +
                     std::to_string(impl_->meta.arch.n_q) + " (" + first_line(e.what()) + ")");
  }
  torch::NoGradGuard no_grad;
  auto dst = impl_->net->parameters();
  auto src = scratch->parameters();
  for (std::size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
}

void Surrogate::save_weights(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  save_weights(archive);
  const std::string tmp = path + ".tmp";
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    throw RuntimeFailure(tmp + ": cannot write the surrogate weights (" + first_line(e.what()) + ")");
  }
  io::atomic_rename(tmp, path);
}

void Surrogate::load_weights(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + " is missing: rerun lnpsaxs-train");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, impl_->device);
  } catch (const c10::Error& e) {
    throw InputError(path + ": not a readable LibTorch archive (" + first_line(e.what()) + ")");
  }
  load_weights(archive, path);
}

}  // namespace lnpsaxs::surrogate
