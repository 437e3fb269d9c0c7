/// Reads the canonical encoding strictly: every accepted input re-encodes to
/// itself byte for byte, and every other input throws a `FormatError` naming
/// the field.
public struct CanonicalReader: Sendable {
  public let bytes: [UInt8]
  public private(set) var offset: Int
  /// Transactions already decoded elsewhere in this process, which a block
  /// being read takes in place of decoding the same bytes again.
  public let knownTransactions: (any KnownTransactions)?

  public init(_ bytes: [UInt8], knownTransactions: (any KnownTransactions)? = nil) {
    self.bytes = bytes
    self.offset = 0
    self.knownTransactions = knownTransactions
  }

  public var remaining: Int { bytes.count - offset }

  /// Fails unless every byte has been read.
  public func finish() throws(FormatError) {
    guard remaining == 0 else {
      throw FormatError(field: "", reason: .trailingBytes(count: remaining))
    }
  }

  private mutating func take(_ count: Int, _ field: String) throws(FormatError) -> Range<Int> {
    guard count <= remaining else {
      throw FormatError(field: field, reason: .truncated(needed: count, available: remaining))
    }
    defer { offset += count }
    return offset..<(offset + count)
  }

  public mutating func read(u8 field: String) throws(FormatError) -> UInt8 {
    bytes[try take(1, field).lowerBound]
  }

  public mutating func read(u16 field: String) throws(FormatError) -> UInt16 {
    UInt16(try readBigEndian(2, field))
  }

  public mutating func read(u32 field: String) throws(FormatError) -> UInt32 {
    UInt32(try readBigEndian(4, field))
  }

  public mutating func read(u64 field: String) throws(FormatError) -> UInt64 {
    try readBigEndian(8, field)
  }

  private mutating func readBigEndian(_ width: Int, _ field: String) throws(FormatError) -> UInt64 {
    let range = try take(width, field)
    var value: UInt64 = 0
    for index in range { value = value << 8 | UInt64(bytes[index]) }
    return value
  }

  public mutating func read(bool field: String) throws(FormatError) -> Bool {
    let byte = try read(u8: field)
    switch byte {
    case 0: return false
    case 1: return true
    default: throw FormatError(field: field, reason: .invalidBoolean(byte))
    }
  }

  /// A minimal LEB128 length no greater than `limit`.
  public mutating func read(varint field: String, limit: Int) throws(FormatError) -> Int {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let byte = try read(u8: field)
      value |= UInt64(byte & 0x7f) << shift
      if byte & 0x80 == 0 {
        // A final zero group after the first byte would be a longer spelling of a smaller value.
        if byte == 0 && shift > 0 { throw FormatError(field: field, reason: .nonMinimalVarint) }
        break
      }
      shift += 7
      if shift > 28 { throw FormatError(field: field, reason: .varintOverflow) }
    }
    guard value <= UInt64(UInt32.max) else {
      throw FormatError(field: field, reason: .varintOverflow)
    }
    guard value <= UInt64(limit) else {
      throw FormatError(field: field, reason: .lengthOverLimit(length: value, limit: limit))
    }
    return Int(value)
  }

  public mutating func read(bytes field: String, limit: Int) throws(FormatError) -> [UInt8] {
    let count = try read(varint: field, limit: limit)
    return Array(bytes[try take(count, field)])
  }

  /// Like `read(bytes:)` but returns where the bytes sit, so a caller can hash
  /// them in place.
  public mutating func read(byteRange field: String, limit: Int) throws(FormatError) -> Range<Int> {
    let count = try read(varint: field, limit: limit)
    return try take(count, field)
  }

  /// UTF-8 text of at most `limit` bytes.
  public mutating func read(string field: String, limit: Int) throws(FormatError) -> String {
    let count = try read(varint: field, limit: limit)
    let range = try take(count, field)
    // Decoding repairs what is not UTF-8 (each bad sequence becomes U+FFFD),
    // so the text is valid exactly when its bytes are the ones read.
    // `String(validating:as:)` answers the same, but looked up generic type
    // metadata on every call: ≈ 0.3 % of a node's CPU, decoding transactions.
    let text = bytes.withUnsafeBufferPointer {
      String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self)
    }
    guard text.utf8.elementsEqual(bytes[range]) else {
      throw FormatError(field: field, reason: .invalidUTF8)
    }
    return text
  }

  /// An identifier: 1 to `limit` characters from `A-Z a-z 0-9 . _ : -`.
  public mutating func read(identifier field: String, limit: Int = Limits.identifierBytesMax)
    throws(FormatError) -> String
  {
    let count = try read(varint: field, limit: limit)
    let range = try take(count, field)
    guard Identifier.isValid(bytes[range]) else {
      throw FormatError(field: field, reason: .invalidIdentifier)
    }
    return String(decoding: bytes[range], as: UTF8.self)
  }

  public mutating func read(hash field: String) throws(FormatError) -> Hash256 {
    let range = try take(32, field)
    return bytes.withUnsafeBytes { Hash256(copying: $0.baseAddress! + range.lowerBound) }
  }

  public mutating func read(publicKey field: String) throws(FormatError) -> PublicKey {
    PublicKey(rawValue: try read(hash: field))
  }

  public mutating func read(signature field: String) throws(FormatError) -> Signature {
    let r = try read(hash: field)
    let s = try read(hash: field)
    return Signature(r: r, s: s)
  }

  /// A value of a nested type; its errors are reported under `field`.
  public mutating func read<Value: CanonicalDecodable>(_ type: Value.Type, _ field: String)
    throws(FormatError) -> Value
  {
    do {
      return try Value(from: &self)
    } catch {
      throw error.within(field)
    }
  }

  /// A counted sequence; element errors name their index, e.g. `items[3].name`.
  public mutating func read<Element>(
    array field: String, count range: ClosedRange<Int>,
    _ decodeElement: (inout CanonicalReader) throws(FormatError) -> Element
  ) throws(FormatError) -> [Element] {
    let count = try read(varint: field, limit: Int(UInt32.max))
    guard range.contains(count) else {
      throw FormatError(
        field: field,
        reason: .countOutOfRange(
          count: UInt64(count), minimum: range.lowerBound, maximum: range.upperBound))
    }
    var elements: [Element] = []
    // Reserve no more than the bytes left could hold: a forged count must not allocate.
    elements.reserveCapacity(Swift.min(count, remaining))
    for index in 0..<count {
      do {
        elements.append(try decodeElement(&self))
      } catch {
        throw error.within("\(field)[\(index)]")
      }
    }
    return elements
  }

  public mutating func read<Element: CanonicalDecodable>(
    array field: String, of type: Element.Type, count range: ClosedRange<Int>
  ) throws(FormatError) -> [Element] {
    try read(array: field, count: range) { (reader) throws(FormatError) in
      try Element(from: &reader)
    }
  }

  /// A set, encoded as its elements in strictly ascending order so that it has
  /// one encoding.
  public mutating func read<Element: Comparable>(
    set field: String, count range: ClosedRange<Int>,
    _ decodeElement: (inout CanonicalReader) throws(FormatError) -> Element
  ) throws(FormatError) -> [Element] {
    let elements = try read(array: field, count: range, decodeElement)
    for index in elements.indices.dropFirst() where !(elements[index - 1] < elements[index]) {
      throw FormatError(field: "\(field)[\(index)]", reason: .notStrictlyAscending)
    }
    return elements
  }

  public mutating func read(identifierSet field: String, count range: ClosedRange<Int>)
    throws(FormatError) -> [String]
  {
    // Identifiers are ASCII, so Swift's String order equals byte order here.
    try read(set: field, count: range) { (reader) throws(FormatError) in
      try reader.read(identifier: "")
    }
  }

  public mutating func read(publicKeySet field: String, count range: ClosedRange<Int>)
    throws(FormatError) -> [PublicKey]
  {
    try read(set: field, count: range) { (reader) throws(FormatError) in
      try reader.read(publicKey: "")
    }
  }

  public mutating func read<Wrapped>(
    optional field: String,
    _ decodeValue: (inout CanonicalReader) throws(FormatError) -> Wrapped
  ) throws(FormatError) -> Wrapped? {
    guard try read(bool: field) else { return nil }
    do {
      return try decodeValue(&self)
    } catch {
      throw error.within(field)
    }
  }

  /// A one-byte enumeration; unknown values are errors.
  public mutating func read<Value: RawRepresentable<UInt8>>(enum field: String, as type: Value.Type)
    throws(FormatError) -> Value
  {
    let raw = try read(u8: field)
    guard let value = Value(rawValue: raw) else {
      throw FormatError(field: field, reason: .unknownTag(UInt64(raw)))
    }
    return value
  }
}

/// Identifiers name bureaus, duties, directories, grants and requests. A small
/// alphabet keeps them safe in URLs, file names and logs.
public enum Identifier {
  public static func isValid(_ utf8: some Collection<UInt8>) -> Bool {
    guard !utf8.isEmpty, utf8.count <= Limits.identifierBytesMax else { return false }
    return utf8.allSatisfy { byte in
      switch byte {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
        UInt8(ascii: ":"), UInt8(ascii: "-"):
        true
      default: false
      }
    }
  }

  public static func isValid(_ text: String) -> Bool { isValid(Array(text.utf8)) }
}
