/// The `validators` record as of a committed height: the set in force there
/// and the changes scheduled after it.
///
/// `validatorsInForce(at:)` is the one rule that decides which set certifies a
/// height. The state machine (when it activates changes), the store (when it
/// checks a certificate), the replica (through the set its host reports after
/// each block), the proof builder and the offline verifier all ask it, so
/// they cannot disagree about a boundary.
public struct ValidatorSchedule: Hashable, Sendable {
  /// The height whose post-state holds this record.
  public let height: UInt64
  /// The set in force at `height`.
  public let current: ValidatorSet
  /// Changes scheduled after `height`, in effective-height order (each above `height`).
  public let pending: [ValidatorSetChange]

  public init(height: UInt64, current: ValidatorSet, pending: [ValidatorSetChange]) {
    self.height = height
    self.current = current
    self.pending = pending
  }

  /// The schedule in the `validators` record of the state after block `height`.
  public init?(_ record: StateRecord, height: UInt64) {
    guard case .validators(let current, let pending) = record.value else { return nil }
    self.init(height: height, current: current, pending: pending)
  }

  /// The set that certifies the block at `target`: `current` with every
  /// change whose `effectiveHeight` ≤ `target` applied, in order. A change
  /// takes effect at the start of the block it names, so that block is
  /// already certified by the new set.
  ///
  /// Exact for `target` = `height + 1`. Further ahead it is what the chain
  /// has scheduled so far: a block between could still schedule a change
  /// (a change needs only `effectiveHeight` > the height of its block).
  public func validatorsInForce(at target: UInt64) -> ValidatorSet {
    precondition(target > height, "the set at or below \(height) is `current` or in history, not in the schedule")
    var set = current
    for change in pending where change.effectiveHeight <= target { set = set.applying(change) }
    return set
  }

  /// The schedule after a block at `height + 1` that schedules nothing: the
  /// changes due there have taken effect.
  public func advanced() -> ValidatorSchedule {
    let next = height + 1
    return ValidatorSchedule(
      height: next, current: validatorsInForce(at: next), pending: pending.filter { $0.effectiveHeight > next })
  }
}

extension ValidatorSet {
  /// This set with `change` applied (removals first, then additions).
  public func applying(_ change: ValidatorSetChange) -> ValidatorSet {
    let removed = Set(change.remove)
    return ValidatorSet(validators.filter { !removed.contains($0.nodeKey) } + change.add)
  }
}
