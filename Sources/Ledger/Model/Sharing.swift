/// Data sharing between bureaus: access requests, grants, data attestations
/// and share records (留痕). Times are Unix milliseconds in block time.

/// What access covers: some items of one directory, for a purpose, for a time.
/// A request asks for a scope; approving it grants exactly that scope.
public struct AccessScope: Hashable, Sendable, Codable, CanonicalCodable {
  /// The provider's directory.
  public var directoryId: String
  /// Names of the data items (ascending by UTF-8 bytes, 1 to 512).
  public var items: [String]
  /// 用途: what the data will be used for, e.g. "不动产登记秒批核验户籍".
  public var purpose: String
  public var validFromMs: UInt64
  /// Exclusive end of the window.
  public var validUntilMs: UInt64

  public init(directoryId: String, items: [String], purpose: String, validFromMs: UInt64, validUntilMs: UInt64) {
    self.directoryId = directoryId
    self.items = CanonicalSet.itemNames(items)
    self.purpose = purpose
    self.validFromMs = validFromMs
    self.validUntilMs = validUntilMs
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: directoryId)
    writer.write(itemNameSet: items)
    writer.write(string: purpose)
    writer.write(u64: validFromMs)
    writer.write(u64: validUntilMs)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    directoryId = try reader.read(identifier: "directoryId")
    items = try reader.read(itemNameSet: "items")
    purpose = try reader.read(string: "purpose", limit: Limits.purposeBytesMax)
    validFromMs = try reader.read(u64: "validFromMs")
    validUntilMs = try reader.read(u64: "validUntilMs")
  }
}

/// A bureau asks another for access to a scope of one of its directories.
public struct AccessRequest: Hashable, Sendable, Codable, CanonicalCodable {
  public var requesterId: String
  /// Chosen by the requester; unique among its requests.
  public var requestId: String
  public var providerId: String
  public var scope: AccessScope

  public init(requesterId: String, requestId: String, providerId: String, scope: AccessScope) {
    self.requesterId = requesterId
    self.requestId = requestId
    self.providerId = providerId
    self.scope = scope
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: requesterId)
    writer.write(string: requestId)
    writer.write(string: providerId)
    writer.write(scope)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    requesterId = try reader.read(identifier: "requesterId")
    requestId = try reader.read(identifier: "requestId")
    providerId = try reader.read(identifier: "providerId")
    scope = try reader.read(AccessScope.self, "scope")
  }
}

/// The provider approves a request; the grant takes the request's scope and window.
public struct RequestApproval: Hashable, Sendable, Codable, CanonicalCodable {
  public var providerId: String
  public var requesterId: String
  public var requestId: String
  /// Id of the grant this approval creates; unique among the provider's grants.
  public var grantId: String

  public init(providerId: String, requesterId: String, requestId: String, grantId: String) {
    self.providerId = providerId
    self.requesterId = requesterId
    self.requestId = requestId
    self.grantId = grantId
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: providerId)
    writer.write(string: requesterId)
    writer.write(string: requestId)
    writer.write(string: grantId)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    providerId = try reader.read(identifier: "providerId")
    requesterId = try reader.read(identifier: "requesterId")
    requestId = try reader.read(identifier: "requestId")
    grantId = try reader.read(identifier: "grantId")
  }
}

/// The provider refuses a request, with the reason on record.
public struct RequestDenial: Hashable, Sendable, Codable, CanonicalCodable {
  public var providerId: String
  public var requesterId: String
  public var requestId: String
  public var reason: String

  public init(providerId: String, requesterId: String, requestId: String, reason: String) {
    self.providerId = providerId
    self.requesterId = requesterId
    self.requestId = requestId
    self.reason = reason
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: providerId)
    writer.write(string: requesterId)
    writer.write(string: requestId)
    writer.write(string: reason)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    providerId = try reader.read(identifier: "providerId")
    requesterId = try reader.read(identifier: "requesterId")
    requestId = try reader.read(identifier: "requestId")
    reason = try reader.read(string: "reason", limit: Limits.reasonBytesMax)
  }
}

/// A direct grant: the grantor lets the grantee obtain a scope of one of its directories.
public struct Grant: Hashable, Sendable, Codable, CanonicalCodable {
  public var grantorId: String
  /// Chosen by the grantor; unique among its grants.
  public var grantId: String
  public var granteeId: String
  public var scope: AccessScope

  public init(grantorId: String, grantId: String, granteeId: String, scope: AccessScope) {
    self.grantorId = grantorId
    self.grantId = grantId
    self.granteeId = granteeId
    self.scope = scope
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: grantorId)
    writer.write(string: grantId)
    writer.write(string: granteeId)
    writer.write(scope)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    grantorId = try reader.read(identifier: "grantorId")
    grantId = try reader.read(identifier: "grantId")
    granteeId = try reader.read(identifier: "granteeId")
    scope = try reader.read(AccessScope.self, "scope")
  }
}

/// A bureau attests that it published data with this hash under one of its directories.
public struct Attestation: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  public var directoryId: String
  public var kind: AttestationKind
  /// SHA-256 of the release, or the RFC 6962 root of the batch.
  public var dataHash: Hash256
  public var recordCount: UInt64
  /// When the bureau produced the data (its own clock), Unix milliseconds.
  public var producedAtMs: UInt64

  public init(
    bureauId: String, directoryId: String, kind: AttestationKind, dataHash: Hash256,
    recordCount: UInt64, producedAtMs: UInt64
  ) {
    self.bureauId = bureauId
    self.directoryId = directoryId
    self.kind = kind
    self.dataHash = dataHash
    self.recordCount = recordCount
    self.producedAtMs = producedAtMs
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: directoryId)
    writer.write(u8: kind.rawValue)
    writer.write(hash: dataHash)
    writer.write(u64: recordCount)
    writer.write(u64: producedAtMs)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    directoryId = try reader.read(identifier: "directoryId")
    kind = try reader.read(enum: "kind", as: AttestationKind.self)
    dataHash = try reader.read(hash: "dataHash")
    recordCount = try reader.read(u64: "recordCount")
    producedAtMs = try reader.read(u64: "producedAtMs")
  }
}

/// 共享留痕: the provider records that the consumer received attested data,
/// under a grant (or, for 无条件共享 directories, without one).
public struct ShareRecord: Hashable, Sendable, Codable, CanonicalCodable {
  public var providerId: String
  public var consumerId: String
  public var directoryId: String
  /// Absent only for directories shared unconditionally.
  public var grantId: String?
  public var dataHash: Hash256

  public init(
    providerId: String, consumerId: String, directoryId: String, grantId: String?,
    dataHash: Hash256
  ) {
    self.providerId = providerId
    self.consumerId = consumerId
    self.directoryId = directoryId
    self.grantId = grantId
    self.dataHash = dataHash
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: providerId)
    writer.write(string: consumerId)
    writer.write(string: directoryId)
    writer.write(optional: grantId) { writer, grantId in writer.write(string: grantId) }
    writer.write(hash: dataHash)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    providerId = try reader.read(identifier: "providerId")
    consumerId = try reader.read(identifier: "consumerId")
    directoryId = try reader.read(identifier: "directoryId")
    grantId = try reader.read(optional: "grantId") { (reader) throws(FormatError) in
      try reader.read(identifier: "")
    }
    dataHash = try reader.read(hash: "dataHash")
  }
}

extension CanonicalReader {
  /// Data item names as a set: ascending by UTF-8 bytes, no duplicates.
  mutating func read(itemNameSet field: String) throws(FormatError) -> [String] {
    let names = try read(array: field, count: 1...Limits.dataItemCountMax) {
      (reader) throws(FormatError) in
      try reader.read(string: "", limit: Limits.dataItemNameBytesMax)
    }
    for index in names.indices.dropFirst()
    where !Array(names[index - 1].utf8).lexicographicallyPrecedes(Array(names[index].utf8)) {
      throw FormatError(field: "\(field)[\(index)]", reason: .notStrictlyAscending)
    }
    return names
  }
}
