// SHA256_Init/Update/Final are deprecated in OpenSSL 3 but measured here as the
// fastest path for the short inputs every Merkle tree hashes (see docs/BENCHMARKS.md).
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
