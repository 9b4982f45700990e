// Hot paths: the library's optimizer step, weight draw, KLs and random signs on the 2x800
// MLP's tensors, and a check that the draws' noise is N(0, 1).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/fused_adam.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"
#include "bench.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

constexpr int kRounds = 5;

struct HotPath {
  std::string name;
  std::function<void()> run;
};

// The MLP's largest weight (800 x 800), its priors' parameters, the variational tensor a layer
// holds over it (fixed prior N(0, 0.1²)), and the gradient a layer sends to it.
struct Weight {
  torch::Tensor mean = (torch::randn({800, 800}) * 0.05).requires_grad_();
  torch::Tensor log_sigma = torch::full({800, 800}, -5.0).requires_grad_();
  torch::Tensor log_sd = torch::full({}, std::log(0.1));
  torch::Tensor log_scale_mean = torch::full({}, std::log(0.1)).requires_grad_();
  torch::Tensor log_scale_log_sigma = torch::full({}, std::log(0.1)).requires_grad_();
  bayesnn::VariationalTensor q{mean, log_sigma, bayesnn::PriorModule(bayesnn::Prior::fixed(0.1))};
  torch::Tensor upstream = torch::randn({800, 800});

  void clear_grads() {
    for (auto* t : {&mean, &log_sigma, &log_scale_mean, &log_scale_log_sigma})
      t->mutable_grad() = torch::Tensor();
  }
};

// The Bayesian 2x800 MLP's parameters (means and log-sigmas), each with a gradient.
std::vector<torch::Tensor> mlp_parameters() {
  std::vector<torch::Tensor> parameters;
  for (int copy = 0; copy < 2; ++copy) {
    for (const auto& shape :
         std::vector<std::vector<int64_t>>{{800, 784}, {800}, {800, 800}, {800}, {10, 800}, {10}}) {
      parameters.push_back(torch::randn(shape).requires_grad_());
      parameters.back().mutable_grad() = torch::randn(shape);
    }
  }
  return parameters;
}

std::vector<HotPath> weight_paths(Weight& w, const torch::Tensor& activations) {
  return {
      {"kl fixed prior, forward+backward, 800x800",
       [&w] {
         w.clear_grads();
         bayesnn::kl_normal_zero_mean(w.mean, w.log_sigma, w.log_sd).backward();
       }},
      {"kl hierarchical prior, forward+backward, 800x800",
       [&w] {
         w.clear_grads();
         bayesnn::kl_hierarchical(w.mean, w.log_sigma, w.log_scale_mean, w.log_scale_log_sigma, 1.0)
             .backward();
       }},
      {"weight sample mean + sigma * eps, forward+backward, 800x800",
       [&w] {
         w.clear_grads();
         auto draw = bayesnn::sample_normal(w.mean, w.log_sigma);
         draw.backward(torch::ones_like(draw));
       }},
      {"weight sample and its KL (fixed prior), forward+backward, 800x800",
       [&w] {
         w.clear_grads();
         auto draw = w.q.draw();
         auto kl = w.q.kl();
         torch::autograd::backward({draw, kl}, {w.upstream, torch::ones({})});
       }},
      {"random signs, 128x800", [&activations] { bayesnn::random_signs(activations); }},
  };
}

// Milliseconds of each path: the median over rounds, the paths in turn within a round, so that
// load from other processes falls on all of them alike.
std::vector<double> interleaved_ms(const std::vector<HotPath>& paths, int reps) {
  std::vector<std::vector<double>> ms(paths.size());
  for (int round = 0; round < kRounds; ++round) {
    for (size_t i = 0; i < paths.size(); ++i)
      ms[i].push_back(time_ms(paths[i].run, reps / kRounds + 1));
  }
  std::vector<double> medians;
  for (const auto& path_ms : ms) medians.push_back(median(path_ms));
  return medians;
}

// Moments and tail fractions of 4M draws of `sample_normal`'s noise against the normal's.
void log_noise_check() {
  torch::NoGradGuard no_grad;
  const auto zeros = torch::zeros({4 << 20});
  const auto x = bayesnn::sample_normal(zeros, zeros).to(torch::kDouble);
  std::string tails;
  for (double t : {1.0, 2.0, 3.0, 4.0}) {
    tails += fmt::format(" P(|x|>{:g}) {:.5f} (normal {:.5f})", t,
                         (x.abs() > t).to(torch::kDouble).mean().item<double>(),
                         std::erfc(t / std::sqrt(2.0)));
  }
  log_line(
      fmt::format("noise check, 4M draws: mean {:.4f} var {:.4f} E[x^3] {:.4f} E[x^4] {:.4f} "
                  "(normal: 0 1 0 3);{}",
                  x.mean().item<double>(), x.square().mean().item<double>(),
                  x.pow(3).mean().item<double>(), x.pow(4).mean().item<double>(), tails));
}
}  // namespace

json micro_rows(const Settings& settings) {
  log_noise_check();
  const auto parameters = mlp_parameters();
  bayesnn::FusedAdam fused_adam(parameters, torch::optim::AdamOptions(1e-3));
  torch::optim::Adam torch_adam(parameters, torch::optim::AdamOptions(1e-3));
  Weight weight;
  const auto activations = torch::empty({128, 800});
  std::vector<HotPath> paths = {
      {"Adam step (bayesnn::FusedAdam), Bayesian 2x800 MLP (2.5 M parameters)",
       [&] { fused_adam.step(); }},
      {"Adam step (torch::optim::Adam), Bayesian 2x800 MLP (2.5 M parameters)",
       [&] { torch_adam.step(); }}};
  for (auto& path : weight_paths(weight, activations)) paths.push_back(path);
  const auto ms = interleaved_ms(paths, settings.quick ? 10 : 30);
  json rows = json::array();
  for (size_t i = 0; i < paths.size(); ++i) {
    log_line(fmt::format("{:<70} {:7.3f} ms", paths[i].name, ms[i]));
    rows.push_back({{"name", paths[i].name}, {"ms", ms[i]}});
  }
  return rows;
}

}  // namespace bench
