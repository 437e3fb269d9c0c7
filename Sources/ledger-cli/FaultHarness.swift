import ArgumentParser
import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import Node

extension Dev {
  /// Faults at process level on a real local network (docs/RELIABILITY.md).
  struct Faults: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run a 4-validator + 1-observer network under load and inject process-level faults.",
      discussion: """
        Scenarios: kill (kill -9 a random validator, restart it), kill-primary (kill -9 the \
        primary, restart it), freeze (SIGSTOP a validator for 5 s, then SIGCONT), disk-full (a \
        validator's data directory on a 2 MiB tmpfs fills up: it must halt, not fork; then it \
        gets room and catches up; needs root), old-copy (a validator restarts from a copy of its \
        data directory taken earlier, WAL included, and must catch up), partition (every node in \
        its own network namespace on one bridge; a validator's link goes down for 5 s and comes \
        back; needs root and iproute2), degraded (every peer link goes through a relay adding \
        40 ± 15 ms and, for 2 % of chunks, a 200 ms retransmission delay, for the whole run). After each run: every \
        node agrees on every block hash and the state root, every transaction the client was told \
        is committed is on every node at the same place, and the network resumed within \
        --recovery-bound seconds. Exit status 1 if any run lost a transaction, diverged or did \
        not recover.
        """)

    @Option(help: "Comma-separated scenarios.") var scenarios: String = "kill,kill-primary,freeze,disk-full,old-copy"
    @Option(help: "Runs per scenario.") var runs: Int = 1
    @Option(help: "Concurrent load clients (one signer each).") var lanes: Int = 8
    @Option(help: "Seconds of load before the fault, and again after recovery.") var loadSeconds: Double = 3
    @Option(help: "Seconds within which the network must commit again.") var recoveryBound: Double = 30
    @Option(help: "Working directory (default: a new temporary directory).") var dir: String?
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
      let known = ["kill", "kill-primary", "freeze", "disk-full", "old-copy", "partition", "degraded"]
      let chosen = scenarios.split(separator: ",").map(String.init)
      if let unknown = chosen.first(where: { !known.contains($0) }) {
        throw CLIError(code: "input.unknown_scenario", message: "\(unknown); one of \(known.joined(separator: ", "))")
      }
      guard (1...100).contains(runs), (1...64).contains(lanes) else {
        throw CLIError(code: "input.invalid", message: "--runs 1…100, --lanes 1…64")
      }
      let base = dir ?? NSTemporaryDirectory() + "dirledger-faults-\(getpid())"
      var results: [FaultResult] = []
      for scenario in chosen {
        for runIndex in 1...runs {
          if output == .text { say("== \(scenario) run \(runIndex)") }
          let run = FaultRun(
            scenario: scenario, directory: "\(base)/\(scenario)-\(runIndex)", lanes: lanes, loadSeconds: loadSeconds,
            recoveryBound: recoveryBound, log: { message in if output == .text { say("   " + message) } })
          results.append(try await run.execute())
        }
      }
      let table = FaultTable(results: results)
      if output == .json { print(try JSONOutput.string(table)) } else { table.print() }
      if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
    }
  }
}

struct FaultResult: Encodable {
  let scenario: String
  let faults: Int
  let committed: Int
  let lost: Int
  let divergences: Int
  let recoverySeconds: Double
  let recovered: Bool
  let notes: String
  var passed: Bool { lost == 0 && divergences == 0 && recovered }
}

struct FaultTable: Encodable {
  let results: [FaultResult]

  struct Row: Encodable {
    let scenario: String
    let runs: Int
    let faults: Int
    let committed: Int
    let lost: Int
    let divergences: Int
    let recoveryMedianSeconds: Double
    let recoveryMaxSeconds: Double
  }

  var rows: [Row] {
    var order: [String] = []
    for result in results where !order.contains(result.scenario) { order.append(result.scenario) }
    return order.map { scenario in
      let runs = results.filter { $0.scenario == scenario }
      let recoveries = runs.map(\.recoverySeconds).sorted()
      return Row(
        scenario: scenario, runs: runs.count, faults: runs.reduce(0) { $0 + $1.faults },
        committed: runs.reduce(0) { $0 + $1.committed }, lost: runs.reduce(0) { $0 + $1.lost },
        divergences: runs.reduce(0) { $0 + $1.divergences }, recoveryMedianSeconds: recoveries[recoveries.count / 2],
        recoveryMaxSeconds: recoveries.last ?? 0)
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Keys.self)
    try container.encode(rows, forKey: .summary)
    try container.encode(results, forKey: .runs)
  }

  enum Keys: String, CodingKey { case summary, runs }

  func print() {
    say("")
    say("| scenario | runs | faults | committed | lost | divergences | recovery median / max |")
    say("|---|---|---|---|---|---|---|")
    for row in rows {
      say(
        String(
          format: "| %@ | %d | %d | %d | %d | %d | %.2f s / %.2f s |", row.scenario, row.runs, row.faults,
          row.committed, row.lost, row.divergences, row.recoveryMedianSeconds, row.recoveryMaxSeconds))
    }
    for result in results where !result.passed { say("FAILED \(result.scenario): \(result.notes)") }
  }
}

/// One scenario on a fresh network.
struct FaultRun {
  let scenario: String
  let directory: String
  let lanes: Int
  let loadSeconds: Double
  let recoveryBound: Double
  let log: (String) -> Void

  func execute() async throws -> FaultResult {
    let sample = try Genesis.load(path: try shippedGenesis("sample-city"))
    let genesis = Devnet.genesis(
      validatorCount: 4, bureaus: sample.bureaus, duties: sample.duties, directories: sample.directories,
      grants: sample.grants)
    let network = try LocalNetwork.create(
      directory: directory, genesis: genesis, genesisJSON: [UInt8](try genesis.jsonData()), observers: 1,
      namespaces: scenario == "partition")
    let validatorIndexes = network.members.indices.filter { network.members[$0].role == "validator" }
    var victim = validatorIndexes.randomElement()!
    var mounted: String?
    if scenario == "disk-full" {
      let data = network.members[victim].home + "/data"
      try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
      guard Self.shell("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", data) == 0 else {
        throw CLIError(code: "faults.needs_root", message: "disk-full mounts a small tmpfs and needs root")
      }
      mounted = data
    }
    var shapers: [LinkShaper] = []
    if scenario == "degraded" {
      // Every node dials every validator through its own shaped relay.
      let conditions = LinkShaper.Conditions(latencyMs: 40, jitterMs: 15, loss: 0.02)
      for (index, member) in network.members.enumerated() {
        var peers: [String] = []
        for (other, validator) in network.members.enumerated() where other != index && validator.role == "validator" {
          guard let (host, port) = PeerNetwork.split(validator.p2p) else { continue }
          let shaper = LinkShaper(target: (host, port), conditions: conditions)
          peers.append(try await shaper.start())
          shapers.append(shaper)
        }
        let home = NodeHome(path: member.home)
        var config = try NodeConfig.load(path: home.configPath)
        config.p2p.peers = peers
        try config.toml.write(toFile: home.configPath, atomically: true, encoding: .utf8)
      }
    }
    defer {
      network.stop()
      for shaper in shapers { shaper.stop() }
      if let mounted { _ = Self.shell("umount", "-l", mounted) }
    }
    try await network.start()
    let apis = network.validators.map(\.api)
    let load = LoadClient(
      apis: apis, lanes: lanes, bureaus: Array(sample.bureaus.map(\.bureauId).prefix(lanes + 8).suffix(lanes)))
    let loadTask = Task { await load.run() }
    try await Task.sleep(for: .seconds(loadSeconds))

    var faults = 0
    var notes = ""
    var recovery = 0.0
    let others: ([Int]) -> [String] = { excluded in
      validatorIndexes.filter { !excluded.contains($0) }.map { network.members[$0].api }
    }
    switch scenario {
    case "kill", "kill-primary":
      if scenario == "kill-primary" {
        let status = try await APIClient(node: apis[0]).get("/v1/status")
        let primary = status["primary"] as? String
        for index in validatorIndexes {
          let nodeStatus = try await APIClient(node: network.members[index].api).get("/v1/status")
          if nodeStatus["nodeKey"] as? String == primary { victim = index }
        }
      }
      log("kill -9 \(network.members[victim].id)")
      network.signalNode(victim, SIGKILL)
      _ = network.waitForExit(victim)
      faults += 1
      recovery = try await Self.recoveryTime(apis: others([victim]), bound: recoveryBound)
      try await Task.sleep(for: .seconds(1))
      log("restart \(network.members[victim].id)")
      try network.launch(victim)
    case "freeze":
      log("SIGSTOP \(network.members[victim].id) for 5 s")
      network.signalNode(victim, SIGSTOP)
      faults += 1
      recovery = try await Self.recoveryTime(apis: others([victim]), bound: recoveryBound)
      try await Task.sleep(for: .seconds(5))
      network.signalNode(victim, SIGCONT)
    case "degraded":
      log("\(shapers.count) peer links at 40 ± 15 ms, 2 % of chunks +200 ms")
      faults += shapers.count
      recovery = try await Self.recoveryTime(apis: others([]), bound: recoveryBound)
    case "partition":
      log("cut \(network.members[victim].id) off the network for 5 s")
      network.setConnected(victim, false)
      faults += 1
      recovery = try await Self.recoveryTime(apis: others([victim]), bound: recoveryBound)
      try await Task.sleep(for: .seconds(5))
      log("heal")
      network.setConnected(victim, true)
    case "disk-full":
      log("waiting for \(network.members[victim].id)'s 2 MiB data directory to fill")
      let deadline = Date().addingTimeInterval(180)
      while network.isRunning(victim), Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
      guard !network.isRunning(victim) else {
        throw CLIError(code: "faults.disk_not_full", message: "the data directory did not fill within 180 s")
      }
      faults += 1
      let status = network.exitStatus(victim) ?? -1
      notes += "victim exited with status \(status) (3 = halted). "
      if status != 3 { notes += "EXPECTED A CLEAN HALT. " }
      recovery = try await Self.recoveryTime(apis: others([victim]), bound: recoveryBound)
      // Give it room: the same files, on disk.
      let data = network.members[victim].home + "/data"
      let saved = network.members[victim].home + "/data-saved"
      _ = Self.shell("cp", "-a", data, saved)
      _ = Self.shell("umount", "-l", data)
      mounted = nil
      try? FileManager.default.removeItem(atPath: data)
      try FileManager.default.moveItem(atPath: saved, toPath: data)
      log("restart \(network.members[victim].id) with room")
      try network.launch(victim)
    case "old-copy":
      let member = network.members[victim]
      log("stop \(member.id), copy its data directory, restart it")
      network.signalNode(victim, SIGTERM)
      _ = network.waitForExit(victim)
      _ = Self.shell("cp", "-a", member.home + "/data", member.home + "/data-old")
      try network.launch(victim)
      try await Task.sleep(for: .seconds(loadSeconds))
      log("kill -9 \(member.id), put the old copy back (WAL included), restart")
      network.signalNode(victim, SIGKILL)
      _ = network.waitForExit(victim)
      try FileManager.default.removeItem(atPath: member.home + "/data")
      try FileManager.default.moveItem(atPath: member.home + "/data-old", toPath: member.home + "/data")
      faults += 1
      let restarted = ContinuousClock.now
      try network.launch(victim)
      try await Self.waitHealthy(member.api, bound: recoveryBound)
      let target = await Self.height(apis[validatorIndexes.first { $0 != victim }!])
      while await Self.height(member.api) < target {
        guard (ContinuousClock.now - restarted).seconds < recoveryBound else { break }
        try await Task.sleep(for: .milliseconds(50))
      }
      recovery = (ContinuousClock.now - restarted).seconds
    default:
      break
    }
    try await Task.sleep(for: .seconds(loadSeconds))
    await load.stop()
    await loadTask.value
    let told = await load.committed

    // Everyone converges, then every block and every told-committed transaction is checked on every node.
    let all = network.members.map(\.api)
    let head = try await Self.converge(all, bound: 60)
    var divergences = 0
    var reference: [UInt64: String] = [:]
    var roots = Set<String>()
    for api in all {
      let hashes = try await Self.blockHashes(api, head: head)
      for (height, hash) in hashes {
        if let known = reference[height], known != hash { divergences += 1 } else { reference[height] = hash }
      }
      roots.insert((try await APIClient(node: api).get("/v1/status"))["stateRoot"] as? String ?? "?")
    }
    if roots.count != 1 { divergences += 1 }
    var lost = 0
    for entry in told {
      for api in all {
        let status = try? await APIClient(node: api).get("/v1/transactions/\(entry.id.hex)")
        if status?["status"] as? String != "committed" || (status?["height"] as? NSNumber)?.uint64Value != entry.height
        {
          lost += 1
          break
        }
      }
    }
    // Exactly once: each signer's committed sequence equals what its client saw committed.
    var expected = await load.acceptedBySigner
    for (signer, id) in await load.unresolved {
      let status = try? await APIClient(node: all[0]).get("/v1/transactions/\(id.hex)")
      if (status?["result"] as? [String: Any])?["code"] as? String == "ok" { expected[signer, default: 0] += 1 }
    }
    for (signer, count) in expected {
      let account = try await APIClient(node: all[0]).get("/v1/accounts/\(signer.hex)")
      if account["committedSequence"] as? String != "\(count)" {
        divergences += 1
        notes +=
          "signer \(signer.hex.prefix(8)) committed \(account["committedSequence"] ?? "?"), client saw \(count). "
      }
    }
    log(
      String(
        format: "committed %d told, %d lost, %d divergences, recovered in %.2f s, head %llu", told.count, lost,
        divergences, recovery, head))
    return FaultResult(
      scenario: scenario, faults: faults, committed: told.count, lost: lost, divergences: divergences,
      recoverySeconds: recovery, recovered: recovery < recoveryBound, notes: notes)
  }

  static func shell(_ arguments: String...) -> Int32 { runQuietly("/usr/bin/env", arguments) }

  /// The node's height, 0 while it does not answer (it may be down on purpose).
  static func height(_ api: String) async -> UInt64 { (try? await APIClient(node: api).height()) ?? 0 }

  static func waitHealthy(_ api: String, bound: Double) async throws {
    let deadline = Date().addingTimeInterval(bound)
    while (try? await APIClient(node: api).get("/healthz")) == nil {
      guard Date() < deadline else { throw CLIError(code: "faults.not_healthy", message: "\(api) did not come back") }
      try await Task.sleep(for: .milliseconds(100))
    }
  }

  /// Seconds from now until the healthy nodes commit two more blocks.
  static func recoveryTime(apis: [String], bound: Double) async throws -> Double {
    let start = ContinuousClock.now
    let base = await height(apis[0])
    while (ContinuousClock.now - start).seconds < bound {
      if await height(apis[0]) >= base + 2 { return (ContinuousClock.now - start).seconds }
      try await Task.sleep(for: .milliseconds(25))
    }
    return bound
  }

  /// Waits until every node reports the same height; returns it.
  static func converge(_ apis: [String], bound: Double) async throws -> UInt64 {
    let deadline = Date().addingTimeInterval(bound)
    while true {
      var heights: [UInt64] = []
      for api in apis { heights.append(await height(api)) }
      if Set(heights).count == 1 { return heights[0] }
      guard Date() < deadline else {
        throw CLIError(code: "faults.no_convergence", message: "heights stayed \(heights)")
      }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  static func blockHashes(_ api: String, head: UInt64) async throws -> [UInt64: String] {
    var hashes: [UInt64: String] = [:]
    var from = head
    let client = try APIClient(node: api)
    while true {
      let page = try await client.get("/v1/headers", query: ["from": "\(from)", "limit": "1000"])
      let headers = (page["headers"] as? [[String: Any]]) ?? []
      for entry in headers {
        guard let header = entry["header"] as? [String: Any], let height = (header["height"] as? NSNumber)?.uint64Value
        else { continue }
        hashes[height] = entry["hash"] as? String
      }
      guard let lowest = hashes.keys.min(), lowest > 0, !headers.isEmpty else { return hashes }
      from = lowest - 1
    }
  }
}

/// Clients that each sign with one bureau's key, submit a transaction to some
/// validator, wait until a node says it is committed, then send the next. A
/// client that loses its node tries another, and resubmits the same
/// transaction if the node it went to forgot it.
actor LoadClient {
  let apis: [String]
  let lanes: Int
  let bureaus: [String]
  private(set) var committed: [(id: Hash256, height: UInt64)] = []
  private(set) var acceptedBySigner: [PublicKey: Int] = [:]
  /// Per signer, the transaction in flight when the load stopped (its fate is read from the chain).
  private(set) var unresolved: [PublicKey: Hash256] = [:]
  private var stopped = false
  /// A node cut off by a fault answers nothing; the client moves on to another.
  static let requestTimeout = TimeAmount.seconds(8)

  init(apis: [String], lanes: Int, bureaus: [String]) {
    self.apis = apis
    self.lanes = lanes
    self.bureaus = bureaus
  }

  func stop() { stopped = true }
  func leaveUnresolved(_ transaction: SignedTransaction) { unresolved[transaction.body.signer] = transaction.id }
  var isStopped: Bool { stopped }

  func record(_ id: Hash256, height: UInt64, signer: PublicKey, accepted: Bool) {
    committed.append((id, height))
    if accepted { acceptedBySigner[signer, default: 0] += 1 }
  }

  nonisolated func run() async {
    await withTaskGroup(of: Void.self) { group in
      for lane in 0..<lanes {
        group.addTask { await self.lane(lane) }
      }
    }
  }

  nonisolated func lane(_ lane: Int) async {
    let bureau = bureaus[lane % bureaus.count]
    let key = Devnet.operatorKey(bureau)
    var sequence: UInt64 = 0
    var serial = 0
    while await !isStopped {
      serial += 1
      let transaction = SignedTransaction(
        body: TransactionBody(
          chainId: Devnet.chainId, signer: key.publicKey, sequence: sequence,
          payload: .declareDuty(
            Duty(bureauId: bureau, dutyId: "F\(lane)-\(serial)", title: "故障测试职责", legalBasis: "测试", description: ""))),
        signedBy: [key])
      guard let (height, code) = await deliver(transaction) else {
        await leaveUnresolved(transaction)
        return
      }
      await record(transaction.id, height: height, signer: key.publicKey, accepted: code == "ok")
      if code == "ok" { sequence += 1 }
    }
  }

  /// Submits until some node reports the transaction committed; nil if stopped first.
  nonisolated func deliver(_ transaction: SignedTransaction) async -> (UInt64, String)? {
    let body = try! JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(transaction.canonicalBytes)])
    var attempt = 0
    while await !isStopped {
      attempt += 1
      let api = apis[(attempt + Int(transaction.id.bytes[0])) % apis.count]
      guard
        let reply = try? await NodeHTTP.exchange(
          .POST, api + "/v1/transactions", json: body, timeout: Self.requestTimeout)
      else {
        try? await Task.sleep(for: .milliseconds(100))
        continue
      }
      let code =
        ((try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["error"] as? [String: Any])?["code"]
        as? String
      guard reply.status == 202 || code == "mempool.duplicate" || code == "tx.already_committed" else {
        try? await Task.sleep(for: .milliseconds(100))
        continue
      }
      // Accepted: wait for the outcome at that node, even past the stop (bounded), then try again from the top.
      for _ in 0..<6 {
        guard
          let reply = try? await NodeHTTP.exchange(
            .GET, api + "/v1/transactions/\(transaction.id.hex)?wait=5", timeout: Self.requestTimeout),
          reply.status == 200,
          let status = try? JSONSerialization.jsonObject(with: reply.body) as? [String: Any]
        else { break }
        if status["status"] as? String == "committed" {
          let result = status["result"] as? [String: Any]
          return ((status["height"] as? NSNumber)?.uint64Value ?? 0, result?["code"] as? String ?? "?")
        }
      }
    }
    return nil
  }
}
