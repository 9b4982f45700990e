// The prior of one tensor as a module (`PriorModule`), and the model-wide views of priors:
// `named_priors`, `prior_scales`, `log_alpha_quantiles`.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/ordered_dict.h>

#include "bayesnn/prior_family.h"

namespace bayesnn {

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
  /// Prints "bayesnn::PriorModule(" and the prior's name, e.g. "bayesnn::PriorModule(fixed(0.1))".
  void pretty_print(std::ostream& stream) const override;

  /// KL(q || p) of the variational tensor `q` under this prior (`PriorFamily::kl`).
  at::Tensor kl(const VariationalTensor& q) const;
  /// KL(q || p) of a tensor with q = N(mean, exp(log_sigma)²), a draw taken afresh if the family
  /// needs one.
  at::Tensor kl(const at::Tensor& mean, const at::Tensor& log_sigma) const;

  /// The prior scale as a number (`PriorFamily::scale`).
  double scale() const;
  /// The family's report of this prior (`PriorFamily::report`).
  std::map<std::string, at::Tensor> report() const { return prior_.family().report(*this); }
  /// The hyper-parameter `name`; throws naming it if this prior has none of that name.
  const at::Tensor& hyper(const std::string& name) const;
  /// The buffer `name` (`PriorFamily::initial_buffers`); throws naming it if there is none.
  at::Tensor buffer(const std::string& name) const;

  /// The prior this module holds.
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

/// Every prior module below `model`, by its path ("0.weight_prior"), in module order: the walk
/// every report over a model's priors starts from.
///
/// Example:
/// ```
/// for (const auto& item : bayesnn::named_priors(*net)) {
///   std::cout << item.key() << ": " << bayesnn::to_string(item.value()->prior()) << "\n";
/// }
/// ```
torch::OrderedDict<std::string, PriorModule> named_priors(const torch::nn::Module& model);

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
