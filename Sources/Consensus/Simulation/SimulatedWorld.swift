public import Ledger

/// A small, fast, seeded generator (SplitMix64): the only randomness in a simulation.
public struct SimulationRandom: RandomNumberGenerator, Sendable {
  private var state: UInt64
  public init(seed: UInt64) { state = seed }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D1_049B_B133_111E
    return z ^ (z >> 31)
  }
  public mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
}

/// Stand-in signatures for simulation: `r = SHA-256(key || digest)`. Anyone
/// could compute them, which is fine in a world where the simulator decides
/// what each faulty replica does; it lets hundreds of replicas run in seconds.
/// Production replicas use `SchnorrSigner` / `SchnorrVerifier`.
public struct SimulatedSigner: ConsensusSigner {
  public let publicKey: PublicKey
  public init(publicKey: PublicKey) { self.publicKey = publicKey }
  public func sign(digest: Hash256) -> Signature { SimulatedVerifier.signature(digest, publicKey) }
}

public struct SimulatedVerifier: SignatureVerifier {
  public init() {}
  static func signature(_ digest: Hash256, _ key: PublicKey) -> Signature {
    let r = SHA256.hash(key.rawValue.bytes + digest.bytes)
    return Signature(r: r, s: SHA256.hash(r.bytes))
  }
  public func verify(_ signature: Signature, digest: Hash256, by key: PublicKey) -> Bool {
    signature == Self.signature(digest, key)
  }
}

/// Executes nothing, deterministically: the post-state root is a hash of the
/// parent's and the transactions root, so a block built on another parent or
/// with other transactions fails validation, as with the real ledger.
public struct SimulatedExecutor: BlockExecutor, Sendable {
  public let validatorSetHash: Hash256
  public init(validatorSetHash: Hash256) { self.validatorSetHash = validatorSetHash }

  func header(on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey)
    -> BlockHeader
  {
    let transactionsRoot = Block.transactionsRoot(transactions)
    return BlockHeader(
      chainId: parent.chainId, height: height, timeMs: parent.timeMs + 1, previousHash: parent.hash,
      historyRoot: SHA256.hash(parent.historyRoot.bytes + parent.hash.bytes), transactionsRoot: transactionsRoot,
      transactionCount: UInt32(transactions.count), resultsRoot: .zero,
      stateRoot: SHA256.hash(parent.stateRoot.bytes + transactionsRoot.bytes), validatorSetHash: validatorSetHash,
      proposer: proposer)
  }

  public func buildBlock(on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey)
    -> Block?
  {
    Block(
      header: header(on: parent, height: height, transactions: transactions, proposer: proposer),
      transactions: transactions)
  }

  public func validate(_ block: Block, on parent: BlockHeader) -> Bool {
    block.header
      == header(
        on: parent, height: block.header.height, transactions: block.transactions, proposer: block.header.proposer)
  }

  /// The genesis header every simulated replica starts from.
  public static func genesis(chainId: String, validatorSetHash: Hash256) -> BlockHeader {
    BlockHeader(
      chainId: chainId, height: 0, timeMs: 0, previousHash: .zero, historyRoot: MerkleTree.emptyRoot,
      transactionsRoot: MerkleTree.emptyRoot, transactionCount: 0, resultsRoot: MerkleTree.emptyRoot,
      stateRoot: .zero, validatorSetHash: validatorSetHash, proposer: PublicKey(rawValue: .zero))
  }
}
