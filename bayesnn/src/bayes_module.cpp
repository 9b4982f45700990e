#include "bayesnn/bayes_module.h"

#include "bayesnn/export.h"

namespace bayesnn {
namespace {
// Visits `model` itself (which need not be owned by a shared_ptr) and then its descendants.
template <typename Visit>
void for_each_bayes_module(torch::nn::Module& model, Visit visit) {
  if (auto* self = dynamic_cast<BayesModule*>(&model)) visit(*self);
  for (const auto& child : model.modules(/*include_self=*/false)) {
    if (auto* bayes = dynamic_cast<BayesModule*>(child.get())) visit(*bayes);
  }
}
}  // namespace

torch::Tensor kl_divergence(torch::nn::Module& model) {
  torch::Tensor total;
  for_each_bayes_module(model, [&](BayesModule& module) {
    auto kl = module.kl();
    total = total.defined() ? total + kl : kl;
  });
  if (total.defined()) return total;
  auto parameters = model.parameters();
  return parameters.empty() ? torch::zeros({}) : torch::zeros({}, parameters.front().options());
}

void set_mode(torch::nn::Module& model, Mode mode) {
  for_each_bayes_module(model, [mode](BayesModule& module) { module.set_mode(mode); });
}

void BayesModule::export_torchscript(ExportContext& ctx) const {
  ctx.unsupported("(a BayesModule that does not override export_torchscript)");
}

int64_t count_bayes_modules(torch::nn::Module& model) {
  int64_t count = 0;
  for_each_bayes_module(model, [&count](BayesModule&) { ++count; });
  return count;
}

}  // namespace bayesnn
