public import Ledger

/// Fixed parameters of a replica. Times are in ticks: the host decides how
/// long a tick is (the node uses 100 ms; the simulator its own clock).
public struct ReplicaConfiguration: Sendable {
  public var chainId: String
  /// Ticks without progress, while work is pending, before a view change; doubles per failed attempt.
  public var viewChangeTimeoutTicks: Int = 20
  /// The cap keeps replicas that failed many view changes in a row (say, in a
  /// long partition) from waiting so long that the others cannot gather them.
  public var viewChangeTimeoutTicksMax: Int = 20 * 8
  /// Ticks between retransmissions of this replica's own messages for unfinished heights.
  public var resendIntervalTicks: Int = 8
  public var blockTransactionCountMax: Int = Limits.blockTransactionCountMax
  public static let blocksPerResponseMax = 64
  /// Ticks between a voter's requests for blocks it may have missed (half that for a follower).
  public var catchUpPollTicks = 20
  /// Messages kept while the set of the height they are for is not known yet
  /// (the host has not applied the block below it): replayed once it is.
  public static let heldMessageCountMax = 4 * Limits.validatorCountMax
  /// False for a node that only follows (`role = "observer"`), even when its key is in the set.
  public var votes = true
  /// Commit votes needed to deliver. Only the checker's own test lowers it, to
  /// show the simulator catches a protocol that commits on too few votes.
  public var commitQuorumForTesting: Int?
  /// Only the checker's own test sets it: the replica uses the set in force
  /// this many heights earlier, i.e. applies every change late.
  public var validatorSetLagHeightsForTesting: UInt64 = 0

  public init(chainId: String) {
    self.chainId = chainId
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
  /// The block `buildBlock` asked for at `height`, or nil when the host could not build it.
  case blockBuilt(height: UInt64, block: Block?)
  /// Whether the block `validateBlock` asked about is valid on its parent.
  case blockValidated(blockHash: Hash256, valid: Bool)
  /// The host applied the delivered block at `height` (the next one it had
  /// not), and `nextValidators` is the set in force at `height + 1`
  /// (`ValidatorSchedule.validatorsInForce(at:)` of the state after it).
  case blockApplied(height: UInt64, nextValidators: ValidatorSet)
}

public indirect enum ReplicaAction: Hashable, Sendable {
  /// Write `record` to the WAL durably, then perform `then`.
  case persist(WALRecord, then: [ReplicaAction])
  case send(ConsensusMessage, to: PublicKey)
  /// Send to every validator in force at the height being decided (`Replica.workingSet`).
  case broadcast(ConsensusMessage)
  /// Ask the mempool for a batch to propose at `height`.
  case requestProposal(height: UInt64)
  /// Execute `transactions` as the block at `height` on `parent` and build
  /// it (its header names `validators`); answer with `.blockBuilt`.
  case buildBlock(height: UInt64, parent: BlockHeader, transactions: [SignedTransaction], validators: ValidatorSet)
  /// Execute `block` on `parent` and check every root in its header (and
  /// that it names `validators`); answer with `.blockValidated`.
  case validateBlock(Block, parent: BlockHeader, validators: ValidatorSet)
  /// Hand a committed block (in height order, each exactly once) to the
  /// ledger, which answers with `.blockApplied` once it is stored.
  case deliver(CommittedBlock)
  /// Answer a state-transfer request from storage: committed blocks from `fromHeight` on.
  case serveBlocks(fromHeight: UInt64, to: PublicKey)
}

/// Why an incoming message was dropped; counted, never trusted.
public enum DropReason: String, Hashable, Sendable, CaseIterable {
  case notAValidator, badSignature, wrongChain, wrongView, notFromPrimary, outsideWindow, stale
  case equivocation, invalidBlock, tooLarge, malformed, invalidViewChange, invalidNewView, unchainedBlocks
  /// Held for a height whose set was not known yet, and more than `heldMessageCountMax` were.
  case heldOverflow
}

/// Two signed votes of one validator for different blocks in one (phase, view, height): proof of a fault.
public struct EquivocationEvidence: Hashable, Sendable {
  public let first: Vote
  public let second: Vote
}

/// A PBFT replica for a chain of blocks (Castro & Liskov, OSDI '99), as a pure
/// state machine: `step(event) -> [action]`. No I/O, clocks or randomness;
/// executing blocks (to build or validate them) is an action too, whose
/// result comes back as an event.
///
/// Every height is decided by the validator set in force at that height
/// (`ValidatorEpochs`): proposal, votes, quorums, view changes and primary
/// rotation. A replica whose key is not in the set follows: it takes
/// certified blocks from its peers, checks every certificate, and starts
/// voting by itself at the first height whose set names it.
public struct Replica<Verifier: SignatureVerifier> {
  public let configuration: ReplicaConfiguration
  let verifier: Verifier
  var safety: SafetyRules
  /// The sets in force by height. Invariant: known through `committedHeight`
  /// or `committedHeight + 1` (the host applies each delivered block before
  /// the next height can be decided).
  public private(set) var validatorEpochs: ValidatorEpochs

  public var me: PublicKey { safety.publicKey }
  public internal(set) var view: UInt64 = 0
  /// Non-nil while this replica asks to leave `view` for `viewChangeTarget`.
  public internal(set) var viewChangeTarget: UInt64?
  /// Invariant: blocks 1…committedHeight were delivered in order, each once.
  public private(set) var committedHeight: UInt64
  public private(set) var committedHeader: BlockHeader
  public private(set) var committedCertificate: CommitCertificate?

  /// Progress in the current view. Invariant: only for `committedHeight + 1`,
  /// the one height whose set can be known (see `ValidatorEpochs`).
  var slots: [UInt64: Slot] = [:]
  /// Highest-view prepared certificate per uncommitted height, kept across views (the P set).
  var preparedCertificates: [UInt64: PreparedCertificate] = [:]
  /// Messages for the next height that came before its set was known; at most `heldMessageCountMax`.
  var heldMessages: [(ConsensusMessage, PublicKey)] = []
  /// Transferred blocks that wait for the set of their height; at most `blocksPerResponseMax`.
  var heldBlocks: [CommittedBlock] = []
  var heldBlocksSender: PublicKey?
  /// View-changes received, per target view (only views above ours, bounded).
  var viewChanges: [UInt64: [PublicKey: ViewChange]] = [:]
  var proposalRequestedHeight: UInt64?
  /// The height whose block the host is building for this primary.
  var buildingHeight: UInt64?
  /// The pre-prepare whose block the host is validating (at most one: one height in flight), and its sender.
  var validating: PrePrepare?
  var transactionsPending = false
  var ticksWithoutProgress = 0
  var ticksSinceResend = 0
  var viewChangeAttempts = 0
  var ticksSinceStateRequest = Int.max / 2
  var ticksSinceCatchUpPoll = 0
  var catchUpPolls = 0
  /// Own signed messages for unfinished heights, retransmitted until they are moot.
  var ownMessages: [ConsensusMessage] = []
  public private(set) var dropped: [DropReason: Int] = [:]
  /// Conflicting votes seen, kept as evidence; at most `evidenceCountMax` (the count goes on).
  public private(set) var equivocationEvidence: [EquivocationEvidence] = []
  public private(set) var equivocationCount = 0
  static var evidenceCountMax: Int { 64 }

  struct Slot {
    var prePrepare: PrePrepare?
    /// Invariant: at most one prepare and one commit vote per voter (the first it sent).
    var prepares: [Hash256: [PublicKey: Vote]] = [:]
    var commits: [Hash256: [PublicKey: Vote]] = [:]
    var prepared = false
    var committedLocally = false

    func vote(of voter: PublicKey, _ phase: VotePhase) -> Vote? {
      for votes in (phase == .prepare ? prepares : commits).values { if let vote = votes[voter] { return vote } }
      return nil
    }
  }

  static var viewChangeHorizon: UInt64 { 64 }

  /// A replica whose ledger is at `committedHeader` (certified by
  /// `committedCertificate`, nil at genesis), with the sets `validators`
  /// known through `committedHeader.height + 1`, after replaying its WAL.
  public init(
    configuration: ReplicaConfiguration, signer: any ConsensusSigner, verifier: Verifier,
    validators: ValidatorEpochs, committedHeader: BlockHeader, committedCertificate: CommitCertificate?,
    wal: [WALRecord] = []
  ) {
    precondition(
      validators.knownThroughHeight == committedHeader.height + 1, "the host applied every block it stored")
    self.configuration = configuration
    self.verifier = verifier
    validatorEpochs = validators
    safety = SafetyRules(signer: signer, chainId: configuration.chainId)
    safety.replay(wal)
    self.committedHeight = committedHeader.height
    self.committedHeader = committedHeader
    self.committedCertificate = committedCertificate
    // Back in the last view this replica voted in or entered (or, joining, the
    // view that certified the head); if it had asked to leave for a later
    // one, it is still asking, with the same signed view-change.
    var lastVotedView = committedCertificate?.view ?? 0
    var lastViewChange: ViewChange?
    for record in wal {
      switch record {
      case .prePrepare(let prePrepare): lastVotedView = max(lastVotedView, prePrepare.view)
      case .vote(let vote): lastVotedView = max(lastVotedView, vote.statement.view)
      case .enteredView(let newView): lastVotedView = max(lastVotedView, newView.view)
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

  // MARK: Validator sets

  /// The set in force at `height`, or nil while the block below it is not applied here.
  public func validators(at height: UInt64) -> ValidatorSet? {
    let lag = configuration.validatorSetLagHeightsForTesting
    guard height <= validatorEpochs.knownThroughHeight else { return nil }
    return validatorEpochs.validators(at: height > lag ? height - lag : height)
  }

  /// The set deciding the next height, `committedHeight + 1`; nil until the head is applied.
  public var workingSet: ValidatorSet? { validators(at: committedHeight + 1) }

  /// Who `.broadcast` goes to: the validators of the latest set this replica
  /// knows (the next height's, or the head's while the head awaits its application).
  public var broadcastSet: ValidatorSet { validatorEpochs.epochs.last!.validators }

  /// Whether this replica votes at the next height.
  public var isVoting: Bool { configuration.votes && (workingSet?.contains(me) ?? false) }

  static func primary(of view: UInt64, in set: ValidatorSet) -> PublicKey {
    set.validators[Int(view % UInt64(set.count))].nodeKey
  }

  public func primary(of view: UInt64) -> PublicKey? { workingSet.map { Self.primary(of: view, in: $0) } }
  public var isPrimary: Bool { viewChangeTarget == nil && isVoting && primary(of: view) == me }

  func commitQuorum(_ set: ValidatorSet) -> Int { configuration.commitQuorumForTesting ?? set.quorum }

    // MARK: Step

  public mutating func step(_ event: ReplicaEvent) -> [ReplicaAction] {
    var actions: [ReplicaAction] = []
    switch event {
    case .tick: onTick(&actions)
    case .transactionsPending(let pending):
      transactionsPending = pending
      maybePropose(&actions)
    case .proposal(let height, let transactions): onProposal(height: height, transactions: transactions, &actions)
    case .blockApplied(let height, let nextValidators): onBlockApplied(height, next: nextValidators, &actions)
    case .blockBuilt(let height, let block): onBlockBuilt(height, block, &actions)
    case .blockValidated(let blockHash, let valid): onBlockValidated(blockHash, valid: valid, &actions)
    case .message(let message, let sender): onMessage(message, from: sender, &actions)
    }
    return actions
  }

  mutating func onMessage(_ message: ConsensusMessage, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    switch message {
    case .blockRequest(let fromHeight):
      // Anyone the host admitted may follow the chain: blocks carry their certificates.
      if fromHeight <= committedHeight { actions.append(.serveBlocks(fromHeight: fromHeight, to: sender)) }
      return
    case .blockResponse(let blocks): return onBlockResponse(blocks, from: sender, &actions)
    default: break
    }
    guard let set = workingSet else {
      // The head is delivered but not applied yet: this is for a height whose set is not known.
      guard heldMessages.count < ReplicaConfiguration.heldMessageCountMax else { return drop(.heldOverflow) }
      heldMessages.append((message, sender))
      return
    }
    guard set.contains(sender) else {
      if case .vote(let vote) = message, vote.statement.phase == .commit, vote.statement.height > committedHeight + 1 {
        // A validator of a later height: this replica is behind.
        requestStateIfBehind(target: vote.statement.height, from: sender, &actions)
      }
      return drop(.notAValidator)
    }
    // A follower has nothing to vote with; it takes certified blocks instead.
    guard isVoting else { return }
    switch message {
    case .prePrepare(let prePrepare): onPrePrepare(prePrepare, from: sender, &actions)
    case .vote(let vote): onVote(vote, from: sender, &actions)
    case .viewChange(let viewChange): onViewChange(viewChange, from: sender, &actions)
    case .newView(let newView): onNewView(newView, from: sender, &actions)
    case .blockRequest, .blockResponse: break
    }
  }

  mutating func drop(_ reason: DropReason) { dropped[reason, default: 0] += 1 }

  /// The host stored block `height`: the set of the height above it is known,
  /// so what waited for it goes on.
  mutating func onBlockApplied(_ height: UInt64, next: ValidatorSet, _ actions: inout [ReplicaAction]) {
    precondition(height <= committedHeight, "only delivered blocks are applied")
    validatorEpochs.applied(height: height, next: next)
    guard workingSet != nil else { return }
    ticksWithoutProgress = 0
    if !heldBlocks.isEmpty, let sender = heldBlocksSender {
      let blocks = heldBlocks
      heldBlocks = []
      applyTransferred(blocks[...], from: sender, &actions)
    }
    guard workingSet != nil else { return }
    let held = heldMessages
    heldMessages = []
    for (message, sender) in held { onMessage(message, from: sender, &actions) }
    if let target = viewChangeTarget { tryNewView(target, &actions) }
    maybePropose(&actions)
  }

  // MARK: Normal case (§4.2)

  mutating func maybePropose(_ actions: inout [ReplicaAction]) {
    let next = committedHeight + 1
    guard isPrimary, transactionsPending, proposalRequestedHeight == nil, slots[next]?.prePrepare == nil else { return }
    proposalRequestedHeight = next
    actions.append(.requestProposal(height: next))
  }

  mutating func onProposal(height: UInt64, transactions: [SignedTransaction], _ actions: inout [ReplicaAction]) {
    guard proposalRequestedHeight == height else { return }
    proposalRequestedHeight = nil
    guard isPrimary, height == committedHeight + 1, !transactions.isEmpty, slots[height]?.prePrepare == nil,
      buildingHeight == nil, let set = workingSet
    else { return }
    buildingHeight = height
    actions.append(
      .buildBlock(
        height: height, parent: committedHeader,
        transactions: Array(transactions.prefix(configuration.blockTransactionCountMax)), validators: set))
  }

  mutating func onBlockBuilt(_ height: UInt64, _ built: Block?, _ actions: inout [ReplicaAction]) {
    guard buildingHeight == height else { return }
    buildingHeight = nil
    // Still this view's primary at this height, with nothing proposed yet (a view change may have intervened).
    guard isPrimary, height == committedHeight + 1, slots[height]?.prePrepare == nil, let block = built,
      block.header.height == height, block.header.previousHash == committedHeader.hash
    else { return maybePropose(&actions) }
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

  /// Guards shared by pre-prepares and votes: the chain, and the one height in progress.
  mutating func admitsHeight(
    _ statement: VoteStatement, from sender: PublicKey, _ actions: inout [ReplicaAction]
  ) -> Bool {
    guard statement.chainId == configuration.chainId else {
      drop(.wrongChain)
      return false
    }
    guard statement.height > committedHeight else {
      drop(.stale)
      return false
    }
    guard statement.height == committedHeight + 1 else {
      if statement.phase == .commit { requestStateIfBehind(target: statement.height, from: sender, &actions) }
      drop(.outsideWindow)
      return false
    }
    return true
  }

  mutating func onPrePrepare(_ prePrepare: PrePrepare, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    let vote = prePrepare.primaryVote
    let statement = vote.statement
    let height = prePrepare.height
    let hash = prePrepare.block.header.hash
    guard prePrepare.block.header.chainId == configuration.chainId else { return drop(.wrongChain) }
    guard statement.phase == .prepare, statement.height == height, statement.blockHash == hash else {
      return drop(.malformed)
    }
    guard admitsHeight(statement, from: sender, &actions), let set = workingSet else { return }
    guard viewChangeTarget == nil, prePrepare.view == view else { return drop(.wrongView) }
    guard sender == Self.primary(of: view, in: set), vote.voter == sender else { return drop(.notFromPrimary) }
    guard prePrepare.block.transactions.count <= configuration.blockTransactionCountMax else { return drop(.tooLarge) }
    if let existing = slots[height]?.prePrepare ?? validating {
      if existing.block.header.hash != hash { noteEquivocation(existing.primaryVote, vote) }
      return
    }
    guard verifier.verify(vote.signature, digest: statement.signingDigest, by: sender) else {
      return drop(.badSignature)
    }
    guard prePrepare.block.header.previousHash == committedHeader.hash else { return drop(.invalidBlock) }
    validating = prePrepare
    actions.append(.validateBlock(prePrepare.block, parent: committedHeader, validators: set))
  }

  /// The host's verdict on the pre-prepare being validated: vote for it if it
  /// is valid and still the one to vote on (no view change or commit since).
  mutating func onBlockValidated(_ blockHash: Hash256, valid: Bool, _ actions: inout [ReplicaAction]) {
    guard let prePrepare = validating, prePrepare.block.header.hash == blockHash else { return }
    validating = nil
    let height = prePrepare.height
    let hash = blockHash
    guard viewChangeTarget == nil, prePrepare.view == view, height == committedHeight + 1, isVoting,
      slots[height]?.prePrepare == nil
    else { return }
    guard valid else { return drop(.invalidBlock) }
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
    guard admitsHeight(statement, from: sender, &actions) else { return }
    guard viewChangeTarget == nil, statement.view == view else { return drop(.wrongView) }
    let height = statement.height
    let hash = statement.blockHash
    // One vote per (sender, phase, view, height): the first is kept; another
    // for a different block is evidence, never a second entry.
    if let earlier = slots[height]?.vote(of: sender, statement.phase) {
      if earlier.statement.blockHash != hash,
        verifier.verify(vote.signature, digest: statement.signingDigest, by: sender)
      {
        noteEquivocation(earlier, vote)
      }
      return
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

  mutating func noteEquivocation(_ first: Vote, _ second: Vote) {
    drop(.equivocation)
    equivocationCount += 1
    if equivocationEvidence.count < Self.evidenceCountMax {
      equivocationEvidence.append(EquivocationEvidence(first: first, second: second))
    }
  }

  /// Prepared (§4.2): the pre-prepare and a quorum of matching prepares. Then commit.
  mutating func tryPrepare(_ height: UInt64, _ actions: inout [ReplicaAction]) {
    guard var slot = slots[height], !slot.prepared, let prePrepare = slot.prePrepare, let set = workingSet else {
      return
    }
    let hash = prePrepare.block.header.hash
    guard let votes = slot.prepares[hash], votes.count >= set.quorum else { return }
    slot.prepared = true
    slots[height] = slot
    preparedCertificates[height] = PreparedCertificate(
      prePrepare: prePrepare,
      prepares: votes.values.sorted { $0.voter < $1.voter }.prefix(set.quorum).map { $0 })
    if let commit = safety.vote(.commit, view: view, height: height, blockHash: hash) {
      slots[height]!.commits[hash, default: [:]][me] = commit
      ownMessages.append(.vote(commit))
      actions.append(.persist(.vote(commit), then: [.broadcast(.vote(commit))]))
    }
    tryCommit(height, &actions)
  }

  /// Committed-local (§4.2): prepared and a quorum of matching commits. Deliver.
  mutating func tryCommit(_ height: UInt64, _ actions: inout [ReplicaAction]) {
    guard let slot = slots[height], !slot.committedLocally, let set = workingSet else { return }
    let quorum = commitQuorum(set)
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
    let certificate = CommitCertificate(
      chainId: configuration.chainId, height: height, view: view, blockHash: hash,
      signatures: votes.values.sorted { $0.voter < $1.voter }.prefix(quorum).map {
        VoterSignature(voter: $0.voter, signature: $0.signature)
      })
    finishCommit(CommittedBlock(block: prePrepare.block, certificate: certificate), &actions)
  }

  /// Records a committed block as the new head and hands it to the ledger.
  mutating func finishCommit(_ committed: CommittedBlock, _ actions: inout [ReplicaAction]) {
    let height = committed.block.header.height
    precondition(height == committedHeight + 1, "blocks are delivered in height order")
    precondition(committed.block.header.previousHash == committedHeader.hash, "a delivered block extends the chain")
    precondition(validatorEpochs.knownThroughHeight == height, "a block is decided only under a known set")
    committedHeight = height
    committedHeader = committed.block.header
    committedCertificate = committed.certificate
    slots.removeValue(forKey: height)
    preparedCertificates = preparedCertificates.filter { $0.key > height }
    proposalRequestedHeight = nil
    buildingHeight = nil
    validating = nil
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
    ticksSinceCatchUpPoll += 1
    pollForBlocks(&actions)
    // Only a voter's timer can start a view change; a follower waits for blocks.
    guard let set = workingSet, isVoting else {
      ticksWithoutProgress = 0
      return
    }
    let workPending = transactionsPending || !slots.isEmpty || viewChangeTarget != nil
    if workPending { ticksWithoutProgress += 1 } else { ticksWithoutProgress = 0 }
    // §4.5.2: the timer for the next view starts only once a quorum wants
    // this one. Without a quorum, escalating by one would keep a replica that
    // is one view ahead (say, restarted from a WAL that asked for more) ahead
    // forever, the others unable to reach it. So after four timeouts a
    // replica without a quorum joins the highest view a validator asks for,
    // and the one that asks for the highest waits for the others.
    var timeoutTicks = viewChangeTimeoutTicks
    let lacksQuorum = viewChangeTarget.map { (viewChanges[$0]?.keys.count { set.contains($0) } ?? 0) < set.quorum }
    if lacksQuorum == true { timeoutTicks *= 4 }
    if ticksWithoutProgress >= timeoutTicks {
      ticksWithoutProgress = 0
      viewChangeAttempts += 1
      if let target = viewChangeTarget, lacksQuorum == true {
        let highest = viewChanges.filter { $0.key > target && $0.value.keys.contains(where: set.contains) }.keys.max()
        if let highest { startViewChange(to: highest, &actions) }
      } else {
        startViewChange(to: (viewChangeTarget ?? view) + 1, &actions)
      }
    }
    if ticksSinceResend >= configuration.resendIntervalTicks {
      ticksSinceResend = 0
      // Messages get lost; PBFT assumes retransmission. Resending signed messages signs nothing new.
      for message in ownMessages { actions.append(.broadcast(message)) }
    }
    maybePropose(&actions)
  }

  /// Blocks are pushed to followers at each commit and validators learn of
  /// new heights from votes; this slow poll covers a replica that missed
  /// them (a restart, a partition, a quiet network). It asks the validators
  /// of the latest known set in turn.
  mutating func pollForBlocks(_ actions: inout [ReplicaAction]) {
    let interval = isVoting ? configuration.catchUpPollTicks : configuration.catchUpPollTicks / 2
    guard ticksSinceCatchUpPoll >= interval else { return }
    ticksSinceCatchUpPoll = 0
    let others = broadcastSet.validators.map(\.nodeKey).filter { $0 != me }
    guard !others.isEmpty else { return }
    catchUpPolls += 1
    actions.append(.send(.blockRequest(fromHeight: committedHeight + 1), to: others[catchUpPolls % others.count]))
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
    guard heldBlocks.isEmpty else { return }  // one transfer at a time; the held one resumes when its set is known
    applyTransferred(blocks[...], from: sender, &actions)
    if blocks.count == ReplicaConfiguration.blocksPerResponseMax, heldBlocks.isEmpty {
      ticksSinceStateRequest = Int.max / 2
      requestStateIfBehind(target: committedHeight + 2, from: sender, &actions, force: true)
    }
  }

  /// Takes certified blocks in order, each checked against the set in force
  /// at its height; stops at a height whose set is not known yet and keeps
  /// the rest until the host applies the block below it.
  mutating func applyTransferred(
    _ blocks: ArraySlice<CommittedBlock>, from sender: PublicKey, _ actions: inout [ReplicaAction]
  ) {
    for (offset, committed) in zip(blocks.indices, blocks) {
      let header = committed.block.header
      guard header.height > committedHeight else { continue }
      guard header.height == committedHeight + 1, header.previousHash == committedHeader.hash else {
        return drop(.unchainedBlocks)
      }
      guard let set = validators(at: header.height) else {
        heldBlocks = Array(blocks[offset...])
        heldBlocksSender = sender
        return
      }
      guard committed.certificate.blockHash == header.hash, committed.certificate.height == header.height,
        committed.certificate.isValid(
          chainId: configuration.chainId, validators: set, verifier: verifier, quorum: commitQuorum(set)),
        committed.block.transactions.count == Int(header.transactionCount),
        header.transactionsRoot == committed.block.transactionsRoot
      else { return drop(.badSignature) }
      finishCommit(committed, &actions)
      // The certificate proves a quorum reached its view: a replica that was
      // behind (or just joined) goes there, instead of waiting for the next view change.
      if committed.certificate.view > view, (viewChangeTarget ?? 0) <= committed.certificate.view {
        view = committed.certificate.view
        viewChangeTarget = nil
        viewChanges = viewChanges.filter { $0.key > view }
        ownMessages.removeAll { if case .viewChange = $0 { true } else { false } }
      }
    }
  }
}
