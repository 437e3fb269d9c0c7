public import Ledger

/// Signs consensus digests with this replica's node key. Only `SafetyRules`
/// holds one, so only it can sign.
public protocol ConsensusSigner: Sendable {
  var publicKey: PublicKey { get }
  func sign(digest: Hash256) -> Signature
}

/// Checks signatures of other validators. Production uses BIP-340; the
/// simulator a cheap stand-in, so it can run hundreds of replicas.
public protocol SignatureVerifier: Sendable {
  func verify(_ signature: Signature, digest: Hash256, by key: PublicKey) -> Bool
}

/// What the replica needs from the ledger, without depending on its state machine.
public protocol BlockExecutor {
  /// The primary builds the block at `height` on `parent` from `transactions`,
  /// executing them first so the header carries the post-state root and the
  /// hash of `validators`, the set in force at `height`.
  /// Returns nil when it cannot build on that parent.
  func buildBlock(
    on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey,
    validators: ValidatorSet
  ) -> Block?
  /// A backup checks a proposed block on `parent` before voting for it: the
  /// roots in its header must be what executing it here gives, and it must
  /// name `validators`, the set in force at its height.
  func validate(_ block: Block, on parent: BlockHeader, validators: ValidatorSet) -> Bool
}

/// BIP-340 over secp256k1, as on the wire.
public struct SchnorrSigner: ConsensusSigner, @unchecked Sendable {
  // `SecretKey` is a final class that is never mutated after creation.
  private let key: SecretKey
  public let publicKey: PublicKey

  public init(key: SecretKey) {
    self.key = key
    publicKey = key.publicKey
  }

  public func sign(digest: Hash256) -> Signature { key.sign(digest: digest) }
}

public struct SchnorrVerifier: SignatureVerifier {
  public init() {}
  public func verify(_ signature: Signature, digest: Hash256, by key: PublicKey) -> Bool {
    key.verify(signature, digest: digest)
  }
}

extension CommitCertificate {
  /// True when a quorum of distinct validators of `validators` signed the commit statement.
  public func isValid(
    chainId expectedChainId: String, validators: ValidatorSet, verifier: some SignatureVerifier, quorum: Int? = nil
  ) -> Bool {
    guard chainId == expectedChainId else { return false }
    let digest = statement.signingDigest
    var voters = Set<PublicKey>()
    for entry in signatures {
      guard validators.contains(entry.voter), verifier.verify(entry.signature, digest: digest, by: entry.voter) else {
        return false
      }
      voters.insert(entry.voter)
    }
    return voters.count >= (quorum ?? validators.quorum)
  }
}
