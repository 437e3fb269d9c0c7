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
    self = try Payload.decodeBody(kind) { (type) throws(FormatError) in
      try reader.read(type, kind.fieldName)
    }
  }

  /// Maps a kind to its case, decoding the body with `decode`; shared by the
  /// binary and JSON decoders so the two can never disagree on a kind's shape.
  static func decodeBody<Failure: Error>(
    _ kind: Kind, _ decode: (any (CanonicalDecodable & Decodable).Type) throws(Failure) -> Any
  ) throws(Failure) -> Payload {
    // Each `as!` is on the value just decoded as that very type.
    switch kind {
    case .registerBureau: .registerBureau(try decode(BureauRegistration.self) as! BureauRegistration)
    case .suspendBureau: .suspendBureau(try decode(BureauStatusChange.self) as! BureauStatusChange)
    case .reinstateBureau: .reinstateBureau(try decode(BureauStatusChange.self) as! BureauStatusChange)
    case .removeBureau: .removeBureau(try decode(BureauStatusChange.self) as! BureauStatusChange)
    case .rotateBureauKeys: .rotateBureauKeys(try decode(BureauKeyRotation.self) as! BureauKeyRotation)
    case .changeValidators: .changeValidators(try decode(ValidatorSetChange.self) as! ValidatorSetChange)
    case .declareDuty: .declareDuty(try decode(Duty.self) as! Duty)
    case .amendDuty: .amendDuty(try decode(Duty.self) as! Duty)
    case .retireDuty: .retireDuty(try decode(Retirement.self) as! Retirement)
    case .publishDirectory: .publishDirectory(try decode(Directory.self) as! Directory)
    case .reviseDirectory: .reviseDirectory(try decode(Directory.self) as! Directory)
    case .retireDirectory: .retireDirectory(try decode(Retirement.self) as! Retirement)
    case .requestAccess: .requestAccess(try decode(AccessRequest.self) as! AccessRequest)
    case .approveRequest: .approveRequest(try decode(RequestApproval.self) as! RequestApproval)
    case .denyRequest: .denyRequest(try decode(RequestDenial.self) as! RequestDenial)
    case .grantAccess: .grantAccess(try decode(Grant.self) as! Grant)
    case .revokeGrant: .revokeGrant(try decode(Retirement.self) as! Retirement)
    case .attestData: .attestData(try decode(Attestation.self) as! Attestation)
    case .recordShare: .recordShare(try decode(ShareRecord.self) as! ShareRecord)
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
    self = try Payload.decodeBody(kind) { type in try type.init(from: decoder) }
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
  public let body: TransactionBody
  public let signatures: [TransactionSignature]
  /// Derived from `body`; kept so the id is hashed once per decode.
  public let id: Hash256

  private enum CodingKeys: String, CodingKey { case id, body, signatures }

  public init(body: TransactionBody, signatures: [TransactionSignature]) {
    self.body = body
    self.signatures = CanonicalSet.sorted(signatures)
    self.id = body.id
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

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(body)
    writer.write(set: signatures)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let bodyStart = reader.offset
    body = try reader.read(TransactionBody.self, "body")
    id = reader.bytes.withUnsafeBytes { all in
      TaggedHash.hash(.transaction, UnsafeRawBufferPointer(rebasing: all[bodyStart..<reader.offset]))
    }
    signatures = try reader.read(set: "signatures", count: 1...Limits.transactionSignatureCountMax) {
      (reader) throws(FormatError) in try TransactionSignature(from: &reader)
    }
  }

  /// True when every signature is a valid BIP-340 signature over the id.
  /// Who must sign (the signer, governance quorum) is a state rule, checked on execution.
  public var signaturesAreValid: Bool {
    signatures.allSatisfy { $0.publicKey.verify($0.signature, digest: id) }
  }
}
