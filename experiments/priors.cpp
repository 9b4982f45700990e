#include "priors.h"

#include <algorithm>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bayesnn/prior.h"
#include "networks.h"

namespace bayesnn::experiment {

const std::vector<PriorChoice>& prior_choices() {
  static const std::vector<PriorChoice> choices{
      {"fixed", "fixed N(0, prior-sd²) (the default)",
       [](const NetworkSpec& spec) { return Prior::fixed(spec.prior_sd); },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"sd", spec.prior_sd}};
       }},
      {"hierarchical", "hierarchical (one sd per tensor, HalfNormal(tau))",
       [](const NetworkSpec& spec) { return Prior::hierarchical(spec.tau, spec.prior_sd); },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"tau", spec.tau}, {"init_sd", spec.prior_sd}};
       }},
      {"scale-mixture",
       "scale-mixture (mixture-pi N(0, mixture-sigma1²) + (1 - mixture-pi) N(0, "
       "mixture-sigma2²))",
       [](const NetworkSpec& spec) {
         return Prior::scale_mixture(spec.mixture_pi, spec.mixture_sigma1, spec.mixture_sigma2);
       },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"pi", spec.mixture_pi},
                               {"sigma1", spec.mixture_sigma1},
                               {"sigma2", spec.mixture_sigma2}};
       }},
      {"unit-hierarchical", "unit-hierarchical (one sd per output unit, HalfNormal(tau))",
       [](const NetworkSpec& spec) { return Prior::unit_hierarchical(spec.tau, spec.prior_sd); },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"tau", spec.tau}, {"init_sd", spec.prior_sd}};
       }},
      {"group-horseshoe",
       "group-horseshoe (non-centred, one half-Cauchy scale per input unit under a global "
       "C+(0, group-tau0); --compress prunes the units it switches off)",
       [](const NetworkSpec& spec) {
         return Prior::group_horseshoe(spec.group_tau0, spec.group_init_log_sd);
       },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"tau0", spec.group_tau0}, {"init_log_sd", spec.group_init_log_sd}};
       }},
      {"group-nj",
       "group-nj (non-centred, one normal-Jeffreys scale per input unit; --compress prunes)",
       [](const NetworkSpec& spec) { return Prior::group_normal_jeffreys(spec.group_init_log_sd); },
       [](const NetworkSpec& spec) {
         return nlohmann::json{{"init_log_sd", spec.group_init_log_sd}};
       }},
  };
  return choices;
}

std::vector<std::string> prior_names() {
  std::vector<std::string> names;
  for (const auto& choice : prior_choices()) names.push_back(choice.name);
  return names;
}

const PriorChoice& prior_choice(const std::string& name) {
  const auto& choices = prior_choices();
  const auto found = std::find_if(choices.begin(), choices.end(),
                                  [&](const PriorChoice& choice) { return choice.name == name; });
  TORCH_CHECK(found != choices.end(), "unknown prior '", name, "': expected one of ",
              fmt::format("{}", fmt::join(prior_names(), ", ")));
  return *found;
}

}  // namespace bayesnn::experiment
