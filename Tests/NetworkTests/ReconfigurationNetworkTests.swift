import Foundation
import Ledger
import Node
import Testing

@testable import ledger_cli

/// Validator-set changes over real node processes on the sample city, with
/// client load running throughout: a bureau node joins and becomes a
/// validator, an old validator is killed (so commits need the new one),
/// another is removed and keeps following, and a node key is rotated to a
/// node started for it (the old node, told to, stops cleanly). Every change goes through `ledger-cli tx`, as an
/// operator would send it.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct ReconfigurationNetworkTests {
  static let genesisFile = FileManager.default.currentDirectoryPath + "/genesis/sample-city.json"

  /// A bureau node outside the genesis set: `node init` with its key, peers
  /// every node running (PBFT needs every validator to reach every other).
  static func initNode(
    _ id: String, key: SecretKey, network: TestNetwork, ports: PortReservation, offset: Int,
    alsoPeers: [TestNetwork.Member] = []
  ) async throws -> TestNetwork.Member {
    let home = network.directory + "/" + id
    let keyFile = network.directory + "/" + id + ".key"
    try KeyFile.write(key, to: keyFile)
    let p2p = "127.0.0.1:\(ports.ports[offset])"
    let api = "127.0.0.1:\(ports.ports[offset + 1])"
    let peers = (network.members + alsoPeers).flatMap { ["--peer", $0.p2p] }
    let made = try await runCLI(
      ["node", "init", "--home", home, "--id", id, "--genesis", Self.genesisFile, "--key", keyFile, "--p2p", p2p,
       "--api", api] + peers)
    guard made.status == 0 else { throw TestFailure("node init \(id): \(made.output)") }
    try network.start(home: home)
    return TestNetwork.Member(id: id, role: "validator", pid: 0, api: "http://" + api, p2p: p2p, home: home)
  }

  /// Sends a governance transaction through the CLI and returns its height; fails unless it commits `ok`.
  static func governance(_ command: String, _ payload: [String: Any], via node: String, keys: [String])
    async throws -> UInt64
  {
    let file = NSTemporaryDirectory() + "payload-\(UUID().uuidString).json"
    try JSONSerialization.data(withJSONObject: payload).write(to: URL(fileURLWithPath: file))
    defer { try? FileManager.default.removeItem(atPath: file) }
    // A dead node first: the CLI passes over it at once and sends through the live one.
    let run = try await runCLI(
      ["tx", command, "--payload", "@" + file, "--key", keys[0], "--cosign", keys[1], "--node", Self.deadNode,
       "--node", node, "--output", "json"])
    let reply = (try? JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]) ?? [:]
    let code = reply["code"] as? String
    guard run.status == 0, code == "ok", let height = (reply["height"] as? NSNumber)?.uint64Value else {
      throw TestFailure("tx \(command) did not commit ok (exit \(run.status)): \(run.output)")
    }
    return height
  }

  /// A URL where nothing listens (port 1 on loopback refuses connections).
  static let deadNode = "http://127.0.0.1:1"

  static func height(_ node: TestNetwork.Member) async -> UInt64 {
    ((try? await status(node.api))?["height"] as? NSNumber)?.uint64Value ?? 0
  }

  static func role(_ node: TestNetwork.Member) async -> String {
    ((try? await status(node.api))?["role"] as? String) ?? "down"
  }

  static func waitFor(
    _ what: String, seconds: Double = 60, _ condition: () async -> Bool
  ) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while await !condition() {
      guard Date() < deadline else { throw TestFailure("timed out waiting for \(what)") }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  /// Client load: declared duties, one at a time, each waited for; the ids told "committed".
  final class Load: @unchecked Sendable {
    let lock = NSLock()
    var committed: [Hash256] = []
    var stopped = false
    var failures: [String] = []

    func run(entries: [String]) async {
      let key = Devnet.operatorKey("BJ-WJW")
      var index = 0
      while !lock.withLock({ stopped }) {
        let entry = entries[index % entries.count]
        let submitter = Submitter(api: entry, chainId: "sample-city")
        submitter.sequences[key.publicKey] = UInt64(index)
        let transaction = submitter.transaction(
          .declareDuty(
            Duty(bureauId: "BJ-WJW", dutyId: "RECONF-\(index)", title: "职责 \(index)", legalBasis: "测试", description: "")),
          by: key)
        do {
          let reply = try await submitter.submit(transaction)
          guard reply.status == 202 else {
            lock.withLock { failures.append("submit \(index): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))") }
            try await Task.sleep(for: .milliseconds(200))
            continue
          }
          let (code, _) = try await submitter.outcome(transaction.id, timeoutSeconds: 90)
          if code == "ok" { lock.withLock { committed.append(transaction.id) } }
          index += 1
        } catch {
          lock.withLock { failures.append("\(index): \(error)") }
          return
        }
      }
    }
  }

  @Test func validatorsAreAddedKilledRemovedAndRotatedUnderLoadAndNothingCommittedIsLost() async throws {
    let network = try await TestNetwork(validators: 4, observers: 0, sample: "sample-city")
    defer { network.shutdown() }
    let ports = try LocalNetwork.freePorts(4)
    defer { ports.release() }
    let genesis = try Genesis.load(path: Self.genesisFile)
    let byId = Dictionary(uniqueKeysWithValues: network.members.map { ($0.id, $0) })
    let governanceKeys = try ["governance-1", "governance-2"].map { label in
      let file = network.directory + "/\(label).key"
      try KeyFile.write(Devnet.key(label), to: file)
      return file
    }
    let entry = byId["BJ-RSJ"]!.api

    // The CLI reports a dead node at once instead of waiting out a connect timeout.
    let started = Date()
    let dead = try await runCLI(["status", "--node", Self.deadNode])
    #expect(dead.status != 0 && dead.output.contains("node.unreachable"), "\(dead.output)")
    #expect(Date().timeIntervalSince(started) < 3, "a refused connection took \(Date().timeIntervalSince(started)) s")

    // A registered bureau's node joins as a follower and catches up.
    let fgwKey = Devnet.nodeKey("BJ-FGW")
    let fgw = try await Self.initNode("BJ-FGW", key: fgwKey, network: network, ports: ports, offset: 0)
    try await Self.waitFor("BJ-FGW to follow") { await Self.role(fgw) == "follower" }

    let load = Load()
    let loadTask = Task { await load.run(entries: [entry, fgw.api]) }
    try await Self.waitFor("load to commit") { load.lock.withLock { load.committed.count } >= 3 }

    // 1. Add BJ-FGW. Under load a block commits every few hundred ms: ten heights of margin.
    let head = await Self.height(byId["BJ-RSJ"]!)
    _ = try await Self.governance(
      "change-validators",
      ["type": "changeValidators", "add": [["bureauId": "BJ-FGW", "nodeKey": fgwKey.publicKey.hex]], "remove": [],
       "effectiveHeight": head + 10], via: entry, keys: governanceKeys)
    try await Self.waitFor("BJ-FGW to vote") { await Self.role(fgw) == "validator" }

    // 2. Kill an old validator: five validators, quorum four, so commits now need BJ-FGW.
    kill(byId["BJ-DSJJ"]!.pid, SIGKILL)
    let afterKill = await Self.height(byId["BJ-RSJ"]!)
    try await Self.waitFor("commits without BJ-DSJJ") { await Self.height(byId["BJ-RSJ"]!) >= afterKill + 3 }

    // 3. Remove BJ-ZJW: it stops voting and keeps following.
    let zjw = byId["BJ-ZJW"]!
    let zjwKey = genesis.validators.first { $0.bureauId == "BJ-ZJW" }!.nodeKey
    let removeHead = await Self.height(byId["BJ-RSJ"]!)
    _ = try await Self.governance(
      "change-validators",
      ["type": "changeValidators", "add": [], "remove": [zjwKey.hex], "effectiveHeight": removeHead + 10],
      via: entry, keys: governanceKeys)
    try await Self.waitFor("BJ-ZJW to follow") { await Self.role(zjw) == "follower" }

    // 4. Rotate BJ-GAJ's node key: register the new key, start its node, swap it into the set.
    let gaj = byId["BJ-GAJ"]!
    // Its operator wants the old node to stop once it is out of the set: restart it with stop_when_removed.
    kill(gaj.pid, SIGTERM)
    try await Self.waitFor("the old BJ-GAJ node to stop") { await Self.role(gaj) == "down" }
    let config = try String(contentsOfFile: gaj.home + "/config.toml", encoding: .utf8)
    try config.replacingOccurrences(of: "stop_when_removed = false", with: "stop_when_removed = true")
      .write(toFile: gaj.home + "/config.toml", atomically: true, encoding: .utf8)
    try network.start(home: gaj.home)
    let oldGajProcess = network.restarted.last!
    try await Self.waitFor("the old BJ-GAJ node to vote again") { await Self.role(gaj) == "validator" }
    let oldGajKey = genesis.validators.first { $0.bureauId == "BJ-GAJ" }!.nodeKey
    let newGajKey = SecretKey()
    _ = try await Self.governance(
      "rotate-bureau-keys",
      ["type": "rotateBureauKeys", "bureauId": "BJ-GAJ", "operatorKeys": [Devnet.operatorKey("BJ-GAJ").publicKey.hex],
       "nodeKeys": [oldGajKey.hex, newGajKey.publicKey.hex]], via: entry, keys: governanceKeys)
    let gaj2 = try await Self.initNode(
      "BJ-GAJ-2", key: newGajKey, network: network, ports: ports, offset: 2, alsoPeers: [fgw])
    try await Self.waitFor("the new BJ-GAJ node to follow") { await Self.role(gaj2) == "follower" }
    let rotateHead = await Self.height(byId["BJ-RSJ"]!)
    _ = try await Self.governance(
      "change-validators",
      ["type": "changeValidators", "add": [["bureauId": "BJ-GAJ", "nodeKey": newGajKey.publicKey.hex]],
       "remove": [oldGajKey.hex], "effectiveHeight": rotateHead + 10], via: entry, keys: governanceKeys)
    try await Self.waitFor("the new BJ-GAJ node to vote") { await Self.role(gaj2) == "validator" }
    // It stops cleanly (exit 0) instead of following.
    try await Self.waitFor("the old BJ-GAJ node to stop cleanly") { !oldGajProcess.isRunning }
    #expect(oldGajProcess.terminationStatus == 0)
    let gajLog = String(decoding: FileManager.default.contents(atPath: gaj.home + "/node.log") ?? Data(), as: UTF8.self)
    #expect(gajLog.contains("stopping: consensus.stop_when_removed"))
    // A client's transaction commits under the rotated set (BJ-DSJJ still down).
    let rsj = Submitter(api: gaj2.api, chainId: "sample-city")
    let duty = rsj.transaction(
      .declareDuty(Duty(bureauId: "BJ-RSJ", dutyId: "AFTER-ROTATION", title: "轮换后", legalBasis: "测试", description: "")),
      by: Devnet.operatorKey("BJ-RSJ"))
    #expect(try await rsj.submit(duty).status == 202)
    #expect(try await rsj.outcome(duty.id, timeoutSeconds: 60).code == "ok")

    // 5. Suspend BJ-ZJW (no longer a validator): its node is no longer admitted, and its peers disconnect it.
    _ = try await Self.governance(
      "suspend-bureau", ["type": "suspendBureau", "bureauId": "BJ-ZJW", "reason": "测试：暂停"], via: entry,
      keys: governanceKeys)
    try await Self.waitFor("BJ-ZJW to be disconnected") {
      let peers = (try? await status(zjw.api))?["peers"] as? [[String: Any]]
      return peers?.isEmpty == true
    }

    load.lock.withLock { load.stopped = true }
    await loadTask.value
    #expect(load.failures.isEmpty, "\(load.failures)")
    let committed = load.lock.withLock { load.committed }
    #expect(committed.count >= 10, "only \(committed.count) transactions committed under load")

    // Every live node, validator or follower, agrees; nothing a client was told is committed is lost.
    let live = [byId["BJ-RSJ"]!, fgw, gaj2]
    let top = await Self.height(byId["BJ-RSJ"]!)
    let roots = try await waitForAgreement(live, height: top, timeoutSeconds: 60)
    #expect(roots.count == 1, "state roots differ: \(roots)")
    for node in live {
      for id in committed {
        let reply = try await HTTP.get(node.api + "/v1/transactions/\(id.hex)")
        #expect(reply.json["status"] as? String == "committed", "\(node.id) lost \(id.hex)")
      }
      let log = String(decoding: FileManager.default.contents(atPath: node.home + "/node.log") ?? Data(), as: UTF8.self)
      #expect(!log.contains("node halted"), "\(node.id) halted")
    }

    // A proof anchored after every change verifies offline against genesis alone.
    let bundle = try await HTTP.get(fgw.api + "/v1/proofs/record?key=bureau/BJ-GAJ")
    let proof = try JSONDecoder().decode(ProofBundle.self, from: bundle.body)
    let verdict = ProofVerifier(genesis: genesis).verify(proof)
    #expect(verdict.isValid, "\(verdict)")
    #expect(proof.validatorTransitions.count == 3)
    // A bundle anchored before every change still verifies, with no transition.
    let early = try await HTTP.get(fgw.api + "/v1/proofs/record?key=bureau/BJ-GAJ&height=2")
    let earlyProof = try JSONDecoder().decode(ProofBundle.self, from: early.body)
    #expect(earlyProof.validatorTransitions.isEmpty)
    #expect(ProofVerifier(genesis: genesis).verify(earlyProof).isValid)
  }
}
