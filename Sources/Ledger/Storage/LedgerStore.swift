import Synchronization

/// The last committed block, as the store's commit marker records it.
public struct StoreHead: Hashable, Sendable, Codable, CanonicalCodable {
  public let height: UInt64
  public let blockHash: Hash256
  public let timeMs: UInt64
  public let stateRoot: Hash256

  public init(height: UInt64, blockHash: Hash256, timeMs: UInt64, stateRoot: Hash256) {
    self.height = height
    self.blockHash = blockHash
    self.timeMs = timeMs
    self.stateRoot = stateRoot
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u64: height)
    writer.write(hash: blockHash)
    writer.write(u64: timeMs)
    writer.write(hash: stateRoot)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    height = try reader.read(u64: "height")
    blockHash = try reader.read(hash: "blockHash")
    timeMs = try reader.read(u64: "timeMs")
    stateRoot = try reader.read(hash: "stateRoot")
  }
}

/// Why the store refused a block or could not open. Codes are stable.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
  public let code: String
  public let message: String
  /// True when the store refused a block as invalid here (its roots, parent,
  /// height or certificate), false when the store itself failed (a disk, a
  /// corrupt record). A node that refuses a certified block has diverged and stops.
  public let refusesBlock: Bool

  init(_ code: String, _ message: String) {
    self.init(code, message, refusesBlock: false)
  }

  private init(_ code: String, _ message: String, refusesBlock: Bool) {
    self.code = code
    self.message = message
    self.refusesBlock = refusesBlock
  }

  /// A block that does not apply on this store's head.
  static func refused(_ code: String, _ message: String) -> StoreError {
    StoreError(code, message, refusesBlock: true)
  }

  public var description: String { "\(code): \(message)" }
}

/// Where a committed transaction is, and what became of it.
public struct TransactionLocation: Hashable, Sendable, Codable {
  public let height: UInt64
  public let index: UInt32
  public let result: TransactionResult
}

/// Blocks, certificates, the history tree, state (records, tree nodes) and
/// query indexes, in a directory of two LevelDB databases: the main one, and
/// inside it (`by-height/`) the height-ordered one, which holds what each
/// height adds and nothing ever changes: blocks and tree nodes, keyed height
/// first (`HeightKey`). Kept apart from the main database's randomly keyed
/// tables, those are never rewritten by compaction (docs/BENCHMARKS.md).
///
/// Committing a block is one atomic, synced write batch to the main database
/// that carries its certificate, every record it changed, every index entry
/// and the new head marker. The block and its tree nodes are written, synced,
/// just before, to the height-ordered database, where nothing refers to them
/// until that batch lands; what a crash leaves there above the head is
/// deleted when the store opens. So a crash leaves the store at the previous
/// block or the next one, never between.
///
/// Not thread-safe for writers: one owner (the node's ledger actor) commits.
/// Reads of committed data are safe from anywhere, because LevelDB is.
public final class LedgerStore: StateReader, @unchecked Sendable {
  public let database: LevelDB
  /// Blocks and tree nodes by height (`HeightKey`).
  public let heightOrdered: LevelDB
  public let genesis: Genesis
  public let genesisHash: Hash256
  public var chainId: String { genesis.chainId }
  public private(set) var head: StoreHead
  public private(set) var historyFrontier: MerkleFrontier
  /// The set in force at the head (the one that certified it). The next
  /// block's is `validatorSchedule().validatorsInForce(at: head.height + 1)`.
  public private(set) var validatorSet: ValidatorSet
  let tree: SparseMerkleTree<LevelDBSparseMerkleNodes>
  /// Tree nodes read from disk since the store opened (`ledger-cli bench store` reports them).
  public var treeNodesReadFromDisk: Int { tree.source.nodesReadFromDisk }
  /// Current records by key, written through at each commit (absent records are not cached).
  /// Small on purpose: the records read again and again (bureaus, accounts,
  /// directories) are few; a cache four times larger held mostly new records
  /// never read again: shrinking it freed ≈ 30 MB per node and cost no throughput.
  let recordCache = TwoGenerationCache<RecordKey, StateRecord>(capacity: 1 << 14)
  /// The last committed block's list of new tree nodes and its two write
  /// batches, emptied and filled again by the next block: allocated afresh,
  /// they were mapped, faulted in and unmapped every block.
  private var spareNodeTable = NewTreeNodes()
  /// The working state's tables, for the same reason (≈ 1.6 MB at 5,000 transactions).
  private var spareExecutionTables = ExecutionTables()
  private let commitBatch = WriteBatch()
  /// A block's history entries by record, kept from block to block like the tables above.
  private var historyGroups: [RecordKey: [UInt8]] = [:]
  /// The buffer a commit builds each of its keys in, one after another.
  private var storeKey: [UInt8] = []
  private let commitHeightOrderedBatch = WriteBatch()
  let rejectedTransactionIds: RejectedTransactionIds
  let recordKeys = RecordKeyFilter()

  /// Opens the store in `path`, creating it from `genesis` when empty. A store
  /// made from a different genesis file refuses to open. At most
  /// `rejectedIdsInMemoryMax` ids of rejected transactions are kept in memory.
  public init(path: String, genesis: Genesis, rejectedIdsInMemoryMax: Int = RejectedTransactionIds.defaultMax) throws {
    // The main database gets ≈ 40 % of the bytes a block writes, the
    // height-ordered one the rest; its memtable can be small, since a flush
    // there is never rewritten. Together the two hold what the one 32 MiB
    // memtable held before. The height-ordered cache serves block reads
    // only: tree-node reads bypass it (`LevelDB.ReadCheck.contentHash`).
    database = try LevelDB(path: path, writeBufferBytes: 24 << 20)
    heightOrdered = try LevelDB(
      path: path + "/" + Self.heightOrderedDirectory, cacheBytes: 2 << 20, writeBufferBytes: 8 << 20)
    self.genesis = genesis
    genesisHash = genesis.hash
    let storedGenesisHash = try database.get(StoreKey.genesisHash)
    if let storedGenesisHash, storedGenesisHash != genesisHash.bytes {
      throw StoreError(
        "store.genesis_mismatch",
        "\(path) holds chain \(Hex.encode(storedGenesisHash)), not genesis \(genesisHash.hex); use the genesis file it was created with"
      )
    }
    let groupedFrom =
      storedGenesisHash == nil ? 0 : try Self.upgradeLayout(of: database, heightOrdered: heightOrdered, path: path)
    tree = SparseMerkleTree(
      source: LevelDBSparseMerkleNodes(database: heightOrdered, rootDatabase: database, groupedFrom: groupedFrom))
    if storedGenesisHash != nil {
      head = try Self.storedHead(in: database, path: path)
      guard let frontierBytes = try database.get(StoreKey.historyFrontier) else {
        throw StoreError("store.corrupt", "\(path) has a head marker but no history frontier")
      }
      try Self.discardHeightOrdered(above: head.height, in: heightOrdered)
      // The two databases are one store: a main database without its
      // height-ordered half (copied or restored apart) must not start.
      guard try heightOrdered.get(HeightKey.block(head.height)) != nil else {
        throw StoreError(
          "store.corrupt",
          "\(path)/\(Self.heightOrderedDirectory) lacks the head block \(head.height): restore the whole \(path) directory, which is one store"
        )
      }
      historyFrontier = try MerkleFrontier(canonicalBytes: frontierBytes)
      validatorSet = try Self.validatorSet(in: database)
      rejectedTransactionIds = RejectedTransactionIds(
        try Self.loadRejectedIds(from: database, max: rejectedIdsInMemoryMax), max: rejectedIdsInMemoryMax)
      Self.loadRecordKeys(into: recordKeys, from: database)
    } else {
      let state = try genesis.buildState(tree: tree)
      head = StoreHead(height: 0, blockHash: .zero, timeMs: 0, stateRoot: .zero)
      historyFrontier = MerkleFrontier()
      validatorSet = state.execution.validatorSet
      rejectedTransactionIds = RejectedTransactionIds([], max: rejectedIdsInMemoryMax)
      let batch = WriteBatch()
      batch.put(StoreKey.genesisHash, genesisHash.bytes)
      batch.put(StoreKey.layout, StoreKey.currentLayout)
      batch.put(StoreKey.rejectedIndex, [1])
      try write(state.block, certificate: nil, execution: state.execution, into: batch, heightOrdered: WriteBatch())
    }
  }

  // MARK: State

  public func record(_ key: RecordKey) throws -> StateRecord? {
    if let cached = recordCache.value(key) { return cached }
    guard recordKeys.mayContain(key) else { return nil }
    guard let valueHash = try database.get(StoreKey.record(key)) else { return nil }
    let record = try Self.recordValue(valueHash, of: key, in: database)
    recordCache.insert(key, record)
    return record
  }

  /// A record as of the state root `root` (any retained past height) with its proof.
  public func record(_ key: RecordKey, atRoot root: Hash256) throws -> (StateRecord?, SparseMerkleProof) {
    let proof = try tree.proof(root: root, key: key.treeKey)
    guard let leaf = proof.leaf, leaf.key == key.treeKey else { return (nil, proof) }
    return (try Self.recordValue(leaf.valueHash.bytes, of: key, in: database), proof)
  }

  /// Records whose path starts with `prefix` (e.g. `duty/BJ-GAJ/`), in path order, at most `limit`.
  public func records(pathPrefix: String, after: RecordKey? = nil, limit: Int) throws -> [(RecordKey, StateRecord)] {
    let prefix = StoreKey.recordPrefix + Array(pathPrefix.utf8)
    let start = after.map { StoreKey.record($0) + [0] }
    return try database.scan(prefix: prefix, from: start, limit: limit).map { entry in
      let key = RecordKey(path: String(decoding: entry.key.dropFirst(StoreKey.recordPrefix.count), as: UTF8.self))
      return (key, try Self.recordValue(entry.value, of: key, in: database))
    }
  }

  /// A record is stored once, under `v/<value hash>`; `r/<key>` holds only
  /// the hash of its current value, so a change writes the record's bytes
  /// once (they sit under a random key, where every byte costs compaction).
  private static func recordValue(_ valueHash: [UInt8], of key: RecordKey, in database: LevelDB) throws
    -> StateRecord
  {
    guard valueHash.count == Hash256.byteCount,
      let bytes = try database.get(StoreKey.recordValuePrefix + valueHash)
    else {
      throw StoreError("store.corrupt", "the value \(Hex.encode(valueHash)) of record \(key) is missing")
    }
    return try StateRecord(canonicalBytes: bytes)
  }

  /// The `validators` record of the head's state: the set in force and what is scheduled after it.
  public func validatorSchedule() throws -> ValidatorSchedule {
    guard let record = try record(.validators), let schedule = ValidatorSchedule(record, height: head.height) else {
      throw StoreError("store.corrupt", "the validators record is missing")
    }
    return schedule
  }

  /// The sets in force up to the next block, as (first height, set) pairs in
  /// height order: genesis's, then one per transition — the latest
  /// `latestMax` of them (a chain with more starts at the oldest kept one).
  public func validatorEpochs(latestMax: Int = 256) throws -> [(fromHeight: UInt64, validators: ValidatorSet)] {
    let latest = database.scanBackward(prefix: StoreKey.validatorTransitionPrefix, limit: latestMax).reversed()
    var epochs: [(fromHeight: UInt64, validators: ValidatorSet)] = []
    if latest.count < latestMax { epochs.append((1, ValidatorSet(genesis.validators))) }
    for entry in latest {
      let effective = StoreKey.readBigEndian(entry.key.dropFirst(StoreKey.validatorTransitionPrefix.count))
      guard let header = try header(at: effective), case (let record?, _) = try record(.validators, atRoot: header.stateRoot),
        case .validators(let inForce, _) = record.value
      else { throw StoreError("store.corrupt", "no validators record at height \(effective)") }
      epochs.append((effective, inForce))
    }
    let next = try validatorSchedule().validatorsInForce(at: head.height + 1)
    if next != epochs.last?.validators { epochs.append((head.height + 1, next)) }
    return epochs
  }

  private static func validatorSet(in database: LevelDB) throws -> ValidatorSet {
    guard let valueHash = try database.get(StoreKey.record(.validators)),
      case .validators(let set, _) = try recordValue(valueHash, of: .validators, in: database).value
    else {
      throw StoreError("store.corrupt", "the validators record is missing")
    }
    return set
  }

  /// The rejected ids for memory, or nil if there are more than `max`.
  /// A store from before the `j/` index gets it here, once, from `t/`.
  private static func loadRejectedIds(from database: LevelDB, max: Int) throws -> Set<Hash256>? {
    if try database.get(StoreKey.rejectedIndex) == nil { try backfillRejectedIndex(in: database) }
    let entries = database.scan(prefix: StoreKey.rejectedTransactionPrefix, limit: max + 1)
    guard entries.count <= max else { return nil }
    return Set(entries.compactMap { Hash256(bytes: Array($0.key.dropFirst(StoreKey.rejectedTransactionPrefix.count))) })
  }

  /// Every key under `r/` (≈ 1 s per 10⁶ records).
  private static func loadRecordKeys(into filter: RecordKeyFilter, from database: LevelDB) {
    database.forEachPage(prefix: StoreKey.recordPrefix) { page in
      for entry in page {
        filter.insert(
          RecordKey(path: String(decoding: entry.key.dropFirst(StoreKey.recordPrefix.count), as: UTF8.self)))
      }
    }
  }

  /// The height-ordered database's directory, inside the store's.
  public static let heightOrderedDirectory = "by-height"

  /// Deletes what the height-ordered database holds above `height`: the
  /// block and nodes of a commit that a crash stopped before its main batch.
  private static func discardHeightOrdered(above height: UInt64, in heightOrdered: LevelDB) throws {
    let start = HeightKey.start(of: height + 1)
    while true {
      let entries = heightOrdered.scan(prefix: [], from: start, limit: 10_000)
      guard !entries.isEmpty else { return }
      let batch = WriteBatch()
      for entry in entries { batch.delete(entry.key) }
      try heightOrdered.write(batch)
    }
  }

  private static func storedHead(in database: LevelDB, path: String) throws -> StoreHead {
    guard let headBytes = try database.get(StoreKey.head) else {
      throw StoreError("store.corrupt", "\(path) has a genesis hash but no head marker")
    }
    return try StoreHead(canonicalBytes: headBytes)
  }

  /// Brings a store written by an older build to the current layout, one
  /// step after another, and returns the first version whose tree nodes are
  /// grouped (`LevelDBSparseMerkleNodes`). Each step writes its marker last,
  /// so an interrupted one is simply done again at the next open.
  private static func upgradeLayout(of database: LevelDB, heightOrdered: LevelDB, path: String) throws -> UInt64 {
    if try database.get(StoreKey.layout) == StoreKey.movableLayout {
      try moveToHeightOrdered(from: database, to: heightOrdered)
    }
    if let layout = try database.get(StoreKey.layout), StoreKey.markerOnlyLayouts.contains(layout) {
      let marker = WriteBatch()
      marker.put(StoreKey.layout, StoreKey.keyPerNodeLayout)
      try database.write(marker)
    }
    if try database.get(StoreKey.layout) == StoreKey.keyPerNodeLayout {
      // Its nodes stay under a key each; the blocks from the next on group theirs.
      let marker = WriteBatch()
      marker.put(StoreKey.groupedNodesFrom, StoreKey.bigEndian(try storedHead(in: database, path: path).height + 1))
      marker.put(StoreKey.layout, StoreKey.currentLayout)
      try database.write(marker)
    }
    guard try database.get(StoreKey.layout) == StoreKey.currentLayout else {
      throw StoreError(
        "store.old_layout",
        "\(path) was written by a build with another key layout, which this one cannot read; move it aside and let the node catch up from its peers into a new data directory"
      )
    }
    guard let groupedFrom = try database.get(StoreKey.groupedNodesFrom) else { return 0 }
    guard groupedFrom.count == 8 else {
      throw StoreError("store.corrupt", "\(path) names its first grouped version in \(groupedFrom.count) bytes, not 8")
    }
    return StoreKey.readBigEndian(groupedFrom)
  }

  /// Moves a layout-3 store's blocks and tree nodes into the height-ordered
  /// database, a page at a time: each page is written there, synced, before
  /// it is deleted here, so an interrupted move loses nothing and simply
  /// continues at the next open. The layout marker goes last. Each moved
  /// range is compacted, so the store does not stay twice its size on disk.
  private static func moveToHeightOrdered(from database: LevelDB, to heightOrdered: LevelDB) throws {
    let versionedPrefixes: [(prefix: [UInt8], tag: UInt8)] = [
      (Array("b/".utf8), HeightKey.blockTag), (Array("n/".utf8), HeightKey.treeNodeTag),
    ]
    for (prefix, tag) in versionedPrefixes {
      try database.forEachPage(prefix: prefix) { page in
        let moved = WriteBatch()
        let deleted = WriteBatch()
        for entry in page {
          let rest = entry.key.dropFirst(prefix.count)
          guard rest.count >= 8 else {
            throw StoreError("store.corrupt", "key \(Hex.encode(entry.key)) has no height after its prefix")
          }
          moved.put(Array(rest.prefix(8)) + [tag] + rest.dropFirst(8), entry.value)
          deleted.delete(entry.key)
        }
        try heightOrdered.write(moved)
        try database.write(deleted)
      }
      database.compact(prefix: prefix)
    }
    let marker = WriteBatch()
    marker.put(StoreKey.layout, StoreKey.keyPerNodeLayout)
    try database.write(marker)
  }

  /// The marker goes last: an interrupted backfill is simply done again.
  private static func backfillRejectedIndex(in database: LevelDB) throws {
    try database.forEachPage(prefix: StoreKey.transactionPrefix) { page in
      let batch = WriteBatch()
      for entry in page {
        guard let id = Hash256(bytes: Array(entry.key.dropFirst(StoreKey.transactionPrefix.count))) else {
          throw StoreError("store.corrupt", "transaction index key \(Hex.encode(entry.key)) is not t/ and an id")
        }
        if try !StoredTransaction(canonicalBytes: entry.value, transactionId: id).result.isAccepted {
          batch.put(StoreKey.rejectedTransaction(id), [])
        }
      }
      try database.write(batch)
    }
    let marker = WriteBatch()
    marker.put(StoreKey.rejectedIndex, [1])
    try database.write(marker)
  }

  // MARK: Blocks

  /// Executes `transactions` as the next block, for a proposer to build a header from.
  public func execute(
    _ transactions: [SignedTransaction], timeMs: UInt64, signatureCheck: StateMachine.SignatureCheck
  ) throws -> BlockExecution {
    // Taken, not shared: the tree update can only refill a list nothing else holds.
    var nodeTable = NewTreeNodes()
    swap(&nodeTable, &spareNodeTable)
    return try StateMachine(chainId: chainId, signatureCheck: signatureCheck).execute(
      transactions: transactions, height: head.height + 1, timeMs: timeMs, state: self, tree: tree,
      stateRoot: head.stateRoot, reusingNodeTable: consume nodeTable, tables: &spareExecutionTables)
  }

  /// The header a proposer at the next height would put over `execution`.
  public func nextHeader(
    transactions: [SignedTransaction], timeMs: UInt64, execution: BlockExecution, proposer: PublicKey
  ) -> BlockHeader {
    BlockHeader(
      chainId: chainId, height: head.height + 1, timeMs: timeMs, previousHash: head.blockHash,
      historyRoot: historyFrontier.root, transactionsRoot: Block.transactionsRoot(transactions),
      transactionCount: UInt32(transactions.count), resultsRoot: execution.resultsRoot,
      stateRoot: execution.stateRoot, validatorSetHash: execution.validatorSet.hash, proposer: proposer)
  }

  /// The block a proposer at the next height would make of `execution`, with
  /// its canonical bytes made once for the proposal, the log and the store.
  public func nextBlock(
    transactions: [SignedTransaction], timeMs: UInt64, execution: BlockExecution, proposer: PublicKey
  ) -> Block {
    Block(
      header: nextHeader(transactions: transactions, timeMs: timeMs, execution: execution, proposer: proposer),
      transactions: transactions
    ).encoded()
  }

  /// Checks that `block` is the next block and that its header matches its
  /// execution; returns the execution. Used by backups before they vote and
  /// by `commit`.
  public func validate(
    _ block: Block, signatureCheck: StateMachine.SignatureCheck = .verify
  ) throws -> BlockExecution {
    let header = block.header
    guard header.chainId == chainId else {
      throw StoreError.refused("block.wrong_chain", "block is for chain \"\(header.chainId)\"")
    }
    guard header.height == head.height + 1 else {
      throw StoreError.refused("block.wrong_height", "block height \(header.height); the next is \(head.height + 1)")
    }
    guard header.previousHash == head.blockHash else {
      throw StoreError.refused("block.wrong_parent", "previousHash \(header.previousHash.hex) is not \(head.blockHash.hex)")
    }
    guard header.timeMs >= head.timeMs else {
      throw StoreError.refused("block.time_went_back", "timeMs \(header.timeMs) is before the previous block's \(head.timeMs)")
    }
    guard header.historyRoot == historyFrontier.root else {
      throw StoreError.refused("block.history_root_mismatch", "historyRoot does not cover the blocks before it")
    }
    guard Int(header.transactionCount) == block.transactions.count,
      header.transactionsRoot == block.transactionsRoot
    else { throw StoreError.refused("block.transactions_root_mismatch", "transactionsRoot does not match the transactions") }
    let execution = try execute(block.transactions, timeMs: header.timeMs, signatureCheck: signatureCheck)
    guard header.resultsRoot == execution.resultsRoot else {
      throw StoreError.refused("block.results_root_mismatch", "resultsRoot differs from executing the block here")
    }
    guard header.stateRoot == execution.stateRoot else {
      throw StoreError.refused("block.state_root_mismatch", "stateRoot differs from executing the block here")
    }
    guard header.validatorSetHash == execution.validatorSet.hash else {
      throw StoreError.refused("block.validator_set_mismatch", "validatorSetHash is not the set in force at this height")
    }
    return execution
  }

  /// Commits the next block under its certificate, in one atomic write.
  /// Pass the execution `validate` returned to avoid executing twice.
  @discardableResult
  public func commit(_ block: Block, certificate: CommitCertificate, execution: BlockExecution? = nil) throws
    -> BlockExecution
  {
    let execution = try execution ?? validate(block)
    precondition(execution.stateRoot == block.header.stateRoot, "commit with the execution of another block")
    let blockHash = block.header.hash
    guard certificate.blockHash == blockHash, certificate.height == block.header.height else {
      throw StoreError.refused("block.certificate_mismatch", "the certificate is for another block")
    }
    do {
      try certificate.verify(chainId: chainId, validators: execution.validatorSet)
    } catch {
      throw StoreError.refused("block.bad_certificate", "the commit certificate does not verify: \(error)")
    }
    defer {
      commitBatch.clear()
      commitHeightOrderedBatch.clear()
    }
    try write(
      block, certificate: certificate, execution: execution, into: commitBatch,
      heightOrdered: commitHeightOrderedBatch)
    spareNodeTable = execution.newNodes
    return execution
  }

  private func write(
    _ block: Block, certificate: CommitCertificate?, execution: BlockExecution, into batch: WriteBatch,
    heightOrdered heightBatch: WriteBatch
  ) throws {
    let header = block.header
    let height = header.height
    let blockHash = header.hash
    heightBatch.put(HeightKey.block(height), block.canonicalBytes)
    if let certificate { batch.put(StoreKey.certificate(height), certificate.canonicalBytes) }
    batch.put(StoreKey.blockHash(height), blockHash.bytes)
    var rejectedIds: [Hash256] = []
    var location = CanonicalWriter(capacity: 64)
    for (index, transaction) in block.transactions.enumerated() {
      let result = execution.results[index]
      location.removeAll()
      StoredTransaction(height: height, index: UInt32(index), result: result).encode(to: &location)
      StoreKey.transaction(transaction.id, into: &storeKey)
      batch.put(storeKey, location.bytes)
      if !result.isAccepted {
        StoreKey.rejectedTransaction(transaction.id, into: &storeKey)
        batch.put(storeKey, [])
        rejectedIds.append(transaction.id)
      }
    }
    // By index: a loop variable would copy (and retain) every change whole.
    let changes = execution.changes
    for index in changes.indices {
      // Before the write: a reader may then see "maybe" for a key not yet
      // stored (and read it), never "no" for one that is.
      recordKeys.insert(changes[index].key)
      StoreKey.record(changes[index].key, into: &storeKey)
      batch.put(storeKey, changes[index].afterValueHash)
      StoreKey.recordValue(changes[index].afterValueHash, into: &storeKey)
      batch.put(storeKey, changes[index].afterBytes)
      StoreIndexes.update(changes[index], in: batch)
    }
    // One history entry per record and block: a block's writes of a record
    // (an operator's account, with every transaction it signs) become one
    // key, ≈ 0.7 keys per transaction instead of ≈ 2.2.
    historyGroups.removeAll(keepingCapacity: true)
    for write in execution.recordWrites {
      let id = height == 0 ? Hash256.zero : block.transactions[write.transactionIndex].id
      RecordHistory.append(index: UInt32(write.transactionIndex), id: id, to: &historyGroups[write.key, default: []])
    }
    for (key, entries) in historyGroups {
      StoreKey.recordHistory(key, height: height, into: &storeKey)
      batch.put(storeKey, entries)
    }
    let root = SparseMerkleRoot(hash: execution.stateRoot, version: execution.stateRootVersion)
    LevelDBSparseMerkleNodes.add(execution.newNodes, version: height, root: root, to: heightBatch, rootVersionTo: batch)
    if height > 0, execution.validatorSet != validatorSet {
      batch.put(StoreKey.validatorTransition(height), [])
    }
    var frontier = historyFrontier
    frontier.append(leafHash: blockHash.withUnsafeBytes { MerkleTree.leafHash($0) })
    let newHead = StoreHead(height: height, blockHash: blockHash, timeMs: header.timeMs, stateRoot: header.stateRoot)
    batch.put(StoreKey.historyFrontier, frontier.canonicalBytes)
    batch.put(StoreKey.head, newHead.canonicalBytes)
    // Before the write, as with the record keys: an id that then fails to
    // commit costs a lookup that finds nothing; a committed one is never missed.
    rejectedTransactionIds.insert(rejectedIds)
    // First, and synced: nothing refers to these until the head marker does.
    try heightOrdered.write(heightBatch)
    try database.write(batch)
    tree.source.remember(execution.newNodes, root: root)
    for index in changes.indices { recordCache.insert(changes[index].key, changes[index].after) }
    head = newHead
    historyFrontier = frontier
    validatorSet = execution.validatorSet
  }

  /// A block's header without decoding its transactions (the header comes first in the block's bytes).
  public func header(at height: UInt64) throws -> BlockHeader? {
    guard height <= head.height, let bytes = try heightOrdered.get(HeightKey.block(height)) else { return nil }
    var reader = CanonicalReader(bytes)
    return try BlockHeader(from: &reader)
  }

  public func block(at height: UInt64) throws -> Block? {
    try blockBytes(at: height).map { bytes throws(FormatError) in try Block(canonicalBytes: bytes) }
  }

  /// A block's canonical bytes as stored (docs/FORMAT.md §5), not decoded:
  /// what the API serves in binary. Decoding thousands of transactions only
  /// to encode them again took the node's engine ≈ 20 ms per block.
  public func blockBytes(at height: UInt64) throws -> [UInt8]? {
    guard height <= head.height else { return nil }
    return try heightOrdered.get(HeightKey.block(height))
  }

  public func certificate(at height: UInt64) throws -> CommitCertificate? {
    guard height <= head.height, let bytes = try database.get(StoreKey.certificate(height)) else { return nil }
    return try CommitCertificate(canonicalBytes: bytes)
  }

  public func blockHash(at height: UInt64) throws -> Hash256? {
    guard height <= head.height, let bytes = try database.get(StoreKey.blockHash(height)) else { return nil }
    return Hash256(bytes: bytes)
  }

  /// RFC 6962 inclusion proof of the block at `height` in the history tree of
  /// the first `treeSize` blocks (a header at height `treeSize` carries that root).
  public func historyInclusionProof(height: UInt64, treeSize: UInt64) throws -> [Hash256] {
    precondition(height < treeSize && treeSize <= head.height + 1, "history proof outside the chain")
    return MerkleTree.inclusionProof(index: Int(height), leafHashes: try historyLeafHashes(count: treeSize))
  }

  public func historyConsistencyProof(oldSize: UInt64, newSize: UInt64) throws -> [Hash256] {
    precondition(oldSize <= newSize && newSize <= head.height + 1, "history proof outside the chain")
    return MerkleTree.consistencyProof(oldSize: Int(oldSize), leafHashes: try historyLeafHashes(count: newSize))
  }

  private func historyLeafHashes(count: UInt64) throws -> [Hash256] {
    try (0..<count).map { height in
      guard let hash = try blockHash(at: height) else {
        throw StoreError("store.corrupt", "block hash at height \(height) is missing")
      }
      return hash.withUnsafeBytes { MerkleTree.leafHash($0) }
    }
  }

  /// Where `transaction` was committed, or nil. Answers from memory, without
  /// a read, for a transaction whose sequence its signer has not used yet and
  /// that is not among those committed as rejected: nearly every transaction
  /// admission sees, for which the `t/` read was a miss that searched every
  /// level of the store (docs/BENCHMARKS.md).
  /// `signerNextSequence` saves the read for a caller that made it already.
  public func committedLocation(of transaction: SignedTransaction, signerNextSequence: UInt64? = nil) throws
    -> TransactionLocation?
  {
    let next = try signerNextSequence ?? nextSequence(of: transaction.body.signer)
    guard transaction.body.sequence < next || rejectedTransactionIds.mayContain(transaction.id) else { return nil }
    return try transactionLocation(transaction.id)
  }

  /// The sequence number `signer`'s next accepted transaction must carry.
  public func nextSequence(of signer: PublicKey) throws -> UInt64 {
    if case .account(let next)? = try record(.account(signer))?.value { return next }
    return 0
  }

  /// Where a committed transaction is, without reading its block.
  public func transactionLocation(_ id: Hash256) throws -> TransactionLocation? {
    guard let bytes = try database.get(StoreKey.transaction(id)) else { return nil }
    let stored = try StoredTransaction(canonicalBytes: bytes, transactionId: id)
    return TransactionLocation(height: stored.height, index: stored.index, result: stored.result)
  }

  public func transaction(_ id: Hash256) throws -> (SignedTransaction, TransactionLocation)? {
    guard let bytes = try database.get(StoreKey.transaction(id)) else { return nil }
    let stored = try StoredTransaction(canonicalBytes: bytes, transactionId: id)
    guard let block = try block(at: stored.height), Int(stored.index) < block.transactions.count else {
      throw StoreError("store.corrupt", "transaction \(id.hex) points at a missing block")
    }
    return (
      block.transactions[Int(stored.index)],
      TransactionLocation(height: stored.height, index: stored.index, result: stored.result)
    )
  }

  /// The transactions that wrote `key`, newest first, at most `limit`, from
  /// just before `before` (a position an earlier page ended at) or from the
  /// newest; `next` is where the following page starts, nil on the last.
  public func history(
    of key: RecordKey, limit: Int, before: RecordHistory.Position? = nil
  ) throws -> (entries: [RecordHistory.Entry], next: RecordHistory.Position?) {
    precondition(limit > 0, "pages are bounded")
    let prefix = StoreKey.recordHistory(key)
    // Each key holds at least one entry, and only the first, at `before`'s
    // own height, may hold none before it: limit + 2 keys tell whether a page follows.
    let bound = before.map { prefix + $0.cursor }
    var entries: [RecordHistory.Entry] = []
    for stored in database.scanBackward(prefix: prefix, before: bound, limit: limit + 2) {
      for entry in try RecordHistory.entries(key: stored.key, value: stored.value, prefixCount: prefix.count).reversed()
      where before.map({ entry.position < $0 }) ?? true {
        entries.append(entry)
        if entries.count > limit { return (Array(entries.prefix(limit)), entries[limit - 1].position) }
      }
    }
    return (entries, nil)
  }
}

/// A record's history: which transactions wrote it (`x/` keys, docs/OPERATIONS.md).
///
/// Under `x/<record path> 0x00 <height, 8 bytes>`, the value lists the
/// block's transactions that wrote the record, ascending: per transaction its
/// index (4 bytes, big endian) and id (32 bytes). Layouts 5 and older wrote
/// `x/<path> 0x00 <height> <index>` with the id as value; both read the same.
public enum RecordHistory {
  public struct Position: Comparable, Sendable {
    public let height: UInt64
    public let index: UInt32
    public static func < (a: Position, b: Position) -> Bool { (a.height, a.index) < (b.height, b.index) }
  }

  public struct Entry: Sendable {
    public let position: Position
    /// Zero for the genesis block's writes, which no transaction made.
    public let transactionId: Hash256
  }

  static let entryBytes = 4 + 32

  static func append(index: UInt32, id: Hash256, to entries: inout [UInt8]) {
    // Appended in place: an array for the four bytes was an allocation per entry.
    withUnsafeBytes(of: index.bigEndian) { entries.append(contentsOf: $0) }
    id.withUnsafeBytes { entries.append(contentsOf: $0) }
  }

  /// The entries of one stored key, ascending; `prefixCount` is the length of
  /// `x/<path> 0x00` (zero means: find it, for a scan over all records).
  static func entries(key: [UInt8], value: [UInt8], prefixCount: Int) throws -> [Entry] {
    let start = prefixCount > 0 ? prefixCount : (key.firstIndex(of: 0).map { $0 + 1 } ?? key.count)
    let suffix = key[start...]
    func corrupt() -> StoreError { StoreError("store.corrupt", "history entry \(Hex.encode(key)) is malformed") }
    switch suffix.count {
    case 8:
      guard !value.isEmpty, value.count % entryBytes == 0 else { throw corrupt() }
      let height = StoreKey.readBigEndian(suffix)
      return stride(from: 0, to: value.count, by: entryBytes).map { offset in
        Entry(
          position: Position(height: height, index: UInt32(StoreKey.readBigEndian(value[offset..<offset + 4]))),
          transactionId: Hash256(bytes: Array(value[offset + 4..<offset + entryBytes]))!)
      }
    case 12:
      guard let id = Hash256(bytes: value), let position = Position(cursor: Array(suffix)) else { throw corrupt() }
      return [Entry(position: position, transactionId: id)]
    default: throw corrupt()
    }
  }

  /// The record path of a stored key.
  static func path(key: [UInt8]) -> String? {
    let body = key.dropFirst(StoreKey.recordHistoryPrefix.count)
    guard let end = body.firstIndex(of: 0) else { return nil }
    return String(decoding: body[..<end], as: UTF8.self)
  }
}

extension RecordHistory.Position {
  /// A page cursor: height (8 bytes) and index (4 bytes), big endian.
  public var cursor: [UInt8] { StoreKey.bigEndian(height) + StoreKey.bigEndian32(index) }
  public init?(cursor: [UInt8]) {
    guard cursor.count == 12 else { return nil }
    self.init(
      height: StoreKey.readBigEndian(cursor.prefix(8)), index: UInt32(StoreKey.readBigEndian(cursor.dropFirst(8))))
  }
}

/// What the transaction index holds per id: where it is and its result.
struct StoredTransaction: CanonicalEncodable {
  let height: UInt64
  let index: UInt32
  let result: TransactionResult

  init(height: UInt64, index: UInt32, result: TransactionResult) {
    self.height = height
    self.index = index
    self.result = result
  }

  init(canonicalBytes bytes: [UInt8], transactionId: Hash256) throws(FormatError) {
    var reader = CanonicalReader(bytes)
    height = try reader.read(u64: "height")
    index = try reader.read(u32: "index")
    let code = try reader.read(string: "code", limit: Limits.identifierBytesMax)
    let message = try reader.read(string: "message", limit: Limits.transactionBytesMax)
    try reader.finish()
    result = TransactionResult(
      transactionId: transactionId, rejection: code == TransactionResult.acceptedCode ? nil : Rejection(code, message))
  }

  func encode(to writer: inout CanonicalWriter) {
    writer.write(u64: height)
    writer.write(u32: index)
    writer.write(string: result.code)
    writer.write(string: result.message)
  }
}

extension LedgerStore {
  /// Checks that the store holds exactly the blocks up to its head marker and
  /// that the head block's writes are all present: what a crash must never
  /// break. Throws `store.corrupt` naming the first inconsistency.
  public func verifyIntegrity() throws {
    let height = head.height
    guard let block = try block(at: height), block.header.hash == head.blockHash else {
      throw StoreError("store.corrupt", "head block \(height) is missing or has another hash")
    }
    guard block.header.stateRoot == head.stateRoot else {
      throw StoreError("store.corrupt", "head state root differs from the head block's")
    }
    guard heightOrdered.scan(prefix: [], from: HeightKey.start(of: height + 1), limit: 1).isEmpty,
      try database.get(StoreKey.blockHash(height + 1)) == nil
    else { throw StoreError("store.corrupt", "data of block \(height + 1) is present above the head marker") }
    guard historyFrontier.size == height + 1 else {
      throw StoreError("store.corrupt", "history tree has \(historyFrontier.size) blocks, head is at \(height)")
    }
    if height > 0 {
      guard try certificate(at: height) != nil else {
        throw StoreError("store.corrupt", "certificate of head block \(height) is missing")
      }
    }
    for transaction in block.transactions {
      guard let (_, location) = try self.transaction(transaction.id), location.height == height else {
        throw StoreError("store.corrupt", "transaction \(transaction.id.hex) of the head block is not indexed")
      }
    }
    // Every record the head block wrote is in the tree under the head root with its current value.
    // Paged: the history table of a large store does not fit in memory at once.
    var writtenPaths: [String] = []
    try database.forEachPage(prefix: StoreKey.recordHistoryPrefix) { page in
      guard writtenPaths.count < 10_000 else { return }
      for entry in page {
        guard let path = RecordHistory.path(key: entry.key),
          let first = try RecordHistory.entries(key: entry.key, value: entry.value, prefixCount: 0).first
        else { throw StoreError("store.corrupt", "history entry \(Hex.encode(entry.key)) is malformed") }
        if first.position.height == height, writtenPaths.last != path { writtenPaths.append(path) }
      }
    }
    for path in writtenPaths.prefix(10_000) {
      let key = RecordKey(path: path)
      let (atHead, proof) = try record(key, atRoot: head.stateRoot)
      guard let atHead, atHead == (try record(key)),
        proof.verify(root: head.stateRoot, key: key.treeKey, valueHash: atHead.valueHash)
      else { throw StoreError("store.corrupt", "record \(path) does not match the state tree at the head") }
    }
  }
}

/// The ids of transactions committed as rejected, in memory while there are
/// at most `max` of them (a rejection is a client's mistake, not the common
/// case). Past that the set is dropped and every question answers "maybe":
/// the store then looks each id up, so answers stay exact and memory bounded.
public final class RejectedTransactionIds: Sendable {
  /// ≈ 3 MB of ids.
  public static let defaultMax = 1 << 16
  private let ids: Mutex<Set<Hash256>?>
  private let max: Int

  init(_ ids: Set<Hash256>?, max: Int) {
    self.ids = Mutex(ids)
    self.max = max
  }

  func mayContain(_ id: Hash256) -> Bool { ids.withLock { $0?.contains(id) ?? true } }

  func insert(_ newIds: [Hash256]) {
    guard !newIds.isEmpty else { return }
    ids.withLock { ids in
      guard ids != nil else { return }
      ids!.formUnion(newIds)
      if ids!.count > max { ids = nil }
    }
  }
}
