#include "support/catch.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayes_linear.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"

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
}
