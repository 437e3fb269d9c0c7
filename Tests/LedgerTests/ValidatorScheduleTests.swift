import Testing

@testable import Ledger

/// The one rule for the set in force at a height (RULES.md), and the store's
/// view of it that the node hands to the replica.
@Suite("Validator schedule")
struct ValidatorScheduleTests {
  static let keys = (0..<6).map { Devnet.key("schedule/\($0)").publicKey }
  static func set(_ indices: [Int]) -> ValidatorSet {
    ValidatorSet(indices.map { Validator(nodeKey: keys[$0], bureauId: "B\($0)") })
  }
  static func add(_ index: Int, at height: UInt64) -> ValidatorSetChange {
    ValidatorSetChange(add: [Validator(nodeKey: keys[index], bureauId: "B\(index)")], remove: [], effectiveHeight: height)
  }

  @Test("a change is in force from its effective height; several at one height apply in order; later ones wait")
  func inForce() {
    let replace = ValidatorSetChange(
      add: [Validator(nodeKey: Self.keys[5], bureauId: "B5")], remove: [Self.keys[0]], effectiveHeight: 12)
    let schedule = ValidatorSchedule(
      height: 9, current: Self.set([0, 1, 2, 3]), pending: [Self.add(4, at: 10), replace, Self.add(0, at: 12)])
    #expect(schedule.validatorsInForce(at: 10) == Self.set([0, 1, 2, 3, 4]))
    #expect(schedule.validatorsInForce(at: 11) == Self.set([0, 1, 2, 3, 4]))
    // Removed, then added back by the second change of the same height.
    #expect(schedule.validatorsInForce(at: 12) == Self.set([0, 1, 2, 3, 4, 5]))
    let next = schedule.advanced()
    #expect(next.height == 10 && next.current == Self.set([0, 1, 2, 3, 4]) && next.pending.count == 2)
    #expect(next.advanced().advanced().pending.isEmpty)
  }

  @Test("the store lists the sets by first height, and the next height's set, as the replica needs them")
  func storeEpochs() throws {
    let chain = try ProofChain()
    let store = chain.store
    let genesisSet = ValidatorSet(chain.fixture.genesis.validators)
    let epochs = try store.validatorEpochs()
    #expect(epochs.map(\.fromHeight) == [1, 6])
    #expect(epochs[0].validators == genesisSet)
    #expect(epochs[1].validators.count == genesisSet.count + 1)
    #expect(try store.validatorSchedule().validatorsInForce(at: store.head.height + 1) == epochs[1].validators)
    // Each block's header names the set the epochs give for its height.
    for height in UInt64(1)...store.head.height {
      let header = try #require(try store.header(at: height))
      let expected = epochs.last { $0.fromHeight <= height }!.validators
      #expect(header.validatorSetHash == expected.hash, "height \(height)")
    }
  }
}
