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
  treeNodeWriteBenchmarks()
  blockBenchmarks()
  bundleBenchmarks()
}

/// The state tree: what issue #3's targets are measured by (≥ 100,000 leaf
/// updates/s batched; proof verification ≤ 50 µs without signatures).
let stateTreeBenchmarks: @Sendable () -> Void = {
  for recordCount in [10_000, 100_000, 1_000_000] {
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    var initial: [Hash256: Hash256?] = [:]
    for n in 0..<recordCount { initial[SHA256.hash(Array("record \(n)".utf8))] = SHA256.hash(Array("v \(n)".utf8)) }
    let (initialRoot, initialNodes) = try! tree.update(root: .zero, initial, version: 0)
    nodes.insert(initialNodes)
    let root = initialRoot.hash
    var block: [Hash256: Hash256?] = [:]
    for n in stride(from: 0, to: recordCount, by: recordCount / 1_000) {
      block[SHA256.hash(Array("record \(n)".utf8))] = SHA256.hash(Array("v2 \(n)".utf8))
    }
    Benchmark(
      "state tree: batch of 1,000 leaf updates into \(recordCount) records",
      configuration: .init(scalingFactor: .one, maxDuration: .seconds(recordCount >= 1_000_000 ? 10 : 3))
    ) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(try! tree.update(root: root, block, version: 1)) }
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

/// What a commit does with a block's new tree nodes: one 5,000-change update
/// (half new records, half changed ones) of a tree of 200,000 records makes
/// ≈ 21,000 nodes, written into a LevelDB batch by group (docs/OPERATIONS.md).
let treeNodeWriteBenchmarks: @Sendable () -> Void = {
  let nodes = InMemorySparseMerkleNodes()
  let tree = SparseMerkleTree(source: nodes)
  var initial: [Hash256: Hash256?] = [:]
  for n in 0..<200_000 { initial[SHA256.hash(Array("record \(n)".utf8))] = SHA256.hash(Array("v \(n)".utf8)) }
  let (initialRoot, initialNodes) = try! tree.update(root: .zero, initial, version: 1)
  nodes.insert(initialNodes)
  var block: [Hash256: Hash256?] = [:]
  for n in 0..<2_500 {
    block[SHA256.hash(Array("record \(n * 80)".utf8))] = SHA256.hash(Array("v2 \(n)".utf8))
    block[SHA256.hash(Array("new record \(n)".utf8))] = SHA256.hash(Array("v \(n)".utf8))
  }
  let (root, newNodes) = try! tree.update(root: initialRoot.hash, block, version: 2)
  let batch = WriteBatch()
  Benchmark(
    "tree nodes of a 5,000-change block into a write batch (\(newNodes.count) nodes)",
    configuration: .init(timeUnits: .microseconds, scalingFactor: .one)
  ) { benchmark in
    for _ in benchmark.scaledIterations {
      LevelDBSparseMerkleNodes.add(newNodes, version: 2, root: root, to: batch)
      batch.clear()
    }
  }
}

/// Committed state in memory, so the block benchmark measures the rules and the tree, not LevelDB.
final class MemoryState: StateReader, @unchecked Sendable {
  var records: [RecordKey: StateRecord] = [:]
  func record(_ key: RecordKey) throws -> StateRecord? { records[key] }
}

/// Applying one block of 1,000 mixed transactions (signatures already
/// verified at admission) on the sample city's state.
let blockBenchmarks: @Sendable () -> Void = {
  let genesis = try! Genesis.load(path: "genesis/sample-city.json")
  let nodes = InMemorySparseMerkleNodes()
  let tree = SparseMerkleTree(source: nodes)
  let built = try! genesis.buildState(tree: tree)
  nodes.insert(built.execution.newNodes)
  let state = MemoryState()
  for change in built.execution.changes { state.records[change.key] = change.after }
  let conditional = genesis.directories.filter { $0.shareType == .conditional }
  var sequences: [String: UInt64] = [:]
  func signed(_ payload: Payload, by bureauId: String) -> SignedTransaction {
    let key = Devnet.operatorKey(bureauId)
    let sequence = sequences[bureauId, default: 0]
    sequences[bureauId] = sequence + 1
    return SignedTransaction(
      body: TransactionBody(chainId: genesis.chainId, signer: key.publicKey, sequence: sequence, payload: payload),
      signedBy: [key])
  }
  var transactions: [SignedTransaction] = []
  for n in 0..<260 {
    let directory = conditional[n % conditional.count]
    let grantee = genesis.bureaus[(n * 7 + 1) % genesis.bureaus.count].bureauId
    let scope = AccessScope(
      directoryId: directory.directoryId, items: [directory.items[0].name], purpose: "秒批核验",
      validFromMs: 0, validUntilMs: .max)
    transactions.append(
      signed(
        .attestData(
          Attestation(
            bureauId: directory.bureauId, directoryId: directory.directoryId, kind: .batchRoot,
            dataHash: SHA256.hash(Array("release \(n)".utf8)), recordCount: 10_000, producedAtMs: 1)),
        by: directory.bureauId))
    if grantee != directory.bureauId {
      transactions.append(
        signed(
          .grantAccess(Grant(grantorId: directory.bureauId, grantId: "B-\(n)", granteeId: grantee, scope: scope)),
          by: directory.bureauId))
      transactions.append(
        signed(
          .requestAccess(
            AccessRequest(requesterId: grantee, requestId: "Q-\(n)", providerId: directory.bureauId, scope: scope)),
          by: grantee))
    }
    transactions.append(
      signed(
        .declareDuty(Duty(bureauId: grantee, dutyId: "BENCH-\(n)", title: "职责", legalBasis: "", description: "")),
        by: grantee))
  }
  transactions = Array(transactions.prefix(1_000))
  let machine = StateMachine(chainId: genesis.chainId, signatureCheck: .alreadyVerified)
  let check = try! machine.execute(
    transactions: transactions, height: 1, timeMs: genesis.genesisTimeMs + 1_000, state: state, tree: tree,
    stateRoot: built.execution.stateRoot)
  precondition(check.acceptedCount == transactions.count, "benchmark block must be all accepted")
  Benchmark(
    "apply block: \(transactions.count) mixed transactions on the sample city",
    configuration: .init(scalingFactor: .one)
  ) { benchmark in
    for _ in benchmark.scaledIterations {
      blackHole(
        try! machine.execute(
          transactions: transactions, height: 1, timeMs: genesis.genesisTimeMs + 1_000, state: state, tree: tree,
          stateRoot: built.execution.stateRoot))
    }
  }
}

/// Proof bundles (issue #6): the committed provenance example's offline
/// verification (≤ 1 ms target), and record bundles over states of 10^4–10^6
/// records, whose size must grow as O(log n). The name carries the size.
let bundleBenchmarks: @Sendable () -> Void = {
  let exampleGenesis = try! Genesis.load(path: "docs/examples/genesis.json")
  let hex = try! String(contentsOfFile: "docs/examples/provenance-bundle.hex", encoding: .utf8)
  let example = try! ProofBundle(canonicalBytes: Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines))!)
  let exampleVerifier = ProofVerifier(genesis: exampleGenesis)
  Benchmark(
    "bundle verify: provenance example (\(example.canonicalBytes.count) B, 7 signatures)",
    configuration: .init(scalingFactor: .one)
  ) { benchmark in
    for _ in benchmark.scaledIterations { blackHole(exampleVerifier.verify(example)) }
  }
  let genesis = Devnet.genesis()
  let verifier = ProofVerifier(genesis: genesis)
  let validators = ValidatorSet(genesis.validators)
  for recordCount in [10_000, 100_000, 1_000_000] {
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    let target = RecordKey.duty("BJ-GAJ", "D-TARGET")
    let record = StateRecord(
      value: .duty(
        Duty(bureauId: "BJ-GAJ", dutyId: "D-TARGET", title: "户籍管理", legalBasis: "《户口登记条例》", description: ""),
        citingDirectoryCount: 3),
      status: .active, version: 1, createdAtHeight: 1, updatedAtHeight: 1)
    var initial: [Hash256: Hash256?] = [target.treeKey: SHA256.hash(record.canonicalBytes)]
    for n in 0..<recordCount - 1 {
      initial[RecordKey.duty("BJ-B\(n % 512)", "D\(n)").treeKey] = SHA256.hash(Array("v \(n)".utf8))
    }
    let (initialRoot, initialNodes) = try! tree.update(root: .zero, initial, version: 0)
    nodes.insert(initialNodes)
    let root = initialRoot.hash
    let header = BlockHeader(
      chainId: genesis.chainId, height: 1, timeMs: genesis.genesisTimeMs + 1_000, previousHash: .zero,
      historyRoot: .zero, transactionsRoot: Block.transactionsRoot([]), transactionCount: 0,
      resultsRoot: TransactionResult.root([]), stateRoot: root, validatorSetHash: validators.hash,
      proposer: Devnet.nodeKey("BJ-GAJ").publicKey)
    let certificate = Devnet.certify(header, keys: Devnet.validatorKeys(of: genesis), quorum: validators.quorum)
    let proof = try! tree.proof(root: root, key: target.treeKey)
    let bundle = ProofBundle(
      chainId: genesis.chainId, genesisHash: genesis.hash, validatorTransitions: [],
      anchor: CertifiedHeader(header: header, certificate: certificate),
      claims: [.record(RecordProof(key: target.path, record: record, proof: proof))])
    precondition(verifier.verify(bundle).isValid)
    Benchmark(
      "bundle verify: record, \(recordCount) records (\(proof.siblings.count) siblings, \(bundle.canonicalBytes.count) B)",
      configuration: .init(scalingFactor: .one)
    ) { benchmark in
      for _ in benchmark.scaledIterations { blackHole(verifier.verify(bundle)) }
    }
  }
}
