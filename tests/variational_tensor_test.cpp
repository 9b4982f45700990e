// VariationalTensor: one tensor's q(w), its prior, its held draw and this step's fused pass.
#include "support/catch.h"

#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "bayesnn/gaussian.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"

namespace {
// Whether the graph below `node` holds the node of a weight draw, perturbation or variance
// (GaussianTermNode, which also yields the KL's sums).
bool reaches_draw_node(const std::shared_ptr<torch::autograd::Node>& node, int depth = 0) {
  if (!node || depth > 8) return false;
  if (node->name().find("GaussianTermNode") != std::string::npos) return true;
  for (const auto& edge : node->next_edges()) {
    if (reaches_draw_node(edge.function, depth + 1)) return true;
  }
  return false;
}

// A variational tensor over two leaf tensors, with the fixed prior N(0, 0.1²).
struct Pair {
  torch::Tensor mean, log_sigma;
  bayesnn::VariationalTensor q() const {
    return bayesnn::VariationalTensor(mean, log_sigma,
                                      bayesnn::PriorModule(bayesnn::Prior::fixed(0.1)));
  }
};

Pair make_pair(torch::Dtype dtype) {
  torch::manual_seed(8);
  return {(torch::randn({300, 70}, dtype) * 0.1).requires_grad_(),
          (torch::randn({300, 70}, dtype) * 0.3 - 2).requires_grad_()};
}

Pair clone_pair(const Pair& p) {
  return {p.mean.detach().clone().requires_grad_(), p.log_sigma.detach().clone().requires_grad_()};
}

// The KL computed afresh, by the free function.
torch::Tensor kl_of(const Pair& p) {
  return bayesnn::kl_normal_zero_mean(p.mean, p.log_sigma, torch::full({}, std::log(0.1)));
}
}  // namespace

TEST_CASE(
    "VariationalTensor: a draw, a perturbation or a variance, then the KL: the KL reuses their "
    "pass, same values and gradients",
    "[variational_tensor]") {
  using Term = std::function<torch::Tensor(const bayesnn::VariationalTensor&)>;
  const std::pair<const char*, Term> terms[] = {
      {"draw", [](const bayesnn::VariationalTensor& q) { return q.draw(); }},
      {"perturbation", [](const bayesnn::VariationalTensor& q) { return q.perturbation(); }},
      {"variance", [](const bayesnn::VariationalTensor& q) { return q.variance(); }}};
  for (const auto& [name, term] : terms) {
    for (const auto dtype : {torch::kFloat, torch::kDouble}) {
      INFO(name << " in " << dtype);
      const auto reused = make_pair(dtype), separate = clone_pair(reused);
      const auto weights = torch::randn({300, 70}, dtype);
      // The reference computes the KL first, so it has no term to reuse.
      auto kl_separate = separate.q().kl().to(dtype);
      torch::manual_seed(9);
      auto term_separate = term(separate.q());
      torch::manual_seed(9);
      const auto q = reused.q();
      auto term_reused = term(q);
      auto kl_reused = q.kl().to(dtype);
      CHECK(reaches_draw_node(kl_reused.grad_fn()));
      CHECK_FALSE(reaches_draw_node(kl_separate.grad_fn()));
      REQUIRE(torch::equal(term_separate, term_reused));
      CHECK(kl_reused.item<double>() == Approx(kl_separate.item<double>()).epsilon(1e-6));
      ((term_reused * weights).sum() + kl_reused).backward();
      ((term_separate * weights).sum() + kl_separate).backward();
      const double tolerance = dtype == torch::kFloat ? 1e-5 : 1e-12;
      CHECK(torch::allclose(reused.mean.grad(), separate.mean.grad(), tolerance, tolerance));
      CHECK(torch::allclose(reused.log_sigma.grad(), separate.log_sigma.grad(), tolerance,
                            tolerance));
    }
  }
}

TEST_CASE(
    "VariationalTensor: a draw then the KL: not reused once the draw's backward ran or the "
    "parameters changed",
    "[variational_tensor]") {
  SECTION("the draw's backward ran first: the KL is computed afresh and backpropagates") {
    const auto p = make_pair(torch::kFloat), reference = clone_pair(p);
    const auto q = p.q();
    q.draw().sum().backward();
    const auto draw_grad = p.log_sigma.grad().clone();
    auto kl = q.kl();
    CHECK_FALSE(reaches_draw_node(kl.grad_fn()));
    REQUIRE_NOTHROW(kl.backward());
    kl_of(reference).backward();
    CHECK(torch::allclose(p.log_sigma.grad() - draw_grad, reference.log_sigma.grad(), 1e-5, 1e-5));
  }
  SECTION("a parameter changed in place: the KL is the new parameters'") {
    const auto p = make_pair(torch::kFloat);
    const auto q = p.q();
    auto draw = q.draw();
    {
      torch::NoGradGuard no_grad;
      p.mean.add_(1.0);
    }
    auto kl = q.kl();
    CHECK_FALSE(reaches_draw_node(kl.grad_fn()));
    CHECK(kl.item<double>() == Approx(kl_of(clone_pair(p)).item<double>()).epsilon(1e-6));
  }
  SECTION("a tensor that took no draw this step: nothing is reused") {
    const auto p = make_pair(torch::kFloat);
    bayesnn::sample_normal(p.mean, p.log_sigma);
    CHECK_FALSE(reaches_draw_node(p.q().kl().grad_fn()));
  }
  SECTION("the mode changed after the draw: nothing is reused") {
    const auto p = make_pair(torch::kFloat);
    const auto q = p.q();
    auto draw = q.draw();
    q.set_mode(bayesnn::Mode::kMean);
    CHECK_FALSE(reaches_draw_node(q.kl().grad_fn()));
  }
  SECTION("a KL used twice counts twice") {
    const auto p = make_pair(torch::kFloat), reference = clone_pair(p);
    const auto q = p.q();
    auto draw = q.draw();
    (q.kl() + q.kl()).backward();
    (2 * kl_of(reference)).backward();
    CHECK(torch::allclose(p.mean.grad(), reference.mean.grad(), 1e-5, 1e-5));
    CHECK(torch::allclose(p.log_sigma.grad(), reference.log_sigma.grad(), 1e-5, 1e-5));
  }
}
namespace {
// variational_tensor.h's example: a module with one variational tensor of its own.
struct ScaleImpl : torch::nn::Cloneable<ScaleImpl> {
  ScaleImpl() { reset(); }
  void reset() override {
    scale = bayesnn::VariationalTensor(*this, "scale", {1}, bayesnn::Prior::fixed(1.0));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x * scale.draw(); }
  bayesnn::VariationalTensor scale;
};
TORCH_MODULE(Scale);
}  // namespace

TEST_CASE("VariationalTensor: registers mean, log_sigma and prior under the owner's names",
          "[variational_tensor]") {
  Scale module;
  const auto names = module->named_parameters().keys();
  CHECK(names == std::vector<std::string>{"scale_mean", "scale_log_sigma"});
  REQUIRE(module->named_children().contains("scale_prior"));
  // The handle's tensors are the registered ones, also after a move to another dtype.
  module->to(torch::kDouble);
  CHECK(module->scale.mean().scalar_type() == torch::kDouble);
  CHECK(module->scale.mean().is_same(module->named_parameters()["scale_mean"]));
  // A clone has tensors of its own.
  auto copy = std::dynamic_pointer_cast<ScaleImpl>(module->clone());
  REQUIRE(copy != nullptr);
  CHECK_FALSE(copy->scale.mean().is_same(module->scale.mean()));
  CHECK(copy->scale.mean().is_same(copy->named_parameters()["scale_mean"]));
}

TEST_CASE("VariationalTensor: the current draw is this step's own draw while it is valid",
          "[variational_tensor]") {
  torch::manual_seed(21);
  const auto p = make_pair(torch::kFloat);
  const auto q = p.q();
  auto draw = q.draw();
  CHECK(q.current_draw().is_same(draw));
  q.variance();  // another term replaces the step: a fresh draw
  auto fresh = q.current_draw();
  CHECK_FALSE(fresh.is_same(draw));
  CHECK_FALSE(torch::equal(fresh, draw));
}

TEST_CASE("VariationalTensor: the held draw of Mode::kFrozen", "[variational_tensor]") {
  torch::manual_seed(22);
  const auto p = make_pair(torch::kFloat);
  const auto q = p.q();
  q.set_mode(bayesnn::Mode::kFrozen);
  REQUIRE(q.held_draw().defined());
  CHECK_FALSE(q.held_draw().requires_grad());
  CHECK(q.value(bayesnn::Mode::kFrozen).is_same(q.held_draw()));
  CHECK(q.value(bayesnn::Mode::kMean).is_same(p.mean));
  q.set_mode(bayesnn::Mode::kSample);
  CHECK_FALSE(q.held_draw().defined());
  CHECK_FALSE(bayesnn::VariationalTensor().value(bayesnn::Mode::kMean).defined());
}

TEST_CASE("VariationalTensor: bad arguments are named", "[variational_tensor]") {
  REQUIRE_THROWS_WITH(
      bayesnn::VariationalTensor(torch::zeros({2, 3}), torch::zeros({3})),
      Catch::Contains("mean and log_sigma must be defined and of one shape, got [2, 3] and [3]"));
  REQUIRE_THROWS_WITH(bayesnn::VariationalTensor(torch::zeros({2}), torch::zeros({2})).kl(),
                      Catch::Contains("VariationalTensor::kl: this tensor has no prior"));
}
