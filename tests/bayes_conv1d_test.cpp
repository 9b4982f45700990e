#include "support/catch.h"

#include <sstream>

#include <torch/torch.h>

#include "bayesnn/bayes_conv1d.h"
#include "support/moments.h"

using Catch::Contains;
namespace bnn = bayesnn;
namespace F = torch::nn::functional;

namespace {
const bnn::Estimator kEstimators[] = {bnn::Estimator::kReparameterization,
                                      bnn::Estimator::kLocalReparameterization,
                                      bnn::Estimator::kFlipout};
}

TEST_CASE("BayesConv1d: Mean mode equals torch conv1d with the mean kernel", "[bayes_conv1d]") {
  torch::manual_seed(60);
  auto options = bnn::BayesConv1dOptions(4, 6, 3).stride(2).padding(1).dilation(2).groups(2);
  for (auto estimator : kEstimators) {
    bnn::BayesConv1d conv(options.estimator(estimator));
    CHECK(conv->weight_mean.sizes() == torch::IntArrayRef({6, 2, 3}));
    conv->set_mode(bnn::Mode::kMean);
    auto x = torch::randn({2, 4, 17});
    auto expected = F::conv1d(
        x, conv->weight_mean,
        F::Conv1dFuncOptions().bias(conv->bias_mean).stride(2).padding(1).dilation(2).groups(2));
    CHECK(torch::allclose(conv(x), expected, 1e-5, 1e-6));
    CHECK(conv(x[0]).sizes() == expected[0].sizes());
  }
  bnn::BayesConv1d plain(bnn::BayesConv1dOptions(2, 3, 5).bias(false));
  CHECK(!plain->bias.defined());
  bnn::BayesConv1d flipout(options.estimator(bnn::Estimator::kFlipout).bias(false));
  std::ostringstream printed;
  flipout->pretty_print(printed);
  CHECK(printed.str() ==
        "bayesnn::BayesConv1d(4, 6, kernel_size=3, stride=2, padding=1, "
        "dilation=2, groups=2, bias=false, prior=fixed(0.1), estimator=flipout)");
}

TEST_CASE("BayesConv1d: Sample mode draws a fresh output on each forward", "[bayes_conv1d]") {
  torch::manual_seed(61);
  for (auto estimator : kEstimators) {
    bnn::BayesConv1d conv(bnn::BayesConv1dOptions(1, 3, 3).estimator(estimator));
    auto x = torch::rand({2, 1, 10});
    CHECK_FALSE(torch::equal(conv(x), conv(x)));
    conv->set_mode(bnn::Mode::kFrozen);
    const auto held = conv(x);
    CHECK(torch::equal(held, conv(x)));
    conv->set_mode(bnn::Mode::kFrozen);
    CHECK_FALSE(torch::equal(held, conv(x)));
  }
}

TEST_CASE(
    "BayesConv1d: output moments match the analytic pre-activation for "
    "every estimator",
    "[bayes_conv1d][statistical]") {
  torch::manual_seed(62);
  auto x = torch::randn({2, 2, 6}, torch::kDouble);
  for (auto estimator : kEstimators) {
    INFO("estimator " << bnn::to_string(estimator));
    bnn::BayesConv1d conv(bnn::BayesConv1dOptions(2, 3, 3).padding(1).estimator(estimator));
    conv->to(torch::kDouble);
    {
      torch::NoGradGuard no_grad;
      conv->weight_log_sigma.uniform_(-1.5, -0.5);
      conv->bias_log_sigma.uniform_(-1.5, -0.5);
    }
    auto conv_options = [](const torch::Tensor& bias) {
      return F::Conv1dFuncOptions().bias(bias).padding(1);
    };
    auto mean = F::conv1d(x, conv->weight_mean, conv_options(conv->bias_mean)).detach();
    auto variance = F::conv1d(x.square(), (2 * conv->weight_log_sigma).exp(),
                              conv_options((2 * conv->bias_log_sigma).exp()))
                        .detach();
    bayesnn_test::check_layer_moments(conv, x, mean, variance, 20000, 0.06);
  }
}

TEST_CASE("BayesConv1d: bad options and inputs name the module and the value", "[bayes_conv1d]") {
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(0, 3, 3),
                      Contains("BayesConv1d: in_channels must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(1, 0, 3),
                      Contains("BayesConv1d: out_channels must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(1, 2, 0),
                      Contains("BayesConv1d: kernel_size must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(1, 2, 3).stride(0)),
                      Contains("BayesConv1d: stride must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(1, 2, 3).padding(-1)),
                      Contains("BayesConv1d: padding must be non-negative, got -1"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(1, 2, 3).dilation(0)),
                      Contains("BayesConv1d: dilation must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(3, 4, 3).groups(2)),
                      Contains("BayesConv1d: in_channels (3) and out_channels (4) must be "
                               "divisible by groups (2)"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(3, 4, 3).groups(0)),
                      Contains("BayesConv1d: groups must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::BayesConv1d(bnn::BayesConv1dOptions(1, 2, 3).log_sigma_init(INFINITY)),
                      Contains("BayesConv1d: log_sigma_init must be finite, got inf"));
  bnn::BayesConv1d conv(1, 2, 3);
  REQUIRE_THROWS_WITH(conv(torch::rand({2, 3, 8})),
                      Contains("BayesConv1d: expected an input [N, 1, L] or [1, L], got shape "
                               "[2, 3, 8]"));
  REQUIRE_THROWS_WITH(conv(torch::empty({2, 1, 8}, torch::Device("meta"))),
                      Contains("BayesConv1d: input is on meta but the parameters are on cpu"));
}

TEST_CASE("BayesConv1d: samples and KL on CUDA follow the parameters' device",
          "[bayes_conv1d][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  torch::manual_seed(65);
  for (auto estimator : kEstimators) {
    bnn::BayesConv1d conv(
        bnn::BayesConv1dOptions(2, 3, 3).estimator(estimator).prior(bnn::Prior::hierarchical()));
    auto x = torch::randn({2, 2, 12});
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
