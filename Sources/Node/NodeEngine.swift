import Consensus
import Foundation
public import Ledger
public import Logging

/// One bureau node's core: owns the consensus replica (validators only), the
/// store, the mempool and the WAL, and is the only place any of them changes.
/// The network and the HTTP API talk to it; a timer ticks it.
public actor NodeEngine {
  public nonisolated let config: NodeConfig
  public nonisolated let nodeKey: PublicKey
  public nonisolated let chainId: String
  nonisolated let metrics: NodeMetrics
  let store: LedgerStore
  let logger: Logger
  let signer: SecretKey
  let executor: LedgerExecutor
  var replica: Replica<LedgerExecutor, SchnorrVerifier>?
  let wal: WriteAheadLog?
  var mempool: Mempool
  /// The mempool's transactions by leaf hash, for the peer network's frame decoder.
  public nonisolated let pendingByLeafHash = TransactionsByLeafHash()
  var network: PeerNetwork?
  /// When each transaction admitted here arrived, for the commit-latency histogram.
  var admittedAt: [Hash256: ContinuousClock.Instant] = [:]
  var droppedReported: [DropReason: Int] = [:]
  var ticks = 0
  var lastPending = false
  var lastReportedView: UInt64 = 0
  /// Transactions whose signatures were checked here and held, kept for a
  /// while so a transaction seen twice (in a proposal, then forwarded) is
  /// checked once. Keyed by leaf hash, which covers the body and every
  /// signature: the id covers the body only, so the same body could return
  /// with other, unchecked signatures (a second governance signature forged
  /// after the first was checked).
  var recentlyVerified = RecentSet(capacity: 100_000)
  /// Set when the node stopped itself (say, its disk failed): it takes no further part.
  public private(set) var haltReason: String?
  let onHalt: @Sendable (String) -> Void
  var commitTimes: [(ContinuousClock.Instant, Int)] = []
  var proposalSizer = ProposalSizer()
  /// Client transactions admitted here and not yet passed on to the validators (see `passOnToValidators`).
  var forwardBuffer: [SignedTransaction] = []
  /// A batch this large goes out at once; smaller ones wait `forwardDelay` for company.
  static let forwardFrameTransactions = 256
  static let forwardDelay = Duration.milliseconds(5)
  /// Proposals of at least this many transactions go out at once (see `propose`).
  static let lingerBelow = 1_000
  /// The head's proof anchor, refreshed at each commit, so record proofs at the
  /// head need neither the actor nor a header read (see `recordBundleAtHead`).
  nonisolated let headAnchor = LockedAnchor()
  /// Read-only access for proofs: tree nodes are content-addressed and never
  /// rewritten, so reading them while a block commits is safe.
  nonisolated let proofStore: LedgerStore
  let dataPath: String

  public struct StartupError: Error, CustomStringConvertible {
    public let code: String
    public let message: String
    public var description: String { "\(code): \(message)" }
  }

  public init(
    config: NodeConfig, key: SecretKey, store: LedgerStore, walPath: String, dataPath: String, logger: Logger,
    metrics: NodeMetrics, onHalt: @escaping @Sendable (String) -> Void
  ) throws {
    self.config = config
    self.signer = key
    nodeKey = key.publicKey
    chainId = store.chainId
    self.store = store
    self.logger = logger
    self.metrics = metrics
    self.onHalt = onHalt
    self.dataPath = dataPath
    mempool = Mempool(
      countMax: config.mempool.transactionsMax, bytesMax: config.mempool.bytesMax, byLeafHash: pendingByLeafHash)
    executor = LedgerExecutor(store: store, logger: logger)
    proofStore = store
    headAnchor.set(try? store.proofAnchor())
    if config.role == .validator {
      guard store.validatorSet.contains(key.publicKey) else {
        throw StartupError(
          code: "node.not_a_validator",
          message:
            "node key \(key.publicKey.hex) is not in the validator set at height \(store.head.height); set role = \"observer\" or use the validator's key"
        )
      }
      let wal = try WriteAheadLog(path: walPath)
      self.wal = wal
      replica = try Self.makeReplica(config: config, key: key, store: store, executor: executor, wal: wal.records)
      // Views moved past before a restart were counted by the process that moved past them.
      lastReportedView = replica?.view ?? 0
    } else {
      wal = nil
    }
    // The executor runs only inside this actor's steps, hence assumeIsolated.
    executor.hooks = LedgerExecutor.Hooks(
      isVerified: { [unowned self] transaction in self.assumeIsolated { $0.alreadyVerified(transaction) } },
      onVerified: { [unowned self] outcomes in self.assumeIsolated { $0.noteVerified(outcomes) } })
    metrics.committedHeight.record(Int64(store.head.height))
  }

  static func makeReplica(
    config: NodeConfig, key: SecretKey, store: LedgerStore, executor: LedgerExecutor, wal: [WALRecord]
  ) throws -> Replica<LedgerExecutor, SchnorrVerifier> {
    var configuration = ReplicaConfiguration(chainId: store.chainId, validators: store.validatorSet)
    configuration.windowHeightsMax = 1
    configuration.viewChangeTimeoutTicks = config.consensus.viewChangeTimeoutTicks
    configuration.viewChangeTimeoutTicksMax = config.consensus.viewChangeTimeoutTicks * 8
    configuration.blockTransactionCountMax = config.consensus.blockTransactionsMax
    let height = store.head.height
    guard let header = try store.block(at: height)?.header else {
      throw StartupError(code: "store.corrupt", message: "block \(height) is missing")
    }
    return Replica(
      configuration: configuration, signer: SchnorrSigner(key: key), executor: executor, verifier: SchnorrVerifier(),
      committedHeader: header, committedCertificate: try store.certificate(at: height), wal: wal)
  }

  public func attach(_ network: PeerNetwork) { self.network = network }

  /// Everyone this node admits as a peer: the validators in force and the configured observers.
  public var admittedPeers: Set<PublicKey> {
    Set(store.validatorSet.validators.map(\.nodeKey) + config.p2p.observers.compactMap { PublicKey(hex: $0) })
  }

  // MARK: Transactions

  /// Admits transactions whose signatures the caller verified. Admitted ones
  /// are passed on to the validators when `forward` (they came from a client).
  public func admit(_ transactions: [(SignedTransaction, size: Int)], forward: Bool) -> [Result<
    Hash256, MempoolRejection
  >] {
    guard haltReason == nil else {
      return transactions.map { _ in .failure(MempoolRejection("node.halted", "this node stopped: \(haltReason!)")) }
    }
    var admitted: [SignedTransaction] = []
    var results: [Result<Hash256, MempoolRejection>] = []
    let now = ContinuousClock.now
    // Committed state does not change during this call: what the checks
    // read of it (signers' sequences, bureaus, operators) is read once.
    let authorization = StateMachine.AdmissionCheck(
      chainId: chainId, height: store.head.height + 1, timeMs: store.head.timeMs, state: store)
    var committedSequences: [PublicKey: UInt64] = [:]
    for (transaction, size) in transactions {
      do throws(MempoolRejection) {
        guard transaction.body.chainId == chainId else {
          throw MempoolRejection(
            "tx.wrong_chain", "transaction is for chain \"\(transaction.body.chainId)\", this is \"\(chainId)\"")
        }
        let signer = transaction.body.signer
        let signerNextSequence = committedSequences[signer] ?? committedSequence(of: signer)
        committedSequences[signer] = signerNextSequence
        if let location = try? store.committedLocation(of: transaction, signerNextSequence: signerNextSequence) {
          throw MempoolRejection(
            "tx.already_committed", "transaction \(transaction.id.hex) is in block \(location.height)")
        }
        if let rejection = authorization.rejection(of: transaction) {
          throw MempoolRejection(rejection.code, rejection.message)
        }
        try mempool.add(transaction, size: size, committedSequence: signerNextSequence)
        admitted.append(transaction)
        if forward { admittedAt[transaction.id] = now }
        results.append(.success(transaction.id))
      } catch {
        metrics.admissionRejected(error.code)
        results.append(.failure(error))
      }
    }
    metrics.mempoolTransactions.record(Int64(mempool.count))
    if !admitted.isEmpty {
      if forward { passOnToValidators(admitted) }
      updatePending()
    }
    return results
  }

  /// Every validator gets every transaction a client gave this node: whoever
  /// is primary can propose it, and a primary that ignores it is replaced (a
  /// backup with pending work starts a view change). Transactions are
  /// gathered for a few milliseconds and sent as one frame, so a stream of
  /// single submissions does not become a stream of one-transaction frames
  /// for every peer to queue, verify and admit one at a time.
  private func passOnToValidators(_ transactions: [SignedTransaction]) {
    let wasEmpty = forwardBuffer.isEmpty
    forwardBuffer += transactions
    if forwardBuffer.count >= Self.forwardFrameTransactions {
      flushForwards()
    } else if wasEmpty {
      Task { [weak self] in
        try? await Task.sleep(for: Self.forwardDelay)
        await self?.flushForwards()
      }
    }
  }

  /// Sends what `passOnToValidators` gathered, in frames of at most `PeerFrame.transactionsPerFrameMax`.
  func flushForwards() {
    guard !forwardBuffer.isEmpty else { return }
    let buffered = forwardBuffer
    forwardBuffer.removeAll(keepingCapacity: true)
    for frame in buffered.chunks(of: PeerFrame.transactionsPerFrameMax) {
      network?.broadcast(.transactions(Array(frame)), role: .validator)
    }
  }

  /// Records signature checks made elsewhere (HTTP handlers, the frame consumer, the executor).
  public func noteVerified(_ outcomes: [(SignedTransaction, Bool)]) {
    metrics.signatureChecks.increment(by: outcomes.count)
    for (transaction, valid) in outcomes where valid { recentlyVerified.insert(transaction.leafHash) }
  }

  /// Whether these very signatures were checked here: the transaction is
  /// pending with the same signatures, or was checked recently. Matching the
  /// id alone would let a body checked once return with forged signatures.
  func alreadyVerified(_ transaction: SignedTransaction) -> Bool {
    mempool.holds(transaction) || recentlyVerified.contains(transaction.leafHash)
  }

  /// Forwarded transactions whose signatures the caller just checked
  /// (`valid`, in the same order): records the checks and admits the valid
  /// ones. Returns how many had a bad signature.
  public func admitForwarded(_ transactions: [SignedTransaction], valid: [Bool]) -> Int {
    noteVerified(Array(zip(transactions, valid)))
    let admissible = zip(transactions, valid).filter(\.1).map { ($0.0, size: $0.0.encodedByteCount) }
    _ = admit(admissible, forward: false)
    return transactions.count - admissible.count
  }

  /// Whether `count` more transactions could enter the mempool now: checked
  /// before any signature is, so an overloaded node refuses work cheaply
  /// instead of verifying what it must then drop.
  func hasRoom(for count: Int) -> Bool { mempool.count + count <= mempool.countMax }

  /// Whether a client's `count` transactions may enter now. Decided for the
  /// whole request before any signature is checked, so a batch is taken or
  /// refused as one and leaves no gap in its signers' sequences.
  /// An empty mempool takes any request, so a bound below the batch size cannot refuse forever.
  public func hasRoomForClient(_ count: Int) -> Bool {
    mempool.isEmpty || mempool.count + count <= config.mempool.clientTransactionsMax
  }

  /// Of forwarded transactions, those whose signatures still need checking:
  /// not pending and not checked recently — none when the mempool is full.
  /// Whether one is already committed is left to `admit`: a store lookup
  /// that almost always misses cost more than the rare late forward it saves.
  public func needingVerification(_ transactions: [SignedTransaction]) -> [SignedTransaction] {
    guard hasRoom(for: 1) else { return [] }
    return transactions.filter { !alreadyVerified($0) }
  }

  func committedSequence(of signer: PublicKey) -> UInt64 { (try? store.nextSequence(of: signer)) ?? 0 }

  /// The next sequence number `signer` should use, counting its pending transactions.
  public func nextSequence(of signer: PublicKey) -> (committed: UInt64, next: UInt64) {
    let committed = committedSequence(of: signer)
    return (committed, mempool.nextSequence(of: signer, committed: committed))
  }

  public enum TransactionStatus: Sendable {
    case pending
    case committed(SignedTransaction, TransactionLocation)
    case unknown
  }

  public func status(of id: Hash256) throws -> TransactionStatus {
    if let (transaction, location) = try store.transaction(id) { return .committed(transaction, location) }
    return mempool.contains(id) ? .pending : .unknown
  }

  private func updatePending() {
    let pending = mempool.hasProposable(committedSequence: committedSequence(of:))
    guard pending != lastPending || pending else { return }
    lastPending = pending
    step(.transactionsPending(pending))
  }

  // MARK: Peers

  public func receive(_ frame: PeerFrame, from peer: PublicKey, role: PeerRole) {
    guard haltReason == nil else { return }
    switch frame {
    case .consensus(.blockRequest(let fromHeight)):
      serveBlocks(from: fromHeight, to: peer)
    case .consensus(.blockResponse(let blocks)) where replica == nil:
      follow(blocks, from: peer)
    case .consensus(let message):
      guard role == .validator else { return }
      step(.message(message, from: peer))
    case .transactions, .hello, .auth, .refusal:
      break  // transactions are verified off this actor and come in through `admit`
    }
  }

  public func peerConnected(_ key: PublicKey, role: PeerRole) {
    metrics.peers.record(Int64(network?.peers.count ?? 0))
    // Catch up on whatever this node missed while it was away (a restart, a partition).
    if role == .validator {
      network?.send(.consensus(.blockRequest(fromHeight: store.head.height + 1)), to: key)
    }
    // A validator that (re)connects gets what is pending here, in case it is or becomes primary.
    if role == .validator, !mempool.isEmpty {
      for frame in mempool.pending.chunks(of: PeerFrame.transactionsPerFrameMax) {
        network?.send(.transactions(Array(frame)), to: key)
      }
    }
  }

  public func peerDisconnected() { metrics.peers.record(Int64(network?.peers.count ?? 0)) }

  /// Committed blocks from `from` on, as many as fit in a frame (at most 64).
  private func serveBlocks(from: UInt64, to peer: PublicKey) {
    guard from >= 1, from <= store.head.height else { return }
    var blocks: [CommittedBlock] = []
    var bytes = 0
    let last = min(store.head.height, from + UInt64(ReplicaConfiguration.blocksPerResponseMax) - 1)
    for height in from...last {
      guard let block = try? store.block(at: height), let certificate = try? store.certificate(at: height) else {
        break
      }
      let size = block.canonicalBytes.count
      if !blocks.isEmpty, bytes + size > config.p2p.frameBytesMax / 2 { break }
      bytes += size
      blocks.append(CommittedBlock(block: block, certificate: certificate))
    }
    if !blocks.isEmpty { network?.send(.consensus(.blockResponse(blocks)), to: peer) }
  }

  /// An observer applies certified blocks in order. What a peer sends is
  /// checked before it is applied (certificate by the set in force, chained to
  /// the head, transactions matching the certified header), so a lying peer
  /// costs a dropped message, never a halt.
  private func follow(_ blocks: [CommittedBlock], from peer: PublicKey) {
    for committed in blocks where committed.block.header.height == store.head.height + 1 {
      let header = committed.block.header
      guard header.previousHash == store.head.blockHash, committed.certificate.blockHash == header.hash,
        committed.certificate.height == header.height,
        committed.certificate.isValid(chainId: chainId, validators: store.validatorSet, verifier: SchnorrVerifier()),
        Int(header.transactionCount) == committed.block.transactions.count,
        header.transactionsRoot == committed.block.transactionsRoot
      else {
        logger.warning("uncertified or mismatched block from a peer dropped", metadata: ["height": "\(header.height)"])
        metrics.consensusDropped(.badSignature, count: 1)
        return
      }
      guard commit(committed, execution: nil) else { return }
    }
    if let last = blocks.last, last.block.header.height > store.head.height {
      network?.send(.consensus(.blockRequest(fromHeight: store.head.height + 1)), to: peer)
    } else if blocks.count == ReplicaConfiguration.blocksPerResponseMax {
      network?.send(.consensus(.blockRequest(fromHeight: store.head.height + 1)), to: peer)
    }
  }

  // MARK: Time

  public func tick() {
    guard haltReason == nil else { return }
    ticks += 1
    if replica != nil { step(.tick) }
    // Observers are pushed each commit and validators learn of new heights from
    // votes; this slow poll covers a node that fell behind on a quiet network.
    if ticks % (replica == nil ? 10 : 20) == 0,
      let validator = network?.peers.filter({ $0.role == .validator }).randomElement()
    {
      network?.send(.consensus(.blockRequest(fromHeight: store.head.height + 1)), to: validator.key)
    }
    if ticks % 50 == 0 {
      metrics.storeBytes.record(Int64(directoryBytes(dataPath)))
      if let wal {
        do {
          try wal.compact(committedHeight: store.head.height)
        } catch {
          halt("the WAL cannot be compacted: \(error)")
        }
        metrics.walRecords.record(Int64(wal.records.count))
      }
    }
  }

  // MARK: Replica

  private func step(_ event: ReplicaEvent) {
    guard replica != nil else { return }
    let actions = replica!.step(event)
    perform(actions)
    reportReplicaState()
  }

  private func perform(_ actions: [ReplicaAction]) {
    for action in actions {
      guard haltReason == nil else { return }
      switch action {
      case .persist(let record, let then):
        do {
          try wal!.append(record)
        } catch {
          halt("the WAL cannot be written: \(error)")
          return
        }
        perform(then)
      case .send(let message, let peer):
        network?.send(.consensus(message), to: peer)
      case .broadcast(let message):
        network?.broadcast(.consensus(message), role: .validator)
      case .requestProposal(let height):
        propose(at: height, lingered: false)
      case .deliver(let committed):
        guard commit(committed, execution: executor.takeExecution(for: committed.block.header.hash)) else { return }
        network?.broadcast(.consensus(.blockResponse([committed])), role: .observer)
        if store.validatorSet != replica!.configuration.validators { reconfigure() }
      case .serveBlocks(let from, let peer):
        serveBlocks(from: from, to: peer)
      }
    }
  }

  /// Answers the replica's request for a proposal at `height` from the
  /// mempool. A batch smaller than `lingerBelow` waits
  /// `consensus.proposal_linger_ms` once for company; the replica keeps the
  /// request open until it is answered, and ignores an answer that comes
  /// after it moved on (a new view, a new validator set).
  private func propose(at height: UInt64, lingered: Bool) {
    guard replica != nil, haltReason == nil else { return }
    let timeoutMs = Double(config.consensus.viewChangeTimeoutTicks * config.consensus.tickMs)
    let countMax = proposalSizer.countMax(
      limit: config.consensus.blockTransactionsMax, budgetMilliseconds: timeoutMs / 2)
    let batch = mempool.batch(
      countMax: countMax, bytesMax: config.consensus.blockBytesMax, committedSequence: committedSequence(of:))
    let linger = config.consensus.proposalLingerMs
    if !lingered, linger > 0, batch.count < min(countMax, Self.lingerBelow) {
      Task { [weak self] in
        try? await Task.sleep(for: .milliseconds(linger))
        await self?.propose(at: height, lingered: true)
      }
      return
    }
    perform(replica!.step(.proposal(height: height, transactions: batch)))
  }

  private func reportReplicaState() {
    guard let replica else { return }
    metrics.view.record(Int64(replica.view))
    // Counted when the view moves, committed or not: a stalled network shows its view changes.
    if replica.view > lastReportedView {
      metrics.viewChanges.increment(by: Int(replica.view - lastReportedView))
      // Rare and worth an operator's look: name the move and where the chain stood.
      logger.notice(
        "view changed",
        metadata: [
          "from": "\(lastReportedView)", "view": "\(replica.view)", "height": "\(store.head.height)",
          "mempool": "\(mempool.count)",
        ])
      lastReportedView = replica.view
    }
    for (reason, count) in replica.dropped where count > droppedReported[reason, default: 0] {
      metrics.consensusDropped(reason, count: count - droppedReported[reason, default: 0])
      droppedReported[reason] = count
    }
  }

  /// Applies and stores a certified block in one atomic write. False when the
  /// node had to stop (a block that does not apply or a failed disk).
  @discardableResult
  private func commit(_ committed: CommittedBlock, execution: BlockExecution?) -> Bool {
    let block = committed.block
    let applied: BlockExecution
    let commitStarted = ContinuousClock.now
    do {
      applied = try store.commit(block, certificate: committed.certificate, execution: execution)
    } catch let error as StoreError where error.code.hasPrefix("block.") {
      // A certified block that does not apply here means this node's state is
      // not the network's: stop rather than diverge.
      halt("certified block \(block.header.height) does not apply: \(error)")
      return false
    } catch {
      halt("cannot store block \(block.header.height): \(error)")
      return false
    }
    let now = ContinuousClock.now
    for transaction in block.transactions {
      if let admitted = admittedAt.removeValue(forKey: transaction.id) {
        metrics.commitLatency.record(duration: now - admitted)
      }
    }
    mempool.removeCommitted(block.transactions, committedSequence: committedSequence(of:))
    let rejected = applied.results.count { $0.code != TransactionResult.acceptedCode }
    headAnchor.set(try? store.proofAnchor())
    metrics.committedHeight.record(Int64(block.header.height))
    metrics.committedTransactions.increment(by: block.transactions.count)
    metrics.rejectedTransactions.increment(by: rejected)
    metrics.blockTransactions.record(block.transactions.count)
    metrics.mempoolTransactions.record(Int64(mempool.count))
    commitTimes.append((now, block.transactions.count))
    commitTimes.removeAll { now - $0.0 > .seconds(10) }
    let storeMs = LedgerExecutor.milliseconds(since: commitStarted)
    if execution != nil {
      proposalSizer.record(transactions: block.transactions.count, milliseconds: executor.lastExecutionMs + storeMs)
    }
    logger.info(
      "committed block",
      metadata: [
        "height": "\(block.header.height)", "hash": "\(block.header.hash.hex.prefix(16))",
        "transactions": "\(block.transactions.count)", "rejected": "\(rejected)",
        "view": "\(replica?.view ?? committed.certificate.view)", "mempool": "\(mempool.count)",
        "executeMs": "\(execution == nil ? "-" : String(format: "%.1f", executor.lastExecutionMs))",
        "storeMs": "\(String(format: "%.1f", storeMs))",
      ])
    lastPending = mempool.hasProposable(committedSequence: committedSequence(of:))
    if replica != nil, !lastPending { _ = replica!.step(.transactionsPending(false)) }
    HeapTrim.ifResidentAbove()
    return true
  }

  /// After a validator-set change: a new replica for the new set, and new admission rules for peers.
  private func reconfigure() {
    network?.setAdmitted(admittedPeers)
    guard config.role == .validator else { return }
    guard store.validatorSet.contains(nodeKey) else {
      logger.warning("this node left the validator set; it keeps following as an observer would")
      replica = nil
      return
    }
    do {
      replica = try Self.makeReplica(config: config, key: signer, store: store, executor: executor, wal: wal!.records)
      logger.info("validator set changed", metadata: ["validators": "\(store.validatorSet.validators.count)"])
    } catch {
      halt("cannot restart consensus after a validator-set change: \(error)")
    }
  }

  private func halt(_ reason: String) {
    guard haltReason == nil else { return }
    haltReason = reason
    logger.critical("node halted", metadata: ["reason": "\(reason)"])
    onHalt(reason)
  }

  // MARK: Status and queries

  public struct Status: Sendable, Encodable {
    public let chainId: String
    public let genesisHash: String
    public let nodeId: String
    public let nodeKey: String
    public let role: String
    public let height: UInt64
    public let view: UInt64
    public let primary: String?
    public let isPrimary: Bool
    public let lastBlockHash: String
    public let lastBlockTimeMs: UInt64
    public let stateRoot: String
    public let validators: [String]
    public let peers: [Peer]
    public let mempoolSize: Int
    public let transactionsPerSecond: Double
    public let halted: String?

    public struct Peer: Sendable, Encodable {
      public let nodeKey: String
      public let role: String
      public let address: String
    }
  }

  public func status() -> Status {
    let head = store.head
    let now = ContinuousClock.now
    let recent = commitTimes.filter { now - $0.0 <= .seconds(10) }.reduce(0) { $0 + $1.1 }
    return Status(
      chainId: chainId, genesisHash: store.genesisHash.hex, nodeId: config.id, nodeKey: nodeKey.hex,
      role: replica != nil ? "validator" : "observer", height: head.height, view: replica?.view ?? 0,
      primary: replica.map { $0.primary(of: $0.view).hex }, isPrimary: replica?.isPrimary ?? false,
      lastBlockHash: head.blockHash.hex, lastBlockTimeMs: head.timeMs, stateRoot: head.stateRoot.hex,
      validators: store.validatorSet.validators.map(\.nodeKey.hex),
      peers: (network?.peers ?? []).map {
        Status.Peer(nodeKey: $0.key.hex, role: $0.role.name, address: $0.remoteAddress)
      }
      .sorted { $0.nodeKey < $1.nodeKey },
      mempoolSize: mempool.count, transactionsPerSecond: Double(recent) / 10, halted: haltReason)
  }

  /// A record proof at the head, built on the caller's thread from the cached anchor.
  public nonisolated func recordBundleAtHead(_ key: RecordKey) throws -> ProofBundle? {
    guard let anchor = headAnchor.get() else { return nil }
    return try anchor.recordBundle(key, chainId: chainId, genesisHash: proofStore.genesisHash, store: proofStore)
  }

  /// Runs a read against the store on this actor, so it never sees a half-applied commit.
  public func read<Result: Sendable>(_ body: (LedgerStore) throws -> Result) rethrows -> Result { try body(store) }
}

final class LockedAnchor: @unchecked Sendable {
  private let lock = NSLock()
  private var anchor: ProofAnchor?
  func get() -> ProofAnchor? { lock.withLock { anchor } }
  func set(_ new: ProofAnchor?) { lock.withLock { anchor = new } }
}

/// A bounded set of ids: two generations, the older dropped when the newer fills.
struct RecentSet {
  private var young = Set<Hash256>()
  private var old = Set<Hash256>()
  let generationMax: Int

  init(capacity: Int) { generationMax = max(1, capacity / 2) }

  func contains(_ id: Hash256) -> Bool { young.contains(id) || old.contains(id) }

  mutating func insert(_ id: Hash256) {
    if young.count >= generationMax {
      // The dropped generation's table is emptied in place and reused: a new
      // one grew from empty through every power of two, rehashing each time.
      swap(&old, &young)
      young.removeAll(keepingCapacity: true)
      young.reserveCapacity(generationMax)
    }
    young.insert(id)
  }
}
