import Foundation
import Ledger
import Logging
import NIOPosix
import Node
import Testing

@testable import ledger_cli

/// The real system: node processes on loopback, talking over TCP and HTTP.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct NetworkTests {
  static let governance = Devnet.governanceKeys
  static func op(_ bureau: String) -> SecretKey { Devnet.operatorKey(bureau) }

  /// One transaction of every kind, in an order where each is accepted.
  static func everyKind(nowMs: UInt64) -> [(Payload, SecretKey, [SecretKey])] {
    let gov = (governance[0], [governance[1]])
    let scope = AccessScope(
      directoryId: "GAJ-R1", items: ["姓名", "公民身份号码"], purpose: "测试核验", validFromMs: nowMs - 3_600_000,
      validUntilMs: nowMs + 86_400_000)
    func directory(_ id: String, duty: String, title: String) -> Directory {
      Directory(
        bureauId: "BJ-GAJ", directoryId: id, title: title, description: "测试目录", dutyIds: [duty],
        items: [
          DataItem(name: "姓名", type: .text, description: ""), DataItem(name: "公民身份号码", type: .text, description: ""),
        ], shareType: .conditional, shareCondition: "依职责申请", openType: .notOpen, updateCycle: .daily)
    }
    let dataHash = SHA256.hash(Array("release".utf8))
    return [
      (.registerBureau(Devnet.registration("BJ-TEST", name: "测试局")), gov.0, gov.1),
      (.registerBureau(Devnet.registration("BJ-TEST2", name: "测试二局")), gov.0, gov.1),
      (.suspendBureau(BureauStatusChange(bureauId: "BJ-TEST", reason: "测试")), gov.0, gov.1),
      (.reinstateBureau(BureauStatusChange(bureauId: "BJ-TEST", reason: "测试")), gov.0, gov.1),
      (
        .rotateBureauKeys(
          BureauKeyRotation(
            bureauId: "BJ-TEST", operatorKeys: [op("BJ-TEST").publicKey],
            nodeKeys: [Devnet.key("node/rotated").publicKey])),
        gov.0, gov.1
      ),
      (.removeBureau(BureauStatusChange(bureauId: "BJ-TEST", reason: "测试")), gov.0, gov.1),
      (
        .changeValidators(
          ValidatorSetChange(
            add: [Validator(nodeKey: Devnet.nodeKey("BJ-TEST2").publicKey, bureauId: "BJ-TEST2")], remove: [],
            effectiveHeight: 1_000_000)), gov.0, gov.1
      ),
      (
        .declareDuty(
          Duty(bureauId: "BJ-GAJ", dutyId: "GAJ-D1", title: "户籍管理", legalBasis: "《户口登记条例》", description: "")),
        op("BJ-GAJ"), []
      ),
      (
        .amendDuty(
          Duty(bureauId: "BJ-GAJ", dutyId: "GAJ-D1", title: "户籍管理（修订）", legalBasis: "《户口登记条例》", description: "")),
        op("BJ-GAJ"), []
      ),
      (
        .declareDuty(Duty(bureauId: "BJ-GAJ", dutyId: "GAJ-D2", title: "临时职责", legalBasis: "测试", description: "")),
        op("BJ-GAJ"), []
      ),
      (.publishDirectory(directory("GAJ-R1", duty: "GAJ-D1", title: "人口信息")), op("BJ-GAJ"), []),
      (.reviseDirectory(directory("GAJ-R1", duty: "GAJ-D1", title: "人口基本信息")), op("BJ-GAJ"), []),
      (.publishDirectory(directory("GAJ-R2", duty: "GAJ-D2", title: "临时目录")), op("BJ-GAJ"), []),
      (.retireDirectory(Retirement(bureauId: "BJ-GAJ", recordId: "GAJ-R2", reason: "测试")), op("BJ-GAJ"), []),
      (.retireDuty(Retirement(bureauId: "BJ-GAJ", recordId: "GAJ-D2", reason: "测试")), op("BJ-GAJ"), []),
      (
        .requestAccess(AccessRequest(requesterId: "BJ-ZJW", requestId: "REQ1", providerId: "BJ-GAJ", scope: scope)),
        op("BJ-ZJW"), []
      ),
      (
        .approveRequest(RequestApproval(providerId: "BJ-GAJ", requesterId: "BJ-ZJW", requestId: "REQ1", grantId: "G1")),
        op("BJ-GAJ"), []
      ),
      (
        .requestAccess(AccessRequest(requesterId: "BJ-RSJ", requestId: "REQ2", providerId: "BJ-GAJ", scope: scope)),
        op("BJ-RSJ"), []
      ),
      (
        .denyRequest(RequestDenial(providerId: "BJ-GAJ", requesterId: "BJ-RSJ", requestId: "REQ2", reason: "无职责依据")),
        op("BJ-GAJ"), []
      ),
      (.grantAccess(Grant(grantorId: "BJ-GAJ", grantId: "G2", granteeId: "BJ-DSJJ", scope: scope)), op("BJ-GAJ"), []),
      (.revokeGrant(Retirement(bureauId: "BJ-GAJ", recordId: "G2", reason: "测试")), op("BJ-GAJ"), []),
      (
        .attestData(
          Attestation(
            bureauId: "BJ-GAJ", directoryId: "GAJ-R1", kind: .release, dataHash: dataHash, recordCount: 1,
            producedAtMs: nowMs)), op("BJ-GAJ"), []
      ),
      (
        .recordShare(
          ShareRecord(
            providerId: "BJ-GAJ", consumerId: "BJ-ZJW", directoryId: "GAJ-R1", grantId: "G1", dataHash: dataHash)),
        op("BJ-GAJ"), []
      ),
    ]
  }

  @Test func everyKindCommitsAndAllNodesAgree_badInputIsRefused_unknownPeersAreRefused() async throws {
    let network = try await TestNetwork()
    defer { network.shutdown() }
    let entry = network.validators[1].api
    let submitter = Submitter(api: entry)
    let nowMs = UInt64(Date().timeIntervalSince1970 * 1_000)

    var kinds = Set<Payload.Kind>()
    var lastHeight: UInt64 = 0
    for (payload, signer, cosigners) in Self.everyKind(nowMs: nowMs) {
      let transaction = submitter.transaction(payload, by: signer, cosigners: cosigners)
      let reply = try await submitter.submit(transaction)
      #expect(reply.status == 202, "\(payload.kind.name): \(String(decoding: reply.body, as: UTF8.self))")
      let (code, height) = try await submitter.outcome(transaction.id)
      #expect(code == "ok", "\(payload.kind.name) was rejected: \(code)")
      kinds.insert(payload.kind)
      lastHeight = max(lastHeight, height)
    }
    #expect(
      kinds == Set(Payload.Kind.allCases), "kinds not exercised: \(Set(Payload.Kind.allCases).subtracting(kinds))")

    // Committed as rejected, so its signer's sequence did not move past it:
    // sent again, it is still refused as committed, never admitted twice.
    let rejected = submitter.transaction(
      .revokeGrant(Retirement(bureauId: "BJ-GAJ", recordId: "G-NONE", reason: "测试")), by: Self.op("BJ-GAJ"))
    submitter.sequences[Self.op("BJ-GAJ").publicKey]! -= 1  // a rejection leaves the sequence unused
    #expect(try await submitter.submit(rejected).status == 202)
    let (rejectedCode, rejectedHeight) = try await submitter.outcome(rejected.id)
    #expect(rejectedCode != "ok")
    lastHeight = max(lastHeight, rejectedHeight)
    let resent = try await submitter.submit(rejected)
    #expect(
      resent.status == 409 && resent.errorCode == "tx.already_committed",
      "\(String(decoding: resent.body.prefix(300), as: UTF8.self))")

    // Every validator and the observer reach the same height and state root.
    let roots = try await waitForAgreement(network.members, height: lastHeight)
    #expect(roots.count == 1)
    let observerStatus = try await status(network.observer.api)
    #expect(observerStatus["role"] as? String == "follower")

    // The records are there, read from the observer.
    let grant = try await HTTP.get(network.observer.api + "/v1/grants/BJ-GAJ/G1")
    #expect(grant.status == 200)
    let grants = try await HTTP.get(network.observer.api + "/v1/grants?grantee=BJ-ZJW")
    #expect((grants.json["records"] as? [Any])?.count == 1)
    let revoked = try await HTTP.get(network.observer.api + "/v1/grants?grantor=BJ-GAJ&status=all")
    #expect((revoked.json["records"] as? [Any])?.count == 2)
    let search = try await HTTP.get(
      network.observer.api + "/v1/directories?text=" + "人口".addingPercentEncoding(
        withAllowedCharacters: .alphanumerics)!)
    #expect((search.json["records"] as? [Any])?.count == 1)

    // Paging: one record per page, every record exactly once, by scan and by index.
    for path in ["/v1/directories?bureau=BJ-GAJ", "/v1/grants?grantor=BJ-GAJ&status=all", "/v1/duties?bureau=BJ-GAJ"] {
      var seen: [String] = []
      var after: String?
      repeat {
        let page = try await HTTP.get(network.observer.api + path + "&limit=1" + (after.map { "&after=\($0)" } ?? ""))
        let records = (page.json["records"] as? [[String: Any]]) ?? []
        #expect(records.count <= 1)
        seen += records.compactMap { $0["key"] as? String }
        after = page.json["next"] as? String
      } while after != nil && seen.count < 50
      let all = try await HTTP.get(network.observer.api + path)
      let expected = ((all.json["records"] as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String }
      #expect(seen == expected, "\(path): paged \(seen), whole \(expected)")
      #expect(expected.count >= 2, "\(path)")
    }

    // A record's history, newest first, paged one entry at a time: every
    // transaction the operator signed and had committed, each once.
    let accountPath = "/v1/history?key=account/" + Self.op("BJ-GAJ").publicKey.rawValue.hex
    var history: [[String: Any]] = []
    var historyAfter: String?
    repeat {
      let page = try await HTTP.get(
        network.observer.api + accountPath + "&limit=1" + (historyAfter.map { "&after=\($0)" } ?? ""))
      history += (page.json["entries"] as? [[String: Any]]) ?? []
      historyAfter = page.json["next"] as? String
    } while historyAfter != nil && history.count < 100
    let wholeHistory = try await HTTP.get(network.observer.api + accountPath)
    let historyIds = history.compactMap { $0["transactionId"] as? String }
    #expect(
      historyIds
        == ((wholeHistory.json["entries"] as? [[String: Any]]) ?? []).compactMap { $0["transactionId"] as? String })
    #expect(historyIds.count >= 2 && Set(historyIds).count == historyIds.count)
    let historyHeights = history.compactMap { ($0["height"] as? NSNumber)?.uint64Value }
    #expect(historyHeights == historyHeights.sorted(by: >), "newest first: \(historyHeights)")

    // Bad input: a 4xx JSON error with a code, and nothing changes.
    let before = try await status(entry)
    let valid = submitter.transaction(
      .declareDuty(Duty(bureauId: "BJ-GAJ", dutyId: "GAJ-D9", title: "x", legalBasis: "x", description: "")),
      by: Self.op("BJ-GAJ"))
    submitter.sequences[Self.op("BJ-GAJ").publicKey]! -= 1  // never submitted
    var badSignature = valid.canonicalBytes
    badSignature[badSignature.count - 1] ^= 0x01
    let replayed = try await HTTP.get(entry + "/v1/blocks/1")
    let firstBlockTransaction = ((replayed.json["block"] as? [String: Any])?["transactions"] as? [[String: Any]])?.first
    #expect(firstBlockTransaction != nil)
    let replayedBytes = try JSONDecoder().decode(
      SignedTransaction.self, from: JSONSerialization.data(withJSONObject: firstBlockTransaction!)
    ).canonicalBytes
    // The binary form is the stored canonical block: the block the JSON shows, by hash and transactions.
    let binary = try await HTTP.get(entry + "/v1/blocks/1?format=binary")
    #expect(binary.status == 200 && binary.headers["content-type"] == "application/octet-stream")
    let binaryBlock = try Block(canonicalBytes: [UInt8](binary.body))
    #expect(binaryBlock.header.hash.hex == replayed.json["hash"] as? String)
    #expect(binaryBlock.transactions.first?.canonicalBytes == replayedBytes)
    #expect(binaryBlock.transactionsRoot == binaryBlock.header.transactionsRoot)
    let unknownBureau = submitter.transaction(
      .declareDuty(Duty(bureauId: "BJ-NOPE", dutyId: "D1", title: "x", legalBasis: "x", description: "")),
      by: Self.op("BJ-NOPE"))

    let cases: [(String, Data, Int, String)] = [
      ("malformed JSON", Data("{\"transaction\": ".utf8), 400, "request.malformed_json"),
      ("unknown field", Data(#"{"transaction": "00", "extra": 1}"#.utf8), 400, "request.unknown_field"),
      ("bad hex", Data(#"{"transaction": "zz"}"#.utf8), 400, "request.bad_hex"),
      ("truncated transaction", Data(#"{"transaction": "0102"}"#.utf8), 400, "format.truncated"),
      (
        "wrong signature", try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(badSignature)]), 400,
        "tx.bad_signature"
      ),
      (
        "replayed transaction", try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(replayedBytes)]),
        409, "tx.already_committed"
      ),
      (
        "unknown bureau",
        try JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(unknownBureau.canonicalBytes)]), 422,
        "tx.unknown_bureau"
      ),
      ("oversized body", Data(repeating: 0x20, count: 17 * 1_024 * 1_024), 413, "request.too_large"),
    ]
    for (name, body, expectedStatus, expectedCode) in cases {
      let reply = try await HTTP.request("POST", entry + "/v1/transactions", body: body)
      #expect(reply.status == expectedStatus, "\(name): status \(reply.status)")
      #expect(reply.errorCode == expectedCode, "\(name): \(String(decoding: reply.body.prefix(300), as: UTF8.self))")
    }
    let badQueries: [(String, String)] = [
      ("/v1/transactions/xyz", "request.invalid_field"), ("/v1/directories?shareType=secret", "request.invalid_field"),
      ("/v1/grants?grantor=BJ-GAJ&status=maybe", "request.invalid_field"),
      ("/v1/bureaus?limit=100000", "request.invalid_field"),
      ("/v1/history?key=bureau/BJ-GAJ&after=00", "request.invalid_field"),
      ("/v1/bureaus/BJ-NOPE", "not_found"), ("/v1/blocks/99999", "not_found"), ("/v1/no-such-thing", "not_found"),
    ]
    for (path, code) in badQueries {
      let reply = try await HTTP.get(entry + path)
      #expect(
        (400..<500).contains(reply.status) && reply.errorCode == code,
        "\(path): \(reply.status) \(reply.errorCode ?? "-")")
    }
    try await Task.sleep(for: .milliseconds(500))
    let after = try await status(entry)
    #expect(after["height"] as? NSNumber == before["height"] as? NSNumber)
    #expect(after["stateRoot"] as? String == before["stateRoot"] as? String)
    #expect(after["mempoolSize"] as? NSNumber == 0)

    // A transaction far ahead of its signer's sequence waits in the mempool,
    // and is not work a primary could do: nobody changes view over it.
    let viewsBefore = try await network.validators.asyncMap { try await status($0.api)["view"] as? NSNumber }
    let future = SignedTransaction(
      body: TransactionBody(
        chainId: Devnet.chainId, signer: Self.op("BJ-RSJ").publicKey, sequence: 7,
        payload: .declareDuty(Duty(bureauId: "BJ-RSJ", dutyId: "LATER", title: "x", legalBasis: "x", description: ""))),
      signedBy: [Self.op("BJ-RSJ")])
    #expect(try await submitter.submit(future).status == 202)
    try await Task.sleep(for: .seconds(5))
    let viewsAfter = try await network.validators.asyncMap { try await status($0.api)["view"] as? NSNumber }
    #expect(viewsAfter == viewsBefore, "a gap in a signer's sequence must not trigger view changes")

    // A peer with a key nobody named is refused at the handshake.
    let refusal = try await handshake(with: network.validators[0].p2p, key: SecretKey())
    #expect(refusal == "peer.unknown_key")
    // A validator's own key from another chain (different genesis) is refused too.
    let otherChain = try await handshake(
      with: network.validators[0].p2p, key: Devnet.nodeKey(network.validators[1].id), genesisHash: .zero)
    #expect(otherChain == "peer.wrong_chain")

    // The operator CLI against the same network.
    let keyPath = network.directory + "/gaj-operator.key"
    try KeyFile.write(Self.op("BJ-GAJ"), to: keyPath)
    let sent = try await runCLI([
      "tx", "declare-duty", "--payload",
      #"{"bureauId":"BJ-GAJ","dutyId":"CLI-D1","title":"命令行职责","legalBasis":"测试","description":""}"#,
      "--key", keyPath, "--node", entry, "--output", "json",
    ])
    #expect(sent.status == 0, "\(sent.output)")
    #expect(sent.output.contains("\"code\" : \"ok\""))
    let again = try await runCLI([
      "tx", "declare-duty", "--payload",
      #"{"bureauId":"BJ-GAJ","dutyId":"CLI-D1","title":"重复","legalBasis":"测试","description":""}"#,
      "--key", keyPath, "--node", entry,
    ])
    #expect(
      again.status == 1 && again.output.contains("REJECTED declareDuty")
        && again.output.contains("duty.already_declared"), "\(again.output)")
    let cliStatus = try await runCLI(["status", "--node", network.observer.api, "--output", "json"])
    #expect(cliStatus.status == 0 && cliStatus.output.contains("\"role\" : \"follower\""), "\(cliStatus.output)")
    let cliQuery = try await runCLI(["query", "grants", "--grantee", "BJ-ZJW", "--node", entry])
    #expect(cliQuery.status == 0 && cliQuery.output.contains("grant/BJ-GAJ/G1"), "\(cliQuery.output)")

    // Proofs from the observer, verified offline by the CLI against the genesis file.
    let genesisPath = network.observer.home + "/genesis.json"
    let bundlePath = network.directory + "/grant.bundle"
    let fetched = try await runCLI([
      "proof", "get", "record", "--key", "grant/BJ-GAJ/G1", "--node", network.observer.api, "--out", bundlePath,
    ])
    #expect(fetched.status == 0, "\(fetched.output)")
    let verified = try await runCLI(["proof", "verify", bundlePath, "--genesis", genesisPath])
    #expect(verified.status == 0 && verified.output.hasPrefix("VALID"), "\(verified.output)")
    #expect(verified.output.contains("grant/BJ-GAJ/G1 is a grant record, status active"))
    var tampered = try Data(contentsOf: URL(fileURLWithPath: bundlePath))
    let statusRange = tampered.range(of: Data("\"active\"".utf8))!
    tampered.replaceSubrange(statusRange, with: Data("\"revoked\"".utf8))
    try tampered.write(to: URL(fileURLWithPath: bundlePath))
    let caught = try await runCLI(["proof", "verify", bundlePath, "--genesis", genesisPath])
    #expect(caught.status == 1 && caught.output.hasPrefix("INVALID"), "\(caught.output)")
    let garbage = network.directory + "/garbage.bundle"
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: garbage))
    #expect(try await runCLI(["proof", "verify", garbage, "--genesis", genesisPath]).status == 2)

    let releasePath = network.directory + "/release.bin"
    try Data("release".utf8).write(to: URL(fileURLWithPath: releasePath))
    let allowed = try await runCLI([
      "provenance", "check", "--data", releasePath, "--consumer", "BJ-ZJW", "--node", network.validators[2].api,
      "--genesis", genesisPath,
    ])
    #expect(allowed.status == 0 && allowed.output.contains("BJ-ZJW MAY hold it"), "\(allowed.output)")
    let refused = try await runCLI([
      "provenance", "check", "--data", releasePath, "--consumer", "BJ-RSJ", "--node", network.validators[2].api,
      "--genesis", genesisPath,
    ])
    #expect(refused.status == 1 && refused.output.contains("BJ-RSJ may NOT hold it"), "\(refused.output)")
    for (path, expectedStatus) in [
      ("/v1/proofs/consistency?from=1", 200), ("/v1/proofs/tx/\(Hash256.zero.hex)", 404),
      ("/v1/proofs/record?key=bureau/BJ-GAJ&height=999999", 404), ("/v1/provenance?dataHash=zz&consumer=BJ-ZJW", 400),
    ] {
      let reply = try await HTTP.get(entry + path)
      #expect(reply.status == expectedStatus, "\(path): \(reply.status)")
    }

    let metrics = String(
      decoding: try await HTTP.get(network.validators[0].api + "/metrics").body, as: UTF8.self)
    #expect(metrics.contains("ledger_peer_rejections_total{reason=\"peer.unknown_key\"}"))
    #expect(metrics.contains("ledger_committed_height"))
  }

  /// Dials `address` as `key` and returns the code the node refused with (nil if admitted).
  func handshake(with address: String, key: SecretKey, genesisHash: Hash256? = nil) async throws -> String? {
    let genesis = Devnet.genesis()
    let refused = RefusalBox()
    let network = PeerNetwork(
      identity: PeerIdentity(
        key: key, role: .observer, chainId: genesis.chainId, genesisHash: genesisHash ?? genesis.hash),
      admitted: Set(genesis.validators.map(\.nodeKey)), group: MultiThreadedEventLoopGroup.singleton,
      logger: quietLogger, onFrame: { _, _ in },
      onEvent: { event in
        if case .refused(let code, _) = event { refused.set(code) }
        if case .connected = event { refused.set("admitted") }
      })
    network.dial([address])
    let deadline = Date().addingTimeInterval(10)
    while refused.value == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
    await network.stop()
    return refused.value
  }

  /// A batch's body as `POST /v1/transactions/batch` takes it in canonical bytes: `list<bytes>`.
  static func binaryBatch(_ elements: [[UInt8]], count: Int? = nil) -> [UInt8] {
    var writer = CanonicalWriter()
    writer.write(varint: count ?? elements.count)
    for element in elements { writer.write(bytes: element) }
    return writer.bytes
  }

  @Test func batchesInJSONOrCanonicalBytes_eachTransactionGetsItsOwnOutcome() async throws {
    let network = try await TestNetwork()
    defer { network.shutdown() }
    let entry = network.validators[2].api
    let submitter = Submitter(api: entry)
    func duty(_ id: String) -> SignedTransaction {
      submitter.transaction(
        .declareDuty(Duty(bureauId: "BJ-GAJ", dutyId: id, title: "批量职责", legalBasis: "测试", description: "")),
        by: Self.op("BJ-GAJ"))
    }
    func results(_ reply: HTTP.Reply) -> [[String: Any]] { reply.json["results"] as? [[String: Any]] ?? [] }
    func code(_ result: [String: Any]) -> String? { (result["error"] as? [String: Any])?["code"] as? String }

    // Canonical bytes: each element is admitted or refused on its own.
    let binaryDuties = (1...3).map { duty("D-BIN-\($0)") }
    // Another signer's, so that its refusal leaves no gap in BJ-GAJ's sequence.
    var badSignature = submitter.transaction(
      .declareDuty(Duty(bureauId: "BJ-ZJW", dutyId: "D-BAD", title: "批量职责", legalBasis: "测试", description: "")),
      by: Self.op("BJ-ZJW")
    ).canonicalBytes
    badSignature[badSignature.count - 1] ^= 0x01
    let binaryReply = try await HTTP.post(
      entry + "/v1/transactions/batch",
      binary: Self.binaryBatch(binaryDuties.map(\.canonicalBytes) + [[0x01, 0x02], badSignature]))
    #expect(binaryReply.status == 202, "\(String(decoding: binaryReply.body.prefix(400), as: UTF8.self))")
    #expect(binaryReply.json["accepted"] as? NSNumber == 3)
    let binaryResults = results(binaryReply)
    #expect(binaryResults.count == 5)
    #expect(binaryResults.prefix(3).map { $0["id"] as? String } == binaryDuties.map(\.id.hex))
    #expect(code(binaryResults[3]) == "format.truncated")
    #expect(code(binaryResults[4]) == "tx.bad_signature")

    // JSON with hex: the same outcomes, element by element.
    let jsonDuties = (1...2).map { duty("D-JSON-\($0)") }
    let jsonReply = try await HTTP.post(
      entry + "/v1/transactions/batch",
      json: ["transactions": jsonDuties.map { Hex.encode($0.canonicalBytes) as Any } + [7]])
    #expect(jsonReply.status == 202, "\(String(decoding: jsonReply.body.prefix(400), as: UTF8.self))")
    #expect(results(jsonReply).prefix(2).map { $0["id"] as? String } == jsonDuties.map(\.id.hex))
    #expect(results(jsonReply).count == 3 && code(results(jsonReply)[2]) == "request.invalid_field")

    // One transaction as canonical bytes.
    let single = duty("D-BIN-SINGLE")
    let singleReply = try await HTTP.post(entry + "/v1/transactions", binary: single.canonicalBytes)
    #expect(singleReply.status == 202 && singleReply.json["id"] as? String == single.id.hex)

    for transaction in binaryDuties + jsonDuties + [single] {
      #expect(try await submitter.outcome(transaction.id).code == "ok")
    }
    let before = try await status(entry)

    // A body that is not exactly such a list is refused whole, naming the field.
    let valid = duty("D-NEVER").canonicalBytes
    let malformed: [(String, [UInt8], String, String)] = [
      ("empty body", [], "format.truncated", "transactions"),
      ("no transactions", Self.binaryBatch([]), "request.invalid_field", "transactions"),
      ("over the bound", Self.binaryBatch([valid], count: 10_001), "request.invalid_field", "transactions"),
      ("one element short", Self.binaryBatch([valid], count: 2), "format.truncated", "transactions[1]"),
      ("a byte after the list", Self.binaryBatch([valid]) + [0], "format.trailing_bytes", "transactions"),
      (
        "non-minimal count", [0x81, 0x00] + Self.binaryBatch([valid]).dropFirst(), "format.non_minimal_varint",
        "transactions"
      ),
    ]
    for (name, body, expectedCode, field) in malformed {
      let reply = try await HTTP.post(entry + "/v1/transactions/batch", binary: body)
      #expect(
        reply.status == 400 && reply.errorCode == expectedCode, "\(name): \(reply.status) \(reply.errorCode ?? "-")")
      let message = (reply.json["error"] as? [String: Any])?["message"] as? String ?? ""
      #expect(message.contains(field), "\(name): \(message)")
    }
    let garbage = try await HTTP.post(entry + "/v1/transactions", binary: [0x01, 0x02, 0x03])
    #expect(garbage.status == 400 && garbage.errorCode?.hasPrefix("format.") == true)
    try await Task.sleep(for: .milliseconds(300))
    let after = try await status(entry)
    #expect(after["height"] as? NSNumber == before["height"] as? NSNumber)
    #expect(after["mempoolSize"] as? NSNumber == 0)
  }

  @Test func killedValidatorsRestartAndNothingCommittedIsLost() async throws {
    let network = try await TestNetwork(validators: 4, observers: 0)
    defer { network.shutdown() }
    var committed: [Hash256] = []
    var submitter = Submitter(api: network.validators[0].api)
    let nowMs = UInt64(Date().timeIntervalSince1970 * 1_000)

    func commitDuties(_ range: Range<Int>, via node: TestNetwork.Member) async throws {
      submitter = Submitter(api: node.api)
      submitter.sequences[Self.op("BJ-GAJ").publicKey] = UInt64(committed.count)
      for index in range {
        let transaction = submitter.transaction(
          .declareDuty(
            Duty(bureauId: "BJ-GAJ", dutyId: "D\(index)", title: "职责 \(index)", legalBasis: "测试", description: "")),
          by: Self.op("BJ-GAJ"))
        let reply = try await submitter.submit(transaction)
        #expect(reply.status == 202, "\(String(decoding: reply.body, as: UTF8.self))")
        let (code, _) = try await submitter.outcome(transaction.id, timeoutSeconds: 60)
        #expect(code == "ok")
        committed.append(transaction.id)
      }
    }
    _ = nowMs
    try await commitDuties(0..<5, via: network.validators[0])

    // Kill -9 the primary of the current view; the others change view and go on.
    let primaryKey = try await status(network.validators[0].api)["primary"] as? String
    let primaryStatus = try await withThrowingTaskGroup(of: (TestNetwork.Member, String).self) { group in
      for member in network.validators {
        group.addTask { (member, (try await status(member.api))["nodeKey"] as? String ?? "") }
      }
      return try await group.reduce(into: [(TestNetwork.Member, String)]()) { $0.append($1) }
    }
    let primary = primaryStatus.first { $0.1 == primaryKey }!.0
    kill(primary.pid, SIGKILL)
    let survivor = network.validators.first { $0.id != primary.id }!
    try await commitDuties(5..<10, via: survivor)
    let views = try await status(survivor.api)["view"] as? NSNumber
    #expect((views?.intValue ?? 0) >= 1, "a view change replaced the killed primary")
    let survivorLog = (try? String(contentsOfFile: survivor.home + "/node.log", encoding: .utf8)) ?? ""
    #expect(survivorLog.contains("view changed"), "the survivor's log names the view change")

    // The killed node restarts from its store and WAL and catches up.
    try network.restart(primary)
    try await Task.sleep(for: .seconds(1))
    try await commitDuties(10..<15, via: survivor)
    let restartedLog = (try? String(contentsOfFile: primary.home + "/node.log", encoding: .utf8)) ?? ""
    #expect(
      restartedLog.split(separator: "\n").contains { $0.contains("store opened") && !$0.contains("height=0") },
      "the restarted node logs opening its store at the height it had reached")

    // Then another validator (not the new primary) is killed and restarted.
    let other = network.validators.first { $0.id != primary.id && $0.id != survivor.id }!
    kill(other.pid, SIGKILL)
    try await commitDuties(15..<20, via: survivor)
    try network.restart(other)

    let head = (try await status(survivor.api)["height"] as? NSNumber)?.uint64Value ?? 0
    let roots = try await waitForAgreement(network.validators, height: head, timeoutSeconds: 60)
    #expect(roots.count == 1, "state roots differ: \(roots)")
    // Every transaction a client was told is committed is on every node, once.
    for member in network.validators {
      var heights = Set<UInt64>()
      for id in committed {
        let reply = try await HTTP.get(member.api + "/v1/transactions/\(id.hex)")
        #expect(reply.json["status"] as? String == "committed", "\(member.id) lacks \(id.hex)")
        heights.insert((reply.json["height"] as? NSNumber)?.uint64Value ?? 0)
      }
      #expect(!heights.contains(0))
    }
    let account = try await HTTP.get(survivor.api + "/v1/accounts/\(Self.op("BJ-GAJ").publicKey.hex)")
    #expect(
      account.json["committedSequence"] as? String == "\(committed.count)", "each transaction applied exactly once")
  }
}

final class RefusalBox: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: String?
  var value: String? { lock.withLock { stored } }
  func set(_ code: String) { lock.withLock { if stored == nil { stored = code } } }
}

/// Runs ledger-cli to completion; output is stdout and stderr together. The
/// waiting happens on a thread of its own, so long CLI runs in parallel tests
/// never occupy Swift concurrency's small thread pool.
func runCLI(_ arguments: [String]) async throws -> (status: Int32, output: String) {
  try await withCheckedThrowingContinuation { continuation in
    Thread.detachNewThread {
      let process = Process()
      process.executableURL = TestNetwork.binary
      process.arguments = arguments
      let pipe = Pipe()
      process.standardOutput = pipe
      process.standardError = pipe
      do {
        try process.run()
      } catch {
        continuation.resume(throwing: error)
        return
      }
      let data = pipe.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
    }
  }
}

/// The benchmark is not a test, but CI keeps it working with a few seconds of load.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct BenchSmokeTests {
  @Test func benchRunsEndToEndAndReportsJSON() async throws {
    let run = try await runCLI([
      "bench", "--duration", "3", "--warmup", "1", "--transactions", "3000", "--batch", "250", "--block-max", "200",
      "--proof-seconds", "1", "--output", "json",
    ])
    #expect(run.status == 0, "\(run.output)")
    let start = try #require(run.output.firstIndex(of: "{"))
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(run.output[start...].utf8)) as? [String: Any])
    let committed = try #require((report["committedInWindow"] as? NSNumber)?.doubleValue)
    #expect(committed > 0, "\(run.output)")
    // Latencies exist only for transactions the client recognised in committed blocks.
    let latency = try #require(report["latencyMs"] as? [String: NSNumber], "\(run.output)")
    #expect((latency["p50"]?.doubleValue ?? 0) > 0 && (latency["max"]?.doubleValue ?? 0) < 60_000, "\(run.output)")
    // The rate is over the window actually measured, which is shorter than
    // --duration only when the pre-signed supply ran out first.
    let seconds = try #require((report["durationSeconds"] as? NSNumber)?.doubleValue)
    let rate = try #require((report["committedTransactionsPerSecond"] as? NSNumber)?.doubleValue)
    #expect(abs(rate * seconds - committed) <= 1, "\(run.output)")
    let exhausted = try #require(report["supplyExhausted"] as? Bool)
    #expect(exhausted ? seconds < 3 : seconds == 3, "\(run.output)")
    #expect(((report["ceilingTransactionsPerSecond"] as? NSNumber)?.doubleValue ?? 0) > 0)
    #expect((report["nodes"] as? [Any])?.count == 4)
    #expect(report["body"] as? String == "binary", "batches go as canonical bytes unless --body json")
    // --block-max reaches the validators' configuration: no block is larger.
    #expect((report["blockTransactionsMax"] as? NSNumber)?.intValue == 200, "\(run.output)")
    let meanBlock = try #require((report["meanBlockTransactions"] as? NSNumber)?.doubleValue, "\(run.output)")
    #expect(meanBlock > 0 && meanBlock <= 200, "\(run.output)")
    #expect((((report["proofs"] as? [String: Any])?["recordProofsPerSecond"] as? NSNumber)?.doubleValue ?? 0) > 0)
    #expect((report["views"] as? [NSNumber])?.allSatisfy { $0.intValue >= 0 } == true, "every node answered")
    // The load client did work (HTTP, following the chain), and the nodes and
    // it together kept the cores busy some of the time, never over all of it.
    #expect(((report["loadClientCPUMicrosecondsPerTransaction"] as? NSNumber)?.doubleValue ?? 0) > 0)
    let busy = try #require((report["busyFractionOfCores"] as? NSNumber)?.doubleValue, "\(run.output)")
    #expect(busy > 0 && busy <= 1.05, "\(run.output)")
    // The node homes of a run without --dir do not outlive it.
    let directory = try #require(report["networkDirectory"] as? String, "\(run.output)")
    #expect(report["networkDirectoryKept"] as? Bool == false)
    #expect(!FileManager.default.fileExists(atPath: directory), "\(directory) is left behind")
  }

  @Test func storeBenchCommitsEveryBlockWithNothingRejected() async throws {
    let run = try await runCLI([
      "bench", "store", "--blocks", "3", "--warmup-blocks", "1", "--block-size", "300", "--output", "json",
    ])
    #expect(run.status == 0, "\(run.output)")
    let start = try #require(run.output.firstIndex(of: "{"), "\(run.output)")
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(run.output[start...].utf8)) as? [String: Any])
    #expect((report["blocks"] as? NSNumber)?.intValue == 3)
    // The mix is valid in order: a rule or workload change that rejects part of it shows here.
    #expect((report["rejectedTransactions"] as? NSNumber)?.intValue == 0, "\(run.output)")
    // The sample city starts with ≈ 520 records; 1,200 transactions add 200 directories and their attestations, grants and shares.
    #expect(((report["records"] as? NSNumber)?.intValue ?? 0) > 1_000, "\(run.output)")
    #expect(((report["blockMicrosecondsPerTransaction"] as? NSNumber)?.doubleValue ?? 0) > 0)
    #expect((report["treeNodeReadsPerTransaction"] as? NSNumber) != nil, "\(run.output)")

    let refused = try await runCLI(["bench", "store", "--blocks", "0"])
    #expect(refused.status != 0)
    #expect(refused.output.contains("input.invalid"), "\(refused.output)")
  }
}

/// Ports for local networks come from below the kernel's ephemeral range, so
/// no outgoing connection can be given one between its choice and the node's
/// bind, and are reserved so no other local network can either.
@Suite struct LocalNetworkPortTests {
  @Test func freePortsAreDistinctAndBelowTheEphemeralRange() throws {
    let ports = try LocalNetwork.freePorts(24).ports
    #expect(Set(ports).count == 24)
    #expect(ports.allSatisfy { $0 >= 10_000 && $0 < LocalNetwork.ephemeralPortRangeStart() }, "\(ports)")
  }

  /// Checked while the taken ports are still held: a port re-bound after
  /// `freePorts` released it could meanwhile go to a network another test starts.
  @Test func portsTakenOnLoopbackAreSkipped() throws {
    // A window of 48 ports in which every even one is taken here; the odd
    // ones leave room for a few taken by tests running alongside.
    let base = 10_000 + 2 * Int.random(in: 0..<5_000)
    let window = base..<(base + 48)
    var held: [Int32] = []
    defer { for descriptor in held { close(descriptor) } }
    var taken: Set<Int> = []
    for port in window where port % 2 == 0 {
      taken.insert(port)
      // Bound only while no network has it reserved, so this test never takes a
      // port from a network starting alongside; the reservation is then given
      // back, leaving a port that is bound but not reserved.
      guard let reservation = try PortReservation.lock(port) else { continue }
      defer { PortReservation.unlock(reservation) }
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_addr.s_addr = inet_addr("127.0.0.1")
      address.sin_port = UInt16(port).bigEndian
      _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      // Bound here or held by someone else: taken either way.
      held.append(descriptor)
    }
    let ports = try LocalNetwork.freePorts(16, among: window).ports
    #expect(Set(ports).count == 16)
    #expect(ports.allSatisfy { window.contains($0) && !taken.contains($0) }, "\(ports)")

    let tooMany = #expect(throws: CLIError.self) { try LocalNetwork.freePorts(25, among: window) }
    #expect(tooMany?.code == "devnet.ports")
  }

  /// Two networks started at once: the first one's ports are not bound yet
  /// (its nodes are still starting), so only the reservation keeps the second
  /// off them. A separate `open` of the lock file conflicts within one process
  /// exactly as across processes, which is what `devnet start` runs into.
  @Test func reservedPortsAreSkippedUntilReleased() throws {
    let base = 10_000 + Int.random(in: 0..<10_000)
    let window = base..<(base + 40)
    let first = try LocalNetwork.freePorts(12, among: window)
    let second = try LocalNetwork.freePorts(12, among: window)
    #expect(Set(first.ports).isDisjoint(with: second.ports), "\(first.ports) \(second.ports)")
    for port in first.ports {
      #expect(try PortReservation.lock(port) == nil, "port \(port) is reserved")
      #expect(FileManager.default.fileExists(atPath: PortReservation.directory + "/\(port)"))
    }

    let released = first.ports
    first.release()
    for port in released {
      #expect(!FileManager.default.fileExists(atPath: PortReservation.directory + "/\(port)"))
      let lock = try #require(try PortReservation.lock(port), "port \(port) is free again")
      PortReservation.unlock(lock)
    }
    for port in second.ports { #expect(try PortReservation.lock(port) == nil, "port \(port) is still reserved") }
  }
}

/// A bounded run of the fault harness (docs/RELIABILITY.md has the long runs).
@Suite(.serialized, .timeLimit(.minutes(6)))
struct FaultHarnessTests {
  @Test func faultsLoseNothingAndNeverFork() async throws {
    var scenarios = ["kill-primary", "freeze", "old-copy", "degraded"]
    // disk-full mounts a tmpfs and partition makes network namespaces: only
    // where the tests run as root (CI on this machine does).
    if getuid() == 0 { scenarios += ["disk-full", "partition"] }
    let directory = NSTemporaryDirectory() + "dirledger-faults-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let run = try await runCLI([
      "dev", "faults", "--scenarios", scenarios.joined(separator: ","), "--load-seconds", "2", "--dir", directory,
      "--output", "json",
    ])
    #expect(run.status == 0, "\(run.output)")
    let start = try #require(run.output.firstIndex(of: "{"), "\(run.output)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output[start...].utf8)) as? [String: Any])
    let rows = try #require(report["summary"] as? [[String: Any]])
    #expect(rows.map { $0["scenario"] as? String } == scenarios)
    for row in rows {
      #expect((row["lost"] as? NSNumber)?.intValue == 0, "\(row)")
      #expect((row["divergences"] as? NSNumber)?.intValue == 0, "\(row)")
      #expect(((row["committed"] as? NSNumber)?.intValue ?? 0) > 0, "\(row)")
      #expect(((row["faults"] as? NSNumber)?.intValue ?? 0) >= 1, "\(row)")
    }
  }
}

/// A bounded fuzzing pass over every decoder that takes outside input (3 s of
/// fuzzing per target). The limit catches a hang, not slowness: alongside the
/// simulation and network suites on two cores, the run has taken 54–120 s.
@Test(.timeLimit(.minutes(5))) func fuzzedDecodersNeverCrashOrMisencode() async throws {
  let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fuzz/corpus")
    .standardized.path
  let run = try await runCLI(["dev", "fuzz", "--seconds", "3", "--corpus", corpus])
  #expect(run.status == 0, "\(run.output)")
  for target in ["frame", "transaction", "bundle", "submission", "batch"] {
    #expect(run.output.contains("\(target): "), "\(run.output)")
  }
  #expect(!run.output.contains("VIOLATION"))
}

extension Array {
  func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var results: [T] = []
    for element in self { results.append(try await transform(element)) }
    return results
  }
}
