// The open interface of priors (`PriorFamily`) and the layer option that names one (`Prior`).
// Each family lives in its own file, bayesnn/priors/<family>.h; the module that holds a tensor's
// prior is bayesnn/prior_module.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "bayesnn/group_scales.h"

namespace bayesnn {

class PriorModuleImpl;    // bayesnn/prior_module.h
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

  /// The report hook (metrics.json, `PriorModuleImpl::report`): this prior's learned state beyond
  /// `scale`, as named tensors on the CPU in double precision: the hierarchical prior's q(log s)
  /// ("log_scale_mean", "log_scale_sd"), the per-unit prior's E_q[s_j] ("unit_scales"), a group
  /// prior's E_q[z_j] and log α_j ("mean", "log_alpha"); none by default.
  virtual std::map<std::string, at::Tensor> report(const PriorModuleImpl& module) const;

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

/// "fixed(0.1)", "hierarchical(tau=1)", "empirical_bayes(0.1)": the family's name.
std::string to_string(const Prior& prior);

}  // namespace bayesnn
