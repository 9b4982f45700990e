// read_export_info on arbitrary bytes: a file that is not a bayesnn export is one
// ExportReadError naming it, never a crash.
#include <cstddef>
#include <cstdint>

#include "bayesnn/export.h"
#include "input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = bayesnn::fuzz::input_file(data, size);
  try {
    bayesnn::read_export_info(path);
  } catch (const bayesnn::ExportReadError&) {
  }
  return 0;
}
