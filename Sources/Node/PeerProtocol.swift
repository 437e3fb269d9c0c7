public import Consensus
public import Ledger

/// What travels between nodes, one per frame (docs/FORMAT.md, "Peer frames").
/// A frame is a 4-byte big-endian payload length, then the payload: a kind
/// byte and the canonical encoding of its body.
public enum PeerFrame: Hashable, Sendable {
  /// First frame each side sends: who it is and a fresh challenge for the other.
  case hello(PeerHello)
  /// The answer to the other side's challenge.
  case auth(Signature)
  case consensus(ConsensusMessage)
  /// Admitted transactions passed on to the validators (signatures already checked by the sender, and again here).
  case transactions([SignedTransaction])
  /// Why this side is closing the connection, so the other can log it.
  case refusal(code: String, message: String)

  enum Kind: UInt8 {
    case hello = 1
    case auth = 2
    case consensus = 3
    case transactions = 4
    case refusal = 5
  }

  public static let protocolVersion: UInt8 = 1
  /// Bounds what one frame may hold; larger frames close the connection.
  public static let transactionsPerFrameMax = 10_000
  public static let refusalBytesMax = 1_024
}

public enum PeerRole: UInt8, Sendable, Codable, CaseIterable {
  case validator = 1
  case observer = 2

  public var name: String { self == .validator ? "validator" : "observer" }
}

public struct PeerHello: Hashable, Sendable {
  public let version: UInt8
  public let chainId: String
  /// The genesis hash: two nodes of chains that share a name still refuse each other.
  public let genesisHash: Hash256
  public let nodeKey: PublicKey
  public let role: PeerRole
  public let challenge: Hash256

  public init(chainId: String, genesisHash: Hash256, nodeKey: PublicKey, role: PeerRole, challenge: Hash256) {
    version = PeerFrame.protocolVersion
    self.chainId = chainId
    self.genesisHash = genesisHash
    self.nodeKey = nodeKey
    self.role = role
    self.challenge = challenge
  }

  fileprivate init(
    version: UInt8, chainId: String, genesisHash: Hash256, nodeKey: PublicKey, role: PeerRole, challenge: Hash256
  ) {
    self.version = version
    self.chainId = chainId
    self.genesisHash = genesisHash
    self.nodeKey = nodeKey
    self.role = role
    self.challenge = challenge
  }
}

extension PeerFrame: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    switch self {
    case .hello(let hello):
      writer.write(u8: Kind.hello.rawValue)
      writer.write(u8: hello.version)
      writer.write(string: hello.chainId)
      writer.write(hash: hello.genesisHash)
      writer.write(publicKey: hello.nodeKey)
      writer.write(u8: hello.role.rawValue)
      writer.write(hash: hello.challenge)
    case .auth(let signature):
      writer.write(u8: Kind.auth.rawValue)
      writer.write(signature: signature)
    case .consensus(let message):
      writer.write(u8: Kind.consensus.rawValue)
      writer.write(message)
    case .transactions(let transactions):
      writer.write(u8: Kind.transactions.rawValue)
      writer.write(array: transactions)
    case .refusal(let code, let message):
      writer.write(u8: Kind.refusal.rawValue)
      writer.write(string: code)
      writer.write(string: String(decoding: Array(message.utf8.prefix(Self.refusalBytesMax)), as: UTF8.self))
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try reader.read(enum: "kind", as: Kind.self) {
    case .hello:
      let version = try reader.read(u8: "hello.version")
      self = .hello(
        PeerHello(
          version: version,
          chainId: try reader.read(string: "hello.chainId", limit: Limits.chainIdBytesMax),
          genesisHash: try reader.read(hash: "hello.genesisHash"),
          nodeKey: try reader.read(publicKey: "hello.nodeKey"),
          role: try reader.read(enum: "hello.role", as: PeerRole.self),
          challenge: try reader.read(hash: "hello.challenge")))
    case .auth: self = .auth(try reader.read(signature: "auth.signature"))
    case .consensus: self = .consensus(try reader.read(ConsensusMessage.self, "consensus"))
    case .transactions:
      self = .transactions(
        try reader.read(
          array: "transactions", of: SignedTransaction.self, count: 1...Self.transactionsPerFrameMax))
    case .refusal:
      self = .refusal(
        code: try reader.read(string: "refusal.code", limit: Limits.identifierBytesMax),
        message: try reader.read(string: "refusal.message", limit: Self.refusalBytesMax))
    }
  }
}

/// The handshake (docs/FORMAT.md, "Peer handshake"): each side answers the
/// other's fresh challenge by signing, under the `dirledger/handshake` tag,
/// the chain id, the genesis hash, its own key, the other side's key and both
/// challenges (the other's first). A signature therefore proves possession of
/// the key, now, to this peer, on this chain, and cannot be replayed to
/// another peer or later.
public enum PeerHandshake {
  public static func digest(
    chainId: String, genesisHash: Hash256, signer: PublicKey, peer: PublicKey, peerChallenge: Hash256,
    ownChallenge: Hash256
  ) -> Hash256 {
    var writer = CanonicalWriter()
    writer.write(string: chainId)
    writer.write(hash: genesisHash)
    writer.write(publicKey: signer)
    writer.write(publicKey: peer)
    writer.write(hash: peerChallenge)
    writer.write(hash: ownChallenge)
    return TaggedHash.hash(.handshake, writer.bytes)
  }

  /// Why a hello is refused, or nil when the peer may proceed to authenticate.
  public static func refusal(
    of hello: PeerHello, chainId: String, genesisHash: Hash256, ownKey: PublicKey, admitted: (PublicKey) -> Bool
  ) -> (code: String, message: String)? {
    guard hello.version == PeerFrame.protocolVersion else {
      return ("peer.version", "protocol version \(hello.version); this node speaks \(PeerFrame.protocolVersion)")
    }
    guard hello.chainId == chainId, hello.genesisHash == genesisHash else {
      return (
        "peer.wrong_chain",
        "peer is on chain \"\(hello.chainId)\" (genesis \(hello.genesisHash.hex)), this node on \"\(chainId)\""
      )
    }
    guard hello.nodeKey != ownKey else { return ("peer.self", "connected to itself") }
    guard admitted(hello.nodeKey) else {
      return ("peer.unknown_key", "node key \(hello.nodeKey.hex) is neither a validator nor a configured observer")
    }
    return nil
  }
}
