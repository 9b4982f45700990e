#include "support/catch.h"

#include <torch/torch.h>

#include "bayesnn/dataset.h"
#include "bayesnn/idx.h"
#include "bayesnn/mnist.h"
#include "support/idx_files.h"

namespace bnn = bayesnn;
using bnn::test::counting_bytes;
using bnn::test::idx_bytes;
using bnn::test::TempDir;
using bnn::test::write_file;

namespace {
constexpr uint32_t kLabelsMagic = 0x00000801;
constexpr uint32_t kImagesMagic = 0x00000803;
}  // namespace

TEST_CASE("read_idx_images: a valid idx3 file round-trips as uint8 [N, rows, cols]", "[idx]") {
  TempDir dir;
  const auto path = dir.file("images-idx3-ubyte");
  write_file(path, idx_bytes(kImagesMagic, {3, 2, 5}, counting_bytes(30)));

  const auto images = bnn::read_idx_images(path);
  REQUIRE(images.scalar_type() == torch::kUInt8);
  REQUIRE(images.sizes() == torch::IntArrayRef({3, 2, 5}));
  REQUIRE(images.is_contiguous());
  REQUIRE(torch::equal(images, torch::arange(30, torch::kUInt8).view({3, 2, 5})));
}

TEST_CASE("read_idx_labels: a valid idx1 file round-trips as uint8 [N]", "[idx]") {
  TempDir dir;
  const auto path = dir.file("labels-idx1-ubyte");
  write_file(path, idx_bytes(kLabelsMagic, {300}, counting_bytes(300)));

  const auto labels = bnn::read_idx_labels(path);
  REQUIRE(labels.scalar_type() == torch::kUInt8);
  REQUIRE(labels.sizes() == torch::IntArrayRef({300}));
  REQUIRE(labels[0].item<int64_t>() == 0);
  REQUIRE(labels[255].item<int64_t>() == 255);
  REQUIRE(labels[299].item<int64_t>() == 43);
}

TEST_CASE("read_idx: a wrong magic number names the file, the magic found and the one expected",
          "[idx]") {
  TempDir dir;
  SECTION("images read as labels") {
    const auto path = dir.file("t10k-images-idx3-ubyte");
    write_file(path, idx_bytes(kImagesMagic, {1, 2, 2}, counting_bytes(4)));
    REQUIRE_THROWS_AS(bnn::read_idx_labels(path), bnn::DataError);
    REQUIRE_THROWS_WITH(bnn::read_idx_labels(path),
                        Catch::Contains(path + ": magic number 0x00000803, expected 0x00000801 "
                                               "(idx1 unsigned-byte labels)"));
  }
  SECTION("a gzip file read as images") {
    const auto path = dir.file("train-images-idx3-ubyte.gz");
    write_file(path, {0x1f, 0x8b, 0x08, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    REQUIRE_THROWS_WITH(bnn::read_idx_images(path),
                        Catch::Contains(path + ": magic number 0x1f8b0808, expected 0x00000803 "
                                               "(idx3 unsigned-byte images)"));
  }
}

TEST_CASE("read_idx: a truncated file says how many bytes the header implies and how many it has",
          "[idx]") {
  TempDir dir;
  SECTION("MNIST's training images cut at 1000 bytes") {
    const auto path = dir.file("train-images-idx3-ubyte");
    write_file(path, idx_bytes(kImagesMagic, {60000, 28, 28}, counting_bytes(1000 - 16)));
    REQUIRE_THROWS_AS(bnn::read_idx_images(path), bnn::DataError);
    REQUIRE_THROWS_WITH(
        bnn::read_idx_images(path),
        Catch::Contains(
            "train-images-idx3-ubyte: expected 47040016 bytes for 60000x28x28, found 1000"));
  }
  SECTION("labels one byte short") {
    const auto path = dir.file("labels");
    write_file(path, idx_bytes(kLabelsMagic, {10}, counting_bytes(9)));
    REQUIRE_THROWS_WITH(bnn::read_idx_labels(path),
                        Catch::Contains(path + ": expected 18 bytes for 10, found 17"));
  }
  SECTION("a file with trailing bytes") {
    const auto path = dir.file("images");
    write_file(path, idx_bytes(kImagesMagic, {2, 2, 2}, counting_bytes(9)));
    REQUIRE_THROWS_WITH(bnn::read_idx_images(path),
                        Catch::Contains(path + ": expected 24 bytes for 2x2x2, found 25"));
  }
  SECTION("a header cut short") {
    const auto path = dir.file("images");
    write_file(path, {0, 0, 8, 3, 0, 0});
    REQUIRE_THROWS_WITH(
        bnn::read_idx_images(path),
        Catch::Contains(path +
                        ": expected a 16-byte idx3 unsigned-byte images header, found 6 bytes"));
  }
  SECTION("an empty file") {
    const auto path = dir.file("labels");
    write_file(path, {});
    REQUIRE_THROWS_WITH(
        bnn::read_idx_labels(path),
        Catch::Contains(path +
                        ": expected a 8-byte idx1 unsigned-byte labels header, found 0 bytes"));
  }
}

TEST_CASE("read_idx: a zero or absurd dimension is an error naming the file", "[idx]") {
  TempDir dir;
  const auto path = dir.file("images");
  SECTION("a zero dimension") {
    write_file(path, idx_bytes(kImagesMagic, {4, 0, 28}, {}));
    REQUIRE_THROWS_WITH(
        bnn::read_idx_images(path),
        Catch::Contains(path + ": dimension 1 of the header is 0, expected positive"));
  }
  SECTION("sizes whose product overflows") {
    write_file(path, idx_bytes(kImagesMagic, {0xffffffffu, 0xffffffffu, 0xffffffffu}, {}));
    REQUIRE_THROWS_WITH(
        bnn::read_idx_images(path),
        Catch::Contains(path + ": header sizes 4294967295x4294967295x4294967295 overflow a 64-bit "
                               "byte count, found 16 bytes"));
  }
}

TEST_CASE("read_idx: a missing file names the path and says how to fetch the data", "[idx]") {
  TempDir dir;
  const auto path = dir.file("train-images-idx3-ubyte");
  REQUIRE_THROWS_AS(bnn::read_idx_images(path), bnn::DataError);
  REQUIRE_THROWS_WITH(bnn::read_idx_images(path),
                      Catch::Contains(path + ": no such file; run tools/setup") &&
                          Catch::Contains("tools/fetch-data"));
  REQUIRE_THROWS_WITH(bnn::read_idx_labels(dir.file("nothing")),
                      Catch::Contains(dir.file("nothing") + ": no such file"));
}

TEST_CASE("load_mnist: image and label counts that differ are an error naming both files",
          "[idx]") {
  TempDir dir;
  write_file(dir.file("train-images-idx3-ubyte"),
             idx_bytes(kImagesMagic, {3, 2, 2}, counting_bytes(12)));
  write_file(dir.file("train-labels-idx1-ubyte"), idx_bytes(kLabelsMagic, {2}, {1, 2}));
  REQUIRE_THROWS_AS(bnn::load_mnist(dir.path(), bnn::Split::kTrain), bnn::DataError);
  REQUIRE_THROWS_WITH(
      bnn::load_mnist(dir.path(), bnn::Split::kTrain),
      Catch::Contains(dir.path() + ": 3 images in train-images-idx3-ubyte but 2 labels in "
                                   "train-labels-idx1-ubyte"));
}

TEST_CASE("load_mnist: a label outside 0..9 is an error naming the file and the index", "[idx]") {
  TempDir dir;
  write_file(dir.file("t10k-images-idx3-ubyte"),
             idx_bytes(kImagesMagic, {3, 1, 1}, counting_bytes(3)));
  write_file(dir.file("t10k-labels-idx1-ubyte"), idx_bytes(kLabelsMagic, {3}, {9, 12, 0}));
  REQUIRE_THROWS_WITH(
      bnn::load_mnist(dir.path(), bnn::Split::kTest),
      Catch::Contains(dir.file("t10k-labels-idx1-ubyte") + ": label 12 at index 1, expected 0..9"));
}

TEST_CASE("load_mnist: a missing split names the file and says how to fetch the data", "[idx]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(
      bnn::load_mnist(dir.path(), bnn::Split::kTest),
      Catch::Contains(dir.file("t10k-images-idx3-ubyte") + ": no such file; run tools/setup"));
}
