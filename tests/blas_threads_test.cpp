#include "support/catch.h"

#include "bayesnn/blas_threads.h"

TEST_CASE("openblas_threads: set_openblas_threads reaches OpenBLAS's own pool", "[blas]") {
  const auto before = bayesnn::openblas_threads();
  if (!before) {
    CHECK_FALSE(bayesnn::set_openblas_threads(1));  // nothing to set under another BLAS
    WARN("LibTorch's BLAS here is not OpenBLAS");
    return;
  }
  REQUIRE(*before >= 1);
  REQUIRE(bayesnn::set_openblas_threads(1));
  CHECK(bayesnn::openblas_threads() == 1);
  REQUIRE(bayesnn::set_openblas_threads(2));
  CHECK(bayesnn::openblas_threads() == 2);
  bayesnn::set_openblas_threads(*before);
  CHECK(bayesnn::openblas_threads() == before);
}
