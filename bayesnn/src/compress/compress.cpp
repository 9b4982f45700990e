#include "bayesnn/compress.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "bayesnn/bayes_module.h"
#include "bayesnn/mode.h"

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

CompressionReport CompressionReport::then(const CompressionReport& next) const {
  TORCH_CHECK(next.layers.size() == layers.size(), "CompressionReport::then: the next report has ",
              next.layers.size(), " layers, this one ", layers.size());
  CompressionReport both = *this;
  for (size_t k = 0; k < layers.size(); ++k) {
    const auto& later = next.layers[k];
    auto& layer = both.layers[k];
    TORCH_CHECK(later.path == layer.path && later.unit_dim == layer.unit_dim,
                "CompressionReport::then: layer ", k, " is '", layer.path, "' here but '",
                later.path, "' in the next report");
    layer.units_kept = later.units_kept;
    layer.weights_kept = later.weights_kept;
    layer.max_log_alpha = later.max_log_alpha;
  }
  return both;
}

namespace {
void check_threshold(const std::string& what, double value) {
  TORCH_CHECK(!std::isnan(value), "compress: ", what, " must be a number, got ", value);
}

void check_options(const CompressOptions& options) {
  check_threshold("max_log_alpha", options.max_log_alpha());
  for (const auto& [path, value] : options.layer_max_log_alpha()) {
    check_threshold("the threshold of '" + path + "'", value);
  }
  TORCH_CHECK(std::isfinite(options.min_scale()) && options.min_scale() >= 0,
              "compress: min_scale must be non-negative and finite, got ", options.min_scale());
}
}  // namespace

double CompressOptions::threshold(const std::string& path) const {
  const auto found = layer_max_log_alpha_.find(path);
  return found == layer_max_log_alpha_.end() ? max_log_alpha_ : found->second;
}

at::Tensor kept_units(const GroupScales& scales, double max_log_alpha, double min_scale) {
  check_options(CompressOptions().max_log_alpha(max_log_alpha).min_scale(min_scale));
  at::NoGradGuard no_grad;
  const auto log_alpha = scales.log_alpha().to(at::kCPU, at::kDouble);
  const auto mean = scales.mean().to(at::kCPU, at::kDouble);
  return log_alpha.lt(max_log_alpha) & mean.abs().ge(min_scale);
}

at::Tensor kept_units(const GroupScales& scales, const CompressOptions& options) {
  return kept_units(scales, options.max_log_alpha(), options.min_scale());
}

namespace {

using Children = torch::OrderedDict<std::string, std::shared_ptr<torch::nn::Module>>;

// One Bayesian layer of the model, as compress sees it.
struct Layer {
  size_t child = 0;  // its index among the model's children
  std::string path;
  const BayesModule* module = nullptr;  // whose hook rebuilds it
  const VariationalTensor* weight = nullptr;
  const VariationalTensor* bias = nullptr;
  int64_t unit_dim = 1;  // where its group scales sit (1 without)
  double threshold = 0;
  at::Tensor in_on;   // bool [in]: the input units its own scales keep
  at::Tensor out_on;  // bool [out]: the output units its own scales keep
  at::Tensor in;      // bool [in]: the input units the compressed layer keeps
  at::Tensor out;     // bool [out]: the output units it keeps
  const SelectUnitsImpl* selected = nullptr;  // a selection just before it (an earlier compress)
  at::Tensor select;        // the inputs to select before it, where the producer keeps more
  int64_t select_from = 0;  // the units `select` selects from
};

// A Bayesian module with a variational "weight" [out, in, ...] (and maybe a "bias" [out]).
std::optional<Layer> as_layer(const torch::nn::Module& module) {
  const auto* bayes = dynamic_cast<const BayesModule*>(&module);
  if (bayes == nullptr) return std::nullopt;
  Layer layer;
  layer.module = bayes;
  for (const auto& [name, tensor] : bayes->variational_tensors()) {
    if (name == "weight") layer.weight = &tensor;
    if (name == "bias") layer.bias = &tensor;
  }
  if (layer.weight == nullptr || !layer.weight->defined() || layer.weight->mean().dim() < 2) {
    return std::nullopt;
  }
  return layer;
}

// Modules that act on each unit alone and keep zero at zero: what may sit after a layer that
// drops its own output units (their outputs are zero with their scales).
bool keeps_zero(const torch::nn::Module& m) {
  using namespace torch::nn;
  return dynamic_cast<const ReLUImpl*>(&m) || dynamic_cast<const ReLU6Impl*>(&m) ||
         dynamic_cast<const LeakyReLUImpl*>(&m) || dynamic_cast<const ELUImpl*>(&m) ||
         dynamic_cast<const SELUImpl*>(&m) || dynamic_cast<const GELUImpl*>(&m) ||
         dynamic_cast<const SiLUImpl*>(&m) || dynamic_cast<const TanhImpl*>(&m) ||
         dynamic_cast<const DropoutImpl*>(&m) || dynamic_cast<const Dropout2dImpl*>(&m) ||
         dynamic_cast<const IdentityImpl*>(&m) || dynamic_cast<const MaxPool1dImpl*>(&m) ||
         dynamic_cast<const MaxPool2dImpl*>(&m) || dynamic_cast<const AvgPool1dImpl*>(&m) ||
         dynamic_cast<const AvgPool2dImpl*>(&m);
}

// Modules that act on each unit (channel) alone: what may sit between two pruned layers.
bool acts_per_unit(const torch::nn::Module& m) {
  using namespace torch::nn;
  return keeps_zero(m) || dynamic_cast<const SigmoidImpl*>(&m) ||
         dynamic_cast<const SoftplusImpl*>(&m);
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
  const auto& prior = from.prior();
  const bool grouped = prior->group_scales().has_value();
  const auto& units = prior->unit_dim() == 1 ? in : out;
  const auto copy = [&](const std::string& name, const at::Tensor& value, at::Tensor target) {
    if (value.sizes().vec() == shape) {
      target.copy_(slice(value));
    } else if (value.dim() == 0) {
      target.copy_(value);
    } else if (value.dim() == 1 && grouped && units.defined() &&
               value.size(0) == shape[static_cast<size_t>(prior->unit_dim())]) {
      target.copy_(value.index_select(0, units.to(value.device())));
    } else if (value.dim() == 1 && value.size(0) == shape[0]) {
      target.copy_(value.index_select(0, out.to(value.device())));
    } else {
      TORCH_CHECK(false, "compress: '", path, "': its prior ", to_string(prior->prior()),
                  " holds '", name, "' of shape ", value.sizes(),
                  ", which compress cannot slice to the kept units");
    }
  };
  for (const auto& item : prior->named_parameters(/*recurse=*/false)) {
    copy(item.key(), item.value(), to.prior()->named_parameters(false)[item.key()]);
  }
  for (const auto& item : prior->named_buffers(/*recurse=*/false)) {
    copy(item.key(), item.value(), to.prior()->named_buffers(false)[item.key()]);
  }
}

// The model's Bayesian layers with the units their own scales keep.
std::vector<Layer> find_layers(const Children& children, const CompressOptions& options) {
  std::vector<Layer> layers;
  for (size_t i = 0; i < children.size(); ++i) {
    auto layer = as_layer(*children[i].value());
    if (!layer) continue;
    layer->child = i;
    layer->path = children[i].key();
    if (i > 0) layer->selected = children[i - 1].value()->as<SelectUnitsImpl>();
    const auto& mean = layer->weight->mean();
    layer->in_on = at::ones({mean.size(1)}, at::kBool);
    layer->out_on = at::ones({mean.size(0)}, at::kBool);
    layer->threshold = options.threshold(layer->path);
    if (const auto scales = layer->weight->group_scales()) {
      layer->unit_dim = scales->dim;
      (scales->dim == 1 ? layer->in_on : layer->out_on) =
          kept_units(*scales, layer->threshold, options.min_scale());
    }
    layers.push_back(*layer);
  }
  TORCH_CHECK(std::any_of(layers.begin(), layers.end(),
                          [](const Layer& l) { return l.weight->group_scales().has_value(); }),
              "compress: the model has no layer with group scales (a prior such as "
              "Prior::group_horseshoe or Prior::group_normal_jeffreys on a Bayesian layer at its "
              "top level)");
  return layers;
}

// Which units `layer` and its consumer `next` keep between them, through the modules between
// (each acting on one unit alone), a Flatten (a channel kept while any of its features is) and
// a selection an earlier compress left before `next` (merged with the new one).
void connect(Layer& layer, Layer& next, const Children& children) {
  const bool drops_outputs = !layer.out_on.all().item<bool>();
  const bool drops_inputs = !next.in_on.all().item<bool>();
  bool flattened = false;
  for (size_t i = layer.child + 1; i < next.child; ++i) {
    const auto& module = *children[i].value();
    if (dynamic_cast<const torch::nn::FlattenImpl*>(&module) != nullptr) {
      flattened = true;
      continue;
    }
    if (next.selected != nullptr && i + 1 == next.child) continue;  // merged below
    TORCH_CHECK(!drops_outputs || keeps_zero(module), "compress: '", layer.path, "' drops ",
                (~layer.out_on).sum().item<int64_t>(), " of its output units, but '",
                children[i].key(), "' (", module.name(), ") sits between it and '", next.path,
                "', and compress can only remove them through modules that act on each unit "
                "alone and keep zero at zero (ReLU, tanh and other activations, dropout, "
                "pooling, Flatten, Identity)");
    TORCH_CHECK(!drops_inputs || acts_per_unit(module), "compress: '", next.path, "' prunes ",
                (~next.in_on).sum().item<int64_t>(), " of its input units, but '",
                children[i].key(), "' (", module.name(), ") sits between it and '", layer.path,
                "', and compress can only shrink through modules that act on each unit "
                "alone (activations, dropout, pooling, Flatten, Identity)");
  }
  // The features between them: the producer's outputs (flattened, its channels × positions),
  // of which `next` takes all or those an earlier selection kept.
  const int64_t out = layer.out_on.size(0);
  const int64_t in = next.in_on.size(0);
  const auto* selected = next.selected;
  if (selected != nullptr) {
    TORCH_CHECK(selected->units > 0, "compress: the SelectUnits before '", next.path,
                "' does not say how many units it selects from (its `units` is ", selected->units,
                ")");
    TORCH_CHECK(
        selected->indices.numel() == in && selected->indices.lt(selected->units).all().item<bool>(),
        "compress: the SelectUnits before '", next.path, "' selects ", selected->indices.numel(),
        " of ", selected->units, " units, but '", next.path, "' takes ", in, " (every index below ",
        selected->units, ")");
  }
  const int64_t features = selected != nullptr ? selected->units : in;
  TORCH_CHECK(flattened || features == out, "compress: '", layer.path, "' has ", out,
              " outputs but '", next.path, "' takes ", features, " input units");
  TORCH_CHECK(features % out == 0, "compress: '", next.path, "' takes ", features,
              " flattened features, not a multiple of the ", out, " channels of '", layer.path,
              "'");
  const int64_t positions = features / out;
  const auto feature = selected != nullptr ? selected->indices.cpu() : at::arange(in, at::kLong);
  const auto channel = at::div(feature, positions, "floor");
  next.in = next.in_on & layer.out_on.index_select(0, channel);
  layer.out = at::zeros({out}, at::kBool).index_fill_(0, channel.masked_select(next.in), true);
  // The kept inputs' places among the compressed producer's features: selected unless all.
  const auto kept = feature.masked_select(next.in);
  const auto rank = layer.out.to(at::kLong).cumsum(0) - 1;
  const auto place =
      rank.index_select(0, at::div(kept, positions, "floor")) * positions + kept % positions;
  const int64_t now = layer.out.sum().item<int64_t>() * positions;
  if (!place.equal(at::arange(now, at::kLong))) {
    next.select = place;
    next.select_from = now;
  }
}

bool has_bias(const Layer& layer) { return layer.bias != nullptr && layer.bias->defined(); }

// The compressed layer: its hook's module with the kept units' slices.
torch::nn::AnyModule shrink(const Layer& layer, const at::Tensor& in, const at::Tensor& out) {
  torch::nn::AnyModule rebuilt;
  try {
    rebuilt = layer.module->with_units(in.numel(), out.numel());
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "compress: '", layer.path, "': ", error.what_without_backtrace());
  }
  rebuilt.ptr()->to(layer.weight->mean().device());
  const auto small = as_layer(*rebuilt.ptr());
  TORCH_CHECK(small && small->weight->mean().size(0) == out.numel() &&
                  small->weight->mean().size(1) == in.numel() &&
                  has_bias(*small) == has_bias(layer),
              "compress: '", layer.path, "': its with_units(", in.numel(), ", ", out.numel(),
              ") did not return a layer with a weight [", out.numel(), ", ", in.numel(),
              ", ...] and the same bias");
  copy_sliced(layer.path, *layer.weight, *small->weight, out, in);
  if (has_bias(layer)) copy_sliced(layer.path, *layer.bias, *small->bias, out, at::Tensor());
  return rebuilt;
}

}  // namespace

Compressed compress(const torch::nn::Sequential& model, const CompressOptions& options) {
  check_options(options);
  const auto children = model->named_children();
  auto layers = find_layers(children, options);
  auto& first = layers.front();
  first.in = first.in_on;
  if (first.selected != nullptr) {  // before the first layer, a selection merges with the new
    first.select = first.selected->indices.cpu().masked_select(first.in);
    first.select_from = first.selected->units;
  } else if (!first.in.all().item<bool>()) {
    first.select = indices_of(first.in);
    first.select_from = first.in.size(0);
  }
  for (size_t k = 0; k + 1 < layers.size(); ++k) connect(layers[k], layers[k + 1], children);
  layers.back().out = at::ones({layers.back().out_on.size(0)}, at::kBool);
  for (const auto& layer : layers) {
    TORCH_CHECK(layer.in.any().item<bool>() && layer.out.any().item<bool>(), "compress: '",
                layer.path, "' would keep none of its ",
                layer.unit_dim == 1 ? "input units" : "output units", " (threshold ",
                layer.threshold, ", min_scale ", options.min_scale(),
                "): a network without them computes nothing from its input");
  }

  Compressed result;
  size_t k = 0;
  auto child = model->begin();
  for (size_t i = 0; i < children.size(); ++i, ++child) {
    if (k < layers.size() && layers[k].selected != nullptr && layers[k].child == i + 1) {
      continue;  // the layer's selection, merged into the one pushed with it
    }
    if (k >= layers.size() || layers[k].child != i) {
      result.network->push_back(children[i].key(), child->clone());
      continue;
    }
    const auto& layer = layers[k++];
    const auto in = indices_of(layer.in);
    const auto out = indices_of(layer.out);
    const auto& weight = layer.weight->mean();
    if (layer.select.defined()) {
      result.network->push_back(
          layer.path + "_select",
          SelectUnits(layer.select.to(layer.weight->mean().device()), layer.select_from));
    }
    const bool whole = in.numel() == weight.size(1) && out.numel() == weight.size(0);
    auto rebuilt = whole ? child->clone() : shrink(layer, in, out);
    const int64_t kernel = weight.numel() / (weight.size(0) * weight.size(1));
    const bool on_outputs = layer.unit_dim == 0;
    result.report.layers.push_back({layer.path, layer.unit_dim,
                                    on_outputs ? weight.size(0) : weight.size(1),
                                    on_outputs ? out.numel() : in.numel(), weight.numel(),
                                    in.numel() * out.numel() * kernel, layer.threshold});
    result.network->push_back(layer.path, std::move(rebuilt));
  }
  return result;
}

int64_t multiply_adds(const torch::nn::Sequential& model, const at::Tensor& example) {
  TORCH_CHECK(example.dim() >= 1 && example.size(0) == 1,
              "multiply_adds: the example must be one input of batch size 1, got shape ",
              example.sizes());
  auto& net = *model.ptr();
  ModeGuard guard(net);
  set_mode(net, Mode::kMean);
  net.eval();
  at::NoGradGuard no_grad;
  int64_t total = 0;
  auto x = example;
  for (auto& child : net) {
    x = child.forward(x);
    const auto& module = *child.ptr();
    const auto parameters = module.named_parameters(/*recurse=*/false);
    const auto* weight = parameters.find("weight_mean");
    if (weight == nullptr) weight = parameters.find("weight");
    if (weight != nullptr && weight->dim() >= 2) total += x.numel() * (*weight)[0].numel();
  }
  return total;
}

}  // namespace bayesnn
