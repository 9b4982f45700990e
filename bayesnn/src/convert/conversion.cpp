#include "bayesnn/conversion.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace bayesnn {

ConvertContext::ConvertContext(const ConvertOptions& options, ConvertReport& report,
                               const torch::nn::Module& module, std::string path)
    : options_(options), report_(report), module_(module), path_(std::move(path)) {}

// MOPED's prior is centred on each tensor's trained values by `start_at`.
Prior ConvertContext::prior() const {
  if (!options_.moped_prior()) return options_.prior();
  return Prior(std::make_shared<GaussianPrior>(
      0.0, 1.0, fmt::format("moped(delta={:g})", *options_.moped_delta())));
}

void ConvertContext::start_at(const VariationalTensor& q, const at::Tensor& trained) const {
  if (!q.defined()) return;
  at::NoGradGuard no_grad;
  // A product tensor w = z ∘ v starts with its posterior mean E[z] ∘ mean at the trained values.
  const auto scales = q.group_scales();
  q.mean().copy_(scales ? trained / along_units(scales->mean(), trained.dim(), scales->dim)
                        : trained);
  if (!options_.moped_delta()) return;
  const auto sd = (trained.detach().abs() * *options_.moped_delta())
                      .clamp_min(options_.moped_sigma_floor())
                      .to(q.mean().scalar_type());
  q.log_sigma().copy_(sd.log());
  if (options_.moped_prior()) {
    q.prior()->buffer("mean").copy_(trained);
    q.prior()->buffer("sd").copy_(sd);
  }
}

std::nullopt_t ConvertContext::keep(std::string why) {
  report_.deterministic.push_back({path_, module_.name(), std::move(why)});
  return std::nullopt;
}

std::string ConvertReport::Entry::to_string() const {
  return fmt::format("{} ({}): {}", path.empty() ? "(the model)" : path, type, what);
}

std::string ConvertReport::to_string() const {
  std::string text;
  for (const auto& entry : converted) text += "converted " + entry.to_string() + "\n";
  for (const auto& entry : deterministic) text += "kept deterministic " + entry.to_string() + "\n";
  return text;
}

}  // namespace bayesnn
