#include "networks.h"

#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/prior.h"
#include "priors.h"

namespace bayesnn::experiment {
namespace {

constexpr int64_t kClasses = 10;
constexpr int64_t kImageSide = 28;
constexpr int64_t kMlpHidden = 800;
constexpr int64_t kCnnChannels = 32;
constexpr int64_t kCnnKernel = 5;
constexpr int64_t kCnnDense = 256;

torch::nn::AnyModule activation(const std::string& name) {
  if (name == "relu") return torch::nn::AnyModule(torch::nn::ReLU());
  TORCH_CHECK(name == "tanh", "unknown activation '", name, "': expected relu or tanh");
  return torch::nn::AnyModule(torch::nn::Tanh());
}

BayesLinear bayes_dense(const NetworkSpec& spec, int64_t in, int64_t out) {
  return BayesLinear(BayesLinearOptions(in, out)
                         .prior(prior_of(spec))
                         .estimator(spec.estimator)
                         .log_sigma_init(spec.init_log_sigma));
}

BayesConv2d bayes_conv(const NetworkSpec& spec, int64_t in, int64_t out) {
  return BayesConv2d(BayesConv2dOptions(in, out, kCnnKernel)
                         .prior(prior_of(spec))
                         .estimator(spec.estimator)
                         .log_sigma_init(spec.init_log_sigma));
}

// A dense or convolutional layer: Bayesian, or a plain torch one for the deterministic twins.
torch::nn::AnyModule dense(const NetworkSpec& spec, int64_t in, int64_t out) {
  if (is_deterministic(spec.model)) return torch::nn::AnyModule(torch::nn::Linear(in, out));
  return torch::nn::AnyModule(bayes_dense(spec, in, out));
}

torch::nn::AnyModule conv(const NetworkSpec& spec, int64_t in, int64_t out) {
  if (is_deterministic(spec.model)) {
    return torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kCnnKernel)));
  }
  return torch::nn::AnyModule(bayes_conv(spec, in, out));
}

}  // namespace

bool is_deterministic(const std::string& model) { return model.rfind("det-", 0) == 0; }

bool is_cnn(const std::string& model) {
  return model.size() >= 3 && model.compare(model.size() - 3, 3, "cnn") == 0;
}

Prior prior_of(const NetworkSpec& spec) { return prior_choice(spec.prior).build(spec); }

torch::nn::Sequential build_network(const NetworkSpec& spec) {
  torch::nn::Sequential net;
  TORCH_CHECK(spec.model == "mlp" || spec.model == "hier-mlp" || spec.model == "det-mlp" ||
                  spec.model == "cnn" || spec.model == "hier-cnn" || spec.model == "det-cnn",
              "unknown model '", spec.model,
              "': expected mlp, hier-mlp, det-mlp, cnn, hier-cnn or det-cnn");
  if (!is_cnn(spec.model)) {
    net->push_back("flatten", torch::nn::Flatten());
    net->push_back("fc1", dense(spec, kImageSide * kImageSide, kMlpHidden));
    net->push_back("act1", activation(spec.activation));
    net->push_back("fc2", dense(spec, kMlpHidden, kMlpHidden));
    net->push_back("act2", activation(spec.activation));
    net->push_back("fc3", dense(spec, kMlpHidden, kClasses));
    return net;
  }
  // 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4.
  const int64_t side = ((kImageSide - kCnnKernel + 1) / 2 - kCnnKernel + 1) / 2;
  net->push_back("conv1", conv(spec, 1, kCnnChannels));
  net->push_back("act1", activation(spec.activation));
  net->push_back("pool1", torch::nn::MaxPool2d(2));
  net->push_back("conv2", conv(spec, kCnnChannels, kCnnChannels));
  net->push_back("act2", activation(spec.activation));
  net->push_back("pool2", torch::nn::MaxPool2d(2));
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("fc1", dense(spec, kCnnChannels * side * side, kCnnDense));
  net->push_back("act3", activation(spec.activation));
  net->push_back("fc2", dense(spec, kCnnDense, kClasses));
  return net;
}

void init_means_normal(torch::nn::Sequential& net, double sd) {
  torch::NoGradGuard no_grad;
  for (auto& parameter : net->named_parameters()) {
    const auto& name = parameter.key();
    if (name.size() >= 5 && name.compare(name.size() - 5, 5, "_mean") == 0 &&
        name.find("_prior.") == std::string::npos) {
      parameter.value().normal_(0.0, sd);
    }
  }
}

std::map<std::string, std::pair<double, double>> log_scale_posteriors(
    const torch::nn::Sequential& net) {
  std::map<std::string, std::pair<double, double>> result;
  for (const auto& item : net->named_modules("", /*include_self=*/false)) {
    const auto* prior = dynamic_cast<const PriorModuleImpl*>(item.value().get());
    if (prior == nullptr ||
        dynamic_cast<const HierarchicalPrior*>(&prior->prior().family()) == nullptr) {
      continue;
    }
    result[item.key()] = {prior->hyper("log_scale_mean").item<double>(),
                          prior->hyper("log_scale_log_sigma").exp().item<double>()};
  }
  return result;
}

}  // namespace bayesnn::experiment
