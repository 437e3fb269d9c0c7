internal import CSecp256k1

#if canImport(Glibc)
  import Glibc
#endif

/// The process-wide libsecp256k1 context.
///
/// `@unchecked Sendable` is sound: the context is created and randomised once,
/// then only passed as `const secp256k1_context *`, which libsecp256k1
/// documents as safe to use from many threads at once.
final class Secp256k1Context: @unchecked Sendable {
  static let shared = Secp256k1Context()
  let pointer: OpaquePointer

  private init() {
    guard let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE)) else {
      preconditionFailure("libsecp256k1 could not create a context")
    }
    // Blinding against side channels while signing.
    var seed = SecureRandom.bytes(32)
    let randomized = secp256k1_context_randomize(context, &seed)
    precondition(randomized == 1, "libsecp256k1 rejected the context seed")
    pointer = context
  }
}

enum SecureRandom {
  static func bytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
  }
}

/// A BIP-340 x-only public key: 32 bytes.
public struct PublicKey: Hashable, Sendable, Comparable {
  public let rawValue: Hash256

  public static let byteCount = 32

  /// Wraps 32 bytes without checking they are a point on the curve; `verify`
  /// fails for bytes that are not. Use `init?(validating:)` for operator input.
  public init(rawValue: Hash256) { self.rawValue = rawValue }

  public init?(bytes: some Collection<UInt8>) {
    guard let raw = Hash256(bytes: bytes) else { return nil }
    self.rawValue = raw
  }

  public init?(hex: some StringProtocol) {
    guard let raw = Hash256(hex: hex) else { return nil }
    self.rawValue = raw
  }

  /// True when the bytes are the x coordinate of a point on secp256k1.
  public var isValidPoint: Bool { parsed() != nil }

  public var bytes: [UInt8] { rawValue.bytes }
  public var hex: String { rawValue.hex }

  public static func < (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.rawValue < rhs.rawValue }

  /// Parsed keys of recent signers. Parsing lifts x to a curve point (a
  /// square root, ≈ 18 % of a verification here), and a city's bureaus sign
  /// many transactions each with the same few keys.
  private static let parsedKeys = TwoGenerationCache<Hash256, secp256k1_xonly_pubkey>(capacity: 1 << 14)

  func parsed() -> secp256k1_xonly_pubkey? {
    if let cached = Self.parsedKeys.value(rawValue) { return cached }
    var key = secp256k1_xonly_pubkey()
    let ok = rawValue.withUnsafeBytes { raw in
      secp256k1_xonly_pubkey_parse(
        Secp256k1Context.shared.pointer, &key, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    guard ok == 1 else { return nil }
    Self.parsedKeys.insert(rawValue, key)
    return key
  }

  /// BIP-340 verification of `signature` over a 32-byte digest.
  public func verify(_ signature: Signature, digest: Hash256) -> Bool {
    digest.withUnsafeBytes { verify(signature, message: $0) }
  }

  /// BIP-340 verification over a message of any length (BIP-340 test vectors use
  /// non-32-byte messages; the project itself always signs 32-byte tagged digests).
  public func verify(_ signature: Signature, message: UnsafeRawBufferPointer) -> Bool {
    guard var key = parsed() else { return false }
    return signature.withUnsafeBytes { sig in
      secp256k1_schnorrsig_verify(
        Secp256k1Context.shared.pointer, sig.baseAddress!,
        message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, &key) == 1
    }
  }
}

extension PublicKey: CustomStringConvertible {
  public var description: String { hex }
}

extension PublicKey: Codable {
  public init(from decoder: any Decoder) throws {
    self.init(rawValue: try Hash256(from: decoder))
  }
  public func encode(to encoder: any Encoder) throws { try rawValue.encode(to: encoder) }
}

/// A 64-byte BIP-340 signature: the nonce point's x coordinate `r`, then `s`.
public struct Signature: Hashable, Sendable {
  public let r: Hash256
  public let s: Hash256

  public static let byteCount = 64

  public init(r: Hash256, s: Hash256) {
    self.r = r
    self.s = s
  }

  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count == Self.byteCount else { return nil }
    let array = Array(bytes)
    self.r = Hash256(bytes: array[0..<32])!
    self.s = Hash256(bytes: array[32..<64])!
  }

  public init?(hex: some StringProtocol) {
    guard let bytes = Hex.decode(hex) else { return nil }
    self.init(bytes: bytes)
  }

  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  /// Lends the 64 bytes from the stack: verification is on the hot path and must not allocate.
  public func withUnsafeBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) throws -> Result) rethrows -> Result {
    try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
      r.withUnsafeBytes { buffer.baseAddress!.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: 32) }
      s.withUnsafeBytes {
        (buffer.baseAddress! + 32).update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: 32)
      }
      return try body(UnsafeBufferPointer(buffer))
    }
  }
  public var hex: String { Hex.encode(bytes) }
}

extension Signature: HexCodable {
  public init?(hex: String) { self.init(hex: hex[...]) }
  public static var hexDescription: String { "128 hex digits" }
}

/// A BIP-340 secret key.
///
/// A class so that there is one copy of the secret in memory, which `deinit`
/// wipes. It never prints itself: `description` is redacted, and the only way
/// out is `withUnsafeSecretBytes`, used to write the key file.
public final class SecretKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
  // Immutable after init and wiped only in deinit, when no other reference exists,
  // so sharing across tasks is safe.
  private nonisolated(unsafe) let secret: UnsafeMutableRawBufferPointer
  private nonisolated(unsafe) let keypair: UnsafeMutablePointer<secp256k1_keypair>
  public let publicKey: PublicKey

  public enum InvalidKey: Error, Equatable {
    case wrongLength(Int)
    case outOfRange
  }

  /// A fresh key from the system's secure random source.
  public convenience init() {
    var candidate = SecureRandom.bytes(32)
    defer { Self.wipe(&candidate) }
    // Out of range only with probability about 2^-128, but the rule is the rule.
    while secp256k1_ec_seckey_verify(Secp256k1Context.shared.pointer, candidate) != 1 {
      Self.wipe(&candidate)
      candidate = SecureRandom.bytes(32)
    }
    try! self.init(bytes: candidate)  // verified in range just above
  }

  /// A key from its 32 secret bytes; throws if they are not in [1, n-1].
  public init(bytes: [UInt8]) throws(InvalidKey) {
    guard bytes.count == 32 else { throw .wrongLength(bytes.count) }
    let context = Secp256k1Context.shared.pointer
    let pair = UnsafeMutablePointer<secp256k1_keypair>.allocate(capacity: 1)
    pair.initialize(to: secp256k1_keypair())
    let created = bytes.withUnsafeBufferPointer {
      secp256k1_keypair_create(context, pair, $0.baseAddress!)
    }
    guard created == 1 else {
      Self.wipe(UnsafeMutableRawPointer(pair), count: MemoryLayout<secp256k1_keypair>.size)
      pair.deallocate()
      throw .outOfRange
    }
    var xonly = secp256k1_xonly_pubkey()
    var parity: Int32 = 0
    precondition(secp256k1_keypair_xonly_pub(context, &xonly, &parity, pair) == 1)
    var serialized = [UInt8](repeating: 0, count: 32)
    precondition(secp256k1_xonly_pubkey_serialize(context, &serialized, &xonly) == 1)

    secret = .allocate(byteCount: 32, alignment: 8)
    secret.copyBytes(from: bytes)
    keypair = pair
    publicKey = PublicKey(bytes: serialized)!
  }

  deinit {
    Self.wipe(secret.baseAddress!, count: secret.count)
    Self.wipe(UnsafeMutableRawPointer(keypair), count: MemoryLayout<secp256k1_keypair>.size)
    secret.deallocate()
    keypair.deallocate()
  }

  public var description: String { "SecretKey(public: \(publicKey.hex), secret: redacted)" }
  public var debugDescription: String { description }

  /// Lends the 32 secret bytes, e.g. to write a key file. Do not keep them.
  public func withUnsafeSecretBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(secret))
  }

  /// Signs a 32-byte digest with fresh auxiliary randomness (BIP-340's
  /// recommended hedge against faulty nonce generation).
  public func sign(digest: Hash256) -> Signature {
    var generator = SystemRandomNumberGenerator()
    let aux = Hash256(w0: generator.next(), w1: generator.next(), w2: generator.next(), w3: generator.next())
    return digest.withUnsafeBytes { message in
      aux.withUnsafeBytes { sign(message: message, auxiliaryRandom: $0) }
    }
  }

  /// Signs with caller-chosen auxiliary randomness: deterministic, for test
  /// vectors and reproducible documentation only.
  public func sign(message: UnsafeRawBufferPointer, auxiliaryRandom: [UInt8]) -> Signature {
    precondition(auxiliaryRandom.count == 32, "BIP-340 auxiliary randomness is 32 bytes")
    return auxiliaryRandom.withUnsafeBytes { sign(message: message, auxiliaryRandom: $0) }
  }

  private func sign(message: UnsafeRawBufferPointer, auxiliaryRandom: UnsafeRawBufferPointer) -> Signature {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { signature in
      // libsecp256k1 only reads ndata; the mutable cast is its C signature, not a write.
      var parameters = secp256k1_schnorrsig_extraparams(
        magic: (0xda, 0x6f, 0xb3, 0x8c), noncefp: nil,
        ndata: UnsafeMutableRawPointer(mutating: auxiliaryRandom.baseAddress))
      let ok = secp256k1_schnorrsig_sign_custom(
        Secp256k1Context.shared.pointer, signature.baseAddress!,
        message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, keypair,
        &parameters)
      precondition(ok == 1, "libsecp256k1 failed to sign with a valid keypair")
      return Signature(r: Hash256(copying: signature.baseAddress!), s: Hash256(copying: signature.baseAddress! + 32))
    }
  }

  private static func wipe(_ pointer: UnsafeMutableRawPointer, count: Int) {
    explicit_bzero(pointer, count)
  }

  private static func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) }
  }
}
