import Consensus
import Ledger
import Testing

/// Single-replica checks of what the paper leaves to the implementation or
/// states without a test here: ticks and timeouts, the §4.5.2 join rule,
/// state transfer (§4.3's "fetching missing state"), restarting after a view
/// change, vote bounds, and validator-set changes (which PBFT's §4 does not
/// cover: each height is decided by the set in force at that height).
@Suite("PBFT replica: time, views, state transfer, reconfiguration")
struct ReconfigurationTests {
  typealias TestReplica = Replica<SimulatedVerifier>
  static let chainId = "reconfiguration-test"
  /// Six keys in ascending order (so keys[v % n] is view v's primary): the
  /// first four are the genesis set, the others join later.
  static let keys = (0..<6).map { PublicKey(rawValue: SHA256.hash(Array("reconfigure-\($0)".utf8))) }.sorted()
  static func set(_ indices: [Int]) -> ValidatorSet {
    ValidatorSet(indices.map { Validator(nodeKey: keys[$0], bureauId: "B\($0)") })
  }
  static let genesisSet = set([0, 1, 2, 3])
  static let grownSet = set([0, 1, 2, 3, 4])
  static let genesis = SimulatedExecutor.genesis(chainId: chainId, validatorSetHash: genesisSet.hash)

  static func replica(_ index: Int, wal: [WALRecord] = [], timeoutTicks: Int = 20) -> TestReplica {
    var configuration = ReplicaConfiguration(chainId: chainId)
    configuration.viewChangeTimeoutTicks = timeoutTicks
    return TestReplica(
      configuration: configuration, signer: SimulatedSigner(publicKey: keys[index]),
      verifier: SimulatedVerifier(), validators: ValidatorEpochs([(1, genesisSet)], knownThroughHeight: 1),
      committedHeader: genesis, committedCertificate: nil, wal: wal)
  }

  static func block(height: UInt64, on parent: BlockHeader, set: ValidatorSet, tag: String = "a") -> Block {
    let transaction = SignedTransaction(
      body: TransactionBody(
        chainId: chainId, signer: keys[0], sequence: height,
        payload: .revokeGrant(Retirement(bureauId: "B0", recordId: "\(tag)-\(height)", reason: ""))),
      signatures: [])
    return SimulatedExecutor().buildBlock(
      on: parent, height: height, transactions: [transaction], proposer: keys[0], validators: set)!
  }

  static func vote(_ index: Int, _ phase: VotePhase, view: UInt64 = 0, height: UInt64, hash: Hash256) -> Vote {
    let statement = VoteStatement(phase: phase, chainId: chainId, height: height, view: view, blockHash: hash)
    return Vote(
      statement: statement, voter: keys[index],
      signature: SimulatedSigner(publicKey: keys[index]).sign(digest: statement.signingDigest))
  }

  static func certificate(_ block: Block, by signers: [Int], view: UInt64 = 0) -> CommitCertificate {
    let hash = block.header.hash
    return CommitCertificate(
      chainId: chainId, height: block.header.height, view: view, blockHash: hash,
      signatures: signers.map {
        VoterSignature(voter: keys[$0], signature: vote($0, .commit, view: view, height: block.header.height, hash: hash).signature)
      })
  }

  static func delivered(_ actions: [ReplicaAction]) -> [CommittedBlock] {
    performed(actions).compactMap { if case .deliver(let committed) = $0 { committed } else { nil } }
  }

  static func sent(_ actions: [ReplicaAction]) -> [ConsensusMessage] {
    performed(actions).compactMap { action in
      switch action {
      case .broadcast(let message), .send(let message, _): message
      default: nil
      }
    }
  }

  static func persisted(_ actions: [ReplicaAction]) -> [WALRecord] {
    performed(actions).compactMap { if case .persist(let record, _) = $0 { record } else { nil } }
  }

  /// Drives `replica` (a backup) through height 1 in view 0 with votes from `voters`; returns what it delivered.
  static func decideHeightOne(_ replica: inout TestReplica, voters: [Int]) -> [CommittedBlock] {
    let block = block(height: 1, on: genesis, set: genesisSet)
    let hash = block.header.hash
    var actions = stepAsHost(&replica, 
      .message(
        .prePrepare(PrePrepare(block: block, primaryVote: vote(0, .prepare, height: 1, hash: hash))), from: keys[0]))
    for voter in voters where voter != 0 {
      actions += stepAsHost(&replica, .message(.vote(vote(voter, .prepare, height: 1, hash: hash)), from: keys[voter]))
    }
    for voter in voters {
      actions += stepAsHost(&replica, .message(.vote(vote(voter, .commit, height: 1, hash: hash)), from: keys[voter]))
    }
    replica.checkInvariants()
    return delivered(actions)
  }

  // MARK: Reconfiguration

  @Test("reconfiguration: the next height is decided by the set the ledger reports for it, quorum included")
  func nextHeightUsesTheNewSet() throws {
    var backup = Self.replica(1)
    let first = Self.decideHeightOne(&backup, voters: [0, 2, 3])
    #expect(first.map(\.block.header.height) == [1])
    // Block 1 scheduled key 4 from height 2: five validators, quorum 4.
    _ = stepAsHost(&backup, .blockApplied(height: 1, nextValidators: Self.grownSet))
    #expect(backup.workingSet == Self.grownSet)
    let parent = try #require(first.first).block.header
    let block = Self.block(height: 2, on: parent, set: Self.grownSet)
    let hash = block.header.hash
    let primary = Self.grownSet.validators[0].nodeKey  // view 0's primary in the new set
    let primaryIndex = Self.keys.firstIndex(of: primary)!
    var actions = stepAsHost(&backup, 
      .message(
        .prePrepare(PrePrepare(block: block, primaryVote: Self.vote(primaryIndex, .prepare, height: 2, hash: hash))),
        from: primary))
    for voter in [0, 2, 3, 4] where voter != primaryIndex {
      actions += stepAsHost(&backup, .message(.vote(Self.vote(voter, .prepare, height: 2, hash: hash)), from: Self.keys[voter]))
    }
    // The old quorum (3) of commits is not enough any more.
    for voter in [2, 3] {
      actions += stepAsHost(&backup, .message(.vote(Self.vote(voter, .commit, height: 2, hash: hash)), from: Self.keys[voter]))
    }
    #expect(Self.delivered(actions).isEmpty, "delivered on the old set's quorum")
    actions = stepAsHost(&backup, .message(.vote(Self.vote(4, .commit, height: 2, hash: hash)), from: Self.keys[4]))
    let second = Self.delivered(actions)
    #expect(second.count == 1)
    let certificate = try #require(second.first).certificate
    #expect(certificate.signatures.count == 4)
    #expect(certificate.isValid(chainId: Self.chainId, validators: Self.grownSet, verifier: SimulatedVerifier()))
    backup.checkInvariants()
  }

  @Test("reconfiguration: what arrives before the next height's set is known is held, then replayed")
  func heldUntilApplied() {
    var backup = Self.replica(1)
    let first = Self.decideHeightOne(&backup, voters: [0, 2, 3])
    let block = Self.block(height: 2, on: first[0].block.header, set: Self.genesisSet)
    let hash = block.header.hash
    let early = stepAsHost(&backup, 
      .message(
        .prePrepare(PrePrepare(block: block, primaryVote: Self.vote(0, .prepare, height: 2, hash: hash))),
        from: Self.keys[0]))
    #expect(early.isEmpty && backup.workingSet == nil)
    backup.checkInvariants()
    let replayed = stepAsHost(&backup, .blockApplied(height: 1, nextValidators: Self.genesisSet))
    #expect(
      Self.sent(replayed).contains(.vote(Self.vote(1, .prepare, height: 2, hash: hash))),
      "the held pre-prepare was not voted for once the set was known")
  }

  @Test("reconfiguration: a node outside the set follows certified blocks and starts voting at the height that adds it")
  func joinerStartsVoting() {
    var joiner = Self.replica(4)
    #expect(!joiner.isVoting)
    let block = Self.block(height: 1, on: Self.genesis, set: Self.genesisSet)
    // Votes from the validators are not for a follower to count.
    #expect(stepAsHost(&joiner, .message(.vote(Self.vote(2, .prepare, height: 1, hash: block.header.hash)), from: Self.keys[2])).isEmpty)
    // A block certified by too few validators is refused; a certified one is taken.
    let weak = CommittedBlock(block: block, certificate: Self.certificate(block, by: [0, 1]))
    #expect(Self.delivered(stepAsHost(&joiner, .message(.blockResponse([weak]), from: Self.keys[0]))).isEmpty)
    #expect(joiner.dropped[.badSignature] == 1)
    let certified = CommittedBlock(block: block, certificate: Self.certificate(block, by: [0, 1, 2], view: 3))
    #expect(Self.delivered(stepAsHost(&joiner, .message(.blockResponse([certified]), from: Self.keys[0]))) == [certified])
    #expect(joiner.view == 3, "a follower takes the view its certificates prove")
    _ = stepAsHost(&joiner, .blockApplied(height: 1, nextValidators: Self.grownSet))
    #expect(joiner.isVoting)
    joiner.checkInvariants()
  }

  @Test("reconfiguration: a removed validator stops voting and never starts a view change, but keeps following")
  func removedValidatorFollows() {
    var leaver = Self.replica(3, timeoutTicks: 2)
    _ = Self.decideHeightOne(&leaver, voters: [0, 1, 2, 3])
    _ = stepAsHost(&leaver, .blockApplied(height: 1, nextValidators: Self.set([0, 1, 2, 4])))
    #expect(!leaver.isVoting)
    _ = stepAsHost(&leaver, .transactionsPending(true))
    var actions: [ReplicaAction] = []
    for _ in 0..<50 { actions += stepAsHost(&leaver, .tick) }
    #expect(!Self.sent(actions).contains { if case .viewChange = $0 { true } else { false } })
    #expect(Self.persisted(actions).isEmpty, "a follower signed something")
    // Its only messages are requests for blocks, to the validators in force.
    #expect(Self.sent(actions).allSatisfy { if case .blockRequest(2) = $0 { true } else { false } })
    #expect(!Self.sent(actions).isEmpty)
  }

  @Test("reconfiguration: transferred blocks across a set change are checked each by its own set")
  func stateTransferAcrossAChange() throws {
    var behind = Self.replica(1)
    let one = Self.block(height: 1, on: Self.genesis, set: Self.genesisSet)
    let two = Self.block(height: 2, on: one.header, set: Self.grownSet)
    let blocks = [
      CommittedBlock(block: one, certificate: Self.certificate(one, by: [0, 2, 3])),
      CommittedBlock(block: two, certificate: Self.certificate(two, by: [0, 2, 3, 4])),
    ]
    // Block 2's set is known only once block 1 is applied: the rest waits.
    #expect(Self.delivered(stepAsHost(&behind, .message(.blockResponse(blocks), from: Self.keys[0]))) == [blocks[0]])
    behind.checkInvariants()
    let resumed = stepAsHost(&behind, .blockApplied(height: 1, nextValidators: Self.grownSet))
    #expect(Self.delivered(resumed) == [blocks[1]])
    #expect(behind.committedHeight == 2)
  }

  // MARK: Time, views and votes

  @Test("ticks: no view change while nothing is pending; one after viewChangeTimeoutTicks with work pending")
  func timeouts() {
    var backup = Self.replica(1, timeoutTicks: 5)
    var actions: [ReplicaAction] = []
    for _ in 0..<20 { actions += stepAsHost(&backup, .tick) }
    #expect(backup.viewChangeTarget == nil)
    _ = stepAsHost(&backup, .transactionsPending(true))
    for _ in 0..<4 { actions += stepAsHost(&backup, .tick) }
    #expect(backup.viewChangeTarget == nil)
    actions = stepAsHost(&backup, .tick)
    #expect(backup.viewChangeTarget == 1)
    // Persisted before it is sent.
    guard case .persist(.viewChange(let viewChange), let then)? = actions.first else {
      Issue.record("expected the view-change persisted first, got \(actions)")
      return
    }
    #expect(then == [.broadcast(.viewChange(viewChange))])
  }

  @Test("§4.5.2: f + 1 view-changes for a later view make a replica join it, before its own timer fires")
  func joinRule() {
    var backup = Self.replica(3)
    let requests = [0, 1].map { index in
      var rules = SafetyRules(signer: SimulatedSigner(publicKey: Self.keys[index]), chainId: Self.chainId)
      return rules.viewChange(newView: 2, committedHeight: 0, committedCertificate: nil, prepared: [])
    }
    _ = stepAsHost(&backup, .message(.viewChange(requests[0]), from: Self.keys[0]))
    #expect(backup.viewChangeTarget == nil, "one view-change (f) is not enough")
    _ = stepAsHost(&backup, .message(.viewChange(requests[1]), from: Self.keys[1]))
    #expect(backup.viewChangeTarget == 2)
  }

  @Test("restarting after a view change: the entered view survives in the WAL, and nothing below it is signed")
  func restartAfterViewChange() {
    let newPrimary = Self.genesisSet.validators[1].nodeKey
    let primaryIndex = Self.keys.firstIndex(of: newPrimary)!
    let others = Self.genesisSet.validators.map(\.nodeKey).filter { $0 != newPrimary }
    let viewChanges = (others.prefix(2) + [newPrimary]).map { key in
      var rules = SafetyRules(signer: SimulatedSigner(publicKey: key), chainId: Self.chainId)
      return rules.viewChange(newView: 1, committedHeight: 0, committedCertificate: nil, prepared: [])
    }
    let backupIndex = Self.keys.firstIndex(of: others[2])!
    var backup = Self.replica(backupIndex)
    let actions = stepAsHost(&backup, 
      .message(.newView(NewView(view: 1, viewChanges: viewChanges, prePrepares: [])), from: Self.keys[primaryIndex]))
    #expect(backup.view == 1)
    let wal = Self.persisted(actions)
    #expect(wal.count == 1)
    var restarted = Self.replica(backupIndex, wal: wal)
    #expect(restarted.view == 1 && restarted.viewChangeTarget == nil)
    // A pre-prepare from view 0's primary is refused after the restart.
    let block = Self.block(height: 1, on: Self.genesis, set: Self.genesisSet)
    let oldPrimary = Self.genesisSet.validators[0].nodeKey
    let oldIndex = Self.keys.firstIndex(of: oldPrimary)!
    let stale = PrePrepare(block: block, primaryVote: Self.vote(oldIndex, .prepare, view: 0, height: 1, hash: block.header.hash))
    #expect(Self.persisted(stepAsHost(&restarted, .message(.prePrepare(stale), from: oldPrimary))).isEmpty)
    #expect(restarted.dropped[.wrongView] == 1)
  }

  @Test("votes: one per (sender, phase, view, height); a conflicting second is kept as evidence, not counted")
  func votesAreBounded() {
    var backup = Self.replica(1)
    let a = SHA256.hash([1])
    let b = SHA256.hash([2])
    _ = stepAsHost(&backup, .message(.vote(Self.vote(2, .commit, height: 1, hash: a)), from: Self.keys[2]))
    _ = stepAsHost(&backup, .message(.vote(Self.vote(2, .commit, height: 1, hash: b)), from: Self.keys[2]))
    _ = stepAsHost(&backup, .message(.vote(Self.vote(2, .commit, height: 1, hash: b)), from: Self.keys[2]))
    #expect(backup.equivocationCount == 2)
    #expect(backup.equivocationEvidence.first?.second.statement.blockHash == b)
    backup.checkInvariants()
  }
}
