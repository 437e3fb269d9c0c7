import Ledger
import Testing

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
}

func expectRejection(_ code: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
  do {
    try body()
    Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
  } catch {
    #expect((error as? MempoolRejection)?.code == code, sourceLocation: sourceLocation)
  }
}
