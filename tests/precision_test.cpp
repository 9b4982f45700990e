// Precision reduction: the bits the posterior variance allows, the weights rounded to them, and
// the reduced-precision export, read back in C++ and Python, equal to the rounded network.
#include "support/catch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/script.h>
#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/bayes_module.h"
#include "bayesnn/compress.h"
#include "bayesnn/export.h"
#include "bayesnn/precision.h"
#include "support/python.h"
#include "support/temp_dir.h"

namespace bnn = bayesnn;
using Catch::Contains;

namespace {

torch::Tensor posterior_mean(torch::nn::Sequential& net, const torch::Tensor& x) {
  bnn::set_mode(*net, bnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  return net->forward(x);
}

// A layer with every posterior variance `variance` and means `scale` · N(0, 1).
bnn::BayesLinear layer_with(int64_t in, int64_t out, double variance, double scale,
                            const bnn::Prior& prior = bnn::Prior::fixed(1.0)) {
  bnn::BayesLinear layer(bnn::BayesLinearOptions(in, out).prior(prior));
  torch::NoGradGuard no_grad;
  layer->weight_log_sigma.fill_(0.5 * std::log(variance));
  layer->weight_mean.normal_(0, scale);
  return layer;
}

}  // namespace

TEST_CASE("reduce_precision: the bits the posterior variance allows, the means rounded to them",
          "[precision]") {
  // s = ⌈mean #{t ≤ 23 : 2 Var < 2^-t}⌉: Var 1e-2 → 5 bits, 1e-4 → 12; e from the largest
  // weight (here under 1.9: ⌈log2(log2(1.9) + 1) + 1⌉ = 2).
  torch::manual_seed(31);
  torch::nn::Sequential net(layer_with(8, 6, 1e-2, 0.3), torch::nn::ReLU(),
                            layer_with(6, 3, 1e-4, 0.3));
  {
    torch::NoGradGuard no_grad;
    net[0]->as<bnn::BayesLinearImpl>()->weight_mean[0][0] = 1.9;
  }
  const auto before0 = net[0]->as<bnn::BayesLinearImpl>()->weight_mean.clone();
  const auto before2 = net[2]->as<bnn::BayesLinearImpl>()->weight_mean.clone();
  const auto reduced = bnn::reduce_precision(net, /*reference_weights=*/1000);
  REQUIRE(reduced.layers.size() == 2);
  CHECK(reduced.layers[0].significand_bits == 5);
  CHECK(reduced.layers[1].significand_bits == 12);
  CHECK(reduced.layers[0].exponent_bits == 2);
  CHECK(reduced.layers[1].exponent_bits == 2);
  CHECK(reduced.layers[0].bits() == 8);
  CHECK(reduced.ratio() == Approx(32.0 * 1000 / (48 * 8 + 18 * 15)));
  // Rounded to the nearest multiple of 2^-s.
  CHECK(torch::equal(net[0]->as<bnn::BayesLinearImpl>()->weight_mean,
                     (before0 * 32 + 0.5).floor() / 32));
  CHECK(torch::equal(net[2]->as<bnn::BayesLinearImpl>()->weight_mean,
                     (before2 * 4096 + 0.5).floor() / 4096));
  // Storage: layer 0's 1.9 / 2^-5 = 61 steps fit int8; layer 1's 0.9 / 2^-12 do not, float16.
  CHECK(reduced.layers[0].storage.dtype == torch::kChar);
  CHECK(reduced.layers[0].storage.scale == 1.0 / 32);
  CHECK(reduced.layers[1].storage.dtype == torch::kHalf);

  REQUIRE_THROWS_WITH(bnn::reduce_precision(torch::nn::Sequential(torch::nn::Linear(2, 2))),
                      Contains("the model has no Bayesian layer with a weight"));
}

TEST_CASE("reduce_precision: a product tensor's variance and its rounded posterior mean",
          "[precision]") {
  // Var[z v] = E[z²] σ² + Var[z] μ²; the posterior mean E[z] ∘ μ lands on the grid.
  torch::manual_seed(32);
  torch::nn::Sequential net(
      layer_with(5, 4, 1e-3, 0.5, bnn::Prior::group_normal_jeffreys(std::log(0.3))));
  const auto& weight = net[0]->as<bnn::BayesLinearImpl>()->weight;
  const auto scales = weight.group_scales();
  const auto mu = weight.mean().to(torch::kDouble);
  const auto variance = bnn::posterior_variance(weight).to(torch::kDouble);
  const auto expected = (1 + 0.09) * 1e-3 + 0.09 * mu.square();  // E[z] = 1, Var[z] = 0.09
  CHECK(torch::allclose(variance, expected, 1e-4, 1e-7));
  const auto reduced = bnn::reduce_precision(net);
  const double step = std::ldexp(1.0, -static_cast<int>(reduced.layers[0].significand_bits));
  const auto value = weight.value(bnn::Mode::kMean).to(torch::kDouble);
  CHECK(torch::allclose(value / step, (value / step).round(), 0, 1e-4));
  CHECK(reduced.reference_weights == 20);
}

TEST_CASE(
    "reduce_precision: the export stores int8 and float16 weights, and C++ and Python read the "
    "rounded network",
    "[precision]") {
  torch::manual_seed(33);
  const auto prior = bnn::Prior::group_horseshoe(1.0, -3.0);
  torch::nn::Sequential net(
      bnn::BayesConv2d(bnn::BayesConv2dOptions(1, 4, 3).prior(prior).log_sigma_init(-3)),
      torch::nn::ReLU(), torch::nn::MaxPool2d(2), torch::nn::Flatten(),
      bnn::BayesLinear(bnn::BayesLinearOptions(36, 5).prior(prior).log_sigma_init(-8)),
      torch::nn::ReLU(),
      bnn::BayesLinear(bnn::BayesLinearOptions(5, 3).prior(prior).log_sigma_init(-3)));
  auto small = bnn::compress(net);
  const auto reduced = bnn::reduce_precision(small.network, small.report.weights());
  auto storage = reduced.storage();
  storage["fc_forced_half"] = {torch::kHalf, 1.0};  // a name no layer has: ignored
  bayesnn::test::TempDir dir;
  bnn::export_posterior_mean(small.network, dir.file("reduced.pt"), {}, storage);
  const auto x = torch::rand({4, 1, 8, 8});
  const auto expected = posterior_mean(small.network, x);
  auto module = torch::jit::load(dir.file("reduced.pt"));
  CHECK(torch::allclose(module.forward({x}).toTensor(), expected, 1e-5, 1e-6));
  // The file holds the weights at their storage.
  bool has_int8 = false;
  for (const auto& buffer : module.named_buffers()) {
    if (buffer.value.scalar_type() == torch::kChar) has_int8 = true;
  }
  CHECK(has_int8 == (reduced.layers[0].storage.dtype == torch::kChar ||
                     reduced.layers[1].storage.dtype == torch::kChar ||
                     reduced.layers[2].storage.dtype == torch::kChar));
  // An int8 store whose weights need more steps than int8 holds is refused.
  REQUIRE_THROWS_WITH(bnn::export_posterior_mean(small.network, dir.file("bad.pt"), {},
                                                 {{"0", {torch::kChar, 1e-6}}}),
                      Contains("more than int8 holds (127)"));

  if (!bayesnn::test::python_has_torch()) {
    REQUIRE_FALSE(bayesnn::test::in_ci());  // CI installs python3-torch: its absence fails
    WARN(bayesnn::test::kPython << " cannot import torch: the Python side is not checked");
    return;
  }
  torch::jit::Module references("References");
  references.register_buffer("input", x);
  references.register_buffer("output", expected);
  references.save(dir.file("references.pt"));
  const std::string script =
      "import torch, sys\n"
      "refs = torch.jit.load(sys.argv[1] + '/references.pt')\n"
      "out = torch.jit.load(sys.argv[1] + '/reduced.pt')(refs.input)\n"
      "assert torch.allclose(out, refs.output, rtol=1e-5, atol=1e-6), (out, refs.output)\n"
      "print('python: OK')\n";
  {
    std::FILE* file = std::fopen(dir.file("check.py").c_str(), "w");
    REQUIRE(file != nullptr);
    std::fputs(script.c_str(), file);
    std::fclose(file);
  }
  const std::string command =
      std::string(bayesnn::test::kPython) + " " + dir.file("check.py") + " " + dir.path() + " 2>&1";
  const auto [status, output] = bayesnn::test::run_command(command);
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("python: OK") != std::string::npos);
}
