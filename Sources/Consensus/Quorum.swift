public import Ledger

/// Where a replica stands relative to a validator set: the counts PBFT needs.
/// The arithmetic lives in `Ledger.ValidatorSet` because offline verifiers use
/// it too; this names it in the protocol's terms.
public struct QuorumRules: Sendable, Equatable {
  public let validatorCount: Int
  public let faultsTolerated: Int
  /// Votes needed to prepare or commit (2f + 1 when n = 3f + 1).
  public let quorum: Int
  /// Votes that guarantee at least one honest sender (f + 1): enough to join a view change.
  public let weakQuorum: Int

  public init(_ validators: ValidatorSet) {
    validatorCount = validators.count
    faultsTolerated = validators.faultsTolerated
    quorum = validators.quorum
    weakQuorum = validators.faultsTolerated + 1
  }
}
