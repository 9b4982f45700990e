#include "bayesnn/fused_adam.h"

#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>

#include <ATen/Parallel.h>

namespace bayesnn {
namespace {
// Elements per task of the parallel update.
constexpr int64_t kGrain = 32768;

// The key of a parameter in the optimizer's state map: LibTorch 1.x keys it by the address of
// the TensorImpl written as a string, later versions by the address itself.
template <typename Map>
typename Map::key_type state_key(const Map& /*state*/, const at::Tensor& parameter) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(parameter.unsafeGetTensorImpl());
  }
}

bool fusable(const at::Tensor& parameter) {
  const auto& grad = parameter.grad();
  const auto type = parameter.scalar_type();
  return parameter.device().is_cpu() && (type == at::kFloat || type == at::kDouble) &&
         parameter.is_contiguous() && !grad.is_sparse() && grad.scalar_type() == type &&
         grad.is_contiguous() && grad.device().is_cpu();
}

// One Adam step of one parameter, every element read and written once:
//   g <- g + weight_decay p;  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g²;
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
template <typename T>
void update(T* p, const T* g, T* m, T* v, int64_t n, double lr, double beta1, double beta2,
            double eps, double weight_decay, int64_t step) {
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  const auto b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const auto one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
  const auto inv_sqrt_bc2 = static_cast<T>(1 / std::sqrt(bias_correction2));
  const auto step_size = static_cast<T>(lr / bias_correction1);
  const auto epsilon = static_cast<T>(eps), decay = static_cast<T>(weight_decay);
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T grad = g[i] + decay * p[i];
      m[i] = b1 * m[i] + one_minus_b1 * grad;
      v[i] = b2 * v[i] + one_minus_b2 * grad * grad;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + epsilon);
    }
  });
}
}  // namespace

FusedAdam::FusedAdam(std::vector<torch::Tensor> params, torch::optim::AdamOptions defaults)
    : torch::optim::Adam(std::move(params), std::move(defaults)) {}

// The archive's layout is LibTorch's (torch/optim/serialize.h): "state/<key>" per parameter,
// "param_groups/<i>/params/<j>" holding the key of group i's parameter j.
void FusedAdam::load(torch::serialize::InputArchive& archive) {
  torch::optim::Adam::load(archive);  // the options, and the version check
  torch::serialize::InputArchive state_archive, groups_archive;
  archive.read("state", state_archive);
  archive.read("param_groups", groups_archive);
  state_.clear();
  // Adam::load has checked that the archive has as many parameter groups.
  for (size_t i = 0; i < param_groups_.size(); ++i) {
    torch::serialize::InputArchive group_archive;
    groups_archive.read("param_groups/" + std::to_string(i), group_archive);
    const auto& params = param_groups_[i].params();
    for (size_t j = 0; j < params.size(); ++j) {
      c10::IValue key;
      group_archive.read("params/" + std::to_string(j), key);
      torch::serialize::InputArchive param_archive;
      if (!state_archive.try_read(key.toStringRef(), param_archive)) continue;  // no step yet
      auto state = std::make_unique<torch::optim::AdamParamState>();
      state->serialize(param_archive);
      TORCH_CHECK(state->exp_avg().sizes() == params[j].sizes(), "FusedAdam: the state of ",
                  "parameter ", j, " of group ", i, " has shape ", state->exp_avg().sizes(),
                  ", the parameter ", params[j].sizes());
      state_[state_key(state_, params[j])] = std::move(state);
    }
  }
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  for (const auto& group : param_groups_) {
    if (static_cast<const torch::optim::AdamOptions&>(group.options()).amsgrad()) {
      return torch::optim::Adam::step(std::move(closure));
    }
    for (const auto& parameter : group.params()) {
      if (parameter.grad().defined() && !fusable(parameter)) {
        return torch::optim::Adam::step(std::move(closure));
      }
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    for (auto& parameter : group.params()) {
      if (!parameter.grad().defined()) continue;
      const auto key = state_key(state_, parameter);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(parameter, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(parameter, at::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*found->second);
      state.step(state.step() + 1);
      // Not a structured binding: C++17 lambdas cannot capture one (clang refuses).
      const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
      AT_DISPATCH_FLOATING_TYPES(parameter.scalar_type(), "FusedAdam", [&] {
        update(parameter.data_ptr<scalar_t>(), parameter.grad().data_ptr<scalar_t>(),
               state.exp_avg().data_ptr<scalar_t>(), state.exp_avg_sq().data_ptr<scalar_t>(),
               parameter.numel(), options.lr(), beta1, beta2, options.eps(), options.weight_decay(),
               state.step());
      });
    }
  }
  return loss;
}

}  // namespace bayesnn
