internal import COpenSSL

/// Incremental SHA-256 on OpenSSL's `SHA256_Init/Update/Final`.
///
/// Why this path and not the one-shot `SHA256()` or a fresh `EVP_MD_fetch`:
/// OpenSSL 3 re-fetches the algorithm on every one-shot call (~700 ns for 65
/// bytes on the reference machine) while the low-level context costs ~130 ns.
/// Trees hash 65-byte inputs millions of times, so the difference is the tree's
/// speed. `docs/BENCHMARKS.md` records the comparison.
///
/// A value type: copying a hasher copies its midstate, which is how tagged
/// hashes reuse the absorbed tag prefix.
public struct SHA256Hasher: Sendable {
  private var context = SHA256_CTX()

  public init() {
    SHA256_Init(&context)
  }

  public mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    SHA256_Update(&context, base, bytes.count)
  }

  public mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  public mutating func update(_ digest: Hash256) {
    digest.withUnsafeBytes { update($0) }
  }

  public mutating func update(byte: UInt8) {
    var value = byte
    SHA256_Update(&context, &value, 1)
  }

  public consuming func finalize() -> Hash256 {
    var digest = Hash256.zero
    digest.withUnsafeMutableBytes { target in
      _ = SHA256_Final(target.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
    }
    return digest
  }
}

public enum SHA256 {
  public static func hash(_ bytes: UnsafeRawBufferPointer) -> Hash256 {
    var hasher = SHA256Hasher()
    hasher.update(bytes)
    return hasher.finalize()
  }

  public static func hash(_ bytes: [UInt8]) -> Hash256 {
    bytes.withUnsafeBytes { hash($0) }
  }
}

/// SHA-256 through a pre-fetched `EVP_MD`, kept so the benchmark can compare the
/// two OpenSSL paths on the machine it runs on. Not used on the hot path.
public enum SHA256ViaEVP {
  private final class FetchedAlgorithm: @unchecked Sendable {
    // Safe to share: an EVP_MD fetched once is immutable and reference counted by OpenSSL.
    let md: OpaquePointer
    init() {
      guard let md = EVP_MD_fetch(nil, "SHA256", nil) else {
        preconditionFailure("OpenSSL has no SHA256 implementation")
      }
      self.md = md
    }
  }
  private static let algorithm = FetchedAlgorithm()

  public static func hash(_ bytes: UnsafeRawBufferPointer) -> Hash256 {
    var digest = Hash256.zero
    var length: UInt32 = 0
    digest.withUnsafeMutableBytes { target in
      let ok = EVP_Digest(
        bytes.baseAddress, bytes.count, target.baseAddress!.assumingMemoryBound(to: UInt8.self),
        &length, algorithm.md, nil)
      precondition(ok == 1 && length == 32, "EVP_Digest failed")
    }
    return digest
  }

  /// The one-shot `SHA256()` call, for the benchmark's comparison only.
  public static func oneShot(_ bytes: UnsafeRawBufferPointer) -> Hash256 {
    var digest = Hash256.zero
    digest.withUnsafeMutableBytes { target in
      _ = COpenSSL.SHA256(
        bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
        target.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }
    return digest
  }
}
