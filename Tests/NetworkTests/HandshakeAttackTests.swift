import Foundation
import Ledger
import Node
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A raw TCP client speaking the peer protocol by hand, to send what a
/// well-behaved node never would.
final class RawPeer {
  let socketDescriptor: Int32

  init(address: String) throws {
    let parts = address.split(separator: ":")
    socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var target = sockaddr_in()
    target.sin_family = sa_family_t(AF_INET)
    target.sin_port = UInt16(Int(parts[1])!).bigEndian
    target.sin_addr.s_addr = inet_addr(String(parts[0]))
    let connected = withUnsafePointer(to: &target) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else { throw TestFailure("cannot connect to \(address)") }
  }

  deinit { close(socketDescriptor) }

  func sendRaw(_ bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { Glibc.send(socketDescriptor, $0.baseAddress, $0.count, 0) }
  }

  func send(_ frame: PeerFrame) {
    let payload = frame.canonicalBytes
    let length = UInt32(payload.count)
    sendRaw(
      [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload)
  }

  private func readExactly(_ count: Int) -> [UInt8]? {
    var bytes = [UInt8](repeating: 0, count: count)
    var received = 0
    while received < count {
      let result = bytes[received...].withUnsafeMutableBytes { recv(socketDescriptor, $0.baseAddress, $0.count, 0) }
      guard result > 0 else { return nil }
      received += result
    }
    return bytes
  }

  /// The next frame, or nil when the node closed the connection (or said nothing for 5 s).
  func receive() -> PeerFrame? {
    guard let header = readExactly(4) else { return nil }
    let length = header.reduce(0) { Int($0) << 8 | Int($1) }
    guard let payload = readExactly(length) else { return nil }
    return try? PeerFrame(canonicalBytes: payload)
  }

  /// Completes the handshake as `key` (a validator's node key) and returns
  /// the node's hello and the signature this side authenticated with.
  @discardableResult
  func handshake(as key: SecretKey, challenge: Hash256 = SHA256.hash(Array("my challenge".utf8))) throws -> (
    theirHello: PeerHello, auth: Signature
  ) {
    let genesis = Devnet.genesis()
    guard case .hello(let theirHello)? = receive() else { throw TestFailure("no hello") }
    send(
      .hello(
        PeerHello(
          chainId: genesis.chainId, genesisHash: genesis.hash, nodeKey: key.publicKey, role: .validator,
          challenge: challenge)))
    guard case .auth? = receive() else { throw TestFailure("no auth") }
    let auth = key.sign(
      digest: PeerHandshake.digest(
        chainId: genesis.chainId, genesisHash: genesis.hash, signer: key.publicKey, peer: theirHello.nodeKey,
        peerChallenge: theirHello.challenge, ownChallenge: challenge))
    send(.auth(auth))
    return (theirHello, auth)
  }

  /// True when the node closes the connection.
  func isClosedByPeer() -> Bool {
    var byte: UInt8 = 0
    return recv(socketDescriptor, &byte, 1, 0) == 0
  }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct HandshakeAttackTests {
  @Test func staleHandshakeSignaturesAndOversizedFramesAreRefused() async throws {
    let network = try await TestNetwork(validators: 4, observers: 0)
    defer { network.shutdown() }
    let genesis = Devnet.genesis()
    let target = network.validators[0]
    let key = Devnet.nodeKey(network.validators[3].id)
    let myChallenge = SHA256.hash(Array("my challenge".utf8))
    let hello = PeerHello(
      chainId: genesis.chainId, genesisHash: genesis.hash, nodeKey: key.publicKey, role: .validator,
      challenge: myChallenge)

    // A genuine handshake, recorded.
    let first = try RawPeer(address: target.p2p)
    let (theirHello, recorded) = try first.handshake(as: key, challenge: myChallenge)
    if case .refusal(let code, _)? = first.receive() { Issue.record("the genuine handshake was refused: \(code)") }

    // The same signature replayed on a new connection: the node's challenge is new, so it fails.
    let replay = try RawPeer(address: target.p2p)
    guard case .hello(let secondHello)? = replay.receive() else { throw TestFailure("no hello") }
    #expect(secondHello.challenge != theirHello.challenge, "every connection gets a fresh challenge")
    replay.send(.hello(hello))
    _ = replay.receive()  // the node's own auth
    replay.send(.auth(recorded))
    guard case .refusal(let code, _)? = replay.receive() else {
      Issue.record("a replayed handshake signature was not refused")
      return
    }
    #expect(code == "peer.bad_signature")

    // A frame announcing 100 MB is refused before it is buffered: the node hangs up.
    let oversized = try RawPeer(address: target.p2p)
    _ = oversized.receive()
    oversized.sendRaw([0x06, 0x00, 0x00, 0x00, 0x01])
    #expect(oversized.isClosedByPeer())

    let metrics = String(decoding: try await HTTP.get(target.api + "/metrics").body, as: UTF8.self)
    #expect(metrics.contains("ledger_peer_rejections_total{reason=\"peer.bad_signature\"}"))
    #expect(metrics.contains("ledger_peer_rejections_total{reason=\"malformed_frame\"}"))
  }
}

/// Transactions a validator forwards are checked once each, a slice at a
/// time, and only the valid ones enter the mempool.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ForwardedTransactionTests {
  static func signatureChecks(_ api: String) async throws -> Int {
    let metrics = String(decoding: try await HTTP.get(api + "/metrics").body, as: UTF8.self)
    let line = metrics.split(separator: "\n").first { $0.hasPrefix("ledger_signature_checks_total ") }
    return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
  }

  static func waitForChecks(_ api: String, atLeast expected: Int) async throws -> Int {
    let deadline = Date().addingTimeInterval(20)
    var checks = try await signatureChecks(api)
    while checks < expected, Date() < deadline {
      try await Task.sleep(for: .milliseconds(50))
      checks = try await signatureChecks(api)
    }
    // A moment more, so that checks beyond the expected ones would show.
    try await Task.sleep(for: .milliseconds(300))
    return try await signatureChecks(api)
  }

  @Test func forwardedTransactionsAreCheckedOnceAndOnlyValidOnesAdmitted() async throws {
    let network = try await TestNetwork(validators: 4, observers: 0)
    defer { network.shutdown() }
    let target = network.validators[1]
    let submitter = Submitter(api: target.api)
    let operatorKey = Devnet.operatorKey("BJ-GAJ")
    // 149 valid duties and three with a broken signature (another signer's,
    // so that their refusal leaves no gap in BJ-GAJ's sequence), spread over
    // three of the node's check slices.
    var frame = (0..<149).map { index in
      submitter.transaction(
        .declareDuty(
          Duty(bureauId: "BJ-GAJ", dutyId: "D-FWD-\(index)", title: "转发职责", legalBasis: "测试", description: "")),
        by: operatorKey)
    }
    let valid = frame
    var broken: [SignedTransaction] = []
    for (position, index) in [(10, 0), (70, 1), (140, 2)] {
      var bytes = submitter.transaction(
        .declareDuty(
          Duty(bureauId: "BJ-ZJW", dutyId: "D-FWD-BAD-\(index)", title: "转发职责", legalBasis: "测试", description: "")
        ),
        by: Devnet.operatorKey("BJ-ZJW")
      ).canonicalBytes
      bytes[bytes.count - 1] ^= 0x01
      let transaction = try SignedTransaction(canonicalBytes: bytes)
      broken.append(transaction)
      frame.insert(transaction, at: position)
    }

    // This test speaks for validator 3, which is stopped first: a node keeps
    // one connection per peer key, and the real one's could displace this.
    let impersonated = network.validators[3]
    kill(impersonated.pid, SIGKILL)
    try await Task.sleep(for: .milliseconds(500))
    let before = try await Self.signatureChecks(target.api)
    let peer = try RawPeer(address: target.p2p)
    try peer.handshake(as: Devnet.nodeKey(impersonated.id))
    peer.send(.transactions(frame))
    #expect(try await Self.waitForChecks(target.api, atLeast: before + frame.count) == before + frame.count)

    for transaction in valid.prefix(3) + valid.suffix(3) {
      let reply = try await HTTP.get(target.api + "/v1/transactions/\(transaction.id.hex)")
      #expect(reply.status == 200, "\(transaction.id.hex): \(reply.status)")
    }
    for transaction in broken {
      let reply = try await HTTP.get(target.api + "/v1/transactions/\(transaction.id.hex)")
      #expect(reply.status == 404, "a forwarded transaction with a bad signature was kept")
    }
    let metrics = String(decoding: try await HTTP.get(target.api + "/metrics").body, as: UTF8.self)
    #expect(metrics.contains("ledger_peer_rejections_total{reason=\"forwarded_bad_signature\"}"))

    // The same frame again: the valid ones were checked already, the broken ones are checked again.
    peer.send(.transactions(frame))
    let again = try await Self.waitForChecks(target.api, atLeast: before + frame.count + 3)
    #expect(again == before + frame.count + 3, "\(again - before) checks")
  }
}
