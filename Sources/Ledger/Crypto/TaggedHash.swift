/// The domains in which the project hashes and signs. Each message kind has its
/// own tag, so a signature made for one kind can never be presented as another
/// (BIP-340 tagged hashing: `SHA-256(SHA-256(tag) || SHA-256(tag) || bytes)`).
/// The chain id travels inside the hashed bytes, which separates chains.
public enum HashDomain: String, Sendable, CaseIterable {
  /// Transaction id, and the digest every transaction signature covers.
  case transaction = "dirledger/tx"
  /// Block hash: the digest of the canonical block header.
  case blockHeader = "dirledger/block"
  /// Consensus votes (prepare and commit) and commit certificates.
  case vote = "dirledger/vote"
  /// The peer handshake challenge.
  case handshake = "dirledger/handshake"
  /// Genesis file digest, the chain's root of trust.
  case genesis = "dirledger/genesis"
  /// Validator set digest carried in block headers.
  case validatorSet = "dirledger/validators"
  /// Per-transaction execution results committed by a header.
  case transactionResult = "dirledger/txresult"

  public var tag: String { rawValue }

  /// SHA-256 with the tag prefix already absorbed: one 64-byte block, computed
  /// once per domain and copied for every hash in it.
  var prefixedHasher: SHA256Hasher {
    switch self {
    case .transaction: TaggedHashPrefixes.transaction
    case .blockHeader: TaggedHashPrefixes.blockHeader
    case .vote: TaggedHashPrefixes.vote
    case .handshake: TaggedHashPrefixes.handshake
    case .genesis: TaggedHashPrefixes.genesis
    case .validatorSet: TaggedHashPrefixes.validatorSet
    case .transactionResult: TaggedHashPrefixes.transactionResult
    }
  }
}

private enum TaggedHashPrefixes {
  static let transaction = TaggedHash.prefixedHasher(tag: HashDomain.transaction.tag)
  static let blockHeader = TaggedHash.prefixedHasher(tag: HashDomain.blockHeader.tag)
  static let vote = TaggedHash.prefixedHasher(tag: HashDomain.vote.tag)
  static let handshake = TaggedHash.prefixedHasher(tag: HashDomain.handshake.tag)
  static let genesis = TaggedHash.prefixedHasher(tag: HashDomain.genesis.tag)
  static let validatorSet = TaggedHash.prefixedHasher(tag: HashDomain.validatorSet.tag)
  static let transactionResult = TaggedHash.prefixedHasher(tag: HashDomain.transactionResult.tag)
}

public enum TaggedHash {
  public static func hash(_ domain: HashDomain, _ bytes: UnsafeRawBufferPointer) -> Hash256 {
    var hasher = domain.prefixedHasher
    hasher.update(bytes)
    return hasher.finalize()
  }

  public static func hash(_ domain: HashDomain, _ bytes: [UInt8]) -> Hash256 {
    bytes.withUnsafeBytes { hash(domain, $0) }
  }

  /// A tagged hash with an arbitrary tag, as BIP-340 defines it.
  public static func hash(tag: String, _ bytes: [UInt8]) -> Hash256 {
    var hasher = prefixedHasher(tag: tag)
    hasher.update(bytes)
    return hasher.finalize()
  }

  static func prefixedHasher(tag: String) -> SHA256Hasher {
    let tagDigest = SHA256.hash(Array(tag.utf8))
    var hasher = SHA256Hasher()
    hasher.update(tagDigest)
    hasher.update(tagDigest)
    return hasher
  }
}
