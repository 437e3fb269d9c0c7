public import Ledger

/// View change (Castro & Liskov §4.4–4.5): leaving a view whose primary makes
/// no progress, and starting the next one without losing a block that may
/// have committed.
extension Replica {
  /// A view-change proves at most one prepared height: a replica prepares
  /// height h + 1 only after committing h. One more is tolerated from WALs of older versions.
  static var viewChangePreparedCountMax: Int { 2 }

  mutating func startViewChange(to target: UInt64, _ actions: inout [ReplicaAction]) {
    precondition(target > view, "view changes only move forward")
    precondition(isVoting, "only a validator of the next height asks to change views")
    viewChangeTarget = target
    // The P set: prepared certificates for consecutive heights above the committed one.
    var prepared: [PreparedCertificate] = []
    var height = committedHeight + 1
    while let certificate = preparedCertificates[height] {
      prepared.append(certificate)
      height += 1
    }
    let viewChange = safety.viewChange(
      newView: target, committedHeight: committedHeight, committedCertificate: committedCertificate, prepared: prepared)
    slots = [:]
    proposalRequestedHeight = nil
    buildingHeight = nil
    validating = nil
    ownMessages = [.viewChange(viewChange)]
    viewChanges[target, default: [:]][me] = viewChange
    actions.append(.persist(.viewChange(viewChange), then: [.broadcast(.viewChange(viewChange))]))
    tryNewView(target, &actions)
  }

  /// Checks a view-change's signature and every certificate it carries, each
  /// against the set in force at its height. The sender is a validator of
  /// this replica's next height (checked before).
  func isValid(_ viewChange: ViewChange) -> Bool {
    let digest = viewChange.signingDigest(chainId: configuration.chainId)
    guard verifier.verify(viewChange.signature, digest: digest, by: viewChange.replica),
      viewChange.prepared.count <= Self.viewChangePreparedCountMax
    else { return false }
    if viewChange.committedHeight > 0 {
      guard let certificate = viewChange.committedCertificate, certificate.height == viewChange.committedHeight,
        let set = validators(at: certificate.height),
        certificate.isValid(
          chainId: configuration.chainId, validators: set, verifier: verifier, quorum: commitQuorum(set))
      else { return false }
    }
    var expectedHeight = viewChange.committedHeight + 1
    for certificate in viewChange.prepared {
      guard certificate.height == expectedHeight, certificate.view < viewChange.newView, isValid(certificate) else {
        return false
      }
      expectedHeight += 1
    }
    return true
  }

  func isValid(_ certificate: PreparedCertificate) -> Bool {
    guard let set = validators(at: certificate.height) else { return false }
    let primaryVote = certificate.prePrepare.primaryVote
    guard primaryVote.voter == Self.primary(of: certificate.view, in: set), certificate.prepares.count <= set.count,
      isValidPrepare(primaryVote, for: certificate, set: set)
    else { return false }
    var voters = Set<PublicKey>()
    for vote in certificate.prepares {
      guard isValidPrepare(vote, for: certificate, set: set) else { return false }
      voters.insert(vote.voter)
    }
    return voters.count >= set.quorum
  }

  func isValidPrepare(_ vote: Vote, for certificate: PreparedCertificate, set: ValidatorSet) -> Bool {
    let statement = vote.statement
    return statement.phase == .prepare && statement.chainId == configuration.chainId
      && statement.view == certificate.view && statement.height == certificate.height
      && statement.blockHash == certificate.blockHash && set.contains(vote.voter)
      && verifier.verify(vote.signature, digest: statement.signingDigest, by: vote.voter)
  }

  /// A view-change from a replica that committed more than this one knows the
  /// sets of: fetch the blocks first, then its certificates can be checked.
  mutating func isAhead(_ viewChange: ViewChange, from sender: PublicKey, _ actions: inout [ReplicaAction]) -> Bool {
    guard viewChange.committedHeight >= validatorEpochs.knownThroughHeight else { return false }
    requestStateIfBehind(target: viewChange.committedHeight + 1, from: sender, &actions, force: true)
    return true
  }

  mutating func onViewChange(_ viewChange: ViewChange, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    let target = viewChange.newView
    guard viewChange.replica == sender else { return drop(.malformed) }
    guard target > view, target <= view + Self.viewChangeHorizon else { return drop(.wrongView) }
    if viewChanges[target]?[sender] != nil { return }
    if isAhead(viewChange, from: sender, &actions) { return drop(.outsideWindow) }
    guard isValid(viewChange) else { return drop(.invalidViewChange) }
    viewChanges[target, default: [:]][sender] = viewChange
    if viewChange.committedHeight > committedHeight {
      requestStateIfBehind(target: viewChange.committedHeight + 1, from: sender, &actions, force: true)
    }
    // §4.5.2: when f + 1 replicas want a higher view, at least one honest one
    // does. Join the highest view that f + 1 of them have reached, so replicas
    // whose timers fired at different times converge instead of chasing each other.
    guard let set = workingSet else { return }
    let current = viewChangeTarget ?? view
    var latestBySender: [PublicKey: UInt64] = [:]
    for (wanted, senders) in viewChanges where wanted > current {
      for sender in senders.keys where sender != me && set.contains(sender) {
        latestBySender[sender] = max(latestBySender[sender] ?? 0, wanted)
      }
    }
    let weakQuorum = set.faultsTolerated + 1
    let latest = latestBySender.values.sorted(by: >)
    if latest.count >= weakQuorum, latest[weakQuorum - 1] > current {
      startViewChange(to: latest[weakQuorum - 1], &actions)
    }
    tryNewView(target, &actions)
  }

  /// The new primary, with a quorum of view-changes from the validators of
  /// the next height, starts the view. (Every view-change it counted was
  /// checkable here, so none proves a height above its own head.)
  mutating func tryNewView(_ target: UInt64, _ actions: inout [ReplicaAction]) {
    guard viewChangeTarget == target, let set = workingSet, Self.primary(of: target, in: set) == me,
      let received = viewChanges[target]?.filter({ set.contains($0.key) }), received.count >= set.quorum
    else { return }
    let chosen = received.values.sorted { $0.replica < $1.replica }.prefix(set.quorum).map { $0 }
    let plan = Self.reproposals(from: chosen)
    guard plan.committedHeight <= committedHeight else { return }
    var prePrepares: [PrePrepare] = []
    for certificate in plan.certificates {
      guard let vote = safety.vote(.prepare, view: target, height: certificate.height, blockHash: certificate.blockHash)
      else { break }
      prePrepares.append(PrePrepare(block: certificate.prePrepare.block, primaryVote: vote))
    }
    let newView = NewView(view: target, viewChanges: chosen, prePrepares: prePrepares)
    let announce: [ReplicaAction] = [.broadcast(.newView(newView))]
    actions.append(prePrepares.reversed().reduce(announce) { [.persist(.prePrepare($1), then: $0)] }.first!)
    enterView(newView, plan: plan, &actions)
    ownMessages.append(.newView(newView))
  }

  mutating func onNewView(_ newView: NewView, from sender: PublicKey, _ actions: inout [ReplicaAction]) {
    guard let set = workingSet else { return }
    guard sender == Self.primary(of: newView.view, in: set) else { return drop(.notFromPrimary) }
    guard newView.view > view, newView.view <= view + Self.viewChangeHorizon, newView.view >= safety.viewFloor else {
      return drop(.wrongView)
    }
    if newView.viewChanges.contains(where: { isAhead($0, from: sender, &actions) }) { return drop(.outsideWindow) }
    guard newView.viewChanges.count >= set.quorum,
      Set(newView.viewChanges.map(\.replica)).count == newView.viewChanges.count,
      newView.viewChanges.allSatisfy({ $0.newView == newView.view && set.contains($0.replica) && isValid($0) })
    else { return drop(.invalidNewView) }
    // Recompute what the primary had to re-propose: it has no choice.
    let plan = Self.reproposals(from: newView.viewChanges)
    guard plan.certificates.count == newView.prePrepares.count,
      zip(plan.certificates, newView.prePrepares).allSatisfy({ certificate, prePrepare in
        let statement = prePrepare.primaryVote.statement
        return prePrepare.block == certificate.prePrepare.block && prePrepare.primaryVote.voter == sender
          && statement.phase == .prepare && statement.view == newView.view && statement.height == certificate.height
          && statement.blockHash == certificate.blockHash && statement.chainId == configuration.chainId
          && verifier.verify(prePrepare.primaryVote.signature, digest: statement.signingDigest, by: sender)
      })
    else { return drop(.invalidNewView) }
    // Nothing below this view will be signed again, across a restart too:
    // the accepted new-view goes to the WAL before anything is voted in it.
    safety.enter(view: newView.view)
    actions.append(.persist(.enteredView(newView), then: []))
    enterView(newView, plan: plan, &actions)
    for prePrepare in newView.prePrepares where prePrepare.height > committedHeight {
      onPrePrepare(prePrepare, from: sender, &actions)
    }
  }

  mutating func enterView(_ newView: NewView, plan: Reproposals, _ actions: inout [ReplicaAction]) {
    view = newView.view
    viewChangeTarget = nil
    slots = [:]
    proposalRequestedHeight = nil
    buildingHeight = nil
    validating = nil
    ownMessages = []
    ticksWithoutProgress = 0
    viewChanges = viewChanges.filter { $0.key > view }
    if plan.committedHeight > committedHeight, let source = plan.committedSource {
      requestStateIfBehind(target: plan.committedHeight + 1, from: source, &actions, force: true)
    }
    if primary(of: view) == me {
      for prePrepare in newView.prePrepares where prePrepare.height == committedHeight + 1 { accept(prePrepare) }
    }
    maybePropose(&actions)
  }

  /// What a new view must re-propose, decided only by the view-changes, so the
  /// primary and every backup compute the same answer.
  public struct Reproposals: Sendable {
    /// The highest committed height any view-change proves, and who proved it.
    public let committedHeight: UInt64
    public let committedSource: PublicKey?
    /// For each height above it, the prepared certificate of the highest view,
    /// consecutive and each block extending the one before.
    public let certificates: [PreparedCertificate]
  }

  public static func reproposals(from viewChanges: [ViewChange]) -> Reproposals {
    let top = viewChanges.max { ($0.committedHeight, $1.replica) < ($1.committedHeight, $0.replica) }
    let committedHeight = top?.committedHeight ?? 0
    var best: [UInt64: PreparedCertificate] = [:]
    for viewChange in viewChanges {
      for certificate in viewChange.prepared where certificate.height > committedHeight {
        if let current = best[certificate.height],
          (current.view, current.blockHash) >= (certificate.view, certificate.blockHash)
        {
          continue
        }
        best[certificate.height] = certificate
      }
    }
    var chosen: [PreparedCertificate] = []
    var previousHash = top?.committedCertificate?.blockHash
    var height = committedHeight + 1
    while let certificate = best[height] {
      if let previousHash, certificate.prePrepare.block.header.previousHash != previousHash { break }
      chosen.append(certificate)
      previousHash = certificate.blockHash
      height += 1
    }
    return Reproposals(committedHeight: committedHeight, committedSource: top?.replica, certificates: chosen)
  }
}
