#pragma once

#include <functional>
#include <string>

#include <torch/nn/module.h>

#include "bayesnn/export_context.h"

namespace bayesnn::detail {

// How one of torch's layers exports: torch's modules cannot carry bayesnn's hook, so the
// exporter looks them up here (bayesnn's own and users' modules export through their hooks).
struct TorchExporter {
  std::string name;
  std::function<bool(const torch::nn::Module&)> matches;
  std::function<void(const torch::nn::Module&, ExportContext&)> emit;
};

// The exporter of `module`'s type (or a base of it); nullptr where there is none.
const TorchExporter* find_torch_exporter(const torch::nn::Module& module);

// "Linear, Conv1d, Conv2d, ...": the torch layers that export, for error messages.
std::string torch_exported_modules();

}  // namespace bayesnn::detail
