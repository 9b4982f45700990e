// The conversion hook's side of `to_bayesian`: a hook (`Conversion`, `conversion<T>`), what it
// converts with (`ConvertOptions`, `ConvertContext`) and what it reports (`ConvertReport`). The
// conversion itself is bayesnn/convert.h.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>

#include "bayesnn/estimator.h"
#include "bayesnn/prior.h"
#include "bayesnn/variational_tensor.h"

namespace bayesnn {

class ConvertContext;

/// A conversion hook of `to_bayesian`: which trained modules it converts (`matches`) and the
/// Bayesian module it makes of one (`convert`), or `ctx.keep(why)` where it cannot. bayesnn's
/// layers convert through hooks of this kind (torch::nn::Linear, Conv1d, Conv2d); a user's are
/// given to `ConvertOptions::conversions` and take precedence. Make one with `conversion<T>`.
struct Conversion {
  /// Whether this hook converts `module`.
  std::function<bool(const torch::nn::Module&)> matches;
  /// The Bayesian module made of a module `matches` accepted, or `ctx.keep(why)`'s std::nullopt.
  std::function<std::optional<torch::nn::AnyModule>(const torch::nn::Module&, ConvertContext&)>
      convert;
};

/// The conversion of the trained modules of type `Trained` (and its subclasses) by `convert`.
///
/// Example (a user's `MyBayesConv1d` for torch's Conv1d, its means at the trained weights; the
/// hook in `tests/extension_test.cpp`):
/// ```
/// auto to_mine = bayesnn::conversion<torch::nn::Conv1dImpl>(
///     [](const torch::nn::Conv1dImpl& conv, bayesnn::ConvertContext& ctx)
///         -> std::optional<torch::nn::AnyModule> {
///       const auto& o = conv.options;
///       if (o.stride()->at(0) != 1) return ctx.keep("strides: MyBayesConv1d does not");
///       MyBayesConv1d layer(o.in_channels(), o.out_channels(), o.kernel_size()->at(0));
///       ctx.start_at(*layer, conv.weight, conv.bias);
///       return torch::nn::AnyModule(layer);
///     });
/// auto bnn = bayesnn::to_bayesian(net, bayesnn::ConvertOptions().conversions({to_mine}));
/// ```
template <typename Trained>
Conversion conversion(
    std::function<std::optional<torch::nn::AnyModule>(const Trained&, ConvertContext&)> convert) {
  return {[](const torch::nn::Module& module) {
            return dynamic_cast<const Trained*>(&module) != nullptr;
          },
          [convert = std::move(convert)](const torch::nn::Module& module, ConvertContext& ctx) {
            return convert(dynamic_cast<const Trained&>(module), ctx);
          }};
}

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
  /// Conversions of further module types (a user's Bayesian layer for a torch layer), tried in
  /// order before bayesnn's own.
  TORCH_ARG(std::vector<Conversion>, conversions) = {};
};

/// What `to_bayesian` did with each module that holds trained parameters.
struct ConvertReport {
  /// One module: where it is ("features.0"; "" for the model itself), its C++ type
  /// ("torch::nn::LinearImpl"), and what became of it ("bayesnn::BayesLinear") or why it
  /// could not be converted.
  struct Entry {
    std::string path;  ///< the module's path in the model ("features.0"; "" for the model)
    std::string type;  ///< its C++ type ("torch::nn::LinearImpl")
    std::string what;  ///< what it became ("bayesnn::BayesLinear"), or why it was kept
    /// "fc1 (torch::nn::LinearImpl): bayesnn::BayesLinear", as the report and errors say it.
    std::string to_string() const;
  };
  std::vector<Entry> converted;      ///< replaced by a Bayesian layer
  std::vector<Entry> deterministic;  ///< kept as trained (point estimates), with the reason

  /// One line per entry: "converted fc1 (torch::nn::LinearImpl): bayesnn::BayesLinear".
  std::string to_string() const;
};

namespace detail {
class Converter;
}  // namespace detail

/// What a conversion hook (`Conversion`) gets: the options, where the module is, and the steps
/// every conversion shares (the prior, the posterior started at the trained tensors).
class ConvertContext {
 public:
  /// The options of this `to_bayesian` call (estimator, `log_sigma_init`, ...).
  const ConvertOptions& options() const { return options_; }
  /// The module's path in the model ("features.0"; "" for the model itself).
  const std::string& path() const { return path_; }

  /// The prior of every converted tensor: the options' `prior`, or with `moped_prior` a
  /// `Prior::gaussian` that `start_at` centres on the trained tensor.
  Prior prior() const;

  /// Starts q at the trained tensor: its mean at `trained`, its sigmas at `log_sigma_init` or
  /// MOPED's max(delta·|w|, floor) (and MOPED's prior there). Nothing where q is undefined.
  void start_at(const VariationalTensor& q, const at::Tensor& trained) const;

  /// `start_at` of a BayesLayer's weight and bias, after moving `layer` to the device and dtype
  /// of `weight`.
  template <typename Layer>
  void start_at(Layer& layer, const at::Tensor& weight, const at::Tensor& bias) const {
    layer.to(weight.device(), weight.scalar_type());
    start_at(layer.weight, weight);
    start_at(layer.bias, bias);
  }

  /// A hook's answer where the module cannot be converted: it stays deterministic and `why`
  /// goes into the report (and, in strict mode, the `ConvertError`).
  std::nullopt_t keep(std::string why);

 private:
  friend class detail::Converter;
  ConvertContext(const ConvertOptions& options, ConvertReport& report,
                 const torch::nn::Module& module, std::string path);

  const ConvertOptions& options_;
  ConvertReport& report_;
  const torch::nn::Module& module_;
  std::string path_;
};

}  // namespace bayesnn
