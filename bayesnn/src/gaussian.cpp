#include "bayesnn/gaussian.h"

#include <cmath>

namespace bayesnn {
namespace {
const double kLog2Pi = std::log(2.0 * M_PI);
}  // namespace

at::Tensor sample_normal(const at::Tensor& mean, const at::Tensor& log_sigma) {
  return mean + log_sigma.exp() * at::randn_like(mean);
}

at::Tensor random_signs(const at::Tensor& like) {
  return at::empty_like(like).bernoulli_(0.5).mul_(2).sub_(1);
}

at::Tensor kl_normal_zero_mean(const at::Tensor& mean, const at::Tensor& log_sigma,
                               const at::Tensor& log_sd) {
  const auto n = static_cast<double>(mean.numel());
  // Written as sums over elements plus scalar terms, so no [n]-sized broadcast of log_sd.
  const auto inv_var = (-2.0 * log_sd).exp();
  const auto second_moment = (2.0 * log_sigma).exp().sum() + mean.square().sum();
  return n * (log_sd - 0.5) - log_sigma.sum() + 0.5 * inv_var * second_moment;
}

at::Tensor kl_hierarchical(const at::Tensor& mean, const at::Tensor& log_sigma,
                           const at::Tensor& log_scale_mean, const at::Tensor& log_scale_log_sigma,
                           double tau) {
  const auto n = static_cast<double>(mean.numel());
  const auto& m = log_scale_mean;
  const auto v = (2.0 * log_scale_log_sigma).exp();
  const auto second_moment = (2.0 * log_sigma).exp().sum() + mean.square().sum();
  // E[log q(w)] - E[log p(w|s)]: the -1/2 log 2pi terms cancel, leaving -1/2 per element.
  const auto w_term =
      -0.5 * n - log_sigma.sum() + n * m + 0.5 * (2.0 * (v - m)).exp() * second_moment;
  const auto log_q_u = -0.5 * (kLog2Pi + 1.0) - log_scale_log_sigma;
  const auto log_p_u =
      0.5 * std::log(2.0 / M_PI) - std::log(tau) - (2.0 * (m + v)).exp() / (2.0 * tau * tau) + m;
  return w_term + log_q_u - log_p_u;
}

at::Tensor neg_log_half_normal(const at::Tensor& log_s, double tau) {
  return -0.5 * std::log(2.0 / M_PI) + std::log(tau) + (2.0 * log_s).exp() / (2.0 * tau * tau);
}

}  // namespace bayesnn
