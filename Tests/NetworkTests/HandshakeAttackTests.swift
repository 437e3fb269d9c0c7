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
    guard case .hello(let theirHello)? = first.receive() else { throw TestFailure("no hello") }
    first.send(.hello(hello))
    guard case .auth? = first.receive() else { throw TestFailure("no auth") }
    let recorded = key.sign(
      digest: PeerHandshake.digest(
        chainId: genesis.chainId, genesisHash: genesis.hash, signer: key.publicKey, peer: theirHello.nodeKey,
        peerChallenge: theirHello.challenge, ownChallenge: myChallenge))
    first.send(.auth(recorded))
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
