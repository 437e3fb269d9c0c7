import ArgumentParser
import Consensus
import Foundation

extension Dev {
  struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run the deterministic PBFT simulation over many seeds; a failing seed prints its trace.",
      discussion: """
        Each seed drives the replicas through the faulty phase (delays, reordering, duplication, loss, \
        partitions, crashes with WAL replay, clock skew, Byzantine replicas), checking agreement and \
        certificates after every step, then heals the network and checks that every honest replica \
        commits within the liveness bound. Replay one seed with --seed S --seeds 1. See docs/CONSENSUS.md.
        """)

    @Option(help: "First seed.") var seed: UInt64 = 1
    @Option(help: "Number of seeds to run (seed, seed+1, …).") var seeds: Int = 100
    @Option(help: "Replicas (validators), 1 to 256.") var replicas: Int = 4
    @Option(help: "Byzantine replicas, at most f = (replicas - 1) / 3.") var byzantine: Int = 1
    @Option(
      help: "Comma-separated faults: \(NetworkFault.allCases.map(\.rawValue).joined(separator: ",")), all or none.")
    var faults: String = "all"
    @Option(
      help:
        "Comma-separated Byzantine behaviours: \(ByzantineBehaviour.allCases.map(\.rawValue).joined(separator: ",")), or all."
    )
    var behaviours: String = "all"
    @Option(help: "Simulated milliseconds with faults on.") var faultyMs: UInt64 = 15_000
    @Option(help: "Simulated milliseconds after healing within which every honest replica must commit.")
    var livenessMs: UInt64 = 30_000
    @Flag(
      help:
        "Change the validator set while the faults run: primaries add the spare replicas, remove members, replace them, several changes pending at once."
    )
    var reconfigure = false
    @Option(help: "Replicas outside the genesis set that follow until a change adds them (default: 2 with --reconfigure).")
    var spares: Int?
    @Option(help: "The ledger takes up to this many simulated ms to apply each delivered block.")
    var executionLatencyMs: UInt64 = 0
    @Option(help: "Checker self-test: replicas apply each validator-set change this many heights late.")
    var setLagForTesting: UInt64 = 0
    @Flag(help: "Print the trace of passing seeds too.") var verbose = false

    func validate() throws {
      guard (1...256).contains(replicas), seeds >= 1, seeds <= 1_000_000 else {
        throw CLIError(code: "input.out_of_range", message: "--replicas 1…256, --seeds 1…1,000,000")
      }
      guard (0...64).contains(spares ?? 0), executionLatencyMs <= 10_000 else {
        throw CLIError(code: "input.out_of_range", message: "--spares 0…64, --execution-latency-ms 0…10,000")
      }
      guard byzantine >= 0, byzantine <= (replicas - 1) / 3 else {
        throw CLIError(code: "input.out_of_range", message: "--byzantine must be at most f = \((replicas - 1) / 3)")
      }
      _ = try parsedFaults()
      _ = try parsedBehaviours()
    }

    func parsedFaults() throws -> Set<NetworkFault> { try parse(faults, NetworkFault.self, "--faults") }
    func parsedBehaviours() throws -> Set<ByzantineBehaviour> {
      try parse(behaviours, ByzantineBehaviour.self, "--behaviours")
    }

    func parse<Value: RawRepresentable & CaseIterable & Hashable>(_ list: String, _ type: Value.Type, _ option: String)
      throws -> Set<Value> where Value.RawValue == String
    {
      if list == "all" { return Set(Value.allCases) }
      if list == "none" || list.isEmpty { return [] }
      return Set(
        try list.split(separator: ",").map { name in
          guard let value = Value(rawValue: String(name)) else {
            throw CLIError(code: "input.unknown_value", message: "\(option): unknown value \"\(name)\"")
          }
          return value
        })
    }

    func run() throws {
      var failures = 0
      var messages = 0
      var heights: UInt64 = 0
      var setChanges = 0
      var setChangesInViewChanges = 0
      for offset in 0..<seeds {
        var options = SimulationOptions(seed: seed + UInt64(offset))
        options.replicaCount = replicas
        options.byzantineCount = byzantine
        options.faults = try parsedFaults()
        options.behaviours = try parsedBehaviours()
        options.faultyPhaseMs = faultyMs
        options.livenessBoundMs = livenessMs
        options.reconfigure = reconfigure
        options.spareReplicaCount = spares ?? (reconfigure ? 2 : 0)
        options.executionLatencyMsMax = executionLatencyMs
        options.validatorSetLagHeightsForTesting = setLagForTesting
        var simulator = Simulator(options: options)
        let result = simulator.run()
        messages += result.messagesDelivered
        heights += result.committedHeights.min() ?? 0
        setChanges += result.validatorSetChanges
        setChangesInViewChanges += result.validatorSetChangesAcrossViewChanges
        if !result.passed || verbose {
          print("seed \(result.seed): \(result.failure ?? "passed")")
          for line in result.trace { print("  \(line)") }
        }
        if !result.passed {
          failures += 1
          print(
            "replay: ledger-cli dev simulate --seed \(result.seed) --seeds 1 --replicas \(replicas) --byzantine \(byzantine) --faults \(faults) --behaviours \(behaviours)"
              + (reconfigure ? " --reconfigure --spares \(options.spareReplicaCount)" : "")
              + (executionLatencyMs > 0 ? " --execution-latency-ms \(executionLatencyMs)" : "")
          )
        }
      }
      let meanHeight = Double(heights) / Double(seeds)
      let simulatedSeconds = Double(faultyMs + livenessMs) / 1_000
      print(
        "\(seeds - failures)/\(seeds) seeds passed; \(messages) messages delivered; mean committed height \(Int(meanHeight)); "
          + "\(String(format: "%.1f", meanHeight / simulatedSeconds)) blocks per simulated second; "
          + "\(meanHeight > 0 ? String(format: "%.0f", Double(messages) / Double(seeds) / meanHeight) : "-") messages per block"
          + (reconfigure
            ? "; \(setChanges) validator-set changes crossed, \(setChangesInViewChanges) of them inside a view change" : "")
      )
      if failures > 0 { throw ExitCode(1) }
    }
  }
}
