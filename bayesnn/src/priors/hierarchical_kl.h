// Internal: the hierarchical KL's scalar part and its gradient, written once for doubles (the CPU),
// for scalar tensors (other devices, double backward) and for a tensor of one per unit: what the
// hierarchical and the per-unit hierarchical priors share.
#pragma once

#include <array>
#include <cmath>

namespace bayesnn::detail {

using std::exp;

// The hierarchical KL (kl_hierarchical, bayesnn/priors/hierarchical.h) with m = log_scale_mean and
// v = exp(2 log_scale_log_sigma).
template <typename T>
T hierarchical_kl(const T& s0, const T& s1, const T& m, const T& lsl, double n, double tau) {
  const T v = exp(2.0 * lsl);
  // E[log q(w)] - E[log p(w|s)]: the -1/2 log 2pi terms cancel, leaving -1/2 per element.
  const T w_term = -0.5 * n - s0 + n * m + 0.5 * exp(2.0 * (v - m)) * s1;
  const T log_q_u = -0.5 * (std::log(2.0 * M_PI) + 1.0) - lsl;
  const T log_p_u =
      0.5 * std::log(2.0 / M_PI) - std::log(tau) - exp(2.0 * (m + v)) / (2.0 * tau * tau) + m;
  return w_term + log_q_u - log_p_u;
}

// Its gradient with respect to (s0, s1, m, lsl), times g: with e = exp(2 (v - m)) and
// q = exp(2 (m + v)) / tau², d/dm = n - e s1 + q - 1 and d/dlsl = 2 v (e s1 + q) - 1.
template <typename T>
std::array<T, 4> hierarchical_kl_grad(const T& g, const T& s1, const T& m, const T& lsl, double n,
                                      double tau) {
  const T v = exp(2.0 * lsl);
  const T e = exp(2.0 * (v - m));
  const T q = exp(2.0 * (m + v)) / (tau * tau);
  return {-g, 0.5 * e * g, g * (n - e * s1 + q - 1.0), g * (2.0 * v * (e * s1 + q) - 1.0)};
}

}  // namespace bayesnn::detail
