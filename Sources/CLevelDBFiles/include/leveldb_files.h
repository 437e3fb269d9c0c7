#ifndef DIRLEDGER_LEVELDB_FILES_H
#define DIRLEDGER_LEVELDB_FILES_H

#include <leveldb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/// LevelDB's default environment, except that table files are read with
/// pread(2) into LevelDB's own bounded block cache instead of being mapped
/// into memory. Mapped tables count towards the node's resident memory and
/// grow with the store; read this way, memory stays at the configured cache.
/// Table files are also written in pieces of a quarter MiB rather than one
/// system call per 4 KiB block (leveldb_files.cc says why that is safe).
/// One process-wide instance; never destroy it.
leveldb_env_t *dirledger_leveldb_pread_env(void);

#ifdef __cplusplus
}
#endif

#endif
