// The command line of bayesnn-experiment: every option, its default, and the article preset (the
// priors' settings, their options and defaults, and the priors' own defaults: priors.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "bayesnn/blas_threads.h"
#include "bayesnn/compress.h"
#include "priors.h"

namespace bayesnn::experiment {

/// Everything one run of `bayesnn-experiment` is configured by; the defaults are the
/// recommended (full-schedule) settings, `--preset article` the article's.
///
/// Four defaults differ from the library's, all those of the recorded full-schedule runs
/// (docs/results.md; its ablation "From the article's setup to ours" adds each on its own row):
/// the local reparameterization estimator where the layers default to plain
/// reparameterization, which every layer supports (+5 points in five epochs); log-sigma starting
/// at -6 where the layers start at -5; a cosine decay of the learning rate to 5 % and one epoch
/// of KL warm-up where the trainer keeps the rate constant and trains on the full ELBO from the
/// first step (the ablation finds these two change little in five epochs).
struct ExperimentOptions {
  std::string model = "mlp";        ///< mlp, cnn, lenet300, lenet5, hier-*, det-* (networks.h)
  std::string prior;                ///< a --prior value (prior_names(): priors.cpp); parsed:
                                    ///< hier-* hierarchical, det-* none, MOPED's moped, else fixed
  std::string estimator = "local";  ///< reparam, local or flipout (training)
  std::string activation = "relu";  ///< relu or tanh
  int64_t epochs = 20;              ///< training epochs
  int64_t batch_size = 128;         ///< minibatch size
  double lr = 1e-3;                 ///< Adam's initial learning rate
  double lr_final = 0.05;           ///< cosine decay to lr * this fraction (1: constant)
  int64_t train_samples = 1;        ///< Monte Carlo samples of the network per step
  int64_t test_samples = 100;       ///< posterior samples S of the predictive
  /// The priors' settings by name (prior_sd, tau, mixture_pi, ...), each from its option; their
  /// defaults are priors.cpp's.
  PriorSettings prior_settings = default_prior_settings();
  double init_log_sigma = -6.0;     ///< initial value of every *_log_sigma
  double init_mean_sd = 0.0;        ///< > 0: means start N(0, sd²); 0: torch's initialisation
  double kl_weight = 1.0;           ///< 1: the ELBO; other values are a tempered posterior
  double kl_warmup = 1.0;           ///< the KL weight ramps up linearly over this many epochs
  std::string prediction = "mean";  ///< mean: argmax of the mean probabilities; mode: of labels
  int64_t predict_batch = 0;        ///< images per forward while predicting (0: per model)
  int64_t train_limit = 0;          ///< use the first N training images (0: all)
  int64_t test_limit = 0;           ///< use the first N test (and OOD) images (0: all)
  int64_t eval_every = 0;           ///< posterior-mean test accuracy every N epochs (0: off)
  uint64_t seed = 1;                ///< seeds initialisation, batch order and noise
  std::string device = "cpu";       ///< cpu or cuda
  int threads = cores();            ///< LibTorch intra-op threads
  int blas_threads = 0;       ///< OpenBLAS threads (0: $OPENBLAS_NUM_THREADS, else one per core)
  std::string data;           ///< training/test data directory ("": data_dir("mnist"))
  std::string ood_data;       ///< OOD test set directory ("": data_dir("fashion-mnist"))
  std::string out;            ///< output directory ("": runs/<model>)
  bool resume = false;        ///< continue from <out>/checkpoint.pt
  bool distributed = false;   ///< join a data-parallel job (implied by WORLD_SIZE > 1)
  double dist_timeout = 300;  ///< seconds for joining and for each collective
  std::string from_deterministic;   ///< a trained twin's checkpoint or TorchScript file to convert
  double moped_delta = 0;           ///< > 0: MOPED's sigmas delta·|w| (--from-deterministic)
  bool moped_prior = false;         ///< MOPED's prior, centred on the trained weights
  double moped_sigma_floor = 1e-5;  ///< the smallest MOPED sd
  bool compress = false;            ///< write compressed.pt and metrics.json's "compression"
  double compress_max_log_alpha =
      CompressOptions().max_log_alpha();                       ///< a unit is off at log α ≥ this
  double compress_min_scale = CompressOptions().min_scale();   ///< or at |E[z]| below this
  double compress_budget = ThresholdSearchOptions().budget();  ///< validation accuracy points
  double compress_nll_tolerance =
      ThresholdSearchOptions().nll_tolerance();  ///< validation NLL rise, a fraction
  int64_t fine_tune = 0;  ///< epochs the compressed network trains on before it is measured
  double fine_tune_max_log_sigma = INFINITY;  ///< its clip of log σ (default --max-log-sigma)
  int64_t compress_rounds = 1;  ///< compress and fine-tune again, up to this many times in all
  int64_t validation = 0;  ///< hold the last N training images out (thresholds are chosen there)
  double scale_lr = 0;     ///< Adam's rate for the priors' scales (0: --lr; or the prior's)
  double max_log_sigma = INFINITY;  ///< log σ clipped to at most this (or the prior's own)
  std::string preset;               ///< "" or "article"
  std::string command;              ///< the full command line, as typed
};

/// Every option but the priors' settings by its field name (`options_json` adds those).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExperimentOptions, model, prior, estimator, activation, epochs,
                                   batch_size, lr, lr_final, train_samples, test_samples,
                                   init_log_sigma, init_mean_sd, kl_weight, kl_warmup, prediction,
                                   predict_batch, train_limit, test_limit, eval_every, seed, device,
                                   threads, blas_threads, data, ood_data, out, resume, distributed,
                                   dist_timeout, from_deterministic, moped_delta, moped_prior,
                                   moped_sigma_floor, compress, compress_max_log_alpha,
                                   compress_min_scale, compress_budget, compress_nll_tolerance,
                                   fine_tune, fine_tune_max_log_sigma, compress_rounds, validation,
                                   scale_lr, max_log_sigma, preset)

/// metrics.json's "options": every option by its field name and every prior setting by its name,
/// as parsed (the command line itself is metrics.json's "command").
nlohmann::json options_json(const ExperimentOptions& options);

/// Parses the command line. On --help, or on an unknown or malformed option (after printing
/// the message naming it), returns nullopt and sets `exit_code` (0 for --help, else nonzero).
std::optional<ExperimentOptions> parse_command_line(int argc, char** argv, int& exit_code);

}  // namespace bayesnn::experiment
