#pragma once

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>

#include "bayesnn/errors.h"

namespace bayesnn {

/// Writes the file at `path` whole or not at all: `write` fills a stream in memory, whose bytes
/// go to `path + ".tmp"`, flushed to the disk (fsync), which is then renamed over `path`. On any
/// failure (a full disk, no permission, a missing directory, `write` throwing) the temporary
/// file is removed, a previous file at `path` stays as it was, and `WriteError` is thrown, its
/// message one line: "cannot write [description ]'<path>': <reason>", the reason being the
/// system's (with the temporary file's path and the step that failed) or the first line of what
/// `write` threw. `description` ("the checkpoint") goes into the message before the path. Every
/// file bayesnn writes (checkpoints, exports, metrics, CSVs) goes through it.
///
/// Example:
/// ```
/// bayesnn::write_file_atomically("runs/table.csv", [](std::ostream& out) { out << "a,b\n"; });
/// ```
void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream& out)>& write,
                           const std::string& description = "");

/// `write_file_atomically` of a string.
void write_text_atomically(const std::string& path, const std::string& text,
                           const std::string& description = "");

}  // namespace bayesnn
