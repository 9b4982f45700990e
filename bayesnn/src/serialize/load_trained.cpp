#include "bayesnn/load_trained.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/script.h>
#include <torch/serialize/input-archive.h>

#include "error_text.h"
#include "serialize/checkpoint_file.h"
#include "serialize/trained_tensors.h"

namespace bayesnn {
namespace {

// Copies `from` into `to` in order (what = "parameter" or "buffer"), every count and shape
// checked.
void copy_in_order(const std::vector<at::Tensor>& from, const std::vector<at::Tensor>& to,
                   const char* what, const std::string& path) {
  TORCH_CHECK(from.size() == to.size(), "load_trained: '", path, "' holds ", from.size(), " ", what,
              "s, the network ", to.size());
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < from.size(); ++i) {
    TORCH_CHECK(from[i].sizes() == to[i].sizes(), "load_trained: '", path, "': ", what, " ", i,
                " has shape ", from[i].sizes(), ", the network's ", to[i].sizes());
    to[i].copy_(from[i]);
  }
}

// A bayesnn checkpoint's network, by name.
void load_checkpoint(const std::string& bytes, const std::string& path, torch::nn::Module& model) {
  detail::check_checkpoint(bytes, path, "load_trained");
  torch::serialize::InputArchive archive, network;
  try {
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    archive.read("model", network);
  } catch (const std::exception& error) {
    TORCH_CHECK(false, "load_trained: '", path,
                "' is not a readable bayesnn checkpoint: ", detail::first_line(error));
  }
  try {
    detail::load_module(network, model);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "load_trained: '", path,
                "' is a bayesnn checkpoint of another network: ", error.msg());
  }
}

// A TorchScript file's tensors, in the order an export stores each module's.
void load_script(const std::string& bytes, const std::string& path, torch::nn::Module& model) {
  torch::jit::Module script;
  try {
    std::istringstream stream(bytes);
    script = torch::jit::load(stream, torch::kCPU);
  } catch (const std::exception& error) {
    TORCH_CHECK(
        false, "load_trained: '", path,
        "' is neither a bayesnn checkpoint nor a TorchScript file: ", detail::first_line(error));
  }
  const auto from = detail::trained_tensors(script);
  const auto to = detail::trained_tensors(model);
  copy_in_order(from.parameters, to.parameters, "parameter", path);
  copy_in_order(from.buffers, to.buffers, "buffer", path);
}

}  // namespace

void load_trained(const std::string& path, torch::nn::Module& model) {
  std::ifstream file(path, std::ios::binary);
  TORCH_CHECK(file.good() && std::filesystem::is_regular_file(path), "load_trained: cannot read '",
              path, "'");
  const std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (detail::is_sealed(bytes)) {
    load_checkpoint(bytes, path, model);
  } else {
    load_script(bytes, path, model);
  }
}

}  // namespace bayesnn
