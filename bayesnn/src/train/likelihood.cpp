#include "bayesnn/likelihood.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/nn/functional/loss.h>

namespace bayesnn {

torch::Tensor CategoricalLikelihood::nll(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(logits.dim() == 2, "CategoricalLikelihood: expected logits [N, C], got shape ",
              logits.sizes());
  TORCH_CHECK(
      labels.dim() == 1 && labels.size(0) == logits.size(0) && labels.scalar_type() == torch::kLong,
      "CategoricalLikelihood: expected int64 labels [", logits.size(0), "], got ",
      labels.scalar_type(), " ", labels.sizes());
  return torch::nn::functional::cross_entropy(logits, labels);
}

GaussianLikelihood::GaussianLikelihood(double noise_sd, bool learn_sd) : learn_sd_(learn_sd) {
  TORCH_CHECK(std::isfinite(noise_sd) && noise_sd > 0,
              "GaussianLikelihood: noise_sd must be positive and finite, got ", noise_sd);
  auto value = torch::full({}, std::log(noise_sd));
  log_noise_sd =
      learn_sd ? register_parameter("log_noise_sd", value) : register_buffer("log_noise_sd", value);
}

torch::Tensor GaussianLikelihood::nll(const torch::Tensor& output, const torch::Tensor& target) {
  TORCH_CHECK(output.sizes() == target.sizes(), "GaussianLikelihood: output shape ", output.sizes(),
              " differs from target shape ", target.sizes());
  const auto per_datum = output.numel() / std::max<int64_t>(output.size(0), 1);
  const auto squared = (target - output).square().sum() / output.size(0);
  return per_datum * (0.5 * std::log(2 * M_PI) + log_noise_sd) +
         0.5 * (-2.0 * log_noise_sd).exp() * squared;
}

std::string GaussianLikelihood::name() const {
  return fmt::format("gaussian(sd={:g}{})", noise_sd(), learn_sd_ ? ", learned" : "");
}

double GaussianLikelihood::noise_sd() const { return std::exp(log_noise_sd.item<double>()); }

}  // namespace bayesnn
