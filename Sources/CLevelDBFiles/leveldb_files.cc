// LevelDB's files as a node wants them (see leveldb_files.h): table files
// read with pread instead of mmap, and written in large pieces.
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

// LevelDB's table builder flushes its file after every data block (4 KiB
// and a 5-byte trailer), so each write(2) starts and ends inside a page and
// the filesystem zero-fills the rest of every new page before copying into
// it: a memset and a system call per 4 KiB, 5-6 % of a node's CPU under
// load. A table is read only after LevelDB has synced and closed it, so
// those flushes order nothing; this file keeps the data until a quarter of
// a MiB has gathered, or until Sync or Close, and hands it on in one piece.
// Log and manifest files are not wrapped: their flushes are what makes an
// unsynced write survive the process.
class GatheringTableFile final : public leveldb::WritableFile {
 public:
  static constexpr size_t gatherBytesMax = 256 << 10;

  explicit GatheringTableFile(leveldb::WritableFile *file) : file_(file) { gathered_.reserve(gatherBytesMax); }
  ~GatheringTableFile() override { delete file_; }

  leveldb::Status Append(const leveldb::Slice &data) override {
    gathered_.append(data.data(), data.size());
    return gathered_.size() >= gatherBytesMax ? handOn() : leveldb::Status::OK();
  }

  leveldb::Status Flush() override { return leveldb::Status::OK(); }

  leveldb::Status Sync() override {
    leveldb::Status status = handOn();
    return status.ok() ? file_->Sync() : status;
  }

  leveldb::Status Close() override {
    leveldb::Status status = handOn();
    leveldb::Status closed = file_->Close();
    return status.ok() ? closed : status;
  }

 private:
  leveldb::Status handOn() {
    if (gathered_.empty()) return leveldb::Status::OK();
    leveldb::Status status = file_->Append(leveldb::Slice(gathered_));
    gathered_.clear();
    return status.ok() ? file_->Flush() : status;
  }

  leveldb::WritableFile *const file_;
  std::string gathered_;
};

bool isTableFile(const std::string &name) {
  const std::string suffix = ".ldb";
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

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

  leveldb::Status NewWritableFile(const std::string &name, leveldb::WritableFile **file) override {
    leveldb::Status status = target()->NewWritableFile(name, file);
    if (status.ok() && isTableFile(name)) *file = new GatheringTableFile(*file);
    return status;
  }
};

}  // namespace

extern "C" leveldb_env_t *dirledger_leveldb_pread_env(void) {
  static PreadEnv env;
  static leveldb_env_t handle{&env, true};
  return &handle;
}
