#include "support/catch.h"

#include <torch/torch.h>

#include "bayesnn/fused_adam.h"

namespace bnn = bayesnn;

namespace {
// Parameters of a few shapes with a fixed start, and a loss whose gradient varies per step.
std::vector<torch::Tensor> make_parameters(torch::Dtype dtype) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> parameters;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{40, 30}, {30}, {70000}}) {
    parameters.push_back(torch::randn(shape, dtype).requires_grad_());
  }
  return parameters;
}

void take_steps(torch::optim::Optimizer& optimizer, const std::vector<torch::Tensor>& parameters,
                int steps, int first_step = 0) {
  for (int step = first_step; step < first_step + steps; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::zeros({}, parameters.front().options());
    for (const auto& p : parameters) loss = loss + ((p - 0.1 * step).pow(4) + p.sin()).sum();
    loss.backward();
    optimizer.step();
  }
}

void check_same(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b,
                double rtol, double atol) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("parameter " << i);
    CHECK(torch::allclose(a[i], b[i], rtol, atol));
  }
}
}  // namespace

TEST_CASE("FusedAdam: follows torch::optim::Adam step for step", "[fused_adam]") {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    for (double weight_decay : {0.0, 0.01}) {
      INFO("dtype " << dtype << ", weight decay " << weight_decay);
      auto options = torch::optim::AdamOptions(1e-2).weight_decay(weight_decay);
      auto reference = make_parameters(dtype), fused = make_parameters(dtype);
      torch::optim::Adam adam(reference, options);
      bnn::FusedAdam fused_adam(fused, options);
      take_steps(adam, reference, 30);
      take_steps(fused_adam, fused, 30);
      // Float: the same operations in another order round differently, by a few ulps per step.
      const double tol = dtype == torch::kFloat ? 1e-5 : 1e-12;
      check_same(reference, fused, tol, tol);
      CHECK_FALSE(torch::equal(reference.front(), make_parameters(dtype).front()));
    }
  }
}

TEST_CASE("FusedAdam: its state is Adam's, so checkpoints move between the two", "[fused_adam]") {
  auto reference = make_parameters(torch::kFloat), fused = make_parameters(torch::kFloat);
  torch::optim::Adam adam(reference, torch::optim::AdamOptions(1e-2));
  bnn::FusedAdam fused_adam(fused, torch::optim::AdamOptions(1e-2));
  take_steps(adam, reference, 10);
  take_steps(fused_adam, fused, 10);
  // Continue the fused run with a plain Adam loaded from the fused one's state, and vice versa.
  torch::serialize::OutputArchive saved_fused, saved_adam;
  fused_adam.save(saved_fused);
  adam.save(saved_adam);
  std::stringstream fused_bytes, adam_bytes;
  saved_fused.save_to(fused_bytes);
  saved_adam.save_to(adam_bytes);
  torch::optim::Adam adam_from_fused(fused, torch::optim::AdamOptions(1e-2));
  bnn::FusedAdam fused_from_adam(reference, torch::optim::AdamOptions(1e-2));
  torch::serialize::InputArchive load_fused, load_adam;
  load_fused.load_from(fused_bytes);
  load_adam.load_from(adam_bytes);
  adam_from_fused.load(load_fused);
  fused_from_adam.load(load_adam);
  take_steps(adam_from_fused, fused, 10, 10);
  take_steps(fused_from_adam, reference, 10, 10);
  check_same(reference, fused, 1e-5, 1e-5);
  // Restarting the bias correction (a lost step count) would move far more than this.
  auto fresh = make_parameters(torch::kFloat);
  torch::optim::Adam straight(fresh, torch::optim::AdamOptions(1e-2));
  take_steps(straight, fresh, 20);
  check_same(fresh, fused, 1e-5, 1e-5);
}

TEST_CASE("FusedAdam: skips parameters without a gradient and falls back where it cannot fuse",
          "[fused_adam]") {
  auto parameters = make_parameters(torch::kFloat);
  const auto untouched = parameters[1].detach().clone();
  bnn::FusedAdam optimizer(parameters, torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    parameters[1].mutable_grad() = torch::Tensor();
    (parameters[0].square().sum() + parameters[2].sum()).backward();
    optimizer.step();
  }
  CHECK(torch::equal(parameters[1], untouched));
  CHECK(optimizer.state().size() == 2);

  // AMSGrad and a non-contiguous parameter take torch::optim::Adam's path: the same numbers.
  for (bool amsgrad : {true, false}) {
    INFO("amsgrad " << amsgrad);
    auto base = torch::randn({6, 5});
    auto reference = base.t().clone().requires_grad_();
    auto strided = base.clone().t().requires_grad_();  // the transpose of a contiguous tensor
    REQUIRE_FALSE(strided.is_contiguous());
    torch::optim::Adam adam({reference}, torch::optim::AdamOptions(1e-2).amsgrad(amsgrad));
    bnn::FusedAdam fused({strided}, torch::optim::AdamOptions(1e-2).amsgrad(amsgrad));
    take_steps(adam, {reference}, 5);
    take_steps(fused, {strided}, 5);
    CHECK(torch::allclose(reference, strided));
  }
}

TEST_CASE("FusedAdam: state written with LibTorch 1.x's keys loads under every LibTorch",
          "[fused_adam]") {
  // LibTorch 1.x keys each parameter's state by its TensorImpl address written as "0x55d0...";
  // 2.x writes decimal and parses with std::stoull, which reads "0x..." as 0. This archive has
  // the layout of torch/optim/serialize.h with 1.x's keys, as every checkpoint of 1.13 has.
  auto parameters = make_parameters(torch::kFloat);
  bnn::FusedAdam trained(parameters, torch::optim::AdamOptions(1e-2));
  take_steps(trained, parameters, 3);
  torch::serialize::OutputArchive archive, state, groups, group, options;
  archive.write("pytorch_version", c10::IValue("1.5.0"));
  groups.write("param_groups/size", torch::tensor(int64_t{1}));
  group.write("params/size", torch::tensor(static_cast<int64_t>(parameters.size())));
  for (size_t j = 0; j < parameters.size(); ++j) {
    const std::string key = "0x55d0c0de" + std::to_string(1000 + j);
    // The shapes of make_parameters differ, so each parameter's state is found by its shape.
    torch::serialize::OutputArchive param_state;
    int found = 0;
    for (const auto& entry : trained.state()) {
      const auto& candidate = static_cast<const torch::optim::AdamParamState&>(*entry.second);
      if (candidate.exp_avg().sizes() != parameters[j].sizes()) continue;
      candidate.serialize(param_state);
      ++found;
    }
    REQUIRE(found == 1);
    state.write(key, param_state);
    group.write("params/" + std::to_string(j), c10::IValue(key));
  }
  trained.param_groups()[0].options().serialize(options);
  group.write("options", options);
  groups.write("param_groups/0", group);
  archive.write("state", state);
  archive.write("param_groups", groups);
  std::stringstream bytes;
  archive.save_to(bytes);

  auto fresh = make_parameters(torch::kFloat);
  bnn::FusedAdam loaded(fresh, torch::optim::AdamOptions(1e-2));
  torch::serialize::InputArchive input;
  input.load_from(bytes);
  loaded.load(input);
  REQUIRE(loaded.state().size() == parameters.size());
  // Both continue identically: the loaded optimizer has each parameter's own moments and steps.
  {
    torch::NoGradGuard no_grad;
    for (size_t j = 0; j < fresh.size(); ++j) fresh[j].copy_(parameters[j]);
  }
  take_steps(trained, parameters, 5, 3);
  take_steps(loaded, fresh, 5, 3);
  check_same(parameters, fresh, 0.0, 0.0);
}

TEST_CASE("FusedAdam: state of a parameter of another shape is refused, naming both shapes",
          "[fused_adam]") {
  auto written = make_parameters(torch::kFloat);
  bnn::FusedAdam writer(written, torch::optim::AdamOptions(1e-2));
  take_steps(writer, written, 1);
  torch::serialize::OutputArchive saved;
  writer.save(saved);
  std::stringstream bytes;
  saved.save_to(bytes);

  auto other = make_parameters(torch::kFloat);
  other[1] = torch::zeros({31}).requires_grad_();  // [30] in the archive
  bnn::FusedAdam reader(other, torch::optim::AdamOptions(1e-2));
  torch::serialize::InputArchive archive;
  archive.load_from(bytes);
  REQUIRE_THROWS_WITH(reader.load(archive),
                      Catch::Contains("FusedAdam: the state of parameter 1 of group 0 has shape "
                                      "[30], the parameter [31]"));
}
