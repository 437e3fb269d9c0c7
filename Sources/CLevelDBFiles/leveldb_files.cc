// LevelDB as a node wants it (see leveldb_files.h): table files read with
// pread instead of mmap and written in large pieces, and write batches
// applied in key order.
#include "leveldb_files.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>
#include <vector>

#include <leveldb/env.h>
#include <leveldb/slice.h>
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

namespace {

// One record of a batch: where its key and value sit in the batch's bytes.
struct BatchRecord {
  // The key's first 16 bytes as big-endian numbers (zero-padded), so that
  // most comparisons while sorting read no key bytes; equal heads fall
  // back to comparing the keys.
  uint64_t head0;
  uint64_t head1;
  size_t keyOffset;
  size_t keyLength;
  size_t valueOffset;
  size_t valueLength;
  bool deletion;
  size_t position;  // in the batch: of two records for one key, the later wins
};

uint64_t bigEndianHead(const char *key, size_t keyLength, size_t offset) {
  unsigned char bytes[8] = {};
  if (keyLength > offset) std::memcpy(bytes, key + offset, std::min<size_t>(8, keyLength - offset));
  uint64_t head = 0;
  for (unsigned char byte : bytes) head = head << 8 | byte;
  return head;
}

}  // namespace

// Records point into `bytes` by offset, since appending may move it. All
// three buffers are emptied, not freed, between writes: a block's batch is
// a few MB, and a fresh LevelDB batch of that size per write was mapped,
// faulted in page by page and unmapped every block (0.8 % of a node's CPU
// in page faults alone).
struct dirledger_batch_t {
  std::string bytes;
  std::vector<BatchRecord> records;
  leveldb_writebatch_t *ordered = leveldb_writebatch_create();

  ~dirledger_batch_t() { leveldb_writebatch_destroy(ordered); }

  void add(const char *key, size_t keyLength, const char *value, size_t valueLength, bool deletion) {
    size_t keyOffset = bytes.size();
    bytes.append(key, keyLength);
    size_t valueOffset = bytes.size();
    if (!deletion) bytes.append(value, valueLength);
    records.push_back({bigEndianHead(key, keyLength, 0), bigEndianHead(key, keyLength, 8), keyOffset, keyLength,
                       valueOffset, deletion ? 0 : valueLength, deletion, records.size()});
  }
};

extern "C" dirledger_batch_t *dirledger_batch_create(void) { return new dirledger_batch_t(); }

extern "C" void dirledger_batch_destroy(dirledger_batch_t *batch) { delete batch; }

extern "C" void dirledger_batch_put(dirledger_batch_t *batch, const char *key, size_t keyLength, const char *value,
                                    size_t valueLength) {
  batch->add(key, keyLength, value, valueLength, false);
}

extern "C" void dirledger_batch_delete(dirledger_batch_t *batch, const char *key, size_t keyLength) {
  batch->add(key, keyLength, nullptr, 0, true);
}

extern "C" void dirledger_batch_clear(dirledger_batch_t *batch) {
  batch->bytes.clear();
  batch->records.clear();
  leveldb_writebatch_clear(batch->ordered);
}

extern "C" size_t dirledger_batch_count(const dirledger_batch_t *batch) { return batch->records.size(); }

// LevelDB inserts a batch's records into its memtable, a skip list, one
// search from the top each. Keys in the order a block produces them (hashes,
// record paths) make every search miss the cache on most of its ~20 steps;
// in key order, each search walks the path the one before it just warmed.
// (`make bench-memtable`: 42,000 random 40-byte keys into a 32 MiB
// memtable cost 1.8 µs a key in arrival order, 0.8 µs sorted, the sort
// included.)
// A batch is atomic, so the order of distinct keys changes nothing a reader
// can see; records for one key keep their order, so the later still wins.
extern "C" void dirledger_batch_write(leveldb_t *database, const leveldb_writeoptions_t *options,
                                      dirledger_batch_t *batch, char **errptr) {
  const char *bytes = batch->bytes.data();
  std::sort(batch->records.begin(), batch->records.end(), [bytes](const BatchRecord &a, const BatchRecord &b) {
    if (a.head0 != b.head0) return a.head0 < b.head0;
    if (a.head1 != b.head1) return a.head1 < b.head1;
    int order = leveldb::Slice(bytes + a.keyOffset, a.keyLength).compare(leveldb::Slice(bytes + b.keyOffset, b.keyLength));
    return order < 0 || (order == 0 && a.position < b.position);
  });
  leveldb_writebatch_clear(batch->ordered);
  for (const BatchRecord &record : batch->records) {
    if (record.deletion) {
      leveldb_writebatch_delete(batch->ordered, bytes + record.keyOffset, record.keyLength);
    } else {
      leveldb_writebatch_put(batch->ordered, bytes + record.keyOffset, record.keyLength, bytes + record.valueOffset,
                             record.valueLength);
    }
  }
  // Sorted in place; `position` keeps the later of two records for one key
  // the later, should the batch be added to and written again.
  leveldb_write(database, options, batch->ordered, errptr);
}
