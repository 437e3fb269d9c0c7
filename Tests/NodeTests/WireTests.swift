import Consensus
import Foundation
import Ledger
import Testing

@testable import Node

struct WireTests {
  static var messages: [ConsensusMessage] {
    let block = FormatExamples.block
    let vote = FormatExamples.vote
    let certificate = FormatExamples.certificate
    let prePrepare = PrePrepare(block: block, primaryVote: vote)
    let prepared = PreparedCertificate(prePrepare: prePrepare, prepares: [vote])
    let viewChange = ViewChange(
      newView: 2, replica: vote.voter, committedHeight: 1, committedCertificate: certificate, prepared: [prepared],
      signature: vote.signature)
    return [
      .prePrepare(prePrepare), .vote(vote), .viewChange(viewChange),
      .newView(NewView(view: 2, viewChanges: [viewChange], prePrepares: [prePrepare])), .blockRequest(fromHeight: 7),
      .blockResponse([CommittedBlock(block: block, certificate: certificate)]),
    ]
  }

  @Test func everyFrameRoundTripsByteExact() throws {
    let hello = PeerHello(
      chainId: Devnet.chainId, genesisHash: Devnet.genesis().hash, nodeKey: Devnet.nodeKey("BJ-GAJ").publicKey,
      role: .validator, challenge: SHA256.hash([1, 2, 3]))
    let frames: [PeerFrame] =
      [
        .hello(hello), .auth(FormatExamples.vote.signature),
        .transactions(FormatExamples.transactions.map(\.transaction)),
        .refusal(code: "peer.unknown_key", message: "nope"),
      ] + Self.messages.map { .consensus($0) }
    for frame in frames {
      let bytes = frame.canonicalBytes
      let decoded = try PeerFrame(canonicalBytes: bytes)
      #expect(decoded == frame)
      #expect(decoded.canonicalBytes == bytes)
    }
    for record in [WALRecord.vote(FormatExamples.vote)] {
      #expect(try WALRecord(canonicalBytes: record.canonicalBytes) == record)
    }
  }

  /// Every truncation and many single-byte corruptions of every frame are
  /// refused with an error (or decode to some other valid frame), never a crash.
  @Test func damagedFramesAreRefusedNotCrashed() throws {
    var refused = 0
    for message in Self.messages {
      let bytes = PeerFrame.consensus(message).canonicalBytes
      for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 200)) {
        #expect(throws: FormatError.self) { try PeerFrame(canonicalBytes: Array(bytes.prefix(length))) }
        refused += 1
      }
      var random = SystemRandomNumberGenerator()
      for _ in 0..<200 {
        var damaged = bytes
        damaged[Int.random(in: 0..<damaged.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
        if (try? PeerFrame(canonicalBytes: damaged)) == nil { refused += 1 }
      }
    }
    #expect(refused > 1_000)
    #expect(throws: FormatError.self) { try PeerFrame(canonicalBytes: [99]) }
  }

  @Test func handshakeSignatureBindsChainPeerAndBothChallenges() {
    let genesis = Devnet.genesis().hash
    let me = Devnet.nodeKey("BJ-GAJ")
    let peer = Devnet.nodeKey("BJ-ZJW").publicKey
    let (mine, theirs) = (SHA256.hash([1]), SHA256.hash([2]))
    let digest = PeerHandshake.digest(
      chainId: Devnet.chainId, genesisHash: genesis, signer: me.publicKey, peer: peer, peerChallenge: theirs,
      ownChallenge: mine)
    let signature = me.sign(digest: digest)
    #expect(me.publicKey.verify(signature, digest: digest))
    let variants = [
      PeerHandshake.digest(
        chainId: "other", genesisHash: genesis, signer: me.publicKey, peer: peer, peerChallenge: theirs,
        ownChallenge: mine),
      PeerHandshake.digest(
        chainId: Devnet.chainId, genesisHash: .zero, signer: me.publicKey, peer: peer, peerChallenge: theirs,
        ownChallenge: mine),
      PeerHandshake.digest(
        chainId: Devnet.chainId, genesisHash: genesis, signer: me.publicKey, peer: me.publicKey, peerChallenge: theirs,
        ownChallenge: mine),
      PeerHandshake.digest(
        chainId: Devnet.chainId, genesisHash: genesis, signer: me.publicKey, peer: peer, peerChallenge: mine,
        ownChallenge: theirs),
    ]
    for variant in variants { #expect(!me.publicKey.verify(signature, digest: variant)) }
    let unknown = PeerHello(
      chainId: Devnet.chainId, genesisHash: genesis, nodeKey: peer, role: .observer, challenge: theirs)
    #expect(
      PeerHandshake.refusal(of: unknown, chainId: Devnet.chainId, genesisHash: genesis, ownKey: me.publicKey) { _ in
        false
      }?.code == "peer.unknown_key")
    #expect(
      PeerHandshake.refusal(of: unknown, chainId: "x", genesisHash: genesis, ownKey: me.publicKey) { _ in true }?.code
        == "peer.wrong_chain")
    #expect(
      PeerHandshake.refusal(of: unknown, chainId: Devnet.chainId, genesisHash: genesis, ownKey: me.publicKey) { _ in
        true
      } == nil)
  }

  @Test func walSurvivesATornTailAndCompacts() throws {
    let path = NSTemporaryDirectory() + "wal-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let vote = FormatExamples.vote
    do {
      let wal = try WriteAheadLog(path: path)
      try wal.append(.vote(vote))
      try wal.append(.vote(vote))
    }
    // A crash mid-append leaves half a record.
    let handle = FileHandle(forWritingAtPath: path)!
    handle.seekToEndOfFile()
    handle.write(Data(WriteAheadLog.entry(.vote(vote)).prefix(20)))
    try handle.close()
    let reopened = try WriteAheadLog(path: path)
    #expect(reopened.records == [.vote(vote), .vote(vote)])
    try reopened.append(.vote(vote))
    #expect(try WriteAheadLog(path: path).records.count == 3)
    try reopened.compact(committedHeight: vote.statement.height, interval: 0)
    #expect(try WriteAheadLog(path: path).records.isEmpty)

    // Large records (a primary's proposals) are compacted by size, long before the count.
    let entryBytes = WriteAheadLog.entry(.vote(vote)).count
    try reopened.append(.vote(vote))
    try reopened.compact(committedHeight: vote.statement.height, interval: 1_000, bytesInterval: 2 * entryBytes)
    #expect(reopened.records.count == 1, "one record's bytes are below the size interval")
    try reopened.append(.vote(vote))
    try reopened.compact(committedHeight: vote.statement.height, interval: 1_000, bytesInterval: 2 * entryBytes)
    #expect(reopened.records.isEmpty)
    #expect(try WriteAheadLog(path: path).records.isEmpty)
  }

  @Test func configRejectsUnknownKeysAndBadValuesNamingTheField() throws {
    let path = NSTemporaryDirectory() + "config-\(UUID().uuidString).toml"
    defer { try? FileManager.default.removeItem(atPath: path) }
    var config = NodeConfig(id: "BJ-GAJ")
    config.p2p.peers = ["127.0.0.1:1"]
    config.consensus.stopWhenRemoved = true
    try config.toml.write(toFile: path, atomically: true, encoding: .utf8)
    #expect(try NodeConfig.load(path: path) == config)
    let cases: [(String, String)] = [
      ("id = \"x\"\nrole = \"voter\"\n", "role"),
      ("id = \"x\"\n[p2p]\npeers = [\"nohost\"]\n", "p2p.peers[0]"),
      ("id = \"x\"\n[mempool]\ntransactions_max = 0\n", "mempool.transactions_max"),
      (
        "id = \"x\"\n[mempool]\ntransactions_max = 10\nclient_transactions_max = 11\n",
        "mempool.client_transactions_max"
      ),
      ("id = \"x\"\n[p2p]\nsend_queue_bytes_max = 1000\n", "p2p.send_queue_bytes_max"),
      ("id = \"x\"\n[consensus]\nproposal_linger_ms = 900\n", "consensus.proposal_linger_ms"),
      ("id = \"x\"\n[consensus]\nstop_when_removed = \"yes\"\n", "consensus.stop_when_removed"),
      ("id = \"x\"\ncolour = \"red\"\n", path),
      ("role = \"observer\"\n", "id"),
    ]
    for (text, field) in cases {
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      let error = #expect(throws: NodeConfig.Invalid.self) { try NodeConfig.load(path: path) }
      #expect(error?.field == field, "\(text): \(error.map { "\($0)" } ?? "")")
    }
  }
}
