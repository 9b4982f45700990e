#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"

namespace bayesnn {

/// How `to_bayesian` builds the Bayesian layers. The posterior means always start at the
/// trained weights, so the converted network's posterior mean is the trained network.
///
/// Example (MOPED, Krishnan et al. 2020: sigmas at 0.1·|w|, the prior centred on w):
/// ```
/// auto options = bayesnn::ConvertOptions().moped_delta(0.1).moped_prior(true);
/// ```
struct ConvertOptions {
  /// The prior of every converted weight and bias (unless `moped_prior`).
  TORCH_ARG(Prior, prior) = Prior::fixed(0.1);
  /// The Monte Carlo estimator of the converted layers.
  TORCH_ARG(Estimator, estimator) = Estimator::kReparameterization;
  /// Every `*_log_sigma` element starts here (without `moped_delta`).
  TORCH_ARG(double, log_sigma_init) = -5.0;
  /// MOPED: every posterior sd starts at max(delta·|w|, `moped_sigma_floor`), w the trained
  /// weight; delta positive and finite. Unset: `log_sigma_init`.
  TORCH_ARG(std::optional<double>, moped_delta) = std::nullopt;
  /// The smallest posterior (and MOPED prior) sd, for weights at or near zero; positive.
  TORCH_ARG(double, moped_sigma_floor) = 1e-5;
  /// MOPED's prior: w_i ~ N(w_trained_i, max(delta·|w_trained_i|, floor)²) per element
  /// (`Prior::gaussian` with its buffers written) instead of `prior`; needs `moped_delta`. The
  /// converted network then starts with a KL of zero.
  TORCH_ARG(bool, moped_prior) = false;
  /// Whether a module that cannot be converted (see `to_bayesian`) is an error (`ConvertError`)
  /// rather than kept deterministic and listed in the report.
  TORCH_ARG(bool, strict) = true;
};

/// What `to_bayesian` did with each module that holds trained parameters.
struct ConvertReport {
  /// One module: where it is ("features.0"; "" for the model itself), its C++ type
  /// ("torch::nn::LinearImpl"), and what became of it ("bayesnn::BayesLinear") or why it
  /// could not be converted.
  struct Entry {
    std::string path;
    std::string type;
    std::string what;
  };
  std::vector<Entry> converted;      ///< replaced by a Bayesian layer
  std::vector<Entry> deterministic;  ///< kept as trained (point estimates), with the reason

  /// One line per entry: "converted fc1 (torch::nn::LinearImpl): bayesnn::BayesLinear".
  std::string to_string() const;
};

/// `to_bayesian` met modules it cannot convert in strict mode; the message lists each, the
/// report has them all.
class ConvertError : public std::runtime_error {
 public:
  explicit ConvertError(ConvertReport report);
  const ConvertReport& report() const { return report_; }

 private:
  ConvertReport report_;
};

/// A Bayesian copy of a trained network: every `torch::nn::Linear` and `torch::nn::Conv2d` in a
/// `torch::nn::Sequential` (at any depth, also inside a user's module) becomes a `BayesLinear` /
/// `BayesConv2d` with the options' prior and estimator, its shapes, stride, padding, dilation,
/// groups and bias carried over and its posterior means at the trained weights (sigmas by
/// `log_sigma_init` or MOPED); every other module is deep-copied (`clone()`), so `model` is
/// untouched. The copy is on the device, and has the dtype, of `model`.
///
/// What cannot be converted is never skipped silently: in strict mode (the default) it throws
/// `ConvertError` listing each by path and type; with `strict(false)` it stays deterministic and
/// `report` lists it. These are: a layer without a Bayesian counterpart that holds parameters
/// (Conv1d, ConvTranspose2d, BatchNorm, Embedding, ...); a user's module with parameters of its
/// own (its forward computes with them); a Linear or Conv2d held by a module other than a
/// Sequential (a user's module, ModuleList, ModuleDict): C++ calls such a child through its
/// static type, so only a Sequential's layers can be replaced; a Conv2d padding otherwise than
/// with zeros or asymmetrically. Bayesian modules already in `model` are copied as they are.
///
/// Example:
/// ```
/// torch::nn::Sequential net(torch::nn::Linear(784, 100), torch::nn::ReLU(),
///                           torch::nn::Linear(100, 10));
/// // ... train net ...
/// auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().moped_delta(0.1));
/// bayesnn::set_mode(*bnn, bayesnn::Mode::kMean);  // bnn(x) == net(x) before fine-tuning
/// ```
torch::nn::Sequential to_bayesian(const torch::nn::Sequential& model,
                                  const ConvertOptions& options = {},
                                  ConvertReport* report = nullptr);

/// The same for any module (it must be clonable: derived from `torch::nn::Cloneable`); a
/// `Linear` or `Conv2d` itself becomes its Bayesian layer.
std::shared_ptr<torch::nn::Module> to_bayesian(const torch::nn::Module& model,
                                               const ConvertOptions& options = {},
                                               ConvertReport* report = nullptr);

/// Loads a trained network's parameters and buffers into `model` from `path`: a bayesnn
/// checkpoint (`Trainer::save_checkpoint`, its checksum verified; by name) or a TorchScript file
/// (`torch.jit.save` in Python, `export_posterior_mean`; in order, as `model` registers them,
/// with every count and shape checked; of the buffers the floating-point ones, the running
/// statistics, not counters). Throws naming the file and the first mismatch.
///
/// Example:
/// ```
/// auto net = make_my_network();  // the architecture the file was trained with
/// bayesnn::load_trained("runs/det-cnn/posterior_mean.pt", *net);
/// auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().moped_delta(0.1));
/// ```
void load_trained(const std::string& path, torch::nn::Module& model);

}  // namespace bayesnn
