#include "bayesnn/prior_family.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>

namespace bayesnn {

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_parameters(
    at::IntArrayRef) const {
  return {};
}

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_parameters(
    at::IntArrayRef shape, int64_t) const {
  return initial_parameters(shape);
}

std::vector<std::pair<std::string, at::Tensor>> PriorFamily::initial_buffers(
    at::IntArrayRef) const {
  return {};
}

std::map<std::string, at::Tensor> PriorFamily::report(const PriorModuleImpl&) const { return {}; }

std::optional<GroupScales> PriorFamily::group_scales(const PriorModuleImpl&) const {
  return std::nullopt;
}

Prior::Prior(std::shared_ptr<const PriorFamily> family) : family_(std::move(family)) {
  TORCH_CHECK(family_ != nullptr, "Prior: the family is empty");
}

std::string to_string(const Prior& prior) { return prior.family().name(); }

}  // namespace bayesnn
