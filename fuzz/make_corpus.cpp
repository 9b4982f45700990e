// Writes the seed corpora of the fuzz targets into the directory given (fuzz/corpus in the
// repository): small valid IDX files, a checkpoint of fuzz/checkpoint.cpp's model, and both
// exports of it. tools/fuzz --make-corpus runs it; the files are kept in the repository.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bayesnn/bayesnn.h"

namespace {

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

void put_u32(std::vector<uint8_t>& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    bytes.push_back(static_cast<uint8_t>(value >> shift));
}

// An IDX file: `magic`, then the dimensions, then one byte per entry.
std::vector<uint8_t> idx(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> bytes;
  put_u32(bytes, magic);
  size_t entries = 1;
  for (auto dim : dims) {
    put_u32(bytes, dim);
    entries *= dim;
  }
  for (size_t i = 0; i < entries; ++i) bytes.push_back(static_cast<uint8_t>(i * 37));
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR (DIR/idx, DIR/checkpoint, DIR/export exist)\n");
    return 2;
  }
  const std::string dir = argv[1];
  write_bytes(dir + "/idx/images-2x3x4", idx(0x00000803, {2, 3, 4}));
  write_bytes(dir + "/idx/images-1x1x1", idx(0x00000803, {1, 1, 1}));
  write_bytes(dir + "/idx/labels-5", idx(0x00000801, {5}));

  torch::manual_seed(1);
  torch::nn::Sequential model(
      bayesnn::BayesLinear(bayesnn::BayesLinearOptions(4, 3).prior(bayesnn::Prior::hierarchical())),
      torch::nn::ReLU(), bayesnn::BayesLinear(3, 2));
  bayesnn::Trainer trainer(model,
                           bayesnn::TrainerOptions().epochs(1).batch_size(4).progress(false));
  trainer.fit({torch::randn({8, 4}), torch::randint(0, 2, {8}, torch::kLong)});
  trainer.save_checkpoint(dir + "/checkpoint/trained-1-epoch");
  bayesnn::ExportMetadata metadata;
  metadata.training_command = "make_corpus";
  metadata.extra["seed"] = "1";
  bayesnn::export_posterior_mean(model, dir + "/export/posterior-mean", metadata);
  bayesnn::export_predictive(model, dir + "/export/predictive", 10, metadata);
  return 0;
}
