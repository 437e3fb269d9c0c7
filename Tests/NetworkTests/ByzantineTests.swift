import Consensus
import Foundation
import Ledger
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import Node

/// A validator turned Byzantine at process level: its node is killed and its
/// key is used from this test, over real TCP, to equivocate, replay other
/// validators' votes, propose out of turn, send garbage frames and flood.
/// The three honest validators must stay safe (one chain) and live (keep
/// committing), and count what they refused.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ByzantineTests {
  final class Captured: @unchecked Sendable {
    let lock = NSLock()
    var messages: [ConsensusMessage] = []
    func add(_ message: ConsensusMessage) { lock.withLock { if messages.count < 2_000 { messages.append(message) } } }
    var all: [ConsensusMessage] { lock.withLock { messages } }
  }

  @Test func honestValidatorsStaySafeAndLiveAndCountTheAttack() async throws {
    let network = try await TestNetwork(validators: 4, observers: 0)
    defer { network.shutdown() }
    let honest = Array(network.validators.prefix(3))
    let traitor = network.validators[3]
    kill(traitor.pid, SIGKILL)
    let genesis = Devnet.genesis()
    let key = Devnet.nodeKey(traitor.id)
    let captured = Captured()
    let attacker = PeerNetwork(
      identity: PeerIdentity(key: key, role: .validator, chainId: genesis.chainId, genesisHash: genesis.hash),
      admitted: Set(genesis.validators.map(\.nodeKey)), group: MultiThreadedEventLoopGroup.singleton,
      logger: quietLogger,
      onFrame: { frame, _ in if case .consensus(let message) = frame { captured.add(message) } }, onEvent: { _ in })
    attacker.dial(honest.map(\.p2p))
    defer { Task { await attacker.stop() } }
    let connectDeadline = Date().addingTimeInterval(20)
    while attacker.peers.count < 3, Date() < connectDeadline { try await Task.sleep(for: .milliseconds(50)) }
    #expect(attacker.peers.count == 3, "the attacker is a validator: it gets in")

    // The attack runs while clients commit transactions through an honest node.
    let attack = Task {
      var round: UInt64 = 0
      while !Task.isCancelled {
        round += 1
        let status = (try? await status(honest[0].api)) ?? [:]
        let height = ((status["height"] as? NSNumber)?.uint64Value ?? 0) + 1
        let view = (status["view"] as? NSNumber)?.uint64Value ?? 0
        // Equivocation: two different blocks for the same slot, prepare and commit.
        for phase in [VotePhase.prepare, .commit] {
          for variant in 0..<2 {
            let statement = VoteStatement(
              phase: phase, chainId: genesis.chainId, height: height, view: view,
              blockHash: SHA256.hash(Array("forged \(round) \(variant)".utf8)))
            attacker.broadcast(
              .consensus(
                .vote(
                  Vote(statement: statement, voter: key.publicKey, signature: key.sign(digest: statement.signingDigest))
                )), where: { _ in true })
          }
        }
        // A pre-prepare out of turn, for another chain's block.
        let block = FormatExamples.block
        let statement = VoteStatement(
          phase: .prepare, chainId: genesis.chainId, height: height, view: view, blockHash: block.header.hash)
        attacker.broadcast(
          .consensus(
            .prePrepare(
              PrePrepare(
                block: block,
                primaryVote: Vote(
                  statement: statement, voter: key.publicKey, signature: key.sign(digest: statement.signingDigest))))), where: { _ in true })
        // Replays: other validators' messages sent back as if they were ours, and old ones again.
        for message in captured.all.suffix(20) { attacker.broadcast(.consensus(message), where: { _ in true }) }
        // A flood of votes for stale heights.
        for stale in 0..<200 {
          let old = VoteStatement(
            phase: .commit, chainId: genesis.chainId, height: UInt64(stale % 3), view: 0, blockHash: .zero)
          attacker.broadcast(
            .consensus(
              .vote(Vote(statement: old, voter: key.publicKey, signature: key.sign(digest: old.signingDigest)))), where: { _ in true })
        }
        // Garbage: a frame that is not a frame (the honest node closes; the attacker redials).
        if round % 5 == 0, let connection = attacker.peers.first {
          var garbage = ByteBufferAllocator().buffer(capacity: 9)
          garbage.writeInteger(UInt32(5))
          garbage.writeBytes([0xFF, 0xEE, 0xDD, 0xCC, 0xBB])
          connection.channel.writeAndFlush(garbage, promise: nil)
        }
        try? await Task.sleep(for: .milliseconds(100))
      }
    }
    defer { attack.cancel() }

    let submitter = Submitter(api: honest[1].api)
    var lastHeight: UInt64 = 0
    for index in 0..<15 {
      let transaction = submitter.transaction(
        .declareDuty(Duty(bureauId: "BJ-GAJ", dutyId: "BYZ-\(index)", title: "职责", legalBasis: "测试", description: "")),
        by: Devnet.operatorKey("BJ-GAJ"))
      let reply = try await submitter.submit(transaction)
      #expect(reply.status == 202)
      let (code, height) = try await submitter.outcome(transaction.id, timeoutSeconds: 60)
      #expect(code == "ok")
      lastHeight = max(lastHeight, height)
    }
    attack.cancel()
    let roots = try await waitForAgreement(honest, height: lastHeight)
    #expect(roots.count == 1, "the honest validators agree")

    var dropped = 0
    var malformed = 0
    for node in honest {
      let metrics = String(decoding: try await HTTP.get(node.api + "/metrics").body, as: UTF8.self)
      for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
        let value = Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
        if line.hasPrefix("ledger_consensus_messages_dropped_total") { dropped += value }
        if line.hasPrefix("ledger_peer_rejections_total{reason=\"malformed_frame\"}") { malformed += value }
      }
    }
    #expect(dropped > 100, "refused consensus messages are counted (\(dropped))")
    #expect(malformed > 0, "garbage frames are counted")
  }
}
