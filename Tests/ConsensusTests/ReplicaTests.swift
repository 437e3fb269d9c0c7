import Consensus
import Ledger
import Testing

/// Single-replica checks of the protocol's rules, citing Castro & Liskov (OSDI '99).
@Suite("PBFT replica")
struct ReplicaTests {
  typealias TestReplica = Replica<SimulatedVerifier>
  static let chainId = "replica-test"
  static let keys = (0..<4).map { PublicKey(rawValue: SHA256.hash(Array("replica-\($0)".utf8))) }
  static let validators = ValidatorSet(keys.enumerated().map { Validator(nodeKey: $1, bureauId: "B\($0)") })
  static let ordered = validators.validators.map(\.nodeKey)
  static let executor = SimulatedExecutor()
  static let genesis = SimulatedExecutor.genesis(chainId: chainId, validatorSetHash: validators.hash)

  static func replica(_ key: PublicKey, wal: [WALRecord] = []) -> TestReplica {
    TestReplica(
      configuration: ReplicaConfiguration(chainId: chainId), signer: SimulatedSigner(publicKey: key),
      verifier: SimulatedVerifier(),
      validators: ValidatorEpochs([(1, validators)], knownThroughHeight: 1), committedHeader: genesis,
      committedCertificate: nil, wal: wal)
  }

  static func transactions(_ tag: String) -> [SignedTransaction] {
    [
      SignedTransaction(
        body: TransactionBody(
          chainId: chainId, signer: keys[0], sequence: 0,
          payload: .revokeGrant(Retirement(bureauId: "B0", recordId: tag, reason: ""))),
        signatures: [])
    ]
  }

  static func prePrepare(by primary: PublicKey, view: UInt64 = 0, tag: String = "a") -> PrePrepare {
    let block = executor.buildBlock(
      on: genesis, height: 1, transactions: transactions(tag), proposer: primary, validators: validators)!
    let statement = VoteStatement(
      phase: .prepare, chainId: chainId, height: 1, view: view, blockHash: block.header.hash)
    let vote = Vote(
      statement: statement, voter: primary,
      signature: SimulatedSigner(publicKey: primary).sign(digest: statement.signingDigest))
    return PrePrepare(block: block, primaryVote: vote)
  }

  static func broadcasts(_ actions: [ReplicaAction]) -> [ConsensusMessage] {
    performed(actions).compactMap { if case .broadcast(let message) = $0 { message } else { nil } }
  }

  @Test("§4.2: a backup accepts the primary's pre-prepare, persists its prepare before sending it")
  func backupPrepares() {
    var backup = Self.replica(Self.ordered[1])
    let actions = stepAsHost(&backup, .message(.prePrepare(Self.prePrepare(by: Self.ordered[0])), from: Self.ordered[0]))
    guard case .persist(.vote(let vote), let then)? = actions.first else {
      Issue.record("expected persist-then-send, got \(actions)")
      return
    }
    #expect(vote.statement.phase == .prepare && vote.statement.height == 1)
    #expect(then == [.broadcast(.vote(vote))])
  }

  @Test("§4.2: execution is an action: a backup asks its host to validate, and votes only on a valid verdict")
  func validationIsAnEffect() {
    var backup = Self.replica(Self.ordered[1])
    let prePrepare = Self.prePrepare(by: Self.ordered[0])
    let asked = backup.step(.message(.prePrepare(prePrepare), from: Self.ordered[0]))
    guard case .validateBlock(let block, let parent, let set)? = asked.first, asked.count == 1 else {
      Issue.record("expected one validateBlock, got \(asked)")
      return
    }
    #expect(block == prePrepare.block && parent == Self.genesis && set == Self.validators)
    // The same pre-prepare again while it is validated asks nothing more.
    #expect(backup.step(.message(.prePrepare(prePrepare), from: Self.ordered[0])).isEmpty)
    // A verdict for another block is ignored; an invalid verdict drops it.
    #expect(backup.step(.blockValidated(blockHash: SHA256.hash([7]), valid: true)).isEmpty)
    #expect(backup.step(.blockValidated(blockHash: block.header.hash, valid: false)).isEmpty)
    #expect(backup.dropped[.invalidBlock] == 1)
    backup.checkInvariants()
    // Sent again and found valid, it is voted for.
    _ = backup.step(.message(.prePrepare(prePrepare), from: Self.ordered[0]))
    let voted = backup.step(.blockValidated(blockHash: block.header.hash, valid: true))
    #expect(Self.broadcasts(voted).count == 1)
  }

  @Test("§4.2: pre-prepares from a non-primary, forged votes and far-future heights are dropped and counted")
  func dropsBadMessages() {
    var backup = Self.replica(Self.ordered[1])
    #expect(stepAsHost(&backup, .message(.prePrepare(Self.prePrepare(by: Self.ordered[2])), from: Self.ordered[2])).isEmpty)
    #expect(backup.dropped[.notFromPrimary] == 1)
    let genuine = Self.prePrepare(by: Self.ordered[0])
    let forged = PrePrepare(
      block: genuine.block,
      primaryVote: Vote(
        statement: genuine.primaryVote.statement, voter: Self.ordered[0], signature: Signature(r: .zero, s: .zero)))
    #expect(stepAsHost(&backup, .message(.prePrepare(forged), from: Self.ordered[0])).isEmpty)
    #expect(backup.dropped[.badSignature] == 1)
    let stranger = PublicKey(rawValue: SHA256.hash([9]))
    #expect(stepAsHost(&backup, .message(.prePrepare(genuine), from: stranger)).isEmpty)
    #expect(backup.dropped[.notAValidator] == 1)
  }

  @Test("§4.2: a second, different pre-prepare for the same height and view is equivocation and is dropped")
  func equivocation() {
    var backup = Self.replica(Self.ordered[1])
    _ = stepAsHost(&backup, .message(.prePrepare(Self.prePrepare(by: Self.ordered[0], tag: "a")), from: Self.ordered[0]))
    let second = stepAsHost(&backup, 
      .message(.prePrepare(Self.prePrepare(by: Self.ordered[0], tag: "b")), from: Self.ordered[0]))
    #expect(Self.broadcasts(second).isEmpty)
    #expect(backup.dropped[.equivocation] == 1)
  }

  @Test("after a restart from its WAL, a replica never prepares a different block for a slot it voted in")
  func walPreventsConflictingVote() {
    var backup = Self.replica(Self.ordered[1])
    var wal: [WALRecord] = []
    for action in stepAsHost(&backup, 
      .message(.prePrepare(Self.prePrepare(by: Self.ordered[0], tag: "a")), from: Self.ordered[0]))
    {
      if case .persist(let record, _) = action { wal.append(record) }
    }
    #expect(wal.count == 1)
    var restarted = Self.replica(Self.ordered[1], wal: wal)
    let actions = stepAsHost(&restarted, 
      .message(.prePrepare(Self.prePrepare(by: Self.ordered[0], tag: "b")), from: Self.ordered[0]))
    #expect(Self.broadcasts(actions).isEmpty, "signed a second prepare for (view 0, height 1)")
  }

  @Test("safety rules: one vote per (phase, view, height), none below a view it asked to leave")
  func safetyRules() {
    var rules = SafetyRules(signer: SimulatedSigner(publicKey: Self.keys[0]), chainId: Self.chainId)
    let first = rules.vote(.prepare, view: 0, height: 1, blockHash: SHA256.hash([1]))
    #expect(first != nil)
    #expect(rules.vote(.prepare, view: 0, height: 1, blockHash: SHA256.hash([1])) == first)
    #expect(rules.vote(.prepare, view: 0, height: 1, blockHash: SHA256.hash([2])) == nil)
    #expect(rules.vote(.commit, view: 0, height: 1, blockHash: SHA256.hash([1])) != nil)
    _ = rules.viewChange(newView: 3, committedHeight: 0, committedCertificate: nil, prepared: [])
    #expect(rules.vote(.prepare, view: 2, height: 2, blockHash: SHA256.hash([3])) == nil)
    #expect(rules.vote(.prepare, view: 3, height: 2, blockHash: SHA256.hash([3])) != nil)
  }

  @Test("§4.4: the new view re-proposes the highest-view prepared block; a tampered new-view is refused")
  func newViewSelection() {
    // Height 1 prepared in view 0 (block a); the new view must re-propose it.
    let prePrepare = Self.prePrepare(by: Self.ordered[0], tag: "a")
    let hash = prePrepare.block.header.hash
    let prepares = Self.ordered.prefix(3).map { key -> Vote in
      let statement = VoteStatement(phase: .prepare, chainId: Self.chainId, height: 1, view: 0, blockHash: hash)
      return Vote(
        statement: statement, voter: key,
        signature: SimulatedSigner(publicKey: key).sign(digest: statement.signingDigest))
    }
    let prepared = PreparedCertificate(prePrepare: prePrepare, prepares: prepares)
    let viewChanges = Self.ordered.prefix(3).map { key in
      var rules = SafetyRules(signer: SimulatedSigner(publicKey: key), chainId: Self.chainId)
      return rules.viewChange(
        newView: 1, committedHeight: 0, committedCertificate: nil, prepared: key == Self.ordered[2] ? [prepared] : [])
    }
    let plan = TestReplica.reproposals(from: viewChanges)
    #expect(plan.certificates.map(\.blockHash) == [hash])

    let newPrimary = Self.ordered[1]
    var signer = SafetyRules(signer: SimulatedSigner(publicKey: newPrimary), chainId: Self.chainId)
    let other = Self.prePrepare(by: Self.ordered[0], tag: "evil").block
    let vote = signer.vote(.prepare, view: 1, height: 1, blockHash: other.header.hash)!
    let tampered = NewView(
      view: 1, viewChanges: viewChanges, prePrepares: [PrePrepare(block: other, primaryVote: vote)])
    var backup = Self.replica(Self.ordered[3])
    _ = stepAsHost(&backup, .message(.newView(tampered), from: newPrimary))
    #expect(backup.dropped[.invalidNewView] == 1)
    #expect(backup.view == 0)
  }
}
