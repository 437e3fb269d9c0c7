// Reads LevelDB table files with pread instead of mmap (see leveldb_files.h).
#include "leveldb_files.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include <leveldb/env.h>
#include <leveldb/status.h>

// The C API's handle for an environment, as leveldb's c.cc defines it: the
// C API offers no other way to hand LevelDB an environment of our own.
struct leveldb_env_t {
  leveldb::Env *rep;
  bool is_default;
};

namespace {

leveldb::Status errorStatus(const std::string &name, int error) {
  if (error == ENOENT) return leveldb::Status::NotFound(name, std::strerror(error));
  return leveldb::Status::IOError(name, std::strerror(error));
}

class PreadFile final : public leveldb::RandomAccessFile {
 public:
  PreadFile(std::string name, int fd) : name_(std::move(name)), fd_(fd) {}
  ~PreadFile() override { ::close(fd_); }

  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice *result, char *scratch) const override {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        *result = leveldb::Slice(scratch, 0);
        return errorStatus(name_, errno);
      }
      if (got == 0) break;  // end of file: LevelDB checks the length it got
      done += static_cast<size_t>(got);
    }
    *result = leveldb::Slice(scratch, done);
    return leveldb::Status::OK();
  }

 private:
  const std::string name_;
  const int fd_;
};

class PreadEnv final : public leveldb::EnvWrapper {
 public:
  PreadEnv() : leveldb::EnvWrapper(leveldb::Env::Default()) {}

  leveldb::Status NewRandomAccessFile(const std::string &name, leveldb::RandomAccessFile **file) override {
    int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      *file = nullptr;
      return errorStatus(name, errno);
    }
    *file = new PreadFile(name, fd);
    return leveldb::Status::OK();
  }
};

}  // namespace

extern "C" leveldb_env_t *dirledger_leveldb_pread_env(void) {
  static PreadEnv env;
  static leveldb_env_t handle{&env, true};
  return &handle;
}
