// The exception types bayesnn throws for conditions a program may handle: each derives from
// std::runtime_error, and its `what()` is one line naming the file, rank or step and the reason.
// Misuse of the API (a bad argument) is a c10::Error from TORCH_CHECK instead. (`ConvertError`,
// which carries the conversion's report, is in bayesnn/convert.h.)
#pragma once

#include <stdexcept>

namespace bayesnn {

/// A data file that is missing or malformed.
///
/// `what()` starts with the file's path, then says what is wrong, e.g.
/// "data/mnist/train-images-idx3-ubyte: expected 47040016 bytes for 60000x28x28, found 1000".
/// A missing file's message says to run `tools/setup` (or `tools/fetch-data`). Misuse of the
/// API (a bad argument) is a `c10::Error` from `TORCH_CHECK` instead.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file that could not be written. `what()` is one line naming the file and the reason, e.g.
/// "cannot write the checkpoint 'runs/mlp/checkpoint.pt': No space left on device (writing
/// 'runs/mlp/checkpoint.pt.tmp')".
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file that is not a readable bayesnn export; the message names the file and what is wrong.
class ExportReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A collective that failed: a peer died, hung past the timeout, or never joined. The message
/// names the operation, this rank, and what the backend said.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown when `Trainer::stop_requested` asked training to stop (e.g. on SIGINT), between two
/// steps: the message names the next step and the last checkpoint, which is intact.
class TrainingInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown when the loss becomes NaN or infinite (the message names the step and the term), or
/// when a checkpoint would hold a non-finite parameter (`Trainer::save_checkpoint`; it names the
/// parameter).
class NonFiniteLossError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace bayesnn
