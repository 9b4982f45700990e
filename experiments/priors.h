// The priors bayesnn-experiment offers under --prior: one table, from which the option's check,
// its help, the networks' priors and metrics.json's record of the prior all come.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

// No torch here: the command line (options.cpp) compiles without it.
namespace bayesnn {
class Prior;
}  // namespace bayesnn

namespace bayesnn::experiment {

struct NetworkSpec;  // networks.h

/// One --prior value.
struct PriorChoice {
  std::string name;  ///< the --prior value, and metrics.json's "prior" "family"
  std::string help;  ///< what --help says of it
  /// The prior of every weight and bias, from the spec's settings.
  std::function<Prior(const NetworkSpec&)> build;
  /// The settings it is built from, by name: metrics.json's "prior" "parameters".
  std::function<nlohmann::json(const NetworkSpec&)> parameters;
};

/// Every --prior value, the default (fixed) first.
const std::vector<PriorChoice>& prior_choices();
/// The --prior values, in the table's order.
std::vector<std::string> prior_names();
/// The choice named `name`; throws naming it and the known names where there is none.
const PriorChoice& prior_choice(const std::string& name);

}  // namespace bayesnn::experiment
