#include "bayesnn/prior.h"

#include <cmath>
#include <ostream>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/variational_tensor.h"

namespace bayesnn {
namespace {
void check_positive_finite(const char* what, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, "Prior: ", what,
              " must be positive and finite, got ", value);
}

at::Tensor scalar(double value) { return at::full({}, value, at::kFloat); }
}  // namespace

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_parameters(
    at::IntArrayRef) const {
  return {};
}

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_parameters(
    at::IntArrayRef shape, int64_t) const {
  return initial_parameters(shape);
}

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_buffers(
    at::IntArrayRef) const {
  return {};
}

std::optional<GroupScales> PriorFamily::group_scales(const PriorModuleImpl&) const {
  return std::nullopt;
}

Prior::Prior(std::shared_ptr<const PriorFamily> family) : family_(std::move(family)) {
  TORCH_CHECK(family_ != nullptr, "Prior: the family is empty");
}

Prior Prior::fixed(double sd) {
  check_positive_finite("sd", sd);
  return Prior(std::make_shared<FixedPrior>(sd));
}

Prior Prior::hierarchical(double tau, double init_sd, double init_log_scale_sd) {
  check_positive_finite("tau", tau);
  check_positive_finite("init_sd", init_sd);
  check_positive_finite("init_log_scale_sd", init_log_scale_sd);
  return Prior(std::make_shared<HierarchicalPrior>(tau, init_sd, init_log_scale_sd));
}

Prior Prior::empirical_bayes(double init_sd, std::optional<double> hyper_tau) {
  check_positive_finite("init_sd", init_sd);
  if (hyper_tau) check_positive_finite("hyper_tau", *hyper_tau);
  return Prior(std::make_shared<EmpiricalBayesPrior>(init_sd, hyper_tau));
}

Prior Prior::scale_mixture(double pi, double sigma1, double sigma2) {
  TORCH_CHECK(std::isfinite(pi) && pi > 0 && pi < 1,
              "Prior: the scale mixture's pi must lie strictly between 0 and 1, got ", pi);
  check_positive_finite("sigma1", sigma1);
  check_positive_finite("sigma2", sigma2);
  return Prior(std::make_shared<ScaleMixturePrior>(pi, sigma1, sigma2));
}

Prior Prior::unit_hierarchical(double tau, double init_sd, double init_log_scale_sd) {
  check_positive_finite("tau", tau);
  check_positive_finite("init_sd", init_sd);
  check_positive_finite("init_log_scale_sd", init_log_scale_sd);
  return Prior(std::make_shared<UnitHierarchicalPrior>(tau, init_sd, init_log_scale_sd));
}

Prior Prior::gaussian(double mean, double sd) {
  TORCH_CHECK(std::isfinite(mean), "Prior: mean must be finite, got ", mean);
  check_positive_finite("sd", sd);
  return Prior(std::make_shared<GaussianPrior>(mean, sd));
}

Prior Prior::group_horseshoe(double tau0, double init_log_sd) {
  check_positive_finite("tau0", tau0);
  TORCH_CHECK(std::isfinite(init_log_sd), "Prior: init_log_sd must be finite, got ", init_log_sd);
  return Prior(std::make_shared<GroupHorseshoePrior>(tau0, init_log_sd));
}

Prior Prior::group_normal_jeffreys(double init_log_sd) {
  TORCH_CHECK(std::isfinite(init_log_sd), "Prior: init_log_sd must be finite, got ", init_log_sd);
  return Prior(std::make_shared<GroupNormalJeffreysPrior>(init_log_sd));
}

std::string to_string(const Prior& prior) { return prior.family().name(); }

// --- fixed ------------------------------------------------------------------------------------

std::string FixedPrior::name() const { return fmt::format("fixed({:g})", sd); }

at::Tensor FixedPrior::kl(const VariationalTensor& q, const PriorModuleImpl&) const {
  return kl_normal_zero_mean_from_sums(q.sums(), at::full({}, std::log(sd), q.mean().options()),
                                       q.mean().numel());
}

double FixedPrior::scale(const PriorModuleImpl&) const { return sd; }

// --- hierarchical -----------------------------------------------------------------------------

std::string HierarchicalPrior::name() const { return fmt::format("hierarchical(tau={:g})", tau); }

std::vector<std::pair<std::string, at::Tensor>> HierarchicalPrior::initial_parameters(
    at::IntArrayRef) const {
  return {{"log_scale_mean", scalar(std::log(init_sd))},
          {"log_scale_log_sigma", scalar(std::log(init_log_scale_sd))}};
}

at::Tensor HierarchicalPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  return kl_hierarchical_from_sums(q.sums(), module.hyper("log_scale_mean"),
                                   module.hyper("log_scale_log_sigma"), q.mean().numel(), tau);
}

double HierarchicalPrior::scale(const PriorModuleImpl& module) const {
  const double m = module.hyper("log_scale_mean").item<double>();
  const double v = std::exp(2.0 * module.hyper("log_scale_log_sigma").item<double>());
  return std::exp(m + 0.5 * v);
}

// --- empirical Bayes --------------------------------------------------------------------------

std::string EmpiricalBayesPrior::name() const {
  return hyper_tau ? fmt::format("empirical_bayes({:g}, tau={:g})", init_sd, *hyper_tau)
                   : fmt::format("empirical_bayes({:g})", init_sd);
}

std::vector<std::pair<std::string, at::Tensor>> EmpiricalBayesPrior::initial_parameters(
    at::IntArrayRef) const {
  return {{"log_scale", scalar(std::log(init_sd))}};
}

at::Tensor EmpiricalBayesPrior::kl(const VariationalTensor& q,
                                   const PriorModuleImpl& module) const {
  const auto& log_scale = module.hyper("log_scale");
  auto kl = kl_normal_zero_mean_from_sums(q.sums(), log_scale, q.mean().numel());
  if (hyper_tau) kl = kl + neg_log_half_normal(log_scale, *hyper_tau);
  return kl;
}

double EmpiricalBayesPrior::scale(const PriorModuleImpl& module) const {
  return std::exp(module.hyper("log_scale").item<double>());
}

// --- scale mixture ----------------------------------------------------------------------------

std::string ScaleMixturePrior::name() const {
  return fmt::format("scale_mixture(pi={:g}, sigma1={:g}, sigma2={:g})", pi, sigma1, sigma2);
}

at::Tensor ScaleMixturePrior::kl(const VariationalTensor& q, const PriorModuleImpl&) const {
  return -gaussian_entropy(q.log_sigma()) -
         scale_mixture_log_density(q.current_draw(), pi, sigma1, sigma2);
}

double ScaleMixturePrior::scale(const PriorModuleImpl&) const {
  return std::sqrt(pi * sigma1 * sigma1 + (1 - pi) * sigma2 * sigma2);
}

// --- per-unit hierarchical --------------------------------------------------------------------

std::string UnitHierarchicalPrior::name() const {
  return fmt::format("unit_hierarchical(tau={:g})", tau);
}

std::vector<std::pair<std::string, at::Tensor>> UnitHierarchicalPrior::initial_parameters(
    at::IntArrayRef shape) const {
  const int64_t units = shape.empty() ? 1 : shape[0];
  return {{"log_scale_mean", at::full({units}, std::log(init_sd), at::kFloat)},
          {"log_scale_log_sigma", at::full({units}, std::log(init_log_scale_sd), at::kFloat)}};
}

at::Tensor UnitHierarchicalPrior::kl(const VariationalTensor& q,
                                     const PriorModuleImpl& module) const {
  const auto& mean = q.mean();
  const auto& log_sigma = q.log_sigma();
  return kl_unit_hierarchical(mean.dim() == 0 ? mean.reshape({1}) : mean,
                              log_sigma.dim() == 0 ? log_sigma.reshape({1}) : log_sigma,
                              module.hyper("log_scale_mean"), module.hyper("log_scale_log_sigma"),
                              tau);
}

at::Tensor UnitHierarchicalPrior::unit_scales(const PriorModuleImpl& module) const {
  at::NoGradGuard no_grad;
  return (module.hyper("log_scale_mean") + (2.0 * module.hyper("log_scale_log_sigma")).exp() / 2)
      .exp();
}

double UnitHierarchicalPrior::scale(const PriorModuleImpl& module) const {
  return unit_scales(module).square().mean().sqrt().item<double>();
}

// --- Gaussian, per element ------------------------------------------------------------------

std::string GaussianPrior::name() const {
  return label.empty() ? fmt::format("gaussian(mean={:g}, sd={:g})", mean, sd) : label;
}

std::vector<std::pair<std::string, at::Tensor>> GaussianPrior::initial_buffers(
    at::IntArrayRef shape) const {
  return {{"mean", at::full(shape, mean, at::kFloat)}, {"sd", at::full(shape, sd, at::kFloat)}};
}

at::Tensor GaussianPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  return kl_normal(q.mean(), q.log_sigma(), module.buffer("mean"), module.buffer("sd"));
}

double GaussianPrior::scale(const PriorModuleImpl& module) const {
  at::NoGradGuard no_grad;
  return module.buffer("sd").square().mean().sqrt().item<double>();
}

// --- non-centred group priors ----------------------------------------------------------------

namespace {
// The units of a tensor of `shape` that a group prior scales: its dimension 1; none below two
// dimensions.
bool has_units(at::IntArrayRef shape) { return shape.size() >= 2; }

// KL(LogNormal(m, exp(log_sd)²) || Gamma(1/2, rate)), summed: -H[q] - E_q[log p], with
// E_q[x] = exp(m + sd²/2).
at::Tensor kl_log_normal_half_gamma(const at::Tensor& m, const at::Tensor& log_sd, double rate) {
  const double k = 0.5;
  auto entropy = m + 0.5 * (1.0 + std::log(2 * M_PI)) + log_sd;
  auto log_p = k * std::log(rate) - std::lgamma(k) + (k - 1) * m -
               rate * (m + (2.0 * log_sd).exp() / 2).exp();
  return -(entropy + log_p).sum();
}

// KL(LogNormal(m, exp(log_sd)²) || InvGamma(1/2, scale 1)), summed, with
// E_q[1/x] = exp(-m + sd²/2).
at::Tensor kl_log_normal_half_inverse_gamma(const at::Tensor& m, const at::Tensor& log_sd) {
  const double k = 0.5;
  auto entropy = m + 0.5 * (1.0 + std::log(2 * M_PI)) + log_sd;
  auto log_p = -std::lgamma(k) - (k + 1) * m - (-m + (2.0 * log_sd).exp() / 2).exp();
  return -(entropy + log_p).sum();
}

// The log sd of half the sum of two log-normal components: log(sqrt(v1 + v2) / 2).
at::Tensor half_sum_log_sd(const at::Tensor& log_sd1, const at::Tensor& log_sd2) {
  return 0.5 * ((2.0 * log_sd1).exp() + (2.0 * log_sd2).exp()).log() - std::log(2.0);
}

}  // namespace

at::Tensor GroupPrior::kl(const VariationalTensor& q, const PriorModuleImpl& module) const {
  auto kl = kl_normal_zero_mean_from_sums(q.sums(), at::zeros({}, q.mean().options()),
                                          q.mean().numel());  // v ~ N(0, 1)
  return has_units(module.shape()) ? kl + kl_scales(module) : kl;
}

double GroupPrior::scale(const PriorModuleImpl& module) const {
  const auto scales = group_scales(module);
  if (!scales) return 1.0;
  at::NoGradGuard no_grad;
  return scales->mean().square().mean().sqrt().item<double>();
}

std::string GroupHorseshoePrior::name() const {
  return fmt::format("group_horseshoe(tau0={:g})", tau0);
}

std::vector<std::pair<std::string, at::Tensor>> GroupHorseshoePrior::initial_parameters(
    at::IntArrayRef shape, int64_t unit_dim) const {
  if (!has_units(shape)) return {};
  // The global scale starts at its prior's scale, s = sqrt(a b) = tau0 (a = tau0², b = 1), and
  // each local one at 1/tau0 through its heavy-tailed factor (a = 1, b = 1/tau0²: the gamma's
  // light tail would cost e^{1/tau0²}), so that every z = s z̃ starts at 1 (Louizos et al.'s
  // start) and the units the data does not hold up shrink towards the global scale.
  const int64_t units = shape[static_cast<size_t>(unit_dim)];
  const double log_tau0_squared = 2.0 * std::log(tau0);
  return {{"global_a_mean", scalar(log_tau0_squared)},
          {"global_a_log_sd", scalar(init_log_sd)},
          {"global_b_mean", scalar(0.0)},
          {"global_b_log_sd", scalar(init_log_sd)},
          {"local_a_mean", at::zeros({units}, at::kFloat)},
          {"local_a_log_sd", at::full({units}, init_log_sd, at::kFloat)},
          {"local_b_mean", at::full({units}, -log_tau0_squared, at::kFloat)},
          {"local_b_log_sd", at::full({units}, init_log_sd, at::kFloat)}};
}

at::Tensor GroupHorseshoePrior::kl_scales(const PriorModuleImpl& module) const {
  const auto& h = [&module](const char* name) -> const at::Tensor& { return module.hyper(name); };
  return kl_log_normal_half_gamma(h("global_a_mean"), h("global_a_log_sd"), 1 / (tau0 * tau0)) +
         kl_log_normal_half_inverse_gamma(h("global_b_mean"), h("global_b_log_sd")) +
         kl_log_normal_half_gamma(h("local_a_mean"), h("local_a_log_sd"), 1.0) +
         kl_log_normal_half_inverse_gamma(h("local_b_mean"), h("local_b_log_sd"));
}

std::optional<GroupScales> GroupHorseshoePrior::group_scales(const PriorModuleImpl& module) const {
  if (!has_units(module.shape())) return std::nullopt;
  const auto& h = [&module](const char* name) -> const at::Tensor& { return module.hyper(name); };
  GroupScales scales;
  scales.loc =
      0.5 * (h("global_a_mean") + h("global_b_mean") + h("local_a_mean") + h("local_b_mean"));
  scales.log_sd = half_sum_log_sd(h("local_a_log_sd"), h("local_b_log_sd"));
  scales.shared_log_sd = half_sum_log_sd(h("global_a_log_sd"), h("global_b_log_sd"));
  scales.log_normal = true;
  scales.dim = module.unit_dim();
  return scales;
}

std::string GroupNormalJeffreysPrior::name() const { return "group_normal_jeffreys"; }

std::vector<std::pair<std::string, at::Tensor>> GroupNormalJeffreysPrior::initial_parameters(
    at::IntArrayRef shape, int64_t unit_dim) const {
  if (!has_units(shape)) return {};
  const int64_t units = shape[static_cast<size_t>(unit_dim)];
  return {{"scale_mean", at::ones({units}, at::kFloat)},
          {"scale_log_sd", at::full({units}, init_log_sd, at::kFloat)}};
}

at::Tensor GroupNormalJeffreysPrior::kl_scales(const PriorModuleImpl& module) const {
  // Molchanov et al. 2017, eq. 14.
  constexpr double k1 = 0.63576, k2 = 1.87320, k3 = 1.48695;
  const auto log_alpha = group_scales(module)->log_alpha();
  const auto neg_kl =
      k1 * (k2 + k3 * log_alpha).sigmoid() - 0.5 * at::log1p((-log_alpha).exp()) - k1;
  return -neg_kl.sum();
}

std::optional<GroupScales> GroupNormalJeffreysPrior::group_scales(
    const PriorModuleImpl& module) const {
  if (!has_units(module.shape())) return std::nullopt;
  GroupScales scales;
  scales.loc = module.hyper("scale_mean");
  scales.log_sd = module.hyper("scale_log_sd");
  scales.log_normal = false;
  scales.dim = module.unit_dim();
  return scales;
}

// --- the module -------------------------------------------------------------------------------

PriorModuleImpl::PriorModuleImpl(Prior prior, std::vector<int64_t> shape, int64_t unit_dim)
    : prior_(std::move(prior)), shape_(std::move(shape)), unit_dim_(unit_dim) {
  TORCH_CHECK(unit_dim == 0 || unit_dim == 1,
              "PriorModule: unit_dim must be 0 (output units) "
              "or 1 (input units), got ",
              unit_dim);
  PriorModuleImpl::reset();
}

void PriorModuleImpl::reset() {
  for (auto& [name, value] : prior_.family().initial_parameters(shape_, unit_dim_)) {
    register_parameter(name, at::empty_like(value));
  }
  for (auto& [name, value] : prior_.family().initial_buffers(shape_)) {
    register_buffer(name, at::empty_like(value));
  }
  reset_parameters();
}

void PriorModuleImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  for (auto& [name, value] : prior_.family().initial_parameters(shape_, unit_dim_)) {
    parameters_[name].copy_(value);
  }
  for (auto& [name, value] : prior_.family().initial_buffers(shape_)) buffer(name).copy_(value);
}

void PriorModuleImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::PriorModule(" << to_string(prior_) << ")";
}

at::Tensor PriorModuleImpl::kl(const VariationalTensor& q) const {
  return prior_.family().kl(q, *this);
}

at::Tensor PriorModuleImpl::kl(const at::Tensor& mean, const at::Tensor& log_sigma) const {
  return kl(VariationalTensor(mean, log_sigma));
}

double PriorModuleImpl::scale() const { return prior_.family().scale(*this); }

const at::Tensor& PriorModuleImpl::hyper(const std::string& name) const {
  const auto* parameter = parameters_.find(name);
  TORCH_CHECK(parameter != nullptr, "PriorModule: the prior ", to_string(prior_),
              " has no hyper-parameter '", name, "'");
  return *parameter;
}

at::Tensor PriorModuleImpl::buffer(const std::string& name) const {
  const auto buffers = named_buffers(/*recurse=*/false);
  const auto* buffer = buffers.find(name);
  TORCH_CHECK(buffer != nullptr, "PriorModule: the prior ", to_string(prior_), " has no buffer '",
              name, "'");
  return *buffer;
}

std::map<std::string, double> prior_scales(const torch::nn::Module& model, bool learned_only) {
  std::map<std::string, double> scales;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const PriorModuleImpl*>(item.value().get());
    if (prior != nullptr && (!learned_only || !prior->parameters().empty())) {
      scales[item.key()] = prior->scale();
    }
  }
  return scales;
}

std::map<std::string, std::vector<double>> log_alpha_quantiles(const torch::nn::Module& model) {
  std::map<std::string, std::vector<double>> result;
  at::NoGradGuard no_grad;
  const auto probabilities = at::tensor(kLogAlphaQuantiles, at::kDouble);
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const PriorModuleImpl*>(item.value().get());
    const auto scales = prior == nullptr ? std::nullopt : prior->group_scales();
    if (!scales) continue;
    const auto log_alpha = scales->log_alpha().to(at::kCPU, at::kDouble);
    const auto quantiles = at::quantile(log_alpha, probabilities).contiguous();
    const auto* data = quantiles.data_ptr<double>();
    result[item.key()] = std::vector<double>(data, data + quantiles.numel());
  }
  return result;
}

}  // namespace bayesnn
