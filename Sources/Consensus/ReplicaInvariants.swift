public import Ledger

extension Replica {
  /// Traps on a broken local invariant (a bug here, never bad input). The
  /// simulator calls it after every step; it is cheap enough for tests, and
  /// not called by the node.
  public func checkInvariants() {
    safety.checkInvariants()
    precondition(committedHeader.height == committedHeight, "the head is the committed height")
    precondition(committedCertificate?.height ?? 0 == committedHeight, "the head's certificate is for the head")
    let known = validatorEpochs.knownThroughHeight
    precondition(
      known == committedHeight || known == committedHeight + 1,
      "sets known through \(known) at committed height \(committedHeight): at most the head awaits its application")
    precondition(slots.keys.allSatisfy { $0 == committedHeight + 1 }, "slots only for the one height in progress")
    precondition(viewChangeTarget.map { $0 > view } ?? true, "a view change targets a later view")
    precondition(heldMessages.count <= ReplicaConfiguration.heldMessageCountMax, "held messages are bounded")
    precondition(heldBlocks.count <= ReplicaConfiguration.blocksPerResponseMax, "held blocks are bounded")
    precondition(heldMessages.isEmpty || workingSet == nil, "messages are held only while the set is unknown")
    if let validating {
      precondition(
        validating.height == committedHeight + 1 && validating.view == view && viewChangeTarget == nil,
        "the pre-prepare under validation is for the next height in this view")
      precondition(slots[validating.height]?.prePrepare == nil, "a validated pre-prepare leaves validation")
    }
    precondition(buildingHeight.map { $0 == committedHeight + 1 } ?? true, "a block is built only for the next height")
    for (height, slot) in slots {
      // One pre-prepare per height: a slot holds one, and it is for its height.
      if let prePrepare = slot.prePrepare {
        precondition(prePrepare.height == height && prePrepare.view == view, "a slot's pre-prepare is for it")
      }
      for phase in [VotePhase.prepare, .commit] {
        for votes in (phase == .prepare ? slot.prepares : slot.commits).values {
          for (voter, vote) in votes {
            precondition(vote.voter == voter && vote.statement.height == height, "a vote sits under its voter")
            if voter == me, slot.prePrepare?.primaryVote != vote {
              precondition(safety.signed(vote), "every own vote is in signedVotes")
            }
          }
        }
        var seen = Set<PublicKey>()
        for votes in (phase == .prepare ? slot.prepares : slot.commits).values {
          for voter in votes.keys { precondition(seen.insert(voter).inserted, "one vote per voter and phase") }
        }
      }
    }
    // The delivered chain names the set this replica decided it with.
    if committedHeight > 0, let set = validators(at: committedHeight),
      configuration.validatorSetLagHeightsForTesting == 0
    {
      precondition(
        committedHeader.validatorSetHash == set.hash, "the head at \(committedHeight) names the set in force there")
    }
  }
}
