#include "bayesnn/prior_module.h"

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

namespace bayesnn {

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

torch::OrderedDict<std::string, PriorModule> named_priors(const torch::nn::Module& model) {
  torch::OrderedDict<std::string, PriorModule> priors;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto prior = std::dynamic_pointer_cast<PriorModuleImpl>(item.value())) {
      priors.insert(item.key(), PriorModule(std::move(prior)));
    }
  }
  return priors;
}

std::map<std::string, double> prior_scales(const torch::nn::Module& model, bool learned_only) {
  std::map<std::string, double> scales;
  for (const auto& item : named_priors(model)) {
    if (!learned_only || !item.value()->parameters().empty()) {
      scales[item.key()] = item.value()->scale();
    }
  }
  return scales;
}

std::map<std::string, std::vector<double>> log_alpha_quantiles(const torch::nn::Module& model) {
  std::map<std::string, std::vector<double>> result;
  at::NoGradGuard no_grad;
  const auto probabilities = at::tensor(kLogAlphaQuantiles, at::kDouble);
  for (const auto& item : named_priors(model)) {
    const auto scales = item.value()->group_scales();
    if (!scales) continue;
    const auto log_alpha = scales->log_alpha().to(at::kCPU, at::kDouble);
    const auto quantiles = at::quantile(log_alpha, probabilities).contiguous();
    const auto* data = quantiles.data_ptr<double>();
    result[item.key()] = std::vector<double>(data, data + quantiles.numel());
  }
  return result;
}

}  // namespace bayesnn
