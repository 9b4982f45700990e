#include "options.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "option_groups.h"
#include "priors.h"

namespace bayesnn::experiment {
namespace {

// softplus(0) = log 2: PyMC3's mean-field ADVI starts every sd there (rho = 0).
const double kPyMC3InitLogSigma = std::log(std::log(2.0));

std::string shell_quoted(const std::string& word) {
  if (!word.empty() && word.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos) {
    return word;
  }
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The combinations of options that cannot be: the line saying why (after the program's name),
// or "" where there is none.
std::string refusal(const ExperimentOptions& o, const CLI::App& app) {
  // hier-* are the article's names for --prior hierarchical; the twins have no prior.
  const bool hier = o.model.rfind("hier-", 0) == 0, det = o.model.rfind("det-", 0) == 0;
  if ((hier && !o.prior.empty() && o.prior != "hierarchical") || (det && !o.prior.empty())) {
    return fmt::format("--prior {}: --model {} {}", o.prior, o.model,
                       det ? "is deterministic and has no prior"
                           : "is the article's name for --prior hierarchical");
  }
  // Starting from a trained twin: the option, its value and what it would need.
  const auto refuse = [](const std::string& option, const std::string& value,
                         const std::string& expected) {
    return fmt::format("{}: got {}, expected {}", option, value, expected);
  };
  if (!o.from_deterministic.empty() && det) {
    return refuse("--from-deterministic", o.from_deterministic,
                  "a Bayesian --model to convert the twin into (mlp, hier-mlp, cnn, hier-cnn, "
                  "lenet300 or lenet5), "
                  "not a deterministic one");
  }
  if (o.from_deterministic.empty() && (o.moped_delta > 0 || o.moped_prior)) {
    return refuse(o.moped_prior ? "--moped-prior" : "--moped-delta",
                  o.moped_prior ? "true" : fmt::format("{:g}", o.moped_delta),
                  "--from-deterministic: MOPED starts from trained weights");
  }
  if (o.moped_prior && o.moped_delta <= 0) {
    return refuse("--moped-prior", "true", "--moped-delta > 0: the prior's sds are delta·|w|");
  }
  if (o.moped_prior && !o.prior.empty()) {
    return refuse("--prior", o.prior,
                  "no --prior with --moped-prior, whose prior is centred on the trained weights");
  }
  const auto* prior = find_prior_choice(o.prior);
  if (o.compress && (prior == nullptr || !prior->compressible)) {
    return refuse("--compress", "--prior " + (o.prior.empty() ? std::string("fixed") : o.prior),
                  "--prior " + compressible_prior_names() +
                      ": compression removes the units whose group scales are off");
  }
  for (const auto& [option, value] :
       {std::pair{"--compress-budget", o.compress_budget},
        std::pair{"--compress-nll-tolerance", o.compress_nll_tolerance}}) {
    if (app.count(option) && (o.validation == 0 || !o.compress)) {
      return refuse(option, fmt::format("{:g}", value),
                    "--compress and --validation N: the thresholds are chosen on N held-out "
                    "training images");
    }
  }
  if (o.fine_tune > 0 && !o.compress) {
    return refuse("--fine-tune", std::to_string(o.fine_tune),
                  "--compress: it trains the compressed network");
  }
  if (o.compress_rounds > 1 && (o.fine_tune == 0 || o.validation == 0)) {
    return refuse("--compress-rounds", std::to_string(o.compress_rounds),
                  "--fine-tune N and --validation N: each round fine-tunes the compressed network "
                  "and chooses its thresholds on the held-out images");
  }
  if (app.count("--fine-tune-max-log-sigma") && o.fine_tune == 0) {
    return refuse("--fine-tune-max-log-sigma", fmt::format("{:g}", o.fine_tune_max_log_sigma),
                  "--fine-tune N: it clips the fine-tuning's posterior sds");
  }
  if (!o.from_deterministic.empty() && app.count("--init-mean-sd") && o.init_mean_sd > 0) {
    return refuse("--init-mean-sd", fmt::format("{:g}", o.init_mean_sd),
                  "0 with --from-deterministic: the means start at the trained weights");
  }
  return "";
}

// What the options leave to the model: the prior of hier-* is hierarchical, the twins' none,
// MOPED's its own, else fixed; the prior's own training defaults; and --preset article's
// settings where not given.
void complete(ExperimentOptions& o, const CLI::App& app) {
  if (o.prior.empty()) {
    const bool hier = o.model.rfind("hier-", 0) == 0, det = o.model.rfind("det-", 0) == 0;
    o.prior = o.moped_prior ? "moped" : hier ? "hierarchical" : det ? "none" : "fixed";
  }
  auto unset = [&](const char* name) { return app.count(name) == 0; };
  // The prior's own training defaults (priors.cpp).
  if (const auto* prior = find_prior_choice(o.prior)) {
    if (prior->scale_lr && unset("--scale-lr")) o.scale_lr = *prior->scale_lr;
    if (prior->max_log_sigma && unset("--max-log-sigma")) o.max_log_sigma = *prior->max_log_sigma;
  }
  if (unset("--fine-tune-max-log-sigma")) o.fine_tune_max_log_sigma = o.max_log_sigma;
  if (o.preset != "article") return;
  if (unset("--activation")) o.activation = "tanh";
  if (unset("--estimator")) o.estimator = "reparam";
  if (unset("--train-limit")) o.train_limit = 50000;
  if (unset("--batch-size")) o.batch_size = 500;
  if (unset("--epochs")) o.epochs = 500;
  if (unset("--test-samples")) o.test_samples = 100;
  if (unset("--prediction")) o.prediction = "mode";
  if (unset("--init-log-sigma")) o.init_log_sigma = kPyMC3InitLogSigma;
  if (unset("--init-mean-sd") && o.from_deterministic.empty()) o.init_mean_sd = 1.0;
  if (unset("--lr-final")) o.lr_final = 1.0;
  if (unset("--kl-warmup")) o.kl_warmup = 0.0;
}

}  // namespace

std::optional<ExperimentOptions> parse_command_line(int argc, char** argv, int& exit_code) {
  ExperimentOptions o;
  CLI::App app{
      "bayesnn-experiment: trains one of the article's Bayesian networks (under any built-in "
      "prior) or its deterministic twin on MNIST by minibatch ADVI, then measures its posterior "
      "predictive (accuracy, calibration, uncertainty, "
      "out-of-distribution detection) and writes metrics.json, log.jsonl, checkpoint.pt, "
      "predictions.csv, posterior_mean.pt and predictive.pt into --out.",
      "bayesnn-experiment"};
  // The last of a repeated option wins, so a command line can be extended to override itself.
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  add_options(app, o);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) {  // --help
      exit_code = app.exit(error);
      return std::nullopt;
    }
    // One line, as every refusal: the option, the value, what was expected.
    std::fprintf(stderr, "bayesnn-experiment: %s (--help lists the options)\n", error.what());
    exit_code = 2;
    return std::nullopt;
  }
  if (const auto why = refusal(o, app); !why.empty()) {
    std::fprintf(stderr, "bayesnn-experiment: %s\n", why.c_str());
    exit_code = 2;
    return std::nullopt;
  }
  complete(o, app);

  std::vector<std::string> words(argv, argv + argc);
  for (size_t i = 0; i < words.size(); ++i) {
    o.command += (i ? " " : "") + shell_quoted(words[i]);
  }
  exit_code = 0;
  return o;
}

nlohmann::json options_json(const ExperimentOptions& options) {
  nlohmann::json record = options;
  for (const auto& [name, value] : options.prior_settings) record[name] = value;
  return record;
}

}  // namespace bayesnn::experiment
