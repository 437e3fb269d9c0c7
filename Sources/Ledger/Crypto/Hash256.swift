/// A 32-byte SHA-256 digest.
///
/// Stored inline as four words so that digests — the most common value in every
/// tree, header and index — never allocate. The words hold the digest bytes in
/// memory order; `withUnsafeBytes` exposes them as the 32 raw bytes.
public struct Hash256: Hashable, Sendable, Comparable {
  @usableFromInline var w0: UInt64
  @usableFromInline var w1: UInt64
  @usableFromInline var w2: UInt64
  @usableFromInline var w3: UInt64

  public static let byteCount = 32
  public static let zero = Hash256(w0: 0, w1: 0, w2: 0, w3: 0)

  @usableFromInline init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
    self.w0 = w0
    self.w1 = w1
    self.w2 = w2
    self.w3 = w3
  }

  /// Feeds one word to the hasher: the digests are uniform, so 64 bits tell
  /// them apart as well as 256 do (equality still compares all four words),
  /// and the state tree's dictionaries hash a quarter of the bytes. Hasher is
  /// seeded per process, so crafted collisions would cost ~2^64 SHA-256 each.
  /// Inlinable, as is `==`: the node's dictionaries keyed by digests live in
  /// other modules, which otherwise call both through the protocol witness.
  @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(w0) }

  @inlinable public static func == (lhs: Hash256, rhs: Hash256) -> Bool {
    lhs.w0 == rhs.w0 && lhs.w1 == rhs.w1 && lhs.w2 == rhs.w2 && lhs.w3 == rhs.w3
  }

  /// Builds a digest from exactly 32 bytes; returns nil for any other length.
  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count == Self.byteCount else { return nil }
    self = .zero
    withUnsafeMutableBytes { target in
      for (offset, byte) in bytes.enumerated() { target[offset] = byte }
    }
  }

  /// Builds a digest from 32 bytes at `pointer`.
  public init(copying pointer: UnsafeRawPointer) {
    self = .zero
    withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: 32)) }
  }

  /// Parses 64 hex digits (either case).
  public init?(hex: some StringProtocol) {
    guard let bytes = Hex.decode(hex), let digest = Hash256(bytes: bytes) else { return nil }
    self = digest
  }

  @inlinable
  public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows
    -> Result
  {
    var copy = self
    return try Swift.withUnsafeBytes(of: &copy) { try body($0) }
  }

  @inlinable
  mutating func withUnsafeMutableBytes<Result>(
    _ body: (UnsafeMutableRawBufferPointer) throws -> Result
  ) rethrows -> Result {
    try Swift.withUnsafeMutableBytes(of: &self) { try body($0) }
  }

  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
  public var hex: String { Hex.encode(bytes) }

  /// Bit `index` of the digest, most significant bit of byte 0 first: the path
  /// a key takes down the sparse Merkle tree.
  @inlinable
  public func bit(_ index: Int) -> Bool {
    precondition(index >= 0 && index < 256, "bit index out of range")
    let word: UInt64
    switch index >> 6 {
    case 0: word = w0
    case 1: word = w1
    case 2: word = w2
    default: word = w3
    }
    // Words hold bytes in memory order, so byte 0 is the low byte on little-endian hosts.
    let bigEndianWord = UInt64(bigEndian: word)
    return (bigEndianWord >> (63 - UInt64(index & 63))) & 1 == 1
  }

  /// Orders digests as unsigned 256-bit big-endian numbers (byte-wise).
  public static func < (lhs: Hash256, rhs: Hash256) -> Bool {
    let l = (UInt64(bigEndian: lhs.w0), UInt64(bigEndian: lhs.w1), UInt64(bigEndian: lhs.w2), UInt64(bigEndian: lhs.w3))
    let r = (UInt64(bigEndian: rhs.w0), UInt64(bigEndian: rhs.w1), UInt64(bigEndian: rhs.w2), UInt64(bigEndian: rhs.w3))
    return l < r
  }
}

extension Hash256: CustomStringConvertible {
  public var description: String { hex }
}

extension Hash256: HexCodable {
  public init?(hex: String) { self.init(hex: hex[...]) }
  public static var hexDescription: String { "64 hex digits" }
}
