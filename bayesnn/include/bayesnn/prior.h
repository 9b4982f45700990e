#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "bayesnn/group_scales.h"

namespace bayesnn {

class PriorModuleImpl;
class VariationalTensor;  // bayesnn/variational_tensor.h

/// A family of priors over one variational tensor: the open interface. A prior says which
/// hyper-parameters it learns (with their initial values) and its KL(q || p) for the tensor's
/// q(w) = N(mean, exp(log_sigma)²): in closed form from `q.sums()` where one exists, otherwise
/// a Monte Carlo estimate from `q.current_draw()`. Hyper-parameters live in the tensor's
/// `PriorModule` (registered as `<tensor>_prior`), so optimizers and checkpoints see them.
///
/// Example (a Laplace prior, KL by Monte Carlo: -H[q] - log p(w) at one draw of q):
/// ```
/// struct LaplacePrior : bayesnn::PriorFamily {
///   double b = 0.1;
///   std::string name() const override { return "laplace(0.1)"; }
///   torch::Tensor kl(const bayesnn::VariationalTensor& q,
///                    const bayesnn::PriorModuleImpl&) const override {
///     const auto n = static_cast<double>(q.mean().numel());
///     auto entropy = 0.5 * n * (1 + std::log(2 * M_PI)) + q.log_sigma().sum();
///     auto log_p = -n * std::log(2 * b) - q.current_draw().abs().sum() / b;
///     return -entropy - log_p;
///   }
///   double scale(const bayesnn::PriorModuleImpl&) const override { return std::sqrt(2.0) * b; }
/// };
/// auto prior = bayesnn::Prior(std::make_shared<LaplacePrior>());
/// ```
class PriorFamily {
 public:
  virtual ~PriorFamily() = default;

  /// "fixed(0.1)", "hierarchical(tau=1)", ...: for metadata, logs and `pretty_print`.
  virtual std::string name() const = 0;

  /// The hyper-parameters this prior learns for a tensor of `shape`, by name, with their
  /// initial values (none for a fixed prior). Registered on the tensor's `PriorModule`.
  virtual std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const;
  /// The same for a tensor whose units (the per-unit families' scales) lie along its dimension
  /// `unit_dim` (`PriorModuleImpl::unit_dim`); by default `initial_parameters(shape)`.
  virtual std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape, int64_t unit_dim) const;

  /// What this prior holds per tensor without learning it (a centred prior's per-element means
  /// and sds), by name, with initial values: registered as buffers on the tensor's
  /// `PriorModule`, so checkpoints, `to(device)` and `clone()` carry them; none by default.
  /// `kl` reads them with `module.buffer("mean")`.
  virtual std::vector<std::pair<std::string, at::Tensor>> initial_buffers(
      at::IntArrayRef shape) const;

  /// KL(q || p) of the tensor `q` under this prior, a differentiable scalar on q's device,
  /// including the hyper-parameters' own KL or MAP term. `module` holds the hyper-parameters
  /// (`module.hyper("log_scale")`).
  virtual at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const = 0;

  /// The prior's scale as one number, for reports: the prior sd, or its posterior mean.
  virtual double scale(const PriorModuleImpl& module) const = 0;

  /// A non-centred family's posterior over per-unit scales, from the hyper-parameters in
  /// `module`: the tensor is then a product w = z ∘ v (`GroupScales`), its Gaussian q the
  /// posterior of v. std::nullopt (the default) for centred families, and for tensors without
  /// units (of fewer than two dimensions: a bias).
  virtual std::optional<GroupScales> group_scales(const PriorModuleImpl& module) const;
};

/// e^-6, the narrow component's sd of Blundell et al.'s scale mixture (`Prior::scale_mixture`).
inline constexpr double kScaleMixtureNarrowSd = 0.0024787521766663585;

/// The prior of a weight tensor, as a layer option: which family, with which settings.
/// Copies share the (immutable) family.
///
/// Example:
/// ```
/// auto fixed = bayesnn::Prior::fixed(0.1);          // w ~ N(0, 0.1²)
/// auto hier = bayesnn::Prior::hierarchical(1.0);    // s ~ HalfNormal(1), w | s ~ N(0, s²)
/// auto eb = bayesnn::Prior::empirical_bayes(0.1);   // s learned by maximising the ELBO
/// auto mix = bayesnn::Prior::scale_mixture(0.5, 1.0, std::exp(-6.0));
/// auto unit = bayesnn::Prior::unit_hierarchical(1.0);  // one s ~ HalfNormal(1) per unit
/// auto centred = bayesnn::Prior::gaussian(0.0, 1.0);    // w_i ~ N(m_i, s_i²), m, s buffers
/// ```
class Prior {
 public:
  /// w ~ N(0, sd²); `sd` must be positive and finite.
  static Prior fixed(double sd);
  /// s ~ HalfNormal(tau), w | s ~ N(0, s²), with q(log s) = N(m, v) learned jointly;
  /// q starts at m = log(init_sd), sqrt(v) = init_log_scale_sd.
  static Prior hierarchical(double tau = 1.0, double init_sd = 0.1, double init_log_scale_sd = 0.1);
  /// w ~ N(0, s²) with log s a point estimate learned by maximising the ELBO (type-II maximum
  /// likelihood), starting at s = init_sd; with `hyper_tau`, a HalfNormal(hyper_tau) hyperprior
  /// on s adds its negative log density as a MAP term.
  static Prior empirical_bayes(double init_sd = 0.1,
                               std::optional<double> hyper_tau = std::nullopt);
  /// w ~ pi N(0, sigma1²) + (1 - pi) N(0, sigma2²) (Blundell et al. 2015's scale mixture):
  /// a wide component for the weights the data needs, a narrow one that holds the rest near
  /// zero with little noise. KL by Monte Carlo from the tensor's current draw; 0 < pi < 1,
  /// sigma1 and sigma2 positive and finite.
  static Prior scale_mixture(double pi = 0.5, double sigma1 = 1.0,
                             double sigma2 = kScaleMixtureNarrowSd);
  /// One scale per unit (the first dimension: a Linear weight's row, a Conv2d kernel's output
  /// channel): s_j ~ HalfNormal(tau), w_j. | s_j ~ N(0, s_j²), with q(log s_j) = N(m_j, v_j)
  /// learned jointly, starting at m_j = log(init_sd), sqrt(v_j) = init_log_scale_sd. KL in
  /// closed form (`kl_unit_hierarchical`). Units the data does not use shrink their scale (and
  /// their weights) towards zero without pulling on the units it does.
  static Prior unit_hierarchical(double tau = 1.0, double init_sd = 0.1,
                                 double init_log_scale_sd = 0.1);

  /// w_i ~ N(m_i, s_i²) elementwise, with m and s per-element buffers of the tensor's prior
  /// module ("mean", "sd") that start at `mean` and `sd` and may be overwritten (MOPED's prior
  /// centred on pretrained weights: `to_bayesian` with `moped_prior(true)`). KL in closed form
  /// (`kl_normal`). `sd` must be positive and finite, `mean` finite.
  static Prior gaussian(double mean = 0.0, double sd = 1.0);

  /// Louizos et al. 2017's group horseshoe in the non-centred form: w_ij = z_j v_ij with
  /// v ~ N(0, 1) and one scale per input unit j (a dense weight's column, a kernel's input
  /// channel), z_j = s z̃_j, s ~ C⁺(0, tau0) shared by the tensor, z̃_j ~ C⁺(0, 1). Switching z_j
  /// off removes the unit below (`compress`). KL in closed form (`GroupHorseshoePrior`); a
  /// bias (no units) gets v ~ N(0, 1). `tau0` positive and finite; the scales' log-normal
  /// posteriors start with sd exp(`init_log_sd`) and z = 1, the global scale at its prior's
  /// scale tau0 and each local one at 1/tau0.
  static Prior group_horseshoe(double tau0 = 1e-5, double init_log_sd = -4.0);
  /// The group normal-Jeffreys prior (Louizos et al. 2017, BC-GNJ), non-centred: w_ij = z_j v_ij,
  /// v ~ N(0, 1), p(z_j) ∝ 1/|z_j|, with q(z_j) = N(μ_j, σ_j²) starting at μ = 1, σ =
  /// exp(`init_log_sd`). KL by Molchanov et al. 2017's approximation
  /// (`GroupNormalJeffreysPrior`); a bias gets v ~ N(0, 1).
  static Prior group_normal_jeffreys(double init_log_sd = -4.0);

  /// A prior of a user's family (see `PriorFamily`).
  explicit Prior(std::shared_ptr<const PriorFamily> family);

  /// The family with its settings.
  const PriorFamily& family() const { return *family_; }

 private:
  std::shared_ptr<const PriorFamily> family_;
};

/// "fixed(0.1)", "hierarchical(tau=1)", "empirical_bayes(0.1)": the family's name.
std::string to_string(const Prior& prior);

/// w ~ N(0, sd²): KL in closed form.
struct FixedPrior : PriorFamily {
  explicit FixedPrior(double sd_) : sd(sd_) {}
  std::string name() const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double sd;  ///< the prior sd
};

/// s ~ HalfNormal(tau), w | s ~ N(0, s²) with q(log s) = N(log_scale_mean,
/// exp(log_scale_log_sigma)²) learned jointly (the article's hierarchical prior): KL in closed
/// form (`kl_hierarchical`); its scale is E_q[s] = exp(m + v/2).
struct HierarchicalPrior : PriorFamily {
  HierarchicalPrior(double tau_, double init_sd_, double init_log_scale_sd_)
      : tau(tau_), init_sd(init_sd_), init_log_scale_sd(init_log_scale_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double tau;                ///< the HalfNormal scale of the hyperprior
  double init_sd;            ///< exp of the initial log_scale_mean
  double init_log_scale_sd;  ///< exp of the initial log_scale_log_sigma
};

/// w ~ N(0, s²) with `log_scale` = log s a point estimate (type-II maximum likelihood), with an
/// optional HalfNormal(hyper_tau) hyperprior as a MAP term: KL in closed form.
struct EmpiricalBayesPrior : PriorFamily {
  EmpiricalBayesPrior(double init_sd_, std::optional<double> hyper_tau_)
      : init_sd(init_sd_), hyper_tau(hyper_tau_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double init_sd;                   ///< the initial s
  std::optional<double> hyper_tau;  ///< the hyperprior's scale, if any
};

/// w ~ pi N(0, sigma1²) + (1 - pi) N(0, sigma2²): KL(q || p) = -H[q] - log p(w) at the tensor's
/// current draw w (`VariationalTensor::current_draw`), the entropy in closed form; unbiased,
/// differentiable by the reparameterization. Its scale is the mixture's sd.
struct ScaleMixturePrior : PriorFamily {
  ScaleMixturePrior(double pi_, double sigma1_, double sigma2_)
      : pi(pi_), sigma1(sigma1_), sigma2(sigma2_) {}
  std::string name() const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double pi;      ///< the weight of the wide component
  double sigma1;  ///< the wide component's sd
  double sigma2;  ///< the narrow component's sd
};

/// One scale per unit, s_j ~ HalfNormal(tau), w_j. | s_j ~ N(0, s_j²), with q(log s_j) =
/// N(log_scale_mean_j, exp(log_scale_log_sigma_j)²) learned jointly (centred): KL in closed
/// form (`kl_unit_hierarchical`). Its hyper-parameters have shape [units] (a tensor of shape
/// [] has one unit); its scale for reports is the root mean square of E_q[s_j] over units.
struct UnitHierarchicalPrior : PriorFamily {
  UnitHierarchicalPrior(double tau_, double init_sd_, double init_log_scale_sd_)
      : tau(tau_), init_sd(init_sd_), init_log_scale_sd(init_log_scale_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  /// E_q[s_j] = exp(m_j + v_j / 2) of every unit, shape [units].
  at::Tensor unit_scales(const PriorModuleImpl& module) const;
  double tau;                ///< the HalfNormal scale of the hyperprior
  double init_sd;            ///< exp of the initial log_scale_mean
  double init_log_scale_sd;  ///< exp of the initial log_scale_log_sigma
};

/// w_i ~ N(m_i, s_i²) elementwise, m and s the prior module's buffers "mean" and "sd" (of the
/// tensor's shape, filled with `mean` and `sd` until overwritten): KL in closed form
/// (`kl_normal`). Its scale for reports is the root mean square of s. `label`, where set, is its
/// name ("moped(delta=0.1)" for the prior `to_bayesian` centres on pretrained weights).
struct GaussianPrior : PriorFamily {
  GaussianPrior(double mean_, double sd_, std::string label_ = {})
      : mean(mean_), sd(sd_), label(std::move(label_)) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_buffers(
      at::IntArrayRef shape) const override;
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const override;
  double scale(const PriorModuleImpl& module) const override;
  double mean;        ///< the initial value of every m_i
  double sd;          ///< the initial value of every s_i
  std::string label;  ///< the name, where set (else "gaussian(mean=..., sd=...)")
};

/// What the non-centred group priors share: the tensor is a product w = z ∘ v with v ~ N(0, 1)
/// and one scale z_j per unit along the prior module's `unit_dim`, whose posterior (`group_scales`)
/// and KL (`kl_scales`) the family gives. KL(q || p) = KL(q(v) || N(0, 1)) + KL(q(z) || p(z)); a
/// tensor without units (a bias) is v alone. Its scale for reports is the root mean square of
/// E_q[z_j] (1 without units).
struct GroupPrior : PriorFamily {
  at::Tensor kl(const VariationalTensor& q, const PriorModuleImpl& module) const final;
  double scale(const PriorModuleImpl& module) const final;
  /// KL(q(z) || p(z)) of a tensor with units, from the hyper-parameters in `module`.
  virtual at::Tensor kl_scales(const PriorModuleImpl& module) const = 0;
};

/// `Prior::group_horseshoe`. Every half-Cauchy scale is sqrt(a b) with a ~ Gamma(1/2, rate
/// 1/scale²) and b ~ InvGamma(1/2, 1), and each a and b has a log-normal posterior
/// N(log · ; `*_mean`, exp(`*_log_sd`)²): "global_a", "global_b" (shape []) for s, "local_a",
/// "local_b" (shape [units]) for z̃; s starts at tau0 (a = tau0², b = 1) and z̃ at 1/tau0 (a = 1,
/// b = 1/tau0²: through the heavy-tailed factor), so z = s z̃ starts at 1. `kl_scales` is the sum of
/// the four families of log-normal-to-(inverse-)gamma KLs, all in closed form. log z_j is Gaussian:
/// its `group_scales` are log-normal with the global noise shared.
struct GroupHorseshoePrior : GroupPrior {
  GroupHorseshoePrior(double tau0_, double init_log_sd_) : tau0(tau0_), init_log_sd(init_log_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape, int64_t unit_dim) const override;
  at::Tensor kl_scales(const PriorModuleImpl& module) const override;
  std::optional<GroupScales> group_scales(const PriorModuleImpl& module) const override;
  double tau0;         ///< the global half-Cauchy scale
  double init_log_sd;  ///< the initial log sd of every log-normal posterior
};

/// `Prior::group_normal_jeffreys`: q(z_j) = N(`scale_mean`_j, exp(`scale_log_sd`_j)²) per input
/// unit. `kl_scales` is Σ_j KL(q(z_j) || p(z_j)) by Molchanov et al.'s approximation
/// -k1 σ(k2 + k3 log α_j) + ½ log(1 + 1/α_j) + k1 with α_j = σ_j²/μ_j² (within 0.01 nats of the
/// exact value up to a constant).
struct GroupNormalJeffreysPrior : GroupPrior {
  explicit GroupNormalJeffreysPrior(double init_log_sd_) : init_log_sd(init_log_sd_) {}
  std::string name() const override;
  std::vector<std::pair<std::string, at::Tensor>> initial_parameters(
      at::IntArrayRef shape, int64_t unit_dim) const override;
  at::Tensor kl_scales(const PriorModuleImpl& module) const override;
  std::optional<GroupScales> group_scales(const PriorModuleImpl& module) const override;
  double init_log_sd;  ///< the initial log sd of every q(z_j)
};

/// The prior of one tensor as a module, so that learned hyper-parameters are registered
/// parameters that optimizers, checkpoints and `named_parameters()` see: hierarchical holds
/// `log_scale_mean` and `log_scale_log_sigma` (per unit: of shape [units]), empirical Bayes
/// `log_scale`, fixed and scale mixture nothing; a family's per-tensor data (`initial_buffers`:
/// the Gaussian prior's "mean" and "sd") are its buffers.
///
/// Example:
/// ```
/// bayesnn::PriorModule prior(bayesnn::Prior::hierarchical(1.0));
/// auto kl = prior->kl(torch::zeros({3, 4}), torch::full({3, 4}, -2.0));
/// ```
class PriorModuleImpl : public torch::nn::Cloneable<PriorModuleImpl> {
 public:
  /// The prior of a tensor of `shape` (which per-unit hyper-parameters need; none for others)
  /// whose units lie along `unit_dim` (a group prior's scales: 1, the inputs, or 0, the outputs).
  explicit PriorModuleImpl(Prior prior, std::vector<int64_t> shape = {}, int64_t unit_dim = 1);

  /// Registers the family's hyper-parameters and buffers with their initial values.
  void reset() override;
  /// Writes the initial values of the hyper-parameters and buffers.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// KL(q || p) of the variational tensor `q` under this prior (`PriorFamily::kl`).
  at::Tensor kl(const VariationalTensor& q) const;
  /// KL(q || p) of a tensor with q = N(mean, exp(log_sigma)²), a draw taken afresh if the family
  /// needs one.
  at::Tensor kl(const at::Tensor& mean, const at::Tensor& log_sigma) const;

  /// The prior scale as a number (`PriorFamily::scale`).
  double scale() const;
  /// The hyper-parameter `name`; throws naming it if this prior has none of that name.
  const at::Tensor& hyper(const std::string& name) const;
  /// The buffer `name` (`PriorFamily::initial_buffers`); throws naming it if there is none.
  at::Tensor buffer(const std::string& name) const;

  const Prior& prior() const { return prior_; }
  /// The shape of the tensor this prior is for.
  const std::vector<int64_t>& shape() const { return shape_; }
  /// The dimension of the tensor along which a per-unit family's units lie.
  int64_t unit_dim() const { return unit_dim_; }
  /// The posterior of the per-unit scales of a non-centred prior (`PriorFamily::group_scales`).
  std::optional<GroupScales> group_scales() const { return prior_.family().group_scales(*this); }

 private:
  Prior prior_;
  std::vector<int64_t> shape_;
  int64_t unit_dim_ = 1;
};
TORCH_MODULE(PriorModule);

/// Every prior scale in `model` by the name of its prior module ("0.weight_prior", ...):
/// `PriorModuleImpl::scale()` of each; with `learned_only`, only priors with hyper-parameters.
std::map<std::string, double> prior_scales(const torch::nn::Module& model,
                                           bool learned_only = true);

/// The probabilities of the quantiles `log_alpha_quantiles` reports: min, 10 %, 25 %, median,
/// 75 %, 90 %, max.
inline const std::vector<double> kLogAlphaQuantiles = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0};

/// Of every prior in `model` with group scales, by the name of its prior module
/// ("fc1.weight_prior"), the quantiles `kLogAlphaQuantiles` of its units' log α =
/// log(Var_q[z_j] / E_q[z_j]²) (`GroupScales::log_alpha`).
std::map<std::string, std::vector<double>> log_alpha_quantiles(const torch::nn::Module& model);

}  // namespace bayesnn
