#include "networks.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/prior.h"
#include "priors.h"

namespace bayesnn::experiment {
namespace {

constexpr int64_t kClasses = 10;
constexpr int64_t kImageSide = 28;
constexpr int64_t kCnnKernel = 5;

// A network's widths: the dense layers' (an MLP), or the convolutions' channels and the one
// hidden dense layer's (a CNN).
struct Architecture {
  std::vector<int64_t> hidden;
  int64_t conv1 = 0, conv2 = 0, dense = 0;
};

Architecture architecture(const std::string& model) {
  const std::string base = model.substr(model.find('-') + 1);  // mlp of det-mlp and hier-mlp
  if (base == "mlp") return {{800, 800}};
  if (base == "lenet300") return {{300, 100}};
  if (base == "cnn") return {{}, 32, 32, 256};
  TORCH_CHECK(base == "lenet5", "unknown model '", model,
              "': expected mlp, hier-mlp, det-mlp, cnn, hier-cnn, det-cnn, lenet300, "
              "det-lenet300, lenet5 or det-lenet5");
  return {{}, 20, 50, 500};
}

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

// After convolution i: act{i} and pool{i}, in the order `spec.pool_first` says.
void push_activation_and_pool(torch::nn::Sequential& net, const NetworkSpec& spec, int i) {
  if (spec.pool_first) net->push_back(fmt::format("pool{}", i), torch::nn::MaxPool2d(2));
  net->push_back(fmt::format("act{}", i), activation(spec.activation));
  if (!spec.pool_first) net->push_back(fmt::format("pool{}", i), torch::nn::MaxPool2d(2));
}

}  // namespace

bool is_deterministic(const std::string& model) { return model.rfind("det-", 0) == 0; }

bool is_cnn(const std::string& model) { return architecture(model).conv1 > 0; }

std::string twin_of(const std::string& model) { return "det-" + model.substr(model.find('-') + 1); }

Prior prior_of(const NetworkSpec& spec) {
  return prior_choice(spec.prior).build(spec.prior_settings);
}

torch::nn::Sequential build_network(const NetworkSpec& spec) {
  torch::nn::Sequential net;
  const Architecture widths = architecture(spec.model);
  if (widths.conv1 == 0) {
    net->push_back("flatten", torch::nn::Flatten());
    int64_t in = kImageSide * kImageSide;
    for (size_t i = 0; i < widths.hidden.size(); ++i) {
      net->push_back(fmt::format("fc{}", i + 1), dense(spec, in, widths.hidden[i]));
      net->push_back(fmt::format("act{}", i + 1), activation(spec.activation));
      in = widths.hidden[i];
    }
    net->push_back(fmt::format("fc{}", widths.hidden.size() + 1), dense(spec, in, kClasses));
    return net;
  }
  // 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4.
  const int64_t side = ((kImageSide - kCnnKernel + 1) / 2 - kCnnKernel + 1) / 2;
  net->push_back("conv1", conv(spec, 1, widths.conv1));
  push_activation_and_pool(net, spec, 1);
  net->push_back("conv2", conv(spec, widths.conv1, widths.conv2));
  push_activation_and_pool(net, spec, 2);
  net->push_back("flatten", torch::nn::Flatten());
  net->push_back("fc1", dense(spec, widths.conv2 * side * side, widths.dense));
  net->push_back("act3", activation(spec.activation));
  net->push_back("fc2", dense(spec, widths.dense, kClasses));
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

}  // namespace bayesnn::experiment
