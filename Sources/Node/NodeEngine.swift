import Consensus
import Foundation
public import Ledger
public import Logging

/// One bureau node's core: owns the consensus replica, the store, the mempool
/// and the WAL, and is the only place any of them changes. The network and
/// the HTTP API talk to it; a timer ticks it.
///
/// Every node runs a replica. It votes at the heights whose validator set
/// names this node's key (and `role` is validator) and follows otherwise,
/// taking certified blocks from its peers: a bureau node joins as a
/// follower and starts voting by itself at the height that adds it.
public actor NodeEngine {
  public nonisolated let config: NodeConfig
  public nonisolated let nodeKey: PublicKey
  public nonisolated let chainId: String
  nonisolated let metrics: NodeMetrics
  let store: LedgerStore
  let logger: Logger
  let executor: LedgerExecutor
  var replica: Replica<SchnorrVerifier>
  let wal: WriteAheadLog?
  /// Node keys of active bureaus, as of the last commit that changed a bureau or the validators.
  var registeredNodeKeys: Set<PublicKey> = []
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
  let recentlyVerified = TwoGenerationCache<Hash256, Void>(capacity: 100_000)
  /// Set when the node stopped itself (say, its disk failed): it takes no further part.
  public private(set) var haltReason: String?
  let onHalt: @Sendable (String) -> Void
  /// Asks the service to shut down cleanly (`consensus.stop_when_removed`).
  let onStopRequested: @Sendable (String) -> Void
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
  /// Wakes requests waiting for a commit (`GET /v1/transactions/{id}?wait=`).
  public nonisolated let commitNotifier = CommitNotifier()
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
    metrics: NodeMetrics, onHalt: @escaping @Sendable (String) -> Void,
    onStopRequested: @escaping @Sendable (String) -> Void = { _ in }
  ) throws {
    self.config = config
    nodeKey = key.publicKey
    chainId = store.chainId
    self.store = store
    self.logger = logger
    self.metrics = metrics
    self.onHalt = onHalt
    self.onStopRequested = onStopRequested
    self.dataPath = dataPath
    mempool = Mempool(
      countMax: config.mempool.transactionsMax, bytesMax: config.mempool.bytesMax, byLeafHash: pendingByLeafHash)
    executor = LedgerExecutor(store: store, logger: logger)
    proofStore = store
    headAnchor.set(try? store.proofAnchor())
    // Only a node that may vote signs, so only it keeps a WAL.
    wal = config.role == .validator ? try WriteAheadLog(path: walPath) : nil
    replica = try Self.makeReplica(
      config: config, signer: SchnorrSigner(key: key), store: store, wal: wal?.records ?? [])
    // Views moved past before a restart were counted by the process that moved past them.
    lastReportedView = replica.view
    registeredNodeKeys = try Self.registeredNodeKeys(in: store)
    // The executor runs only inside this actor's steps, hence assumeIsolated.
    executor.hooks = LedgerExecutor.Hooks(
      isVerified: { [unowned self] transaction in self.assumeIsolated { $0.alreadyVerified(transaction) } },
      onVerified: { [unowned self] outcomes in self.assumeIsolated { $0.noteVerified(outcomes) } })
    metrics.committedHeight.record(Int64(store.head.height))
  }

  static func makeReplica(
    config: NodeConfig, signer: SchnorrSigner, store: LedgerStore, wal: [WALRecord]
  ) throws -> Replica<SchnorrVerifier> {
    var configuration = ReplicaConfiguration(chainId: store.chainId)
    configuration.votes = config.role == .validator
    configuration.viewChangeTimeoutTicks = config.consensus.viewChangeTimeoutTicks
    configuration.viewChangeTimeoutTicksMax = config.consensus.viewChangeTimeoutTicks * 8
    configuration.blockTransactionCountMax = config.consensus.blockTransactionsMax
    let height = store.head.height
    guard let header = try store.block(at: height)?.header else {
      throw StartupError(code: "store.corrupt", message: "block \(height) is missing")
    }
    return Replica(
      configuration: configuration, signer: signer, verifier: SchnorrVerifier(),
      validators: ValidatorEpochs(
        try store.validatorEpochs(latestMax: ValidatorEpochs.epochCountMax), knownThroughHeight: height + 1),
      committedHeader: header, committedCertificate: try store.certificate(at: height), wal: wal)
  }

  public func attach(_ network: PeerNetwork) { self.network = network }

  /// Everyone this node admits as a peer: the validators of the head and of
  /// the next height, every node key of an active bureau (they follow, and
  /// may become validators), and the configured observers (keys not on-chain).
  public var admittedPeers: Set<PublicKey> {
    var keys = registeredNodeKeys.union(config.p2p.observers.compactMap { PublicKey(hex: $0) })
    for height in [store.head.height, store.head.height + 1] {
      keys.formUnion(replica.validators(at: height)?.validators.map(\.nodeKey) ?? [])
    }
    return keys
  }

  static func registeredNodeKeys(in store: LedgerStore) throws -> Set<PublicKey> {
    var keys = Set<PublicKey>()
    var after: RecordKey?
    // Bounded by the bureau count (hundreds in a city); read in pages.
    while case let page = try store.records(pathPrefix: "bureau/", after: after, limit: 1_000), !page.isEmpty {
      for (_, record) in page where record.status == .active {
        if case .bureau(let registration) = record.value { keys.formUnion(registration.nodeKeys) }
      }
      after = page.last!.0
    }
    return keys
  }

  /// The validators a consensus message or a forwarded transaction goes to.
  var validatorKeys: Set<PublicKey> { Set(replica.broadcastSet.validators.map(\.nodeKey)) }

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
      network?.broadcast(.transactions(Array(frame)), where: validatorKeys.contains)
    }
  }

  /// Records signature checks made elsewhere (HTTP handlers, the frame consumer, the executor).
  public func noteVerified(_ outcomes: [(SignedTransaction, Bool)]) {
    metrics.signatureChecks.increment(by: outcomes.count)
    for (transaction, valid) in outcomes where valid { recentlyVerified.insert(transaction.leafHash, ()) }
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
    case .consensus(let message):
      // The replica decides what a peer may say: votes only from the validators
      // of their height; blocks from anyone, checked against their certificates.
      step(.message(message, from: peer))
    case .transactions, .hello, .auth, .refusal:
      break  // transactions are verified off this actor and come in through `admit`
    }
  }

  public func peerConnected(_ key: PublicKey, role: PeerRole) {
    metrics.peers.record(Int64(network?.peers.count ?? 0))
    guard validatorKeys.contains(key) else { return }
    // Catch up on whatever this node missed while it was away (a restart, a partition).
    network?.send(.consensus(.blockRequest(fromHeight: store.head.height + 1)), to: key)
    // A validator that (re)connects gets what is pending here, in case it is or becomes primary.
    if !mempool.isEmpty {
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

  // MARK: Time

  public func tick() {
    guard haltReason == nil else { return }
    ticks += 1
    step(.tick)
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

  /// Steps the replica with `event`, performs what it asks, and steps it
  /// again with what performing produced (a delivered block's application),
  /// until nothing follows: the replica never runs inside its own step.
  private func step(_ event: ReplicaEvent) {
    var events = [event]
    while haltReason == nil, !events.isEmpty {
      let actions = replica.step(events.removeFirst())
      perform(actions, followUps: &events)
    }
    reportReplicaState()
  }

  private func perform(_ actions: [ReplicaAction], followUps: inout [ReplicaEvent]) {
    for action in actions {
      guard haltReason == nil else { return }
      switch action {
      case .persist(let record, let then):
        do {
          guard let wal else { preconditionFailure("a replica that does not vote signs nothing") }
          try wal.append(record)
        } catch {
          halt("the WAL cannot be written: \(error)")
          return
        }
        perform(then, followUps: &followUps)
      case .send(let message, let peer):
        network?.send(.consensus(message), to: peer)
      case .broadcast(let message):
        network?.broadcast(.consensus(message), where: validatorKeys.contains)
      case .requestProposal(let height):
        propose(at: height, lingered: false)
      case .buildBlock(let height, let parent, let transactions, let validators):
        let block = executor.buildBlock(
          on: parent, height: height, transactions: transactions, proposer: nodeKey, validators: validators)
        followUps.append(.blockBuilt(height: height, block: block))
      case .validateBlock(let block, let parent, let validators):
        let valid = executor.validate(block, on: parent, validators: validators)
        followUps.append(.blockValidated(blockHash: block.header.hash, valid: valid))
      case .deliver(let committed):
        guard let next = commit(committed, execution: executor.takeExecution(for: committed.block.header.hash))
        else { return }
        followUps.append(.blockApplied(height: committed.block.header.height, nextValidators: next))
        if !lastPending { followUps.append(.transactionsPending(false)) }
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
    guard haltReason == nil else { return }
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
    step(.proposal(height: height, transactions: batch))
  }

  private func reportReplicaState() {
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

  /// Applies and stores a certified block in one atomic write, and returns
  /// the validator set in force at the next height. Nil when the node had to
  /// stop (a block that does not apply or a failed disk).
  private func commit(_ committed: CommittedBlock, execution: BlockExecution?) -> ValidatorSet? {
    let block = committed.block
    let applied: BlockExecution
    let commitStarted = ContinuousClock.now
    do {
      applied = try store.commit(block, certificate: committed.certificate, execution: execution)
    } catch let error as StoreError where error.refusesBlock {
      // A certified block that does not apply here means this node's state is
      // not the network's: stop rather than diverge.
      halt("certified block \(block.header.height) does not apply: \(error)")
      return nil
    } catch {
      halt("cannot store block \(block.header.height): \(error)")
      return nil
    }
    let next: ValidatorSet
    do {
      next = try store.validatorSchedule().validatorsInForce(at: block.header.height + 1)
    } catch {
      halt("cannot read the validator schedule after block \(block.header.height): \(error)")
      return nil
    }
    let now = ContinuousClock.now
    for transaction in block.transactions {
      if let admitted = admittedAt.removeValue(forKey: transaction.id) {
        metrics.commitLatency.record(duration: now - admitted)
      }
    }
    mempool.removeCommitted(block.transactions, committedSequence: committedSequence(of:))
    // Transactions the mempool dropped as stale were never committed: forget when they came.
    if admittedAt.count > mempool.count { admittedAt = admittedAt.filter { mempool.contains($0.key) } }
    // Peers that did not decide this block themselves (followers) get it pushed.
    let deciders = store.validatorSet
    network?.broadcast(.consensus(.blockResponse([committed])), where: { !deciders.contains($0) })
    // Only governance transactions change bureaus or the validator schedule.
    if next != store.validatorSet || block.transactions.contains(where: { $0.body.payload.kind.isGovernance }) {
      updateAdmission(next: next, at: block.header.height)
    }
    let rejected = applied.results.count { $0.code != TransactionResult.acceptedCode }
    headAnchor.set(try? store.proofAnchor())
    commitNotifier.committed()
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
        "view": "\(committed.certificate.view)", "mempool": "\(mempool.count)",
        "executeMs": "\(execution == nil ? "-" : String(format: "%.1f", executor.lastExecutionMs))",
        "storeMs": "\(String(format: "%.1f", storeMs))",
      ])
    lastPending = mempool.hasProposable(committedSequence: committedSequence(of:))
    HeapTrim.ifResidentAbove()
    return next
  }

  /// After a block that changed bureaus or the validator schedule: who may
  /// connect (a suspended or removed bureau's nodes are disconnected), and a
  /// word in the log when the set of the next height differs.
  private func updateAdmission(next: ValidatorSet, at height: UInt64) {
    do {
      registeredNodeKeys = try Self.registeredNodeKeys(in: store)
    } catch {
      // Keep the previous list rather than refuse every bureau's node over a failed read.
      logger.error("cannot read the bureaus' node keys; peer admission unchanged", metadata: ["error": "\(error)"])
    }
    var admitted = admittedPeers
    admitted.formUnion(next.validators.map(\.nodeKey))
    network?.setAdmitted(admitted)
    if next != store.validatorSet {
      if config.consensus.stopWhenRemoved, config.role == .validator, store.validatorSet.contains(nodeKey),
        !next.contains(nodeKey)
      {
        let reason = "a validator-set change removes this node's key from height \(height + 1)"
        logger.notice("stopping: consensus.stop_when_removed", metadata: ["reason": "\(reason)"])
        onStopRequested(reason)
      }
      logger.notice(
        "validator set changes",
        metadata: [
          "height": "\(height + 1)", "validators": "\(next.count)", "quorum": "\(next.quorum)",
          "thisNodeVotes": "\(config.role == .validator && next.contains(nodeKey))",
        ])
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
    /// The view this node asks to move to, while it does (a view change in progress).
    public let viewChangeTarget: UInt64?
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
      role: replica.isVoting ? "validator" : "follower", height: head.height, view: replica.view,
      viewChangeTarget: replica.viewChangeTarget,
      primary: replica.primary(of: replica.view)?.hex, isPrimary: replica.isPrimary,
      lastBlockHash: head.blockHash.hex, lastBlockTimeMs: head.timeMs, stateRoot: head.stateRoot.hex,
      validators: replica.broadcastSet.validators.map(\.nodeKey.hex),
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
