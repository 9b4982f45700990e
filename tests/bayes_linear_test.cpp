#include "support/catch.h"

#include <cmath>
#include <filesystem>

#include <torch/torch.h>

#include "bayesnn/bayes_linear.h"
#include "support/moments.h"

using Catch::Contains;
namespace bnn = bayesnn;

TEST_CASE("BayesLinear: registers the documented parameters and prior modules", "[bayes_linear]") {
  bnn::BayesLinear fc(bnn::BayesLinearOptions(5, 3).prior(bnn::Prior::hierarchical(1.0)));
  auto named = fc->named_parameters();
  for (const char* name : {"weight_mean", "weight_log_sigma", "bias_mean", "bias_log_sigma",
                           "weight_prior.log_scale_mean", "weight_prior.log_scale_log_sigma",
                           "bias_prior.log_scale_mean", "bias_prior.log_scale_log_sigma"}) {
    INFO(name);
    CHECK(named.contains(name));
  }
  CHECK(fc->weight_mean.sizes() == torch::IntArrayRef({3, 5}));
  CHECK((fc->weight_log_sigma == -5.0).all().item<bool>());
  bnn::BayesLinear no_bias(bnn::BayesLinearOptions(5, 3).bias(false));
  CHECK(no_bias->parameters().size() == 2);
  CHECK_FALSE(no_bias->bias_mean.defined());
}

TEST_CASE("BayesLinear: Mean mode equals torch linear with the mean weights", "[bayes_linear]") {
  torch::manual_seed(10);
  for (auto estimator : {bnn::Estimator::kReparameterization,
                         bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
    bnn::BayesLinear fc(bnn::BayesLinearOptions(6, 4).estimator(estimator).log_sigma_init(-1));
    fc->set_mode(bnn::Mode::kMean);
    auto x = torch::randn({7, 6});
    auto expected = torch::nn::functional::linear(x, fc->weight_mean, fc->bias_mean);
    CHECK(torch::allclose(fc(x), expected));
    CHECK(torch::equal(fc(x), fc(x)));
  }
}

TEST_CASE("BayesLinear: Sample mode draws a fresh output on each forward", "[bayes_linear]") {
  torch::manual_seed(11);
  for (auto estimator : {bnn::Estimator::kReparameterization,
                         bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
    bnn::BayesLinear fc(bnn::BayesLinearOptions(6, 4).estimator(estimator));
    auto x = torch::randn({3, 6});
    CHECK_FALSE(torch::equal(fc(x), fc(x)));
  }
}

TEST_CASE("BayesLinear: Frozen mode holds one weight draw until the mode is set again",
          "[bayes_linear]") {
  torch::manual_seed(13);
  for (auto estimator : {bnn::Estimator::kReparameterization,
                         bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
    bnn::BayesLinear fc(bnn::BayesLinearOptions(6, 4).estimator(estimator).log_sigma_init(-1));
    auto x = torch::randn({3, 6});
    fc->set_mode(bnn::Mode::kFrozen);
    const auto first = fc(x);
    CHECK(torch::equal(first, fc(x)));
    CHECK(torch::allclose(first, torch::linear(x, fc->weight.held_draw(), fc->bias.held_draw())));
    CHECK_FALSE(first.requires_grad());
    // Each input row sees the same weights: the rows of a batch are one network's outputs.
    CHECK(torch::allclose(fc(x.narrow(0, 1, 1)), first.narrow(0, 1, 1)));
    fc->set_mode(bnn::Mode::kFrozen);
    CHECK_FALSE(torch::equal(first, fc(x)));
    fc->set_mode(bnn::Mode::kSample);
    CHECK_FALSE(fc->weight.held_draw().defined());
    CHECK(bnn::to_string(bnn::Mode::kFrozen) == "frozen");
  }
}

TEST_CASE("BayesLinear: output moments match the analytic pre-activation for every estimator",
          "[bayes_linear][statistical]") {
  torch::manual_seed(12);
  auto x = torch::randn({4, 5}, torch::kDouble);
  for (auto estimator : {bnn::Estimator::kReparameterization,
                         bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
    INFO("estimator " << bnn::to_string(estimator));
    bnn::BayesLinear fc(bnn::BayesLinearOptions(5, 3).estimator(estimator));
    fc->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      fc->weight_log_sigma.uniform_(-1.5, -0.5);
      fc->bias_log_sigma.uniform_(-1.5, -0.5);
    }
    // y = x Wᵀ + b: mean x·meanᵀ + b_mean, variance x²·(sigma²)ᵀ + sigma_b².
    auto mean = torch::linear(x, fc->weight_mean, fc->bias_mean).detach();
    auto variance =
        torch::linear(x.square(), (2 * fc->weight_log_sigma).exp(), (2 * fc->bias_log_sigma).exp())
            .detach();
    // 20000 draws per mode: the relative sd of a variance estimate is sqrt(2/20000) = 1%; 6% is
    // 6 sd.
    bayesnn_test::check_layer_moments(fc, x, mean, variance, 20000, 0.06);
  }
}

TEST_CASE("BayesLinear: local reparameterization and Flipout lower the gradient variance",
          "[bayes_linear][statistical]") {
  torch::manual_seed(13);
  auto x = torch::randn({64, 20});
  auto target = torch::randn({64, 10});
  auto gradient_variance = [&](bnn::Estimator estimator) {
    torch::manual_seed(14);
    bnn::BayesLinear fc(
        bnn::BayesLinearOptions(20, 10).estimator(estimator).log_sigma_init(std::log(0.5)));
    std::vector<torch::Tensor> grads;
    for (int draw = 0; draw < 400; ++draw) {
      fc->zero_grad();
      (fc(x) - target).square().mean().backward();
      grads.push_back(fc->weight_mean.grad().clone());
    }
    return torch::stack(grads).var(0).sum().item<double>();
  };
  const double reparam = gradient_variance(bnn::Estimator::kReparameterization);
  const double local = gradient_variance(bnn::Estimator::kLocalReparameterization);
  const double flipout = gradient_variance(bnn::Estimator::kFlipout);
  WARN("gradient variance of weight_mean, batch 64: reparam "
       << reparam << ", local " << local << " (ratio " << reparam / local << "), flipout "
       << flipout << " (ratio " << reparam / flipout << ")");
  // With 400 draws the variance estimates are within a few percent; the expected ratio is of
  // the order of the batch size, so a factor 2 leaves a wide margin.
  CHECK(local * 2 < reparam);
  CHECK(flipout * 2 < reparam);
}

TEST_CASE("BayesLinear: gradients reach the means, log-sigmas and hyper-parameters",
          "[bayes_linear]") {
  torch::manual_seed(15);
  bnn::BayesLinear fc(bnn::BayesLinearOptions(4, 3).prior(bnn::Prior::hierarchical(1.0)));
  (fc(torch::randn({2, 4})).sum() + fc->kl()).backward();
  for (const auto& parameter : fc->named_parameters()) {
    INFO(parameter.key());
    REQUIRE(parameter.value().grad().defined());
    CHECK(parameter.value().grad().abs().sum().item<double>() > 0);
  }
}

TEST_CASE("BayesLinear: works in Sequential, survives clone, to(double) and save/load",
          "[bayes_linear]") {
  torch::manual_seed(16);
  torch::nn::Sequential model(
      bnn::BayesLinear(bnn::BayesLinearOptions(4, 8).prior(bnn::Prior::hierarchical())),
      torch::nn::ReLU(), bnn::BayesLinear(bnn::BayesLinearOptions(8, 2)));
  bnn::set_mode(*model, bnn::Mode::kMean);
  auto x = torch::randn({3, 4});
  auto expected = model->forward(x);

  SECTION("clone copies parameters and mode, not storage") {
    auto copy = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(model->clone());
    CHECK(torch::equal(copy->forward(x), expected));
    torch::NoGradGuard no_grad;
    copy->parameters()[0].add_(1.0);
    CHECK(torch::equal(model->forward(x), expected));
  }
  SECTION("to(double) converts parameters and noise") {
    model->to(torch::kDouble);
    bnn::set_mode(*model, bnn::Mode::kSample);
    CHECK(model->forward(x.to(torch::kDouble)).dtype() == torch::kDouble);
    CHECK(bnn::kl_divergence(*model).dtype() == torch::kDouble);
  }
  SECTION("save and load round-trip") {
    auto path = std::filesystem::temp_directory_path() / "bayesnn_linear_roundtrip.pt";
    torch::save(model, path.string());
    torch::nn::Sequential loaded(
        bnn::BayesLinear(bnn::BayesLinearOptions(4, 8).prior(bnn::Prior::hierarchical())),
        torch::nn::ReLU(), bnn::BayesLinear(bnn::BayesLinearOptions(8, 2)));
    torch::load(loaded, path.string());
    bnn::set_mode(*loaded, bnn::Mode::kMean);
    CHECK(torch::equal(loaded->forward(x), expected));
    std::filesystem::remove(path);
  }
}

TEST_CASE("BayesLinear: bad options and inputs name the module and the value", "[bayes_linear]") {
  REQUIRE_THROWS_WITH(bnn::BayesLinear(0, 3),
                      Contains("BayesLinear: in_features must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesLinear(3, -2),
                      Contains("BayesLinear: out_features must be positive, got -2"));
  REQUIRE_THROWS_WITH(bnn::BayesLinear(bnn::BayesLinearOptions(3, 2).log_sigma_init(std::nan(""))),
                      Contains("BayesLinear: log_sigma_init must be finite, got nan"));
  bnn::BayesLinear fc(3, 2);
  REQUIRE_THROWS_WITH(fc(torch::randn({4, 5})),
                      Contains("BayesLinear: expected an input with 3 features in its last "
                               "dimension, got shape [4, 5]"));
  if (torch::cuda::is_available()) {
    REQUIRE_THROWS_WITH(fc(torch::randn({4, 3}, torch::kCUDA)),
                        Contains("BayesLinear: input is on cuda:0 but the parameters are on cpu"));
  } else {
    // A meta tensor stands in for another device where no GPU is present.
    REQUIRE_THROWS_WITH(fc(torch::empty({4, 3}, torch::Device("meta"))),
                        Contains("BayesLinear: input is on meta but the parameters are on cpu"));
  }
}

TEST_CASE("BayesLinear: samples and KL on CUDA follow the parameters' device",
          "[bayes_linear][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  torch::manual_seed(17);
  for (auto estimator : {bnn::Estimator::kReparameterization,
                         bnn::Estimator::kLocalReparameterization, bnn::Estimator::kFlipout}) {
    bnn::BayesLinear fc(
        bnn::BayesLinearOptions(5, 3).estimator(estimator).prior(bnn::Prior::hierarchical()));
    auto x = torch::randn({4, 5});
    fc->set_mode(bnn::Mode::kMean);
    auto cpu = fc(x);
    auto kl_cpu = fc->kl().item<double>();
    fc->to(torch::kCUDA);
    CHECK(torch::allclose(fc(x.cuda()).cpu(), cpu, 1e-5, 1e-6));
    CHECK(fc->kl().item<double>() == Approx(kl_cpu).epsilon(1e-5));
    fc->set_mode(bnn::Mode::kSample);
    auto y = fc(x.cuda());
    CHECK(y.is_cuda());
    CHECK_FALSE(torch::equal(y, fc(x.cuda())));
  }
}
