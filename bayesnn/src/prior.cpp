#include "bayesnn/prior.h"

#include <cmath>

#include "bayesnn/gaussian.h"

namespace bayesnn {
namespace {
void check_positive_finite(const char* what, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, "Prior: ", what,
              " must be positive and finite, got ", value);
}
}  // namespace

Prior::Prior(Kind kind, double sd, std::optional<double> tau, double init_log_scale_sd)
    : kind_(kind), sd_(sd), tau_(tau), init_log_scale_sd_(init_log_scale_sd) {}

Prior Prior::fixed(double sd) {
  check_positive_finite("sd", sd);
  return Prior(Kind::kFixed, sd, std::nullopt, 0.0);
}

Prior Prior::hierarchical(double tau, double init_sd, double init_log_scale_sd) {
  check_positive_finite("tau", tau);
  check_positive_finite("init_sd", init_sd);
  check_positive_finite("init_log_scale_sd", init_log_scale_sd);
  return Prior(Kind::kHierarchical, init_sd, tau, init_log_scale_sd);
}

Prior Prior::empirical_bayes(double init_sd, std::optional<double> hyper_tau) {
  check_positive_finite("init_sd", init_sd);
  if (hyper_tau) check_positive_finite("hyper_tau", *hyper_tau);
  return Prior(Kind::kEmpiricalBayes, init_sd, hyper_tau, 0.0);
}

std::string to_string(const Prior& prior) {
  switch (prior.kind()) {
    case Prior::Kind::kFixed:
      return fmt::format("fixed({:g})", prior.sd());
    case Prior::Kind::kHierarchical:
      return fmt::format("hierarchical(tau={:g})", *prior.tau());
    case Prior::Kind::kEmpiricalBayes:
      return prior.tau() ? fmt::format("empirical_bayes({:g}, tau={:g})", prior.sd(), *prior.tau())
                         : fmt::format("empirical_bayes({:g})", prior.sd());
  }
  return "unknown";
}

PriorModuleImpl::PriorModuleImpl(Prior prior) : prior_(std::move(prior)) {
  PriorModuleImpl::reset();
}

void PriorModuleImpl::reset() {
  switch (prior_.kind()) {
    case Prior::Kind::kFixed:
      break;
    case Prior::Kind::kHierarchical:
      log_scale_mean = register_parameter("log_scale_mean", torch::empty({}));
      log_scale_log_sigma = register_parameter("log_scale_log_sigma", torch::empty({}));
      break;
    case Prior::Kind::kEmpiricalBayes:
      log_scale = register_parameter("log_scale", torch::empty({}));
      break;
  }
  reset_parameters();
}

void PriorModuleImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  if (log_scale_mean.defined()) {
    log_scale_mean.fill_(std::log(prior_.sd()));
    log_scale_log_sigma.fill_(std::log(prior_.init_log_scale_sd()));
  }
  if (log_scale.defined()) log_scale.fill_(std::log(prior_.sd()));
}

void PriorModuleImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::PriorModule(" << to_string(prior_) << ")";
}

torch::Tensor PriorModuleImpl::kl(const torch::Tensor& mean, const torch::Tensor& log_sigma) const {
  switch (prior_.kind()) {
    case Prior::Kind::kFixed:
      return kl_normal_zero_mean(mean, log_sigma,
                                 torch::full({}, std::log(prior_.sd()), mean.options()));
    case Prior::Kind::kHierarchical:
      return kl_hierarchical(mean, log_sigma, log_scale_mean, log_scale_log_sigma, *prior_.tau());
    case Prior::Kind::kEmpiricalBayes: {
      auto kl = kl_normal_zero_mean(mean, log_sigma, log_scale);
      if (prior_.tau()) kl = kl + neg_log_half_normal(log_scale, *prior_.tau());
      return kl;
    }
  }
  TORCH_CHECK(false, "PriorModule: unknown prior kind");
}

double PriorModuleImpl::scale() const {
  switch (prior_.kind()) {
    case Prior::Kind::kFixed:
      return prior_.sd();
    case Prior::Kind::kHierarchical: {
      const double m = log_scale_mean.item<double>();
      const double v = std::exp(2.0 * log_scale_log_sigma.item<double>());
      return std::exp(m + 0.5 * v);
    }
    case Prior::Kind::kEmpiricalBayes:
      return std::exp(log_scale.item<double>());
  }
  return 0.0;
}

std::map<std::string, double> prior_scales(const torch::nn::Module& model, bool learned_only) {
  std::map<std::string, double> scales;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const PriorModuleImpl*>(item.value().get());
    if (prior != nullptr && (!learned_only || prior->prior().learned())) {
      scales[item.key()] = prior->scale();
    }
  }
  return scales;
}

}  // namespace bayesnn
