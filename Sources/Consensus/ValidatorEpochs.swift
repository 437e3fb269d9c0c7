public import Ledger

/// The validator sets a replica knows, each from the first height it is in
/// force. The host tells the replica the next height's set after it applies
/// each block (`ReplicaEvent.blockApplied`), from
/// `ValidatorSchedule.validatorsInForce(at:)`: the same rule the store checks
/// certificates with, so the replica cannot certify a block the store refuses.
///
/// A block may schedule a change for the very next height, so the set of
/// height h + 2 is unknown until block h + 1 is applied: the replica works on
/// one height at a time, and holds what arrives for a height whose set it
/// does not know yet.
public struct ValidatorEpochs: Hashable, Sendable {
  public struct Epoch: Hashable, Sendable {
    public let fromHeight: UInt64
    public let validators: ValidatorSet
  }

  /// Ascending by `fromHeight`, each set different from the one before; the
  /// last is in force through `knownThroughHeight`. At most `epochCountMax`:
  /// the oldest are forgotten (certificates that old are never checked again).
  public private(set) var epochs: [Epoch]
  /// The highest height whose set is known: the host has applied every block below it.
  public private(set) var knownThroughHeight: UInt64

  public static let epochCountMax = 256

  /// `epochs` as the store lists them (`LedgerStore.validatorEpochs`), known through `knownThroughHeight`.
  public init(_ epochs: [(fromHeight: UInt64, validators: ValidatorSet)], knownThroughHeight: UInt64) {
    precondition(!epochs.isEmpty, "a chain has a validator set from height 1")
    precondition(zip(epochs, epochs.dropFirst()).allSatisfy { $0.fromHeight < $1.fromHeight }, "epochs ascend")
    precondition(epochs.last!.fromHeight <= knownThroughHeight, "the last epoch starts at or below what is known")
    self.epochs = epochs.suffix(Self.epochCountMax).map { Epoch(fromHeight: $0.fromHeight, validators: $0.validators) }
    self.knownThroughHeight = knownThroughHeight
  }

  /// The set that certifies `height`, or nil when it is not known yet (or forgotten).
  public func validators(at height: UInt64) -> ValidatorSet? {
    guard height <= knownThroughHeight, let epoch = epochs.last(where: { $0.fromHeight <= height }) else { return nil }
    return epoch.validators
  }

  /// Block `height` was applied (the next unknown height), and `next` is in force at `height + 1`.
  public mutating func applied(height: UInt64, next: ValidatorSet) {
    precondition(height == knownThroughHeight, "blocks are applied in order, each once")
    knownThroughHeight = height + 1
    guard next != epochs.last!.validators else { return }
    epochs.append(Epoch(fromHeight: height + 1, validators: next))
    if epochs.count > Self.epochCountMax { epochs.removeFirst(epochs.count - Self.epochCountMax) }
  }
}
