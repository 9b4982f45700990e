#include "bayesnn/compress.h"

#include <cmath>
#include <memory>
#include <optional>
#include <ostream>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "bayesnn/bayes_conv1d.h"
#include "bayesnn/bayes_conv2d.h"
#include "bayesnn/bayes_linear.h"

namespace bayesnn {

int64_t CompressionReport::weights() const {
  int64_t total = 0;
  for (const auto& layer : layers) total += layer.weights;
  return total;
}

int64_t CompressionReport::weights_kept() const {
  int64_t total = 0;
  for (const auto& layer : layers) total += layer.weights_kept;
  return total;
}

double CompressionReport::kept_fraction() const {
  return weights() == 0 ? 1.0 : static_cast<double>(weights_kept()) / weights();
}

double CompressionReport::ratio() const {
  return weights_kept() == 0 ? INFINITY : static_cast<double>(weights()) / weights_kept();
}

SelectUnitsImpl::SelectUnitsImpl(at::Tensor indices_) : indices(std::move(indices_)) { reset(); }

void SelectUnitsImpl::reset() {
  indices = register_buffer("indices",
                            indices.defined() ? indices.to(at::kLong) : at::empty({0}, at::kLong));
}

void SelectUnitsImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::SelectUnits(" << indices.numel() << " units)";
}

void SelectUnitsImpl::export_torchscript(ExportContext& ctx) const {
  ctx.emit("x = torch.index_select(x, 1, " + ctx.buffer("indices", indices) + ")");
}

torch::Tensor SelectUnitsImpl::forward(const torch::Tensor& x) {
  return x.index_select(1, indices);
}

namespace {
void check_options(const CompressOptions& options) {
  TORCH_CHECK(!std::isnan(options.max_log_alpha()),
              "compress: max_log_alpha must be a number, got ", options.max_log_alpha());
  TORCH_CHECK(std::isfinite(options.min_scale()) && options.min_scale() >= 0,
              "compress: min_scale must be non-negative and finite, got ", options.min_scale());
}
}  // namespace

at::Tensor kept_units(const GroupScales& scales, const CompressOptions& options) {
  check_options(options);
  at::NoGradGuard no_grad;
  const auto log_alpha = scales.log_alpha().to(at::kCPU, at::kDouble);
  const auto mean = scales.mean().to(at::kCPU, at::kDouble);
  return log_alpha.lt(options.max_log_alpha()) & mean.abs().ge(options.min_scale());
}

namespace {

// One Bayesian layer of the model, as compress sees it.
struct Layer {
  size_t child = 0;  // its index among the model's children
  std::string path;
  const VariationalTensor* weight = nullptr;
  const VariationalTensor* bias = nullptr;
  int64_t groups = 1;
  at::Tensor on;      // bool [in]: the input units its group scales keep (all without)
  at::Tensor keep;    // bool [out]: the output units the next layer uses
  at::Tensor select;  // the inputs to select before it, where the producer keeps more
  torch::nn::AnyModule (*rebuild)(const torch::nn::Module&, int64_t, int64_t) = nullptr;
};

template <typename Impl, typename Holder>
torch::nn::AnyModule rebuild_linear(const torch::nn::Module& module, int64_t in, int64_t out) {
  auto options = dynamic_cast<const Impl&>(module).options;
  options.in_features(in).out_features(out);
  return torch::nn::AnyModule(Holder(options));
}

template <typename Impl, typename Holder>
torch::nn::AnyModule rebuild_conv(const torch::nn::Module& module, int64_t in, int64_t out) {
  auto options = dynamic_cast<const Impl&>(module).options;
  options.in_channels(in).out_channels(out);
  return torch::nn::AnyModule(Holder(options));
}

std::optional<Layer> as_layer(const torch::nn::Module& module) {
  Layer layer;
  if (const auto* l = dynamic_cast<const BayesLinearImpl*>(&module)) {
    layer.weight = &l->weight;
    layer.bias = &l->bias;
    layer.rebuild = rebuild_linear<BayesLinearImpl, BayesLinear>;
  } else if (const auto* c = dynamic_cast<const BayesConv2dImpl*>(&module)) {
    layer.weight = &c->weight;
    layer.bias = &c->bias;
    layer.groups = c->options.groups();
    layer.rebuild = rebuild_conv<BayesConv2dImpl, BayesConv2d>;
  } else if (const auto* c1 = dynamic_cast<const BayesConv1dImpl*>(&module)) {
    layer.weight = &c1->weight;
    layer.bias = &c1->bias;
    layer.groups = c1->options.groups();
    layer.rebuild = rebuild_conv<BayesConv1dImpl, BayesConv1d>;
  } else {
    return std::nullopt;
  }
  return layer;
}

// Modules that act on each unit (channel) alone: what may sit between two pruned layers.
bool acts_per_unit(const torch::nn::Module& m) {
  using namespace torch::nn;
  return dynamic_cast<const ReLUImpl*>(&m) || dynamic_cast<const ReLU6Impl*>(&m) ||
         dynamic_cast<const LeakyReLUImpl*>(&m) || dynamic_cast<const ELUImpl*>(&m) ||
         dynamic_cast<const SELUImpl*>(&m) || dynamic_cast<const GELUImpl*>(&m) ||
         dynamic_cast<const SiLUImpl*>(&m) || dynamic_cast<const TanhImpl*>(&m) ||
         dynamic_cast<const SigmoidImpl*>(&m) || dynamic_cast<const SoftplusImpl*>(&m) ||
         dynamic_cast<const DropoutImpl*>(&m) || dynamic_cast<const Dropout2dImpl*>(&m) ||
         dynamic_cast<const IdentityImpl*>(&m) || dynamic_cast<const MaxPool1dImpl*>(&m) ||
         dynamic_cast<const MaxPool2dImpl*>(&m) || dynamic_cast<const AvgPool1dImpl*>(&m) ||
         dynamic_cast<const AvgPool2dImpl*>(&m);
}

at::Tensor indices_of(const at::Tensor& mask) { return mask.nonzero().view({-1}); }

// Copies `from` sliced to the kept rows `out` and columns `in` (undefined: a bias) into `to`,
// its posterior and its prior's tensors.
void copy_sliced(const std::string& path, const VariationalTensor& from,
                 const VariationalTensor& to, const at::Tensor& out, const at::Tensor& in) {
  if (!from.defined()) return;
  at::NoGradGuard no_grad;
  const auto shape = from.mean().sizes().vec();
  const auto slice = [&](const at::Tensor& t) {
    auto sliced = t.index_select(0, out.to(t.device()));
    return in.defined() ? sliced.index_select(1, in.to(t.device())) : sliced;
  };
  to.mean().copy_(slice(from.mean()));
  to.log_sigma().copy_(slice(from.log_sigma()));
  const bool grouped = from.group_scales().has_value();
  const auto copy = [&](const std::string& name, const at::Tensor& value, at::Tensor target) {
    if (value.sizes().vec() == shape) {
      target.copy_(slice(value));
    } else if (value.dim() == 0) {
      target.copy_(value);
    } else if (value.dim() == 1 && grouped && in.defined() && value.size(0) == shape[1]) {
      target.copy_(value.index_select(0, in.to(value.device())));
    } else if (value.dim() == 1 && value.size(0) == shape[0]) {
      target.copy_(value.index_select(0, out.to(value.device())));
    } else {
      TORCH_CHECK(false, "compress: '", path, "': its prior ", to_string(from.prior()->prior()),
                  " holds '", name, "' of shape ", value.sizes(),
                  ", which compress cannot slice to the kept units");
    }
  };
  for (const auto& item : from.prior()->named_parameters(/*recurse=*/false)) {
    copy(item.key(), item.value(), to.prior()->named_parameters(false)[item.key()]);
  }
  for (const auto& item : from.prior()->named_buffers(/*recurse=*/false)) {
    copy(item.key(), item.value(), to.prior()->named_buffers(false)[item.key()]);
  }
}

}  // namespace

Compressed compress(const torch::nn::Sequential& model, const CompressOptions& options) {
  check_options(options);
  const auto children = model->named_children();
  std::vector<Layer> layers;
  for (size_t i = 0; i < children.size(); ++i) {
    auto layer = as_layer(*children[i].value());
    if (!layer) continue;
    layer->child = i;
    layer->path = children[i].key();
    const auto scales = layer->weight->group_scales();
    layer->on = scales ? kept_units(*scales, options)
                       : at::ones({layer->weight->mean().size(1)}, at::kBool);
    layers.push_back(*layer);
  }
  TORCH_CHECK(std::any_of(layers.begin(), layers.end(),
                          [](const Layer& l) { return l.weight->group_scales().has_value(); }),
              "compress: the model has no layer with group scales (a prior such as "
              "Prior::group_horseshoe or Prior::group_normal_jeffreys on a BayesLinear, "
              "BayesConv1d or BayesConv2d at its top level)");

  // Which outputs each layer keeps: the inputs its consumer keeps, through a Flatten by channel.
  for (size_t k = 0; k < layers.size(); ++k) {
    auto& layer = layers[k];
    const int64_t out = layer.weight->mean().size(0);
    if (k + 1 == layers.size()) {
      layer.keep = at::ones({out}, at::kBool);
      break;
    }
    auto& next = layers[k + 1];
    const bool prunes = !next.on.all().item<bool>();
    bool flattened = false;
    for (size_t i = layer.child + 1; i < next.child; ++i) {
      const auto& module = *children[i].value();
      if (dynamic_cast<const torch::nn::FlattenImpl*>(&module) != nullptr) {
        flattened = true;
        continue;
      }
      TORCH_CHECK(!prunes || acts_per_unit(module), "compress: '", next.path, "' prunes ",
                  (~next.on).sum().item<int64_t>(), " of its input units, but '", children[i].key(),
                  "' (", module.name(), ") sits between it and '", layer.path,
                  "', and compress can only shrink through modules that act on each unit "
                  "alone (activations, dropout, pooling, Flatten, Identity)");
    }
    const int64_t in = next.on.size(0);
    if (!prunes) {
      layer.keep = at::ones({out}, at::kBool);
      continue;
    }
    if (!flattened) {
      TORCH_CHECK(in == out, "compress: '", layer.path, "' has ", out, " outputs but '", next.path,
                  "' takes ", in, " input units");
      layer.keep = next.on.clone();
      continue;
    }
    TORCH_CHECK(in % out == 0, "compress: '", next.path, "' takes ", in,
                " flattened features, not a multiple of the ", out, " channels of '", layer.path,
                "'");
    layer.keep = next.on.view({out, in / out}).any(1);
    const auto produced = layer.keep.repeat_interleave(in / out);
    const auto wanted = next.on.masked_select(produced);
    if (!wanted.all().item<bool>()) next.select = indices_of(wanted);
  }
  if (!layers.empty() && !layers.front().on.all().item<bool>()) {
    layers.front().select = indices_of(layers.front().on);
  }

  Compressed result;
  const auto device = layers.front().weight->mean().device();
  size_t k = 0;
  auto child = model->begin();
  for (size_t i = 0; i < children.size(); ++i, ++child) {
    if (k >= layers.size() || layers[k].child != i) {
      result.network->push_back(children[i].key(), child->clone());
      continue;
    }
    const auto& layer = layers[k++];
    const auto in = indices_of(layer.on);
    const auto out = indices_of(layer.keep);
    const auto& weight = layer.weight->mean();
    TORCH_CHECK(
        layer.groups == 1 || (in.numel() == weight.size(1) && out.numel() == weight.size(0)),
        "compress: '", layer.path, "' has groups=", layer.groups,
        ", and compress cannot remove units of a grouped convolution");
    if (layer.select.defined()) {
      result.network->push_back(layer.path + "_select", SelectUnits(layer.select));
    }
    auto rebuilt = layer.rebuild(*children[i].value(), in.numel(), out.numel());
    rebuilt.ptr()->to(device);
    auto small = as_layer(*rebuilt.ptr());
    copy_sliced(layer.path, *layer.weight, *small->weight, out, in);
    copy_sliced(layer.path, *layer.bias, *small->bias, out, at::Tensor());
    const int64_t kernel = weight.numel() / (weight.size(0) * weight.size(1));
    result.report.layers.push_back({layer.path, weight.size(1), in.numel(), weight.numel(),
                                    in.numel() * out.numel() * kernel});
    result.network->push_back(layer.path, std::move(rebuilt));
  }
  return result;
}

}  // namespace bayesnn
