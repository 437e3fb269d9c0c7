/// Lower-case hexadecimal, the only text form of bytes the project prints.
public enum Hex {
  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    bytes.withContiguousStorageIfAvailable { encode(UnsafeRawBufferPointer($0), after: noPrefix) }
      ?? Array(bytes).withUnsafeBytes { encode($0, after: noPrefix) }
  }

  private static var noPrefix: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: nil, count: 0) }

  /// `prefix` then the 64 digits of `digest`, in one string: the record
  /// paths that end in a digest (`account/…`, `share/…`, `attestation/…`)
  /// are built for nearly every transaction a block executes, and
  /// interpolation built each through intermediate strings.
  public static func encode(_ digest: Hash256, after prefix: String) -> String {
    var prefix = prefix
    return prefix.withUTF8 { head in digest.withUnsafeBytes { encode($0, after: head) } }
  }

  /// Writes `head` and the digits straight into the string's storage: every
  /// id, key and record path the node prints or builds goes through here.
  private static func encode(_ bytes: UnsafeRawBufferPointer, after head: UnsafeBufferPointer<UInt8>) -> String {
    String(unsafeUninitializedCapacity: head.count + 2 * bytes.count) { utf8 in
      _ = utf8.initialize(fromContentsOf: head)
      for (index, byte) in bytes.enumerated() {
        utf8[head.count + 2 * index] = digit(byte >> 4)
        utf8[head.count + 2 * index + 1] = digit(byte & 0x0f)
      }
      return head.count + 2 * bytes.count
    }
  }

  @inline(__always) private static func digit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
  }

  /// Decodes hex digits (either case); nil for odd length or a non-hex character.
  public static func decode(_ text: some StringProtocol) -> [UInt8]? { decode(String(text)) }

  /// The same for a `String`, over its own UTF-8 bytes: transactions arrive
  /// through the API as hex, about a kilobyte each, thousands per second.
  public static func decode(_ text: String) -> [UInt8]? {
    var text = text
    return text.withUTF8 { utf8 -> [UInt8]? in
      guard utf8.count % 2 == 0 else { return nil }
      return nibbles.withUnsafeBufferPointer { nibbles -> [UInt8]? in
        var invalid: UInt8 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: utf8.count / 2) { buffer, initializedCount in
          for index in 0..<buffer.count {
            let high = nibbles[Int(utf8[2 * index])]
            let low = nibbles[Int(utf8[2 * index + 1])]
            // A non-digit's entry has its high bit set; checked once, after the loop.
            invalid |= high | low
            buffer[index] = high << 4 | low & 0x0f
          }
          initializedCount = buffer.count
        }
        return invalid & 0x80 == 0 ? bytes : nil
      }
    }
  }

  /// Each byte's value as a hex digit (either case), or 0x80 for any other byte:
  /// a table, not a comparison per range, for about a kilobyte per transaction.
  private static let nibbles: [UInt8] = (0...255).map { character in
    switch UInt8(character) {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(character) - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(character) - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(character) - UInt8(ascii: "A") + 10
    default: 0x80
    }
  }
}

/// Values whose JSON form is their lower-case hex string.
public protocol HexCodable: Codable {
  init?(hex: String)
  var hex: String { get }
  static var hexDescription: String { get }
}

extension HexCodable {
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    guard let value = Self(hex: try container.decode(String.self)) else {
      throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected \(Self.hexDescription)")
    }
    self = value
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(hex)
  }
}
