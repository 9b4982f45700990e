// A program that knows bayesnn only through find_package(bayesnn).
#include <iostream>

#include <bayesnn/bayesnn.h>

int main() {
  namespace bnn = bayesnn;
  bnn::BayesLinear fc(bnn::BayesLinearOptions(4, 2).prior(bnn::Prior::hierarchical(1.0)));
  auto y = fc(torch::ones({3, 4}));
  const auto kl = fc->kl().item<double>();
  std::cout << "bayesnn " << bnn::kVersion << ": output " << y.sizes() << ", kl " << kl << "\n";
  return (y.size(0) == 3 && y.size(1) == 2 && std::isfinite(kl)) ? 0 : 1;
}
