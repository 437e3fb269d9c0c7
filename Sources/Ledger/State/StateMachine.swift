/// Reads committed state. Storage failures throw; they are not rejections.
public protocol StateReader {
  func record(_ key: RecordKey) throws -> StateRecord?
}

/// One record a block changed: what it was before the block and what it is after.
public struct RecordChange: Hashable, Sendable {
  public let key: RecordKey
  public let before: StateRecord?
  public let after: StateRecord
  /// `after`'s canonical bytes and their hash (the tree value), computed once
  /// for both the tree update and the store's write.
  public let afterBytes: [UInt8]
  public let afterValueHash: Hash256
  /// Where the record sits in the state tree (`key.treeKey`), hashed once
  /// for ordering a block's changes and for the tree update.
  public let treeKey: Hash256

  init(key: RecordKey, before: StateRecord?, after: StateRecord) {
    self.key = key
    self.before = before
    self.after = after
    afterBytes = after.canonicalBytes
    afterValueHash = SHA256.hash(afterBytes)
    treeKey = key.treeKey
  }
}

/// Everything applying a block produced, ready to be written in one batch.
public struct BlockExecution: Sendable {
  /// One per transaction, in block order.
  public let results: [TransactionResult]
  public let resultsRoot: Hash256
  /// Ascending by tree key, the order the tree update walks them in.
  public let changes: [RecordChange]
  public let stateRoot: Hash256
  /// The version (height) that stored the root node: this block's height
  /// unless the block changed no record.
  public let stateRootVersion: UInt64
  /// Tree nodes the new root needs that were not stored before, to be stored
  /// under this block's height.
  public let newNodes: NewTreeNodes
  /// The set in force for this block (after any scheduled change took effect).
  public let validatorSet: ValidatorSet
  /// Which accepted transaction (index in the block) wrote which record.
  public let recordWrites: [(key: RecordKey, transactionIndex: Int)]

  public var acceptedCount: Int { results.count { $0.isAccepted } }
}

/// The deterministic rules of the ledger (DESIGN.md, "Domain rules").
///
/// `execute` depends only on its arguments: the same transactions on the same
/// state at the same height and time give the same results and state root on
/// every machine. A rejected transaction changes nothing, not even its
/// signer's sequence number.
public struct StateMachine: Sendable {
  /// Whether `execute` checks BIP-340 signatures itself. A node that verified
  /// every transaction at admission (and cached the ids) passes `.alreadyVerified`
  /// so execution never waits on elliptic-curve work.
  public enum SignatureCheck: Sendable { case verify, alreadyVerified }

  public let chainId: String
  public let signatureCheck: SignatureCheck

  public init(chainId: String, signatureCheck: SignatureCheck = .verify) {
    self.chainId = chainId
    self.signatureCheck = signatureCheck
  }

  /// Applies `transactions` as the block at `height` with block time `timeMs`
  /// on top of the state whose root is `stateRoot`.
  public func execute<Source: SparseMerkleNodeSource>(
    transactions: [SignedTransaction], height: UInt64, timeMs: UInt64,
    state: any StateReader, tree: SparseMerkleTree<Source>, stateRoot: Hash256,
    reusingNodeTable nodeTable: consuming NewTreeNodes = .init()
  ) throws -> BlockExecution {
    var tables = ExecutionTables()
    return try execute(
      transactions: transactions, height: height, timeMs: timeMs, state: state, tree: tree, stateRoot: stateRoot,
      reusingNodeTable: nodeTable, tables: &tables)
  }

  /// `execute`, filling `tables` (emptied, their capacity kept) instead of
  /// allocating its own, and handing them back emptied for the next block.
  public func execute<Source: SparseMerkleNodeSource>(
    transactions: [SignedTransaction], height: UInt64, timeMs: UInt64,
    state: any StateReader, tree: SparseMerkleTree<Source>, stateRoot: Hash256,
    reusingNodeTable nodeTable: consuming NewTreeNodes, tables: inout ExecutionTables
  ) throws -> BlockExecution {
    // Taken, not shared, so that emptying them later cannot copy them.
    var handed = ExecutionTables()
    swap(&handed, &tables)
    let working = WorkingState(base: state, reusing: consume handed, expectedWrites: transactions.count * 2)
    defer { tables = working.emptiedTables() }
    let validatorSet = try activateScheduledValidatorChanges(height: height, in: working)
    working.commitTransaction()

    var results: [TransactionResult] = []
    results.reserveCapacity(transactions.count)
    var recordWrites: [(key: RecordKey, transactionIndex: Int)] = []
    for (index, transaction) in transactions.enumerated() {
      let execution = TransactionExecution(
        transaction: transaction, chainId: chainId, height: height, timeMs: timeMs,
        signatureCheck: signatureCheck, state: working)
      do {
        try execution.run()
        working.commitTransaction { recordWrites.append(($0, index)) }
        results.append(TransactionResult(transactionId: transaction.id, rejection: nil))
      } catch let rejection as Rejection {
        working.discardTransaction()
        results.append(TransactionResult(transactionId: transaction.id, rejection: rejection))
      }
    }

    let changes = try working.changes()
    let update = try Self.updateTree(
      tree, root: stateRoot, with: changes, version: height, reusing: consume nodeTable)
    return BlockExecution(
      results: results, resultsRoot: TransactionResult.root(results), changes: changes,
      stateRoot: update.root.hash, stateRootVersion: update.root.version, newNodes: update.newNodes,
      validatorSet: validatorSet, recordWrites: recordWrites)
  }

  /// Codes admission may refuse with: who may sign what, decided by committed
  /// registrations and governance. Other rules wait for the block, since
  /// transactions pending before this one may change their outcome.
  public static let admissionCodes: Set<String> = [
    "tx.wrong_chain", "tx.signer_did_not_sign", "tx.unknown_bureau", "tx.bureau_not_active",
    "tx.signer_not_operator", "governance.signer_not_governance", "governance.below_threshold",
  ]

  /// The authorisation checks of the rules, run against committed `state` for
  /// a transaction about to enter the mempool (signatures already verified, the
  /// sequence checked by the mempool). Nothing is written.
  public func admissionRejection(
    of transaction: SignedTransaction, height: UInt64, timeMs: UInt64, state: any StateReader
  ) -> Rejection? {
    AdmissionCheck(chainId: chainId, height: height, timeMs: timeMs, state: state).rejection(of: transaction)
  }

  /// `admissionRejection` for a batch of transactions against one committed
  /// state: the records the checks read (bureaus, their operators) are read
  /// once for the batch, not once per transaction.
  public struct AdmissionCheck {
    let chainId: String
    let height: UInt64
    let timeMs: UInt64
    let state: WorkingState

    public init(chainId: String, height: UInt64, timeMs: UInt64, state: any StateReader) {
      self.chainId = chainId
      self.height = height
      self.timeMs = timeMs
      self.state = WorkingState(base: state)
    }

    public func rejection(of transaction: SignedTransaction) -> Rejection? {
      let execution = TransactionExecution(
        transaction: transaction, chainId: chainId, height: height, timeMs: timeMs,
        signatureCheck: .alreadyVerified, state: state)
      do {
        try execution.authorize()
      } catch let rejection as Rejection {
        return StateMachine.admissionCodes.contains(rejection.code) ? rejection : nil
      } catch {
        return nil
      }
      return nil
    }
  }

  /// The state tree after `changes`: one batched update of every key they
  /// touch, its new nodes stored under `version` (the block's height).
  static func updateTree<Source: SparseMerkleNodeSource>(
    _ tree: SparseMerkleTree<Source>, root: Hash256, with changes: [RecordChange], version: UInt64,
    reusing nodeTable: consuming NewTreeNodes = .init()
  ) throws -> SparseMerkleTree<Source>.Update {
    // Already in tree-key order, one per key: no table of updates to build and sort.
    let sorted = changes.map { SparseMerkleTree<Source>.Change(key: $0.treeKey, valueHash: $0.afterValueHash) }
    return try tree.update(root: root, sorted: sorted, version: version, reusing: consume nodeTable)
  }

  /// Scheduled validator-set changes take effect at the start of the block
  /// whose height they name (`ValidatorSchedule.validatorsInForce(at:)`).
  private func activateScheduledValidatorChanges(height: UInt64, in working: WorkingState) throws -> ValidatorSet {
    guard let record = try working.read(.validators), let before = ValidatorSchedule(record, height: height - 1) else {
      preconditionFailure("state without a validators record: genesis always writes one")
    }
    guard let first = before.pending.first, first.effectiveHeight <= height else { return before.current }
    let after = before.advanced()
    working.write(.validators, record.changed(value: .validators(after.current, pending: after.pending), at: height))
    return after.current
  }
}

/// The working state's tables for a block's execution: what the block wrote
/// and what each key held before it (≈ 10,000 entries at 5,000
/// transactions). A store keeps them from one block to the next, emptied,
/// so that their pages are not mapped, faulted in and unmapped every block.
public struct ExecutionTables: Sendable {
  var blockWrites: [RecordKey: StateRecord] = [:]
  var baseValues: [RecordKey: StateRecord?] = [:]

  public init() {}
}

/// Reads the block's writes over the committed state, and remembers what each
/// key held before the block. A transaction writes straight into the block's
/// table and logs what it replaced, so that a rejection can put it back: a
/// table of its own cost every read a third lookup and every accepted
/// transaction a merge, for the few writes each makes.
/// A class so that a transaction's execution mutates it in place: a value
/// copy per transaction would copy the read cache every time.
final class WorkingState {
  let base: any StateReader
  private var blockWrites: [RecordKey: StateRecord]
  private var baseValues: [RecordKey: StateRecord?]
  /// The open transaction's writes in order, each with what the block held
  /// for the key before it (nil: nothing).
  private var transactionUndo: [(key: RecordKey, replaced: StateRecord?)] = []

  /// `expectedWrites` sizes the block's tables once (a transaction writes
  /// about two records) instead of growing them, and rehashing, as they fill.
  init(base: any StateReader, reusing tables: consuming ExecutionTables = .init(), expectedWrites: Int = 0) {
    self.base = base
    // Swapped out, not copied: a second reference would make the first
    // reserve or write copy the whole table.
    var owned = consume tables
    blockWrites = [:]
    baseValues = [:]
    swap(&blockWrites, &owned.blockWrites)
    swap(&baseValues, &owned.baseValues)
    blockWrites.reserveCapacity(expectedWrites)
    baseValues.reserveCapacity(expectedWrites)
  }

  /// The block's tables, emptied with their capacity kept, for the next block.
  func emptiedTables() -> ExecutionTables {
    var tables = ExecutionTables()
    swap(&tables.blockWrites, &blockWrites)
    swap(&tables.baseValues, &baseValues)
    tables.blockWrites.removeAll(keepingCapacity: true)
    tables.baseValues.removeAll(keepingCapacity: true)
    return tables
  }

  func read(_ key: RecordKey) throws -> StateRecord? {
    if let record = blockWrites[key] { return record }
    if let cached = baseValues[key] { return cached }
    let record = try base.record(key)
    baseValues[key] = record
    return record
  }

  func write(_ key: RecordKey, _ record: StateRecord) {
    transactionUndo.append((key, blockWrites.updateValue(record, forKey: key)))
  }

  /// Makes the open transaction's writes part of the block, calling
  /// `written` once for each key it wrote, in the order of first writes.
  func commitTransaction(_ written: (RecordKey) -> Void = { _ in }) {
    // A transaction writes two or three keys, for which looking back is
    // cheaper than sorting; genesis writes the whole city in one.
    if transactionUndo.count <= 16 {
      for index in transactionUndo.indices {
        let key = transactionUndo[index].key
        if !transactionUndo[..<index].contains(where: { $0.key == key }) { written(key) }
      }
    } else {
      var seen = Set<RecordKey>(minimumCapacity: transactionUndo.count)
      for entry in transactionUndo where seen.insert(entry.key).inserted { written(entry.key) }
    }
    transactionUndo.removeAll(keepingCapacity: true)
  }

  /// Puts back what the open transaction's writes replaced, newest first, so
  /// that a key written twice ends as it was before the first write.
  func discardTransaction() {
    for entry in transactionUndo.reversed() {
      if let replaced = entry.replaced {
        blockWrites[entry.key] = replaced
      } else {
        blockWrites.removeValue(forKey: entry.key)
      }
    }
    transactionUndo.removeAll(keepingCapacity: true)
  }

  /// The block's changes in tree-key order: the order the tree update
  /// needs, and one that compares 32-byte digests as four integers where
  /// ordering by path compared byte strings.
  func changes() throws -> [RecordChange] {
    precondition(transactionUndo.isEmpty, "a transaction is still open")
    var changes = blockWrites.map { key, record in
      RecordChange(key: key, before: baseValues[key] ?? nil, after: record)
    }
    changes.sort { $0.treeKey < $1.treeKey }
    return changes
  }
}

/// One transaction being applied: authentication, replay protection, then the
/// rule for its payload. Every check throws a `Rejection`; writes go to the
/// transaction layer of `state`, which the caller commits only when `run` returns.
struct TransactionExecution {
  let transaction: SignedTransaction
  let chainId: String
  let height: UInt64
  let timeMs: UInt64
  let signatureCheck: StateMachine.SignatureCheck
  let state: WorkingState

  init(
    transaction: SignedTransaction, chainId: String, height: UInt64, timeMs: UInt64,
    signatureCheck: StateMachine.SignatureCheck, state: WorkingState
  ) {
    self.transaction = transaction
    self.chainId = chainId
    self.height = height
    self.timeMs = timeMs
    self.signatureCheck = signatureCheck
    self.state = state
  }

  var body: TransactionBody { transaction.body }
  var signer: PublicKey { transaction.body.signer }

  func run() throws {
    try checkEnvelope()
    if signatureCheck == .verify && !transaction.signaturesAreValid {
      throw Rejection("tx.bad_signature", "a signature does not verify over the transaction id")
    }
    let accountKey = RecordKey.account(signer)
    let account = try state.read(accountKey)
    let expectedSequence: UInt64
    if case .account(let next)? = account?.value { expectedSequence = next } else { expectedSequence = 0 }
    guard body.sequence == expectedSequence else {
      throw Rejection(
        "tx.bad_sequence",
        "sequence \(body.sequence) for signer \(signer.rawValue.hex); the next accepted is \(expectedSequence)")
    }

    try applyPayload()

    let nextAccount =
      account?.changed(value: .account(nextSequence: expectedSequence + 1), at: height)
      ?? .created(.account(nextSequence: 1), at: height)
    state.write(accountKey, nextAccount)
  }

  /// The transaction is for this chain and its signer signed it.
  private func checkEnvelope() throws {
    guard body.chainId == chainId else {
      throw Rejection("tx.wrong_chain", "transaction is for chain \"\(body.chainId)\", this is \"\(chainId)\"")
    }
    guard transaction.signatures.contains(where: { $0.publicKey == signer }) else {
      throw Rejection("tx.signer_did_not_sign", "the signer \(signer.rawValue.hex) has no signature on the transaction")
    }
  }

  /// Who may sign this, decided the way the payload's rule decides it, and
  /// nothing else: what admission checks before the mempool (two reads).
  func authorize() throws {
    try checkEnvelope()
    if let bureauId = body.payload.actingBureauId {
      try requireOperator(of: bureauId)
    } else {
      try requireGovernance()
    }
  }

  private func applyPayload() throws {
    switch body.payload {
    case .registerBureau(let registration): try registerBureau(registration)
    case .suspendBureau(let change): try suspendBureau(change)
    case .reinstateBureau(let change): try reinstateBureau(change)
    case .removeBureau(let change): try removeBureau(change)
    case .rotateBureauKeys(let rotation): try rotateBureauKeys(rotation)
    case .changeValidators(let change): try changeValidators(change)
    case .declareDuty(let duty): try declareDuty(duty)
    case .amendDuty(let duty): try amendDuty(duty)
    case .retireDuty(let retirement): try retireDuty(retirement)
    case .publishDirectory(let directory): try publishDirectory(directory)
    case .reviseDirectory(let directory): try reviseDirectory(directory)
    case .retireDirectory(let retirement): try retireDirectory(retirement)
    case .requestAccess(let request): try requestAccess(request)
    case .approveRequest(let approval): try approveRequest(approval)
    case .denyRequest(let denial): try denyRequest(denial)
    case .grantAccess(let grant): try grantAccess(grant)
    case .revokeGrant(let retirement): try revokeGrant(retirement)
    case .attestData(let attestation): try attestData(attestation)
    case .recordShare(let share): try recordShare(share)
    }
  }

  // MARK: Authorisation

  /// Governance transactions: the signer is a governance key and at least
  /// `threshold` distinct governance keys signed.
  func requireGovernance() throws {
    guard let record = try state.read(.governance), case .governance(let keys, let threshold) = record.value else {
      preconditionFailure("state without a governance record: genesis always writes one")
    }
    guard keys.contains(signer) else {
      throw Rejection("governance.signer_not_governance", "the signer \(signer.rawValue.hex) is not a governance key")
    }
    let governanceSigners = Set(transaction.signatures.map(\.publicKey)).intersection(keys)
    guard governanceSigners.count >= Int(threshold) else {
      throw Rejection(
        "governance.below_threshold",
        "\(governanceSigners.count) governance signatures; \(threshold) of \(keys.count) are required")
    }
  }

  /// A bureau's own transactions: the bureau is registered and active and the
  /// signer is one of its operator keys. Returns its registration.
  @discardableResult
  func requireOperator(of bureauId: String) throws -> BureauRegistration {
    guard let record = try state.read(.bureau(bureauId)), case .bureau(let registration) = record.value else {
      throw Rejection("tx.unknown_bureau", "bureau \"\(bureauId)\" is not registered")
    }
    guard record.status == .active else {
      throw Rejection("tx.bureau_not_active", "bureau \"\(bureauId)\" is \(record.status.name)")
    }
    guard registration.operatorKeys.contains(signer) else {
      throw Rejection(
        "tx.signer_not_operator", "the signer \(signer.rawValue.hex) is not an operator key of bureau \"\(bureauId)\"")
    }
    return registration
  }

  /// The record of an active bureau other than the acting one, for `role` in messages.
  func activeBureau(_ bureauId: String, code: String, role: String) throws -> StateRecord {
    guard let record = try state.read(.bureau(bureauId)) else {
      throw Rejection(code, "\(role) bureau \"\(bureauId)\" is not registered")
    }
    guard record.status == .active else {
      throw Rejection(code, "\(role) bureau \"\(bureauId)\" is \(record.status.name)")
    }
    return record
  }
}
