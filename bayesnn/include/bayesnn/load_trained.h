// Reading a trained network's tensors back into a network: from a bayesnn checkpoint or a
// TorchScript file (beside the checkpoint reader, bayesnn/src/serialize/).
#pragma once

#include <string>

#include <torch/nn/module.h>

namespace bayesnn {

/// Loads a trained network's parameters and buffers into `model` from `path`: a bayesnn
/// checkpoint (`Trainer::save_checkpoint`, its checksum verified; by name) or a TorchScript file
/// (`torch.jit.save` in Python, `export_posterior_mean`, which stores each module's tensors in
/// this order; in order, as `model` registers them, with every count and shape checked; of the
/// buffers the floating-point ones, the running statistics, not counters). Throws naming the
/// file and the first mismatch.
///
/// Example:
/// ```
/// auto net = make_my_network();  // the architecture the file was trained with
/// bayesnn::load_trained("runs/det-cnn/posterior_mean.pt", *net);
/// auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().moped_delta(0.1));
/// ```
void load_trained(const std::string& path, torch::nn::Module& model);

}  // namespace bayesnn
