#include "bayesnn/export.h"

#include <filesystem>
#include <map>
#include <string>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error_text.h"

namespace bayesnn {

ExportInfo read_export_info(const std::string& path) {
  const std::string record = std::string("extra/") + kExportMetadataFile;
  auto fail = [&path](const std::string& what) {
    return ExportReadError(fmt::format("'{}' is not a readable bayesnn export: {}", path, what));
  };
  if (!std::filesystem::is_regular_file(path)) throw fail("no such file");
  std::string text;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    if (!reader.hasRecord(record)) throw fail("it holds no " + record);
    auto [data, size] = reader.getRecord(record);
    text.assign(static_cast<const char*>(data.get()), size);
  } catch (const ExportReadError&) {
    throw;
  } catch (const std::exception& error) {  // c10::Error, or the importer's own
    throw fail("not a TorchScript archive (" + detail::first_line(error) + ")");
  }
  ExportInfo info;
  info.json = text;
  try {
    const auto json = nlohmann::json::parse(text);
    info.format = json.at("format").get<std::string>();
    if (info.format != "bayesnn.posterior_mean" && info.format != "bayesnn.predictive") {
      throw fail("its format is '" + info.format +
                 "', expected bayesnn.posterior_mean or bayesnn.predictive");
    }
    info.bayesnn_version = json.at("bayesnn_version").get<std::string>();
    info.torch_version = json.at("torch_version").get<std::string>();
    info.samples = json.value("samples", int64_t{0});
    info.metadata.training_command = json.at("training_command").get<std::string>();
    info.metadata.extra = json.at("extra").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& error) {
    throw fail(std::string("its ") + kExportMetadataFile + " is not bayesnn's metadata (" +
               error.what() + ")");
  }
  return info;
}

}  // namespace bayesnn
