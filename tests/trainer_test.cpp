#include "support/catch.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <caffe2/serialize/inline_container.h>
#include "bayesnn/bayesnn.h"
#include "serialize/checkpoint_file.h"
#include "support/real_data.h"
#include "support/temp_dir.h"

using Catch::Contains;
namespace bnn = bayesnn;

namespace {
// Two Gaussian classes at +-(1, 1) with unit noise: the Bayes classifier's accuracy is
// Phi(sqrt(2)) = 0.921.
bnn::Dataset two_blobs(int64_t n, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  auto labels = torch::randint(0, 2, {n}, generator, torch::kLong);
  auto centers = (labels.to(torch::kFloat) * 2 - 1).unsqueeze(1).expand({n, 2});
  return {centers + torch::randn({n, 2}, generator), labels};
}

torch::nn::Sequential small_mlp(const bnn::Prior& first_prior = bnn::Prior::hierarchical()) {
  return torch::nn::Sequential(
      bnn::BayesLinear(bnn::BayesLinearOptions(2, 16).prior(first_prior)), torch::nn::ReLU(),
      bnn::BayesLinear(bnn::BayesLinearOptions(16, 2).estimator(bnn::Estimator::kFlipout)));
}

std::vector<torch::Tensor> snapshot(const torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}

// A layer that returns NaN from the `bad_call`-th forward on: a stand-in for a diverging run.
struct NanAfterImpl : torch::nn::Cloneable<NanAfterImpl> {
  explicit NanAfterImpl(int64_t bad_call) : bad_call_(bad_call) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    return ++calls_ >= bad_call_ ? x * std::nan("") : x;
  }
  int64_t bad_call_, calls_ = 0;
};
TORCH_MODULE(NanAfter);

// A layer that returns NaN at its `bad_call`-th forward and fails a check after it, as a layer
// that validates its input would on the ruined weights.
struct NanThenErrorImpl : torch::nn::Cloneable<NanThenErrorImpl> {
  explicit NanThenErrorImpl(int64_t bad_call) : bad_call_(bad_call) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x) {
    ++calls_;
    TORCH_CHECK(calls_ <= bad_call_, "NanThenError: a check that fails after the NaN");
    return calls_ == bad_call_ ? x * std::nan("") : x;
  }
  int64_t bad_call_, calls_ = 0;
};
TORCH_MODULE(NanThenError);

// A classification likelihood of one-hot (or probability) targets [N, C].
struct SoftLabelLikelihood : bnn::Likelihood {
  torch::Tensor nll(const torch::Tensor& logits, const torch::Tensor& targets) override {
    return -(targets * torch::log_softmax(logits, 1)).sum(1).mean();
  }
  bool is_classification() const override { return true; }
  std::string name() const override { return "soft labels"; }
};

// Cross entropy of tag scores [N, C, T] against tags [N, T]: T predictions per example.
struct TaggingLikelihood : bnn::Likelihood {
  torch::Tensor nll(const torch::Tensor& scores, const torch::Tensor& tags) override {
    return torch::nn::functional::cross_entropy(scores, tags) * tags.size(1);
  }
  bool is_classification() const override { return true; }
  std::string name() const override { return "tagging"; }
};

// What save_checkpoint wrote before it held the CUDA generators: exactly these keys.
void save_checkpoint_without_cuda_states(bnn::Trainer& trainer, const std::string& path) {
  torch::serialize::OutputArchive archive, model, likelihood, optimizer;
  archive.write("bayesnn_checkpoint", torch::tensor(int64_t{1}));
  archive.write("epoch", torch::tensor(trainer.epoch()));
  archive.write("step", torch::tensor(trainer.step()));
  archive.write("rng_cpu", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  trainer.model().module->save(model);
  trainer.likelihood().save(likelihood);
  trainer.optimizer().save(optimizer);
  archive.write("model", model);
  archive.write("likelihood", likelihood);
  archive.write("optimizer", optimizer);
  std::ostringstream bytes;
  archive.save_to(bytes);
  std::ofstream(path, std::ios::binary) << bayesnn::detail::seal_checkpoint(bytes.str());
}
}  // namespace

TEST_CASE("Trainer: mean-field VI of Bayesian linear regression reaches its closed-form optimum",
          "[trainer][statistical]") {
  torch::manual_seed(50);
  const int64_t n = 200, d = 3;
  const double noise_sd = 0.5, prior_sd = 1.0;
  auto x = torch::randn({n, d}, torch::kDouble);
  auto w_true = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble);
  auto y = x.matmul(w_true).unsqueeze(1) + noise_sd * torch::randn({n, 1}, torch::kDouble);

  // Exact posterior: precision P = XᵀX / s_n² + I / s_p², mean P⁻¹ Xᵀy / s_n². The mean-field
  // optimum has the exact means and variances 1 / diag(P).
  auto precision = x.t().matmul(x) / (noise_sd * noise_sd) +
                   torch::eye(d, torch::kDouble) / (prior_sd * prior_sd);
  auto posterior_mean =
      torch::linalg_solve(precision, x.t().matmul(y) / (noise_sd * noise_sd)).squeeze(1);
  auto mean_field_sd = precision.diagonal().reciprocal().sqrt();

  bnn::BayesLinear fc(bnn::BayesLinearOptions(d, 1).bias(false).prior(bnn::Prior::fixed(prior_sd)));
  fc->to(torch::kDouble);
  bnn::Trainer trainer(fc,
                       bnn::TrainerOptions()
                           .epochs(1500)
                           .batch_size(n)
                           .lr(0.02)
                           .lr_final_fraction(0.005)
                           .train_samples(8)
                           .seed(51)
                           .progress(false),
                       std::make_shared<bnn::GaussianLikelihood>(noise_sd));
  trainer.fit(bnn::Dataset{x, y});

  auto learned_mean = fc->weight_mean.detach().squeeze(0);
  auto learned_sd = fc->weight_log_sigma.detach().exp().squeeze(0);
  INFO("means " << learned_mean << " vs " << posterior_mean << "; sds " << learned_sd << " vs "
                << mean_field_sd);
  // Tolerance: a tenth of the posterior sd for the means, 5 % for the sds (the stochastic
  // optimiser's residual noise after the decayed learning rate is well below both).
  CHECK(((learned_mean - posterior_mean).abs() / mean_field_sd).max().item<double>() < 0.1);
  CHECK(((learned_sd - mean_field_sd).abs() / mean_field_sd).max().item<double>() < 0.05);
}

TEST_CASE("Trainer: logistic regression reaches the Bayes accuracy and the KL shrinks weights",
          "[trainer][statistical]") {
  auto train = two_blobs(400, 52);
  auto test = two_blobs(4000, 53);
  auto fit = [&](double kl_weight) {
    torch::manual_seed(54);
    bnn::BayesLinear fc(bnn::BayesLinearOptions(2, 2).prior(bnn::Prior::fixed(0.1)));
    bnn::Trainer trainer(fc, bnn::TrainerOptions()
                                 .epochs(150)
                                 .batch_size(100)
                                 .lr(0.05)
                                 .kl_weight(kl_weight)
                                 .seed(55)
                                 .progress(false));
    trainer.fit(train);
    auto prediction = bnn::predict(fc, test.inputs, 50);
    return std::make_pair(bnn::metrics::accuracy(prediction.probs, test.targets),
                          fc->weight_mean.detach().norm().item<double>());
  };
  const auto [accuracy, norm] = fit(1.0);
  const auto [accuracy_no_kl, norm_no_kl] = fit(0.0);
  INFO("accuracy " << accuracy << " (kl_weight 0: " << accuracy_no_kl << "), |w| " << norm
                   << " (kl_weight 0: " << norm_no_kl << ")");
  // 4000 test points: the accuracy's sd is 0.004; the Bayes rate is 0.921.
  CHECK(accuracy > 0.90);
  CHECK(norm < 0.5 * norm_no_kl);
}

TEST_CASE("Trainer: N epochs straight equal N/2, checkpoint, resume, N/2 bit for bit",
          "[trainer]") {
  // Under each family of prior: the per-tensor and per-unit scales, and a Monte Carlo KL whose
  // draws come from the restored generator.
  auto prior = bnn::Prior::hierarchical();
  SECTION("hierarchical") {}
  SECTION("unit_hierarchical") { prior = bnn::Prior::unit_hierarchical(); }
  SECTION("scale_mixture") { prior = bnn::Prior::scale_mixture(); }
  SECTION("group_horseshoe") { prior = bnn::Prior::group_horseshoe(); }
  SECTION("group_normal_jeffreys") { prior = bnn::Prior::group_normal_jeffreys(); }
  const auto small_mlp = [&] { return ::small_mlp(prior); };
  bayesnn::test::TempDir dir;
  auto train = two_blobs(300, 56);
  auto options = bnn::TrainerOptions()
                     .epochs(4)
                     .batch_size(64)
                     .seed(57)
                     .kl_warmup_steps(10)
                     .lr_final_fraction(0.1)
                     .progress(false);
  torch::manual_seed(58);
  auto straight = small_mlp();
  bnn::Trainer(straight, options).fit(train);

  // The same run stopped after half its epochs (its learning-rate schedule spans all four).
  torch::manual_seed(58);
  auto first_half = small_mlp();
  bnn::Trainer first(first_half, options);
  first.train_epoch(train);
  first.train_epoch(train);
  first.save_checkpoint(dir.file("half.pt"));

  torch::manual_seed(999);  // a different initialisation, overwritten by the checkpoint
  auto resumed = small_mlp();
  bnn::Trainer second(resumed, options);
  second.load_checkpoint(dir.file("half.pt"));
  CHECK(second.epoch() == 2);
  CHECK(second.step() == first.step());
  second.fit(train);

  auto expected = snapshot(*straight);
  auto actual = snapshot(*resumed);
  REQUIRE(expected.size() == actual.size());
  for (size_t i = 0; i < expected.size(); ++i) CHECK(torch::equal(expected[i], actual[i]));
}

TEST_CASE("Trainer: checkpoints are atomic and a truncated one is rejected", "[trainer]") {
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 59);
  torch::manual_seed(60);
  auto model = small_mlp();
  bnn::Trainer trainer(
      model, bnn::TrainerOptions().epochs(1).batch_size(50).progress(false).checkpoint_path(
                 dir.file("ckpt.pt")));
  trainer.fit(train);
  REQUIRE(std::filesystem::exists(dir.file("ckpt.pt")));
  CHECK_FALSE(std::filesystem::exists(dir.file("ckpt.pt.tmp")));

  SECTION("a truncated file is rejected naming it") {
    const auto size = std::filesystem::file_size(dir.file("ckpt.pt"));
    std::filesystem::copy_file(dir.file("ckpt.pt"), dir.file("truncated.pt"));
    std::filesystem::resize_file(dir.file("truncated.pt"), size / 2);
    REQUIRE_THROWS_WITH(trainer.load_checkpoint(dir.file("truncated.pt")),
                        Contains("truncated.pt' is not a readable bayesnn checkpoint"));
    REQUIRE_NOTHROW(trainer.load_checkpoint(dir.file("ckpt.pt")));
  }
  SECTION("a damaged file is rejected before LibTorch reads it") {
    // A byte of a tensor's data (which LibTorch itself would read without complaint), and a
    // byte of the archive's TorchScript code (which can crash LibTorch's importer).
    std::string bytes;
    {
      std::ifstream file(dir.file("ckpt.pt"), std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
    size_t tensor = 0, code = 0;
    {
      caffe2::serialize::PyTorchStreamReader reader(dir.file("ckpt.pt"));
      for (const auto& name : reader.getAllRecords()) {
        if (name.rfind("data/", 0) == 0) tensor = reader.getRecordOffset(name);
        if (name.rfind("code/", 0) == 0) code = reader.getRecordOffset(name);
      }
    }
    REQUIRE(tensor > 0);
    REQUIRE(code > 0);
    for (const size_t offset : {tensor, code}) {
      auto damaged = bytes;
      damaged[offset] = static_cast<char>(damaged[offset] ^ 0x10);
      std::ofstream(dir.file("damaged.pt"), std::ios::binary | std::ios::trunc) << damaged;
      REQUIRE_THROWS_WITH(trainer.load_checkpoint(dir.file("damaged.pt")),
                          Contains("damaged.pt' is not a readable bayesnn checkpoint (damaged: "
                                   "its records do not match its checksum)"));
    }
  }
  SECTION("an archive without a checksum is checked by its records, then refused unless ours") {
    // An intact archive that is no bayesnn checkpoint reaches LibTorch's importer, which finds no
    // marker; one without the record the importer starts from does not.
    torch::serialize::OutputArchive plain;
    plain.write("epoch", torch::tensor(int64_t{1}));
    plain.save_to(dir.file("plain.pt"));
    REQUIRE_THROWS_WITH(trainer.load_checkpoint(dir.file("plain.pt")),
                        Contains("plain.pt' is not a readable bayesnn checkpoint (truncated, "
                                 "corrupt or from another model): No such serialized tensor "
                                 "'bayesnn_checkpoint'"));
    {
      caffe2::serialize::PyTorchStreamWriter writer(dir.file("bare.pt"));
      writer.writeRecord("version", "3\n", 2);
      writer.writeEndOfFile();
    }
    REQUIRE_THROWS_WITH(trainer.load_checkpoint(dir.file("bare.pt")),
                        Contains("bare.pt' is not a readable bayesnn checkpoint (it has no "
                                 "checksum, and no 'data.pkl' record: not a checkpoint of "
                                 "bayesnn)"));
  }
  SECTION("a crash while saving leaves the previous checkpoint loadable") {
    // What a crash mid-save leaves: a partial temporary beside an intact checkpoint.
    std::ofstream(dir.file("ckpt.pt.tmp")) << "partial";
    REQUIRE_NOTHROW(trainer.load_checkpoint(dir.file("ckpt.pt")));
    trainer.save_checkpoint(dir.file("ckpt.pt"));
    REQUIRE_NOTHROW(trainer.load_checkpoint(dir.file("ckpt.pt")));
  }
  SECTION("an unwritable path is an error that keeps the previous file") {
    REQUIRE_THROWS_WITH(trainer.save_checkpoint(dir.file("missing/dir/ckpt.pt")),
                        Contains("cannot write the checkpoint"));
    REQUIRE_NOTHROW(trainer.load_checkpoint(dir.file("ckpt.pt")));
  }
  SECTION("a checkpoint of another network is refused, whatever its names") {
    // Module::load alone would give the layer a weight of the other shape, silently.
    torch::nn::Sequential wider(bnn::BayesLinear(2, 3));
    bnn::Trainer other(wider, bnn::TrainerOptions().progress(false));
    REQUIRE_THROWS_WITH(
        other.load_checkpoint(dir.file("ckpt.pt")),
        Contains("ckpt.pt' is not a readable bayesnn checkpoint (truncated, corrupt "
                 "or from another model): '0.weight_mean' has shape [16, 2], the "
                 "network's [3, 2]"));
    CHECK(wider->ptr(0)->as<bnn::BayesLinear>()->weight_mean.sizes() == torch::IntArrayRef({3, 2}));
  }
  SECTION("a missing file is named") {
    REQUIRE_THROWS_WITH(trainer.load_checkpoint(dir.file("nope.pt")),
                        Contains("no checkpoint at '") && Contains("nope.pt'"));
  }
}

TEST_CASE("Trainer: a non-finite loss stops training naming the step and the term", "[trainer]") {
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 61);
  SECTION("NLL") {
    torch::manual_seed(62);
    torch::nn::Sequential model(bnn::BayesLinear(2, 2), NanAfter(5));  // 2 steps per epoch
    bnn::Trainer trainer(
        model, bnn::TrainerOptions().epochs(5).batch_size(50).progress(false).checkpoint_path(
                   dir.file("ckpt.pt")));
    REQUIRE_THROWS_MATCHES(
        trainer.fit(train), bnn::NonFiniteLossError,
        Catch::Matchers::Message(
            "training stopped at step 5 (epoch 3, batch 1): the NLL is nan; the last good "
            "checkpoint is " +
            dir.file("ckpt.pt")));
    // The last good checkpoint is the one after epoch 2, and it loads.
    torch::manual_seed(62);
    torch::nn::Sequential fresh(bnn::BayesLinear(2, 2), NanAfter(1000));
    bnn::Trainer reader(fresh, bnn::TrainerOptions().progress(false));
    reader.load_checkpoint(dir.file("ckpt.pt"));
    CHECK(reader.epoch() == 2);
    for (const auto& p : fresh->parameters()) CHECK(torch::isfinite(p).all().item<bool>());
  }
  SECTION("KL") {
    torch::manual_seed(63);
    bnn::BayesLinear fc(2, 2);
    fc->set_mode(bnn::Mode::kMean);  // the output stays finite; only the KL sees log_sigma
    {
      torch::NoGradGuard no_grad;
      fc->weight_log_sigma[0][0] = INFINITY;
    }
    bnn::Trainer trainer(fc, bnn::TrainerOptions().epochs(1).batch_size(50).progress(false));
    // An infinite sigma makes the KL's terms inf - inf: NaN or inf, either way named.
    REQUIRE_THROWS_WITH(trainer.fit(train), Contains("step 1 (epoch 1, batch 1): the KL is "));
  }
}

TEST_CASE("Trainer: writes one JSON line per epoch with the documented keys", "[trainer]") {
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 64);
  torch::manual_seed(65);
  auto model = small_mlp();
  std::vector<int64_t> seen;
  bnn::Trainer trainer(model,
                       bnn::TrainerOptions().epochs(3).batch_size(32).progress(false).log_path(
                           dir.file("log.jsonl")));
  trainer.add_epoch_hook(
      [&](const bnn::Trainer&, const bnn::EpochStats& stats) { seen.push_back(stats.epoch); });
  auto history = trainer.fit(train);
  CHECK(seen == std::vector<int64_t>{1, 2, 3});
  std::ifstream log(dir.file("log.jsonl"));
  std::string line;
  int64_t lines = 0;
  while (std::getline(log, line)) {
    auto json = nlohmann::json::parse(line);
    ++lines;
    CHECK(json["epoch"] == lines);
    for (const char* key : {"elbo", "nll", "kl", "kl_weight", "accuracy", "seconds",
                            "images_per_second", "lr", "step", "loss"}) {
      INFO(key);
      CHECK(std::isfinite(json[key].get<double>()));
    }
    CHECK(json["prior_scales"].contains("0.weight_prior"));
    CHECK(json["step"] == lines * 4);  // ceil(100 / 32) batches per epoch
  }
  CHECK(lines == 3);
  CHECK(history.back().elbo == Approx(-(history.back().nll + history.back().kl / 100)));
}

TEST_CASE(
    "Trainer: scale_lr trains the group scales in a parameter group of their own, and the log "
    "records their log α quantiles",
    "[trainer]") {
  bayesnn::test::TempDir dir;
  torch::manual_seed(66);
  const auto prior = bnn::Prior::group_normal_jeffreys();
  torch::nn::Sequential model(bnn::BayesLinear(bnn::BayesLinearOptions(2, 8).prior(prior)),
                              torch::nn::ReLU(),
                              bnn::BayesLinear(bnn::BayesLinearOptions(8, 2).prior(prior)));
  bnn::Trainer plain(model, bnn::TrainerOptions());
  CHECK(plain.optimizer().param_groups().size() == 1);

  bnn::Trainer trainer(
      model, bnn::TrainerOptions().epochs(1).batch_size(32).scale_lr(0.05).progress(false).log_path(
                 dir.file("log.jsonl")));
  const auto& groups = trainer.optimizer().param_groups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].options().get_lr() == Approx(1e-3));
  CHECK(groups[1].options().get_lr() == Approx(0.05));
  std::set<const void*> scales;
  for (size_t i : {0, 2}) {
    for (const auto& p : model[i]->as<bnn::BayesLinearImpl>()->weight_prior->parameters()) {
      scales.insert(p.unsafeGetTensorImpl());
    }
  }
  CHECK(groups[1].params().size() == scales.size());
  for (const auto& p : groups[1].params()) CHECK(scales.count(p.unsafeGetTensorImpl()) == 1);
  CHECK(groups[0].params().size() + groups[1].params().size() == model->parameters().size());

  trainer.fit(two_blobs(100, 67));
  const double min_log_alpha =
      model[0]->as<bnn::BayesLinearImpl>()->weight.group_scales()->log_alpha().min().item<double>();

  // max_log_sigma: every log σ at most the clip after training (they start at -5 and grow).
  bnn::Trainer clipped(
      model,
      bnn::TrainerOptions().epochs(2).batch_size(32).lr(0.05).max_log_sigma(-4.9).progress(false));
  clipped.fit(two_blobs(100, 68));
  for (size_t i : {0, 2}) {
    const auto& layer = *model[i]->as<bnn::BayesLinearImpl>();
    CHECK(layer.weight_log_sigma.max().item<double>() <= -4.9);
    CHECK(layer.bias_log_sigma.max().item<double>() <= -4.9);
  }
  std::ifstream log(dir.file("log.jsonl"));
  std::string line;
  REQUIRE(std::getline(log, line));
  const auto quantiles =
      nlohmann::json::parse(line)["log_alpha"]["0.weight_prior"].get<std::vector<double>>();
  REQUIRE(quantiles.size() == bnn::kLogAlphaQuantiles.size());
  CHECK(std::is_sorted(quantiles.begin(), quantiles.end()));
  CHECK(quantiles.front() == Approx(min_log_alpha).epsilon(1e-4));
}

TEST_CASE("Trainer: bad options name the value", "[trainer]") {
  auto model = small_mlp();
  auto make = [&](bnn::TrainerOptions options) { bnn::Trainer trainer(model, options); };
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().batch_size(0)),
                      Contains("batch_size must be positive, got 0"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().epochs(-1)),
                      Contains("epochs must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().lr(-1e-3)),
                      Contains("lr must be positive and finite, got -0.001"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().lr_final_fraction(0)),
                      Contains("lr_final_fraction must be in (0, 1], got 0"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().train_samples(0)),
                      Contains("train_samples must be positive, got 0"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().kl_weight(std::nan(""))),
                      Contains("kl_weight must be finite and >= 0, got nan"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().kl_warmup_steps(-5)),
                      Contains("kl_warmup_steps must be >= 0, got -5"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().grad_clip_norm(-1)),
                      Contains("grad_clip_norm must be >= 0, got -1"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().max_log_sigma(std::nan(""))),
                      Contains("max_log_sigma must be a number (inf: no clip), got nan"));
  REQUIRE_THROWS_WITH(make(bnn::TrainerOptions().scale_lr(-1)),
                      Contains("scale_lr must be finite and >= 0 (0: lr), got -1"));
  bnn::Trainer trainer(model, bnn::TrainerOptions());
  REQUIRE_THROWS_WITH(trainer.set_optimizer(nullptr), Contains("the optimizer is empty"));
  REQUIRE_THROWS_WITH(bnn::GaussianLikelihood(0.0),
                      Contains("noise_sd must be positive and finite, got 0"));
}

TEST_CASE("Trainer: any torch optimizer can replace Adam, and clipping and warm-up apply",
          "[trainer]") {
  auto train = two_blobs(200, 66);
  torch::manual_seed(67);
  auto model = small_mlp();
  bnn::Trainer trainer(model, bnn::TrainerOptions()
                                  .epochs(20)
                                  .batch_size(50)
                                  .grad_clip_norm(1.0)
                                  .kl_warmup_steps(40)
                                  .progress(false));
  trainer.set_optimizer(std::make_unique<torch::optim::SGD>(
      trainer.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9)));
  auto history = trainer.fit(train);
  // 4 steps per epoch; step k (from 0) weighs the KL by k / 40: the epoch ends at 3 / 40.
  CHECK(history.front().kl_weight == Approx(3.0 / 40));
  CHECK(history.back().kl_weight == 1.0);
  CHECK(history.back().accuracy > 0.85);
}

TEST_CASE("predict: per-sample and mean probabilities, and S = 0 is the posterior mean",
          "[predictive]") {
  torch::manual_seed(68);
  auto model = small_mlp();
  model->train();
  auto x = torch::randn({25, 2});
  auto prediction = bnn::predict(model, x, 7, bnn::PredictOptions().batch_size(10));
  CHECK(prediction.samples.sizes() == torch::IntArrayRef({7, 25, 2}));
  CHECK(torch::allclose(prediction.probs, prediction.samples.mean(0)));
  CHECK(torch::allclose(prediction.samples.sum(2), torch::ones({7, 25})));
  CHECK_FALSE(torch::equal(prediction.samples[0], prediction.samples[1]));
  CHECK(model->is_training());

  // One weight draw per sample for every input batch: the batch size changes nothing.
  torch::manual_seed(69);
  const auto in_one_batch = bnn::predict(model, x, 7);
  torch::manual_seed(69);
  CHECK(torch::allclose(bnn::predict(model, x, 7, bnn::PredictOptions().batch_size(3)).samples,
                        in_one_batch.samples));
  CHECK(model->ptr(0)->as<bnn::BayesLinear>()->mode() == bnn::Mode::kSample);

  auto mean = bnn::predict(model, x, 0);
  bnn::set_mode(*model, bnn::Mode::kMean);
  model->eval();
  bnn::predict(model, x, 3);  // leaves the modes and the training flag as it found them
  CHECK(model->ptr(0)->as<bnn::BayesLinear>()->mode() == bnn::Mode::kMean);
  CHECK_FALSE(model->is_training());
  CHECK(mean.samples.size(0) == 1);
  CHECK(torch::allclose(mean.probs, torch::softmax(model->forward(x), 1)));

  REQUIRE_THROWS_WITH(bnn::predict(model, x, -1),
                      Contains("samples must be >= 0 (0: the posterior mean), got -1"));
  REQUIRE_THROWS_WITH(bnn::predict(model, x, 1, bnn::PredictOptions().batch_size(0)),
                      Contains("batch_size must be positive, got 0"));
  REQUIRE_THROWS_WITH(bnn::predict(model, torch::empty({0, 2}), 1),
                      Contains("expected inputs [N, ...] with N > 0"));
  bnn::BayesLinear regression(2, 1);
  regression->set_mode(bnn::Mode::kMean);
  REQUIRE_THROWS_WITH(
      bnn::predict(regression, x.unsqueeze(0), 1),
      Contains("expected the network to return logits [1, C], got shape [1, 25, 1]"));
  CHECK(regression->mode() == bnn::Mode::kMean);  // restored on the way out of the error
}

TEST_CASE("Trainer: one epoch of the 2x800 MLP on the real MNIST passes 90 % test accuracy",
          "[trainer][mnist]") {
  const auto dir = bayesnn::test::real_data_dir("mnist");
  if (!bayesnn::test::real_data_present(dir)) return;
  const auto train = bnn::load_mnist(dir, bnn::Split::kTrain);
  const auto test = bnn::load_mnist(dir, bnn::Split::kTest);
  torch::manual_seed(70);
  auto layer = [](int64_t in, int64_t out) {
    return bnn::BayesLinear(bnn::BayesLinearOptions(in, out)
                                .prior(bnn::Prior::fixed(0.1))
                                .estimator(bnn::Estimator::kLocalReparameterization));
  };
  torch::nn::Sequential net(torch::nn::Flatten(), layer(784, 800), torch::nn::ReLU(),
                            layer(800, 800), torch::nn::ReLU(), layer(800, 10));
  bnn::Trainer trainer(
      net, bnn::TrainerOptions().epochs(1).batch_size(128).lr(1e-3).seed(71).progress(false));
  const auto stats = trainer.fit(train).back();
  const auto prediction = bnn::predict(net, test.inputs, 20);
  const double accuracy = bnn::metrics::accuracy(prediction.probs, test.targets);
  INFO("test accuracy " << accuracy << " after " << stats.seconds << " s (train accuracy "
                        << stats.accuracy << ", KL " << stats.kl << ")");
  // 10,000 test images: the accuracy's standard error near 0.95 is 0.002.
  CHECK(accuracy > 0.90);
}

TEST_CASE("Trainer: leaves torch's generators to the program (it seeds only the batch order)",
          "[trainer]") {
  torch::manual_seed(72);
  auto model = small_mlp();
  const auto expected = torch::randn({8});
  torch::manual_seed(72);
  model = small_mlp();
  bnn::Trainer trainer(model, bnn::TrainerOptions().seed(73).progress(false));
  CHECK(torch::equal(torch::randn({8}), expected));
}

TEST_CASE("Trainer: a checkpoint restores the CPU generator, and one without CUDA states loads",
          "[trainer]") {
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 74);
  torch::manual_seed(75);
  auto model = small_mlp();
  bnn::Trainer trainer(model, bnn::TrainerOptions().epochs(2).batch_size(50).progress(false));
  trainer.train_epoch(train);
  SECTION("the current layout") { trainer.save_checkpoint(dir.file("ckpt.pt")); }
  SECTION("the layout before the CUDA generators") {
    save_checkpoint_without_cuda_states(trainer, dir.file("ckpt.pt"));
  }
  const auto saved = snapshot(*model);
  const auto draw = torch::randn({8});

  torch::manual_seed(76);
  auto resumed = small_mlp();
  bnn::Trainer reader(resumed, bnn::TrainerOptions().epochs(2).batch_size(50).progress(false));
  reader.load_checkpoint(dir.file("ckpt.pt"));
  CHECK(reader.epoch() == 1);
  CHECK(reader.step() == 2);
  CHECK(torch::equal(torch::randn({8}), draw));
  const auto loaded = snapshot(*resumed);
  for (size_t i = 0; i < saved.size(); ++i) CHECK(torch::equal(loaded[i], saved[i]));
}

TEST_CASE("Trainer: a checkpoint holds and restores each CUDA device's generator",
          "[trainer][cuda]") {
  BAYESNN_REQUIRE_CUDA_OR_RETURN();
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 78).to(torch::kCUDA);
  torch::manual_seed(79);
  auto model = small_mlp();
  const auto options =
      bnn::TrainerOptions().epochs(2).batch_size(50).device(torch::kCUDA).progress(false);
  bnn::Trainer trainer(model, options);
  trainer.train_epoch(train);
  trainer.save_checkpoint(dir.file("ckpt.pt"));
  torch::serialize::InputArchive archive;
  archive.load_from(dir.file("ckpt.pt"));
  torch::Tensor state;
  CHECK(archive.try_read("rng_cuda_0", state, /*is_buffer=*/true));
  const auto draw = torch::randn({8}, torch::kCUDA);
  trainer.load_checkpoint(dir.file("ckpt.pt"));
  trainer.fit(train);
  const auto expected = snapshot(*model);

  torch::manual_seed(80);
  bnn::Trainer reader(model, options);
  reader.load_checkpoint(dir.file("ckpt.pt"));
  CHECK(torch::equal(torch::randn({8}, torch::kCUDA), draw));
  reader.load_checkpoint(dir.file("ckpt.pt"));
  reader.fit(train);
  const auto actual = snapshot(*model);
  // The same draws on the same device: equal up to the order of the GPU's sums.
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(torch::allclose(actual[i], expected[i], 1e-5, 1e-6));
  }
}

TEST_CASE("Trainer: a non-finite loss is the error reported even when a later step fails",
          "[trainer]") {
  auto train = two_blobs(100, 81);
  torch::manual_seed(82);
  torch::nn::Sequential model(bnn::BayesLinear(2, 2), NanThenError(3));  // 2 steps per epoch
  bnn::Trainer trainer(model, bnn::TrainerOptions().epochs(3).batch_size(50).progress(false));
  REQUIRE_THROWS_MATCHES(
      trainer.fit(train), bnn::NonFiniteLossError,
      Catch::Matchers::Message("training stopped at step 3 (epoch 2, batch 1): the NLL is nan"));
}

TEST_CASE("Trainer: gradient clipping scales the update to the clip norm", "[trainer]") {
  auto train = two_blobs(50, 83);
  torch::manual_seed(84);
  auto model = small_mlp();
  bnn::Trainer trainer(
      model, bnn::TrainerOptions().epochs(1).batch_size(50).grad_clip_norm(1e-3).progress(false));
  trainer.set_optimizer(
      std::make_unique<torch::optim::SGD>(trainer.parameters(), torch::optim::SGDOptions(1.0)));
  const auto before = snapshot(*model);
  trainer.fit(train);
  const auto after = snapshot(*model);
  double squared = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    squared += (after[i] - before[i]).to(torch::kDouble).square().sum().item<double>();
  }
  // One SGD step of rate 1: the update is the clipped gradient, of norm 1e-3 (up to float32's
  // rounding of the parameters).
  CHECK(std::sqrt(squared) == Approx(1e-3).epsilon(0.01));
}

TEST_CASE("Trainer: trains on any {inputs, targets}, with accuracy only for classification",
          "[trainer]") {
  torch::manual_seed(85);
  SECTION("regression targets [N, 2, 3] in double") {
    bnn::Dataset data{torch::randn({64, 4}, torch::kDouble),
                      torch::randn({64, 2, 3}, torch::kDouble)};
    torch::nn::Sequential net(bnn::BayesLinear(4, 6),
                              torch::nn::Unflatten(1, std::vector<int64_t>{2, 3}));
    net->to(torch::kDouble);
    bnn::Trainer trainer(net, bnn::TrainerOptions().epochs(2).batch_size(16).progress(false),
                         std::make_shared<bnn::GaussianLikelihood>(1.0));
    const auto stats = trainer.fit(data).back();
    CHECK(std::isfinite(stats.nll));
    CHECK(std::isfinite(stats.elbo));
    CHECK(std::isnan(stats.accuracy));
  }
  SECTION("one-hot targets [N, C]") {
    auto blobs = two_blobs(400, 86);
    bnn::Dataset data{blobs.inputs, torch::one_hot(blobs.targets, 2).to(torch::kFloat)};
    auto model = small_mlp();
    bnn::Trainer trainer(model,
                         bnn::TrainerOptions().epochs(30).batch_size(100).lr(0.02).progress(false),
                         std::make_shared<SoftLabelLikelihood>());
    const auto stats = trainer.fit(data).back();
    // The Bayes rate of the two blobs is 0.921.
    CHECK(stats.accuracy > 0.8);
    CHECK(stats.accuracy <= 1.0);
  }
  SECTION("tags [N, T]: T predictions per example") {
    const int64_t n = 200, tags = 5;
    auto inputs = torch::randn({n, 2, tags});
    bnn::Dataset data{inputs, (inputs.select(1, 0) > 0).to(torch::kLong)};
    struct PerTag : torch::nn::Module {
      bnn::BayesLinear fc{2, 2};
      PerTag() { register_module("fc", fc); }
      torch::Tensor forward(const torch::Tensor& x) {
        return fc->forward(x.transpose(1, 2)).transpose(1, 2);
      }
    };
    auto net = std::make_shared<PerTag>();
    bnn::Trainer trainer(bnn::Model(net, [net](const torch::Tensor& x) { return net->forward(x); }),
                         bnn::TrainerOptions().epochs(30).batch_size(50).lr(0.02).progress(false),
                         std::make_shared<TaggingLikelihood>());
    const auto stats = trainer.fit(data).back();
    CHECK(stats.accuracy > 0.9);
    CHECK(stats.accuracy <= 1.0);
  }
}

TEST_CASE("Trainer: stop_requested stops before the next step, the last checkpoint intact",
          "[trainer]") {
  bayesnn::test::TempDir dir;
  auto train = two_blobs(100, 71);
  torch::manual_seed(72);
  auto model = small_mlp();
  bnn::Trainer trainer(
      model, bnn::TrainerOptions().epochs(5).batch_size(25).progress(false).checkpoint_path(
                 dir.file("ckpt.pt")));
  int asked = 0;
  trainer.stop_requested = [&] { return ++asked == 7; };  // 4 steps an epoch: epoch 2, batch 3
  int epochs_seen = 0;
  trainer.add_epoch_hook([&](const bnn::Trainer&, const bnn::EpochStats&) { ++epochs_seen; });
  REQUIRE_THROWS_MATCHES(
      trainer.fit(train), bnn::TrainingInterrupted,
      Catch::Matchers::Message("training interrupted before step 7 (epoch 2, batch 3); the last "
                               "checkpoint, of epoch 1, is " +
                               dir.file("ckpt.pt")));
  CHECK(trainer.step() == 6);
  CHECK(epochs_seen == 1);
  torch::manual_seed(72);
  auto fresh = small_mlp();
  bnn::Trainer reader(fresh, bnn::TrainerOptions().progress(false));
  reader.load_checkpoint(dir.file("ckpt.pt"));
  CHECK(reader.epoch() == 1);
  CHECK(reader.step() == 4);

  bnn::Trainer early(small_mlp(), bnn::TrainerOptions().epochs(1).batch_size(25).progress(false));
  early.stop_requested = [] { return true; };
  REQUIRE_THROWS_WITH(early.fit(train),
                      "training interrupted before step 1 (epoch 1, batch 1); no "
                      "checkpoint was written");
}
