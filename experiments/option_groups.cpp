#include "option_groups.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>

#include <CLI/CLI.hpp>

#include "priors.h"

namespace bayesnn::experiment {
namespace {

// The checks of numeric options. CLI11 prefixes the option's name, so a refusal reads
// "--batch-size: got 0, expected a whole number >= 1", one line.
template <typename Number>
CLI::Validator number(const std::string& name, const std::string& expected,
                      std::function<bool(Number)> accept) {
  return CLI::Validator(
      [expected, accept](std::string& value) -> std::string {
        Number parsed{};
        // CLI11 reads "-3" into an unsigned number as 2^64 - 3.
        const bool negative = !std::is_signed_v<Number> && value.find('-') != std::string::npos;
        const bool ok = !negative && CLI::detail::lexical_cast(value, parsed) &&
                        (!std::is_floating_point_v<Number> || std::isfinite(parsed)) &&
                        accept(parsed);
        return ok ? std::string() : "got " + value + ", expected " + expected;
      },
      name);
}

const auto kCount = number<int64_t>(">=1", "a whole number >= 1", [](int64_t n) { return n >= 1; });
const auto kCountOrZero =
    number<int64_t>(">=0", "a whole number >= 0", [](int64_t n) { return n >= 0; });
const auto kSeed = number<uint64_t>(">=0", "a whole number >= 0", [](uint64_t) { return true; });
const auto kPositive = number<double>(">0", "a finite number > 0", [](double x) { return x > 0; });
const auto kNonNegative =
    number<double>(">=0", "a finite number >= 0", [](double x) { return x >= 0; });
const auto kFinite = number<double>("FINITE", "a finite number", [](double) { return true; });
// A number that may be inf (+infinity: "no limit"), never nan.
CLI::Validator number_or_infinity(const std::string& name, const std::string& expected,
                                  std::function<bool(double)> accept) {
  return CLI::Validator(
      [expected, accept](std::string& value) -> std::string {
        double parsed = 0;
        const bool ok =
            CLI::detail::lexical_cast(value, parsed) && !std::isnan(parsed) && accept(parsed);
        return ok ? std::string() : "got " + value + ", expected " + expected;
      },
      name);
}
const auto kNumberOrInfinity =
    number_or_infinity("NUMBER|inf", "a number or inf", [](double x) { return x > -INFINITY; });
const auto kNonNegativeOrInfinity =
    number_or_infinity(">=0|inf", "a number >= 0 or inf", [](double x) { return x >= 0; });
const auto kFraction =
    number<double>("IN (0,1]", "a fraction in (0, 1]", [](double x) { return x > 0 && x <= 1; });
const auto kWeight = number<double>("IN (0,1)", "a weight strictly between 0 and 1",
                                    [](double x) { return x > 0 && x < 1; });

// The network: its architecture, prior and initialisation.
void add_network_options(CLI::App& app, ExperimentOptions& o) {
  app.option_defaults()->group("Network");
  app.add_option("--model", o.model,
                 "Network: mlp (784-800-800-10), cnn (conv 32@5x5, pool, conv 32@5x5, pool, "
                 "dense 256, dense 10), hier-mlp and hier-cnn (the article's names for --prior "
                 "hierarchical), lenet300 (784-300-100-10) and lenet5 (LeNet-5-Caffe: conv "
                 "20@5x5, pool, conv 50@5x5, pool, dense 500, dense 10), det-mlp, det-cnn, "
                 "det-lenet300 and det-lenet5 (their deterministic twins: plain torch layers, the "
                 "same schedule)")
      ->check(CLI::IsMember({"mlp", "hier-mlp", "det-mlp", "cnn", "hier-cnn", "det-cnn", "lenet300",
                             "det-lenet300", "lenet5", "det-lenet5"}));
  std::string prior_help = "Prior of every weight and bias (mlp, cnn):";
  for (const auto& choice : prior_choices()) {
    prior_help += (choice.name == "fixed" ? " " : ", ") + choice.help;
  }
  app.add_option("--prior", o.prior, prior_help)->check(CLI::IsMember(prior_names()));
  app.add_option("--estimator", o.estimator, "Training estimator of each layer's output")
      ->check(CLI::IsMember({"reparam", "local", "flipout"}));
  app.add_option("--activation", o.activation, "Hidden activation")
      ->check(CLI::IsMember({"relu", "tanh"}));
  for (const auto& setting : prior_options()) {
    auto* option = app.add_option(setting.flag(), o.prior_settings[setting.name], setting.help);
    if (setting.range == SettingRange::kPositive) option->check(kPositive);
    if (setting.range == SettingRange::kWeight) option->check(kWeight);
  }
  app.add_option("--init-log-sigma", o.init_log_sigma,
                 "Initial value of every *_log_sigma (log of the posterior sd)")
      ->check(kFinite);
  app.add_option("--init-mean-sd", o.init_mean_sd,
                 "> 0: initialise every *_mean from N(0, sd²); 0: torch's initialisation")
      ->check(kNonNegative);
}

// Training: its schedule, the images it sees, and where it runs.
void add_training_options(CLI::App& app, ExperimentOptions& o) {
  app.option_defaults()->group("Training");
  app.add_option("--epochs", o.epochs, "Training epochs")->check(kCount);
  app.add_option("--batch-size", o.batch_size, "Minibatch size")->check(kCount);
  app.add_option("--lr", o.lr, "Adam's initial learning rate")->check(kPositive);
  app.add_option("--lr-final", o.lr_final,
                 "Cosine decay of the learning rate to lr * this over all steps (1: constant)")
      ->check(kFraction);
  app.add_option("--scale-lr", o.scale_lr,
                 "Adam's learning rate for the group priors' scales, q(z) (0: --lr); Bayesian "
                 "compression wants them faster than the weights (docs/results.md)")
      ->check(kNonNegative);
  app.add_option("--max-log-sigma", o.max_log_sigma,
                 "Clip every posterior log sd (a group prior's: of v) to at most this after each "
                 "step (inf: never; Louizos et al. clip the first layer's variance at 0.04, "
                 "-1.61 here)")
      ->check(kNumberOrInfinity);
  app.add_option("--validation", o.validation,
                 "Hold the last N training images out of training; --compress chooses its "
                 "per-layer thresholds on them, and metrics.json reports their accuracy")
      ->check(kCountOrZero);
  app.add_option("--train-samples", o.train_samples,
                 "Monte Carlo samples of the network per training step")
      ->check(kCount);
  app.add_option("--kl-weight", o.kl_weight,
                 "Weight of the KL term (1: the ELBO; anything else is a tempered posterior and "
                 "is labelled so in metrics.json)")
      ->check(kNonNegative);
  app.add_option("--kl-warmup", o.kl_warmup,
                 "Epochs over which the KL weight ramps linearly from 0 (0: off)")
      ->check(kNonNegative);
  app.add_option("--train-limit", o.train_limit, "Use the first N training images (0: all)")
      ->check(kCountOrZero);
  app.add_option("--eval-every", o.eval_every,
                 "Record the posterior-mean test accuracy every N epochs (0: off)")
      ->check(kCountOrZero);
  app.add_option("--seed", o.seed, "Seed of initialisation, batch order and sampling")
      ->check(kSeed);
}

// The posterior predictive, measured after training.
void add_prediction_options(CLI::App& app, ExperimentOptions& o) {
  app.option_defaults()->group("Prediction");
  app.add_option("--test-samples", o.test_samples, "Posterior samples S of the predictive")
      ->check(kCount);
  app.add_option("--prediction", o.prediction,
                 "Predicted class: mean (argmax of the mean probabilities) or mode (of the S "
                 "sampled labels, the article's)")
      ->check(CLI::IsMember({"mean", "mode"}));
  app.add_option("--predict-batch", o.predict_batch,
                 "Images per forward while predicting (0: 10000 for the MLPs, 100 for the CNNs); "
                 "bounds memory, not the result")
      ->check(kCountOrZero);
  app.add_option("--test-limit", o.test_limit,
                 "Use the first N test and OOD images (0: all; for smoke tests)")
      ->check(kCountOrZero);
  app.add_flag("--compress", o.compress,
               "Bayesian compression after training (--prior " + compressible_prior_names() +
                   "): write compressed.pt, the compressed network's posterior mean, and "
                   "metrics.json's \"compression\"");
  app.add_option("--compress-max-log-alpha", o.compress_max_log_alpha,
                 "--compress: a unit is off where log(Var[z] / E[z]^2) is at least this");
  app.add_option("--compress-min-scale", o.compress_min_scale,
                 "--compress: or where |E[z]| is below this")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--compress-budget", o.compress_budget,
                 "--compress with --validation: per-layer thresholds that prune the most weights "
                 "while the compressed posterior mean's validation accuracy stays within this "
                 "many percentage points of the full network's")
      ->check(kNonNegative);
  app.add_option("--compress-nll-tolerance", o.compress_nll_tolerance,
                 "--compress with --validation: and its validation NLL within this fraction "
                 "above the full network's (inf: no limit; --fine-tune can afford more)")
      ->check(kNonNegativeOrInfinity);
  app.add_option("--fine-tune", o.fine_tune,
                 "--compress: train the compressed network this many more epochs (the same "
                 "ELBO and training images, the learning rate's decay restarted over them, no KL "
                 "warm-up) before it is measured")
      ->check(kCountOrZero);
  app.add_option("--fine-tune-max-log-sigma", o.fine_tune_max_log_sigma,
                 "--fine-tune: its clip of every posterior log sd (default: --max-log-sigma's)")
      ->check(kNumberOrInfinity);
  app.add_option("--compress-rounds", o.compress_rounds,
                 "--fine-tune with --validation: compress the fine-tuned network again within "
                 "--compress-budget of the full network's validation accuracy, and fine-tune it "
                 "again, up to this many rounds in all; stops where a round removes nothing, and "
                 "drops a round whose fine-tuned network's validation accuracy falls out of the "
                 "budget")
      ->check(kCount);
}

// Where the data and the run's files are, and the processes that train.
void add_run_options(CLI::App& app, ExperimentOptions& o) {
  app.option_defaults()->group("Data, files and processes");
  app.add_option("--device", o.device, "Where to train and predict")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--threads", o.threads, "LibTorch intra-op threads (default: one per core)")
      ->check(kCount);
  app.add_option("--blas-threads", o.blas_threads,
                 "OpenBLAS threads, a pool of its own beside LibTorch's (0: $OPENBLAS_NUM_THREADS "
                 "where set, else one per core)")
      ->check(kCountOrZero);
  app.add_option("--data", o.data,
                 "Directory of the IDX files to train and test on (default: $BAYESNN_DATA/mnist, "
                 "else data/mnist)");
  app.add_option("--ood-data", o.ood_data,
                 "Directory of the out-of-distribution test set (default: "
                 "$BAYESNN_DATA/fashion-mnist, else data/fashion-mnist)");
  app.add_option("--out", o.out, "Output directory (default: runs/<model>)");
  app.add_flag("--resume", o.resume, "Continue from <out>/checkpoint.pt");
  app.add_flag("--distributed", o.distributed,
               "Train data-parallel, one process per rank, over c10d (Gloo on the CPU, NCCL on "
               "CUDA): rank and world size from torchrun's RANK and WORLD_SIZE, Open MPI's or "
               "Slurm's variables, the store at MASTER_ADDR:MASTER_PORT; implied where "
               "WORLD_SIZE > 1. --batch-size is per rank; rank 0 writes every file");
  app.add_option("--dist-timeout", o.dist_timeout,
                 "Seconds to wait for the other ranks to join and for each collective; a rank "
                 "that dies or hangs stops the others within it")
      ->check(kPositive);
}

// Starting from a trained deterministic twin (MOPED), and the article's preset.
void add_start_options(CLI::App& app, ExperimentOptions& o) {
  app.option_defaults()->group("From a trained twin; presets");
  app.add_option("--from-deterministic", o.from_deterministic,
                 "Start from a trained deterministic twin instead of an initialisation: a "
                 "checkpoint.pt or posterior_mean.pt of --model det-mlp or det-cnn (or a "
                 "TorchScript file with the twin's parameters in its order). Its layers become "
                 "Bayesian (to_bayesian), the posterior means at its weights; --model names the "
                 "Bayesian network (mlp, cnn, ...) and --epochs fine-tune it");
  app.add_option("--moped-delta", o.moped_delta,
                 "With --from-deterministic: MOPED, every posterior sd starts at delta·|w| "
                 "(0: --init-log-sigma)")
      ->check(kNonNegative);
  app.add_flag("--moped-prior", o.moped_prior,
               "With --moped-delta: MOPED's prior, N(w, (delta·|w|)²) per weight, centred on "
               "the trained weights, instead of --prior");
  app.add_option("--moped-sigma-floor", o.moped_sigma_floor,
                 "The smallest MOPED sd, for weights at or near zero")
      ->check(kPositive);
  app.add_option("--preset", o.preset,
                 "article: the article's setup (tanh, reparam, first 50,000 images, batch 500, "
                 "500 epochs, PyMC3's initial sd log 2, means N(0, 1), constant lr, no warm-up, "
                 "modal prediction of 100 samples); explicit options override it")
      ->check(CLI::IsMember({"article"}));
}

}  // namespace

void add_options(CLI::App& app, ExperimentOptions& options) {
  add_network_options(app, options);
  add_training_options(app, options);
  add_prediction_options(app, options);
  add_run_options(app, options);
  add_start_options(app, options);
}

}  // namespace bayesnn::experiment
