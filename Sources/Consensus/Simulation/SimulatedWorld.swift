public import Ledger

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
/// with other transactions fails validation, as with the real ledger. Its
/// header names the set in force at its height, as the real ledger's does.
public struct SimulatedExecutor: BlockExecutor, Sendable {
  public init() {}

  func header(
    on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey,
    validators: ValidatorSet
  ) -> BlockHeader {
    let transactionsRoot = Block.transactionsRoot(transactions)
    return BlockHeader(
      chainId: parent.chainId, height: height, timeMs: parent.timeMs + 1, previousHash: parent.hash,
      historyRoot: SHA256.hash(parent.historyRoot.bytes + parent.hash.bytes), transactionsRoot: transactionsRoot,
      transactionCount: UInt32(transactions.count), resultsRoot: .zero,
      stateRoot: SHA256.hash(parent.stateRoot.bytes + transactionsRoot.bytes), validatorSetHash: validators.hash,
      proposer: proposer)
  }

  public func buildBlock(
    on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey,
    validators: ValidatorSet
  ) -> Block? {
    Block(
      header: header(
        on: parent, height: height, transactions: transactions, proposer: proposer, validators: validators),
      transactions: transactions)
  }

  public func validate(_ block: Block, on parent: BlockHeader, validators: ValidatorSet) -> Bool {
    block.header
      == header(
        on: parent, height: block.header.height, transactions: block.transactions, proposer: block.header.proposer,
        validators: validators)
  }

  /// The genesis header every simulated replica starts from.
  public static func genesis(chainId: String, validatorSetHash: Hash256) -> BlockHeader {
    BlockHeader(
      chainId: chainId, height: 0, timeMs: 0, previousHash: .zero, historyRoot: MerkleTree.emptyRoot,
      transactionsRoot: MerkleTree.emptyRoot, transactionCount: 0, resultsRoot: MerkleTree.emptyRoot,
      stateRoot: .zero, validatorSetHash: validatorSetHash, proposer: PublicKey(rawValue: .zero))
  }
}

/// The simulated chain's one rule besides ordering: `changeValidators`
/// transactions schedule set changes, kept when their effective height is
/// above their block and the projected set keeps at least `validatorCountMin`
/// members. Schedules advance with the ledger's own `ValidatorSchedule`, so
/// the simulated and the real chain switch sets by the same function.
public struct SimulatedLedger: Sendable {
  public let validatorCountMin: Int
  public let pendingChangeCountMax = Limits.pendingValidatorChangeCountMax

  /// The schedule after `block`, given the schedule after its parent.
  public func schedule(after block: Block, from previous: ValidatorSchedule) -> ValidatorSchedule {
    let height = block.header.height
    precondition(height == previous.height + 1, "blocks apply in order")
    var next = previous.advanced()
    for transaction in block.transactions {
      guard case .changeValidators(let change) = transaction.body.payload, change.effectiveHeight > height,
        next.pending.count < pendingChangeCountMax,
        next.pending.last.map({ $0.effectiveHeight <= change.effectiveHeight }) ?? true
      else { continue }
      // As the real rules (GovernanceRules.changeValidators): remove members, add non-members.
      let before = next.pending.reduce(next.current) { $0.applying($1) }
      guard change.remove.allSatisfy(before.contains),
        change.add.allSatisfy({ !before.contains($0.nodeKey) || change.remove.contains($0.nodeKey) }),
        before.applying(change).count >= validatorCountMin
      else { continue }
      next = ValidatorSchedule(height: height, current: next.current, pending: next.pending + [change])
    }
    return next
  }
}
