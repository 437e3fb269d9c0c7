public import Ledger

/// Fixed parameters of a replica. Times are in ticks: the host decides how
/// long a tick is (the node uses 100 ms; the simulator its own clock).
public struct ReplicaConfiguration: Sendable {
  public var chainId: String
  public var validators: ValidatorSet
  /// Heights above the committed one that may be in flight at once (the watermark window).
  public var windowHeightsMax: UInt64 = 4
  /// Ticks without progress, while work is pending, before a view change; doubles per failed attempt.
  public var viewChangeTimeoutTicks: Int = 20
  /// The cap keeps replicas that failed many view changes in a row (say, in a
  /// long partition) from waiting so long that the others cannot gather them.
  public var viewChangeTimeoutTicksMax: Int = 20 * 8
  /// Ticks between retransmissions of this replica's own messages for unfinished heights.
  public var resendIntervalTicks: Int = 8
  public var blockTransactionCountMax: Int = Limits.blockTransactionCountMax
  public static let blocksPerResponseMax = 64
  /// Commit votes needed to deliver. Only the checker's own test lowers it, to
  /// show the simulator catches a protocol that commits on too few votes.
  public var commitQuorumForTesting: Int?

  public init(chainId: String, validators: ValidatorSet) {
    self.chainId = chainId
    self.validators = validators
  }
}

public enum ReplicaEvent: Hashable, Sendable {
  case message(ConsensusMessage, from: PublicKey)
  /// One unit of time passed.
  case tick
  /// The mempool's batch for `height`, answering `requestProposal`.
  case proposal(height: UInt64, transactions: [SignedTransaction])
  /// Whether the node holds transactions waiting to be ordered: without
  /// pending work, a silent primary is not a fault.
  case transactionsPending(Bool)
}

public indirect enum ReplicaAction: Hashable, Sendable {
  /// Write `record` to the WAL durably, then perform `then`.
  case persist(WALRecord, then: [ReplicaAction])
  case send(ConsensusMessage, to: PublicKey)
  case broadcast(ConsensusMessage)
  /// Ask the mempool for a batch to propose at `height`.
  case requestProposal(height: UInt64)
  /// Hand a committed block (in height order, each exactly once) to the ledger.
  case deliver(CommittedBlock)
  /// Answer a state-transfer request from storage: committed blocks from `fromHeight` on.
  case serveBlocks(fromHeight: UInt64, to: PublicKey)
}

/// Why an incoming message was dropped; counted, never trusted.
public enum DropReason: String, Hashable, Sendable, CaseIterable {
  case notAValidator, badSignature, wrongChain, wrongView, notFromPrimary, outsideWindow, stale
  case equivocation, invalidBlock, tooLarge, malformed, invalidViewChange, invalidNewView, unchainedBlocks
}

/// A PBFT replica for a chain of blocks (Castro & Liskov, OSDI '99), as a pure
/// state machine: `step(event) -> [action]`. No I/O, clocks or randomness.
public struct Replica<Executor: BlockExecutor, Verifier: SignatureVerifier> {
  public let configuration: ReplicaConfiguration
  let executor: Executor
  let verifier: Verifier
  let quorum: Int
  let weakQuorum: Int
  let validatorKeys: [PublicKey]
  var safety: SafetyRules

  public var me: PublicKey { safety.publicKey }
  public internal(set) var view: UInt64 = 0
  /// Non-nil while this replica asks to leave `view` for `viewChangeTarget`.
  public internal(set) var viewChangeTarget: UInt64?
  /// Invariant: blocks 1…committedHeight were delivered in order, each once.
  public private(set) var committedHeight: UInt64
  public private(set) var committedHeader: BlockHeader
  public private(set) var committedCertificate: CommitCertificate?

  /// Per-height progress in the current view, for heights in the window.
  var slots: [UInt64: Slot] = [:]
  /// Highest-view prepared certificate per uncommitted height, kept across views (the P set).
  var preparedCertificates: [UInt64: PreparedCertificate] = [:]
  /// Pre-prepares whose parent is not prepared yet; at most one per height in the window.
  var waitingPrePrepares: [UInt64: (PrePrepare, PublicKey)] = [:]
  /// View-changes received, per target view (only views above ours, bounded).
  var viewChanges: [UInt64: [PublicKey: ViewChange]] = [:]
  var proposalRequestedHeight: UInt64?
  var transactionsPending = false
  var ticksWithoutProgress = 0
  var ticksSinceResend = 0
  var viewChangeAttempts = 0
  var ticksSinceStateRequest = Int.max / 2
  /// Own signed messages for unfinished heights, retransmitted until they are moot.
  var ownMessages: [ConsensusMessage] = []
  public private(set) var dropped: [DropReason: Int] = [:]

  struct Slot {
    var prePrepare: PrePrepare?
    var prepares: [Hash256: [PublicKey: Vote]] = [:]
    var commits: [Hash256: [PublicKey: Vote]] = [:]
    var prepared = false
    var committedLocally = false
  }

  static var viewChangeHorizon: UInt64 { 64 }

  /// A replica whose ledger is at `committedHeader` (certified by
  /// `committedCertificate`, nil at genesis), after replaying its WAL.
  public init(
    configuration: ReplicaConfiguration, signer: any ConsensusSigner, executor: Executor, verifier: Verifier,
    committedHeader: BlockHeader, committedCertificate: CommitCertificate?, wal: [WALRecord] = []
  ) {
    precondition(configuration.validators.contains(signer.publicKey), "a replica must be a validator")
    self.configuration = configuration
    self.executor = executor
    self.verifier = verifier
    quorum = configuration.commitQuorumForTesting ?? configuration.validators.quorum
    weakQuorum = configuration.validators.faultsTolerated + 1
    validatorKeys = configuration.validators.validators.map(\.nodeKey)
    safety = SafetyRules(signer: signer, chainId: configuration.chainId)
    safety.replay(wal)
    self.committedHeight = committedHeader.height
    self.committedHeader = committedHeader
    self.committedCertificate = committedCertificate
    // Back in the last view this replica voted in; if it had asked to leave
    // for a later one, it is still asking, with the same signed view-change.
    var lastVotedView: UInt64 = 0
    var lastViewChange: ViewChange?
    for record in wal {
      switch record {
      case .prePrepare(let prePrepare): lastVotedView = max(lastVotedView, prePrepare.view)
      case .vote(let vote): lastVotedView = max(lastVotedView, vote.statement.view)
      case .viewChange(let viewChange):
        if viewChange.newView >= (lastViewChange?.newView ?? 0) { lastViewChange = viewChange }
      }
    }
    view = lastVotedView
    if let lastViewChange, lastViewChange.newView > lastVotedView {
      view = lastViewChange.newView - 1
      viewChangeTarget = lastViewChange.newView
      ownMessages.append(.viewChange(lastViewChange))
      viewChanges[lastViewChange.newView] = [me: lastViewChange]
    }
    // Own messages from before the crash for heights not yet committed are sent again.
    for record in wal {
      switch record {
      case .prePrepare(let prePrepare) where prePrepare.height > committedHeight && prePrepare.view == view:
        ownMessages.append(.prePrepare(prePrepare))
      case .vote(let vote) where vote.statement.height > committedHeight && vote.statement.view == view:
        ownMessages.append(.vote(vote))
      default: break
      }
    }
  }

  public func primary(of view: UInt64) -> PublicKey { validatorKeys[Int(view % UInt64(validatorKeys.count))] }
  public var isPrimary: Bool { viewChangeTarget == nil && primary(of: view) == me }

  // MARK: Step

  public mutating func step(_ event: ReplicaEvent) -> [ReplicaAction] {
    var actions: [ReplicaAction] = []
    switch event {
    case .tick: onTick(&actions)
    case .transactionsPending(let pending):
      transactionsPending = pending
      maybePropose(&actions)
    case .proposal(let height, let transactions): onProposal(height: height, transactions: transactions, &actions)
    case .message(let message, let sender):
      guard validatorKeys.contains(sender) else {
        drop(.notAValidator)
        return []
      }
      switch message {
      case .prePrepare(let prePrepare): onPrePrepare(prePrepare, from: sender, &actions)
      case .vote(let vote): onVote(vote, from: sender, &actions)
      case .viewChange(let viewChange): onViewChange(viewChange, from: sender, &actions)
      case .newView(let newView): onNewView(newView, from: sender, &actions)
      case .blockRequest(let fromHeight):
        if fromHeight <= committedHeight { actions.append(.serveBlocks(fromHeight: fromHeight, to: sender)) }
      case .blockResponse(let blocks): onBlockResponse(blocks, from: sender, &actions)
      }
    }
    return actions
  }

  mutating func drop(_ reason: DropReason) { dropped[reason, default: 0] += 1 }

  // MARK: Normal case (§4.2)

  mutating func maybePropose(_ actions: inout [ReplicaAction]) {
    guard isPrimary, transactionsPending, proposalRequestedHeight == nil else { return }
    let next = highestAcceptedHeight + 1
    guard next <= committedHeight + configuration.windowHeightsMax, parentHeader(for: next) != nil else { return }
    proposalRequestedHeight = next
    actions.append(.requestProposal(height: next))
  }

  /// The highest height with an accepted pre-prepare in this view (or the committed height).
  var highestAcceptedHeight: UInt64 {
    var height = committedHeight
    while slots[height + 1]?.prePrepare != nil { height += 1 }
    return height
  }

  /// The header a block at `height` builds on: the committed head, or the
  /// block prepared at `height - 1` in this view.
  func parentHeader(for height: UInt64) -> BlockHeader? {
    if height == committedHeight + 1 { return committedHeader }
    guard let slot = slots[height - 1], slot.prepared, let prePrepare = slot.prePrepare else { return nil }
    return prePrepare.block.header
  }

  mutating func onProposal(height: UInt64, transactions: [SignedTransaction], _ actions: inout [ReplicaAction]) {
    guard proposalRequestedHeight == height else { return }
    proposalRequestedHeight = nil
    guard isPrimary, !transactions.isEmpty, slots[height]?.prePrepare == nil, let parent = parentHeader(for: height),
      let block = executor.buildBlock(
        on: parent, height: height, transactions: Array(transactions.prefix(configuration.blockTransactionCountMax)),
        proposer: me)
    else { return }
    guard let vote = safety.vote(.prepare, view: view, height: height, blockHash: block.header.hash) else { return }
    let prePrepare = PrePrepare(block: block, primaryVote: vote)
    accept(prePrepare)
    ownMessages.append(.prePrepare(prePrepare))
    actions.append(.persist(.prePrepare(prePrepare), then: [.broadcast(.prePrepare(prePrepare))]))
    tryPrepare(height, &actions)
  }

  mutating func accept(_ prePrepare: PrePrepare) {
    let hash = prePrepare.block.header.hash
    slots[prePrepare.height, default: Slot()].prePrepare = prePrepare
    slots[prePrepare.height]!.prepares[hash, default: [:]][prePrepare.primaryVote.voter] = prePrepare.primaryVote
  }

  mutating func onPrePrepare(_ prePrepare: PrePrepare, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    let vote = prePrepare.primaryVote
    let statement = vote.statement
    let height = prePrepare.height
    let hash = prePrepare.block.header.hash
    guard statement.chainId == configuration.chainId, prePrepare.block.header.chainId == configuration.chainId else {
      return drop(.wrongChain)
    }
    guard height > committedHeight else { return drop(.stale) }
    guard viewChangeTarget == nil, prePrepare.view == view else { return drop(.wrongView) }
    guard sender == primary(of: view), vote.voter == sender else { return drop(.notFromPrimary) }
    guard statement.phase == .prepare, statement.height == height, statement.blockHash == hash else {
      return drop(.malformed)
    }
    guard height <= committedHeight + configuration.windowHeightsMax else {
      requestStateIfBehind(target: height, from: sender, &actions)
      return drop(.outsideWindow)
    }
    guard prePrepare.block.transactions.count <= configuration.blockTransactionCountMax else { return drop(.tooLarge) }
    if let existing = slots[height]?.prePrepare {
      if existing.block.header.hash != hash { drop(.equivocation) }
      return
    }
    guard verifier.verify(vote.signature, digest: statement.signingDigest, by: sender) else {
      return drop(.badSignature)
    }
    guard let parent = parentHeader(for: height) else {
      // The parent is not prepared here yet: hold this one (one per height) until it is.
      waitingPrePrepares[height] = (prePrepare, sender)
      return
    }
    guard prePrepare.block.header.previousHash == parent.hash, executor.validate(prePrepare.block, on: parent) else {
      return drop(.invalidBlock)
    }
    accept(prePrepare)
    ticksWithoutProgress = 0
    if let prepare = safety.vote(.prepare, view: view, height: height, blockHash: hash) {
      slots[height]!.prepares[hash, default: [:]][me] = prepare
      ownMessages.append(.vote(prepare))
      actions.append(.persist(.vote(prepare), then: [.broadcast(.vote(prepare))]))
    }
    tryPrepare(height, &actions)
    tryCommit(height, &actions)
  }

  mutating func onVote(_ vote: Vote, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    let statement = vote.statement
    guard vote.voter == sender else { return drop(.malformed) }
    guard statement.chainId == configuration.chainId else { return drop(.wrongChain) }
    guard statement.height > committedHeight else { return drop(.stale) }
    guard statement.height <= committedHeight + configuration.windowHeightsMax else {
      if statement.phase == .commit { requestStateIfBehind(target: statement.height, from: sender, &actions) }
      return drop(.outsideWindow)
    }
    guard viewChangeTarget == nil, statement.view == view else { return drop(.wrongView) }
    let height = statement.height
    let hash = statement.blockHash
    if statement.phase == .prepare, slots[height]?.prepares[hash]?[sender] != nil { return }
    if statement.phase == .commit, slots[height]?.commits[hash]?[sender] != nil { return }
    if statement.phase == .prepare, let votes = slots[height]?.prepares,
      votes.contains(where: { $0.key != hash && $0.value[sender] != nil })
    {
      return drop(.equivocation)
    }
    guard verifier.verify(vote.signature, digest: statement.signingDigest, by: sender) else {
      return drop(.badSignature)
    }
    switch statement.phase {
    case .prepare:
      slots[height, default: Slot()].prepares[hash, default: [:]][sender] = vote
      tryPrepare(height, &actions)
    case .commit:
      slots[height, default: Slot()].commits[hash, default: [:]][sender] = vote
      tryCommit(height, &actions)
    }
  }

  /// Prepared (§4.2): the pre-prepare and a quorum of matching prepares. Then commit.
  mutating func tryPrepare(_ height: UInt64, _ actions: inout [ReplicaAction]) {
    guard var slot = slots[height], !slot.prepared, let prePrepare = slot.prePrepare else { return }
    let hash = prePrepare.block.header.hash
    guard let votes = slot.prepares[hash], votes.count >= configuration.validators.quorum else { return }
    slot.prepared = true
    slots[height] = slot
    preparedCertificates[height] = PreparedCertificate(
      prePrepare: prePrepare,
      prepares: votes.values.sorted { $0.voter < $1.voter }.prefix(configuration.validators.quorum).map { $0 })
    if let commit = safety.vote(.commit, view: view, height: height, blockHash: hash) {
      slots[height]!.commits[hash, default: [:]][me] = commit
      ownMessages.append(.vote(commit))
      actions.append(.persist(.vote(commit), then: [.broadcast(.vote(commit))]))
    }
    tryCommit(height, &actions)
    // A pre-prepare waiting for this parent can go on now.
    if let (waiting, sender) = waitingPrePrepares.removeValue(forKey: height + 1) {
      onPrePrepare(waiting, from: sender, &actions)
    }
    maybePropose(&actions)
  }

  /// Committed-local (§4.2): prepared and a quorum of matching commits. Deliver in order.
  mutating func tryCommit(_ height: UInt64, _ actions: inout [ReplicaAction]) {
    guard let slot = slots[height], !slot.committedLocally else { return }
    guard let prePrepare = slot.prePrepare else {
      // A quorum committed a block we never saw: fetch it from one of them.
      if let (_, votes) = slot.commits.first(where: { $0.value.count >= quorum }), let voter = votes.keys.min() {
        requestStateIfBehind(target: height, from: voter, &actions, force: true)
      }
      return
    }
    let hash = prePrepare.block.header.hash
    guard slot.prepared, let votes = slot.commits[hash], votes.count >= quorum else { return }
    slots[height]!.committedLocally = true
    deliverReady(&actions)
  }

  mutating func deliverReady(_ actions: inout [ReplicaAction]) {
    while let slot = slots[committedHeight + 1], slot.committedLocally, let prePrepare = slot.prePrepare {
      let hash = prePrepare.block.header.hash
      let votes = slot.commits[hash]!.values.sorted { $0.voter < $1.voter }.prefix(quorum)
      let certificate = CommitCertificate(
        chainId: configuration.chainId, height: prePrepare.height, view: view, blockHash: hash,
        signatures: votes.map { VoterSignature(voter: $0.voter, signature: $0.signature) })
      finishCommit(CommittedBlock(block: prePrepare.block, certificate: certificate), &actions)
    }
    maybePropose(&actions)
  }

  /// Records a committed block as the new head and hands it to the ledger.
  mutating func finishCommit(_ committed: CommittedBlock, _ actions: inout [ReplicaAction]) {
    let height = committed.block.header.height
    precondition(height == committedHeight + 1, "blocks are delivered in height order")
    precondition(committed.block.header.previousHash == committedHeader.hash, "a delivered block extends the chain")
    committedHeight = height
    committedHeader = committed.block.header
    committedCertificate = committed.certificate
    slots.removeValue(forKey: height)
    preparedCertificates = preparedCertificates.filter { $0.key > height }
    waitingPrePrepares = waitingPrePrepares.filter { $0.key > height }
    ownMessages.removeAll { message in
      switch message {
      case .prePrepare(let prePrepare): prePrepare.height <= height
      case .vote(let vote): vote.statement.height <= height
      default: false
      }
    }
    safety.prune(throughHeight: height)
    ticksWithoutProgress = 0
    viewChangeAttempts = 0
    actions.append(.deliver(committed))
  }

  // MARK: Time

  var viewChangeTimeoutTicks: Int {
    min(configuration.viewChangeTimeoutTicks << min(viewChangeAttempts, 16), configuration.viewChangeTimeoutTicksMax)
  }

  mutating func onTick(_ actions: inout [ReplicaAction]) {
    ticksSinceResend += 1
    ticksSinceStateRequest += 1
    let workPending = transactionsPending || !slots.isEmpty || viewChangeTarget != nil
    if workPending { ticksWithoutProgress += 1 } else { ticksWithoutProgress = 0 }
    // §4.5.2: the timer for the next view normally starts only once a quorum
    // wants this one; escalating alone would leave this replica ahead of
    // everyone, unable to vote in the view the others reach. But replicas that
    // restarted may have forgotten the view-changes that made others move on,
    // so a replica stuck without a quorum for four timeouts moves on too.
    var timeoutTicks = viewChangeTimeoutTicks
    if let target = viewChangeTarget, (viewChanges[target]?.count ?? 0) < configuration.validators.quorum {
      timeoutTicks *= 4
    }
    if ticksWithoutProgress >= timeoutTicks {
      ticksWithoutProgress = 0
      viewChangeAttempts += 1
      startViewChange(to: (viewChangeTarget ?? view) + 1, &actions)
    }
    if ticksSinceResend >= configuration.resendIntervalTicks {
      ticksSinceResend = 0
      // Messages get lost; PBFT assumes retransmission. Resending signed messages signs nothing new.
      for message in ownMessages { actions.append(.broadcast(message)) }
    }
    maybePropose(&actions)
  }

  mutating func requestStateIfBehind(
    target height: UInt64, from peer: PublicKey, _ actions: inout [ReplicaAction], force: Bool = false
  ) {
    guard height > committedHeight + 1 || force, peer != me,
      ticksSinceStateRequest >= configuration.resendIntervalTicks
    else { return }
    ticksSinceStateRequest = 0
    actions.append(.send(.blockRequest(fromHeight: committedHeight + 1), to: peer))
  }

  // MARK: State transfer

  mutating func onBlockResponse(_ blocks: [CommittedBlock], from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    guard blocks.count <= ReplicaConfiguration.blocksPerResponseMax else { return drop(.tooLarge) }
    for committed in blocks {
      let header = committed.block.header
      guard header.height > committedHeight else { continue }
      guard header.height == committedHeight + 1, header.previousHash == committedHeader.hash else {
        return drop(.unchainedBlocks)
      }
      guard committed.certificate.blockHash == header.hash, committed.certificate.height == header.height,
        committed.certificate.isValid(
          chainId: configuration.chainId, validators: configuration.validators, verifier: verifier, quorum: quorum),
        committed.block.transactions.count == Int(header.transactionCount),
        header.transactionsRoot == committed.block.transactionsRoot
      else { return drop(.badSignature) }
      finishCommit(committed, &actions)
      // Votes and pre-prepares for the next heights may already be here.
      deliverReady(&actions)
    }
    if let (waiting, primary) = waitingPrePrepares.removeValue(forKey: committedHeight + 1) {
      onPrePrepare(waiting, from: primary, &actions)
    }
    if blocks.count == ReplicaConfiguration.blocksPerResponseMax {
      ticksSinceStateRequest = Int.max / 2
      requestStateIfBehind(target: committedHeight + 2, from: sender, &actions, force: true)
    }
  }
}
