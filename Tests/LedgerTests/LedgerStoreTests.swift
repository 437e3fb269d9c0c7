import Foundation
import Testing

@testable import Ledger

/// A devnet store in a fresh directory, and a way to commit the next block
/// certified by the devnet validators.
struct StoreFixture {
  let path: String
  let genesis: Genesis
  /// Implicitly unwrapped so `reopen` can close the database before opening it again.
  var store: LedgerStore!
  var sequences: [PublicKey: UInt64] = [:]

  init(genesis: Genesis? = nil) throws {
    path = temporaryDirectory("ledger-store")
    self.genesis = try genesis ?? LedgerHarness().genesis
    store = try LedgerStore(path: path, genesis: self.genesis)
  }

  mutating func transaction(_ payload: Payload, by key: SecretKey, cosigners: [SecretKey] = []) -> SignedTransaction {
    let sequence = sequences[key.publicKey, default: 0]
    sequences[key.publicKey] = sequence + 1
    return SignedTransaction(
      body: TransactionBody(chainId: genesis.chainId, signer: key.publicKey, sequence: sequence, payload: payload),
      signedBy: [key] + cosigners)
  }

  /// The police bureau granting the housing bureau access under `grantId`.
  mutating func policeGrant(_ grantId: String) -> SignedTransaction {
    transaction(
      .grantAccess(
        Grant(grantorId: H.police, grantId: grantId, granteeId: H.housing, scope: StateMachineTests.scope())),
      by: Devnet.operatorKey(H.police))
  }

  /// Builds, certifies and commits the next block.
  @discardableResult
  func commit(_ transactions: [SignedTransaction]) throws -> (Block, BlockExecution) {
    let timeMs = store.head.timeMs + 1_000
    let execution = try store.execute(transactions, timeMs: timeMs, signatureCheck: .verify)
    // The set in force for this block, which a validator change may have replaced.
    let keys = execution.validatorSet.validators.map { Devnet.nodeKey($0.bureauId) }
    let header = store.nextHeader(
      transactions: transactions, timeMs: timeMs, execution: execution, proposer: keys[0].publicKey)
    let block = Block(header: header, transactions: transactions)
    let certificate = Devnet.certify(header, keys: keys, quorum: execution.validatorSet.quorum)
    try store.commit(block, certificate: certificate)
    return (block, execution)
  }

  /// Closes the store and opens the directory again with `genesis`.
  mutating func reopen(genesis: Genesis? = nil, rejectedIdsInMemoryMax: Int = RejectedTransactionIds.defaultMax)
    throws
  {
    store = nil
    store = try LedgerStore(
      path: path, genesis: genesis ?? self.genesis, rejectedIdsInMemoryMax: rejectedIdsInMemoryMax)
  }

  func remove() { try? FileManager.default.removeItem(atPath: path) }

  /// Every tree node in the height-ordered database's groups, parsed as
  /// docs/OPERATIONS.md describes a group: the nodes one after another, each
  /// as its hash, the length of its encoding (one byte) and its encoding.
  func groupedNodes() throws -> [(groupKey: [UInt8], version: UInt64, hash: Hash256, bytes: [UInt8])] {
    var nodes: [(groupKey: [UInt8], version: UInt64, hash: Hash256, bytes: [UInt8])] = []
    for entry in store.heightOrdered.scan(prefix: [], limit: 100_000) where entry.key[8] == HeightKey.treeNodeGroupTag {
      #expect(entry.key.count == 8 + 1 + 2)
      var offset = 0
      while offset < entry.value.count {
        let hash = try #require(Hash256(bytes: entry.value[offset..<offset + 32]))
        let end = offset + 33 + Int(entry.value[offset + 32])
        nodes.append(
          (entry.key, StoreKey.readBigEndian(entry.key.prefix(8)), hash, Array(entry.value[offset + 33..<end])))
        offset = end
      }
    }
    return nodes
  }

  /// Rewrites the store's tree nodes as layout 6 and older stored them, a
  /// key per node (`<version> n <hash>`), with what `rewrite` puts in each
  /// node's place (by default the node itself), and deletes the groups.
  func ungroupNodes(
    _ rewrite: (SparseMerkleNode, UInt64, WriteBatch) throws -> Void = { node, version, batch in
      batch.put(HeightKey.treeNode(node.hash, version: version), node.canonicalBytes)
    }
  ) throws {
    let batch = WriteBatch()
    for node in try groupedNodes() {
      batch.delete(node.groupKey)
      let decoded = try SparseMerkleNode(canonicalBytes: node.bytes)
      #expect(decoded.hash == node.hash)
      try rewrite(decoded, node.version, batch)
    }
    try store.heightOrdered.write(batch)
  }
}

@Suite("Ledger store")
struct LedgerStoreTests {
  let police = Devnet.operatorKey(H.police)
  let housing = Devnet.operatorKey(H.housing)

  @Test("genesis opens at height 0 with the state the rules build; reopening finds the same head")
  func genesisAndReopen() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let harness = try LedgerHarness()
    #expect(fixture.store.head.height == 0)
    #expect(fixture.store.head.stateRoot == harness.root)
    let grant = fixture.policeGrant("G-1")
    let (block, _) = try fixture.commit([grant])
    let headBefore = fixture.store.head
    try fixture.reopen()
    let reopened = fixture.store!
    #expect(reopened.head == headBefore)
    #expect(reopened.head.blockHash == block.header.hash)
    #expect(try reopened.block(at: 1) == block)
    #expect(try reopened.certificate(at: 1)?.blockHash == block.header.hash)
    let (found, location) = try #require(try reopened.transaction(grant.id))
    #expect(found == grant && location.height == 1 && location.result.isAccepted)
  }

  @Test(
    "committedLocation finds every committed transaction, accepted or rejected: from memory, after reopening, past the in-memory bound, and in a store from before the rejected index"
  )
  func committedLocations() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let grant = Grant(grantorId: H.police, grantId: "G-1", granteeId: H.housing, scope: StateMachineTests.scope())
    let accepted = fixture.transaction(.grantAccess(grant), by: police)
    // Sequences the signer has not reached: rejected, and so never advancing it.
    let rejected = [7, 8].map { sequence in
      SignedTransaction(
        body: TransactionBody(
          chainId: fixture.genesis.chainId, signer: police.publicKey, sequence: UInt64(sequence),
          payload: .grantAccess(grant)),
        signedBy: [police])
    }
    let (_, execution) = try fixture.commit([accepted] + rejected)
    #expect(execution.results.map(\.isAccepted) == [true, false, false])
    let pending = fixture.transaction(
      .revokeGrant(Retirement(bureauId: H.police, recordId: "G-1", reason: "ended")), by: police)

    func expectLocations(_ context: Comment) throws {
      for (index, transaction) in ([accepted] + rejected).enumerated() {
        let location = try fixture.store.committedLocation(of: transaction)
        #expect(location?.height == 1 && location?.index == UInt32(index), context)
      }
      #expect(try fixture.store.committedLocation(of: pending) == nil, context)
    }
    try expectLocations("just committed")
    try fixture.reopen()
    try expectLocations("reopened")
    try fixture.reopen(rejectedIdsInMemoryMax: 1)
    try expectLocations("more rejected ids than memory holds")

    // A store written before the index: no j/ keys, no marker.
    let batch = WriteBatch()
    for entry in fixture.store.database.scan(prefix: StoreKey.rejectedTransactionPrefix, limit: 10) {
      batch.delete(entry.key)
    }
    batch.delete(StoreKey.rejectedIndex)
    try fixture.store.database.write(batch)
    try fixture.reopen()
    try expectLocations("backfilled")
    #expect(try fixture.store.database.get(StoreKey.rejectedIndex) == [1])
    #expect(fixture.store.database.scan(prefix: StoreKey.rejectedTransactionPrefix, limit: 10).count == 2)
  }

  @Test(
    "records are read back after reopening, when the key filter is rebuilt from the store; unknown keys read as absent")
  func recordsAfterReopen() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let grants = (1...40).map {
      fixture.policeGrant("G-\($0)")
    }
    try fixture.commit(grants)
    let genesisBureau = try #require(try fixture.store.record(.bureau(H.police)))
    try fixture.reopen()
    for number in 1...40 {
      #expect(try fixture.store.record(.grant(H.police, "G-\(number)")) != nil, "G-\(number)")
    }
    #expect(try fixture.store.record(.bureau(H.police)) == genesisBureau)
    #expect(try fixture.store.record(.grant(H.police, "G-41")) == nil)
  }

  @Test("the record-key filter never says no to a key it took, past its first capacity, and mostly says no to others")
  func recordKeyFilter() {
    let filter = RecordKeyFilter(initialCapacity: 8)
    let taken = (0..<5_000).map { RecordKey(path: "grant/BJ-GAJ/G-\($0)") }
    for key in taken { filter.insert(key) }
    #expect(taken.allSatisfy(filter.mayContain))
    let others = (0..<5_000).map { RecordKey(path: "grant/BJ-GAJ/other-\($0)") }
    let falseMaybes = others.count(where: filter.mayContain)
    #expect(falseMaybes < 500, "\(falseMaybes) of 5,000 unknown keys said maybe")
  }

  @Test("a store made from another genesis refuses to open")
  func genesisMismatch() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    var other = fixture.genesis
    other.description = "another chain"
    #expect(
      performing: { try fixture.reopen(genesis: other) },
      throws: { ($0 as? StoreError)?.code == "store.genesis_mismatch" })
  }

  @Test("a store with another key layout (older than 3, newer than 7), or none, refuses to open, naming the cause")
  func otherLayout() throws {
    for older in [nil, [UInt8(2)], [UInt8(8)]] {
      var fixture = try StoreFixture()
      defer { fixture.remove() }
      let batch = WriteBatch()
      if let older { batch.put(StoreKey.layout, older) } else { batch.delete(StoreKey.layout) }
      try fixture.store.database.write(batch)
      #expect(
        performing: { try fixture.reopen() },
        throws: { ($0 as? StoreError)?.code == "store.old_layout" })
    }
  }

  @Test("a store whose first grouped version is not 8 bytes refuses to open as corrupt")
  func malformedGroupedFrom() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let batch = WriteBatch()
    batch.put(StoreKey.groupedNodesFrom, [1])
    try fixture.store.database.write(batch)
    #expect(
      performing: { try fixture.reopen() },
      throws: { ($0 as? StoreError)?.code == "store.corrupt" && "\($0)".contains("grouped") })
  }

  @Test(
    "a layout-3 store, with blocks and tree nodes in its main database, moves them to the height-ordered one when it opens, also after an interrupted move"
  )
  func movesLayout3() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let key = RecordKey.grant(H.police, "G-1")
    let (first, _) = try fixture.commit([
      fixture.policeGrant("G-1")
    ])
    let (second, _) = try fixture.commit([
      fixture.transaction(.revokeGrant(Retirement(bureauId: H.police, recordId: "G-1", reason: "到期")), by: police)
    ])
    let blocks = try (0...2).map { try #require(try fixture.store.block(at: $0)) }
    try fixture.ungroupNodes()
    let movedCount = fixture.store.heightOrdered.scan(prefix: [], limit: 100_000).count

    // Back to layout 3: `b/<height>` and `n/<version><hash>` in the main
    // database. Every other entry stays in the height-ordered one too, as a
    // move interrupted between writing a page there and deleting it here leaves it.
    let toMain = WriteBatch()
    let removed = WriteBatch()
    for (index, entry) in fixture.store.heightOrdered.scan(prefix: [], limit: 100_000).enumerated() {
      let prefix = entry.key[8] == HeightKey.blockTag ? "b/" : "n/"
      toMain.put(Array(prefix.utf8) + entry.key.prefix(8) + entry.key.dropFirst(9), entry.value)
      if index.isMultiple(of: 2) { removed.delete(entry.key) }
    }
    toMain.put(StoreKey.layout, [3])
    try fixture.store.database.write(toMain)
    try fixture.store.heightOrdered.write(removed)

    try fixture.reopen()
    let store = fixture.store!
    #expect(try store.database.get(StoreKey.layout) == StoreKey.currentLayout)
    // Moved as layout 6, a key per node; the blocks from height 3 group theirs.
    #expect(try store.database.get(StoreKey.groupedNodesFrom) == StoreKey.bigEndian(3))
    #expect(store.database.scan(prefix: Array("b/".utf8), limit: 10).isEmpty)
    #expect(store.database.scan(prefix: Array("n/".utf8), limit: 10).isEmpty)
    #expect(store.heightOrdered.scan(prefix: [], limit: 100_000).count == movedCount)
    #expect(try (0...2).map { try store.block(at: $0) } == blocks)
    let (atFirst, proof) = try store.record(key, atRoot: first.header.stateRoot)
    #expect(
      atFirst?.status == .active
        && proof.verify(root: first.header.stateRoot, key: key.treeKey, valueHash: atFirst?.valueHash))
    #expect(try store.record(key, atRoot: second.header.stateRoot).0?.status == .revoked)
    try store.verifyIntegrity()
    try fixture.commit([
      fixture.policeGrant("G-2")
    ])
    #expect(fixture.store.head.height == 3)
    #expect(try fixture.store.record(.grant(H.police, "G-2"))?.status == .active)
    #expect(try fixture.groupedNodes().allSatisfy { $0.version == 3 })
  }

  @Test("execution hands its tables back empty with their capacity, and reusing them changes nothing")
  func executionTablesReused() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let store = fixture.store!
    let transactions = (1...40).map { fixture.policeGrant("G-\($0)") }
    let machine = StateMachine(chainId: store.chainId)
    func run(_ tables: inout ExecutionTables) throws -> BlockExecution {
      try machine.execute(
        transactions: transactions, height: store.head.height + 1, timeMs: store.head.timeMs + 1_000, state: store,
        tree: store.tree, stateRoot: store.head.stateRoot, reusingNodeTable: .init(), tables: &tables)
    }
    var tables = ExecutionTables()
    let first = try run(&tables)
    #expect(tables.blockWrites.isEmpty && tables.baseValues.isEmpty)
    let capacity = tables.blockWrites.capacity
    #expect(capacity >= 2 * transactions.count)
    let again = try run(&tables)
    #expect(tables.blockWrites.isEmpty && tables.blockWrites.capacity == capacity)
    let plain = try machine.execute(
      transactions: transactions, height: store.head.height + 1, timeMs: store.head.timeMs + 1_000, state: store,
      tree: store.tree, stateRoot: store.head.stateRoot)
    for execution in [first, again] {
      #expect(execution.stateRoot == plain.stateRoot && execution.resultsRoot == plain.resultsRoot)
      #expect(execution.changes == plain.changes)
    }
    #expect(plain.acceptedCount == transactions.count)
  }

  @Test(
    "a committed block stores and caches its new internal nodes; its new leaves, named by their parents, are not stored"
  )
  func storesAndCachesInternalNodesOnly() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let (block, execution) = try fixture.commit([fixture.policeGrant("G-1")])
    let cache = fixture.store.tree.source.cache
    let (_, proof) = try fixture.store.record(.grant(H.police, "G-1"), atRoot: block.header.stateRoot)
    let leaf = try #require(proof.leaf)
    let leafHash = SparseMerkleNode.leafHash(leaf)
    #expect(!execution.newNodes.hashes.contains(leafHash), "the grant's new leaf is named by its parent, not stored")
    let version = block.header.height
    let stored = Dictionary(
      uniqueKeysWithValues: try fixture.groupedNodes().filter { $0.version == version }.map {
        ($0.hash, $0.bytes)
      })
    #expect(stored[leafHash] == nil)
    #expect(stored.count == execution.newNodes.count)
    #expect(cache.value(leafHash) == nil)
    #expect(cache.value(block.header.stateRoot) != nil)
    #expect(!execution.newNodes.isEmpty)
    for (hash, node) in execution.newNodes {
      guard case .internalNode = node else {
        Issue.record("a leaf stored under an internal root")
        continue
      }
      #expect(cache.value(hash) == node)
      #expect(stored[hash] == node.canonicalBytes)
    }
  }

  @Test(
    "a block's tree update takes the nodes it replaces out of the node cache, and the commit adds the new ones; the older root still proves from disk"
  )
  func replacedNodesLeaveTheCache() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let (first, _) = try fixture.commit([fixture.policeGrant("G-1")])
    let source = fixture.store.tree.source
    let cache = source.cache
    // The first tree's internal nodes down the path of the next record, read
    // (and so cached) before the next block, as a proof would.
    let nextKey = RecordKey.grant(H.police, "G-2").treeKey
    var onPath: [Hash256] = []
    var current = (hash: first.header.stateRoot, version: try #require(try source.rootVersion(first.header.stateRoot)))
    var depth = 0
    while case .internalNode(let left, let right, let leftVersion, let rightVersion, _)? = try source.node(
      current.hash, version: current.version)
    {
      onPath.append(current.hash)
      current = nextKey.bit(depth) ? (right, rightVersion) : (left, leftVersion)
      depth += 1
    }
    #expect(onPath.count > 1)
    for hash in onPath { #expect(cache.value(hash) != nil) }
    let (second, execution) = try fixture.commit([fixture.policeGrant("G-2")])
    for hash in onPath { #expect(cache.value(hash) == nil, "a replaced node left the cache") }
    #expect(cache.value(second.header.stateRoot) != nil)
    for hash in execution.newNodes.hashes { #expect(cache.value(hash) != nil) }
    // Still stored under its version: the first block's state proves as before.
    let key = RecordKey.grant(H.police, "G-1")
    let (record, proof) = try fixture.store.record(key, atRoot: first.header.stateRoot)
    #expect(record != nil)
    #expect(proof.verify(root: first.header.stateRoot, key: key.treeKey, valueHash: record?.valueHash))
  }

  @Test(
    "a layout-6 or layout-4 store (a key per tree node; layout 4's internal nodes do not name their leaf children) opens as layout 7, reads its nodes where they are and groups the new ones, reaching the same roots",
    arguments: [6, 4] as [UInt8])
  func opensKeyPerNodeLayouts(layout: UInt8) throws {
    var converted = try StoreFixture()
    var untouched = try StoreFixture()
    defer {
      converted.remove()
      untouched.remove()
    }
    var blocks: [Block] = []
    for grantId in ["G-1", "G-2", "G-3"] {
      blocks.append(try converted.commit([converted.policeGrant(grantId)]).0)
      try untouched.commit([untouched.policeGrant(grantId)])
    }
    // Back to a key per node. For layout 4, every internal node in its tag-1
    // form, and each leaf it named stored on its own, under the version its
    // parent gives it.
    var stripped = 0
    try converted.ungroupNodes { node, version, batch in
      guard layout == 4,
        case .internalNode(let left, let right, let leftVersion, let rightVersion, let leafChildren?) = node
      else {
        batch.put(HeightKey.treeNode(node.hash, version: version), node.canonicalBytes)
        return
      }
      let plain = SparseMerkleNode.internalNode(
        left: left, right: right, leftVersion: leftVersion, rightVersion: rightVersion)
      #expect(plain.canonicalBytes.first == 1)
      batch.put(HeightKey.treeNode(plain.hash, version: version), plain.canonicalBytes)
      for (leaf, version) in [(leafChildren.left, leftVersion), (leafChildren.right, rightVersion)] {
        guard let leaf else { continue }
        let node = SparseMerkleNode.leaf(key: leaf.key, valueHash: leaf.valueHash)
        batch.put(HeightKey.treeNode(node.hash, version: version), node.canonicalBytes)
      }
      stripped += 1
    }
    #expect(layout != 4 || stripped > 0, "a tree of a few hundred records has internal nodes over leaves")
    #expect(try converted.groupedNodes().isEmpty)
    let marker = WriteBatch()
    marker.put(StoreKey.layout, [layout])
    try converted.store.database.write(marker)

    try converted.reopen()
    #expect(try converted.store.database.get(StoreKey.layout) == StoreKey.currentLayout)
    #expect(try converted.store.database.get(StoreKey.groupedNodesFrom) == StoreKey.bigEndian(4))
    try converted.store.verifyIntegrity()
    let key = RecordKey.grant(H.police, "G-2")
    let (record, proof) = try converted.store.record(key, atRoot: blocks[1].header.stateRoot)
    #expect(proof.verify(root: blocks[1].header.stateRoot, key: key.treeKey, valueHash: record?.valueHash))
    // New blocks over the old nodes reach the roots a store that never had them reaches.
    for grantId in ["G-4", "G-5"] {
      let (block, _) = try converted.commit([converted.policeGrant(grantId)])
      let (reference, _) = try untouched.commit([untouched.policeGrant(grantId)])
      #expect(block.header.stateRoot == reference.header.stateRoot)
      blocks.append(block)
    }
    #expect(Set(try converted.groupedNodes().map(\.version)) == [4, 5])
    // From the disk, not the node cache: old and new versions read each from their own keys.
    try converted.reopen()
    try converted.store.verifyIntegrity()
    for (index, grantId) in ["G-1", "G-2", "G-3", "G-4", "G-5"].enumerated() {
      let key = RecordKey.grant(H.police, grantId)
      for block in blocks[index...] {
        let (record, proof) = try converted.store.record(key, atRoot: block.header.stateRoot)
        #expect(record?.status == .active)
        #expect(proof.verify(root: block.header.stateRoot, key: key.treeKey, valueHash: record?.valueHash))
      }
    }
  }

  @Test(
    "a block and tree nodes in the height-ordered database above the head (a crash between the two writes) are found by the integrity check and dropped when the store opens"
  )
  func dropsAboveHead() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let grant = fixture.policeGrant("G-1")
    do {
      let store = fixture.store!
      let timeMs = store.head.timeMs + 1_000
      let execution = try store.execute([grant], timeMs: timeMs, signatureCheck: .verify)
      let header = store.nextHeader(
        transactions: [grant], timeMs: timeMs, execution: execution,
        proposer: Devnet.validatorKeys(of: fixture.genesis)[0].publicKey)
      // What `commit` writes first, without the main batch that follows it.
      let heightBatch = WriteBatch()
      heightBatch.put(HeightKey.block(1), Block(header: header, transactions: [grant]).canonicalBytes)
      LevelDBSparseMerkleNodes.add(
        execution.newNodes, version: 1,
        root: SparseMerkleRoot(hash: execution.stateRoot, version: execution.stateRootVersion), to: heightBatch,
        rootVersionTo: WriteBatch())
      try store.heightOrdered.write(heightBatch)
      #expect(throws: StoreError.self) { try store.verifyIntegrity() }
      #expect(try store.block(at: 1) == nil)
    }
    try fixture.reopen()
    #expect(fixture.store.head.height == 0)
    #expect(fixture.store.heightOrdered.scan(prefix: [], from: HeightKey.start(of: 1), limit: 10).isEmpty)
    try fixture.store.verifyIntegrity()
    try fixture.commit([grant])
    #expect(fixture.store.head.height == 1)
    try fixture.store.verifyIntegrity()
  }

  @Test("a store whose height-ordered database is missing refuses to open, naming it")
  func missingHeightOrdered() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    try fixture.commit([
      fixture.policeGrant("G-1")
    ])
    fixture.store = nil
    try FileManager.default.removeItem(atPath: fixture.path + "/" + LedgerStore.heightOrderedDirectory)
    #expect(
      performing: { try fixture.reopen() },
      throws: {
        ($0 as? StoreError)?.code == "store.corrupt" && "\($0)".contains(LedgerStore.heightOrderedDirectory)
      })
  }

  @Test("commit refuses a block whose header disagrees with executing it, or whose certificate is short")
  func refusesBadBlocks() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let transaction = fixture.policeGrant("G-1")
    let store = fixture.store!
    let timeMs = store.head.timeMs + 1_000
    let execution = try store.execute([transaction], timeMs: timeMs, signatureCheck: .verify)
    let keys = Devnet.validatorKeys(of: fixture.genesis)
    let header = store.nextHeader(
      transactions: [transaction], timeMs: timeMs, execution: execution, proposer: keys[0].publicKey)
    var wrongState = header
    wrongState.stateRoot = .zero
    #expect(throws: StoreError.refused("block.state_root_mismatch", "stateRoot differs from executing the block here")) {
      try store.validate(Block(header: wrongState, transactions: [transaction]))
    }
    var wrongParent = header
    wrongParent.previousHash = .zero
    #expect(
      performing: { try store.validate(Block(header: wrongParent, transactions: [transaction])) },
      throws: { error in
        (error as? StoreError)?.code == "block.wrong_parent"
      })
    let block = Block(header: header, transactions: [transaction])
    let short = Devnet.certify(header, keys: keys, quorum: 2)
    #expect(
      performing: { try store.commit(block, certificate: short) },
      throws: { error in
        (error as? StoreError)?.code == "block.bad_certificate"
      })
    #expect(store.head.height == 0)
    try store.commit(block, certificate: Devnet.certify(header, keys: keys, quorum: 3))
    #expect(store.head.height == 1)
  }

  @Test("proofs at past heights verify against that height's state root; history proofs against later headers")
  func pastProofsAndHistory() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let scope = StateMachineTests.scope()
    let (first, _) = try fixture.commit([
      fixture.transaction(
        .grantAccess(Grant(grantorId: H.police, grantId: "G-1", granteeId: H.housing, scope: scope)), by: police)
    ])
    let (second, _) = try fixture.commit([
      fixture.transaction(.revokeGrant(Retirement(bureauId: H.police, recordId: "G-1", reason: "到期")), by: police)
    ])
    let key = RecordKey.grant(H.police, "G-1")
    let (atFirst, firstProof) = try fixture.store.record(key, atRoot: first.header.stateRoot)
    let (atSecond, secondProof) = try fixture.store.record(key, atRoot: second.header.stateRoot)
    #expect(atFirst?.status == .active && atSecond?.status == .revoked)
    #expect(firstProof.verify(root: first.header.stateRoot, key: key.treeKey, valueHash: atFirst?.valueHash))
    #expect(secondProof.verify(root: second.header.stateRoot, key: key.treeKey, valueHash: atSecond?.valueHash))
    #expect(!firstProof.verify(root: second.header.stateRoot, key: key.treeKey, valueHash: atFirst?.valueHash))
    // Non-inclusion at the genesis root: the grant did not exist yet.
    let (atGenesis, genesisProof) = try fixture.store.record(
      key, atRoot: try #require(try fixture.store.block(at: 0)).header.stateRoot)
    #expect(atGenesis == nil)
    #expect(
      genesisProof.verify(root: try fixture.store.block(at: 0)!.header.stateRoot, key: key.treeKey, valueHash: nil))

    // The header at height 2 carries the root over blocks 0 and 1.
    let proof = try fixture.store.historyInclusionProof(height: 1, treeSize: 2)
    #expect(
      MerkleTree.verifyInclusion(
        leafHash: first.header.hash.withUnsafeBytes { MerkleTree.leafHash($0) }, index: 1, treeSize: 2, proof: proof,
        root: second.header.historyRoot))
    #expect(try fixture.store.history(of: key, limit: 10).entries.map(\.position.height) == [2, 1])
  }

  @Test(
    "a record's history: one key per block, newest first in pages that meet exactly; a layout-5 store's entries per transaction read the same"
  )
  func recordHistoryPages() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    var committed: [(height: UInt64, index: UInt32, id: Hash256)] = []
    for grantIds in [["G-1", "G-2", "G-3"], ["G-4"], ["G-5", "G-6"]] {
      let transactions = grantIds.map { fixture.policeGrant($0) }
      let (block, _) = try fixture.commit(transactions)
      for (index, transaction) in transactions.enumerated() {
        committed.append((block.header.height, UInt32(index), transaction.id))
      }
    }
    let account = RecordKey.account(police.publicKey)
    let newestFirst = committed.reversed().map { "\($0.height).\($0.index) \($0.id.hex)" }
    func read(_ store: LedgerStore, pageSize: Int) throws -> [String] {
      var lines: [String] = []
      var before: RecordHistory.Position?
      repeat {
        let page = try store.history(of: account, limit: pageSize, before: before)
        #expect(page.entries.count == pageSize || page.next == nil)
        lines += page.entries.map { "\($0.position.height).\($0.position.index) \($0.transactionId.hex)" }
        before = page.next
      } while before != nil
      return lines
    }
    // The account was written by every transaction: one key per block holds them.
    let stored = fixture.store.database.scan(prefix: StoreKey.recordHistory(account), limit: 100)
    #expect(stored.count == 3)
    for pageSize in [1, 2, 3, 6, 7] { #expect(try read(fixture.store, pageSize: pageSize) == newestFirst) }

    // Back to layout 5: one key per transaction, `<height> <index>` with the
    // id as value (and a key per tree node).
    try fixture.ungroupNodes()
    let perTransaction = WriteBatch()
    for entry in stored { perTransaction.delete(entry.key) }
    for (height, index, id) in committed {
      perTransaction.put(StoreKey.recordHistory(account, height: height) + StoreKey.bigEndian32(index), id.bytes)
    }
    perTransaction.put(StoreKey.layout, [5])
    try fixture.store.database.write(perTransaction)
    try fixture.reopen()
    #expect(try fixture.store.database.get(StoreKey.layout) == StoreKey.currentLayout)
    try fixture.store.verifyIntegrity()
    for pageSize in [1, 2, 4, 6] { #expect(try read(fixture.store, pageSize: pageSize) == newestFirst) }
    // The next block adds a grouped key after the old ones.
    let next = fixture.policeGrant("G-7")
    let (block, _) = try fixture.commit([next])
    #expect(
      try read(fixture.store, pageSize: 4) == ["\(block.header.height).0 \(next.id.hex)"] + newestFirst)
    try fixture.store.verifyIntegrity()

    // A malformed entry is reported, not read as something else.
    let broken = WriteBatch()
    broken.put(StoreKey.recordHistory(account, height: 99), Array(repeating: 1, count: 35))
    try fixture.store.database.write(broken)
    #expect(throws: StoreError.self) { try fixture.store.history(of: account, limit: 2) }
  }

  @Test("indexes: directories by bureau and share type, grants by grantor, grantee and directory, paged")
  func indexes() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let scope = StateMachineTests.scope()
    var transactions: [SignedTransaction] = []
    for n in 0..<5 {
      transactions.append(
        fixture.transaction(
          .grantAccess(
            Grant(grantorId: H.police, grantId: "G-\(n)", granteeId: n < 3 ? H.housing : H.civil, scope: scope)),
          by: police))
    }
    try fixture.commit(transactions)
    let store = fixture.store!
    #expect(try store.query(.directoriesOfBureau(H.police), limit: 10).records.count == 3)
    #expect(try store.query(.directoriesOfBureau(H.housing), limit: 10).records.isEmpty)
    #expect(
      try store.query(.directoriesByShareType(.notShared, bureauId: nil), limit: 10).records.map(\.key) == [
        .directory(H.police, H.secretDirectory)
      ])
    #expect(try store.query(.grantsByGrantee(H.housing), limit: 10).records.count == 3)
    #expect(
      try store.query(.grantsOfDirectory(grantorId: H.police, directoryId: H.residents), limit: 10).records.count == 5)
    let firstPage = try store.query(.grantsByGrantor(H.police), limit: 2)
    let secondPage = try store.query(.grantsByGrantor(H.police), after: firstPage.next, limit: 2)
    let thirdPage = try store.query(.grantsByGrantor(H.police), after: secondPage.next, limit: 2)
    #expect(
      (firstPage.records + secondPage.records + thirdPage.records).map(\.key.path)
        == (0..<5).map { "grant/\(H.police)/G-\($0)" })
    #expect(thirdPage.next == nil)

    // Revising a directory's share type moves it between share-type index entries.
    var revised = H.residentsDirectory(shareType: .unconditional)
    revised.shareCondition = ""
    try fixture.commit([fixture.transaction(.reviseDirectory(revised), by: police)])
    #expect(try store.query(.directoriesByShareType(.conditional, bureauId: H.police), limit: 10).records.isEmpty)
    #expect(try store.query(.directoriesByShareType(.unconditional, bureauId: H.police), limit: 10).records.count == 2)
    // A revision under the same share type keeps its one entry.
    revised.description = "revised again, still unconditional"
    try fixture.commit([fixture.transaction(.reviseDirectory(revised), by: police)])
    let unconditional = try store.query(.directoriesByShareType(.unconditional, bureauId: H.police), limit: 10)
    #expect(unconditional.records.count == 2)
    #expect(
      unconditional.records.contains {
        $0.key == .directory(H.police, H.residents)
          && $0.record == (try? store.record(.directory(H.police, H.residents)))
      })
  }
}

extension LedgerStoreTests {
  @Test("a proposer's next block, its bytes made once, is the block its header and transactions make, and commits")
  func nextBlockEncodesOnce() throws {
    var fixture = try StoreFixture()
    defer { fixture.remove() }
    let transactions = (1...7).map { fixture.policeGrant("G-\($0)") }
    let timeMs = fixture.store.head.timeMs + 1_000
    let execution = try fixture.store.execute(transactions, timeMs: timeMs, signatureCheck: .verify)
    let proposer = Devnet.nodeKey(execution.validatorSet.validators[0].bureauId)
    let block = fixture.store.nextBlock(
      transactions: transactions, timeMs: timeMs, execution: execution, proposer: proposer.publicKey)
    let header = fixture.store.nextHeader(
      transactions: transactions, timeMs: timeMs, execution: execution, proposer: proposer.publicKey)
    #expect(block.header == header)
    #expect(block.transactionsRoot == header.transactionsRoot)
    #expect(
      header.transactionsRoot == MerkleTree.root(leaves: transactions.map(\.canonicalBytes)),
      "the root from the kept leaf hashes is the root over the bytes")
    let separately = Block(header: header, transactions: transactions)
    #expect(block.canonicalBytes == separately.canonicalBytes)
    #expect(try Block(canonicalBytes: block.canonicalBytes) == separately)
    let keys = execution.validatorSet.validators.map { Devnet.nodeKey($0.bureauId) }
    let certificate = Devnet.certify(header, keys: keys, quorum: execution.validatorSet.quorum)
    // Validated again by the store (roots and execution), not the execution handed in.
    try fixture.store.commit(block, certificate: certificate)
    #expect(fixture.store.head.blockHash == header.hash)
    #expect(try fixture.store.block(at: 1) == separately)
  }
}

extension LedgerStoreTests {
  /// A record's tree key is SHA-256 of its path's UTF-8 bytes, so keys are
  /// the same exactly when the bytes are; String's `==` would call
  /// canonically equivalent spellings (a precomposed é and e + U+0301) equal.
  @Test("record keys are equal and hash alike exactly when their UTF-8 bytes are")
  func recordKeysByBytes() {
    let precomposed = RecordKey(path: "directory/BJ-GAJ/caf\u{E9}")
    let decomposed = RecordKey(path: "directory/BJ-GAJ/cafe\u{301}")
    #expect(precomposed.path == decomposed.path, "Swift strings: canonically equivalent")
    #expect(precomposed != decomposed)
    #expect(precomposed.treeKey != decomposed.treeKey)
    #expect(Set([precomposed, decomposed]).count == 2)
    let built = RecordKey.directory("BJ-GAJ", "RKJBXX")
    let parsed = RecordKey(path: String(decoding: Array("directory/BJ-GAJ/RKJBXX".utf8), as: UTF8.self))
    #expect(built == parsed && built.hashValue == parsed.hashValue)
    #expect(Set([built, parsed, precomposed]).count == 2)
    // Ordered by bytes too (blocks write their records in this order).
    let keys =
      ["a", "ab", "", "Z", "directory/BJ-GAJ/z", "directory/BJ-GAJ/caf\u{E9}", "account/ff", "account/f"]
      .map { RecordKey(path: $0) } + [precomposed, decomposed]
    #expect(
      keys.sorted().map { Array($0.path.utf8) }
        == keys.map { Array($0.path.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
  }

  /// Index keys are the prefix, then each part and a `/`: the layout stores
  /// already hold, so the bytes must not change with how they are built.
  @Test func indexKeysAreThePrefixThenEachPartAndASlash() {
    #expect(StoreKey.joined(Array("i/d/".utf8), ["BJ-GAJ", "户籍-R1"]) == Array("i/d/BJ-GAJ/户籍-R1/".utf8))
    #expect(StoreKey.joined(Array("i/g/".utf8), []) == Array("i/g/".utf8))
    #expect(StoreKey.joined([], ["a", ""]) == Array("a//".utf8))
  }
}
