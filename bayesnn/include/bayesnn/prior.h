#pragma once

#include <map>
#include <optional>
#include <string>

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace bayesnn {

/// The prior of one weight tensor: fixed, hierarchical or empirical-Bayes scale.
///
/// Example:
/// ```
/// auto fixed = bayesnn::Prior::fixed(0.1);          // w ~ N(0, 0.1²)
/// auto hier = bayesnn::Prior::hierarchical(1.0);    // s ~ HalfNormal(1), w | s ~ N(0, s²)
/// auto eb = bayesnn::Prior::empirical_bayes(0.1);   // s learned by maximising the ELBO
/// ```
class Prior {
 public:
  /// What kind of prior scale the tensor has.
  enum class Kind { kFixed, kHierarchical, kEmpiricalBayes };

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

  Kind kind() const { return kind_; }
  /// The fixed sd, or the initial sd of a learned scale.
  double sd() const { return sd_; }
  /// The HalfNormal scale of the hyperprior (hierarchical; empirical Bayes with a hyperprior).
  std::optional<double> tau() const { return tau_; }
  /// The initial sd of q(log s) (hierarchical).
  double init_log_scale_sd() const { return init_log_scale_sd_; }
  /// Whether the prior scale is a learned parameter.
  bool learned() const { return kind_ != Kind::kFixed; }

 private:
  Prior(Kind kind, double sd, std::optional<double> tau, double init_log_scale_sd);
  Kind kind_;
  double sd_;
  std::optional<double> tau_;
  double init_log_scale_sd_;
};

/// "fixed(0.1)", "hierarchical(tau=1)", "empirical_bayes(0.1)": for metadata and logs.
std::string to_string(const Prior& prior);

/// The prior of one tensor as a module, so a learned scale is a registered parameter that
/// optimizers, checkpoints and `named_parameters()` see: hierarchical holds `log_scale_mean`
/// and `log_scale_log_sigma` (q(log s) = N(log_scale_mean, exp(log_scale_log_sigma)²));
/// empirical Bayes holds `log_scale`; fixed holds nothing.
///
/// Example:
/// ```
/// bayesnn::PriorModule prior(bayesnn::Prior::hierarchical(1.0));
/// auto kl = prior->kl(torch::zeros({3, 4}), torch::full({3, 4}, -2.0));
/// ```
class PriorModuleImpl : public torch::nn::Cloneable<PriorModuleImpl> {
 public:
  explicit PriorModuleImpl(Prior prior);

  void reset() override;
  /// Writes the initial values of the learned scale.
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  /// KL(q || p) of a tensor with q = N(mean, exp(log_sigma)²) under this prior, closed form,
  /// including the hyper-parameter's own KL (hierarchical) or MAP term (empirical Bayes).
  torch::Tensor kl(const torch::Tensor& mean, const torch::Tensor& log_sigma) const;

  /// The prior scale as a number: the fixed sd, exp(log_scale), or for the hierarchical prior
  /// the posterior mean E_q[s] = exp(m + v/2).
  double scale() const;

  const Prior& prior() const { return prior_; }

  torch::Tensor log_scale_mean;       ///< hierarchical: m of q(log s)
  torch::Tensor log_scale_log_sigma;  ///< hierarchical: log sqrt(v) of q(log s)
  torch::Tensor log_scale;            ///< empirical Bayes: log s

 private:
  Prior prior_;
};
TORCH_MODULE(PriorModule);

/// Every prior scale in `model` by the name of its prior module ("0.weight_prior", ...):
/// `PriorModuleImpl::scale()` of each; with `learned_only`, only the learned ones.
std::map<std::string, double> prior_scales(const torch::nn::Module& model,
                                           bool learned_only = true);

}  // namespace bayesnn
