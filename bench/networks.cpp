#include "networks.h"

#include <sstream>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"
#include "bayesnn/estimator.h"

namespace bench {
namespace {
// The layers with weights, in order: a dense layer (in, out) or a convolution producing
// out_channels x out_size x out_size from in_channels through a k x k kernel.
struct Layer {
  bool conv;
  int64_t in, out, kernel, out_size;

  double forward_flops() const {
    const double macs = conv
                            ? static_cast<double>(in * kernel * kernel) * static_cast<double>(out) *
                                  static_cast<double>(out_size * out_size)
                            : static_cast<double>(in) * static_cast<double>(out);
    return 2.0 * macs;
  }
};

std::vector<Layer> layers(Arch arch) {
  if (arch == Arch::kMlp) {
    return {{false, 784, 800, 0, 0}, {false, 800, 800, 0, 0}, {false, 800, 10, 0, 0}};
  }
  // 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4: 32 * 4 * 4 = 512 features.
  return {
      {true, 1, 32, 5, 24}, {true, 32, 32, 5, 8}, {false, 512, 256, 0, 0}, {false, 256, 10, 0, 0}};
}

bayesnn::Prior prior_of(const Variant& variant) {
  if (variant.prior == "hierarchical") return bayesnn::Prior::hierarchical(1.0);
  if (variant.prior == "group-horseshoe") return bayesnn::Prior::group_horseshoe();
  return bayesnn::Prior::fixed(0.1);
}

double products_per_layer(const Variant& variant) {
  if (!variant.bayesian()) return 1.0;
  return *variant.estimator == bayesnn::Estimator::kReparameterization ? 1.0 : 2.0;
}
}  // namespace

std::string to_string(Arch arch) { return arch == Arch::kMlp ? "mlp" : "cnn"; }

std::string Variant::name() const {
  std::string name = to_string(arch) + "/";
  if (!bayesian()) return name + "det";
  return name + bayesnn::to_string(*estimator) + "/" + prior;
}

std::vector<Variant> variants_of(Arch arch) {
  std::vector<Variant> variants{{arch, std::nullopt, "fixed"}};
  for (auto estimator :
       {bayesnn::Estimator::kReparameterization, bayesnn::Estimator::kLocalReparameterization,
        bayesnn::Estimator::kFlipout}) {
    for (const char* prior : {"fixed", "hierarchical", "group-horseshoe"})
      variants.push_back({arch, estimator, prior});
  }
  return variants;
}

Variant parse_variant(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream stream(name);
  for (std::string part; std::getline(stream, part, '/');) parts.push_back(part);
  const bool det = parts.size() == 2 && parts[1] == "det";
  const bool bayesian = parts.size() == 3 && (parts[2] == "fixed" || parts[2] == "hierarchical" ||
                                              parts[2] == "group-horseshoe");
  TORCH_CHECK((det || bayesian) && (parts[0] == "mlp" || parts[0] == "cnn"),
              "bench: bad variant name '", name, "'");
  Variant variant;
  variant.arch = parts[0] == "mlp" ? Arch::kMlp : Arch::kCnn;
  if (bayesian) {
    variant.estimator = bayesnn::parse_estimator(parts[1]);
    variant.prior = parts[2];
  }
  return variant;
}

torch::nn::Sequential make_network(const Variant& variant) {
  torch::nn::Sequential net;
  const auto dense = [&](int64_t in, int64_t out) {
    if (!variant.bayesian()) {
      net->push_back(torch::nn::Linear(in, out));
    } else {
      net->push_back(bayesnn::BayesLinear(bayesnn::BayesLinearOptions(in, out)
                                              .prior(prior_of(variant))
                                              .estimator(*variant.estimator)));
    }
  };
  const auto conv = [&](int64_t in, int64_t out) {
    if (!variant.bayesian()) {
      net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 5)));
    } else {
      net->push_back(bayesnn::BayesConv2d(bayesnn::BayesConv2dOptions(in, out, 5)
                                              .prior(prior_of(variant))
                                              .estimator(*variant.estimator)));
    }
  };
  if (variant.arch == Arch::kMlp) {
    net->push_back(torch::nn::Flatten());
    dense(784, 800);
    net->push_back(torch::nn::Tanh());
    dense(800, 800);
    net->push_back(torch::nn::Tanh());
    dense(800, 10);
  } else {
    // Pooling before tanh equals tanh before pooling (tanh is increasing) and is cheaper.
    conv(1, 32);
    net->push_back(torch::nn::MaxPool2d(2));
    net->push_back(torch::nn::Tanh());
    conv(32, 32);
    net->push_back(torch::nn::MaxPool2d(2));
    net->push_back(torch::nn::Tanh());
    net->push_back(torch::nn::Flatten());
    dense(512, 256);
    net->push_back(torch::nn::Tanh());
    dense(256, 10);
  }
  return net;
}

double forward_flops_per_example(const Variant& variant) {
  double flops = 0;
  for (const auto& layer : layers(variant.arch)) flops += layer.forward_flops();
  return products_per_layer(variant) * flops;
}

double train_flops_per_example(const Variant& variant) {
  double flops = 0;
  bool first = true;
  for (const auto& layer : layers(variant.arch)) {
    flops += layer.forward_flops() * (first ? 2.0 : 3.0);
    first = false;
  }
  return products_per_layer(variant) * flops;
}

}  // namespace bench
