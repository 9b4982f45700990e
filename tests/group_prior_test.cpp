// The non-centred group priors: their KLs against Monte Carlo, the half-Cauchy decomposition,
// the product tensor w = z ∘ v under the three estimators, and their refusals.
#include "support/catch.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/group_scales.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"
#include "support/kl_checks.h"
#include "support/moments.h"

namespace bnn = bayesnn;
using Catch::Contains;

namespace {

// The parameter itself (a handle: writes reach the module). By value: named_parameters() returns
// a temporary dictionary, and a reference into it would dangle.
torch::Tensor hyper(const bnn::PriorModule& prior, const std::string& name) {
  return prior->named_parameters(/*recurse=*/false)[name];
}

// KL(q(v) || N(0, 1)) of a tensor's Gaussian factor, in closed form.
torch::Tensor kl_of_v(const bnn::VariationalTensor& q) {
  return bnn::kl_normal_zero_mean(q.mean(), q.log_sigma(), torch::zeros({}));
}

// Monte Carlo KL(LogNormal(m, sd²) || p) summed over the elements of m, with p's log density
// `log_p(x, log x)`: its mean and standard error.
std::pair<double, double> log_normal_kl_by_monte_carlo(
    const torch::Tensor& m, const torch::Tensor& log_sd,
    const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& log_p,
    int64_t n) {
  const auto md = m.to(torch::kDouble).reshape({1, -1});
  const auto sd_log = log_sd.to(torch::kDouble).reshape({1, -1});
  const auto log_x = md + sd_log.exp() * torch::randn({n, md.size(1)}, torch::kDouble);
  const auto log_q = bayesnn_test::normal_log_density(log_x, md, sd_log) - log_x;
  return bayesnn_test::mean_and_standard_error((log_q - log_p(log_x.exp(), log_x)).sum(1));
}

}  // namespace

TEST_CASE("group_horseshoe: KL in closed form matches Monte Carlo of log q - log p", "[prior]") {
  // Tolerance: 5 standard errors of the Monte Carlo sum plus 1e-4 relative (float).
  torch::manual_seed(11);
  const double tau0 = 0.5;
  bnn::PriorModule prior(bnn::Prior::group_horseshoe(tau0), std::vector<int64_t>{3, 4});
  {
    torch::NoGradGuard no_grad;
    hyper(prior, "global_a_mean").fill_(std::log(tau0 * tau0) + 0.3);
    hyper(prior, "global_a_log_sd").fill_(-0.7);
    hyper(prior, "global_b_mean").fill_(0.4);
    hyper(prior, "global_b_log_sd").fill_(-1.1);
    hyper(prior, "local_a_mean").normal_(0, 0.5);
    hyper(prior, "local_a_log_sd").uniform_(-1.5, -0.3);
    hyper(prior, "local_b_mean").normal_(0, 0.5);
    hyper(prior, "local_b_log_sd").uniform_(-1.5, -0.3);
  }
  bnn::VariationalTensor q(torch::randn({3, 4}) * 0.3, torch::full({3, 4}, -1.0), prior);
  const double kl_scales = (prior->kl(q) - kl_of_v(q)).item<double>();

  const double half_lgamma = std::lgamma(0.5);
  const auto gamma = [&](double rate) {
    return [=](const torch::Tensor& x, const torch::Tensor& log_x) {
      return 0.5 * std::log(rate) - half_lgamma - 0.5 * log_x - rate * x;
    };
  };
  const auto inverse_gamma = [&](const torch::Tensor& x, const torch::Tensor& log_x) {
    return -half_lgamma - 1.5 * log_x - 1.0 / x;
  };
  const int64_t n = 400000;
  double total = 0, variance = 0;
  for (const auto& [mc, se] :
       {log_normal_kl_by_monte_carlo(hyper(prior, "global_a_mean"), hyper(prior, "global_a_log_sd"),
                                     gamma(1 / (tau0 * tau0)), n),
        log_normal_kl_by_monte_carlo(hyper(prior, "global_b_mean"), hyper(prior, "global_b_log_sd"),
                                     inverse_gamma, n),
        log_normal_kl_by_monte_carlo(hyper(prior, "local_a_mean"), hyper(prior, "local_a_log_sd"),
                                     gamma(1.0), n),
        log_normal_kl_by_monte_carlo(hyper(prior, "local_b_mean"), hyper(prior, "local_b_log_sd"),
                                     inverse_gamma, n)}) {
    total += mc;
    variance += se * se;
  }
  INFO("closed form " << kl_scales << ", Monte Carlo " << total << " ± " << std::sqrt(variance));
  CHECK(std::abs(kl_scales - total) < 5 * std::sqrt(variance) + 1e-4 * std::abs(total));

  // The gradient of the scales' KL (one autograd node) against central differences in double:
  // within 1e-6 relative.
  prior->to(torch::kDouble);
  const auto& family = dynamic_cast<const bnn::GroupHorseshoePrior&>(prior->prior().family());
  for (auto& p : prior->parameters()) p.mutable_grad() = torch::Tensor();
  family.kl_scales(*prior).backward();
  for (const auto& item : prior->named_parameters()) {
    auto p = item.value();
    REQUIRE(p.grad().defined());
    for (int64_t i = 0; i < p.numel(); ++i) {
      torch::NoGradGuard no_grad;
      const double h = 1e-6, at = p.view({-1})[i].item<double>();
      p.view({-1})[i].fill_(at + h);
      const double up = family.kl_scales(*prior).item<double>();
      p.view({-1})[i].fill_(at - h);
      const double down = family.kl_scales(*prior).item<double>();
      p.view({-1})[i].fill_(at);
      INFO(item.key() << "[" << i << "]");
      CHECK(p.grad().view({-1})[i].item<double>() ==
            Approx((up - down) / (2 * h)).epsilon(1e-6).margin(1e-6));
    }
  }

  // A bias (no units) has no scales: its KL is that of v ~ N(0, 1).
  bnn::PriorModule bias_prior(bnn::Prior::group_horseshoe(tau0), std::vector<int64_t>{3});
  bnn::VariationalTensor bias(torch::randn({3}), torch::full({3}, -1.0), bias_prior);
  CHECK_FALSE(bias.group_scales().has_value());
  CHECK(bias_prior->kl(bias).item<double>() == Approx(kl_of_v(bias).item<double>()));
}

TEST_CASE(
    "group_horseshoe: sqrt(a b), a ~ Gamma(1/2, rate 1/tau²), b ~ InvGamma(1/2, 1), is "
    "half-Cauchy(tau), and E[z] is the scales' mean",
    "[prior]") {
  // P(X ≤ tau) = 1/2 and P(X ≤ 3 tau) = (2/π) atan 3 for X ~ C+(0, tau); 200000 draws, so the
  // tolerance 0.006 is about 5 standard errors.
  torch::manual_seed(12);
  const double tau = 0.3;
  const int64_t n = 200000;
  const auto a = torch::_standard_gamma(torch::full({n}, 0.5, torch::kDouble)) * (tau * tau);
  const auto b = 1.0 / torch::_standard_gamma(torch::full({n}, 0.5, torch::kDouble));
  const auto x = (a * b).sqrt();
  CHECK(x.le(tau).to(torch::kDouble).mean().item<double>() == Approx(0.5).margin(0.006));
  CHECK(x.le(3 * tau).to(torch::kDouble).mean().item<double>() ==
        Approx(2 / M_PI * std::atan(3.0)).margin(0.006));

  // E[z_j] of `group_scales` against z_j = sqrt(a_g b_g a_j b_j) drawn from the hyper-parameters'
  // log-normals: within 5 standard errors.
  bnn::PriorModule prior(bnn::Prior::group_horseshoe(1.0, -1.0), std::vector<int64_t>{2, 3});
  {
    torch::NoGradGuard no_grad;
    hyper(prior, "local_a_mean").copy_(torch::tensor({0.2, -0.5, 0.1}));
  }
  const auto draw = [&](const char* name, int64_t units) {
    const auto m = hyper(prior, std::string(name) + "_mean").to(torch::kDouble);
    const auto sd = hyper(prior, std::string(name) + "_log_sd").to(torch::kDouble).exp();
    return m + sd * torch::randn({n, units}, torch::kDouble);
  };
  const auto log_z =
      0.5 * (draw("global_a", 1) + draw("global_b", 1) + draw("local_a", 3) + draw("local_b", 3));
  const auto z = log_z.exp();
  const auto scales = prior->group_scales();
  REQUIRE(scales.has_value());
  const auto expected = scales->mean().to(torch::kDouble);
  const auto se = z.std(0) / std::sqrt(static_cast<double>(n));
  INFO("E[z] " << expected << " Monte Carlo " << z.mean(0));
  CHECK(((z.mean(0) - expected).abs() / se).max().item<double>() < 5);
  // The shared global noise: z_1 and z_2 correlate as the closed form says.
  const auto u = log_z - log_z.mean(0);
  const double covariance = (u.select(1, 0) * u.select(1, 1)).mean().item<double>();
  CHECK(covariance == Approx((2 * scales->shared_log_sd).exp().item<double>()).epsilon(0.03));
}

TEST_CASE("group_normal_jeffreys: the KL approximation follows the exact KL to 0.015 nats",
          "[prior]") {
  // Exact, up to a constant (Molchanov et al. 2017, eq. 7): -KL = ½ log α - E_{ε ~ N(1, α)}
  // log|ε| + C, with C = -k1 making -KL → 0 as α → ∞. 400000 draws per α; tolerance 0.015
  // plus 5 standard errors.
  torch::manual_seed(13);
  constexpr double k1 = 0.63576;
  for (double log_alpha : {-3.0, -1.0, 0.0, 1.0, 3.0}) {
    bnn::PriorModule prior(bnn::Prior::group_normal_jeffreys(), std::vector<int64_t>{2, 1});
    {
      torch::NoGradGuard no_grad;
      hyper(prior, "scale_mean").fill_(0.7);
      hyper(prior, "scale_log_sd").fill_(std::log(0.7) + log_alpha / 2);
    }
    bnn::VariationalTensor q(torch::zeros({2, 1}), torch::zeros({2, 1}), prior);
    const double approximate = -(prior->kl(q) - kl_of_v(q)).item<double>();
    const auto eps = 1 + std::exp(log_alpha / 2) * torch::randn({400000}, torch::kDouble);
    const auto [e_log, se] = bayesnn_test::mean_and_standard_error(eps.abs().log());
    const double exact = 0.5 * log_alpha - e_log - k1;
    INFO("log alpha " << log_alpha << ": approximation " << approximate << ", exact " << exact);
    CHECK(std::abs(approximate - exact) < 0.015 + 5 * se);
  }
}

TEST_CASE("group priors: the product tensor's output moments under each estimator", "[prior]") {
  // y = x (z ∘ v)ᵀ with z log-normal (a shared global noise) or normal: E[y_i] = Σ_j x_j E[z_j]
  // μ_ij, Var[y_i] = Σ_j x_j² E[z_j²] σ_ij² + Σ_jk x_j x_k μ_ij μ_ik Cov(z_j, z_k).
  // 20000 draws: the mean within 5 standard errors, the variance within 10 %.
  torch::manual_seed(14);
  const auto x = torch::tensor({{0.8, -1.2, 0.5, 1.5}});
  for (const auto& prior :
       {bnn::Prior::group_horseshoe(1.0, -1.2), bnn::Prior::group_normal_jeffreys(-1.0)}) {
    for (auto estimator : {bnn::Estimator::kReparameterization,
                           bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
      INFO(bnn::to_string(prior) << ", " << bnn::to_string(estimator));
      bnn::BayesLinear layer(
          bnn::BayesLinearOptions(4, 3).bias(false).prior(prior).estimator(estimator));
      {
        torch::NoGradGuard no_grad;
        layer->weight_mean.normal_(0, 1);
        layer->weight_log_sigma.fill_(-1.5);
        for (auto& p : layer->weight_prior->parameters()) {
          if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.2);
        }
      }
      const auto scales = layer->weight.group_scales();
      REQUIRE(scales.has_value());
      torch::NoGradGuard no_grad;
      const auto loc = scales->loc.to(torch::kDouble);
      const auto s2 = (2 * scales->log_sd).exp().to(torch::kDouble);
      const double g2 =
          scales->shared_log_sd.defined() ? (2 * scales->shared_log_sd).exp().item<double>() : 0;
      torch::Tensor ez, cov;
      if (scales->log_normal) {
        ez = (loc + (s2 + g2) / 2).exp();
        cov = torch::outer(ez, ez) * ((torch::diag(s2) + g2).exp() - 1);
      } else {
        ez = loc;
        cov = torch::diag(s2);
      }
      const auto ez2 = cov.diagonal() + ez.square();
      const auto mu = layer->weight_mean.to(torch::kDouble);
      const auto sigma2 = (2 * layer->weight_log_sigma).exp().to(torch::kDouble);
      const auto xd = x.to(torch::kDouble);
      const auto mean = torch::matmul(xd * ez, mu.t());
      const auto a = mu * xd;  // a_ij = x_j μ_ij
      const auto variance = torch::matmul(xd.square() * ez2, sigma2.t()) +
                            (torch::matmul(a, cov) * a).sum(1).unsqueeze(0);
      bayesnn_test::check_layer_moments(layer, x, mean, variance, 20000, 0.1);
    }
  }
}

TEST_CASE(
    "group priors: reparameterization scales a hidden layer's input, op(x ∘ z, v), with "
    "the values and gradients of op(x, z ∘ v)",
    "[prior]") {
  // The same seed gives the same v and z either way: where the input needs no gradient (a first
  // layer) z scales the weight, where it does (a hidden layer) the input. The output and every
  // gradient agree to float rounding.
  for (const auto& prior :
       {bnn::Prior::group_horseshoe(1.0, -1.2), bnn::Prior::group_normal_jeffreys(-1.0)}) {
    INFO(bnn::to_string(prior));
    torch::manual_seed(21);
    bnn::BayesLinear layer(bnn::BayesLinearOptions(50, 30).prior(prior));
    const auto x = torch::randn({16, 50});
    std::vector<torch::Tensor> outputs, gradients;
    for (const bool hidden : {false, true}) {
      layer->zero_grad();
      const auto input = hidden ? x.clone().requires_grad_() : x;
      torch::manual_seed(22);
      const auto y = layer->forward(input);
      y.square().sum().backward();
      outputs.push_back(y.detach());
      for (const auto& p : layer->parameters()) {
        REQUIRE(p.grad().defined());
        gradients.push_back(p.grad().clone());
      }
    }
    CHECK(torch::allclose(outputs[0], outputs[1], 1e-5, 1e-5));
    const size_t n = gradients.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      INFO("parameter " << i);
      CHECK(torch::allclose(gradients[i], gradients[n + i], 1e-4, 1e-5));
    }
  }
}

TEST_CASE("group priors: a convolution's scales sit on its filters and scale its bias", "[prior]") {
  // A 1x1 convolution on a 1x1 image is a dense layer with one scale per output: y_i = z_i
  // (Σ_j x_j v_ij + b_i), so E[y_i] = E[z_i] m_i and Var[y_i] = E[z_i²] s_i + Var[z_i] m_i², with
  // m_i = Σ_j x_j μ_ij + μb_i and s_i = Σ_j x_j² σ_ij² + σb_i². 20000 draws: the mean within 5
  // standard errors, the variance within 10 %, under every estimator and in Mode::kFrozen (the
  // bias takes the weight's held z).
  torch::manual_seed(15);
  const auto x = torch::tensor({0.8, -1.2, 0.5, 1.5}).view({1, 4, 1, 1});
  for (const auto& prior :
       {bnn::Prior::group_horseshoe(1.0, -1.2), bnn::Prior::group_normal_jeffreys(-1.0)}) {
    for (auto estimator : {bnn::Estimator::kReparameterization,
                           bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
      INFO(bnn::to_string(prior) << ", " << bnn::to_string(estimator));
      bnn::BayesConv2d layer(bnn::BayesConv2dOptions(4, 3, 1).prior(prior).estimator(estimator));
      {
        torch::NoGradGuard no_grad;
        layer->weight_mean.normal_(0, 1);
        layer->weight_log_sigma.fill_(-1.5);
        layer->bias_mean.normal_(0, 1);
        layer->bias_log_sigma.fill_(-1.0);
        for (auto& p : layer->weight_prior->parameters()) {
          if (p.dim() == 1) p.add_(torch::randn_like(p) * 0.2);
        }
      }
      const auto scales = layer->weight.group_scales();
      REQUIRE(scales.has_value());
      REQUIRE(scales->dim == 0);
      REQUIRE(scales->units() == 3);
      torch::NoGradGuard no_grad;
      const auto loc = scales->loc.to(torch::kDouble);
      const auto s2 = (2 * scales->log_sd).exp().to(torch::kDouble);
      const double g2 =
          scales->shared_log_sd.defined() ? (2 * scales->shared_log_sd).exp().item<double>() : 0;
      const auto ez = scales->log_normal ? (loc + (s2 + g2) / 2).exp() : loc;
      const auto var_z = scales->log_normal ? ez.square() * ((s2 + g2).exp() - 1) : s2;
      const auto xd = x.view({1, 4}).to(torch::kDouble);
      const auto mu = layer->weight_mean.view({3, 4}).to(torch::kDouble);
      const auto sigma2 = (2 * layer->weight_log_sigma).exp().view({3, 4}).to(torch::kDouble);
      const auto m = torch::matmul(xd, mu.t()).view({3}) + layer->bias_mean.to(torch::kDouble);
      const auto v = torch::matmul(xd.square(), sigma2.t()).view({3}) +
                     (2 * layer->bias_log_sigma).exp().to(torch::kDouble);
      const auto mean = (ez * m).view({1, 3, 1, 1});
      const auto variance = ((var_z + ez.square()) * v + var_z * m.square()).view({1, 3, 1, 1});
      bayesnn_test::check_layer_moments(layer, x, mean, variance, 20000, 0.1);
    }
  }
}

TEST_CASE("group priors: the posterior mean is E[z] ∘ mean, and conversions start there",
          "[prior]") {
  bnn::BayesLinear layer(bnn::BayesLinearOptions(3, 2).prior(bnn::Prior::group_horseshoe()));
  const auto scales = layer->weight.group_scales();
  REQUIRE(scales.has_value());
  CHECK(torch::allclose(layer->weight.value(bnn::Mode::kMean),
                        layer->weight_mean * scales->mean().unsqueeze(0)));
  CHECK(scales->mean().allclose(torch::ones({3}), 1e-3));  // z starts at 1
  CHECK_FALSE(layer->bias.group_scales().has_value());

  // A convolution's: E[z] along the filters, on the weight and its bias alike.
  bnn::BayesConv2d conv(
      bnn::BayesConv2dOptions(2, 3, 2).prior(bnn::Prior::group_normal_jeffreys()));
  {
    torch::NoGradGuard no_grad;
    conv->weight_prior->named_parameters(false)["scale_mean"].copy_(torch::tensor({0.5, 2.0, 3.0}));
  }
  const auto ez = torch::tensor({0.5, 2.0, 3.0});
  CHECK(torch::allclose(conv->weight.value(bnn::Mode::kMean),
                        conv->weight_mean * ez.view({3, 1, 1, 1})));
  CHECK(torch::allclose(conv->bias.value(bnn::Mode::kMean), conv->bias_mean * ez));
  // Held draws: one z for the weight and its bias (the moments test checks their law). With
  // every sd tiny, each is E[z] ∘ mean.
  {
    torch::NoGradGuard no_grad;
    conv->weight_log_sigma.fill_(-20);
    conv->bias_log_sigma.fill_(-20);
    conv->weight_prior->named_parameters(false)["scale_log_sd"].fill_(-20);
  }
  conv->set_mode(bnn::Mode::kFrozen);
  CHECK(conv->weight.held_scales().sizes() == torch::IntArrayRef({3}));
  CHECK(torch::allclose(conv->bias.held_draw(), conv->bias_mean * ez, 1e-5, 1e-6));
  CHECK(torch::allclose(conv->weight.held_draw(), conv->weight_mean * ez.view({3, 1, 1, 1}), 1e-5,
                        1e-6));
  conv->set_mode(bnn::Mode::kSample);
  CHECK_FALSE(conv->weight.held_scales().defined());
}

TEST_CASE("group priors: refuse bad settings and an operator that does not contract the units",
          "[prior]") {
  REQUIRE_THROWS_WITH(bnn::Prior::group_horseshoe(0.0),
                      Contains("tau0 must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bnn::Prior::group_horseshoe(1e-5, std::nan("")),
                      Contains("init_log_sd must be finite, got nan"));
  REQUIRE_THROWS_WITH(bnn::Prior::group_normal_jeffreys(INFINITY),
                      Contains("init_log_sd must be finite, got inf"));
  // The local estimator scales the input's dimension 1 by z: a weight [2, 3] on an input whose
  // dimension 1 is not 3 is refused, naming both.
  bnn::PriorModule prior(bnn::Prior::group_horseshoe(), std::vector<int64_t>{2, 3});
  bnn::VariationalTensor weight(torch::zeros({2, 3}), torch::zeros({2, 3}), prior);
  const bnn::LinearOperator op = [](const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor&) { return x.matmul(w.t()); };
  REQUIRE_THROWS_WITH(
      bnn::sample_output(bnn::Estimator::kLocalReparameterization, op, bnn::SignLayout::kPerElement,
                         torch::ones({4, 5, 3}), weight, bnn::VariationalTensor()),
      Contains("the weight's 3 unit scales") && Contains("[4, 5, 3]"));
  // Output scales: a bias of another size cannot share them, and a bias that does not share
  // them is refused.
  bnn::PriorModule output_prior(bnn::Prior::group_normal_jeffreys(), std::vector<int64_t>{2, 3},
                                /*unit_dim=*/0);
  bnn::VariationalTensor on_outputs(torch::zeros({2, 3}), torch::zeros({2, 3}), output_prior);
  bnn::VariationalTensor bias(torch::zeros({3}), torch::zeros({3}));
  REQUIRE_THROWS_WITH(bias.share_scales(on_outputs),
                      Contains("a tensor of shape [3] can share only the output-unit scales of "
                               "a weight with as many units (got 2 units along dimension 0)"));
  REQUIRE_THROWS_WITH(bias.share_scales(weight), Contains("(got 3 units along dimension 1)"));
  const auto own_bias = bnn::VariationalTensor(torch::zeros({2}), torch::zeros({2}));
  REQUIRE_THROWS_WITH(bnn::sample_output(bnn::Estimator::kFlipout, op, bnn::SignLayout::kPerElement,
                                         torch::ones({4, 3}), on_outputs, own_bias),
                      Contains("its bias must share them"));
  // An operator whose output's dimension 1 is not the weight's output units, where z scales the
  // output (local reparameterization and Flipout; reparameterization scales the weight).
  const bnn::LinearOperator transposed = [](const torch::Tensor& x, const torch::Tensor& w,
                                            const torch::Tensor&) { return x.matmul(w); };
  REQUIRE_THROWS_WITH(
      bnn::sample_output(bnn::Estimator::kLocalReparameterization, transposed,
                         bnn::SignLayout::kPerElement, torch::ones({4, 2}), on_outputs,
                         bnn::VariationalTensor()),
      Contains("the weight's 2 output-unit scales do not match the output's dimension 1 of "
               "shape [4, 3]"));
  REQUIRE_THROWS_WITH(
      bnn::PriorModule(bnn::Prior::group_normal_jeffreys(), std::vector<int64_t>{2, 3}, 2),
      Contains("unit_dim must be 0 (output units) or 1 (input units), got 2"));
}
