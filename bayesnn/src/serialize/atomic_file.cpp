#include "bayesnn/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <sstream>

#include "error_text.h"

namespace bayesnn {
namespace {

[[noreturn]] void fail(const std::string& description, const std::string& path,
                       const std::string& reason) {
  throw WriteError("cannot write " + (description.empty() ? "" : description + " ") + "'" + path +
                   "': " + reason);
}

// Writes all of `bytes` to a new file at `path` and flushes it to the disk; returns the errno
// of the first failure, 0 on success. The file is left behind on failure: the caller removes it.
int write_and_sync(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int error = 0;
  for (size_t done = 0; done < bytes.size() && error == 0;) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0) {
      error = EIO;  // no progress and no errno: never loop forever
    } else if (errno != EINTR) {
      error = errno;
    }
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  return error;
}

}  // namespace

void write_file_atomically(const std::string& path,
                           const std::function<void(std::ostream& out)>& write,
                           const std::string& description) {
  std::ostringstream buffer;
  try {
    write(buffer);
  } catch (const std::exception& error) {
    fail(description, path, detail::first_line(error));
  }
  if (!buffer.good()) fail(description, path, "the serialised content could not be produced");
  const std::string temporary = path + ".tmp";
  const int error = write_and_sync(temporary, buffer.str());
  if (error != 0) {
    std::remove(temporary.c_str());
    fail(description, path, std::strerror(error) + std::string(" (writing '") + temporary + "')");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_error = errno;
    std::remove(temporary.c_str());
    fail(description, path,
         std::strerror(rename_error) + std::string(" (renaming '") + temporary + "')");
  }
}

void write_text_atomically(const std::string& path, const std::string& text,
                           const std::string& description) {
  write_file_atomically(
      path, [&text](std::ostream& out) { out << text; }, description);
}

}  // namespace bayesnn
