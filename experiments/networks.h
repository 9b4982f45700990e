// The article's four networks as torch::nn::Sequential models of bayesnn layers, with any prior,
// and their deterministic twins of plain torch layers.
#pragma once

#include <string>

#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"
#include "priors.h"

namespace bayesnn::experiment {

/// What a network is built from. bayesnn-experiment makes one of its options (whose defaults are
/// in options.h and priors.cpp); the bench (bench/networks.cpp) of its own.
struct NetworkSpec {
  std::string model;             ///< mlp, cnn, lenet300, lenet5; hier-mlp, hier-cnn; det-* twins
  std::string prior;             ///< a --prior value (prior_names(): priors.cpp); det-* ignore it
  std::string activation;        ///< relu or tanh
  Estimator estimator{};         ///< every Bayesian layer's
  double init_log_sigma{};       ///< every *_log_sigma starts here
  PriorSettings prior_settings;  ///< the prior's settings by name (priors.h)
  /// The convolutions' max-pooling before their activation instead of after: the same values
  /// (relu and tanh are increasing) for a quarter of the activations' work (the bench's order).
  bool pool_first = false;
};

/// det-mlp, det-cnn: the twins of plain torch layers.
bool is_deterministic(const std::string& model);
/// The convolutional ones, which take images [N, 1, 28, 28]: cnn, hier-cnn, det-cnn, lenet5,
/// det-lenet5.
bool is_cnn(const std::string& model);
/// The deterministic twin of a network: det-mlp of mlp and hier-mlp, det-lenet5 of lenet5.
std::string twin_of(const std::string& model);
/// The prior of every weight and bias of a Bayesian network of `spec` (`spec.prior` with its
/// settings `spec.prior_settings`).
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

}  // namespace bayesnn::experiment
