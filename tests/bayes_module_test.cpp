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

namespace {
// bayes_module.h's example: a module with a registered variational tensor gets kl() and
// set_mode() from BayesModule.
struct MyBayesScaleImpl : torch::nn::Cloneable<MyBayesScaleImpl>, bayesnn::BayesModule {
  MyBayesScaleImpl() { reset(); }
  void reset() override {
    scale = register_variational("scale", {1}, bayesnn::Prior::fixed(1.0));
    torch::NoGradGuard no_grad;
    scale.mean().fill_(1.0);
    scale.log_sigma().fill_(-3.0);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return x * (mode() == bayesnn::Mode::kSample ? scale.draw() : scale.value(mode()));
  }
  bayesnn::VariationalTensor scale;
};
TORCH_MODULE(MyBayesScale);

// A BayesModule that is not a torch module cannot register tensors.
struct Detached : bnn::BayesModule {
  void add() { register_variational("w", {2}, bnn::Prior::fixed(1.0)); }
};
}  // namespace

TEST_CASE("BayesModule: registered variational tensors give kl() and set_mode()",
          "[bayes_module]") {
  torch::manual_seed(31);
  MyBayesScale module;
  REQUIRE(module->variational_tensors().size() == 1);
  CHECK(module->variational_tensors()[0].first == "scale");
  const double expected =
      bnn::kl_normal_zero_mean(module->scale.mean(), module->scale.log_sigma(), torch::zeros({}))
          .item<double>();
  CHECK(module->kl().item<double>() == Approx(expected));
  bnn::set_mode(*module, bnn::Mode::kFrozen);
  const auto x = torch::ones({3});
  CHECK(torch::equal(module->forward(x), module->forward(x)));
  bnn::set_mode(*module, bnn::Mode::kMean);
  CHECK(torch::equal(module->forward(x), x));
  // A clone registers the same names again: one tensor, its own.
  auto copy = std::dynamic_pointer_cast<MyBayesScaleImpl>(module->clone());
  REQUIRE(copy != nullptr);
  REQUIRE(copy->variational_tensors().size() == 1);
  CHECK(copy->variational_tensors()[0].second.mean().is_same(copy->scale.mean()));
  CHECK_FALSE(copy->scale.mean().is_same(module->scale.mean()));
  REQUIRE_THROWS_WITH(Detached().add(),
                      Catch::Contains("the BayesModule must also be a torch::nn::Module"));
}
