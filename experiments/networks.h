// The article's four networks as torch::nn::Sequential models of bayesnn layers, with any prior,
// and their deterministic twins of plain torch layers.
#pragma once

#include <map>
#include <string>

#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"

namespace bayesnn::experiment {

/// What a network is built from.
struct NetworkSpec {
  std::string model = "mlp";        ///< mlp, cnn, lenet300, lenet5; hier-mlp, hier-cnn; det-* twins
  std::string prior = "fixed";      ///< fixed, hierarchical, scale-mixture, unit-hierarchical
                                    ///< (hier-* come with hierarchical; det-* ignore it)
  std::string activation = "relu";  ///< relu or tanh
  Estimator estimator = Estimator::kLocalReparameterization;
  double prior_sd = 0.1;        ///< fixed prior sd; initial sd of a hierarchical prior
  double tau = 1.0;             ///< HalfNormal(tau) hyperprior (hierarchical priors)
  double mixture_pi = 0.5;      ///< scale mixture: weight of the wide component
  double mixture_sigma1 = 1.0;  ///< scale mixture: the wide component's sd
  double mixture_sigma2 = kScaleMixtureNarrowSd;  ///< the narrow one's
  double init_log_sigma = -6.0;                   ///< every *_log_sigma starts here
  double group_tau0 = 1e-5;                       ///< group-horseshoe: the global half-Cauchy scale
  double group_init_log_sd = -4.0;                ///< group priors: the scales' initial log sd
};

/// det-mlp, det-cnn: the twins of plain torch layers.
bool is_deterministic(const std::string& model);
/// The convolutional ones, which take images [N, 1, 28, 28]: cnn, hier-cnn, det-cnn, lenet5,
/// det-lenet5.
bool is_cnn(const std::string& model);
/// The deterministic twin of a network: det-mlp of mlp and hier-mlp, det-lenet5 of lenet5.
std::string twin_of(const std::string& model);
/// The prior of every weight and bias of a Bayesian network of `spec` (`spec.prior` with its
/// settings).
Prior prior_of(const NetworkSpec& spec);

/// mlp/hier-mlp: flatten → fc1 784→800 → act → fc2 800→800 → act → fc3 800→10.
/// cnn/hier-cnn: conv1 32@5x5 → act → pool → conv2 32@5x5 → act → pool → flatten →
/// fc1 512→256 → act → fc2 256→10 (valid convolutions, 2x2 max-pooling).
/// lenet300: flatten → fc1 784→300 → act → fc2 300→100 → act → fc3 100→10.
/// lenet5 (LeNet-5-Caffe): conv1 20@5x5 → act → pool → conv2 50@5x5 → act → pool → flatten →
/// fc1 800→500 → act → fc2 500→10. Every weight and
/// bias is Bayesian with its own prior (`prior_of`); det-* have plain torch::nn::Linear and
/// Conv2d layers instead, initialised as torch does.
torch::nn::Sequential build_network(const NetworkSpec& spec);

/// Re-initialises every `*_mean` parameter of `net` from N(0, sd²) (the article's testval).
void init_means_normal(torch::nn::Sequential& net, double sd);

/// For every hierarchical prior of `net`: the mean and sd of q(log s), by prior name.
std::map<std::string, std::pair<double, double>> log_scale_posteriors(
    const torch::nn::Sequential& net);

}  // namespace bayesnn::experiment
