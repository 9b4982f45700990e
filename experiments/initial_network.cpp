#include "initial_network.h"

#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "bayesnn/convert.h"
#include "bayesnn/estimator.h"
#include "networks.h"

namespace bayesnn::experiment {
namespace {

// What --model, --prior (with its settings), --activation, --estimator and --init-log-sigma make.
NetworkSpec network_spec(const ExperimentOptions& options) {
  NetworkSpec spec;
  spec.model = options.model;
  spec.prior = options.prior;
  spec.activation = options.activation;
  spec.estimator = parse_estimator(options.estimator);
  spec.init_log_sigma = options.init_log_sigma;
  spec.prior_settings = options.prior_settings;
  return spec;
}

// --from-deterministic: the trained twin of --model's architecture, read from its file, and
// converted (to_bayesian) with the options' prior (or MOPED's), estimator and initial sigmas.
torch::nn::Sequential convert_twin(const ExperimentOptions& options) {
  auto spec = network_spec(options);
  spec.model = twin_of(options.model);
  auto twin = build_network(spec);
  load_trained(options.from_deterministic, *twin);
  auto convert = ConvertOptions()
                     .estimator(spec.estimator)
                     .log_sigma_init(options.init_log_sigma)
                     .moped_prior(options.moped_prior)
                     .moped_sigma_floor(options.moped_sigma_floor);
  if (options.moped_delta > 0) convert.moped_delta(options.moped_delta);
  if (!options.moped_prior) convert.prior(prior_of(network_spec(options)));
  ConvertReport report;
  auto net = to_bayesian(twin, convert, &report);
  fmt::print("converted the trained {} of {}:\n{}", spec.model, options.from_deterministic,
             report.to_string());
  return net;
}

}  // namespace

torch::nn::Sequential make_network(const ExperimentOptions& options) {
  auto net = options.from_deterministic.empty() ? build_network(network_spec(options))
                                                : convert_twin(options);
  if (options.init_mean_sd > 0) init_means_normal(net, options.init_mean_sd);
  std::cout << net << '\n';
  return net;
}

}  // namespace bayesnn::experiment
