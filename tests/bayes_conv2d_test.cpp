#include "support/catch.h"

#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "support/moments.h"

using Catch::Contains;
namespace bnn = bayesnn;
namespace F = torch::nn::functional;

namespace {
const bnn::Estimator kEstimators[] = {bnn::Estimator::kReparameterization,
                                      bnn::Estimator::kLocalReparameterization,
                                      bnn::Estimator::kFlipout};
}

TEST_CASE("BayesConv2d: Mean mode equals torch conv2d with the mean kernel", "[bayes_conv2d]") {
  torch::manual_seed(20);
  auto options =
      bnn::BayesConv2dOptions(4, 6, {3, 2}).stride(2).padding(1).dilation({1, 2}).groups(2);
  for (auto estimator : kEstimators) {
    bnn::BayesConv2d conv(options.estimator(estimator));
    CHECK(conv->weight_mean.sizes() == torch::IntArrayRef({6, 2, 3, 2}));
    conv->set_mode(bnn::Mode::kMean);
    auto x = torch::randn({2, 4, 9, 9});
    auto expected = F::conv2d(x, conv->weight_mean,
                              F::Conv2dFuncOptions()
                                  .bias(conv->bias_mean)
                                  .stride(2)
                                  .padding(1)
                                  .dilation({1, 2})
                                  .groups(2));
    CHECK(torch::allclose(conv(x), expected, 1e-5, 1e-6));
    CHECK(conv(x[0]).sizes() == expected[0].sizes());
  }
}

TEST_CASE("BayesConv2d: Sample mode draws a fresh output on each forward", "[bayes_conv2d]") {
  torch::manual_seed(21);
  for (auto estimator : kEstimators) {
    bnn::BayesConv2d conv(bnn::BayesConv2dOptions(1, 3, 3).estimator(estimator));
    auto x = torch::rand({2, 1, 6, 6});
    CHECK_FALSE(torch::equal(conv(x), conv(x)));
    conv->set_mode(bnn::Mode::kFrozen);
    const auto held = conv(x);
    CHECK(torch::equal(held, conv(x)));
    conv->set_mode(bnn::Mode::kFrozen);
    CHECK_FALSE(torch::equal(held, conv(x)));
  }
}

TEST_CASE("BayesConv2d: output moments match the analytic pre-activation for every estimator",
          "[bayes_conv2d][statistical]") {
  torch::manual_seed(22);
  auto x = torch::randn({2, 2, 4, 4}, torch::kDouble);
  for (auto estimator : kEstimators) {
    INFO("estimator " << bnn::to_string(estimator));
    bnn::BayesConv2d conv(bnn::BayesConv2dOptions(2, 3, 3).padding(1).estimator(estimator));
    conv->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      conv->weight_log_sigma.uniform_(-1.5, -0.5);
      conv->bias_log_sigma.uniform_(-1.5, -0.5);
    }
    auto conv_options = [](const torch::Tensor& bias) {
      return F::Conv2dFuncOptions().bias(bias).padding(1);
    };
    auto mean = F::conv2d(x, conv->weight_mean, conv_options(conv->bias_mean)).detach();
    auto variance = F::conv2d(x.square(), (2 * conv->weight_log_sigma).exp(),
                              conv_options((2 * conv->bias_log_sigma).exp()))
                        .detach();
    bayesnn_test::check_layer_moments(conv, x, mean, variance, 20000, 0.06);
  }
}

TEST_CASE("BayesConv2d: local reparameterization and Flipout lower the gradient variance",
          "[bayes_conv2d][statistical]") {
  torch::manual_seed(23);
  auto x = torch::randn({32, 2, 6, 6});
  auto gradient_variance = [&](bnn::Estimator estimator) {
    torch::manual_seed(24);
    bnn::BayesConv2d conv(bnn::BayesConv2dOptions(2, 4, 3).estimator(estimator).log_sigma_init(-1));
    std::vector<torch::Tensor> grads;
    for (int draw = 0; draw < 300; ++draw) {
      conv->zero_grad();
      conv(x).square().mean().backward();
      grads.push_back(conv->weight_mean.grad().clone());
    }
    return torch::stack(grads).var(0).sum().item<double>();
  };
  const double reparam = gradient_variance(bnn::Estimator::kReparameterization);
  const double local = gradient_variance(bnn::Estimator::kLocalReparameterization);
  const double flipout = gradient_variance(bnn::Estimator::kFlipout);
  WARN("conv gradient variance of weight_mean, batch 32: reparam/local "
       << reparam / local << ", reparam/flipout " << reparam / flipout);
  CHECK(local * 2 < reparam);
  CHECK(flipout * 2 < reparam);
}

TEST_CASE("BayesConv2d: bad options and inputs name the module and the value", "[bayes_conv2d]") {
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(0, 3, 3),
                      Contains("BayesConv2d: in_channels must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(1, 0, 3),
                      Contains("BayesConv2d: out_channels must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(1, 2, 0),
                      Contains("BayesConv2d: kernel_size must be positive, got [0, 0]"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).stride({1, 0})),
                      Contains("BayesConv2d: stride must be positive, got [1, 0]"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).padding(-1)),
                      Contains("BayesConv2d: padding must be non-negative, got [-1, -1]"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).dilation(0)),
                      Contains("BayesConv2d: dilation must be positive, got [0, 0]"));
  REQUIRE_THROWS_WITH(
      bnn::BayesConv2d(bnn::BayesConv2dOptions(3, 4, 3).groups(2)),
      Contains("in_channels (3) and out_channels (4) must be divisible by groups (2)"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(bnn::BayesConv2dOptions(3, 4, 3).groups(0)),
                      Contains("BayesConv2d: groups must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 2, 3).log_sigma_init(INFINITY)),
                      Contains("BayesConv2d: log_sigma_init must be finite, got inf"));
  bnn::BayesConv2d conv(1, 2, 3);
  REQUIRE_THROWS_WITH(
      conv(torch::rand({2, 3, 8, 8})),
      Contains("BayesConv2d: expected an input [N, 1, H, W] or [1, H, W], got shape [2, 3, 8, 8]"));
  REQUIRE_THROWS_WITH(conv(torch::empty({2, 1, 8, 8}, torch::Device("meta"))),
                      Contains("BayesConv2d: input is on meta but the parameters are on cpu"));
}

TEST_CASE("BayesConv2d: samples and KL on CUDA follow the parameters' device",
          "[bayes_conv2d][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  torch::manual_seed(25);
  for (auto estimator : kEstimators) {
    bnn::BayesConv2d conv(
        bnn::BayesConv2dOptions(2, 3, 3).estimator(estimator).prior(bnn::Prior::hierarchical()));
    auto x = torch::randn({2, 2, 6, 6});
    conv->set_mode(bnn::Mode::kMean);
    auto cpu = conv(x);
    conv->to(torch::kCUDA);
    CHECK(torch::allclose(conv(x.cuda()).cpu(), cpu, 1e-4, 1e-5));
    conv->set_mode(bnn::Mode::kSample);
    auto y = conv(x.cuda());
    CHECK(y.is_cuda());
    CHECK(conv->kl().is_cuda());
    CHECK_FALSE(torch::equal(y, conv(x.cuda())));
  }
}
