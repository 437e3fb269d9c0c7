/// A one-byte enumeration on the wire that reads as its case name in JSON
/// (`"conditional"`, not `2`), so people and API clients see words.
public protocol WireEnum: RawRepresentable<UInt8>, CaseIterable, Codable, Sendable {}

extension WireEnum {
  public var name: String { String(describing: self) }

  public init?(name: String) {
    guard let value = Self.allCases.first(where: { $0.name == name }) else { return nil }
    self = value
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let name = try container.decode(String.self)
    guard let value = Self(name: name) else {
      let allowed = Self.allCases.map(\.name).joined(separator: ", ")
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "\"\(name)\" is not one of: \(allowed)")
    }
    self = value
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(name)
  }
}

/// Normalises set-valued fields at construction, so a value built in any order
/// equals its decoded canonical form.
public enum CanonicalSet {
  /// Identifiers are ASCII, so String order is byte order.
  public static func identifiers(_ values: [String]) -> [String] { Array(Set(values)).sorted() }

  /// Data item names, ordered by their UTF-8 bytes.
  public static func itemNames(_ values: [String]) -> [String] {
    Array(Set(values)).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
  }

  public static func sorted<Element: Comparable & Hashable>(_ values: [Element]) -> [Element] {
    Array(Set(values)).sorted()
  }
}
