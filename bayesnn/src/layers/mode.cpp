#include "bayesnn/mode.h"

namespace bayesnn {

std::string to_string(Mode mode) {
  switch (mode) {
    case Mode::kSample:
      return "sample";
    case Mode::kMean:
      return "mean";
    case Mode::kFrozen:
      return "frozen";
  }
  return "unknown";
}

}  // namespace bayesnn
