#include "networks.h"

#include <sstream>
#include <vector>

#include <c10/util/Exception.h>

#include "bayesnn/bayes_linear.h"
#include "bayesnn/estimator.h"
#include "experiments/networks.h"
#include "experiments/priors.h"

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

int64_t parameters_of(Arch arch) {
  int64_t count = 0;
  for (const auto& layer : layers(arch)) {
    count += layer.in * layer.out * (layer.conv ? layer.kernel * layer.kernel : 1) + layer.out;
  }
  return count;
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
  const bool bayesian =
      parts.size() == 3 && bayesnn::experiment::find_prior_choice(parts[2]) != nullptr;
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
  bayesnn::experiment::NetworkSpec spec;
  spec.model = (variant.bayesian() ? "" : "det-") + to_string(variant.arch);
  spec.prior = variant.prior;
  spec.activation = "tanh";
  spec.estimator = variant.bayesian() ? *variant.estimator : bayesnn::Estimator{};
  spec.init_log_sigma = bayesnn::BayesLinearOptions(1, 1).log_sigma_init();  // the library's
  spec.prior_settings = bayesnn::experiment::default_prior_settings();
  spec.pool_first = true;  // tanh is increasing: the same values for a quarter of its work
  return bayesnn::experiment::build_network(spec);
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

double parameter_bytes_per_step(const Variant& variant) {
  const double bytes_per_parameter = variant.bayesian() ? 12 + 24 + 4 + 56 : 28 + 4;
  return bytes_per_parameter * static_cast<double>(parameters_of(variant.arch));
}

}  // namespace bench
