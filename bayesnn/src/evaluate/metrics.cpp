#include "bayesnn/metrics.h"

#include <cmath>
#include <limits>

namespace bayesnn::metrics {
namespace {

// Validates probs [N, C] and labels [N] for the function `fn`; returns probs in float64 and the
// labels on the same device.
std::pair<at::Tensor, at::Tensor> checked_probs_and_labels(const char* fn, const at::Tensor& probs,
                                                           const at::Tensor& labels) {
  TORCH_CHECK(probs.dim() == 2, fn, ": probs must be 2-D [N, C], got shape ", probs.sizes());
  TORCH_CHECK(probs.is_floating_point(), fn, ": probs must have a floating-point dtype, got ",
              probs.scalar_type());
  const auto n = probs.size(0);
  const auto c = probs.size(1);
  TORCH_CHECK(n > 0, fn, ": need at least one example, got probs of shape ", probs.sizes());
  TORCH_CHECK(c > 0, fn, ": need at least one class, got probs of shape ", probs.sizes());
  TORCH_CHECK(labels.scalar_type() == at::kLong, fn, ": labels must be int64, got ",
              labels.scalar_type());
  TORCH_CHECK(labels.dim() == 1, fn, ": labels must be 1-D [N], got shape ", labels.sizes());
  TORCH_CHECK(labels.size(0) == n, fn, ": labels has N = ", labels.size(0),
              " but probs has N = ", n);
  const auto lo = labels.min().item<int64_t>();
  const auto hi = labels.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < c, fn, ": labels must lie in [0, C) = [0, ", c, "), got values from ",
              lo, " to ", hi);
  auto p = probs.to(at::kDouble);
  const auto non_finite = (~at::isfinite(p)).sum().item<int64_t>();
  TORCH_CHECK(non_finite == 0, fn, ": probs must be finite, got ", non_finite,
              " NaN or infinite values");
  return {p, labels.to(p.device())};
}

// Validates sampled probabilities [S, N, C] for the function `fn`; returns them in float64.
at::Tensor checked_samples(const char* fn, const at::Tensor& samples) {
  TORCH_CHECK(samples.dim() == 3, fn, ": samples must be 3-D [S, N, C], got shape ",
              samples.sizes());
  TORCH_CHECK(samples.is_floating_point(), fn, ": samples must have a floating-point dtype, got ",
              samples.scalar_type());
  TORCH_CHECK(samples.size(0) > 0, fn, ": need at least one sample, got samples of shape ",
              samples.sizes());
  TORCH_CHECK(samples.size(2) > 0, fn, ": need at least one class, got samples of shape ",
              samples.sizes());
  return samples.to(at::kDouble);
}

// Entropy over the last dimension, 0 log 0 = 0.
at::Tensor entropy(const at::Tensor& p) { return -at::xlogy(p, p).sum(-1); }

// n_ic: how many of the S samples of example i have argmax c. [S, N, C] -> float64 [N, C].
at::Tensor class_counts(const at::Tensor& samples) {
  // scatter_add over [N, S] indices rather than one_hot: memory N*S, not S*N*C.
  const auto sampled_labels = samples.argmax(2).t().contiguous();
  auto counts = at::zeros({samples.size(1), samples.size(2)}, samples.options().dtype(at::kDouble));
  return counts.scatter_add_(1, sampled_labels, at::ones(sampled_labels.sizes(), counts.options()));
}

// reliability_diagram with `fn` named in its errors, so ECE reports its own name.
std::vector<CalibrationBin> checked_reliability_diagram(const char* fn, const at::Tensor& probs,
                                                        const at::Tensor& labels, int64_t bins) {
  TORCH_CHECK(bins > 0, fn, ": bins must be positive, got ", bins);
  const auto [p, y] = checked_probs_and_labels(fn, probs, labels);
  const auto confidence = p.amax(1);
  const auto correct = p.argmax(1).eq(y).to(at::kDouble);
  const auto bin = (confidence * static_cast<double>(bins))
                       .floor()
                       .clamp(0, static_cast<double>(bins - 1))
                       .to(at::kLong);
  const auto zeros = at::zeros({bins}, p.options());
  const auto count = zeros.index_add(0, bin, at::ones_like(confidence)).cpu();
  const auto confidence_sum = zeros.index_add(0, bin, confidence).cpu();
  const auto correct_sum = zeros.index_add(0, bin, correct).cpu();

  const auto count_a = count.accessor<double, 1>();
  const auto confidence_a = confidence_sum.accessor<double, 1>();
  const auto correct_a = correct_sum.accessor<double, 1>();
  std::vector<CalibrationBin> result(static_cast<size_t>(bins));
  for (int64_t b = 0; b < bins; ++b) {
    auto& r = result[static_cast<size_t>(b)];
    r.lower = static_cast<double>(b) / static_cast<double>(bins);
    r.upper = static_cast<double>(b + 1) / static_cast<double>(bins);
    r.count = static_cast<int64_t>(std::llround(count_a[b]));
    if (r.count > 0) {
      r.mean_confidence = confidence_a[b] / count_a[b];
      r.accuracy = correct_a[b] / count_a[b];
    }
  }
  return result;
}

}  // namespace

double accuracy(const at::Tensor& probs, const at::Tensor& labels) {
  const auto [p, y] = checked_probs_and_labels("accuracy", probs, labels);
  return p.argmax(1).eq(y).to(at::kDouble).mean().item<double>();
}

double nll(const at::Tensor& probs, const at::Tensor& labels) {
  const auto [p, y] = checked_probs_and_labels("nll", probs, labels);
  const auto p_y = p.gather(1, y.unsqueeze(1)).squeeze(1);
  return -p_y.clamp_min(std::numeric_limits<float>::min()).log().mean().item<double>();
}

double brier(const at::Tensor& probs, const at::Tensor& labels) {
  const auto [p, y] = checked_probs_and_labels("brier", probs, labels);
  const auto one_hot = at::zeros_like(p).scatter_(1, y.unsqueeze(1), 1.0);
  return (p - one_hot).square().sum(1).mean().item<double>();
}

std::vector<CalibrationBin> reliability_diagram(const at::Tensor& probs, const at::Tensor& labels,
                                                int64_t bins) {
  return checked_reliability_diagram("reliability_diagram", probs, labels, bins);
}

double expected_calibration_error(const at::Tensor& probs, const at::Tensor& labels, int64_t bins) {
  const auto diagram =
      checked_reliability_diagram("expected_calibration_error", probs, labels, bins);
  const auto n = static_cast<double>(probs.size(0));
  double ece = 0.0;
  for (const auto& b : diagram) {
    ece += static_cast<double>(b.count) / n * std::abs(b.accuracy - b.mean_confidence);
  }
  return ece;
}

at::Tensor predictive_entropy(const at::Tensor& samples) {
  return entropy(checked_samples("predictive_entropy", samples).mean(0));
}

at::Tensor expected_entropy(const at::Tensor& samples) {
  return entropy(checked_samples("expected_entropy", samples)).mean(0);
}

at::Tensor mutual_information(const at::Tensor& samples) {
  const auto p = checked_samples("mutual_information", samples);
  return (entropy(p.mean(0)) - entropy(p).mean(0)).clamp_min(0.0);
}

at::Tensor modal_class(const at::Tensor& samples) {
  // argmax of the original dtype: converting to float64 cannot change it.
  checked_samples("modal_class", samples);
  return class_counts(samples).argmax(1);
}

at::Tensor variation_ratio(const at::Tensor& samples) {
  checked_samples("variation_ratio", samples);
  const auto s = static_cast<double>(samples.size(0));
  return 1.0 - class_counts(samples).amax(1) / s;
}

at::Tensor chi_square_uniformity(const at::Tensor& samples) {
  checked_samples("chi_square_uniformity", samples);
  const auto expected = static_cast<double>(samples.size(0)) / static_cast<double>(samples.size(2));
  return (class_counts(samples) - expected).square().sum(1) / expected;
}

double auroc(const at::Tensor& scores, const at::Tensor& positives) {
  TORCH_CHECK(scores.dim() == 1, "auroc: scores must be 1-D [N], got shape ", scores.sizes());
  TORCH_CHECK(positives.scalar_type() == at::kBool, "auroc: positives must be bool, got ",
              positives.scalar_type());
  TORCH_CHECK(positives.dim() == 1, "auroc: positives must be 1-D [N], got shape ",
              positives.sizes());
  TORCH_CHECK(positives.size(0) == scores.size(0), "auroc: positives has N = ", positives.size(0),
              " but scores has N = ", scores.size(0));
  const auto s = scores.to(at::kDouble);
  const auto non_finite = (~at::isfinite(s)).sum().item<int64_t>();
  TORCH_CHECK(non_finite == 0, "auroc: scores must be finite, got ", non_finite,
              " NaN or infinite values");
  const auto pos = positives.to(s.device());
  const auto n_pos = pos.sum().item<int64_t>();
  const auto n_neg = s.size(0) - n_pos;
  TORCH_CHECK(n_pos > 0 && n_neg > 0, "auroc: needs at least one positive and one negative, got ",
              n_pos, " positives and ", n_neg, " negatives");

  // Ranks 1..N in ascending score order; each run of equal scores gets its average rank.
  const auto [sorted, order] = s.sort();
  const auto [unique, group, group_size] =
      at::unique_consecutive(sorted, /*return_inverse=*/true, /*return_counts=*/true);
  const auto group_end = group_size.cumsum(0).to(at::kDouble);
  const auto group_rank = group_end - (group_size.to(at::kDouble) - 1.0) / 2.0;
  const auto rank = group_rank.index_select(0, group);
  const auto rank_sum = rank.masked_select(pos.index_select(0, order)).sum().item<double>();
  const auto np = static_cast<double>(n_pos);
  const auto u = rank_sum - np * (np + 1.0) / 2.0;
  return u / (np * static_cast<double>(n_neg));
}

}  // namespace bayesnn::metrics
