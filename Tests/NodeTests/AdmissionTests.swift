import Foundation
import Ledger
import Logging
import Testing

@testable import Node

/// Intake from clients stops at `mempool.client_transactions_max`, while
/// transactions forwarded by peers still enter up to `transactions_max`.
struct AdmissionTests {
  let operatorKey = Devnet.operatorKey("BJ-GAJ")

  func duty(_ sequence: UInt64) -> (SignedTransaction, size: Int) {
    let transaction = SignedTransaction(
      body: TransactionBody(
        chainId: Devnet.chainId, signer: operatorKey.publicKey, sequence: sequence,
        payload: .declareDuty(
          Duty(bureauId: "BJ-GAJ", dutyId: "D\(sequence)", title: "t", legalBasis: "l", description: ""))),
      signedBy: [operatorKey])
    return (transaction, transaction.canonicalBytes.count)
  }

  func engine(clientTransactionsMax: Int, transactionsMax: Int) throws -> NodeEngine {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admission-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let store = try LedgerStore(path: directory.appendingPathComponent("store").path, genesis: Devnet.genesis())
    var config = NodeConfig(id: "test")
    config.role = .observer
    config.mempool.transactionsMax = transactionsMax
    config.mempool.clientTransactionsMax = clientTransactionsMax
    return try NodeEngine(
      config: config, key: Devnet.nodeKey("BJ-GAJ"), store: store,
      walPath: directory.appendingPathComponent("wal").path,
      dataPath: directory.path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
      metrics: NodeMetrics(), onHalt: { _ in })
  }

  @Test func clientsAreRefusedAtTheirBoundWhilePeersFillUpToTheHardOne() async throws {
    let engine = try engine(clientTransactionsMax: 3, transactionsMax: 5)
    #expect(await engine.hasRoomForClient(500), "an empty mempool takes a batch larger than the bound")
    let fromClient = await engine.admit((0..<3).map(duty), forward: true)
    #expect(fromClient.allSatisfy { (try? $0.get()) != nil })
    #expect(await !engine.hasRoomForClient(1), "3 pending of a client bound of 3")

    let fromPeers = await engine.admit((3..<6).map(duty), forward: false)
    #expect(fromPeers.prefix(2).allSatisfy { (try? $0.get()) != nil }, "peers fill up to transactions_max")
    guard case .failure(let full) = fromPeers[2] else {
      Issue.record("a sixth transaction entered a mempool bounded at 5")
      return
    }
    #expect(full.code == "mempool.full")
  }
}

extension AdmissionTests {
  /// What a peer forwarded is admitted once its signatures were checked, and
  /// not handed out for checking again; a bad signature keeps it out.
  @Test func forwardedTransactionsAreAdmittedOnceCheckedAndNotCheckedAgain() async throws {
    let engine = try engine(clientTransactionsMax: 10, transactionsMax: 10)
    let good = duty(0).0
    let forged = SignedTransaction(body: duty(1).0.body, signatures: good.signatures)
    #expect(await engine.needingVerification([good, forged]).map(\.id) == [good.id, forged.id])
    let refused = await engine.admitForwarded(
      [good, forged], valid: [good.signaturesAreValid, forged.signaturesAreValid])
    #expect(refused == 1, "the forged signature is refused")
    #expect(await engine.mempool.contains(good.id))
    #expect(await !engine.mempool.contains(forged.id))
    #expect(await engine.mempool.byteCount == good.canonicalBytes.count)
    #expect(
      await engine.needingVerification([good, forged]).map(\.id) == [forged.id],
      "the admitted one is not checked again; the forged one would be")
    let pendingBodyOtherSignatures = SignedTransaction(body: good.body, signatures: duty(1).0.signatures)
    #expect(
      await engine.needingVerification([pendingBodyOtherSignatures]).map(\.id) == [good.id],
      "a pending body with other signatures is checked")
  }
}

extension AdmissionTests {
  /// The checks of one request share what they read of committed state; each
  /// transaction is still judged on its own.
  @Test func oneRequestRefusesTheUnauthorisedAndAdmitsTheRest() async throws {
    let engine = try engine(clientTransactionsMax: 10, transactionsMax: 10)
    let intruder = Devnet.operatorKey("BJ-ZJW")
    let foreign = SignedTransaction(
      body: TransactionBody(
        chainId: Devnet.chainId, signer: intruder.publicKey, sequence: 0, payload: duty(5).0.body.payload),
      signedBy: [intruder])
    let results = await engine.admit([duty(0), (foreign, foreign.encodedByteCount), duty(1)], forward: false)
    #expect(results.map { (try? $0.get()) != nil } == [true, false, true])
    guard case .failure(let refusal) = results[1] else { return }
    #expect(refusal.code == "tx.signer_not_operator", "BJ-ZJW's operator declaring a duty of BJ-GAJ")
    #expect(await engine.mempool.count == 2)
  }
}

/// The inbound queue of forwarded transactions is bounded by transactions, not frames.
@Test func countingBoundRefusesWhatWouldExceedItAndFreesWhatIsGivenBack() {
  let bound = CountingBound(limit: 10)
  #expect(bound.take(6))
  #expect(!bound.take(5), "6 + 5 exceeds 10: refused whole")
  #expect(bound.take(4))
  #expect(!bound.take(1))
  bound.give(6)
  #expect(bound.take(6))
}

/// A peer's send queue is bounded in bytes as well as frames.
@Test func sendQueueBoundsFramesAndBytesButAlwaysTakesOneFrame() {
  var queue = SendQueueBound(framesMax: 3, bytesMax: 100)
  let oversizedFirst = queue.take(500)
  #expect(oversizedFirst, "an empty queue takes one frame whatever its size")
  let behindIt = queue.take(1)
  #expect(!behindIt, "500 bytes queued of 100")
  queue.release(500)
  let sixty = queue.take(60)
  let fortyOne = queue.take(41)
  let forty = queue.take(40)
  #expect(sixty && forty)
  #expect(!fortyOne, "60 + 41 exceeds 100 bytes")
  let third = queue.take(0)
  let fourth = queue.take(0)
  #expect(third, "a third frame (of no bytes) fits")
  #expect(!fourth, "a fourth frame exceeds 3 frames")
  queue.release(60)
  #expect(queue.frames == 2 && queue.bytes == 40)
}

extension AdmissionTests {
  /// A signature check is remembered for the signatures it covered, not for
  /// the transaction id (which covers the body only). Here a governance
  /// change signed by one of the two keys it needs was checked (its signature
  /// held; the state machine refuses it for the threshold). A Byzantine
  /// proposer then adds a forged second signature to the same body and
  /// proposes it as accepted: the backup must check the new signatures and
  /// refuse the proposal, not take the old check for them.
  @Test func aCheckedBodyWithOtherSignaturesIsCheckedAgainAndAForgedQuorumRefused() async throws {
    let engine = try engine(clientTransactionsMax: 10, transactionsMax: 10)
    let governance = Devnet.governanceKeys
    let body = TransactionBody(
      chainId: Devnet.chainId, signer: governance[0].publicKey, sequence: 0,
      payload: .suspendBureau(BureauStatusChange(bureauId: "BJ-ZJW", reason: "audit")))
    let belowThreshold = SignedTransaction(body: body, signedBy: [governance[0]])
    await engine.noteVerified([(belowThreshold, belowThreshold.signaturesAreValid)])
    #expect(await engine.alreadyVerified(belowThreshold), "the checked signatures are remembered")

    let stolen = belowThreshold.signatures[0].signature
    let forged = SignedTransaction(
      body: body,
      signatures: belowThreshold.signatures + [TransactionSignature(publicKey: governance[1].publicKey, signature: stolen)])
    #expect(forged.id == belowThreshold.id, "the same body, so the same id")
    #expect(!forged.signaturesAreValid)
    #expect(await !engine.alreadyVerified(forged))
    #expect(await engine.needingVerification([forged]).map(\.id) == [forged.id])

    // The Byzantine proposer executes the forged transaction as if checked.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("byzantine-\(UUID().uuidString)")
    let proposerStore = try LedgerStore(path: directory.path, genesis: Devnet.genesis())
    defer { try? FileManager.default.removeItem(at: directory) }
    let timeMs = proposerStore.head.timeMs + 1
    let execution = try proposerStore.execute([forged], timeMs: timeMs, signatureCheck: .alreadyVerified)
    #expect(execution.results.first?.isAccepted == true, "unchecked, the forged quorum would pass")
    let header = proposerStore.nextHeader(
      transactions: [forged], timeMs: timeMs, execution: execution, proposer: Devnet.nodeKey("BJ-GAJ").publicKey)
    let proposal = Block(header: header, transactions: [forged])

    let accepted = try await engine.validateOnHead(proposal)
    #expect(!accepted, "the backup checks the new signatures and refuses the forged quorum")
  }
}

extension NodeEngine {
  /// What a backup decides of a proposal on its committed head.
  fileprivate func validateOnHead(_ block: Block) throws -> Bool {
    let parent = try #require(try store.header(at: store.head.height))
    return executor.validate(
      block, on: parent, validators: try store.validatorSchedule().validatorsInForce(at: store.head.height + 1))
  }
}
