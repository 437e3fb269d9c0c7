/// The two PBFT phases whose votes are signed and persisted.
public enum VotePhase: UInt8, WireEnum {
  case prepare = 1
  case commit = 2
}

/// What a validator vote says: "in `view`, block `blockHash` is the one at `height`".
/// The signed digest is `taggedHash("dirledger/vote", canonical VoteStatement)`.
public struct VoteStatement: Hashable, Sendable, Codable, CanonicalCodable {
  public var phase: VotePhase
  public var chainId: String
  public var height: UInt64
  public var view: UInt64
  public var blockHash: Hash256

  public init(phase: VotePhase, chainId: String, height: UInt64, view: UInt64, blockHash: Hash256) {
    self.phase = phase
    self.chainId = chainId
    self.height = height
    self.view = view
    self.blockHash = blockHash
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: phase.rawValue)
    writer.write(string: chainId)
    writer.write(u64: height)
    writer.write(u64: view)
    writer.write(hash: blockHash)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    phase = try reader.read(enum: "phase", as: VotePhase.self)
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    height = try reader.read(u64: "height")
    view = try reader.read(u64: "view")
    blockHash = try reader.read(hash: "blockHash")
  }

  public var signingDigest: Hash256 { TaggedHash.hash(.vote, canonicalBytes) }
}

/// A signed vote from one validator.
public struct Vote: Hashable, Sendable, Codable, CanonicalCodable {
  public var statement: VoteStatement
  public var voter: PublicKey
  public var signature: Signature

  public init(statement: VoteStatement, voter: PublicKey, signature: Signature) {
    self.statement = statement
    self.voter = voter
    self.signature = signature
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(statement)
    writer.write(publicKey: voter)
    writer.write(signature: signature)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    statement = try reader.read(VoteStatement.self, "statement")
    voter = try reader.read(publicKey: "voter")
    signature = try reader.read(signature: "signature")
  }

  public var signatureIsValid: Bool { voter.verify(signature, digest: statement.signingDigest) }
}

/// One validator's commit signature inside a certificate.
public struct VoterSignature: Hashable, Sendable, Codable, Comparable, CanonicalCodable {
  public var voter: PublicKey
  public var signature: Signature

  public init(voter: PublicKey, signature: Signature) {
    self.voter = voter
    self.signature = signature
  }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.voter < rhs.voter }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(publicKey: voter)
    writer.write(signature: signature)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    voter = try reader.read(publicKey: "voter")
    signature = try reader.read(signature: "signature")
  }
}

/// A commit certificate: a quorum of commit votes for one block, from the
/// validator set that certifies its height. Anyone who knows that set can
/// check it (docs/PROOFS.md).
public struct CommitCertificate: Hashable, Sendable, Codable, CanonicalCodable {
  public var chainId: String
  public var height: UInt64
  public var view: UInt64
  public var blockHash: Hash256
  /// Ascending by voter key, one per voter.
  public var signatures: [VoterSignature]

  public init(chainId: String, height: UInt64, view: UInt64, blockHash: Hash256, signatures: [VoterSignature]) {
    self.chainId = chainId
    self.height = height
    self.view = view
    self.blockHash = blockHash
    self.signatures = CanonicalSet.sorted(signatures)
  }

  /// The statement every signature in the certificate covers.
  public var statement: VoteStatement {
    VoteStatement(phase: .commit, chainId: chainId, height: height, view: view, blockHash: blockHash)
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: chainId)
    writer.write(u64: height)
    writer.write(u64: view)
    writer.write(hash: blockHash)
    writer.write(set: signatures)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    height = try reader.read(u64: "height")
    view = try reader.read(u64: "view")
    blockHash = try reader.read(hash: "blockHash")
    signatures = try reader.read(set: "signatures", count: 1...Limits.validatorCountMax) {
      (reader) throws(FormatError) in try VoterSignature(from: &reader)
    }
  }

  public enum Invalid: Error, Equatable, Sendable {
    case wrongChain(String)
    case notAValidator(PublicKey)
    case badSignature(PublicKey)
    case belowQuorum(signatures: Int, quorum: Int)
  }

  /// Checks the certificate against the validator set of its height: every
  /// signer is a validator, every signature is valid, and there are at least a
  /// quorum of them.
  public func verify(chainId expectedChainId: String, validators: ValidatorSet) throws(Invalid) {
    guard chainId == expectedChainId else { throw .wrongChain(chainId) }
    let digest = statement.signingDigest
    for entry in signatures {
      guard validators.contains(entry.voter) else { throw .notAValidator(entry.voter) }
      guard entry.voter.verify(entry.signature, digest: digest) else { throw .badSignature(entry.voter) }
    }
    guard signatures.count >= validators.quorum else {
      throw .belowQuorum(signatures: signatures.count, quorum: validators.quorum)
    }
  }
}

/// The validators that vote at some height, and the quorum arithmetic.
public struct ValidatorSet: Hashable, Sendable, Codable, CanonicalCodable {
  /// Ascending by node key, 1 to 256 members.
  public let validators: [Validator]

  public init(_ validators: [Validator]) {
    precondition(!validators.isEmpty, "a validator set has at least one member")
    self.validators = CanonicalSet.sorted(validators)
  }

  public var count: Int { validators.count }

  /// f: the most Byzantine validators the set tolerates, n ≥ 3f + 1.
  public var faultsTolerated: Int { (count - 1) / 3 }

  /// The smallest vote count any two of which share more than f validators:
  /// ⌊(n + f) / 2⌋ + 1, which is 2f + 1 when n = 3f + 1.
  public var quorum: Int { (count + faultsTolerated) / 2 + 1 }

  public func contains(_ nodeKey: PublicKey) -> Bool {
    validators.contains { $0.nodeKey == nodeKey }
  }

  public func encode(to writer: inout CanonicalWriter) { writer.write(set: validators) }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    validators = try reader.read(set: "validators", count: 1...Limits.validatorCountMax) {
      (reader) throws(FormatError) in try Validator(from: &reader)
    }
  }

  /// The digest block headers carry in `validatorSetHash`.
  public var hash: Hash256 { TaggedHash.hash(.validatorSet, canonicalBytes) }
}
