#include "bayesnn/mnist.h"

#include <cstdlib>

#include <fmt/format.h>
#include <torch/types.h>

#include "bayesnn/idx.h"

namespace bayesnn {
namespace {
constexpr int64_t kNumClasses = 10;
}  // namespace

std::string to_string(Split split) { return split == Split::kTrain ? "train" : "test"; }

std::string data_root() {
  const char* env = std::getenv("BAYESNN_DATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string("data");
}

std::string data_dir(const std::string& name) { return data_root() + "/" + name; }

Dataset load_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::kTrain ? "train" : "t10k";
  const std::string images_path = dir + "/" + prefix + "-images-idx3-ubyte";
  const std::string labels_path = dir + "/" + prefix + "-labels-idx1-ubyte";
  const torch::Tensor images = read_idx_images(images_path);
  const torch::Tensor labels = read_idx_labels(labels_path);
  if (images.size(0) != labels.size(0)) {
    throw DataError(
        fmt::format("{}: {} images in {}-images-idx3-ubyte but {} labels in "
                    "{}-labels-idx1-ubyte",
                    dir, images.size(0), prefix, labels.size(0), prefix));
  }
  const torch::Tensor bad = (labels >= kNumClasses).nonzero();
  if (bad.size(0) > 0) {
    const int64_t index = bad[0][0].item<int64_t>();
    throw DataError(fmt::format("{}: label {} at index {}, expected 0..{}", labels_path,
                                labels[index].item<int64_t>(), index, kNumClasses - 1));
  }
  return Dataset{images.unsqueeze(1).to(torch::kFloat32).div_(255.0), labels.to(torch::kInt64)};
}

}  // namespace bayesnn
