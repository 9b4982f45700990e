// The extension point, worked through: a user-written Bayesian layer that lives outside the
// library, here a 1-D convolution, trains alongside the built-in layers. Nothing in bayesnn
// knows about it; it derives from bayesnn::BayesLayer, so it gets the three estimators, every
// prior, the KL, the held draw and (with its one-line hooks) export and compression.
#include "support/catch.h"

#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "bayesnn/bayesnn.h"
#include "support/temp_dir.h"

namespace bnn = bayesnn;

// --- The user's layer ----------------------------------------------------------------------
struct UserConv1dImpl : bnn::BayesLayer<UserConv1dImpl> {
  UserConv1dImpl(int64_t in, int64_t out, int64_t kernel, bnn::Estimator estimator,
                 bnn::Prior prior = bnn::Prior::hierarchical())
      : in_(in), out_(out), kernel_(kernel), estimator_(estimator), prior_(std::move(prior)) {
    reset();
  }
  void reset() override {
    // One group scale per output filter, as the built-in convolutions.
    register_weight_and_bias({out_, in_, kernel_}, /*has_bias=*/true, prior_, /*unit_dim=*/0);
    reset_weight_and_bias(/*log_sigma_init=*/-5.0);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    static const bnn::LinearOperator conv1d = [](auto& input, auto& w, auto& b) {
      return at::conv1d(input, w, b);
    };
    return forward_operator(x, conv1d, bnn::SignLayout::kPerChannel, estimator_);
  }
  void export_torchscript(bnn::ExportContext& ctx) const override {
    ctx.emit("x = torch.conv1d(x, " + ctx.variational("weight", weight) + ", " +
             ctx.variational("bias", bias) + ")");
  }
  torch::nn::AnyModule with_units(int64_t in, int64_t out) const override;  // below
  int64_t in_, out_, kernel_;
  bnn::Estimator estimator_;
  bnn::Prior prior_;
};
TORCH_MODULE(UserConv1d);

// Its compression hook (once the holder is declared): the same layer with fewer channels.
torch::nn::AnyModule UserConv1dImpl::with_units(int64_t in, int64_t out) const {
  return torch::nn::AnyModule(UserConv1d(in, out, kernel_, estimator_, prior_));
}

// The same layer without the compression hook: it trains and exports, and compress refuses to
// shrink it, by name.
struct FixedSizeConv1dImpl : bnn::BayesLayer<FixedSizeConv1dImpl> {
  explicit FixedSizeConv1dImpl(bnn::Prior prior) : prior_(std::move(prior)) { reset(); }
  void reset() override {
    register_weight_and_bias({3, 1, 3}, /*has_bias=*/true, prior_, /*unit_dim=*/0);
    reset_weight_and_bias(-5.0);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return at::conv1d(x, weight.value(bnn::Mode::kMean), bias.value(bnn::Mode::kMean));
  }
  bnn::Prior prior_;
};
TORCH_MODULE(FixedSizeConv1d);

// Its conversion hook (convert.h's example): a trained torch::nn::Conv1d becomes this layer.
bnn::Conversion to_user_conv1d() {
  return bnn::conversion<torch::nn::Conv1dImpl>(
      [](const torch::nn::Conv1dImpl& conv,
         bnn::ConvertContext& ctx) -> std::optional<torch::nn::AnyModule> {
        const auto& o = conv.options;
        if (o.stride()->at(0) != 1) return ctx.keep("strides: this UserConv1d does not");
        UserConv1d layer(o.in_channels(), o.out_channels(), o.kernel_size()->at(0),
                         ctx.options().estimator());
        ctx.start_at(*layer, conv.weight, conv.bias);
        return torch::nn::AnyModule(layer);
      });
}
// --------------------------------------------------------------------------------------------

TEST_CASE("Extension: a user's own Conv1d layer trains alongside the built-in layers",
          "[extension]") {
  torch::manual_seed(40);
  // Task: is the 1-D signal's bump on the left or the right half?
  const int64_t n = 512, length = 16;
  auto labels = torch::randint(0, 2, {n}, torch::kLong);
  auto position = torch::randint(0, length / 2, {n}) + labels * (length / 2);
  auto signals = 0.3 * torch::randn({n, 1, length});
  signals.index_put_({torch::arange(n), 0, position},
                     signals.index({torch::arange(n), 0, position}) + 3.0);

  // Under the per-tensor hierarchical prior and the non-centred group horseshoe (a product
  // weight w = z ∘ v, with z per input channel).
  for (const auto& [prior, estimator] : std::vector<std::pair<bnn::Prior, bnn::Estimator>>{
           {bnn::Prior::hierarchical(), bnn::Estimator::kReparameterization},
           {bnn::Prior::hierarchical(), bnn::Estimator::kLocalReparameterization},
           {bnn::Prior::hierarchical(), bnn::Estimator::kFlipout},
           {bnn::Prior::group_horseshoe(), bnn::Estimator::kReparameterization},
           {bnn::Prior::group_horseshoe(), bnn::Estimator::kLocalReparameterization},
           {bnn::Prior::group_horseshoe(), bnn::Estimator::kFlipout}}) {
    torch::nn::Sequential model(UserConv1d(1, 4, 3, estimator, prior), torch::nn::ReLU(),
                                torch::nn::Flatten(),
                                bnn::BayesLinear(bnn::BayesLinearOptions(4 * (length - 2), 2)));
    CHECK(bnn::count_bayes_modules(*model) == 2);
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(0.02));
    for (int step = 0; step < 300; ++step) {
      optimizer.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(signals), labels) +
                  bnn::kl_divergence(*model) / n;
      loss.backward();
      optimizer.step();
    }
    bnn::set_mode(*model, bnn::Mode::kMean);
    const double accuracy =
        model->forward(signals).argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
    INFO(bnn::to_string(prior) << ", estimator " << bnn::to_string(estimator) << ": train accuracy "
                               << accuracy);
    CHECK(accuracy > 0.95);
    // The user's prior scale is learned and reported like the built-in ones.
    CHECK(bnn::prior_scales(*model).count("0.weight_prior") == 1);
    // Its held draw (what `predict` uses) and its export come from the same pieces.
    bnn::set_mode(*model, bnn::Mode::kFrozen);
    CHECK(torch::equal(model->forward(signals), model->forward(signals)));
    bnn::set_mode(*model, bnn::Mode::kMean);
    bnn::test::TempDir dir;
    bnn::export_posterior_mean(model, dir.file("mean.pt"));
    torch::NoGradGuard no_grad;
    auto exported = torch::jit::load(dir.file("mean.pt")).forward({signals}).toTensor();
    CHECK(torch::allclose(exported, model->forward(signals), 1e-5, 1e-5));
  }
}

TEST_CASE("Extension: a user's conversion hook makes a trained torch layer the user's layer",
          "[extension][convert]") {
  torch::manual_seed(41);
  torch::nn::Sequential net(torch::nn::Conv1d(1, 4, 3), torch::nn::ReLU(), torch::nn::Flatten(),
                            torch::nn::Linear(4 * 14, 2));
  bnn::ConvertReport report;
  const auto options = bnn::ConvertOptions().conversions({to_user_conv1d()});
  auto bayesian = bnn::to_bayesian(net, options, &report);
  REQUIRE(bayesian->ptr(0)->as<UserConv1d>() != nullptr);  // the user's layer, not bayesnn's
  CHECK(bayesian->ptr(3)->as<bnn::BayesLinear>() != nullptr);
  REQUIRE(report.converted.size() == 2);
  CHECK(report.converted[0].what == "UserConv1d");
  bnn::set_mode(*bayesian, bnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 1, 16});
  CHECK(torch::equal(bayesian->forward(x), net->forward(x)));

  torch::nn::Sequential strided(torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 4, 3).stride(2)));
  REQUIRE_THROWS_WITH(
      bnn::to_bayesian(strided, options),
      Catch::Contains("\n  0 (torch::nn::Conv1dImpl): strides: this UserConv1d does not"));
}

TEST_CASE("Extension: compress shrinks a user's layer through its hook, exactly", "[extension]") {
  // UserConv1d 2→4 (one scale per filter) → ReLU → Flatten → BayesLinear 4·6 → 3, filter 1 off.
  torch::manual_seed(41);
  const auto group = bnn::Prior::group_normal_jeffreys(-2.0);
  torch::nn::Sequential net(UserConv1d(2, 4, 3, bnn::Estimator::kReparameterization, group),
                            torch::nn::ReLU(), torch::nn::Flatten(),
                            bnn::BayesLinear(bnn::BayesLinearOptions(4 * 6, 3).prior(group)));
  auto user = net[0]->as<UserConv1d>();
  {
    torch::NoGradGuard no_grad;
    user->bias_mean.fill_(0.5);  // a filter left with its bias would show
    user->weight.prior()->named_parameters(false)["scale_mean"][1] = 0.0;
  }
  const auto compressed = bnn::compress(net, bnn::CompressOptions().min_scale(1e-3));
  REQUIRE(compressed.report.layers.size() == 2);
  CHECK(compressed.report.layers[0].units_kept == 3);
  CHECK(compressed.report.layers[0].weights_kept == 3 * 2 * 3);
  CHECK(compressed.report.layers[1].weights_kept == 3 * 6 * 3);
  auto small = compressed.network;
  REQUIRE(small[0]->as<UserConv1d>() != nullptr);  // rebuilt by the user's hook
  CHECK(small[0]->as<UserConv1d>()->out_ == 3);

  // Exact: the full network with filter 1's scale at zero, in the posterior mean and exported.
  bnn::set_mode(*net, bnn::Mode::kMean);
  bnn::set_mode(*small, bnn::Mode::kMean);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({5, 2, 8});
  const auto full = net->forward(x);
  CHECK(torch::allclose(small->forward(x), full, 1e-5, 1e-6));
  bnn::test::TempDir dir;
  bnn::export_posterior_mean(small, dir.file("small.pt"));
  CHECK(torch::allclose(torch::jit::load(dir.file("small.pt")).forward({x}).toTensor(), full, 1e-5,
                        1e-6));

  // A layer without the hook keeps its units, or is refused by name where it would lose some.
  torch::nn::Sequential unhooked(FixedSizeConv1d(group), torch::nn::Flatten(),
                                 bnn::BayesLinear(bnn::BayesLinearOptions(3 * 6, 2)));
  CHECK(bnn::compress(unhooked).report.layers[0].units_kept == 3);
  unhooked[0]->as<FixedSizeConv1d>()->weight.prior()->named_parameters(false)["scale_mean"][0] = 0;
  REQUIRE_THROWS_WITH(bnn::compress(unhooked, bnn::CompressOptions().min_scale(1e-3)),
                      Catch::Contains("compress: '0': FixedSizeConv1dImpl has no compression "
                                      "hook: it would keep 1 input and 2 output units"));
}
