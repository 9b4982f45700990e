#include "support/catch.h"

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"

namespace bnn = bayesnn;

namespace {
// A user module that nests Bayesian layers inside a Sequential inside a plain module.
struct Nested : torch::nn::Module {
  Nested() {
    body =
        register_module("body", torch::nn::Sequential(bnn::BayesLinear(3, 4), torch::nn::ReLU()));
    tail = register_module("tail",
                           torch::nn::ModuleList(torch::nn::Sequential(bnn::BayesLinear(4, 2))));
    head = register_module("head", bnn::BayesConv2d(1, 1, 1));
  }
  torch::nn::Sequential body{nullptr};
  torch::nn::ModuleList tail{nullptr};
  bnn::BayesConv2d head{nullptr};
};
}  // namespace

TEST_CASE("kl_divergence and set_mode reach layers nested in user modules and Sequentials",
          "[bayes_module]") {
  torch::manual_seed(30);
  Nested model;  // on the stack: not owned by a shared_ptr
  CHECK(bnn::count_bayes_modules(model) == 3);
  auto first = model.body[0]->as<bnn::BayesLinearImpl>();
  auto inner =
      model.tail->ptr(0)->as<torch::nn::SequentialImpl>()->ptr(0)->as<bnn::BayesLinearImpl>();
  const double expected = (first->kl() + inner->kl() + model.head->kl()).item<double>();
  CHECK(bnn::kl_divergence(model).item<double>() == Approx(expected));

  bnn::set_mode(model, bnn::Mode::kMean);
  CHECK(first->mode() == bnn::Mode::kMean);
  CHECK(inner->mode() == bnn::Mode::kMean);
  CHECK(model.head->mode() == bnn::Mode::kMean);
  bnn::set_mode(*model.tail, bnn::Mode::kSample);
  CHECK(inner->mode() == bnn::Mode::kSample);
  CHECK(first->mode() == bnn::Mode::kMean);
  CHECK(model.head->mode() == bnn::Mode::kMean);
}

TEST_CASE("kl_divergence: a module without Bayesian layers has zero KL on its device",
          "[bayes_module]") {
  torch::nn::Linear plain(3, 2);
  plain->to(torch::kDouble);
  auto kl = bnn::kl_divergence(*plain);
  CHECK(kl.item<double>() == 0.0);
  CHECK(kl.dtype() == torch::kDouble);
}

TEST_CASE("A layer on its own is found by kl_divergence and set_mode", "[bayes_module]") {
  bnn::BayesLinear fc(2, 2);
  CHECK(bnn::kl_divergence(*fc).item<double>() == Approx(fc->kl().item<double>()));
  bnn::set_mode(*fc, bnn::Mode::kMean);
  CHECK(fc->mode() == bnn::Mode::kMean);
}
