// The priors bayesnn-experiment offers under --prior: two tables, from which the options' checks,
// defaults and help, the networks' priors and metrics.json's record of the prior all come. Adding a
// prior is a row in each (priors.cpp): the prior, and its settings' options.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// No torch here: the command line (options.cpp) compiles without it.
namespace bayesnn {
class Prior;
}  // namespace bayesnn

namespace bayesnn::experiment {

/// The priors' settings by name (prior_sd, tau, mixture_pi, ...; `prior_options()`), each the
/// value of its option.
using PriorSettings = std::map<std::string, double>;

/// The values an option of a prior setting accepts.
enum class SettingRange {
  kAny,       ///< any number
  kPositive,  ///< a finite number > 0
  kWeight,    ///< a number strictly between 0 and 1
};

/// One prior setting: its option (--prior-sd for prior_sd) and metrics.json's "options" key.
struct PriorOption {
  std::string name;          ///< the setting's name; its option is "--" + name with '-' for '_'
  double default_value;      ///< the setting's only default
  SettingRange range;        ///< what its option accepts
  std::string help;          ///< what --help says of it
  std::string flag() const;  ///< "--prior-sd" of prior_sd
};

/// One --prior value.
struct PriorChoice {
  std::string name;  ///< the --prior value, and metrics.json's "prior" "family"
  std::string help;  ///< what --help says of it
  /// The prior of every weight and bias, from the settings.
  std::function<Prior(const PriorSettings&)> build;
  /// metrics.json's "prior" "parameters": each parameter's name there, and the setting it is.
  std::vector<std::pair<std::string, std::string>> parameters;
  /// Its own defaults of --scale-lr (Adam's rate for its scales) and --max-log-sigma, where the
  /// command line gives none; unset: the options' defaults.
  std::optional<double> scale_lr = std::nullopt, max_log_sigma = std::nullopt;
  /// Whether --compress can prune the units its scales switch off (a group prior).
  bool compressible = false;
};

/// Every --prior value, the default (fixed) first.
const std::vector<PriorChoice>& prior_choices();
/// The options of the priors' settings, in --help's order.
const std::vector<PriorOption>& prior_options();
/// Every setting at its default.
PriorSettings default_prior_settings();
/// The value of setting `name`; throws naming it where `settings` lack it.
double setting(const PriorSettings& settings, const std::string& name);
/// The --prior values, in the table's order.
std::vector<std::string> prior_names();
/// The --prior values --compress takes: "group-horseshoe or group-nj".
std::string compressible_prior_names();
/// The choice named `name`, or null where there is none ("none" of a deterministic twin,
/// "moped").
const PriorChoice* find_prior_choice(const std::string& name);
/// The choice named `name`; throws naming it and the known names where there is none.
const PriorChoice& prior_choice(const std::string& name);

}  // namespace bayesnn::experiment
