// The extension point, worked through: a user-written Bayesian layer that lives outside the
// library, here a 1-D convolution, trains alongside the built-in layers. Nothing in bayesnn
// knows about it; it derives from bayesnn::BayesModule and reuses the library's estimators.
#include "support/catch.h"

#include <cmath>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"

namespace bnn = bayesnn;

// --- The user's layer ----------------------------------------------------------------------
struct BayesConv1dImpl : torch::nn::Cloneable<BayesConv1dImpl>, bnn::BayesModule {
  BayesConv1dImpl(int64_t in, int64_t out, int64_t kernel, bnn::Estimator estimator)
      : in_(in), out_(out), kernel_(kernel), estimator_(estimator) {
    reset();
  }

  void reset() override {
    weight_mean = register_parameter("weight_mean", torch::empty({out_, in_, kernel_}));
    weight_log_sigma = register_parameter("weight_log_sigma", torch::empty({out_, in_, kernel_}));
    weight_prior = register_module("weight_prior", bnn::PriorModule(bnn::Prior::hierarchical()));
    torch::NoGradGuard no_grad;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_ * kernel_));
    weight_mean.uniform_(-bound, bound);
    weight_log_sigma.fill_(-5.0);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    static const bnn::LinearOperator conv1d = [](const at::Tensor& input, const at::Tensor& w,
                                                 const at::Tensor& b) {
      return at::conv1d(input, w, b);
    };
    if (mode() == bnn::Mode::kMean) return conv1d(x, weight_mean, {});
    return bnn::sample_output(estimator_, conv1d, bnn::SignLayout::kPerChannel, x, weight_mean,
                              weight_log_sigma, {}, {});
  }

  torch::Tensor kl() override { return weight_prior->kl(weight_mean, weight_log_sigma); }

  torch::Tensor weight_mean, weight_log_sigma;
  bnn::PriorModule weight_prior{nullptr};

 private:
  int64_t in_, out_, kernel_;
  bnn::Estimator estimator_;
};
TORCH_MODULE(BayesConv1d);
// --------------------------------------------------------------------------------------------

TEST_CASE("Extension: a user-written BayesConv1d trains alongside the built-in layers",
          "[extension]") {
  torch::manual_seed(40);
  // Task: is the 1-D signal's bump on the left or the right half?
  const int64_t n = 512, length = 16;
  auto labels = torch::randint(0, 2, {n}, torch::kLong);
  auto position = torch::randint(0, length / 2, {n}) + labels * (length / 2);
  auto signals = 0.3 * torch::randn({n, 1, length});
  signals.index_put_({torch::arange(n), 0, position},
                     signals.index({torch::arange(n), 0, position}) + 3.0);

  for (auto estimator : {bnn::Estimator::kReparameterization, bnn::Estimator::kFlipout}) {
    torch::nn::Sequential model(BayesConv1d(1, 4, 3, estimator), torch::nn::ReLU(),
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
    INFO("estimator " << bnn::to_string(estimator) << ": train accuracy " << accuracy);
    CHECK(accuracy > 0.95);
    // The user's hierarchical prior scale is learned and reported like the built-in ones.
    CHECK(bnn::prior_scales(*model).count("0.weight_prior") == 1);
  }
}
