import Consensus
import Foundation
import Testing

/// Deterministic simulation (docs/CONSENSUS.md). `SIM_SEED=n` runs one seed
/// with its trace; `ledger-cli dev simulate --seeds 10000` is the long soak.
@Suite("PBFT simulation")
struct SimulationTests {
  static func options(seed: UInt64, replicas: Int, byzantine: Int) -> SimulationOptions {
    var options = SimulationOptions(seed: seed)
    options.replicaCount = replicas
    options.byzantineCount = byzantine
    options.faultyPhaseMs = 5_000
    options.livenessBoundMs = 10_000
    return options
  }

  static var seeds: [UInt64] {
    if let seed = ProcessInfo.processInfo.environment["SIM_SEED"].flatMap(UInt64.init) { return [seed] }
    return Array(1...250)
  }

  func expectPasses(_ options: SimulationOptions, sourceLocation: SourceLocation = #_sourceLocation) {
    var simulator = Simulator(options: options)
    let result = simulator.run()
    #expect(
      result.passed,
      "seed \(options.seed) failed: \(result.failure ?? "")\n\(result.trace.joined(separator: "\n"))",
      sourceLocation: sourceLocation)
  }

  @Test("4 replicas, 1 Byzantine, every network fault: safe always, live after healing")
  func fourReplicas() {
    for seed in Self.seeds { expectPasses(Self.options(seed: seed, replicas: 4, byzantine: 1)) }
  }

  @Test("7 replicas, 2 Byzantine, every network fault")
  func sevenReplicas() {
    for seed in Self.seeds.prefix(40) { expectPasses(Self.options(seed: seed, replicas: 7, byzantine: 2)) }
  }

  static func reconfiguring(seed: UInt64, replicas: Int = 4, byzantine: Int = 1) -> SimulationOptions {
    var options = options(seed: seed, replicas: replicas, byzantine: byzantine)
    options.reconfigure = true
    options.spareReplicaCount = 2
    // Half the seeds with a ledger that takes its time to apply each block.
    options.executionLatencyMsMax = seed % 2 == 0 ? 40 : 0
    return options
  }

  @Test("validator sets change (add, remove, replace, several pending) during partitions, crashes, view changes and a Byzantine replica")
  func reconfiguration() {
    var changes = 0
    var acrossViewChanges = 0
    for seed in Self.seeds.prefix(60) {
      var simulator = Simulator(options: Self.reconfiguring(seed: seed))
      let result = simulator.run()
      #expect(
        result.passed, "seed \(seed) failed: \(result.failure ?? "")\n\(result.trace.joined(separator: "\n"))")
      changes += result.validatorSetChanges
      acrossViewChanges += result.validatorSetChangesAcrossViewChanges
    }
    // Not a vacuous pass: the runs crossed many set changes, some of them inside a view change.
    #expect(changes >= 60, "only \(changes) set changes in 60 seeds")
    #expect(acrossViewChanges >= 1, "no set change took effect inside a view change in 60 seeds")
  }

  @Test("7 replicas, 2 Byzantine, with validator-set changes")
  func reconfigurationSeven() {
    for seed in Self.seeds.prefix(15) {
      var simulator = Simulator(options: Self.reconfiguring(seed: seed, replicas: 7, byzantine: 2))
      let result = simulator.run()
      #expect(result.passed, "seed \(seed) failed: \(result.failure ?? "")")
    }
  }

  /// The halt that shipped: replicas that switch sets one height after the
  /// ledger does certify blocks the ledger refuses.
  @Test("the checker has teeth: a replica that applies a set change one height late is caught")
  func lateSetChangeIsCaught() {
    var caught: String?
    for seed in Self.seeds.prefix(40) where caught == nil {
      var options = Self.reconfiguring(seed: seed)
      options.validatorSetLagHeightsForTesting = 1
      var simulator = Simulator(options: options)
      caught = simulator.run().failure
    }
    #expect(
      caught.map { $0.contains("by the set in force") || $0.contains("naming a set other than the one in force") }
        == true, "\(String(describing: caught))")
  }

  @Test("a seed replays identically, event for event")
  func replay() {
    var first = Simulator(options: Self.options(seed: 42, replicas: 4, byzantine: 1))
    var second = Simulator(options: Self.options(seed: 42, replicas: 4, byzantine: 1))
    let a = first.run()
    let b = second.run()
    #expect(a.trace == b.trace)
    #expect(a.committedHeights == b.committedHeights)
    #expect(a.messagesDelivered == b.messagesDelivered)
    #expect(a.committedHeights.max()! > 10)
  }

  /// A build that commits on f + 1 votes, and accepts such certificates
  /// everywhere (as a consistently wrong build would), must not pass: the
  /// checker verifies every delivered certificate against the real 2f + 1.
  @Test("the checker has teeth: committing on f + 1 commit votes is caught within the CI seeds")
  func wrongQuorumIsCaught() {
    var caught: (seed: UInt64, failure: String)?
    for seed in Self.seeds where caught == nil {
      var options = Self.options(seed: seed, replicas: 4, byzantine: 1)
      options.commitQuorumForTesting = 2  // f + 1 for n = 4: the known-wrong variant
      var simulator = Simulator(options: options)
      if let failure = simulator.run().failure { caught = (seed, failure) }
    }
    #expect(caught?.failure.contains("without a valid commit certificate") == true, "\(String(describing: caught))")
  }

  @Test("Byzantine messages are dropped and counted, never trusted")
  func byzantineMessagesCounted() {
    var simulator = Simulator(options: Self.options(seed: 7, replicas: 4, byzantine: 1))
    let result = simulator.run()
    #expect(result.passed)
    #expect(result.dropped[.badSignature, default: 0] + result.dropped[.malformed, default: 0] > 0)
  }
}
