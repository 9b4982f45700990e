#include <ostream>
#include <string>
#include <utility>

#include "bayesnn/compress.h"

namespace bayesnn {
// SelectUnits: the units a compressed model keeps where the layer before cannot drop the others.

SelectUnitsImpl::SelectUnitsImpl(at::Tensor indices_, int64_t units_)
    : indices(std::move(indices_)), units(units_) {
  reset();
}

void SelectUnitsImpl::reset() {
  indices = register_buffer("indices",
                            indices.defined() ? indices.to(at::kLong) : at::empty({0}, at::kLong));
}

void SelectUnitsImpl::pretty_print(std::ostream& stream) const {
  stream << "bayesnn::SelectUnits(" << indices.numel();
  if (units >= 0) stream << " of " << units;
  stream << " units)";
}

void SelectUnitsImpl::export_torchscript(ExportContext& ctx) const {
  ctx.emit("x = torch.index_select(x, 1, " + ctx.buffer("indices", indices) + ")");
}

torch::Tensor SelectUnitsImpl::forward(const torch::Tensor& x) {
  return x.index_select(1, indices);
}

}  // namespace bayesnn
