import Benchmark
import Ledger

/// Micro-benchmarks of the primitives every transaction pays for: hashing,
/// signatures, canonical encoding. Results and the command that produced them
/// are recorded in docs/BENCHMARKS.md.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .throughput, .instructions, .mallocCountTotal],
    warmupIterations: 10,
    scalingFactor: .kilo,
    maxDuration: .seconds(3),
    maxIterations: 1_000_000)

  let sixtyFiveBytes = [UInt8](repeating: 0xA5, count: 65)

  Benchmark("SHA-256 65 B, SHA256_Init/Update/Final") { benchmark in
    sixtyFiveBytes.withUnsafeBytes { bytes in
      for _ in benchmark.scaledIterations { blackHole(SHA256.hash(bytes)) }
    }
  }

  Benchmark("SHA-256 65 B, pre-fetched EVP_MD") { benchmark in
    sixtyFiveBytes.withUnsafeBytes { bytes in
      for _ in benchmark.scaledIterations { blackHole(SHA256ViaEVP.hash(bytes)) }
    }
  }

  Benchmark("SHA-256 65 B, one-shot SHA256()") { benchmark in
    sixtyFiveBytes.withUnsafeBytes { bytes in
      for _ in benchmark.scaledIterations { blackHole(SHA256ViaEVP.oneShot(bytes)) }
    }
  }

  let left = SHA256.hash([1])
  let right = SHA256.hash([2])
  Benchmark("Merkle node hash (RFC 6962)") { benchmark in
    for _ in benchmark.scaledIterations { blackHole(MerkleTree.nodeHash(left, right)) }
  }

  let leafHashes = (0..<1_000).map { SHA256.hash([UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)]) }
  Benchmark("Merkle root of 1,000 leaf hashes", configuration: .init(scalingFactor: .one)) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(MerkleTree.root(leafHashes: leafHashes)) }
  }

  let key = FormatExamples.key("benchmark/signer")
  let digest = TaggedHash.hash(.transaction, Array("benchmark".utf8))
  let signature = key.sign(digest: digest)
  Benchmark("BIP-340 sign", configuration: .init(scalingFactor: .one)) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(key.sign(digest: digest)) }
  }

  Benchmark("BIP-340 verify", configuration: .init(scalingFactor: .one)) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(key.publicKey.verify(signature, digest: digest)) }
  }

  let transaction = FormatExamples.transactions.first { $0.kind == .publishDirectory }!.transaction
  let transactionBytes = transaction.canonicalBytes
  Benchmark("encode publishDirectory transaction") { benchmark in
    for _ in benchmark.scaledIterations { blackHole(transaction.canonicalBytes) }
  }

  Benchmark("decode publishDirectory transaction (with id hash)") { benchmark in
    for _ in benchmark.scaledIterations { blackHole(try? SignedTransaction(canonicalBytes: transactionBytes)) }
  }

  let grant = FormatExamples.transactions.first { $0.kind == .grantAccess }!.transaction
  let grantBytes = grant.canonicalBytes
  Benchmark("decode grantAccess transaction (with id hash)") { benchmark in
    for _ in benchmark.scaledIterations { blackHole(try? SignedTransaction(canonicalBytes: grantBytes)) }
  }
}
