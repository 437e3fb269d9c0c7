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

  stateTreeBenchmarks()
}

/// The state tree: what issue #3's targets are measured by (≥ 100,000 leaf
/// updates/s batched; proof verification ≤ 50 µs without signatures).
let stateTreeBenchmarks: @Sendable () -> Void = {
  for recordCount in [10_000, 100_000] {
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    var initial: [Hash256: Hash256?] = [:]
    for n in 0..<recordCount { initial[SHA256.hash(Array("record \(n)".utf8))] = SHA256.hash(Array("v \(n)".utf8)) }
    let (root, initialNodes) = try! tree.update(root: .zero, initial)
    nodes.insert(initialNodes)
    var block: [Hash256: Hash256?] = [:]
    for n in stride(from: 0, to: recordCount, by: recordCount / 1_000) {
      block[SHA256.hash(Array("record \(n)".utf8))] = SHA256.hash(Array("v2 \(n)".utf8))
    }
    Benchmark(
      "state tree: batch of 1,000 leaf updates into \(recordCount) records", configuration: .init(scalingFactor: .one)
    ) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try! tree.update(root: root, block)) }
    }
    let key = SHA256.hash(Array("record 1".utf8))
    let proof = try! tree.proof(root: root, key: key)
    let valueHash = SHA256.hash(Array("v 1".utf8))
    Benchmark("state proof: generate, \(recordCount) records") { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try! tree.proof(root: root, key: key)) }
    }
    Benchmark("state proof: verify, \(recordCount) records (\(proof.siblings.count) siblings)") { benchmark in
      for _ in benchmark.scaledIterations { blackHole(proof.verify(root: root, key: key, valueHash: valueHash)) }
    }
  }
}
