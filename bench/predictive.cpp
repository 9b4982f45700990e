// MC predictive: `bayesnn::predict` with S draws against S forwards of the deterministic
// network on MNIST's test-set size.
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "bayesnn/model.h"
#include "bayesnn/predictive.h"
#include "bench.h"
#include "networks.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

constexpr int64_t kInputs = 10000;

// Seconds of `predict` with `samples` draws on the inputs.
double time_predict(const bayesnn::Model& model, const torch::Tensor& inputs, int64_t samples,
                    const torch::Device& device, int64_t batch) {
  synchronize(device);
  const auto start = Clock::now();
  bayesnn::predict(model, inputs, samples,
                   bayesnn::PredictOptions().batch_size(batch).device(device));
  synchronize(device);
  return seconds_since(start);
}

// The network of `variant` on `device`, after one warm-up pass of `predict`.
torch::nn::Sequential warm_network(const Variant& variant, const torch::Tensor& inputs,
                                   const torch::Device& device, int64_t batch) {
  auto net = make_network(variant);
  net->to(device);
  time_predict(net, inputs, 1, device, batch);
  return net;
}

struct Timing {
  double seconds;              // median of the Bayesian runs
  double det_forward_seconds;  // median of the deterministic passes
  double ratio;                // median of seconds / (S x the deterministic pass around it)
};

// The Bayesian runs, each between two deterministic passes.
Timing time_against_deterministic(const bayesnn::Model& net, const bayesnn::Model& det,
                                  const torch::Tensor& inputs, int64_t samples,
                                  const torch::Device& device, int64_t batch) {
  const int reps = samples >= 100 ? 1 : (samples >= 10 ? 2 : 3);
  std::vector<double> det_seconds{time_predict(det, inputs, 1, device, batch)};
  std::vector<double> seconds, ratios;
  for (int r = 0; r < reps; ++r) {
    seconds.push_back(time_predict(net, inputs, samples, device, batch));
    det_seconds.push_back(time_predict(det, inputs, 1, device, batch));
    const double det_pass = 0.5 * (det_seconds[det_seconds.size() - 2] + det_seconds.back());
    ratios.push_back(seconds.back() / (static_cast<double>(samples) * det_pass));
  }
  return {median(seconds), median(det_seconds), median(ratios)};
}

json predictive_row(const Variant& variant, int64_t samples, const Timing& timing,
                    const torch::Device& device, int64_t batch, double peak) {
  const double flops = forward_flops_per_example(variant) * static_cast<double>(kInputs * samples);
  const double gflops = flops / timing.seconds / 1e9;
  json row = {{"name", fmt::format("{}/predict/s{}", variant.name(), samples)},
              {"device", device.str()},
              {"batch", batch},
              {"samples", samples},
              {"inputs", kInputs},
              {"seconds", timing.seconds},
              {"images_per_second", static_cast<double>(kInputs) / timing.seconds},
              {"deterministic_forward_seconds", timing.det_forward_seconds},
              {"ratio_to_deterministic", timing.ratio},
              {"gflops", gflops},
              {"fraction_of_peak", gflops / peak}};
  log_line(fmt::format("{:<34} {:8.3f} s  ratio to S det forwards {:5.2f}",
                       row["name"].get<std::string>() + " " + device.str(), timing.seconds,
                       timing.ratio));
  return row;
}

// `predict` evaluates one held draw of the weights per sample (Mode::kFrozen) whatever the
// layers' training estimator, so one variant measures them all.
json predictive_group(Arch arch, const torch::Device& device, const Settings& settings,
                      double peak) {
  const auto inputs = torch::rand({kInputs, 1, 28, 28});
  const int64_t batch = settings.predict_batch;
  const Variant variant{arch, bayesnn::Estimator::kReparameterization, "fixed"};
  const auto det = warm_network({arch, std::nullopt, "fixed"}, inputs, device, batch);
  const auto net = warm_network(variant, inputs, device, batch);
  json rows = json::array();
  for (int64_t samples : {1, 10, 100}) {
    const auto timing = time_against_deterministic(net, det, inputs, samples, device, batch);
    rows.push_back(predictive_row(variant, samples, timing, device, batch, peak));
  }
  return rows;
}
}  // namespace

json predictive_rows(const std::vector<torch::Device>& devices, const Peaks& peaks,
                     const Settings& settings) {
  json rows = json::array();
  for (const auto& device : devices) {
    for (auto arch : {Arch::kMlp, Arch::kCnn}) {
      for (auto& row : predictive_group(arch, device, settings, peaks.at(device.str())))
        rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace bench
