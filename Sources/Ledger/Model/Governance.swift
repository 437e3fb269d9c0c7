/// Governance transactions: signed by at least `threshold` of the governance
/// keys named in genesis (e.g. the city's big-data bureau, 大数据局, and others).

/// Registers a bureau (委办局) with the keys its staff sign with and the keys
/// its nodes identify with.
public struct BureauRegistration: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  /// Official name, e.g. "北京市公安局".
  public var name: String
  /// Keys that may sign the bureau's transactions (ascending, 1 to 8).
  public var operatorKeys: [PublicKey]
  /// Keys the bureau's nodes use in the peer handshake (ascending, 0 to 8).
  public var nodeKeys: [PublicKey]

  public init(bureauId: String, name: String, operatorKeys: [PublicKey], nodeKeys: [PublicKey]) {
    self.bureauId = bureauId
    self.name = name
    self.operatorKeys = CanonicalSet.sorted(operatorKeys)
    self.nodeKeys = CanonicalSet.sorted(nodeKeys)
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: name)
    writer.write(publicKeySet: operatorKeys)
    writer.write(publicKeySet: nodeKeys)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    name = try reader.read(string: "name", limit: Limits.nameBytesMax)
    operatorKeys = try reader.read(publicKeySet: "operatorKeys", count: 1...Limits.bureauKeyCountMax)
    nodeKeys = try reader.read(publicKeySet: "nodeKeys", count: 0...Limits.bureauKeyCountMax)
  }
}

/// Suspends, reinstates or removes a bureau, with the reason on record.
public struct BureauStatusChange: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  public var reason: String

  public init(bureauId: String, reason: String) {
    self.bureauId = bureauId
    self.reason = reason
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: reason)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    reason = try reader.read(string: "reason", limit: Limits.reasonBytesMax)
  }
}

/// Replaces a bureau's operator and node keys (lost or compromised keys, staff changes).
public struct BureauKeyRotation: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  public var operatorKeys: [PublicKey]
  public var nodeKeys: [PublicKey]

  public init(bureauId: String, operatorKeys: [PublicKey], nodeKeys: [PublicKey]) {
    self.bureauId = bureauId
    self.operatorKeys = CanonicalSet.sorted(operatorKeys)
    self.nodeKeys = CanonicalSet.sorted(nodeKeys)
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(publicKeySet: operatorKeys)
    writer.write(publicKeySet: nodeKeys)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    operatorKeys = try reader.read(publicKeySet: "operatorKeys", count: 1...Limits.bureauKeyCountMax)
    nodeKeys = try reader.read(publicKeySet: "nodeKeys", count: 0...Limits.bureauKeyCountMax)
  }
}

/// One voting node and the bureau that runs it.
public struct Validator: Hashable, Sendable, Codable, Comparable, CanonicalCodable {
  public var nodeKey: PublicKey
  public var bureauId: String

  public init(nodeKey: PublicKey, bureauId: String) {
    self.nodeKey = nodeKey
    self.bureauId = bureauId
  }

  public static func < (lhs: Validator, rhs: Validator) -> Bool { lhs.nodeKey < rhs.nodeKey }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(publicKey: nodeKey)
    writer.write(string: bureauId)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    nodeKey = try reader.read(publicKey: "nodeKey")
    bureauId = try reader.read(identifier: "bureauId")
  }
}

/// Adds and removes validators from `effectiveHeight` on, so every node switches
/// sets at the same block.
public struct ValidatorSetChange: Hashable, Sendable, Codable, CanonicalCodable {
  /// Ascending by node key.
  public var add: [Validator]
  /// Node keys, ascending.
  public var remove: [PublicKey]
  public var effectiveHeight: UInt64

  public init(add: [Validator], remove: [PublicKey], effectiveHeight: UInt64) {
    self.add = CanonicalSet.sorted(add)
    self.remove = CanonicalSet.sorted(remove)
    self.effectiveHeight = effectiveHeight
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(set: add)
    writer.write(publicKeySet: remove)
    writer.write(u64: effectiveHeight)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    add = try reader.read(set: "add", count: 0...Limits.validatorChangeCountMax) {
      (reader) throws(FormatError) in try Validator(from: &reader)
    }
    remove = try reader.read(publicKeySet: "remove", count: 0...Limits.validatorChangeCountMax)
    effectiveHeight = try reader.read(u64: "effectiveHeight")
  }
}
