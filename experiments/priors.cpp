#include "priors.h"

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bayesnn/prior.h"

namespace bayesnn::experiment {
namespace {

// The group priors' schedule for Bayesian compression (docs/results.md, "Compression"): the
// scales at ten times the weights' rate, so that units switch off within tens of epochs, and v's
// sds clipped at 0.2 (Louizos et al.'s variance clip, log 0.2), without which the fit decays as
// v's sds grow towards their N(0, 1) prior.
constexpr double kGroupScaleLr = 1e-2;
const double kGroupMaxLogSigma = std::log(0.2);

}  // namespace

const std::vector<PriorChoice>& prior_choices() {
  using Settings = const PriorSettings&;
  static const std::vector<PriorChoice> choices{
      {"fixed",
       "fixed N(0, prior-sd²) (the default)",
       [](Settings s) { return Prior::fixed(setting(s, "prior_sd")); },
       {{"sd", "prior_sd"}}},
      {"hierarchical",
       "hierarchical (one sd per tensor, HalfNormal(tau))",
       [](Settings s) { return Prior::hierarchical(setting(s, "tau"), setting(s, "prior_sd")); },
       {{"tau", "tau"}, {"init_sd", "prior_sd"}}},
      {"scale-mixture",
       "scale-mixture (mixture-pi N(0, mixture-sigma1²) + (1 - mixture-pi) N(0, "
       "mixture-sigma2²))",
       [](Settings s) {
         return Prior::scale_mixture(setting(s, "mixture_pi"), setting(s, "mixture_sigma1"),
                                     setting(s, "mixture_sigma2"));
       },
       {{"pi", "mixture_pi"}, {"sigma1", "mixture_sigma1"}, {"sigma2", "mixture_sigma2"}}},
      {"unit-hierarchical",
       "unit-hierarchical (one sd per output unit, HalfNormal(tau))",
       [](Settings s) {
         return Prior::unit_hierarchical(setting(s, "tau"), setting(s, "prior_sd"));
       },
       {{"tau", "tau"}, {"init_sd", "prior_sd"}}},
      {"group-horseshoe",
       "group-horseshoe (non-centred, one half-Cauchy scale per input unit under a global "
       "C+(0, group-tau0); --compress prunes the units it switches off)",
       [](Settings s) {
         return Prior::group_horseshoe(setting(s, "group_tau0"), setting(s, "group_init_log_sd"));
       },
       {{"tau0", "group_tau0"}, {"init_log_sd", "group_init_log_sd"}},
       /*scale_lr=*/kGroupScaleLr,
       /*max_log_sigma=*/kGroupMaxLogSigma,
       /*compressible=*/true},
      {"group-nj",
       "group-nj (non-centred, one normal-Jeffreys scale per input unit; --compress prunes)",
       [](Settings s) { return Prior::group_normal_jeffreys(setting(s, "group_init_log_sd")); },
       {{"init_log_sd", "group_init_log_sd"}},
       /*scale_lr=*/kGroupScaleLr,
       /*max_log_sigma=*/kGroupMaxLogSigma,
       /*compressible=*/true},
  };
  return choices;
}

const std::vector<PriorOption>& prior_options() {
  static const std::vector<PriorOption> options{
      {"prior_sd", 0.1, SettingRange::kPositive, "sd of the fixed N(0, sd²) prior (mlp, cnn)"},
      {"tau", 1.0, SettingRange::kPositive,
       "Scale of the HalfNormal(tau) hyperprior (hierarchical and unit-hierarchical)"},
      {"group_tau0", 1e-5, SettingRange::kPositive,
       "group-horseshoe: scale of the global half-Cauchy C+(0, tau0)"},
      {"group_init_log_sd", -4.0, SettingRange::kAny,
       "group-horseshoe, group-nj: initial log sd of the unit scales' posteriors"},
      {"mixture_pi", 0.5, SettingRange::kWeight,
       "Scale mixture: weight of the wide component, strictly between 0 and 1"},
      {"mixture_sigma1", 1.0, SettingRange::kPositive, "Scale mixture: the wide component's sd"},
      {"mixture_sigma2", kScaleMixtureNarrowSd, SettingRange::kPositive,
       "Scale mixture: the narrow component's sd"},
  };
  return options;
}

std::string PriorOption::flag() const {
  std::string flag = "--" + name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

PriorSettings default_prior_settings() {
  PriorSettings settings;
  for (const auto& option : prior_options()) settings[option.name] = option.default_value;
  return settings;
}

double setting(const PriorSettings& settings, const std::string& name) {
  const auto found = settings.find(name);
  TORCH_CHECK(found != settings.end(), "unknown prior setting '", name, "'");
  return found->second;
}

std::vector<std::string> prior_names() {
  std::vector<std::string> names;
  for (const auto& choice : prior_choices()) names.push_back(choice.name);
  return names;
}

std::string compressible_prior_names() {
  std::vector<std::string> names;
  for (const auto& choice : prior_choices()) {
    if (choice.compressible) names.push_back(choice.name);
  }
  return fmt::format("{}", fmt::join(names, " or "));
}

const PriorChoice* find_prior_choice(const std::string& name) {
  const auto& choices = prior_choices();
  const auto found = std::find_if(choices.begin(), choices.end(),
                                  [&](const PriorChoice& choice) { return choice.name == name; });
  return found == choices.end() ? nullptr : &*found;
}

const PriorChoice& prior_choice(const std::string& name) {
  const auto* choice = find_prior_choice(name);
  TORCH_CHECK(choice != nullptr, "unknown prior '", name, "': expected one of ",
              fmt::format("{}", fmt::join(prior_names(), ", ")));
  return *choice;
}

}  // namespace bayesnn::experiment
