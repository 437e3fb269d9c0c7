public import Ledger

/// What a replica writes to its write-ahead log before anything it signed
/// leaves it. Replaying these after a restart restores `SafetyRules`, so a
/// restarted validator never signs a conflicting vote for a slot it voted in.
public enum WALRecord: Hashable, Sendable {
  case prePrepare(PrePrepare)
  case vote(Vote)
  case viewChange(ViewChange)
  /// A new view this replica accepted: nothing below it is signed again, and
  /// a restart comes back in it.
  case enteredView(NewView)
}

extension WALRecord {
  /// What a restart needs of `records`: what was signed above the committed
  /// height, and the view floor (the latest view-change and the latest view
  /// entered), in their order.
  public static func compacted(_ records: [WALRecord], committedHeight: UInt64) -> [WALRecord] {
    var latestViewChange: WALRecord?
    var latestEnteredView: WALRecord?
    var kept: [WALRecord] = []
    for record in records {
      switch record {
      case .viewChange(let viewChange):
        if case .viewChange(let latest) = latestViewChange, latest.newView > viewChange.newView { continue }
        latestViewChange = record
      case .enteredView(let newView):
        if case .enteredView(let latest) = latestEnteredView, latest.view > newView.view { continue }
        latestEnteredView = record
      case .prePrepare(let prePrepare):
        if prePrepare.height > committedHeight { kept.append(record) }
      case .vote(let vote):
        if vote.statement.height > committedHeight { kept.append(record) }
      }
    }
    return [latestViewChange, latestEnteredView].compactMap { $0 } + kept
  }
}

/// The only holder of the validator key (Aptos safety-rules style). It signs
/// a vote only if it never signed a different block for the same
/// (phase, view, height), and never for a view below one it asked to leave.
/// Every signature comes back with the WAL record the caller must persist
/// before sending.
public struct SafetyRules: Sendable {
  struct Slot: Hashable, Sendable {
    let phase: VotePhase
    let view: UInt64
    let height: UInt64
  }

  private let signer: any ConsensusSigner
  let chainId: String
  /// Invariant: one signed vote per slot; pruned only below the committed height.
  private(set) var signedVotes: [Slot: Vote] = [:]
  /// Invariant: no vote is signed for a view below this (the highest view-change sent).
  private(set) var viewFloor: UInt64 = 0

  public init(signer: any ConsensusSigner, chainId: String) {
    self.signer = signer
    self.chainId = chainId
  }

  public var publicKey: PublicKey { signer.publicKey }

  /// Restores what was signed before a restart.
  public mutating func replay(_ records: [WALRecord]) {
    for record in records {
      switch record {
      case .prePrepare(let prePrepare): remember(prePrepare.primaryVote)
      case .vote(let vote): remember(vote)
      case .viewChange(let viewChange): viewFloor = max(viewFloor, viewChange.newView)
      case .enteredView(let newView): viewFloor = max(viewFloor, newView.view)
      }
    }
  }

  private mutating func remember(_ vote: Vote) {
    let statement = vote.statement
    signedVotes[Slot(phase: statement.phase, view: statement.view, height: statement.height)] = vote
  }

  /// A vote for `blockHash`, or nil when signing it could contradict an earlier signature.
  public mutating func vote(_ phase: VotePhase, view: UInt64, height: UInt64, blockHash: Hash256) -> Vote? {
    guard view >= viewFloor else { return nil }
    let slot = Slot(phase: phase, view: view, height: height)
    if let earlier = signedVotes[slot] {
      return earlier.statement.blockHash == blockHash ? earlier : nil
    }
    let statement = VoteStatement(phase: phase, chainId: chainId, height: height, view: view, blockHash: blockHash)
    let vote = Vote(
      statement: statement, voter: signer.publicKey, signature: signer.sign(digest: statement.signingDigest))
    signedVotes[slot] = vote
    return vote
  }

  /// Signs a request to move to `newView`; afterwards no vote below it is signed.
  public mutating func viewChange(
    newView: UInt64, committedHeight: UInt64, committedCertificate: CommitCertificate?, prepared: [PreparedCertificate]
  ) -> ViewChange {
    viewFloor = max(viewFloor, newView)
    let digest = ViewChange.signingDigest(
      chainId: chainId, newView: newView, replica: signer.publicKey, committedHeight: committedHeight,
      committedBlockHash: committedCertificate?.blockHash, prepared: prepared)
    return ViewChange(
      newView: newView, replica: signer.publicKey, committedHeight: committedHeight,
      committedCertificate: committedCertificate, prepared: prepared, signature: signer.sign(digest: digest))
  }

  /// Entering `view` (its new-view accepted): nothing below it is signed again.
  /// The caller persists `WALRecord.enteredView` before voting in it.
  public mutating func enter(view: UInt64) { viewFloor = max(viewFloor, view) }

  /// Forgets slots at or below `height`: they are committed and can never be voted on again.
  public mutating func prune(throughHeight height: UInt64) {
    signedVotes = signedVotes.filter { $0.key.height > height }
  }

  /// Broken local invariants trap (they are bugs, not input): every stored
  /// vote is this replica's own, for the slot it is stored under, at or above the floor of its time.
  public func checkInvariants() {
    for (slot, vote) in signedVotes {
      precondition(vote.voter == signer.publicKey, "safety rules hold only own votes")
      precondition(
        vote.statement.phase == slot.phase && vote.statement.view == slot.view && vote.statement.height == slot.height,
        "a vote is stored under its own slot")
    }
  }

  /// Whether `vote` is the one signed for its slot.
  func signed(_ vote: Vote) -> Bool {
    let statement = vote.statement
    return signedVotes[Slot(phase: statement.phase, view: statement.view, height: statement.height)] == vote
  }
}
