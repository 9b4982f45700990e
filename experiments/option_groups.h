// The options of bayesnn-experiment's command line, in --help's groups: each option's name, help,
// check and the field it sets.
#pragma once

#include <CLI/CLI.hpp>

#include "options.h"

namespace bayesnn::experiment {

/// Adds every option to `app`, each writing its field of `options` (whose value is its default).
void add_options(CLI::App& app, ExperimentOptions& options);

}  // namespace bayesnn::experiment
