import Consensus
import Testing

@testable import Ledger
@testable import Node

struct MempoolTests {
  let signer = Devnet.operatorKey("BJ-GAJ")
  let other = Devnet.operatorKey("BJ-ZJW")

  func transaction(_ key: SecretKey, sequence: UInt64, duty: String = "D") -> SignedTransaction {
    SignedTransaction(
      body: TransactionBody(
        chainId: Devnet.chainId, signer: key.publicKey, sequence: sequence,
        payload: .declareDuty(
          Duty(bureauId: "BJ-GAJ", dutyId: "\(duty)\(sequence)", title: "t", legalBasis: "l", description: ""))),
      signedBy: [key])
  }

  @Test func admitsInSequenceAndRefusesReplaysDuplicatesAndHeldSequences() throws {
    var mempool = Mempool(countMax: 10, bytesMax: 1 << 20)
    let first = transaction(signer, sequence: 3)
    try mempool.add(first, size: 100, committedSequence: 3)
    expectRejection("mempool.duplicate") { try mempool.add(first, size: 100, committedSequence: 3) }
    expectRejection("tx.replayed") {
      try mempool.add(transaction(signer, sequence: 2), size: 100, committedSequence: 3)
    }
    expectRejection("tx.sequence_in_use") {
      try mempool.add(transaction(signer, sequence: 3, duty: "X"), size: 100, committedSequence: 3)
    }
    #expect(mempool.count == 1)
    #expect(mempool.nextSequence(of: signer.publicKey, committed: 3) == 4)
  }

  @Test func boundedByCountAndBytes() throws {
    var mempool = Mempool(countMax: 2, bytesMax: 250)
    try mempool.add(transaction(signer, sequence: 0), size: 100, committedSequence: 0)
    try mempool.add(transaction(signer, sequence: 1), size: 100, committedSequence: 0)
    let full = #expect(throws: MempoolRejection.self) {
      try mempool.add(transaction(other, sequence: 0), size: 10, committedSequence: 0)
    }
    #expect(full?.isFull == true)
    var small = Mempool(countMax: 10, bytesMax: 250)
    try small.add(transaction(signer, sequence: 0), size: 200, committedSequence: 0)
    #expect(throws: MempoolRejection.self) {
      try small.add(transaction(other, sequence: 0), size: 51, committedSequence: 0)
    }
  }

  @Test func onlyTransactionsWithoutAGapCountAsWorkForAPrimary() throws {
    var mempool = Mempool(countMax: 100, bytesMax: 1 << 20)
    try mempool.add(transaction(signer, sequence: 5), size: 10, committedSequence: 3)
    #expect(!mempool.hasProposable { _ in 3 }, "sequence 5 waits for 3 and 4: nothing to propose")
    #expect(mempool.batch(countMax: 10, bytesMax: 1 << 20) { _ in 3 }.isEmpty)
    try mempool.add(transaction(signer, sequence: 3), size: 10, committedSequence: 3)
    #expect(mempool.hasProposable { _ in 3 })
  }

  @Test func batchesOnlyUnbrokenSequencesAndForgetsCommitted() throws {
    var mempool = Mempool(countMax: 100, bytesMax: 1 << 20)
    // Arrives out of order: 1 before 0, and a gap at 3.
    for sequence: UInt64 in [1, 0, 2, 4] {
      try mempool.add(transaction(signer, sequence: sequence), size: 10, committedSequence: 0)
    }
    try mempool.add(transaction(other, sequence: 0), size: 10, committedSequence: 0)
    let batch = mempool.batch(countMax: 100, bytesMax: 1 << 20) { _ in 0 }
    #expect(
      batch.filter { $0.body.signer == signer.publicKey }.map(\.body.sequence) == [0, 1, 2], "a gap at 3 holds back 4")
    #expect(batch.contains { $0.body.signer == other.publicKey })
    #expect(mempool.batch(countMax: 2, bytesMax: 1 << 20) { _ in 0 }.count == 2)
    // After sequences 0…2 commit, they leave; 4 stays pending.
    mempool.removeCommitted(batch) { key in key == signer.publicKey ? 3 : 1 }
    #expect(mempool.pending.map(\.body.sequence) == [4])
    #expect(mempool.count == 1)
  }

  /// Blocks as a network makes them: each signer's accepted run from its
  /// committed sequence, some of it committed from other nodes' versions
  /// (same signer and sequence, another transaction), plus rejected replays.
  /// After every commit the mempool holds exactly the transactions that are
  /// still usable: nothing under a committed sequence, nothing committed.
  @Test func afterEachCommitExactlyTheUsableTransactionsStay() throws {
    var mempool = Mempool(countMax: 1_000, bytesMax: 1 << 20)
    let keys = [signer, other, Devnet.operatorKey("BJ-RSJ")]
    var floors = [UInt64](repeating: 0, count: keys.count)
    var random = SplitMix64(seed: 11)
    var addedUpTo = floors
    for round in 0..<30 {
      for (index, key) in keys.enumerated() {
        addedUpTo[index] = floors[index] + 6
        for sequence in floors[index]..<addedUpTo[index] {
          try? mempool.add(transaction(key, sequence: sequence), size: 10, committedSequence: floors[index])
        }
      }
      var block: [SignedTransaction] = []
      var newFloors = floors
      for (index, key) in keys.enumerated() {
        let run = UInt64.random(in: 0...4, using: &random)
        for sequence in floors[index]..<(floors[index] + run) {
          let otherVersion = Bool.random(using: &random)
          block.append(
            otherVersion
              ? transaction(key, sequence: sequence, duty: "R\(round)-") : transaction(key, sequence: sequence))
        }
        newFloors[index] += run
        if floors[index] > 0 {
          // A replay of a used sequence: the state machine rejects it; the floor stays.
          block.append(transaction(key, sequence: floors[index] - 1, duty: "old\(round)-"))
        }
      }
      floors = newFloors
      mempool.removeCommitted(block.shuffled(using: &random)) { key in floors[keys.firstIndex { $0.publicKey == key }!]
      }
      let committedIds = Set(block.map(\.id))
      for transaction in mempool.pending {
        let index = keys.firstIndex { $0.publicKey == transaction.body.signer }!
        #expect(transaction.body.sequence >= floors[index], "round \(round)")
        #expect(!committedIds.contains(transaction.id), "round \(round)")
      }
      // Every usable one stays: the sequences added this round that the block did not use up.
      for (index, key) in keys.enumerated() {
        let sequences = mempool.pending.filter { $0.body.signer == key.publicKey }.map(\.body.sequence).sorted()
        #expect(sequences == Array(floors[index]..<(addedUpTo[index])), "round \(round)")
      }
      #expect(mempool.byLeafHash.count == mempool.count)
    }
  }

  /// A backup decodes each transaction once: when it is forwarded. The
  /// proposal that later carries it is read with the mempool's transactions
  /// by leaf hash, which must hold exactly what is pending.
  @Test func pendingTransactionsAreFoundByLeafHashUntilTheyLeave() throws {
    var mempool = Mempool(countMax: 100, bytesMax: 1 << 20)
    let pending = (0..<3).map { transaction(signer, sequence: $0) }
    for transaction in pending { try mempool.add(transaction, size: 10, committedSequence: 0) }
    let stale = transaction(other, sequence: 0)
    try mempool.add(stale, size: 10, committedSequence: 0)
    #expect(mempool.byLeafHash.count == 4)
    #expect(mempool.byLeafHash.transaction(leafHash: pending[1].leafHash)?.fields === pending[1].fields)
    expectRejection("mempool.duplicate") { try mempool.add(pending[1], size: 10, committedSequence: 0) }
    #expect(mempool.byLeafHash.count == 4)

    // A proposal frame carrying two pending transactions and one never seen here.
    let unseen = transaction(other, sequence: 7, duty: "U")
    var header = FormatExamples.block.header
    header.transactionCount = 3
    let block = Block(header: header, transactions: [pending[0], unseen, pending[2]])
    let frame = PeerFrame.consensus(.prePrepare(PrePrepare(block: block, primaryVote: FormatExamples.vote)))
    let decoded = try PeerFrame(canonicalBytes: frame.canonicalBytes, knownTransactions: mempool.byLeafHash)
    guard case .consensus(.prePrepare(let proposal)) = decoded else {
      Issue.record("not a proposal: \(decoded)")
      return
    }
    #expect(proposal.block == block)
    #expect(proposal.block.transactions[0].fields === pending[0].fields)
    #expect(proposal.block.transactions[1].fields !== unseen.fields, "decoded from the frame")
    #expect(proposal.block.transactions[2].fields === pending[2].fields)

    // Committed ones leave, and so does one that another transaction with its
    // signer and sequence, committed instead, made stale.
    let committedInstead = transaction(other, sequence: 0, duty: "Z")
    mempool.removeCommitted([pending[0], pending[1], committedInstead]) { key in key == signer.publicKey ? 2 : 1 }
    #expect(mempool.byLeafHash.count == 1)
    #expect(mempool.byLeafHash.transaction(leafHash: pending[0].leafHash) == nil)
    #expect(mempool.byLeafHash.transaction(leafHash: stale.leafHash) == nil)
    #expect(mempool.byLeafHash.transaction(leafHash: pending[2].leafHash) != nil)
  }

  /// A forwarded frame waits for its signature checks while proposals carry
  /// the same transactions: the decoder finds them queued as well as pending,
  /// and a checked one is found only while it is pending.
  @Test func queuedForwardedTransactionsAreFoundByLeafHashUntilChecked() throws {
    var mempool = Mempool(countMax: 100, bytesMax: 1 << 20)
    let decoded = DecodedTransactions(pending: mempool.byLeafHash)
    let forwarded = (0..<4).map { transaction(signer, sequence: $0) }
    let pendingOne = transaction(other, sequence: 0)
    try mempool.add(pendingOne, size: 10, committedSequence: 0)
    decoded.queue(forwarded)
    #expect(decoded.queued.count == 4)

    let unseen = transaction(other, sequence: 1)
    var header = FormatExamples.block.header
    header.transactionCount = 4
    let block = Block(header: header, transactions: [forwarded[2], pendingOne, unseen, forwarded[0]])
    let frame = PeerFrame.consensus(.prePrepare(PrePrepare(block: block, primaryVote: FormatExamples.vote)))
    let read = try PeerFrame(canonicalBytes: frame.canonicalBytes, knownTransactions: decoded)
    guard case .consensus(.prePrepare(let proposal)) = read else {
      Issue.record("not a proposal: \(read)")
      return
    }
    #expect(proposal.block == block)
    #expect(proposal.block.transactions[0].fields === forwarded[2].fields, "queued")
    #expect(proposal.block.transactions[1].fields === pendingOne.fields, "pending")
    #expect(proposal.block.transactions[2].fields !== unseen.fields, "decoded from the frame")
    #expect(proposal.block.transactions[3].fields === forwarded[0].fields, "queued")

    // The first two are checked: one admitted, one refused.
    try mempool.add(forwarded[0], size: 10, committedSequence: 0)
    decoded.dequeue(forwarded[0..<2])
    #expect(decoded.queued.count == 2)
    #expect(decoded.transaction(leafHash: forwarded[0].leafHash)?.fields === forwarded[0].fields, "now pending")
    #expect(decoded.transaction(leafHash: forwarded[1].leafHash) == nil, "refused: held nowhere")
    #expect(decoded.transaction(leafHash: forwarded[3].leafHash)?.fields === forwarded[3].fields, "still queued")
    decoded.dequeue(forwarded[2...])
    #expect(decoded.queued.count == 0)
  }
}

func expectRejection(_ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
  do {
    try body()
    Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
  } catch {
    #expect((error as? MempoolRejection)?.code == code, sourceLocation: sourceLocation)
  }
}

/// Remembered signature checks: the newest two generations are kept, older
/// ones forgotten, however many times the generations turn over.
@Test func recentChecksKeepTwoGenerationsAndForgetOlderOnes() {
  let recent = TwoGenerationCache<Hash256, Void>(capacity: 4)
  let keys = (0..<9).map { SHA256.hash([UInt8($0)]) }
  for key in keys[0...4] { recent.insert(key, ()) }
  #expect(keys[2...4].allSatisfy { recent.contains($0) })
  #expect(!recent.contains(keys[0]) && !recent.contains(keys[1]))
  for key in keys[5...8] { recent.insert(key, ()) }
  #expect(keys[6...8].allSatisfy { recent.contains($0) })
  #expect(keys[0...5].allSatisfy { !recent.contains($0) }, "a reused table keeps nothing of its old generation")
}
