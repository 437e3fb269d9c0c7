/// A self-contained proof for approval services (docs/PROOFS.md §7): claims
/// about the ledger, the Merkle paths that prove them against one certified
/// header (the anchor), and the validator-set transitions since genesis that
/// say who had to certify it. With the genesis file, `ProofVerifier` checks it
/// offline, trusting no node.
public struct ProofBundle: Hashable, Sendable, Codable {
  public static let currentVersion: UInt8 = 1
  public static let claimCountMax = 64
  public static let transitionCountMax = 4_096
  public static let bytesMax = 16 * 1_024 * 1_024

  public var version: UInt8
  public var chainId: String
  public var genesisHash: Hash256
  /// In height order; each moves the verifier from the set in force to the next one.
  public var validatorTransitions: [ValidatorSetTransition]
  /// The certified header every claim is proven against (height ≥ 1).
  public var anchor: CertifiedHeader
  public var claims: [ProofClaim]

  public init(
    chainId: String, genesisHash: Hash256, validatorTransitions: [ValidatorSetTransition], anchor: CertifiedHeader,
    claims: [ProofClaim]
  ) {
    version = Self.currentVersion
    self.chainId = chainId
    self.genesisHash = genesisHash
    self.validatorTransitions = validatorTransitions
    self.anchor = anchor
    self.claims = claims
  }
}

/// A block header with the commit certificate that made it final.
public struct CertifiedHeader: Hashable, Sendable, Codable {
  public var header: BlockHeader
  public var certificate: CommitCertificate

  public init(header: BlockHeader, certificate: CommitCertificate) {
    self.header = header
    self.certificate = certificate
  }
}

/// A record of state (or its absence, when `record` is nil) with its sparse
/// Merkle path, against the state root of whichever header the context names.
public struct RecordProof: Hashable, Sendable, Codable {
  public var key: String
  public var record: StateRecord?
  public var proof: SparseMerkleProof

  public init(key: String, record: StateRecord?, proof: SparseMerkleProof) {
    self.key = key
    self.record = record
    self.proof = proof
  }

  public static let keyBytesMax = 512
}

/// How the verifier learns of a validator-set change that takes effect at
/// `before.header.height + 1`: the last block under the old set, certified by
/// it, and the `validators` record of its state, whose pending changes for the
/// next height give the new set.
public struct ValidatorSetTransition: Hashable, Sendable, Codable {
  public var before: CertifiedHeader
  public var validators: RecordProof

  public init(before: CertifiedHeader, validators: RecordProof) {
    self.before = before
    self.validators = validators
  }
}

/// A transaction in its block, its result, and that block in the anchor's history.
public struct TransactionInclusion: Hashable, Sendable, Codable {
  public var header: BlockHeader
  public var index: UInt32
  public var transaction: SignedTransaction
  /// RFC 6962 path to the transaction in `header.transactionsRoot`.
  public var transactionPath: [Hash256]
  /// `ok` or the rejection code.
  public var resultCode: String
  /// RFC 6962 path to the result digest in `header.resultsRoot`.
  public var resultPath: [Hash256]
  /// RFC 6962 path to `header`'s hash at index `header.height` in the anchor's
  /// `historyRoot` (tree size = anchor height). Empty when `header` is the anchor.
  public var historyPath: [Hash256]

  public init(
    header: BlockHeader, index: UInt32, transaction: SignedTransaction, transactionPath: [Hash256],
    resultCode: String, resultPath: [Hash256], historyPath: [Hash256]
  ) {
    self.header = header
    self.index = index
    self.transaction = transaction
    self.transactionPath = transactionPath
    self.resultCode = resultCode
    self.resultPath = resultPath
    self.historyPath = historyPath
  }
}

/// That the anchor's chain extends the chain ending at `earlier`.
public struct HistoryConsistency: Hashable, Sendable, Codable {
  public var earlier: BlockHeader
  /// `earlier`'s hash at index `earlier.height` in the anchor's history tree.
  public var inclusionPath: [Hash256]
  /// RFC 6962 consistency from size `earlier.height` (its `historyRoot`) to
  /// size anchor height (the anchor's `historyRoot`); empty when `earlier` is genesis.
  public var consistencyPath: [Hash256]

  public init(earlier: BlockHeader, inclusionPath: [Hash256], consistencyPath: [Hash256]) {
    self.earlier = earlier
    self.inclusionPath = inclusionPath
    self.consistencyPath = consistencyPath
  }
}

/// The approval service's question in one claim: who attested `dataHash`,
/// under which directory and duties, and may `consumerId` hold it.
public struct ProvenanceClaim: Hashable, Sendable, Codable {
  public var dataHash: Hash256
  public var consumerId: String
  /// `attestation/<bureau>/<directory>/<dataHash>`.
  public var attestation: RecordProof
  /// `directory/<bureau>/<directory>`.
  public var directory: RecordProof
  /// One per duty the directory cites.
  public var duties: [RecordProof]
  /// The consumer's grant for the directory, when the node found one.
  public var grant: RecordProof?
  /// A share record of this data to the consumer, when the node found one.
  public var share: RecordProof?

  public init(
    dataHash: Hash256, consumerId: String, attestation: RecordProof, directory: RecordProof, duties: [RecordProof],
    grant: RecordProof?, share: RecordProof?
  ) {
    self.dataHash = dataHash
    self.consumerId = consumerId
    self.attestation = attestation
    self.directory = directory
    self.duties = duties
    self.grant = grant
    self.share = share
  }
}

public enum ProofClaim: Hashable, Sendable {
  case record(RecordProof)
  case transaction(TransactionInclusion)
  case consistency(HistoryConsistency)
  case provenance(ProvenanceClaim)

  enum Tag: UInt8 {
    case record = 1
    case transaction = 2
    case consistency = 3
    case provenance = 4
  }

  public var kindName: String {
    switch self {
    case .record: "record"
    case .transaction: "transaction"
    case .consistency: "consistency"
    case .provenance: "provenance"
    }
  }
}

// MARK: Canonical encoding (docs/PROOFS.md §7.1)

extension ProofBundle: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: version)
    writer.write(string: chainId)
    writer.write(hash: genesisHash)
    writer.write(array: validatorTransitions)
    writer.write(anchor)
    writer.write(array: claims)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    version = try reader.read(u8: "version")
    guard version == Self.currentVersion else {
      throw FormatError(field: "version", reason: .unsupportedVersion(version))
    }
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    genesisHash = try reader.read(hash: "genesisHash")
    validatorTransitions = try reader.read(
      array: "validatorTransitions", of: ValidatorSetTransition.self, count: 0...Self.transitionCountMax)
    anchor = try reader.read(CertifiedHeader.self, "anchor")
    claims = try reader.read(array: "claims", of: ProofClaim.self, count: 1...Self.claimCountMax)
  }
}

extension CertifiedHeader: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(header)
    writer.write(certificate)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    header = try reader.read(BlockHeader.self, "header")
    certificate = try reader.read(CommitCertificate.self, "certificate")
  }
}

extension SparseMerkleProof: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(varint: siblings.count)
    for sibling in siblings { writer.write(hash: sibling) }
    writer.write(optional: leaf) { writer, leaf in
      writer.write(hash: leaf.key)
      writer.write(hash: leaf.valueHash)
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let siblings = try reader.read(array: "siblings", count: 0...256) { (reader) throws(FormatError) in
      try reader.read(hash: "")
    }
    let leaf = try reader.read(optional: "leaf") { (reader) throws(FormatError) in
      Leaf(key: try reader.read(hash: "key"), valueHash: try reader.read(hash: "valueHash"))
    }
    self.init(siblings: siblings, leaf: leaf)
  }
}

extension RecordProof: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: key)
    writer.write(optional: record) { $0.write($1) }
    writer.write(proof)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    key = try reader.read(string: "key", limit: Self.keyBytesMax)
    record = try reader.read(optional: "record") { (reader) throws(FormatError) in try StateRecord(from: &reader) }
    proof = try reader.read(SparseMerkleProof.self, "proof")
  }
}

extension ValidatorSetTransition: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(before)
    writer.write(validators)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    before = try reader.read(CertifiedHeader.self, "before")
    validators = try reader.read(RecordProof.self, "validators")
  }
}

/// RFC 6962 paths are at most 64 hashes (trees of up to 2^64 leaves).
private func writePath(_ path: [Hash256], to writer: inout CanonicalWriter) {
  writer.write(varint: path.count)
  for hash in path { writer.write(hash: hash) }
}

private func readPath(_ field: String, from reader: inout CanonicalReader) throws(FormatError) -> [Hash256] {
  try reader.read(array: field, count: 0...64) { (reader) throws(FormatError) in try reader.read(hash: "") }
}

extension TransactionInclusion: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(header)
    writer.write(u32: index)
    writer.write(transaction)
    writePath(transactionPath, to: &writer)
    writer.write(string: resultCode)
    writePath(resultPath, to: &writer)
    writePath(historyPath, to: &writer)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    header = try reader.read(BlockHeader.self, "header")
    index = try reader.read(u32: "index")
    transaction = try reader.read(SignedTransaction.self, "transaction")
    transactionPath = try readPath("transactionPath", from: &reader)
    resultCode = try reader.read(string: "resultCode", limit: Limits.identifierBytesMax)
    resultPath = try readPath("resultPath", from: &reader)
    historyPath = try readPath("historyPath", from: &reader)
  }
}

extension HistoryConsistency: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(earlier)
    writePath(inclusionPath, to: &writer)
    writePath(consistencyPath, to: &writer)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    earlier = try reader.read(BlockHeader.self, "earlier")
    inclusionPath = try readPath("inclusionPath", from: &reader)
    consistencyPath = try readPath("consistencyPath", from: &reader)
  }
}

extension ProvenanceClaim: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(hash: dataHash)
    writer.write(string: consumerId)
    writer.write(attestation)
    writer.write(directory)
    writer.write(array: duties)
    writer.write(optional: grant) { $0.write($1) }
    writer.write(optional: share) { $0.write($1) }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    dataHash = try reader.read(hash: "dataHash")
    consumerId = try reader.read(identifier: "consumerId")
    attestation = try reader.read(RecordProof.self, "attestation")
    directory = try reader.read(RecordProof.self, "directory")
    duties = try reader.read(array: "duties", of: RecordProof.self, count: 0...Limits.dutyCitationCountMax)
    grant = try reader.read(optional: "grant") { (reader) throws(FormatError) in try RecordProof(from: &reader) }
    share = try reader.read(optional: "share") { (reader) throws(FormatError) in try RecordProof(from: &reader) }
  }
}

extension ProofClaim: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    switch self {
    case .record(let proof):
      writer.write(u8: Tag.record.rawValue)
      writer.write(proof)
    case .transaction(let inclusion):
      writer.write(u8: Tag.transaction.rawValue)
      writer.write(inclusion)
    case .consistency(let consistency):
      writer.write(u8: Tag.consistency.rawValue)
      writer.write(consistency)
    case .provenance(let provenance):
      writer.write(u8: Tag.provenance.rawValue)
      writer.write(provenance)
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try reader.read(enum: "type", as: Tag.self) {
    case .record: self = .record(try reader.read(RecordProof.self, "record"))
    case .transaction: self = .transaction(try reader.read(TransactionInclusion.self, "transaction"))
    case .consistency: self = .consistency(try reader.read(HistoryConsistency.self, "consistency"))
    case .provenance: self = .provenance(try reader.read(ProvenanceClaim.self, "provenance"))
    }
  }
}

/// JSON form: `{"type": "record", "record": {...}}` and so on.
extension ProofClaim: Codable {
  private enum CodingKeys: String, CodingKey { case type, record, transaction, consistency, provenance }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    switch try container.decode(String.self, forKey: .type) {
    case "record": self = .record(try container.decode(RecordProof.self, forKey: .record))
    case "transaction": self = .transaction(try container.decode(TransactionInclusion.self, forKey: .transaction))
    case "consistency": self = .consistency(try container.decode(HistoryConsistency.self, forKey: .consistency))
    case "provenance": self = .provenance(try container.decode(ProvenanceClaim.self, forKey: .provenance))
    case let other:
      throw DecodingError.dataCorruptedError(
        forKey: .type, in: container, debugDescription: "unknown claim type \"\(other)\"")
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(kindName, forKey: .type)
    switch self {
    case .record(let proof): try container.encode(proof, forKey: .record)
    case .transaction(let inclusion): try container.encode(inclusion, forKey: .transaction)
    case .consistency(let consistency): try container.encode(consistency, forKey: .consistency)
    case .provenance(let provenance): try container.encode(provenance, forKey: .provenance)
    }
  }
}
