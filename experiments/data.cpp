#include "data.h"

#include <algorithm>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "bayesnn/mnist.h"

namespace bayesnn::experiment {

Data load_data(const ExperimentOptions& options, torch::Device device) {
  Data data;
  data.dir = options.data.empty() ? data_dir("mnist") : options.data;
  data.ood_dir = options.ood_data.empty() ? data_dir("fashion-mnist") : options.ood_data;
  data.train = load_mnist(data.dir, Split::kTrain);
  data.test = load_mnist(data.dir, Split::kTest);
  data.ood = load_mnist(data.ood_dir, Split::kTest);
  TORCH_CHECK(options.train_limit <= data.train.size(), "--train-limit ", options.train_limit,
              " exceeds the ", data.train.size(), " training images in ", data.dir);
  if (options.train_limit > 0) data.train = data.train.head(options.train_limit);
  TORCH_CHECK(options.validation<data.train.size(), "--validation ", options.validation,
                                 " leaves no training images: there are ", data.train.size(),
                                 " in ", data.dir, options.train_limit> 0
                  ? " (after --train-limit)"
                  : "");
  if (options.validation > 0) {
    const int64_t kept = data.train.size() - options.validation;
    data.validation = data.train.slice(kept, data.train.size());
    data.train = data.train.head(kept);
  }
  if (options.test_limit > 0) {
    data.test = data.test.head(std::min(options.test_limit, data.test.size()));
    data.ood = data.ood.head(std::min(options.test_limit, data.ood.size()));
  }
  TORCH_CHECK(options.batch_size <= data.train.size(), "--batch-size ", options.batch_size,
              " exceeds the ", data.train.size(), " training images");
  data.train = data.train.to(device);
  fmt::print(
      "data: {} training images from {} ({} held out for validation), {} test images, {} OOD "
      "images from {}\n",
      data.train.size(), data.dir, options.validation, data.test.size(), data.ood.size(),
      data.ood_dir);
  return data;
}

}  // namespace bayesnn::experiment
