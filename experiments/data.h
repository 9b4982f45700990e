// The images a run trains on, tests on, and detects as out-of-distribution.
#pragma once

#include <string>

#include <torch/types.h>

#include "bayesnn/dataset.h"
#include "options.h"

namespace bayesnn::experiment {

/// The images of a run and where they came from.
struct Data {
  Dataset train;        ///< the training images, on the training device
  Dataset validation;   ///< --validation's held-out training images (empty without it)
  Dataset test;         ///< MNIST's test split
  Dataset ood;          ///< the out-of-distribution test split (Fashion-MNIST's)
  std::string dir;      ///< --data
  std::string ood_dir;  ///< --ood-data
};

/// MNIST's training and test splits from --data and Fashion-MNIST's test split from --ood-data,
/// cut to --train-limit and --test-limit, the last --validation training images held out; the
/// training images on `device`.
Data load_data(const ExperimentOptions& options, torch::Device device);

}  // namespace bayesnn::experiment
