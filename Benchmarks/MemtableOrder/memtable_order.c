// How much LevelDB's memtable inserts depend on the order of a batch's keys
// (docs/BENCHMARKS.md, "the write round"): writes 40 batches of 42,000
// records (about a block's worth) and reports the mean write time per key
// over the last 30, with the keys in one of three orders:
//   random     random 40-byte keys, in the order they were made
//   sorted     the same, sorted before they go into the batch (sort included)
//   fresh      a new 2-byte prefix per batch, random after it, unsorted
//              (like the height-ordered database's tree-node keys)
// Usage: memtable_order random|sorted|fresh [memtable MiB] [value bytes]
#include <leveldb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { keyBytes = 40, recordsPerBatch = 42000, batches = 40, warmupBatches = 10 };

static double seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec * 1e-9;
}

static uint64_t state = 88172645463325252ULL;
static uint64_t next(void) {  // xorshift: reproducible and cheap
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static int compareKeys(const void *a, const void *b) { return memcmp(a, b, keyBytes); }

int main(int argc, char **argv) {
  const char *order = argc > 1 ? argv[1] : "random";
  size_t memtableMiB = argc > 2 ? (size_t)atoi(argv[2]) : 32;
  size_t valueBytes = argc > 3 ? (size_t)atoi(argv[3]) : 100;
  int sorted = strcmp(order, "sorted") == 0, fresh = strcmp(order, "fresh") == 0;
  if (!sorted && !fresh && strcmp(order, "random") != 0) {
    fprintf(stderr, "usage: %s random|sorted|fresh [memtable MiB] [value bytes]\n", argv[0]);
    return 2;
  }
  char path[] = "/tmp/memtable-order-XXXXXX";
  if (!mkdtemp(path)) return 1;
  leveldb_options_t *options = leveldb_options_create();
  leveldb_options_set_create_if_missing(options, 1);
  leveldb_options_set_write_buffer_size(options, memtableMiB << 20);
  leveldb_options_set_compression(options, leveldb_no_compression);
  char *error = NULL;
  leveldb_t *database = leveldb_open(options, path, &error);
  if (error) { fprintf(stderr, "%s\n", error); return 1; }
  leveldb_writeoptions_t *writeOptions = leveldb_writeoptions_create();
  static char keys[recordsPerBatch][keyBytes];
  char *value = calloc(1, valueBytes);
  double writing = 0;
  long written = 0;
  for (int batchIndex = 0; batchIndex < batches; batchIndex++) {
    double started = seconds();
    for (int i = 0; i < recordsPerBatch; i++) {
      for (int j = 0; j < keyBytes; j += 8) { uint64_t word = next(); memcpy(keys[i] + j, &word, 8); }
      if (fresh) { keys[i][0] = (char)(batchIndex >> 8); keys[i][1] = (char)batchIndex; }
    }
    if (sorted) qsort(keys, recordsPerBatch, keyBytes, compareKeys);
    leveldb_writebatch_t *batch = leveldb_writebatch_create();
    for (int i = 0; i < recordsPerBatch; i++) leveldb_writebatch_put(batch, keys[i], keyBytes, value, valueBytes);
    double built = seconds();
    leveldb_write(database, writeOptions, batch, &error);
    if (error) { fprintf(stderr, "%s\n", error); return 1; }
    double done = seconds();
    leveldb_writebatch_destroy(batch);
    if (batchIndex >= warmupBatches) {
      writing += (done - built) + (sorted ? built - started : 0);
      written += recordsPerBatch;
    }
  }
  printf("%-6s memtable %zu MiB, values of %zu B: %.0f ns per key written%s\n", order, memtableMiB, valueBytes,
         writing * 1e9 / written, sorted ? " (sorting and making the keys included)" : "");
  leveldb_close(database);
  char command[64];
  snprintf(command, sizeof command, "rm -rf %s", path);
  return system(command) == 0 ? 0 : 1;
}
