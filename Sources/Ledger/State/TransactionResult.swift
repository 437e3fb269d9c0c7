/// Why a transaction was not applied. `code` is stable and machine-readable
/// (`grant.directory_not_shareable`); `message` is for people and may change.
public struct Rejection: Error, Hashable, Sendable, Codable, CustomStringConvertible {
  public let code: String
  public let message: String

  public init(_ code: String, _ message: String) {
    self.code = code
    self.message = message
  }

  public var description: String { "\(code): \(message)" }
}

/// The outcome of one transaction in a block.
public struct TransactionResult: Hashable, Sendable, Codable, CanonicalEncodable {
  public static let acceptedCode = "ok"

  public let transactionId: Hash256
  /// `ok`, or the rejection code.
  public let code: String
  /// Empty when accepted.
  public let message: String

  public init(transactionId: Hash256, rejection: Rejection?) {
    self.transactionId = transactionId
    self.code = rejection?.code ?? Self.acceptedCode
    self.message = rejection?.message ?? ""
  }

  public var isAccepted: Bool { code == Self.acceptedCode }

  /// The bytes the results root commits to: the id and the code only. The
  /// message is left out so that rewording a message never changes a root
  /// that validators must agree on.
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(hash: transactionId)
    writer.write(string: code)
  }

  /// The 32 bytes a results-root leaf holds: `taggedHash("dirledger/txresult", canonical bytes)`.
  public var digest: Hash256 { TaggedHash.hash(.transactionResult, canonicalBytes) }

  /// RFC 6962 root over the results' digests, in block order.
  public static func root(_ results: [TransactionResult]) -> Hash256 {
    MerkleTree.root(leafHashes: results.map { result in result.digest.withUnsafeBytes { MerkleTree.leafHash($0) } })
  }
}
