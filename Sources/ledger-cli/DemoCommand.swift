import ArgumentParser
import Foundation
import Ledger

/// `make demo`: a 4-validator network with the sample city, and the life of one
/// data-sharing authorisation from publication to revocation.
struct DemoCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Start a local 4-validator network with the sample city and play a data-sharing scenario.",
    discussion: """
      A bureau publishes a directory under its duty, another requests access, the owner \
      approves (a grant), data is attested and shared, an approval service checks the \
      provenance at another node, the grant is revoked and the check then fails. Without \
      --once the network stays up with its URLs until Ctrl-C; with --once the command exits \
      after the scenario, status 0 only if every step came out as expected.
      """)

  @Flag(help: "Exit after the scenario.") var once = false
  @Option(help: "Directory for the node homes (default: a new temporary directory).") var dir: String?

  func run() async throws {
    let directory = dir ?? NSTemporaryDirectory() + "dirledger-demo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    say("Starting 4 validators with the sample city (genesis/sample-city.json) in \(directory) …")
    let network = try await startLocalNetwork(
      directory: directory, validators: 4, observers: 1, sample: "sample-city", genesisPath: nil)
    network.printSummary()
    var scenario = DemoScenario(
      writer: try await TransactionSender.connect(nodes: [network.validators[0].api]),
      verifierNode: try APIClient(node: network.members.last!.api), verifierName: network.members.last!.id,
      genesis: try loadGenesis(network.members[0].home + "/genesis.json"))
    let passed: Bool
    do {
      passed = try await scenario.play()
      try await scenario.showAgreement(network.members)
    } catch {
      say("\nDemo failed: \(error)")
      network.stop()
      throw ExitCode(1)
    }
    say(passed ? "\nEvery step came out as expected." : "\nSome steps did NOT come out as expected.")
    if once || !passed {
      network.stop()
      if !passed { throw ExitCode(1) }
      return
    }
    say("\nThe network keeps running. Try:\n  ledger-cli status --node \(network.validators[0].api)")
    say("  ledger-cli query directories --bureau BJ-GHZRZYW --node \(network.validators[0].api)")
    say("Press Ctrl-C to stop.")
    await waitForInterrupt()
    say("Stopping…")
    network.stop()
  }
}

struct DemoScenario {
  let writer: TransactionSender
  let verifierNode: APIClient
  let verifierName: String
  let genesis: Genesis
  var allAsExpected = true
  var stepNumber = 0

  static let provider = "BJ-GHZRZYW"  // 规划和自然资源委员会: 不动产登记
  static let consumer = "BJ-ZGJJ"  // 住房公积金管理中心: 公积金提取秒批
  static let directoryId = "BJ-GHZRZYW-R90"
  static let requestId = "REQ-ZGJJ-2026-0001"
  static let grantId = "G-GHZRZYW-ZGJJ-0001"

  mutating func step(_ title: String) {
    stepNumber += 1
    say("\n[\(stepNumber)] \(title)")
  }

  mutating func expect(_ condition: Bool, _ what: String) {
    say("    \(condition ? "✓" : "✗ UNEXPECTED:") \(what)")
    if !condition { allAsExpected = false }
  }

  mutating func submit(_ payload: Payload, by bureau: String, expecting code: String = TransactionResult.acceptedCode)
    async throws
  {
    let transaction = try await writer.sign(payload, by: Devnet.operatorKey(bureau))
    let outcome = try await writer.send(transaction)
    say("    tx \(outcome.id.prefix(16))… signed by \(bureau)'s operator, block \(outcome.height): \(outcome.code)")
    expect(outcome.code == code, code == TransactionResult.acceptedCode ? "accepted" : "rejected with \(code)")
  }

  mutating func play() async throws -> Bool {
    let nowMs = UInt64(Date().timeIntervalSince1970 * 1_000)
    let duty = try await firstDuty(of: Self.provider)
    let items = ["不动产单元号", "权利人姓名", "权利人证件号码", "房屋坐落", "登记时间"]
    let release = Array("不动产登记结果 2026-11-22 批次 · 权利人 张某 · 房屋坐落 西城区某街1号".utf8)
    let dataHash = SHA256.hash(release)

    step("\(Self.provider) publishes directory \(Self.directoryId) 不动产登记结果信息 under its duty \(duty)")
    try await submit(
      .publishDirectory(
        Directory(
          bureauId: Self.provider, directoryId: Self.directoryId, title: "不动产登记结果信息",
          description: "不动产登记簿记载的权属结果，供秒批事项核验", dutyIds: [duty],
          items: items.map { DataItem(name: $0, type: $0 == "登记时间" ? .date : .text, description: "") },
          shareType: .conditional, shareCondition: "仅限法定职责范围内的政务服务事项核验使用", openType: .notOpen,
          updateCycle: .realTime)), by: Self.provider)

    step("\(Self.consumer) requests access for 公积金提取秒批")
    let scope = AccessScope(
      directoryId: Self.directoryId, items: ["不动产单元号", "权利人姓名", "权利人证件号码", "房屋坐落"],
      purpose: "住房公积金提取秒批：核验申请人名下住房", validFromMs: nowMs - 3_600_000,
      validUntilMs: nowMs + 365 * 86_400_000)
    try await submit(
      .requestAccess(
        AccessRequest(requesterId: Self.consumer, requestId: Self.requestId, providerId: Self.provider, scope: scope)),
      by: Self.consumer)

    step("\(Self.provider) approves the request: grant \(Self.grantId)")
    try await submit(
      .approveRequest(
        RequestApproval(
          providerId: Self.provider, requesterId: Self.consumer, requestId: Self.requestId, grantId: Self.grantId)),
      by: Self.provider)

    step("\(Self.provider) attests a data release (SHA-256 \(dataHash.hex.prefix(16))…)")
    try await submit(
      .attestData(
        Attestation(
          bureauId: Self.provider, directoryId: Self.directoryId, kind: .release, dataHash: dataHash, recordCount: 1,
          producedAtMs: nowMs)), by: Self.provider)

    step("\(Self.provider) shares the release with \(Self.consumer) under the grant")
    try await submit(
      .recordShare(
        ShareRecord(
          providerId: Self.provider, consumerId: Self.consumer, directoryId: Self.directoryId, grantId: Self.grantId,
          dataHash: dataHash)), by: Self.provider)

    step(
      "An approval service asks \(verifierName) for a provenance proof and verifies it offline: where did the data come from, may \(Self.consumer) hold it?"
    )
    let first = try await checkProvenance(dataHash: dataHash, consumer: Self.consumer)
    for fact in first.facts { say("    · \(fact)") }
    expect(first.allowed, "provenance confirmed and the consumer is authorised")

    step("\(Self.provider) revokes grant \(Self.grantId)")
    try await submit(
      .revokeGrant(Retirement(bureauId: Self.provider, recordId: Self.grantId, reason: "办件完成，收回授权")), by: Self.provider)

    step("The approval service checks again")
    let second = try await checkProvenance(dataHash: dataHash, consumer: Self.consumer)
    for fact in second.facts { say("    · \(fact)") }
    expect(!second.allowed, "the check now fails: \(second.failure ?? "no failure reported")")

    step("\(Self.provider) tries to share again under the revoked grant")
    try await submit(
      .recordShare(
        ShareRecord(
          providerId: Self.provider, consumerId: Self.consumer, directoryId: Self.directoryId, grantId: Self.grantId,
          dataHash: dataHash)), by: Self.provider, expecting: "share.grant_revoked")
    return allAsExpected
  }

  func firstDuty(of bureau: String) async throws -> String {
    let page = try await writer.client.get("/v1/duties", query: ["bureau": bureau, "limit": "1"])
    guard let records = page["records"] as? [[String: Any]], let key = records.first?["key"] as? String else {
      throw CLIError(code: "demo.sample_missing", message: "the sample city has no duty for \(bureau)")
    }
    return String(key.split(separator: "/").last!)
  }

  /// The approval service's question: one provenance bundle from one node,
  /// verified offline against the genesis file, so the node need not be trusted.
  func checkProvenance(dataHash: Hash256, consumer: String) async throws -> (
    allowed: Bool, facts: [String], failure: String?
  ) {
    let bytes = try await verifierNode.getData(
      "/v1/provenance", query: ["dataHash": dataHash.hex, "consumer": consumer, "format": "binary"])
    let bundle = try ProofBundle(canonicalBytes: [UInt8](bytes))
    switch ProofVerifier(genesis: genesis).verify(bundle) {
    case .invalid(let step, let reason):
      return (false, ["bundle INVALID at \(step): \(reason)"], "the node's answer does not verify")
    case .valid(let facts, let findings):
      let finding = findings.first
      return (
        finding?.authorized == true, ["bundle of \(bytes.count) bytes verified offline: VALID"] + facts.dropFirst(),
        finding.map { $0.authorized ? nil : $0.basis } ?? "no provenance finding"
      )
    }
  }

  /// Every node reports the same height, block hash and state root.
  func showAgreement(_ members: [LocalNetwork.Member]) async throws {
    say("\nNodes:")
    var states = Set<String>()
    var target: UInt64 = 0
    for member in members {
      let status = try await APIClient(node: member.api).get("/v1/status")
      target = max(target, (status["height"] as? NSNumber)?.uint64Value ?? 0)
    }
    for member in members {
      let client = try APIClient(node: member.api)
      var status = try await client.get("/v1/status")
      let deadline = Date().addingTimeInterval(10)
      while ((status["height"] as? NSNumber)?.uint64Value ?? 0) < target, Date() < deadline {
        try await Task.sleep(for: .milliseconds(100))
        status = try await client.get("/v1/status")
      }
      let root = (status["stateRoot"] as? String) ?? "?"
      states.insert("\(status["height"] ?? "?")/\(root)")
      say(
        "  \(member.id.padding(toLength: 12, withPad: " ", startingAt: 0)) height \(status["height"] ?? "?")  state root \(root.prefix(16))…  peers \((status["peers"] as? [Any])?.count ?? 0)"
      )
    }
    say(states.count == 1 ? "  all nodes agree" : "  NODES DISAGREE")
    if states.count != 1 { throw CLIError(code: "demo.divergence", message: "nodes report different states") }
  }
}
