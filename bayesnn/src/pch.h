// Precompiled header for the library's own translation units (PRIVATE): torch's headers
// dominate compile time on a two-core machine.
#pragma once

#include <torch/torch.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
