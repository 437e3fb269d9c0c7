/// What a transaction does. The tag byte on the wire is the raw value of `Kind`.
public enum Payload: Hashable, Sendable {
  // Governance (k-of-n governance keys).
  case registerBureau(BureauRegistration)
  case suspendBureau(BureauStatusChange)
  case reinstateBureau(BureauStatusChange)
  case removeBureau(BureauStatusChange)
  case rotateBureauKeys(BureauKeyRotation)
  case changeValidators(ValidatorSetChange)
  // A bureau's own catalogue (one operator key of that bureau).
  case declareDuty(Duty)
  case amendDuty(Duty)
  case retireDuty(Retirement)
  case publishDirectory(Directory)
  case reviseDirectory(Directory)
  case retireDirectory(Retirement)
  // Sharing.
  case requestAccess(AccessRequest)
  case approveRequest(RequestApproval)
  case denyRequest(RequestDenial)
  case grantAccess(Grant)
  case revokeGrant(Retirement)
  case attestData(Attestation)
  case recordShare(ShareRecord)

  /// Wire tags. Gaps leave room to add kinds next to their relatives.
  public enum Kind: UInt8, WireEnum {
    case registerBureau = 1
    case suspendBureau = 2
    case reinstateBureau = 3
    case removeBureau = 4
    case rotateBureauKeys = 5
    case changeValidators = 6
    case declareDuty = 10
    case amendDuty = 11
    case retireDuty = 12
    case publishDirectory = 20
    case reviseDirectory = 21
    case retireDirectory = 22
    case requestAccess = 30
    case approveRequest = 31
    case denyRequest = 32
    case grantAccess = 40
    case revokeGrant = 41
    case attestData = 50
    case recordShare = 51

    /// Governance kinds need the governance threshold of signatures.
    public var isGovernance: Bool { rawValue < 10 }
  }

  public var kind: Kind {
    switch self {
    case .registerBureau: .registerBureau
    case .suspendBureau: .suspendBureau
    case .reinstateBureau: .reinstateBureau
    case .removeBureau: .removeBureau
    case .rotateBureauKeys: .rotateBureauKeys
    case .changeValidators: .changeValidators
    case .declareDuty: .declareDuty
    case .amendDuty: .amendDuty
    case .retireDuty: .retireDuty
    case .publishDirectory: .publishDirectory
    case .reviseDirectory: .reviseDirectory
    case .retireDirectory: .retireDirectory
    case .requestAccess: .requestAccess
    case .approveRequest: .approveRequest
    case .denyRequest: .denyRequest
    case .grantAccess: .grantAccess
    case .revokeGrant: .revokeGrant
    case .attestData: .attestData
    case .recordShare: .recordShare
    }
  }

  /// The kind-specific fields, as one value.
  public var body: any CanonicalEncodable & Encodable & Sendable {
    switch self {
    case .registerBureau(let value): value
    case .suspendBureau(let value), .reinstateBureau(let value), .removeBureau(let value): value
    case .rotateBureauKeys(let value): value
    case .changeValidators(let value): value
    case .declareDuty(let value), .amendDuty(let value): value
    case .retireDuty(let value), .retireDirectory(let value), .revokeGrant(let value): value
    case .publishDirectory(let value), .reviseDirectory(let value): value
    case .requestAccess(let value): value
    case .approveRequest(let value): value
    case .denyRequest(let value): value
    case .grantAccess(let value): value
    case .attestData(let value): value
    case .recordShare(let value): value
    }
  }
}

extension Payload: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: kind.rawValue)
    body.encode(to: &writer)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let kind = try reader.read(enum: "kind", as: Kind.self)
    var bodyDecoder = CanonicalBodyDecoder(reader: reader, field: kind.fieldName)
    self = try Payload.decodeBody(kind, &bodyDecoder)
    reader = bodyDecoder.reader
  }

  /// Maps a kind to its case, decoding the body with `decoder`; shared by the
  /// binary and JSON decoders so the two can never disagree on a kind's shape.
  /// Generic rather than existential: no casts on the hot path.
  static func decodeBody<Decoder: PayloadBodyDecoder>(_ kind: Kind, _ decoder: inout Decoder)
    throws(Decoder.Failure) -> Payload
  {
    switch kind {
    case .registerBureau: .registerBureau(try decoder.decode(BureauRegistration.self))
    case .suspendBureau: .suspendBureau(try decoder.decode(BureauStatusChange.self))
    case .reinstateBureau: .reinstateBureau(try decoder.decode(BureauStatusChange.self))
    case .removeBureau: .removeBureau(try decoder.decode(BureauStatusChange.self))
    case .rotateBureauKeys: .rotateBureauKeys(try decoder.decode(BureauKeyRotation.self))
    case .changeValidators: .changeValidators(try decoder.decode(ValidatorSetChange.self))
    case .declareDuty: .declareDuty(try decoder.decode(Duty.self))
    case .amendDuty: .amendDuty(try decoder.decode(Duty.self))
    case .retireDuty: .retireDuty(try decoder.decode(Retirement.self))
    case .publishDirectory: .publishDirectory(try decoder.decode(Directory.self))
    case .reviseDirectory: .reviseDirectory(try decoder.decode(Directory.self))
    case .retireDirectory: .retireDirectory(try decoder.decode(Retirement.self))
    case .requestAccess: .requestAccess(try decoder.decode(AccessRequest.self))
    case .approveRequest: .approveRequest(try decoder.decode(RequestApproval.self))
    case .denyRequest: .denyRequest(try decoder.decode(RequestDenial.self))
    case .grantAccess: .grantAccess(try decoder.decode(Grant.self))
    case .revokeGrant: .revokeGrant(try decoder.decode(Retirement.self))
    case .attestData: .attestData(try decoder.decode(Attestation.self))
    case .recordShare: .recordShare(try decoder.decode(ShareRecord.self))
    }
  }
}

extension Payload.Kind {
  /// The name used in JSON (`"kind"`) and in error paths.
  public var fieldName: String { name }
}

/// JSON form: `{"type": "publishDirectory", ...the body's fields}`.
extension Payload: Codable {
  private enum CodingKeys: String, CodingKey { case type }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let name = try container.decode(String.self, forKey: .type)
    guard let kind = Kind(name: name) else {
      throw DecodingError.dataCorruptedError(
        forKey: .type, in: container, debugDescription: "unknown transaction type \"\(name)\"")
    }
    var bodyDecoder = JSONBodyDecoder(decoder: decoder)
    self = try Payload.decodeBody(kind, &bodyDecoder)
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(kind.fieldName, forKey: .type)
    try body.encode(to: encoder)
  }
}

/// The signed part of a transaction.
public struct TransactionBody: Hashable, Sendable, Codable, CanonicalCodable {
  public static let currentVersion: UInt8 = 1

  public var chainId: String
  /// The key whose sequence number this transaction uses; it must also sign.
  public var signer: PublicKey
  /// Must equal the signer's next sequence number: a transaction applies at most once.
  public var sequence: UInt64
  public var payload: Payload

  public init(chainId: String, signer: PublicKey, sequence: UInt64, payload: Payload) {
    self.chainId = chainId
    self.signer = signer
    self.sequence = sequence
    self.payload = payload
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: Self.currentVersion)
    writer.write(string: chainId)
    writer.write(publicKey: signer)
    writer.write(u64: sequence)
    writer.write(payload)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let version = try reader.read(u8: "version")
    guard version == Self.currentVersion else {
      throw FormatError(field: "version", reason: .unsupportedVersion(version))
    }
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    signer = try reader.read(publicKey: "signer")
    sequence = try reader.read(u64: "sequence")
    payload = try reader.read(Payload.self, "payload")
  }

  /// The transaction id, which is also the digest every signature covers:
  /// `taggedHash("dirledger/tx", canonical body bytes)`.
  public var id: Hash256 { TaggedHash.hash(.transaction, canonicalBytes) }
}

/// One signature on a transaction.
public struct TransactionSignature: Hashable, Sendable, Codable, Comparable, CanonicalCodable {
  public var publicKey: PublicKey
  public var signature: Signature

  public init(publicKey: PublicKey, signature: Signature) {
    self.publicKey = publicKey
    self.signature = signature
  }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.publicKey < rhs.publicKey }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(publicKey: publicKey)
    writer.write(signature: signature)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    publicKey = try reader.read(publicKey: "publicKey")
    signature = try reader.read(signature: "signature")
  }
}

/// A transaction as submitted and stored: the body and 1 to 16 signatures over
/// its id, ordered by public key (governance transactions carry several).
public struct SignedTransaction: Hashable, Sendable, Codable, CanonicalCodable {
  /// The fields, shared by every copy. A transaction passes through the
  /// mempool, proposals, execution and storage; with its fields inline, each
  /// copy retained every string and array of its payload, one by one.
  @usableFromInline
  final class Fields: Sendable {
    @usableFromInline let body: TransactionBody
    @usableFromInline let signatures: [TransactionSignature]
    @usableFromInline let id: Hash256
    @usableFromInline let leafHash: Hash256
    @usableFromInline let encodedByteCount: Int

    init(
      body: TransactionBody, signatures: [TransactionSignature], id: Hash256, leafHash: Hash256, encodedByteCount: Int
    ) {
      self.body = body
      self.signatures = signatures
      self.id = id
      self.leafHash = leafHash
      self.encodedByteCount = encodedByteCount
    }
  }

  @usableFromInline let fields: Fields

  @inlinable public var body: TransactionBody { fields.body }
  @inlinable public var signatures: [TransactionSignature] { fields.signatures }
  /// Derived from `body`; kept so the id is hashed once per decode.
  @inlinable public var id: Hash256 { fields.id }
  /// RFC 6962 leaf hash of `canonicalBytes` (signatures included): this
  /// transaction's leaf under its block's `transactionsRoot`, and what tells a
  /// node that a proposal carries, byte for byte, a transaction it has already
  /// decoded. Hashed once, from the bytes decoded or encoded.
  @inlinable public var leafHash: Hash256 { fields.leafHash }
  /// The length of `canonicalBytes`, known from the decode (or the one
  /// encoding at construction), so sizing a transaction never re-encodes it.
  @inlinable public var encodedByteCount: Int { fields.encodedByteCount }

  private enum CodingKeys: String, CodingKey { case id, body, signatures }

  public init(body: TransactionBody, signatures: [TransactionSignature]) {
    let sorted = CanonicalSet.sorted(signatures)
    var writer = CanonicalWriter(capacity: 512)
    writer.write(body)
    let bodyEnd = writer.bytes.count
    writer.write(array: sorted)
    let (id, leafHash) = writer.bytes.withUnsafeBytes {
      (TaggedHash.hash(.transaction, UnsafeRawBufferPointer(rebasing: $0[..<bodyEnd])), MerkleTree.leafHash($0))
    }
    fields = Fields(body: body, signatures: sorted, id: id, leafHash: leafHash, encodedByteCount: writer.bytes.count)
  }

  /// Signs `body` with every key given (the first is normally `body.signer`).
  public init(body: TransactionBody, signedBy keys: [SecretKey]) {
    let id = body.id
    self.init(
      body: body,
      signatures: keys.map { TransactionSignature(publicKey: $0.publicKey, signature: $0.sign(digest: id)) })
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      body: try container.decode(TransactionBody.self, forKey: .body),
      signatures: try container.decode([TransactionSignature].self, forKey: .signatures))
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encode(body, forKey: .body)
    try container.encode(signatures, forKey: .signatures)
  }

  /// The id is a hash of the body, so equal ids mean equal bodies; the body
  /// is compared anyway, so equality never rests on the hash alone.
  public static func == (lhs: SignedTransaction, rhs: SignedTransaction) -> Bool {
    lhs.fields === rhs.fields || (lhs.id == rhs.id && lhs.signatures == rhs.signatures && lhs.body == rhs.body)
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(id)
    hasher.combine(signatures)
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(body)
    // Already in set order: sorted at construction, strictly ascending when decoded.
    writer.write(array: signatures)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    try self.init(from: &reader, leafHash: nil)
  }

  /// Decodes, taking the leaf hash of the bytes read when the caller has
  /// already hashed them (a block's decoder, to look them up) instead of hashing again.
  init(from reader: inout CanonicalReader, leafHash knownLeafHash: Hash256?) throws(FormatError) {
    let bodyStart = reader.offset
    let body = try reader.read(TransactionBody.self, "body")
    let id = reader.bytes.withUnsafeBytes { all in
      TaggedHash.hash(.transaction, UnsafeRawBufferPointer(rebasing: all[bodyStart..<reader.offset]))
    }
    let signatures = try reader.read(set: "signatures", count: 1...Limits.transactionSignatureCountMax) {
      (reader) throws(FormatError) in try TransactionSignature(from: &reader)
    }
    let leafHash =
      knownLeafHash
      ?? reader.bytes.withUnsafeBytes { all in
        MerkleTree.leafHash(UnsafeRawBufferPointer(rebasing: all[bodyStart..<reader.offset]))
      }
    fields = Fields(
      body: body, signatures: signatures, id: id, leafHash: leafHash, encodedByteCount: reader.offset - bodyStart)
  }

  /// True when every signature is a valid BIP-340 signature over the id.
  /// Who must sign (the signer, governance quorum) is a state rule, checked on execution.
  public var signaturesAreValid: Bool {
    signatures.allSatisfy { $0.publicKey.verify($0.signature, digest: id) }
  }
}

/// Decodes one payload body of a statically known type.
protocol PayloadBodyDecoder {
  associatedtype Failure: Error
  mutating func decode<Body: CanonicalDecodable & Decodable>(_ type: Body.Type) throws(Failure) -> Body
}

struct CanonicalBodyDecoder: PayloadBodyDecoder {
  var reader: CanonicalReader
  let field: String

  mutating func decode<Body: CanonicalDecodable & Decodable>(_ type: Body.Type) throws(FormatError) -> Body {
    try reader.read(type, field)
  }
}

struct JSONBodyDecoder: PayloadBodyDecoder {
  let decoder: any Decoder

  mutating func decode<Body: CanonicalDecodable & Decodable>(_ type: Body.Type) throws -> Body {
    try Body(from: decoder)
  }
}

extension Payload {
  /// The bureau whose operator key must sign a bureau transaction (each rule
  /// calls `requireOperator` with exactly this); nil for governance transactions.
  public var actingBureauId: String? {
    switch self {
    case .registerBureau, .suspendBureau, .reinstateBureau, .removeBureau, .rotateBureauKeys, .changeValidators: nil
    case .declareDuty(let duty), .amendDuty(let duty): duty.bureauId
    case .retireDuty(let retirement), .retireDirectory(let retirement), .revokeGrant(let retirement):
      retirement.bureauId
    case .publishDirectory(let directory), .reviseDirectory(let directory): directory.bureauId
    case .requestAccess(let request): request.requesterId
    case .approveRequest(let approval): approval.providerId
    case .denyRequest(let denial): denial.providerId
    case .grantAccess(let grant): grant.grantorId
    case .attestData(let attestation): attestation.bureauId
    case .recordShare(let share): share.providerId
    }
  }
}
