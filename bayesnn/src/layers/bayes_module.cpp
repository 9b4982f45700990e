#include "bayesnn/bayes_module.h"

#include <algorithm>

#include <c10/util/Exception.h>

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

void BayesModule::export_torchscript(ExportContext& ctx) const {
  ctx.unsupported("(a BayesModule that does not override export_torchscript)");
}

torch::nn::AnyModule BayesModule::with_units(int64_t in, int64_t out) const {
  const auto* module = dynamic_cast<const torch::nn::Module*>(this);
  TORCH_CHECK(false, module != nullptr ? module->name() : "this BayesModule",
              " has no compression hook: it would keep ", in, " input and ", out,
              " output units, and shrinks only by overriding BayesModule::with_units");
}

torch::Tensor BayesModule::kl() {
  torch::Tensor total;
  for (const auto& [name, tensor] : variational_) {
    auto kl = tensor.kl();
    total = total.defined() ? total + kl : kl;
  }
  return total.defined() ? total : torch::zeros({});
}

void BayesModule::set_mode(Mode mode) {
  mode_ = mode;
  for (const auto& [name, tensor] : variational_) tensor.set_mode(mode);
}

VariationalTensor BayesModule::register_variational(const std::string& name, at::IntArrayRef shape,
                                                    const Prior& prior, int64_t unit_dim) {
  auto* module = dynamic_cast<torch::nn::Module*>(this);
  TORCH_CHECK(module != nullptr, "BayesModule::register_variational('", name,
              "'): the BayesModule must also be a torch::nn::Module");
  VariationalTensor tensor(*module, name, shape, prior, unit_dim);
  auto same_name = [&name](const auto& entry) { return entry.first == name; };
  auto existing = std::find_if(variational_.begin(), variational_.end(), same_name);
  if (existing != variational_.end()) {
    existing->second = tensor;
  } else {
    variational_.emplace_back(name, tensor);
  }
  return tensor;
}

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

ModeGuard::ModeGuard(torch::nn::Module& model) : model_(model), training_(model.is_training()) {
  for_each_bayes_module(
      model, [this](BayesModule& module) { modes_.emplace_back(&module, module.mode()); });
}

ModeGuard::~ModeGuard() {
  for (const auto& [module, mode] : modes_) module->set_mode(mode);
  model_.train(training_);
}

int64_t count_bayes_modules(torch::nn::Module& model) {
  int64_t count = 0;
  for_each_bayes_module(model, [&count](BayesModule&) { ++count; });
  return count;
}

}  // namespace bayesnn
