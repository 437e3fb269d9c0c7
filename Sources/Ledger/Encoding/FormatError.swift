/// Why canonical bytes were refused, and which field refused them.
///
/// Decoding is strict (docs/FORMAT.md §"Strictness"): there is exactly one
/// encoding of every value, so anything else — a truncated field, a trailing
/// byte, an unknown tag, an over-long or non-minimal length — is an error that
/// names the field by its path, e.g. `body.payload.items[2].name`.
public struct FormatError: Error, Equatable, Sendable, CustomStringConvertible {
  public enum Reason: Equatable, Sendable {
    case truncated(needed: Int, available: Int)
    case trailingBytes(count: Int)
    case unknownTag(UInt64)
    case unsupportedVersion(UInt8)
    case lengthOverLimit(length: UInt64, limit: Int)
    case countOutOfRange(count: UInt64, minimum: Int, maximum: Int)
    case nonMinimalVarint
    case varintOverflow
    case invalidUTF8
    case invalidIdentifier
    case invalidBoolean(UInt8)
    case notStrictlyAscending
    case invalidValue(String)
  }

  /// Dotted path of the field, outermost first.
  public private(set) var field: String
  public let reason: Reason

  public init(field: String, reason: Reason) {
    self.field = field
    self.reason = reason
  }

  /// Stable, machine-readable code: clients match on it, so never rename one.
  public var code: String {
    switch reason {
    case .truncated: "format.truncated"
    case .trailingBytes: "format.trailing_bytes"
    case .unknownTag: "format.unknown_tag"
    case .unsupportedVersion: "format.unsupported_version"
    case .lengthOverLimit: "format.length_over_limit"
    case .countOutOfRange: "format.count_out_of_range"
    case .nonMinimalVarint: "format.non_minimal_varint"
    case .varintOverflow: "format.varint_overflow"
    case .invalidUTF8: "format.invalid_utf8"
    case .invalidIdentifier: "format.invalid_identifier"
    case .invalidBoolean: "format.invalid_boolean"
    case .notStrictlyAscending: "format.not_strictly_ascending"
    case .invalidValue: "format.invalid_value"
    }
  }

  public var message: String {
    switch reason {
    case .truncated(let needed, let available):
      "needs \(needed) more byte(s) but only \(available) remain"
    case .trailingBytes(let count): "\(count) byte(s) follow the end of the value"
    case .unknownTag(let tag): "unknown tag \(tag)"
    case .unsupportedVersion(let version): "unsupported version \(version)"
    case .lengthOverLimit(let length, let limit): "length \(length) exceeds the limit of \(limit)"
    case .countOutOfRange(let count, let minimum, let maximum):
      "count \(count) is outside \(minimum)...\(maximum)"
    case .nonMinimalVarint: "length is not minimally encoded"
    case .varintOverflow: "length does not fit in 32 bits"
    case .invalidUTF8: "text is not valid UTF-8"
    case .invalidIdentifier: "identifier must be 1 or more of A-Z a-z 0-9 . _ : -"
    case .invalidBoolean(let value): "boolean byte must be 0 or 1, not \(value)"
    case .notStrictlyAscending: "elements must be strictly ascending (sorted, no duplicates)"
    case .invalidValue(let why): why
    }
  }

  public var description: String { "\(code) at \(field): \(message)" }

  /// The same error, seen from the enclosing value.
  func within(_ parent: String) -> FormatError {
    var copy = self
    copy.field = field.isEmpty ? parent : (field.first == "[" ? parent + field : parent + "." + field)
    return copy
  }
}
