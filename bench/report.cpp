// The report: the JSON of the whole run, and its markdown tables.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/version.h>
#include <nlohmann/json.hpp>

#include "bench.h"
#include "system.h"
#include "timing.h"

namespace bench {
namespace {
using nlohmann::json;

std::string machine_lines(const json& report) {
  std::string text = fmt::format(
      "Machine: {} ({} CPUs), LibTorch {}, {} LibTorch thread(s), {} BLAS thread(s) ({}), "
      "OMP_WAIT_POLICY={}; load average {:.2f} at start, {:.2f} at end.\n\n",
      report["machine"]["cpu"].get<std::string>(), report["machine"]["cpus"].get<int>(),
      report["torch_version"].get<std::string>(), report["threads"].get<int>(),
      report["blas"]["threads"].get<int>(), report["blas"]["config"].get<std::string>(),
      report["omp_wait_policy"].get<std::string>(),
      report["machine"]["load_average_start"].get<double>(),
      report["machine"]["load_average_end"].get<double>());
  text += "Peak float32 GEMM through LibTorch:";
  for (const auto& [device, gflops] : report["peak_gflops_by_device"].items())
    text += fmt::format(" {} {:.1f} GFLOP/s", device, gflops.get<double>());
  text += ". Memory bandwidth (a + b, float32):";
  for (const auto& [device, gbs] : report["bandwidth_gbs_by_device"].items())
    text += fmt::format(" {} {:.1f} GB/s", device, gbs.get<double>());
  return text + ".\n";
}

constexpr const char* kTrainingHeader =
    "\n| training step | device | batch | ms/step | images/s | × deterministic | GFLOP/s | "
    "% of peak | floor ms | % of floor |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
constexpr const char* kPredictiveHeader =
    "\n| MC predictive, 10k inputs | device | S | seconds | inputs/s | × S deterministic "
    "forwards |\n|---|---|---:|---:|---:|---:|\n";
constexpr const char* kMicroHeader = "\n| hot path | ms |\n|---|---:|\n";
constexpr const char* kMemoryHeader =
    "\n| training epoch memory | batch | peak RSS MiB | training adds MiB | × deterministic "
    "(added) | × deterministic (peak) |\n|---|---:|---:|---:|---:|---:|\n";

std::string training_line(const json& row) {
  return fmt::format(
      "| {} | {} | {} | {:.2f} | {:.0f} | {:.2f} | {:.1f} | {:.0f} % | {:.2f} | {:.0f} % |\n",
      row["name"].get<std::string>(), row["device"].get<std::string>(), row["batch"].get<int64_t>(),
      row["ms_per_step"].get<double>(), row["images_per_second"].get<double>(),
      row["ratio_to_deterministic"].get<double>(), row["gflops"].get<double>(),
      100 * row["fraction_of_peak"].get<double>(), row["floor_ms"].get<double>(),
      100 * row["fraction_of_floor"].get<double>());
}

std::string predictive_line(const json& row) {
  return fmt::format(
      "| {} | {} | {} | {:.3f} | {:.0f} | {:.2f} |\n", row["name"].get<std::string>(),
      row["device"].get<std::string>(), row["samples"].get<int64_t>(), row["seconds"].get<double>(),
      row["images_per_second"].get<double>(), row["ratio_to_deterministic"].get<double>());
}

std::string micro_line(const json& row) {
  return fmt::format("| {} | {:.3f} |\n", row["name"].get<std::string>(), row["ms"].get<double>());
}

std::string memory_line(const json& row) {
  return fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.2f} | {:.2f} |\n",
                     row["name"].get<std::string>(), row["batch"].get<int64_t>(),
                     row["peak_rss_mib"].get<double>(), row["training_rss_mib"].get<double>(),
                     row["ratio_to_deterministic"].get<double>(),
                     row["peak_ratio_to_deterministic"].get<double>());
}

// The header, then a line per row; nothing when there are no rows.
std::string table(const std::string& header, const json& rows,
                  std::string (*line)(const json& row)) {
  if (rows.empty()) return "";
  std::string text = header;
  for (const auto& row : rows) text += line(row);
  return text;
}

std::string markdown(const json& report) {
  return machine_lines(report) + table(kTrainingHeader, report["rows"], training_line) +
         table(kPredictiveHeader, report["predictive"], predictive_line) +
         table(kMicroHeader, report["micro"], micro_line) +
         table(kMemoryHeader, report["memory"], memory_line);
}

// --markdown, or --out with .md for its .json.
std::string markdown_path(const Settings& settings) {
  if (!settings.markdown.empty()) return settings.markdown;
  const auto dot = settings.out.rfind(".json");
  return (dot == std::string::npos ? settings.out : settings.out.substr(0, dot)) + ".md";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  file.close();
  TORCH_CHECK(file.good(), "bench: cannot write '", path, "'");
}
}  // namespace

json start_report(const Settings& settings) {
  json report;
  report["machine"] = {
      {"cpu", cpu_model()}, {"cpus", cpu_count()}, {"load_average_start", load_average()}};
  report["torch_version"] = TORCH_VERSION;
  report["quick"] = settings.quick;
  return report;
}

void write_report(const json& report, const Settings& settings) {
  const auto table = markdown(report);
  const auto md_path = markdown_path(settings);
  write_file(settings.out, report.dump(2) + '\n');
  write_file(md_path, table);
  std::cout << table;
  log_line(fmt::format("wrote {} and {} in {:.0f} s", settings.out, md_path,
                       report["seconds"].get<double>()));
}

}  // namespace bench
