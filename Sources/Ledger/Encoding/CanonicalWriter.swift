/// Appends values in the canonical encoding (docs/FORMAT.md).
///
/// Fixed-width integers are big-endian; lengths and counts are minimal unsigned
/// LEB128; text is UTF-8 behind its byte length.
public struct CanonicalWriter: Sendable {
  public private(set) var bytes: [UInt8]

  public init(capacity: Int = 256) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// Empties the writer but keeps its buffer, for encoding many values in a row.
  public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

  public mutating func write(u8 value: UInt8) { bytes.append(value) }

  public mutating func write(u16 value: UInt16) {
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value))
  }

  public mutating func write(u32 value: UInt32) {
    for shift in stride(from: 24, through: 0, by: -8) {
      bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
    }
  }

  public mutating func write(u64 value: UInt64) {
    for shift in stride(from: 56, through: 0, by: -8) {
      bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
  }

  public mutating func write(bool value: Bool) { bytes.append(value ? 1 : 0) }

  /// Unsigned LEB128, 7 bits a byte, low group first, high bit set on all but the last.
  public mutating func write(varint value: Int) {
    precondition(value >= 0 && value <= Int(UInt32.max), "lengths are 0...2^32-1")
    var remaining = UInt64(value)
    while remaining >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
      remaining >>= 7
    }
    bytes.append(UInt8(remaining))
  }

  /// Bytes that are already a canonical encoding, appended as they are (no length prefix).
  public mutating func write(encoded value: [UInt8]) { bytes.append(contentsOf: value) }

  public mutating func write(bytes value: [UInt8]) {
    write(varint: value.count)
    bytes.append(contentsOf: value)
  }

  public mutating func write(string value: String) {
    var value = value
    value.withUTF8 { utf8 in
      write(varint: utf8.count)
      bytes.append(contentsOf: utf8)
    }
  }

  public mutating func write(hash value: Hash256) {
    value.withUnsafeBytes { bytes.append(contentsOf: $0) }
  }

  public mutating func write(publicKey value: PublicKey) { write(hash: value.rawValue) }

  public mutating func write(signature value: Signature) {
    write(hash: value.r)
    write(hash: value.s)
  }

  public mutating func write(_ value: some CanonicalEncodable) { value.encode(to: &self) }

  public mutating func write<Element>(
    array: [Element], _ encodeElement: (inout CanonicalWriter, Element) -> Void
  ) {
    write(varint: array.count)
    for element in array { encodeElement(&self, element) }
  }

  public mutating func write(array: [some CanonicalEncodable]) {
    write(array: array) { writer, element in element.encode(to: &writer) }
  }

  // Sets are written sorted and without duplicates, so every set value has
  // exactly one encoding whatever order the caller built it in.

  public mutating func write(identifierSet: [String]) {
    write(array: CanonicalSet.identifiers(identifierSet)) { writer, element in
      writer.write(string: element)
    }
  }

  public mutating func write(itemNameSet: [String]) {
    write(array: CanonicalSet.itemNames(itemNameSet)) { writer, element in writer.write(string: element) }
  }

  public mutating func write(publicKeySet: [PublicKey]) {
    write(array: CanonicalSet.sorted(publicKeySet)) { writer, element in
      writer.write(publicKey: element)
    }
  }

  public mutating func write<Element: CanonicalEncodable & Comparable & Hashable>(set: [Element]) {
    write(array: CanonicalSet.sorted(set))
  }

  public mutating func write<Wrapped>(
    optional value: Wrapped?, _ encodeValue: (inout CanonicalWriter, Wrapped) -> Void
  ) {
    if let value {
      bytes.append(1)
      encodeValue(&self, value)
    } else {
      bytes.append(0)
    }
  }

  /// Appends bytes that are already canonical (a nested value encoded earlier).
  public mutating func append(raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }
}

public protocol CanonicalEncodable {
  func encode(to writer: inout CanonicalWriter)
}

public protocol CanonicalDecodable {
  init(from reader: inout CanonicalReader) throws(FormatError)
}

public typealias CanonicalCodable = CanonicalEncodable & CanonicalDecodable

extension CanonicalEncodable {
  /// The one canonical encoding of this value.
  public var canonicalBytes: [UInt8] {
    var writer = CanonicalWriter()
    encode(to: &writer)
    return writer.bytes
  }
}

extension CanonicalDecodable {
  /// Decodes a whole buffer: the value must use every byte.
  public init(canonicalBytes bytes: [UInt8]) throws(FormatError) {
    try self.init(canonicalBytes: bytes, knownTransactions: nil)
  }

  /// The same, taking transactions of blocks inside from `knownTransactions`
  /// where it has their bytes' leaf hash.
  public init(canonicalBytes bytes: [UInt8], knownTransactions: (any KnownTransactions)?) throws(FormatError) {
    var reader = CanonicalReader(bytes, knownTransactions: knownTransactions)
    self = try Self(from: &reader)
    try reader.finish()
  }
}
