#include "bayesnn/mode.h"

namespace bayesnn {

std::string to_string(Mode mode) { return mode == Mode::kMean ? "mean" : "sample"; }

}  // namespace bayesnn
