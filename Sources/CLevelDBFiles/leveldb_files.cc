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

// One record of a write batch, pointing into the batch's own bytes.
struct BatchRecord {
  // The key's first 16 bytes as big-endian numbers (zero-padded), so that
  // most comparisons while sorting read no key bytes; equal heads fall
  // back to comparing the keys.
  uint64_t head0;
  uint64_t head1;
  const char *key;
  size_t keyLength;
  const char *value;  // null for a deletion
  size_t valueLength;
  size_t position;  // in the batch: of two records for one key, the later wins
};

uint64_t bigEndianHead(const char *key, size_t keyLength, size_t offset) {
  unsigned char bytes[8] = {};
  if (keyLength > offset) std::memcpy(bytes, key + offset, std::min<size_t>(8, keyLength - offset));
  uint64_t head = 0;
  for (unsigned char byte : bytes) head = head << 8 | byte;
  return head;
}

BatchRecord batchRecord(const char *key, size_t keyLength, const char *value, size_t valueLength, size_t position) {
  return {bigEndianHead(key, keyLength, 0), bigEndianHead(key, keyLength, 8), key, keyLength, value, valueLength,
          position};
}

void collectPut(void *records, const char *key, size_t keyLength, const char *value, size_t valueLength) {
  auto &collected = *static_cast<std::vector<BatchRecord> *>(records);
  collected.push_back(batchRecord(key, keyLength, value, valueLength, collected.size()));
}

void collectDeletion(void *records, const char *key, size_t keyLength) {
  auto &collected = *static_cast<std::vector<BatchRecord> *>(records);
  collected.push_back(batchRecord(key, keyLength, nullptr, 0, collected.size()));
}

}  // namespace

// LevelDB inserts a batch's records into its memtable, a skip list, one
// search from the top each. Keys in the order a block produces them (hashes,
// record paths) make every search miss the cache on most of its ~20 steps;
// in key order, each search walks the path the one before it just warmed.
// (`make bench-memtable`: 42,000 random 40-byte keys into a 32 MiB
// memtable cost 1.8 µs a key in arrival order, 0.8 µs sorted, the sort
// included.)
// A batch is atomic, so the order of distinct keys changes nothing a reader
// can see; records for one key keep their order, so the later still wins.
extern "C" void dirledger_leveldb_write_in_key_order(leveldb_t *database, const leveldb_writeoptions_t *options,
                                                     const leveldb_writebatch_t *batch, size_t recordCount,
                                                     char **errptr) {
  // Both copies live only for this write: kept between blocks (per thread)
  // they raised a node's peak memory by 20-25 MB.
  std::vector<BatchRecord> records;
  records.reserve(recordCount);
  leveldb_writebatch_iterate(batch, &records, collectPut, collectDeletion);
  std::sort(records.begin(), records.end(), [](const BatchRecord &a, const BatchRecord &b) {
    if (a.head0 != b.head0) return a.head0 < b.head0;
    if (a.head1 != b.head1) return a.head1 < b.head1;
    int order = leveldb::Slice(a.key, a.keyLength).compare(leveldb::Slice(b.key, b.keyLength));
    return order < 0 || (order == 0 && a.position < b.position);
  });
  leveldb_writebatch_t *ordered = leveldb_writebatch_create();
  // Appending the batch and clearing it leaves room for all of it in one
  // allocation, where record-by-record growth would copy it over and over.
  leveldb_writebatch_append(ordered, batch);
  leveldb_writebatch_clear(ordered);
  for (const BatchRecord &record : records) {
    if (record.value == nullptr) {
      leveldb_writebatch_delete(ordered, record.key, record.keyLength);
    } else {
      leveldb_writebatch_put(ordered, record.key, record.keyLength, record.value, record.valueLength);
    }
  }
  leveldb_write(database, options, ordered, errptr);
  leveldb_writebatch_destroy(ordered);
}
