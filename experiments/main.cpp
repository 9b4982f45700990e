// bayesnn-experiment: one of the article's four Bayesian networks (Wiecki 2017, "Bayesian Deep
// Learning Part II"), under any of the built-in priors, or its deterministic twin, trained on
// MNIST by minibatch ADVI (plain maximum likelihood for a twin), then its posterior predictive
// measured: accuracy, calibration, the uncertainty of each prediction, and out-of-distribution
// detection.
//
//   bayesnn-experiment --model cnn --epochs 10 --out runs/cnn
//   bayesnn-experiment --model mlp --prior scale-mixture --out runs/mlp-scale-mixture
//   bayesnn-experiment --model det-mlp --out runs/det-mlp
//   bayesnn-experiment --model hier-mlp --preset article --epochs 20
//   tools/launch -n 2 -- bayesnn-experiment --model mlp --out runs/mlp-2ranks
//
// Reads top to bottom: main (the process-wide choices), then run: the data-parallel group
// (distributed.h), output directory (output.h), data (data.h), network (initial_network.h),
// training (training.h), evaluation (evaluation.h), exports (exports.h), compression
// (compression.h) and metrics.json (metrics_json.h).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/blas_threads.h"
#include "bayesnn/memory.h"
#include "bayesnn/trainer.h"
#include "compression.h"
#include "data.h"
#include "distributed.h"
#include "evaluation.h"
#include "exports.h"
#include "initial_network.h"
#include "interrupt.h"
#include "metrics_json.h"
#include "options.h"
#include "output.h"
#include "training.h"

namespace bnn = bayesnn;
namespace experiment = bayesnn::experiment;
using experiment::ExperimentOptions;
using nlohmann::json;

namespace {

// --- The process-wide choices main makes -------------------------------------------------------

// OpenBLAS's threads (blas_threads.h): `threads` of them, or with 0 what OPENBLAS_NUM_THREADS set
// when OpenBLAS loaded, else one per core, with idle threads sleeping (bnn::wait_passively; the
// sweep in docs/speed.md).
void set_blas_threads(int threads) {
  if (threads == 0 && std::getenv("OPENBLAS_NUM_THREADS") != nullptr) return;
  bnn::set_openblas_threads(threads == 0 ? bnn::cores() : threads);
}

// One line, whatever the message holds: a failure is one line on stderr.
void print_error(const std::string& message) {
  std::string line = message;
  for (auto position = line.find('\n'); position != std::string::npos;
       position = line.find('\n', position)) {
    line.replace(position, 1, "; ");
  }
  std::fprintf(stderr, "bayesnn-experiment: %s\n", line.c_str());
}

// The line that sums a run up.
void print_summary(const json& metrics, const ExperimentOptions& options, const std::string& out) {
  fmt::print(
      "{}: accuracy {:.2f} % (posterior predictive, S = {}), {:.2f} % (posterior mean), "
      "NLL {:.4f}, ECE {:.2f} %, misclassification AUROC (entropy) {}, OOD AUROC (entropy) {}; "
      "train {:.0f} s; wrote {}\n",
      options.model, 100 * metrics.at("accuracy").get<double>(), experiment::test_samples(options),
      100 * metrics.at("accuracy_posterior_mean").get<double>(), metrics.at("nll").get<double>(),
      100 * metrics.at("ece").get<double>(),
      metrics.at("misclassification_auroc").value("predictive_entropy", std::nan("")),
      metrics.at("ood_auroc").value("predictive_entropy", std::nan("")),
      metrics.at("train_seconds").get<double>(), out);
}

// --- The run, top to bottom --------------------------------------------------------------------

int run(const ExperimentOptions& options) {
  TORCH_CHECK(options.device != "cuda" || torch::cuda::is_available(),
              "--device cuda: no CUDA device is available to this LibTorch");
  torch::Device device = options.device == "cuda" ? torch::kCUDA : torch::kCPU;
  const auto group = experiment::join_group(options, device);
  const auto files = experiment::prepare_output(options, group);
  const auto data = experiment::load_data(options, device);

  torch::manual_seed(options.seed);
  auto net = experiment::make_network(options);
  // Seeded again, so that the training noise and the posterior samples do not depend on how many
  // numbers the initialisation drew (--init-mean-sd); a resumed run restores the checkpoint's.
  // Each rank of a group draws its own noise (rank 0 a single process's).
  torch::manual_seed(bnn::rank_seed(options.seed, group ? group->rank() : 0));
  const auto training = experiment::train(net, data, files, options, device, group);
  if (group && group->rank() != 0) return 0;  // rank 0 evaluates and writes

  const auto results = experiment::evaluate_network(net, data, options, device);
  experiment::write_prediction_tables(files.dir, results, data);
  json metrics =
      experiment::run_metrics(net, data, training, results, files, options, device, group);
  experiment::export_networks(net, metrics, files, options);
  print_summary(metrics, options, files.dir);
  if (options.compress) {
    metrics["compression"] = experiment::compression_metrics(
        net, data, options, files, experiment::export_metadata(metrics, options));
  }
  experiment::write_metrics(files.dir, metrics);
  if (options.compress) experiment::print_compression(metrics.at("compression"), files.dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bnn::wait_passively(argv);  // first: OpenMP reads OMP_WAIT_POLICY as it loads
  int exit_code = 0;
  const auto options = experiment::parse_command_line(argc, argv, exit_code);
  if (!options) return exit_code;
  try {
    // The program's process-wide choices, made here and in run() (which seeds torch's generators
    // with --seed), never in the library: freed tensors' memory stays in the process for the
    // next step (memory.h), and the two thread pools are sized.
    bnn::reuse_freed_memory();
    set_blas_threads(options->blas_threads);
    torch::set_num_threads(options->threads);
    experiment::stop_on_interrupt();
    return run(*options);
  } catch (const bnn::TrainingInterrupted& stop) {
    print_error(std::string(strsignal(experiment::interrupting_signal())) + ": " + stop.what() +
                "; --resume continues");
    return 128 + experiment::interrupting_signal();
  } catch (const c10::Error& error) {
    print_error(error.what_without_backtrace());
  } catch (const std::exception& error) {  // WriteError, NonFiniteLossError, DataError, ...
    print_error(error.what());
  } catch (...) {
    print_error("stopped by an exception that is not a std::exception");
  }
  return 1;
}
