// bayesnn_bench: training-step, predictive and memory benchmarks of Bayesian networks as
// ratios to the deterministic network of the same shape, measured interleaved in one process.
//
//   bayesnn_bench [--quick] [--out FILE.json] [--markdown FILE.md] [--threads N]
//                 [--blas-threads N] [--device cpu|cuda|all]
//
// Writes JSON (the row fields `name`, `device`, `batch`, `ms_per_step`, `images_per_second`,
// `ratio_to_deterministic`, `gflops`, `fraction_of_peak`; top-level `peak_gflops`, `threads`,
// `blas` are read by other programs) and a markdown table, and prints the table.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bayesnn/bayesnn.h"
#include "networks.h"
#include "system.h"

namespace {
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int64_t kClasses = 10;
// The MC predictive runs on MNIST's test-set size.
constexpr int64_t kPredictInputs = 10000;

struct Settings {
  bool quick = false;
  std::string out = "bench.json";
  std::string markdown;
  int threads = -1;
  int blas_threads = -1;
  std::string device = "all";
  // Wall time of one interleaved chunk of steps of one network, and the number of rounds.
  double chunk_seconds = 0.4;
  int rounds = 7;
  bool predictive = true;
  bool memory = true;
  bool micro = true;
  bool training = true;
  // --memory-child: run one training epoch of this variant and print its memory as JSON.
  std::string memory_child;
  int64_t batch = 128;
  int64_t memory_steps = 20;
  // Inputs per forward of the MC predictive (PredictOptions::batch_size; the library's default).
  int64_t predict_batch = 1000;
  // The trainer as it was before FusedAdam and reuse_freed_memory: torch::optim::Adam, and
  // glibc's default of fresh pages for large temporaries (for before/after tables).
  bool baseline_trainer = false;
};

const std::vector<bayesnn::Estimator> kEstimators = {bayesnn::Estimator::kReparameterization,
                                                     bayesnn::Estimator::kLocalReparameterization,
                                                     bayesnn::Estimator::kFlipout};

void log_line(const std::string& text) {
  std::fprintf(stderr, "[bench] %s\n", text.c_str());
  std::fflush(stderr);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

std::vector<bench::Variant> variants_of(bench::Arch arch) {
  std::vector<bench::Variant> variants{{arch, std::nullopt, "fixed"}};
  for (auto estimator : kEstimators) {
    for (const char* prior : {"fixed", "hierarchical"})
      variants.push_back({arch, estimator, prior});
  }
  return variants;
}

bench::Variant parse_variant(const std::string& name) {
  std::vector<std::string> parts;
  std::stringstream stream(name);
  for (std::string part; std::getline(stream, part, '/');) parts.push_back(part);
  TORCH_CHECK(parts.size() == 2 || parts.size() == 3, "bench: bad variant name '", name, "'");
  bench::Variant variant;
  TORCH_CHECK(parts[0] == "mlp" || parts[0] == "cnn", "bench: bad architecture in '", name, "'");
  variant.arch = parts[0] == "mlp" ? bench::Arch::kMlp : bench::Arch::kCnn;
  if (parts.size() == 3) {
    variant.estimator = bayesnn::parse_estimator(parts[1]);
    variant.prior = parts[2];
  }
  return variant;
}

bayesnn::Dataset synthetic_data(int64_t n, const torch::Device& device) {
  bayesnn::Dataset data;
  data.inputs = torch::rand({n, 1, 28, 28}, torch::TensorOptions().device(device));
  data.targets =
      torch::randint(0, kClasses, {n}, torch::TensorOptions().dtype(torch::kLong).device(device));
  return data;
}

// One network in training: the trainer that runs its steps, and a synthetic epoch sized so
// that one epoch takes about `chunk_seconds`.
struct Runner {
  bench::Variant variant;
  torch::nn::Sequential net{nullptr};
  std::unique_ptr<bayesnn::Trainer> trainer;
  bayesnn::Dataset data;
  int64_t steps = 0;

  Runner(const bench::Variant& variant_, int64_t batch, const torch::Device& device,
         bool baseline_trainer)
      : variant(variant_), net(bench::make_network(variant_)) {
    trainer = std::make_unique<bayesnn::Trainer>(net, bayesnn::TrainerOptions()
                                                          .batch_size(batch)
                                                          .device(device)
                                                          .progress(false)
                                                          .epochs(1000000)
                                                          .reuse_freed_memory(!baseline_trainer));
    if (baseline_trainer) {
      trainer->set_optimizer(
          std::make_unique<torch::optim::Adam>(trainer->parameters(), torch::optim::AdamOptions()));
    }
  }

  void size_epoch(int64_t batch, int64_t epoch_steps, const torch::Device& device) {
    steps = epoch_steps;
    data = synthetic_data(batch * steps, device);
  }

  // Milliseconds per step of one epoch.
  double run_epoch(const torch::Device& device) {
    synchronize(device);
    const auto start = Clock::now();
    trainer->train_epoch(data);
    synchronize(device);
    return 1e3 * std::chrono::duration<double>(Clock::now() - start).count() /
           static_cast<double>(steps);
  }
};

double measure_peak_gflops(const torch::Device& device, int reps) {
  const int64_t n = device.is_cuda() ? 8192 : 2048;
  torch::NoGradGuard no_grad;
  auto options = torch::TensorOptions().device(device);
  auto a = torch::rand({n, n}, options), b = torch::rand({n, n}, options);
  auto c = torch::mm(a, b);
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    synchronize(device);
    const auto start = Clock::now();
    torch::mm_out(c, a, b);
    synchronize(device);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, 2.0 * std::pow(static_cast<double>(n), 3) / seconds / 1e9);
  }
  return best;
}

// Measures the deterministic MLP and CNN and the local-reparameterization MLP at batch 128
// for each LibTorch intra-op x OpenBLAS thread count, and returns the sweep as JSON.
json thread_sweep(const Settings& settings, int* best_threads, int* best_blas) {
  const int cpus = bench::cpu_count();
  std::vector<std::pair<int, int>> combos;
  for (int t : {1, cpus}) {
    for (int b : {1, cpus}) {
      if (std::find(combos.begin(), combos.end(), std::make_pair(t, b)) == combos.end())
        combos.emplace_back(t, b);
    }
  }
  const torch::Device cpu(torch::kCPU);
  std::vector<Runner> runners;
  for (const auto& name : {"mlp/det", "mlp/local/fixed", "cnn/det"}) {
    runners.emplace_back(parse_variant(name), 128, cpu, settings.baseline_trainer);
    runners.back().size_epoch(128, settings.quick ? 3 : 6, cpu);
    runners.back().run_epoch(cpu);  // warm-up
  }
  std::map<std::pair<int, int>, std::vector<double>> best_ms;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& combo : combos) {
      torch::set_num_threads(combo.first);
      bench::set_blas_threads(combo.second);
      auto& best = best_ms[combo];
      best.resize(runners.size(), 1e300);
      for (size_t i = 0; i < runners.size(); ++i) {
        runners[i].run_epoch(cpu);  // the first epoch after a change warms the new pools
        best[i] = std::min(best[i], runners[i].run_epoch(cpu));
      }
    }
  }
  json sweep = json::array();
  double best_score = 1e300;
  for (const auto& combo : combos) {
    const auto& ms = best_ms[combo];
    double log_sum = 0;
    for (double m : ms) log_sum += std::log(m);
    const double score = std::exp(log_sum / static_cast<double>(ms.size()));
    json entry = {
        {"torch_threads", combo.first}, {"blas_threads", combo.second}, {"geomean_ms", score}};
    for (size_t i = 0; i < runners.size(); ++i) {
      entry["ms_per_step"][runners[i].variant.name() + "/b128"] = ms[i];
    }
    sweep.push_back(entry);
    log_line(
        fmt::format("threads torch={} blas={}: mlp/det {:.2f} ms, mlp/local {:.2f} ms, "
                    "cnn/det {:.2f} ms",
                    combo.first, combo.second, ms[0], ms[1], ms[2]));
    if (score < best_score) {
      best_score = score;
      *best_threads = combo.first;
      *best_blas = combo.second;
    }
  }
  return sweep;
}

// Training steps of the deterministic network and every Bayesian variant of `arch` at `batch`,
// interleaved: each round runs one epoch of each, and the ratio of a round is taken against
// the deterministic epoch of the same round.
json train_group(bench::Arch arch, int64_t batch, const torch::Device& device,
                 const Settings& settings, double peak_gflops) {
  const auto variants = variants_of(arch);
  std::vector<Runner> runners;
  for (const auto& variant : variants) {
    runners.emplace_back(variant, batch, device, settings.baseline_trainer);
    auto& runner = runners.back();
    runner.size_epoch(batch, 2, device);
    runner.run_epoch(device);  // warm-up and calibration
    const double ms = runner.run_epoch(device);
    const auto steps = static_cast<int64_t>(std::lround(settings.chunk_seconds * 1e3 / ms));
    runner.size_epoch(batch, std::clamp<int64_t>(steps, 2, 400), device);
    runner.run_epoch(device);
  }
  std::vector<std::vector<double>> ms(runners.size());
  for (int round = 0; round < settings.rounds; ++round) {
    for (size_t i = 0; i < runners.size(); ++i) ms[i].push_back(runners[i].run_epoch(device));
  }
  json rows = json::array();
  for (size_t i = 0; i < runners.size(); ++i) {
    std::vector<double> ratios;
    for (int round = 0; round < settings.rounds; ++round)
      ratios.push_back(ms[i][round] / ms[0][round]);
    const double ms_per_step = median(ms[i]);
    const double flops = bench::train_flops_per_example(variants[i]) * static_cast<double>(batch);
    const double gflops = flops / (ms_per_step * 1e-3) / 1e9;
    json row = {{"name", fmt::format("{}/b{}", variants[i].name(), batch)},
                {"device", device.str()},
                {"batch", batch},
                {"ms_per_step", ms_per_step},
                {"images_per_second", static_cast<double>(batch) / (ms_per_step * 1e-3)},
                {"ratio_to_deterministic", median(ratios)},
                {"gflops", gflops},
                {"fraction_of_peak", gflops / peak_gflops},
                {"flops_per_step", flops},
                {"steps_per_round", runners[i].steps},
                {"rounds", settings.rounds},
                {"ms_per_step_min", *std::min_element(ms[i].begin(), ms[i].end())},
                {"ms_per_step_max", *std::max_element(ms[i].begin(), ms[i].end())}};
    log_line(
        fmt::format("{:<34} {:8.2f} ms/step  ratio {:5.2f}  {:6.1f} GFLOP/s ({:4.1f}% of peak)",
                    row["name"].get<std::string>() + " " + device.str(), ms_per_step,
                    median(ratios), gflops, 100 * gflops / peak_gflops));
    rows.push_back(row);
  }
  return rows;
}

// Seconds of `predict` with `samples` draws on the inputs.
double time_predict(const bayesnn::Model& model, const torch::Tensor& inputs, int64_t samples,
                    const torch::Device& device, int64_t batch) {
  synchronize(device);
  const auto start = Clock::now();
  auto prediction = bayesnn::predict(model, inputs, samples,
                                     bayesnn::PredictOptions().batch_size(batch).device(device));
  synchronize(device);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// MC predictive on 10k inputs with S draws vs S forwards of the deterministic network (one
// pass of `predict` over the same inputs, timed between the Bayesian runs).
json predictive_group(bench::Arch arch, const torch::Device& device, const Settings& settings,
                      double peak_gflops) {
  json rows = json::array();
  auto inputs = torch::rand({kPredictInputs, 1, 28, 28});
  const bench::Variant det_variant{arch, std::nullopt, "fixed"};
  auto det = bench::make_network(det_variant);
  det->to(device);
  time_predict(det, inputs, 1, device, settings.predict_batch);  // warm-up
  std::vector<int64_t> sample_counts{1, 10, 100};
  // `predict` evaluates one held draw of the weights per sample (Mode::kFrozen) whatever the
  // layers' training estimator, so one variant measures them all.
  {
    const bench::Variant variant{arch, bayesnn::Estimator::kReparameterization, "fixed"};
    auto net = bench::make_network(variant);
    net->to(device);
    time_predict(net, inputs, 1, device, settings.predict_batch);  // warm-up
    for (int64_t samples : sample_counts) {
      // A 100-sample CNN predictive takes minutes on two cores: not in the quick run.
      if (samples == 100 && arch == bench::Arch::kCnn && settings.quick) continue;
      const int reps = samples >= 100 ? 1 : (samples >= 10 ? 2 : 3);
      std::vector<double> det_seconds{time_predict(det, inputs, 1, device, settings.predict_batch)};
      std::vector<double> ratios, seconds;
      for (int r = 0; r < reps; ++r) {
        seconds.push_back(time_predict(net, inputs, samples, device, settings.predict_batch));
        det_seconds.push_back(time_predict(det, inputs, 1, device, settings.predict_batch));
        const double baseline = 0.5 * (det_seconds[det_seconds.size() - 2] + det_seconds.back());
        ratios.push_back(seconds.back() / (static_cast<double>(samples) * baseline));
      }
      const double s = median(seconds);
      const double flops =
          bench::forward_flops_per_example(variant) * static_cast<double>(kPredictInputs * samples);
      const double gflops = flops / s / 1e9;
      json row = {{"name", fmt::format("{}/predict/s{}", variant.name(), samples)},
                  {"device", device.str()},
                  {"batch", settings.predict_batch},
                  {"samples", samples},
                  {"inputs", kPredictInputs},
                  {"seconds", s},
                  {"images_per_second", static_cast<double>(kPredictInputs) / s},
                  {"deterministic_forward_seconds", median(det_seconds)},
                  {"ratio_to_deterministic", median(ratios)},
                  {"gflops", gflops},
                  {"fraction_of_peak", gflops / peak_gflops}};
      log_line(fmt::format("{:<34} {:8.3f} s  ratio to S det forwards {:5.2f}",
                           row["name"].get<std::string>() + " " + device.str(), s, median(ratios)));
      rows.push_back(row);
    }
  }
  return rows;
}

// The memory child: one epoch of `memory_steps` steps of a variant on CPU, after resetting the
// peak RSS; prints {"rss_before_kib", "peak_rss_kib"}.
int memory_child(const Settings& settings) {
  const auto variant = parse_variant(settings.memory_child);
  const torch::Device cpu(torch::kCPU);
  auto data = synthetic_data(settings.batch * settings.memory_steps, cpu);
  auto net = bench::make_network(variant);
  bayesnn::Trainer trainer(net,
                           bayesnn::TrainerOptions().batch_size(settings.batch).progress(false));
  // What is resident before training: the libraries, the data and the freshly built network.
  const int64_t before = bench::resident_kib();
  const bool reset = bench::reset_peak_resident();
  trainer.train_epoch(data);
  std::cout << json{{"rss_before_kib", before},
                    {"peak_rss_kib", bench::peak_resident_kib()},
                    {"peak_reset", reset}}
                   .dump()
            << std::endl;
  return 0;
}

json run_memory_child(const std::string& self, const std::string& variant, int64_t batch,
                      int64_t steps, int threads, int blas_threads) {
  const std::string command = fmt::format(
      "OPENBLAS_NUM_THREADS={} '{}' --memory-child '{}' --batch {} --memory-steps {} "
      "--threads {} --blas-threads {}",
      blas_threads, self, variant, batch, steps, threads, blas_threads);
  FILE* pipe = popen(command.c_str(), "r");
  TORCH_CHECK(pipe != nullptr, "bench: cannot run '", command, "'");
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  TORCH_CHECK(status == 0, "bench: the memory child for ", variant, " failed: ", output);
  return json::parse(output);
}

json memory_group(bench::Arch arch, int64_t batch, const Settings& settings, int threads,
                  int blas_threads) {
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
  TORCH_CHECK(length > 0, "bench: cannot find its own executable");
  self[length] = '\0';
  json rows = json::array();
  double det_training = 0, det_peak = 0;
  for (const auto& variant : variants_of(arch)) {
    const auto result =
        run_memory_child(self, variant.name(), batch, settings.memory_steps, threads, blas_threads);
    const double peak = result["peak_rss_kib"].get<double>() / 1024;
    const double training = peak - result["rss_before_kib"].get<double>() / 1024;
    if (!variant.bayesian()) {
      det_training = training;
      det_peak = peak;
    }
    json row = {{"name", fmt::format("{}/b{}", variant.name(), batch)},
                {"device", "cpu"},
                {"batch", batch},
                {"steps", settings.memory_steps},
                {"peak_rss_mib", peak},
                {"training_rss_mib", training},
                {"ratio_to_deterministic", training / det_training},
                {"peak_ratio_to_deterministic", peak / det_peak}};
    log_line(fmt::format("{:<34} peak RSS {:7.1f} MiB, training adds {:6.1f} MiB (x{:.2f})",
                         row["name"].get<std::string>(), peak, training, training / det_training));
    rows.push_back(row);
  }
  return rows;
}

// Milliseconds of `f`, the median of `reps` calls after one warm-up call.
template <typename F>
double time_ms(F&& f, int reps) {
  f();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    f();
    ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(ms);
}

// The library's hot-path functions against the plain ATen formulas they replaced, timed
// alternately in one process on the MLP's largest tensor (800 x 800): before/after per change.
json micro(const Settings& settings) {
  const int reps = settings.quick ? 10 : 30;
  const int64_t rows = 800, cols = 800;
  auto mean = (torch::randn({rows, cols}) * 0.05).requires_grad_();
  auto log_sigma = torch::full({rows, cols}, -5.0).requires_grad_();
  auto log_sd = torch::full({}, std::log(0.1));
  auto m = torch::full({}, std::log(0.1)).requires_grad_();
  auto lsl = torch::full({}, std::log(0.1)).requires_grad_();
  auto activations = torch::empty({128, 800});
  const auto upstream = torch::randn({rows, cols});  // the gradient a layer sends to its weight
  const auto clear = [&] {
    for (auto* t : {&mean, &log_sigma, &m, &lsl}) t->mutable_grad() = torch::Tensor();
  };
  // The Bayesian 2x800 MLP's parameters (means and log-sigmas), with gradients, for Adam.
  std::vector<torch::Tensor> mlp_parameters;
  for (int copy = 0; copy < 2; ++copy) {
    for (const auto& shape :
         std::vector<std::vector<int64_t>>{{800, 784}, {800}, {800, 800}, {800}, {10, 800}, {10}}) {
      auto parameter = torch::randn(shape).requires_grad_();
      parameter.mutable_grad() = torch::randn(shape);
      mlp_parameters.push_back(parameter);
    }
  }
  torch::optim::Adam adam(mlp_parameters, torch::optim::AdamOptions(1e-3));
  bayesnn::FusedAdam fused_adam(mlp_parameters, torch::optim::AdamOptions(1e-3));
  struct Case {
    std::string name;
    std::function<void()> before, after;
  };
  std::vector<Case> cases = {
      {"Adam step, Bayesian 2x800 MLP (2.5 M parameters)", [&] { adam.step(); },
       [&] { fused_adam.step(); }},
      {"kl fixed prior, forward+backward, 800x800",
       [&] {
         clear();
         const double n = static_cast<double>(mean.numel());
         auto kl =
             n * (log_sd - 0.5) - log_sigma.sum() +
             0.5 * (-2.0 * log_sd).exp() * ((2.0 * log_sigma).exp().sum() + mean.square().sum());
         kl.backward();
       },
       [&] {
         clear();
         bayesnn::kl_normal_zero_mean(mean, log_sigma, log_sd).backward();
       }},
      {"kl hierarchical prior, forward+backward, 800x800",
       [&] {
         clear();
         const double n = static_cast<double>(mean.numel());
         const auto v = (2.0 * lsl).exp();
         const auto second = (2.0 * log_sigma).exp().sum() + mean.square().sum();
         auto w_term = -0.5 * n - log_sigma.sum() + n * m + 0.5 * (2.0 * (v - m)).exp() * second;
         auto kl = w_term + (-0.5 * (std::log(2 * M_PI) + 1.0) - lsl) -
                   (0.5 * std::log(2.0 / M_PI) - (2.0 * (m + v)).exp() / 2.0 + m);
         kl.backward();
       },
       [&] {
         clear();
         bayesnn::kl_hierarchical(mean, log_sigma, m, lsl, 1.0).backward();
       }},
      {"weight sample mean + sigma * eps, forward+backward, 800x800",
       [&] {
         clear();
         auto w = mean + log_sigma.exp() * torch::randn_like(mean);
         w.backward(torch::ones_like(w));
       },
       [&] {
         clear();
         auto w = bayesnn::sample_normal(mean, log_sigma);
         w.backward(torch::ones_like(w));
       }},
      {"weight sample and its KL (fixed prior), forward+backward, 800x800",
       [&] {
         clear();
         auto w = mean + log_sigma.exp() * torch::randn_like(mean);
         const double n = static_cast<double>(mean.numel());
         auto kl =
             n * (log_sd - 0.5) - log_sigma.sum() +
             0.5 * (-2.0 * log_sd).exp() * ((2.0 * log_sigma).exp().sum() + mean.square().sum());
         torch::autograd::backward({w, kl}, {upstream, torch::ones({})});
       },
       [&] {
         clear();
         auto w = bayesnn::sample_normal(mean, log_sigma);
         auto kl = bayesnn::kl_normal_zero_mean(mean, log_sigma, log_sd);
         torch::autograd::backward({w, kl}, {upstream, torch::ones({})});
       }},
      {"random signs, 128x800",
       [&] { torch::empty_like(activations).bernoulli_(0.5).mul_(2).sub_(1); },
       [&] { bayesnn::random_signs(activations); }},
  };
  json rows_out = json::array();
  {
    // The CPU noise is N(0, 1): moments and tail fractions of 4M draws against the normal's.
    torch::NoGradGuard no_grad;
    const auto zeros = torch::zeros({4 << 20});
    const auto x = bayesnn::sample_normal(zeros, zeros).to(torch::kDouble);
    const double m1 = x.mean().item<double>(), m2 = x.square().mean().item<double>();
    const double m3 = x.pow(3).mean().item<double>(), m4 = x.pow(4).mean().item<double>();
    std::string tails;
    for (double t : {1.0, 2.0, 3.0, 4.0}) {
      tails += fmt::format(" P(|x|>{:g}) {:.5f} (normal {:.5f})", t,
                           (x.abs() > t).to(torch::kDouble).mean().item<double>(),
                           std::erfc(t / std::sqrt(2.0)));
    }
    log_line(
        fmt::format("noise check, 4M draws: mean {:.4f} var {:.4f} E[x^3] {:.4f} E[x^4] "
                    "{:.4f} (normal: 0 1 0 3);{}",
                    m1, m2, m3, m4, tails));
  }
  for (const auto& c : cases) {
    std::vector<double> before, after;
    for (int r = 0; r < 5; ++r) {
      before.push_back(time_ms(c.before, reps / 5 + 1));
      after.push_back(time_ms(c.after, reps / 5 + 1));
    }
    const double b = median(before), a = median(after);
    log_line(
        fmt::format("{:<58} before {:7.3f} ms  after {:7.3f} ms  ({:.1f}x)", c.name, b, a, b / a));
    rows_out.push_back({{"name", c.name}, {"before_ms", b}, {"after_ms", a}, {"speedup", b / a}});
  }
  return rows_out;
}

std::string markdown(const json& report) {
  std::ostringstream md;
  md << fmt::format(
      "Machine: {} ({} CPUs), LibTorch {}, {} LibTorch thread(s), {} BLAS thread(s) ({}), "
      "OMP_WAIT_POLICY={}; "
      "load average {:.2f} at start, {:.2f} at end.\n\n",
      report["machine"]["cpu"].get<std::string>(), report["machine"]["cpus"].get<int>(),
      report["torch_version"].get<std::string>(), report["threads"].get<int>(),
      report["blas"]["threads"].get<int>(), report["blas"]["config"].get<std::string>(),
      report["omp_wait_policy"].get<std::string>(),
      report["machine"]["load_average_start"].get<double>(),
      report["machine"]["load_average_end"].get<double>());
  md << "Peak float32 GEMM through LibTorch:";
  for (const auto& [device, gflops] : report["peak_gflops_by_device"].items()) {
    md << fmt::format(" {} {:.1f} GFLOP/s", device, gflops.get<double>());
  }
  md << ".\n\n";
  md << "| training step | device | batch | ms/step | images/s | × deterministic | GFLOP/s | "
        "% of peak |\n|---|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& row : report["rows"]) {
    md << fmt::format("| {} | {} | {} | {:.2f} | {:.0f} | {:.2f} | {:.1f} | {:.0f} % |\n",
                      row["name"].get<std::string>(), row["device"].get<std::string>(),
                      row["batch"].get<int64_t>(), row["ms_per_step"].get<double>(),
                      row["images_per_second"].get<double>(),
                      row["ratio_to_deterministic"].get<double>(), row["gflops"].get<double>(),
                      100 * row["fraction_of_peak"].get<double>());
  }
  if (!report["predictive"].empty()) {
    md << "\n| MC predictive, 10k inputs | device | S | seconds | inputs/s | × S deterministic "
          "forwards |\n|---|---|---:|---:|---:|---:|\n";
    for (const auto& row : report["predictive"]) {
      md << fmt::format("| {} | {} | {} | {:.3f} | {:.0f} | {:.2f} |\n",
                        row["name"].get<std::string>(), row["device"].get<std::string>(),
                        row["samples"].get<int64_t>(), row["seconds"].get<double>(),
                        row["images_per_second"].get<double>(),
                        row["ratio_to_deterministic"].get<double>());
    }
  }
  if (!report["micro"].empty()) {
    md << "\n| hot path (one thread) | before ms | after ms | speed-up |\n|---|---:|---:|---:|\n";
    for (const auto& row : report["micro"]) {
      md << fmt::format("| {} | {:.3f} | {:.3f} | {:.1f}x |\n", row["name"].get<std::string>(),
                        row["before_ms"].get<double>(), row["after_ms"].get<double>(),
                        row["speedup"].get<double>());
    }
  }
  if (!report["memory"].empty()) {
    md << "\n| training epoch memory | batch | peak RSS MiB | training adds MiB | × deterministic "
          "(added) | × deterministic (peak) |\n|---|---:|---:|---:|---:|---:|\n";
    for (const auto& row : report["memory"]) {
      md << fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n",
                        row["name"].get<std::string>(), row["batch"].get<int64_t>(),
                        row["peak_rss_mib"].get<double>(), row["training_rss_mib"].get<double>(),
                        row["ratio_to_deterministic"].get<double>(),
                        row["peak_ratio_to_deterministic"].get<double>());
    }
  }
  return md.str();
}

int run(Settings settings) {
  if (settings.quick) {
    settings.chunk_seconds = 0.2;
    settings.rounds = 5;
    settings.predictive = false;
  }
  const auto wall_start = Clock::now();
  json report;
  report["machine"] = {{"cpu", bench::cpu_model()},
                       {"cpus", bench::cpu_count()},
                       {"load_average_start", bench::load_average()}};
  report["torch_version"] = TORCH_VERSION;
  report["quick"] = settings.quick;
  report["baseline_trainer"] = settings.baseline_trainer;

  int threads = settings.threads, blas_threads = settings.blas_threads;
  if (threads > 0 || blas_threads > 0) {
    report["threads_chosen_by"] = "command line";
  } else {
    log_line("measuring LibTorch x OpenBLAS thread counts");
    report["thread_sweep"] = thread_sweep(settings, &threads, &blas_threads);
    report["threads_chosen_by"] = "measurement (thread_sweep)";
  }
  if (threads <= 0) threads = torch::get_num_threads();
  torch::set_num_threads(threads);
  if (blas_threads > 0) bench::set_blas_threads(blas_threads);
  const auto blas = bench::blas_info();
  report["threads"] = threads;
  report["interop_threads"] = torch::get_num_interop_threads();
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  report["omp_wait_policy"] = wait_policy != nullptr ? wait_policy : "(unset)";
  report["blas"] = {{"library", blas.library},
                    {"config", blas.config},
                    {"core", blas.core},
                    {"threads", blas.threads}};
  log_line(fmt::format("{} LibTorch thread(s), {} BLAS thread(s), {}", threads, blas.threads,
                       blas.config));

  std::vector<torch::Device> devices;
  if (settings.device != "cuda") devices.emplace_back(torch::kCPU);
  if (settings.device != "cpu" && !settings.quick && torch::cuda::is_available())
    devices.emplace_back(torch::kCUDA);
  TORCH_CHECK(!devices.empty(), "bench: no device to run on (--device ", settings.device, ")");

  std::map<std::string, double> peaks;
  for (const auto& device : devices) {
    peaks[device.str()] = measure_peak_gflops(device, settings.quick ? 4 : 8);
    log_line(fmt::format("peak GEMM on {}: {:.1f} GFLOP/s", device.str(), peaks[device.str()]));
  }
  report["peak_gflops"] = peaks.begin()->second;
  report["peak_gflops_by_device"] = peaks;

  const std::vector<int64_t> batches =
      settings.quick ? std::vector<int64_t>{128} : std::vector<int64_t>{128, 512};
  report["rows"] = json::array();
  report["predictive"] = json::array();
  report["memory"] = json::array();
  report["micro"] = settings.micro ? micro(settings) : json::array();
  for (const auto& device : settings.training ? devices : std::vector<torch::Device>{}) {
    for (auto arch : {bench::Arch::kMlp, bench::Arch::kCnn}) {
      for (auto batch : batches) {
        for (auto& row : train_group(arch, batch, device, settings, peaks[device.str()]))
          report["rows"].push_back(row);
      }
    }
  }
  if (settings.memory) {
    for (auto arch : {bench::Arch::kMlp, bench::Arch::kCnn}) {
      for (auto& row : memory_group(arch, 128, settings, threads, blas.threads))
        report["memory"].push_back(row);
    }
  }
  if (settings.predictive) {
    for (const auto& device : devices) {
      for (auto arch : {bench::Arch::kMlp, bench::Arch::kCnn}) {
        for (auto& row : predictive_group(arch, device, settings, peaks[device.str()]))
          report["predictive"].push_back(row);
      }
    }
  }
  report["machine"]["load_average_end"] = bench::load_average();
  report["seconds"] = std::chrono::duration<double>(Clock::now() - wall_start).count();

  const auto table = markdown(report);
  std::ofstream out(settings.out);
  TORCH_CHECK(out.good(), "bench: cannot write the JSON to '", settings.out, "'");
  out << report.dump(2) << '\n';
  out.close();
  TORCH_CHECK(out.good(), "bench: cannot write the JSON to '", settings.out, "'");
  std::string md_path = settings.markdown;
  if (md_path.empty()) {
    const auto dot = settings.out.rfind(".json");
    md_path = (dot == std::string::npos ? settings.out : settings.out.substr(0, dot)) + ".md";
  }
  std::ofstream md(md_path);
  TORCH_CHECK(md.good(), "bench: cannot write the markdown to '", md_path, "'");
  md << table;
  std::cout << table;
  log_line(fmt::format("wrote {} and {} in {:.0f} s", settings.out, md_path,
                       report["seconds"].get<double>()));
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app{
      "bayesnn benchmarks: Bayesian vs deterministic training steps, MC predictive "
      "and memory, as ratios measured in one run"};
  app.add_flag("--quick", settings.quick, "CPU batch-128 training and memory rows only");
  app.add_option("--out", settings.out, "JSON output file")->capture_default_str();
  app.add_option("--markdown", settings.markdown, "markdown table file (default: --out with .md)");
  app.add_option("--threads", settings.threads, "LibTorch intra-op threads (default: measured)");
  app.add_option("--blas-threads", settings.blas_threads, "OpenBLAS threads (default: measured)");
  app.add_option("--device", settings.device, "cpu, cuda or all")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}))
      ->capture_default_str();
  app.add_option("--rounds", settings.rounds, "interleaved rounds per training group")
      ->check(CLI::PositiveNumber);
  app.add_option("--chunk-seconds", settings.chunk_seconds, "seconds per network per round")
      ->check(CLI::PositiveNumber);
  bool no_predictive = false, no_memory = false, no_micro = false, no_training = false;
  app.add_flag("--no-predictive", no_predictive, "skip the MC predictive rows");
  app.add_flag("--no-memory", no_memory, "skip the memory rows");
  app.add_flag("--no-micro", no_micro, "skip the before/after timings of the hot paths");
  app.add_flag("--no-training", no_training, "skip the training-step rows");
  app.add_option("--memory-child", settings.memory_child)->group("");
  app.add_option("--batch", settings.batch)->group("");
  app.add_option("--predict-batch", settings.predict_batch, "inputs per forward of the predictive")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--baseline-trainer", settings.baseline_trainer,
               "train with torch::optim::Adam and without reuse_freed_memory (before/after)");
  app.add_option("--memory-steps", settings.memory_steps, "steps of the memory epoch")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  settings.predictive = !no_predictive;
  settings.memory = !no_memory;
  settings.micro = !no_micro;
  settings.training = !no_training;
  // The memory rows run in child processes with the library's trainer: not a baseline.
  if (settings.baseline_trainer) settings.memory = false;
  try {
    if (!settings.memory_child.empty()) {
      if (settings.threads > 0) torch::set_num_threads(settings.threads);
      if (settings.blas_threads > 0) bench::set_blas_threads(settings.blas_threads);
      return memory_child(settings);
    }
    return run(settings);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bayesnn_bench: %s\n", error.what());
    return 1;
  }
}
