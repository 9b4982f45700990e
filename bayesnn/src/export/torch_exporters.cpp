#include "export/torch_exporters.h"

#include <cstddef>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "export/script_literals.h"
#include "layers/conv_options.h"

namespace bayesnn::detail {
namespace {

using Module = torch::nn::Module;

// One row: a module type (matched with dynamic_cast, so subclasses match too) and the
// TorchScript statements it exports as.
template <typename T>
TorchExporter row(std::string name, std::function<void(const T&, ExportContext&)> emit) {
  return {std::move(name), [](const Module& m) { return dynamic_cast<const T*>(&m) != nullptr; },
          [emit = std::move(emit)](const Module& m, ExportContext& ctx) {
            emit(dynamic_cast<const T&>(m), ctx);
          }};
}

// A row for a module whose export is one fixed statement.
template <typename T>
TorchExporter statement(std::string name, std::string code) {
  return row<T>(std::move(name),
                [code = std::move(code)](const T&, ExportContext& ctx) { ctx.emit(code); });
}

void emit_linear(const torch::nn::LinearImpl& linear, ExportContext& ctx) {
  const std::string weight = ctx.tensor("weight", linear.weight);
  const std::string bias = ctx.tensor("bias", linear.bias);
  ctx.emit("x = torch.linear(x, " + weight + ", " + bias + ")");
}

template <size_t D, typename Conv>
void emit_conv(const Conv& conv, ExportContext& ctx) {
  const auto padding = torch_conv_padding<D>(conv.options);
  if (padding.non_zero_mode) ctx.unsupported("(only zero padding_mode is supported)");
  const std::string weight = ctx.tensor("weight", conv.weight);
  const std::string bias = ctx.tensor("bias", conv.bias);
  ctx.emit(conv_statement<D>(weight, bias, conv.options.stride(), padding.script,
                             conv.options.dilation(), conv.options.groups()));
}

void emit_max_pool2d(const torch::nn::MaxPool2dImpl& pool, ExportContext& ctx) {
  const auto& o = pool.options;
  ctx.emit(fmt::format("x = torch.max_pool2d(x, {}, {}, {}, {}, {})",
                       list_literal(*o.kernel_size()), list_literal(*o.stride()),
                       list_literal(*o.padding()), list_literal(*o.dilation()),
                       bool_literal(o.ceil_mode())));
}

void emit_avg_pool2d(const torch::nn::AvgPool2dImpl& pool, ExportContext& ctx) {
  const auto& o = pool.options;
  ctx.emit(fmt::format("x = torch.avg_pool2d(x, {}, {}, {}, {}, {}, {})",
                       list_literal(*o.kernel_size()), list_literal(*o.stride()),
                       list_literal(*o.padding()), bool_literal(o.ceil_mode()),
                       bool_literal(o.count_include_pad()),
                       o.divisor_override() ? std::to_string(*o.divisor_override()) : "None"));
}

// Evaluation: the running statistics, as the C++ module in eval().
template <typename BatchNorm>
void emit_batch_norm(const BatchNorm& module, ExportContext& ctx) {
  const auto& o = module.options;
  const std::string weight = o.affine() ? ctx.tensor("weight", module.weight) : "None";
  const std::string bias = o.affine() ? ctx.tensor("bias", module.bias) : "None";
  if (o.track_running_stats()) {
    const std::string running_mean = ctx.buffer("running_mean", module.running_mean);
    const std::string running_var = ctx.buffer("running_var", module.running_var);
    ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, {}, {}, False, 0.0, {}, False)", weight,
                         bias, running_mean, running_var, float_literal(o.eps())));
  } else {
    ctx.emit(fmt::format("x = torch.batch_norm(x, {}, {}, None, None, True, 0.0, {}, False)",
                         weight, bias, float_literal(o.eps())));
  }
}

const std::vector<TorchExporter>& exporters() {
  using namespace torch::nn;
  static const std::vector<TorchExporter> table = {
      row<LinearImpl>("Linear", emit_linear),
      row<Conv1dImpl>("Conv1d", emit_conv<1, Conv1dImpl>),
      row<Conv2dImpl>("Conv2d", emit_conv<2, Conv2dImpl>),
      row<MaxPool2dImpl>("MaxPool2d", emit_max_pool2d),
      row<AvgPool2dImpl>("AvgPool2d", emit_avg_pool2d),
      row<BatchNorm1dImpl>("BatchNorm1d", emit_batch_norm<BatchNorm1dImpl>),
      row<BatchNorm2dImpl>("BatchNorm2d", emit_batch_norm<BatchNorm2dImpl>),
      row<FlattenImpl>("Flatten",
                       [](const FlattenImpl& flatten, ExportContext& ctx) {
                         ctx.emit(fmt::format("x = torch.flatten(x, {}, {})",
                                              flatten.options.start_dim(),
                                              flatten.options.end_dim()));
                       }),
      // The identity: dropout is not part of the variational posterior.
      statement<DropoutImpl>("Dropout", ""),
      statement<Dropout2dImpl>("Dropout2d", ""),
      statement<IdentityImpl>("Identity", ""),
      statement<ReLUImpl>("ReLU", "x = torch.relu(x)"),
      statement<ReLU6Impl>("ReLU6", "x = torch.hardtanh(x, 0.0, 6.0)"),
      row<LeakyReLUImpl>("LeakyReLU",
                         [](const LeakyReLUImpl& m, ExportContext& ctx) {
                           ctx.emit("x = torch.leaky_relu(x, " +
                                    float_literal(m.options.negative_slope()) + ")");
                         }),
      row<ELUImpl>("ELU",
                   [](const ELUImpl& m, ExportContext& ctx) {
                     ctx.emit("x = torch.elu(x, " + float_literal(m.options.alpha()) + ")");
                   }),
      statement<SELUImpl>("SELU", "x = torch.selu(x)"),
      row<GELUImpl>("GELU",
                    [](const GELUImpl& m, ExportContext& ctx) {
                      ctx.emit("x = torch.gelu(x, approximate=\"" + m.options.approximate() +
                               "\")");
                    }),
      statement<SiLUImpl>("SiLU", "x = torch.silu(x)"),
      statement<TanhImpl>("Tanh", "x = torch.tanh(x)"),
      statement<SigmoidImpl>("Sigmoid", "x = torch.sigmoid(x)"),
      row<SoftplusImpl>("Softplus",
                        [](const SoftplusImpl& m, ExportContext& ctx) {
                          ctx.emit("x = torch.softplus(x, " + float_literal(m.options.beta()) +
                                   ", " + float_literal(m.options.threshold()) + ")");
                        }),
      row<SoftmaxImpl>("Softmax",
                       [](const SoftmaxImpl& m, ExportContext& ctx) {
                         ctx.emit(fmt::format("x = torch.softmax(x, {})", m.options.dim()));
                       }),
      row<LogSoftmaxImpl>("LogSoftmax",
                          [](const LogSoftmaxImpl& m, ExportContext& ctx) {
                            ctx.emit(fmt::format("x = torch.log_softmax(x, {})", m.options.dim()));
                          }),
  };
  return table;
}

}  // namespace

const TorchExporter* find_torch_exporter(const torch::nn::Module& module) {
  for (const auto& exporter : exporters()) {
    if (exporter.matches(module)) return &exporter;
  }
  return nullptr;
}

std::string torch_exported_modules() {
  std::string names;
  for (const auto& exporter : exporters()) names += (names.empty() ? "" : ", ") + exporter.name;
  return names;
}

}  // namespace bayesnn::detail
