#include "core/file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace remora {

namespace {

Error ioError(std::string_view what, const std::string& path, int err) {
  return Error{err == ENOENT ? Errc::NotFound : Errc::Io,
               fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

// Closes a file descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Status writeAll(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{Errc::Io, std::strerror(errno)};
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok();
}

}  // namespace

Result<std::string> readFile(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ioError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ioError("cannot stat", path, errno);
  if (S_ISDIR(st.st_mode)) return Error{Errc::InvalidArgument, path + " is a directory"};
  if (S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) > max_bytes) {
    return Error{Errc::PayloadTooLarge, fmt::format("{} has {} bytes, more than the limit of {}",
                                                    path, st.st_size, max_bytes)};
  }
  // Read until EOF rather than trusting st_size: files under /proc, pipes and
  // a file growing while we read all report sizes that are not the content's.
  std::string content;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot read", path, errno);
    }
    if (n == 0) break;
    if (content.size() + static_cast<std::size_t>(n) > max_bytes) {
      return Error{Errc::PayloadTooLarge,
                   fmt::format("{} is larger than the limit of {} bytes", path, max_bytes)};
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  return content;
}

Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  std::random_device rd;
  std::string tmp = fmt::format("{}.tmp.{}.{:08x}", path, ::getpid(), rd());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return ioError("cannot create", tmp, errno);
  auto fail = [&](std::string_view what, int err) -> Status {
    ::unlink(tmp.c_str());
    return ioError(what, path, err);
  };
  // open() applies the umask; the caller's mode is the contract.
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod", errno);
  if (auto written = writeAll(fd.get(), content); !written) {
    ::unlink(tmp.c_str());
    return Error{Errc::Io, fmt::format("cannot write {}: {}", path, written.error().message)};
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync", errno);
  if (::close(fd.release()) != 0) return fail("cannot close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename onto", errno);
  // Make the rename itself durable.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0) ::fsync(dfd.get());
  return ok();
}

}  // namespace remora
