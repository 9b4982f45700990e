#include "support/catch.h"

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/gaussian.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"
#include "support/kl_checks.h"

using Catch::Contains;

TEST_CASE("Prior: rejects non-positive and non-finite scales with the value", "[prior]") {
  const double inf = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(bayesnn::Prior::fixed(0.0),
                      Contains("sd must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::fixed(-0.5), Contains("got -0.5"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::fixed(inf), Contains("got inf"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::hierarchical(-1.0),
                      Contains("tau must be positive and finite, got -1"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::hierarchical(std::nan("")), Contains("tau must be positive"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::hierarchical(1.0, 0.0),
                      Contains("init_sd must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::hierarchical(1.0, 0.1, -2.0),
                      Contains("init_log_scale_sd must be positive and finite, got -2"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::empirical_bayes(-0.1), Contains("init_sd must be positive"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::empirical_bayes(0.1, 0.0),
                      Contains("hyper_tau must be positive and finite, got 0"));
  for (double pi : {0.0, 1.0, -0.5, std::nan("")}) {
    REQUIRE_THROWS_WITH(bayesnn::Prior::scale_mixture(pi),
                        Contains("the scale mixture's pi must lie strictly between 0 and 1"));
  }
  REQUIRE_THROWS_WITH(bayesnn::Prior::scale_mixture(0.5, 0.0),
                      Contains("sigma1 must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::scale_mixture(0.5, 1.0, inf),
                      Contains("sigma2 must be positive and finite, got inf"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::unit_hierarchical(0.0),
                      Contains("tau must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::unit_hierarchical(1.0, -0.1),
                      Contains("init_sd must be positive and finite, got -0.1"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::gaussian(0.0, 0.0),
                      Contains("sd must be positive and finite, got 0"));
  REQUIRE_THROWS_WITH(bayesnn::Prior::gaussian(std::nan("")),
                      Contains("mean must be finite, got nan"));
}

TEST_CASE("PriorModule: learned scales are parameters with the documented names", "[prior]") {
  SECTION("fixed holds nothing") {
    bayesnn::PriorModule prior(bayesnn::Prior::fixed(0.1));
    CHECK(prior->parameters().empty());
    CHECK(prior->scale() == Approx(0.1));
  }
  SECTION("hierarchical holds log_scale_mean and log_scale_log_sigma") {
    bayesnn::PriorModule prior(bayesnn::Prior::hierarchical(1.0, 0.2, 0.05));
    auto named = prior->named_parameters();
    REQUIRE(named.contains("log_scale_mean"));
    REQUIRE(named.contains("log_scale_log_sigma"));
    CHECK(named["log_scale_mean"].item<double>() == Approx(std::log(0.2)));
    CHECK(named["log_scale_log_sigma"].item<double>() == Approx(std::log(0.05)));
    // E_q[s] for log-normal q: exp(m + v/2).
    CHECK(prior->scale() == Approx(std::exp(std::log(0.2) + 0.5 * 0.05 * 0.05)));
  }
  SECTION("empirical Bayes holds log_scale") {
    bayesnn::PriorModule prior(bayesnn::Prior::empirical_bayes(0.3));
    REQUIRE(prior->named_parameters().contains("log_scale"));
    CHECK(prior->scale() == Approx(0.3));
  }
}

TEST_CASE("PriorModule: empirical Bayes moves its scale towards the weights' spread", "[prior]") {
  torch::manual_seed(5);
  bayesnn::PriorModule prior(bayesnn::Prior::empirical_bayes(0.01));
  auto mean = torch::randn({2000}) * 0.5;  // weights with spread 0.5
  auto log_sigma = torch::full({2000}, -4.0);
  // A short second-moment memory: the gradient shrinks by orders of magnitude on the way.
  torch::optim::Adam optimizer(prior->parameters(),
                               torch::optim::AdamOptions(0.05).betas({0.9, 0.9}));
  for (int step = 0; step < 3000; ++step) {
    optimizer.zero_grad();
    (prior->kl(mean, log_sigma) / 2000).backward();
    optimizer.step();
  }
  // The type-II ML optimum is s² = mean(mu² + sigma²) ≈ 0.25.
  const double expected = std::sqrt((mean.square() + (2 * log_sigma).exp()).mean().item<double>());
  CHECK(prior->scale() == Approx(expected).epsilon(0.01));
}

TEST_CASE("prior_scales: names every learned prior by its module path", "[prior]") {
  torch::nn::Sequential model(
      bayesnn::BayesLinear(bayesnn::BayesLinearOptions(3, 4).prior(bayesnn::Prior::hierarchical())),
      bayesnn::BayesLinear(bayesnn::BayesLinearOptions(4, 2)));
  auto scales = bayesnn::prior_scales(*model);
  CHECK(scales.size() == 2);
  CHECK(scales.count("0.weight_prior") == 1);
  CHECK(scales.count("0.bias_prior") == 1);
  CHECK(bayesnn::prior_scales(*model, /*learned_only=*/false).size() == 4);
}

namespace {
// prior.h's example: a Laplace prior, a user's family with a Monte Carlo KL.
struct LaplacePrior : bayesnn::PriorFamily {
  double b = 0.1;
  std::string name() const override { return "laplace(0.1)"; }
  torch::Tensor kl(const bayesnn::VariationalTensor& q,
                   const bayesnn::PriorModuleImpl&) const override {
    const auto n = static_cast<double>(q.mean().numel());
    auto entropy = 0.5 * n * (1 + std::log(2 * M_PI)) + q.log_sigma().sum();
    auto log_p = -n * std::log(2 * b) - q.current_draw().abs().sum() / b;
    return -entropy - log_p;
  }
  double scale(const bayesnn::PriorModuleImpl&) const override { return std::sqrt(2.0) * b; }
};
}  // namespace

TEST_CASE("PriorFamily: a user's prior with a Monte Carlo KL plugs into a layer", "[prior]") {
  torch::manual_seed(23);
  auto prior = bayesnn::Prior(std::make_shared<LaplacePrior>());
  CHECK(bayesnn::to_string(prior) == "laplace(0.1)");
  bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(20, 10).prior(prior).log_sigma_init(-2));
  CHECK(fc->weight_prior->parameters().empty());
  CHECK(fc->weight_prior->scale() == Approx(std::sqrt(2.0) * 0.1));
  // The KL's Monte Carlo mean against the closed form of KL(N(mu, s²) || Laplace(0, b)):
  // E|w| = s sqrt(2/pi) exp(-mu²/(2 s²)) + mu (1 - 2 Phi(-mu/s)), minus the entropy.
  const auto& mu = fc->weight_mean;
  const auto s = fc->weight_log_sigma.exp();
  torch::NoGradGuard no_grad;
  const auto z = mu / s;
  const auto expected_abs =
      s * std::sqrt(2 / M_PI) * (-0.5 * z.square()).exp() + mu * torch::erf(z / std::sqrt(2.0));
  const double n = 200;
  const double closed_form = (-(0.5 * (1 + std::log(2 * M_PI)) + fc->weight_log_sigma).sum() +
                              (std::log(2 * 0.1) + expected_abs / 0.1).sum())
                                 .item<double>();
  std::vector<double> estimates;
  for (int i = 0; i < 4000; ++i) estimates.push_back(fc->weight.kl().item<double>());
  const auto values = torch::tensor(estimates, torch::kDouble);
  const double standard_error = values.std().item<double>() / std::sqrt(values.numel() * 1.0);
  INFO("closed form " << closed_form << ", MC mean " << values.mean().item<double>() << " ± "
                      << standard_error << " (n = " << n << ")");
  CHECK(std::abs(values.mean().item<double>() - closed_form) < 4 * standard_error);
}

TEST_CASE("PriorModule and Prior: misuse is named", "[prior]") {
  REQUIRE_THROWS_WITH(bayesnn::Prior(nullptr), Contains("Prior: the family is empty"));
  bayesnn::PriorModule prior(bayesnn::Prior::fixed(0.1));
  REQUIRE_THROWS_WITH(prior->hyper("log_scale"),
                      Contains("the prior fixed(0.1) has no hyper-parameter 'log_scale'"));
  REQUIRE_THROWS_WITH(prior->buffer("mean"), Contains("the prior fixed(0.1) has no buffer 'mean'"));
}

// --- the per-element Gaussian -------------------------------------------------------------------

TEST_CASE(
    "Prior::gaussian: per-element mean and sd buffers of the tensor's shape, KL in closed "
    "form, carried by clone, to() and a checkpoint",
    "[prior]") {
  const auto prior = bayesnn::Prior::gaussian(0.5, 2.0);
  CHECK(bayesnn::to_string(prior) == "gaussian(mean=0.5, sd=2)");
  bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(4, 3).prior(prior));
  CHECK(fc->weight_prior->parameters().empty());  // nothing learned
  const auto buffers = fc->named_buffers();
  REQUIRE(buffers.contains("weight_prior.mean"));
  REQUIRE(buffers.contains("bias_prior.sd"));
  CHECK(buffers["weight_prior.mean"].sizes() == torch::IntArrayRef({3, 4}));
  CHECK(buffers["bias_prior.sd"].sizes() == torch::IntArrayRef({3}));
  CHECK(torch::equal(buffers["weight_prior.sd"], torch::full({3, 4}, 2.0)));
  CHECK(fc->weight_prior->scale() == Approx(2.0));

  // Per-element values, written as to_bayesian writes them: the KL is kl_normal of them.
  torch::manual_seed(5);
  {
    torch::NoGradGuard no_grad;
    fc->weight_prior->buffer("mean").copy_(torch::randn({3, 4}));
    fc->weight_prior->buffer("sd").copy_(torch::rand({3, 4}) + 0.1);
  }
  const auto expected =
      bayesnn::kl_normal(fc->weight_mean, fc->weight_log_sigma, fc->weight_prior->buffer("mean"),
                         fc->weight_prior->buffer("sd"));
  CHECK(fc->weight.kl().item<double>() == Approx(expected.item<double>()).epsilon(1e-6));

  auto copy = std::dynamic_pointer_cast<bayesnn::BayesLinearImpl>(fc->clone());
  CHECK(torch::equal(copy->weight_prior->buffer("mean"), fc->weight_prior->buffer("mean")));
  copy->weight_prior->buffer("mean").add_(1.0);  // the clone's own tensors
  CHECK(!torch::equal(copy->weight_prior->buffer("mean"), fc->weight_prior->buffer("mean")));
  fc->to(torch::kDouble);
  CHECK(fc->weight_prior->buffer("sd").scalar_type() == torch::kDouble);
  fc->to(torch::kFloat);

  std::stringstream bytes;
  torch::serialize::OutputArchive out;
  fc->save(out);
  out.save_to(bytes);
  bayesnn::BayesLinear loaded(bayesnn::BayesLinearOptions(4, 3).prior(prior));
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  loaded->load(in);
  CHECK(torch::equal(loaded->weight_prior->buffer("sd"), fc->weight_prior->buffer("sd")));
}

// --- the scale mixture --------------------------------------------------------------------------

namespace {
// E_q[log p(w)] of each element of q = N(mean, sigma²) under the scale mixture, by the trapezoid
// rule over mean ± 12 sigma (double): the reference the Monte Carlo KL is held to.
torch::Tensor expected_log_mixture_density(const torch::Tensor& mean, const torch::Tensor& sigma,
                                           double pi, double sigma1, double sigma2) {
  const auto t = torch::linspace(-12, 12, 200001, torch::kDouble);
  const auto w = mean.unsqueeze(1) + sigma.unsqueeze(1) * t;  // [n, points]
  auto normal = [&](double sd) {
    return (-0.5 * (w / sd).square()).exp() / (sd * std::sqrt(2 * M_PI));
  };
  const auto log_p = (pi * normal(sigma1) + (1 - pi) * normal(sigma2)).log();
  const auto q = (-0.5 * t.square()).exp() / std::sqrt(2 * M_PI);  // standard normal in t
  return torch::trapz(q * log_p, t, /*dim=*/1);
}
}  // namespace

TEST_CASE("Prior::scale_mixture: the Monte Carlo KL's mean equals the integral within 4 SE",
          "[prior]") {
  torch::manual_seed(31);
  const double pi = 0.25, sigma1 = std::exp(-1.0), sigma2 = std::exp(-7.0);
  // Weights on the narrow spike, on the wide component, and in between.
  const auto mean = torch::tensor({0.0, 0.002, 0.3, -0.8, 0.05, 0.0}, torch::kDouble);
  const auto log_sigma = torch::tensor(
      {-6.0, -7.0, std::log(0.05), std::log(0.2), std::log(0.01), std::log(0.5)}, torch::kDouble);
  const double entropy = (log_sigma + 0.5 * (1 + std::log(2 * M_PI))).sum().item<double>();
  const double reference =
      -entropy -
      expected_log_mixture_density(mean, log_sigma.exp(), pi, sigma1, sigma2).sum().item<double>();

  bayesnn::PriorModule prior(bayesnn::Prior::scale_mixture(pi, sigma1, sigma2),
                             std::vector<int64_t>{6});
  const bayesnn::VariationalTensor q(mean, log_sigma, prior);
  std::vector<double> estimates;
  for (int i = 0; i < 20000; ++i) estimates.push_back(q.kl().item<double>());
  const auto [estimate, se] =
      bayesnn_test::mean_and_standard_error(torch::tensor(estimates, torch::kDouble));
  INFO("quadrature " << reference << ", MC " << estimate << " +- " << se);
  CHECK(std::abs(estimate - reference) < 4 * se);
  CHECK(se < 0.01 * std::abs(reference));  // a test that can fail: the estimate is precise
}

TEST_CASE("Prior::scale_mixture: gradients of a seeded KL match finite differences", "[prior]") {
  auto mean = torch::tensor({0.0, 0.003, 0.4, -0.2}, torch::kDouble).requires_grad_();
  auto log_sigma = torch::tensor({-6.0, -5.0, -2.0, -3.0}, torch::kDouble).requires_grad_();
  bayesnn::PriorModule prior(bayesnn::Prior::scale_mixture(0.5, 1.0, std::exp(-6.0)),
                             std::vector<int64_t>{4});
  // The same noise at every evaluation: the KL is then a smooth function of the parameters.
  auto kl = [&] {
    torch::manual_seed(32);
    return bayesnn::VariationalTensor(mean, log_sigma, prior).kl();
  };
  kl().backward();
  bayesnn_test::check_gradients_by_central_differences(kl, {mean, log_sigma});
}

TEST_CASE("Prior::scale_mixture: holds nothing, names its settings, reports the mixture's sd",
          "[prior]") {
  const auto prior = bayesnn::Prior::scale_mixture(0.25, 1.0, 0.01);
  CHECK(bayesnn::to_string(prior) == "scale_mixture(pi=0.25, sigma1=1, sigma2=0.01)");
  bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(4, 3).prior(prior));
  CHECK(fc->weight_prior->parameters().empty());
  CHECK(fc->weight_prior->scale() == Approx(std::sqrt(0.25 + 0.75 * 1e-4)));
  CHECK(std::isfinite(fc->weight.kl().item<double>()));
}

// --- the per-unit hierarchical prior ------------------------------------------------------------

TEST_CASE("Prior::unit_hierarchical: one learned scale per output unit, by name", "[prior]") {
  const auto prior = bayesnn::Prior::unit_hierarchical(1.0, 0.2, 0.05);
  CHECK(bayesnn::to_string(prior) == "unit_hierarchical(tau=1)");
  SECTION("BayesLinear: a scale per row and per bias element") {
    bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(5, 3).prior(prior));
    auto named = fc->named_parameters();
    for (const char* name : {"weight_prior.log_scale_mean", "weight_prior.log_scale_log_sigma",
                             "bias_prior.log_scale_mean", "bias_prior.log_scale_log_sigma"}) {
      INFO(name);
      REQUIRE(named.contains(name));
      CHECK(named[name].sizes() == torch::IntArrayRef{3});
    }
    CHECK(torch::allclose(named["weight_prior.log_scale_mean"], torch::full({3}, std::log(0.2))));
    CHECK(torch::allclose(named["weight_prior.log_scale_log_sigma"],
                          torch::full({3}, std::log(0.05))));
    CHECK(fc->weight_prior->scale() == Approx(std::exp(std::log(0.2) + 0.5 * 0.05 * 0.05)));
  }
  SECTION("BayesConv2d: a scale per output channel") {
    bayesnn::BayesConv2d conv(bayesnn::BayesConv2dOptions(2, 4, 3).prior(prior));
    auto named = conv->named_parameters();
    REQUIRE(named.contains("weight_prior.log_scale_mean"));
    CHECK(named["weight_prior.log_scale_mean"].sizes() == torch::IntArrayRef{4});
    CHECK(named["bias_prior.log_scale_log_sigma"].sizes() == torch::IntArrayRef{4});
  }
  SECTION("its KL is kl_unit_hierarchical's") {
    bayesnn::BayesLinear fc(bayesnn::BayesLinearOptions(5, 3).prior(prior).log_sigma_init(-3));
    const auto expected = bayesnn::kl_unit_hierarchical(
        fc->weight_mean, fc->weight_log_sigma, fc->weight_prior->hyper("log_scale_mean"),
        fc->weight_prior->hyper("log_scale_log_sigma"), 1.0);
    CHECK(fc->weight.kl().item<double>() == Approx(expected.item<double>()).epsilon(1e-6));
  }
}

TEST_CASE("Prior::unit_hierarchical: unused units shrink their scale, used ones keep theirs",
          "[prior]") {
  // Two units whose weights spread 0.5 and two the data switched off (means 0, sigma 1e-3):
  // fitting the hyper-parameters alone, the first keep scales near 0.5, the others collapse.
  torch::manual_seed(33);
  bayesnn::PriorModule prior(bayesnn::Prior::unit_hierarchical(1.0, 0.1),
                             std::vector<int64_t>{4, 200});
  auto mean = torch::cat({torch::randn({2, 200}) * 0.5, torch::zeros({2, 200})});
  auto log_sigma = torch::full({4, 200}, std::log(1e-3));
  torch::optim::Adam optimizer(prior->parameters(), torch::optim::AdamOptions(0.05));
  for (int step = 0; step < 2000; ++step) {
    optimizer.zero_grad();
    prior->kl(mean, log_sigma).backward();
    optimizer.step();
  }
  const auto& family = dynamic_cast<const bayesnn::UnitHierarchicalPrior&>(prior->prior().family());
  const auto scales = family.unit_scales(*prior);
  INFO("E_q[s_j] " << scales);
  const auto rms = mean.square().mean(1).sqrt();
  CHECK(scales[0].item<double>() == Approx(rms[0].item<double>()).epsilon(0.05));
  CHECK(scales[1].item<double>() == Approx(rms[1].item<double>()).epsilon(0.05));
  CHECK(scales[2].item<double>() < 0.005);
  CHECK(scales[3].item<double>() < 0.005);
}
