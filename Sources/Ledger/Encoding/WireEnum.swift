import Synchronization

/// A one-byte enumeration on the wire that reads as its case name in JSON
/// (`"conditional"`, not `2`), so people and API clients see words.
public protocol WireEnum: RawRepresentable<UInt8>, CaseIterable, Codable, Sendable {}

/// Each wire enum's case names, found by reflection once per type.
/// `String(describing:)` walks the type's metadata on every call; decoding a
/// transaction names its payload kind (for error paths), so reflecting each
/// time cost every node ≈ 1.6 µs per transaction (docs/BENCHMARKS.md).
enum WireEnumNames {
  struct Table: Sendable {
    let names: [UInt8: String]
    let rawValues: [String: UInt8]
  }

  private static let tables = Mutex<[ObjectIdentifier: Table]>([:])

  static func table<Enum: WireEnum>(of type: Enum.Type) -> Table {
    let id = ObjectIdentifier(type)
    if let table = tables.withLock({ $0[id] }) { return table }
    let cases = Enum.allCases.map { ($0.rawValue, String(describing: $0)) }
    let table = Table(
      names: Dictionary(cases, uniquingKeysWith: { first, _ in first }),
      rawValues: Dictionary(cases.map { ($1, $0) }, uniquingKeysWith: { first, _ in first }))
    tables.withLock { $0[id] = table }
    return table
  }
}

extension WireEnum {
  /// The table holds every case, so the lookup cannot miss.
  public var name: String { WireEnumNames.table(of: Self.self).names[rawValue]! }

  public init?(name: String) {
    guard let rawValue = WireEnumNames.table(of: Self.self).rawValues[name] else { return nil }
    self.init(rawValue: rawValue)
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
