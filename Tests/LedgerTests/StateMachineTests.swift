import Foundation
import Testing

@testable import Ledger

typealias H = LedgerHarness

/// One test per rule of DESIGN.md "Domain rules", each with the accepted path
/// and the rejections a bureau's operator could run into.
@Suite("State machine rules")
struct StateMachineTests {
  let ledger: LedgerHarness
  init() throws { ledger = try LedgerHarness() }

  var police: SecretKey { ledger.operatorKey(H.police) }
  var housing: SecretKey { ledger.operatorKey(H.housing) }

  func expectRejected(
    _ payload: Payload, by keys: [SecretKey], _ code: String, sourceLocation: SourceLocation = #_sourceLocation
  )
    throws
  {
    let rootBefore = ledger.root
    let recordsBefore = ledger.state.records
    let result = try ledger.submit(payload, by: keys)
    #expect(result.code == code, "\(result.message)", sourceLocation: sourceLocation)
    #expect(!result.message.isEmpty, sourceLocation: sourceLocation)
    // A rejected transaction changes nothing, not even the signer's sequence.
    #expect(ledger.root == rootBefore, sourceLocation: sourceLocation)
    #expect(ledger.state.records == recordsBefore, sourceLocation: sourceLocation)
  }

  func expectAccepted(_ payload: Payload, by keys: [SecretKey], sourceLocation: SourceLocation = #_sourceLocation)
    throws
  {
    let result = try ledger.submit(payload, by: keys)
    #expect(result.code == "ok", "\(result.message)", sourceLocation: sourceLocation)
  }

  static func scope(
    _ directory: String = H.residents, items: [String] = ["姓名", "公民身份号码"], from: UInt64 = 0, until: UInt64 = .max
  )
    -> AccessScope
  {
    AccessScope(directoryId: directory, items: items, purpose: "不动产登记秒批核验户籍", validFromMs: from, validUntilMs: until)
  }

  // MARK: Authentication and replay

  @Test("a transaction applies once: its sequence number cannot be replayed")
  func replayProtection() throws {
    let duty = Duty(bureauId: H.police, dutyId: "GAJ-D-JTGL", title: "交通管理", legalBasis: "《道路交通安全法》", description: "")
    let transaction = ledger.transaction(.declareDuty(duty), by: [police])
    #expect(try ledger.apply([transaction]).results[0].isAccepted)
    let replay = try ledger.apply([transaction]).results[0]
    #expect(replay.code == "tx.bad_sequence")
    let skipped = ledger.transaction(.amendDuty(duty), by: [police], sequence: 5)
    #expect(try ledger.apply([skipped]).results[0].code == "tx.bad_sequence")
  }

  @Test("signatures: forged, missing signer, wrong chain, unknown or inactive bureau, foreign key")
  func authentication() throws {
    let duty = Duty(bureauId: H.police, dutyId: "GAJ-D-X", title: "t", legalBasis: "", description: "")
    let good = ledger.transaction(.declareDuty(duty), by: [police])
    let forged = SignedTransaction(
      body: good.body,
      signatures: [TransactionSignature(publicKey: police.publicKey, signature: housing.sign(digest: good.id))])
    #expect(try ledger.apply([forged]).results[0].code == "tx.bad_signature")
    let otherSigner = SignedTransaction(body: good.body, signedBy: [housing])
    #expect(try ledger.apply([otherSigner]).results[0].code == "tx.signer_did_not_sign")
    var wrongChainBody = good.body
    wrongChainBody.chainId = "another-city"
    #expect(
      try ledger.apply([SignedTransaction(body: wrongChainBody, signedBy: [police])]).results[0].code
        == "tx.wrong_chain")
    try expectRejected(.declareDuty(duty), by: [housing], "tx.signer_not_operator")
    var stranger = duty
    stranger.bureauId = "BJ-NOBODY"
    try expectRejected(.declareDuty(stranger), by: [police], "tx.unknown_bureau")
  }

  // MARK: Governance

  @Test("governance registers bureaus with the threshold of signatures, not fewer")
  func registerBureau() throws {
    let registration = Devnet.registration("BJ-WJW", name: "北京市卫生健康委员会")
    try expectRejected(.registerBureau(registration), by: [ledger.governance[0]], "governance.below_threshold")
    try expectRejected(.registerBureau(registration), by: [police], "governance.signer_not_governance")
    try expectAccepted(.registerBureau(registration), by: Array(ledger.governance.prefix(2)))
    try expectRejected(
      .registerBureau(registration), by: Array(ledger.governance.prefix(2)), "bureau.already_registered")
    #expect(ledger.record(.bureau("BJ-WJW"))?.status == .active)
  }

  @Test("suspend, reinstate and remove a bureau; a suspended bureau cannot sign")
  func bureauLifecycle() throws {
    let board = Array(ledger.governance.prefix(2))
    let change = BureauStatusChange(bureauId: H.civil, reason: "机构改革")
    try expectRejected(.reinstateBureau(change), by: board, "bureau.not_suspended")
    try expectAccepted(.suspendBureau(change), by: board)
    try expectRejected(.suspendBureau(change), by: board, "bureau.not_active")
    let duty = Duty(bureauId: H.civil, dutyId: "MZJ-D-HYDJ", title: "婚姻登记", legalBasis: "《民法典》", description: "")
    try expectRejected(.declareDuty(duty), by: [ledger.operatorKey(H.civil)], "tx.bureau_not_active")
    try expectAccepted(.reinstateBureau(change), by: board)
    try expectAccepted(.declareDuty(duty), by: [ledger.operatorKey(H.civil)])
    try expectAccepted(.removeBureau(change), by: board)
    try expectRejected(.removeBureau(change), by: board, "bureau.already_removed")
    try expectRejected(
      .removeBureau(BureauStatusChange(bureauId: H.police, reason: "")), by: board, "bureau.runs_validator")
    try expectRejected(
      .suspendBureau(BureauStatusChange(bureauId: "BJ-NONE", reason: "")), by: board, "bureau.not_found")
  }

  @Test("key rotation replaces who may sign; a voting node key cannot be rotated away")
  func keyRotation() throws {
    let board = Array(ledger.governance.prefix(2))
    let newKey = Devnet.key("operator/BJ-MZJ/2026")
    try expectAccepted(
      .rotateBureauKeys(BureauKeyRotation(bureauId: H.civil, operatorKeys: [newKey.publicKey], nodeKeys: [])), by: board
    )
    let duty = Duty(bureauId: H.civil, dutyId: "MZJ-D-SHJZ", title: "社会救助", legalBasis: "", description: "")
    try expectRejected(.declareDuty(duty), by: [ledger.operatorKey(H.civil)], "tx.signer_not_operator")
    try expectAccepted(.declareDuty(duty), by: [newKey])
    try expectRejected(
      .rotateBureauKeys(BureauKeyRotation(bureauId: H.police, operatorKeys: [newKey.publicKey], nodeKeys: [])),
      by: board, "bureau.validator_key_in_use")
  }

  @Test("validator changes take effect at the height they name, not before")
  func validatorChange() throws {
    let board = Array(ledger.governance.prefix(2))
    let civilNode = Devnet.nodeKey(H.civil).publicKey
    let add = ValidatorSetChange(
      add: [Validator(nodeKey: civilNode, bureauId: H.civil)], remove: [], effectiveHeight: 4)
    try expectRejected(
      .changeValidators(ValidatorSetChange(add: [], remove: [], effectiveHeight: 9)), by: board,
      "validators.empty_change")
    try expectRejected(
      .changeValidators(ValidatorSetChange(add: add.add, remove: [], effectiveHeight: 1)), by: board,
      "validators.effective_height_not_future")
    try expectRejected(
      .changeValidators(ValidatorSetChange(add: [], remove: [civilNode], effectiveHeight: 9)), by: board,
      "validators.not_member")
    try expectRejected(
      .changeValidators(
        ValidatorSetChange(
          add: [Validator(nodeKey: police.publicKey, bureauId: H.civil)], remove: [], effectiveHeight: 9)),
      by: board, "validators.node_key_not_registered")
    var scheduled = add
    scheduled.effectiveHeight = ledger.height + 3
    try expectAccepted(.changeValidators(scheduled), by: board)
    try expectRejected(
      .changeValidators(ValidatorSetChange(add: add.add, remove: [], effectiveHeight: ledger.height + 20)), by: board,
      "validators.already_member")
    let atEffective = try ledger.apply([])
    #expect(atEffective.validatorSet.contains(civilNode))
    #expect(atEffective.validatorSet.count == 5)
  }

  @Test("the validator set switches exactly at the effective height")
  func validatorActivationHeight() throws {
    let board = Array(ledger.governance.prefix(2))
    let civilNode = Devnet.nodeKey(H.civil).publicKey
    let change = ValidatorSetChange(
      add: [Validator(nodeKey: civilNode, bureauId: H.civil)], remove: [], effectiveHeight: 3)
    try expectAccepted(.changeValidators(change), by: board)  // height 1
    #expect(try !ledger.apply([]).validatorSet.contains(civilNode))  // height 2
    let atEffective = try ledger.apply([])  // height 3
    #expect(atEffective.validatorSet.contains(civilNode))
    guard case .validators(_, let pending)? = ledger.record(.validators)?.value else { throw Missing() }
    #expect(pending.isEmpty)
  }

  // MARK: Duties and directories

  @Test("duties: declare, amend, retire; a cited duty cannot retire")
  func duties() throws {
    let duty = Duty(bureauId: H.police, dutyId: "GAJ-D-CRJ", title: "出入境管理", legalBasis: "《出境入境管理法》", description: "")
    try expectRejected(.amendDuty(duty), by: [police], "duty.not_found")
    try expectAccepted(.declareDuty(duty), by: [police])
    try expectRejected(.declareDuty(duty), by: [police], "duty.already_declared")
    var amended = duty
    amended.description = "负责本市出入境证件签发"
    try expectAccepted(.amendDuty(amended), by: [police])
    #expect(ledger.record(.duty(H.police, "GAJ-D-CRJ"))?.version == 2)
    try expectRejected(
      .retireDuty(Retirement(bureauId: H.police, recordId: H.censusDuty, reason: "")), by: [police], "duty.still_cited")
    try expectAccepted(.retireDuty(Retirement(bureauId: H.police, recordId: "GAJ-D-CRJ", reason: "职能划转")), by: [police])
    try expectRejected(.amendDuty(amended), by: [police], "duty.retired")
  }

  @Test("every directory cites active duties of its own bureau (职责目录化)")
  func directoryCitesDuty() throws {
    var directory = H.residentsDirectory()
    directory.directoryId = "GAJ-R-LDRK"
    directory.dutyIds = ["GAJ-D-NONE"]
    try expectRejected(.publishDirectory(directory), by: [police], "directory.duty_not_active")
    var foreign = directory
    foreign.bureauId = H.housing
    foreign.dutyIds = [H.censusDuty]  // the police's duty, not housing's
    try expectRejected(.publishDirectory(foreign), by: [housing], "directory.duty_not_active")
    directory.dutyIds = [H.censusDuty]
    directory.items += directory.items.prefix(1)
    try expectRejected(.publishDirectory(directory), by: [police], "directory.duplicate_item")
    directory.items.removeLast()
    directory.shareCondition = ""
    try expectRejected(.publishDirectory(directory), by: [police], "directory.missing_share_condition")
    directory.shareCondition = "用于政务服务"
    try expectAccepted(.publishDirectory(directory), by: [police])
    try expectRejected(.publishDirectory(directory), by: [police], "directory.already_published")
    guard case .duty(_, let citations)? = ledger.record(.duty(H.police, H.censusDuty))?.value else { throw Missing() }
    #expect(citations == 4)
  }

  @Test("revising a directory numbers versions and moves duty citations; retiring releases them")
  func reviseAndRetireDirectory() throws {
    let newDuty = Duty(
      bureauId: H.police, dutyId: "GAJ-D-SFZ", title: "居民身份证管理", legalBasis: "《居民身份证法》", description: "")
    try expectAccepted(.declareDuty(newDuty), by: [police])
    var revised = H.residentsDirectory(duties: ["GAJ-D-SFZ"])
    revised.items.append(DataItem(name: "民族", type: .code, description: "GB/T 3304"))
    try expectAccepted(.reviseDirectory(revised), by: [police])
    let record = try #require(ledger.record(.directory(H.police, H.residents)))
    #expect(record.version == 2)
    guard case .duty(_, let census)? = ledger.record(.duty(H.police, H.censusDuty))?.value,
      case .duty(_, let identity)? = ledger.record(.duty(H.police, "GAJ-D-SFZ"))?.value
    else { throw Missing() }
    #expect(census == 2 && identity == 1)
    try expectAccepted(
      .retireDirectory(Retirement(bureauId: H.police, recordId: H.residents, reason: "整合")), by: [police])
    try expectRejected(.reviseDirectory(revised), by: [police], "directory.directory_retired")
    try expectAccepted(.retireDuty(Retirement(bureauId: H.police, recordId: "GAJ-D-SFZ", reason: "")), by: [police])
  }

  // MARK: Requests and grants

  @Test("request → approve creates a grant with the request's scope; deny records the reason")
  func requestApproveDeny() throws {
    let request = AccessRequest(requesterId: H.housing, requestId: "REQ-1", providerId: H.police, scope: Self.scope())
    try expectAccepted(.requestAccess(request), by: [housing])
    try expectRejected(.requestAccess(request), by: [housing], "request.already_exists")
    try expectRejected(
      .approveRequest(RequestApproval(providerId: H.civil, requesterId: H.housing, requestId: "REQ-1", grantId: "G-1")),
      by: [ledger.operatorKey(H.civil)], "request.not_found")
    try expectAccepted(
      .approveRequest(
        RequestApproval(providerId: H.police, requesterId: H.housing, requestId: "REQ-1", grantId: "G-1")),
      by: [police])
    let grant = try #require(ledger.record(.grant(H.police, "G-1")))
    guard case .grant(let granted, let requestId) = grant.value else { throw Missing() }
    #expect(granted.granteeId == H.housing && granted.scope == Self.scope() && requestId == "REQ-1")
    #expect(ledger.record(.request(H.housing, "REQ-1"))?.status == .approved)
    try expectRejected(
      .denyRequest(RequestDenial(providerId: H.police, requesterId: H.housing, requestId: "REQ-1", reason: "")),
      by: [police], "request.not_pending")

    let second = AccessRequest(requesterId: H.housing, requestId: "REQ-2", providerId: H.police, scope: Self.scope())
    try expectAccepted(.requestAccess(second), by: [housing])
    try expectAccepted(
      .denyRequest(RequestDenial(providerId: H.police, requesterId: H.housing, requestId: "REQ-2", reason: "用途不明确")),
      by: [police])
    #expect(ledger.record(.request(H.housing, "REQ-2"))?.status == .denied)
  }

  @Test("requests and grants are refused for 不予共享 directories, unknown items, empty windows and oneself")
  func scopeRules() throws {
    func request(_ id: String, _ scope: AccessScope, provider: String = H.police) -> Payload {
      .requestAccess(AccessRequest(requesterId: H.housing, requestId: id, providerId: provider, scope: scope))
    }
    try expectRejected(
      request("R1", Self.scope(H.secretDirectory, items: ["案件编号"])), by: [housing], "request.directory_not_shareable")
    try expectRejected(request("R2", Self.scope(items: ["婚姻状况"])), by: [housing], "request.item_not_in_directory")
    try expectRejected(request("R3", Self.scope(from: 10, until: 10)), by: [housing], "request.invalid_window")
    try expectRejected(request("R4", Self.scope("GAJ-R-NONE")), by: [housing], "request.directory_not_found")
    try expectRejected(request("R5", Self.scope(), provider: "BJ-NONE"), by: [housing], "request.provider_not_active")
    try expectRejected(request("R6", Self.scope(), provider: H.housing), by: [housing], "request.self")

    func grant(_ id: String, _ scope: AccessScope, to grantee: String = H.housing) -> Payload {
      .grantAccess(Grant(grantorId: H.police, grantId: id, granteeId: grantee, scope: scope))
    }
    try expectRejected(
      grant("G1", Self.scope(H.secretDirectory, items: ["案件编号"])), by: [police], "grant.directory_not_shareable")
    try expectRejected(grant("G2", Self.scope(), to: H.police), by: [police], "grant.self")
    try expectRejected(grant("G3", Self.scope(), to: "BJ-NONE"), by: [police], "grant.grantee_not_active")
    try expectRejected(grant("G4", Self.scope(until: ledger.timeMs)), by: [police], "grant.window_ended")
    try expectAccepted(grant("G5", Self.scope()), by: [police])
    try expectRejected(grant("G5", Self.scope()), by: [police], "grant.already_exists")
  }

  // MARK: Attestations and share records

  @Test("有条件共享 data moves only under an active grant; revocation is immediate")
  func conditionalShare() throws {
    let dataHash = SHA256.hash(Array("常住人口 2026-11 批次".utf8))
    let share = ShareRecord(
      providerId: H.police, consumerId: H.housing, directoryId: H.residents, grantId: "G-1", dataHash: dataHash)
    try expectRejected(.recordShare(share), by: [police], "share.data_not_attested")
    let attestation = Attestation(
      bureauId: H.police, directoryId: H.residents, kind: .batchRoot, dataHash: dataHash, recordCount: 1_000,
      producedAtMs: 1)
    try expectAccepted(.attestData(attestation), by: [police])
    try expectRejected(.attestData(attestation), by: [police], "attestation.already_recorded")
    try expectRejected(.recordShare(share), by: [police], "share.grant_not_found")
    var withoutGrant = share
    withoutGrant.grantId = nil
    try expectRejected(.recordShare(withoutGrant), by: [police], "share.grant_required")

    let now = ledger.timeMs
    try expectAccepted(
      .grantAccess(
        Grant(
          grantorId: H.police, grantId: "G-1", granteeId: H.housing,
          scope: Self.scope(from: now + 5_000, until: now + 20_000))),
      by: [police])
    try expectRejected(.recordShare(share), by: [police], "share.grant_outside_window")  // before the window opens
    try ledger.apply([], advanceMs: 5_000)
    try expectAccepted(.recordShare(share), by: [police])
    var toCivil = share
    toCivil.consumerId = H.civil
    try expectRejected(.recordShare(toCivil), by: [police], "share.grant_does_not_cover")
    try expectAccepted(.revokeGrant(Retirement(bureauId: H.police, recordId: "G-1", reason: "项目结束")), by: [police])
    try expectRejected(.recordShare(share), by: [police], "share.grant_revoked")
    try expectRejected(
      .revokeGrant(Retirement(bureauId: H.police, recordId: "G-1", reason: "")), by: [police], "grant.already_revoked")
  }

  @Test("无条件共享 data goes to any registered bureau without a grant; 不予共享 never")
  func unconditionalAndNotShared() throws {
    for directory in [H.openDirectory, H.secretDirectory] {
      let attestation = Attestation(
        bureauId: H.police, directoryId: directory, kind: .release, dataHash: SHA256.hash(Array(directory.utf8)),
        recordCount: 1, producedAtMs: 1)
      try expectAccepted(.attestData(attestation), by: [police])
    }
    let open = ShareRecord(
      providerId: H.police, consumerId: H.civil, directoryId: H.openDirectory, grantId: nil,
      dataHash: SHA256.hash(Array(H.openDirectory.utf8)))
    try expectAccepted(.recordShare(open), by: [police])
    let secret = ShareRecord(
      providerId: H.police, consumerId: H.civil, directoryId: H.secretDirectory, grantId: nil,
      dataHash: SHA256.hash(Array(H.secretDirectory.utf8)))
    try expectRejected(.recordShare(secret), by: [police], "share.directory_not_shareable")
    var toNobody = open
    toNobody.consumerId = "BJ-NONE"
    try expectRejected(.recordShare(toNobody), by: [police], "share.consumer_not_active")
    let empty = Attestation(
      bureauId: H.police, directoryId: H.openDirectory, kind: .batchRoot, dataHash: .zero, recordCount: 0,
      producedAtMs: 1)
    try expectRejected(.attestData(empty), by: [police], "attestation.empty_batch")
  }

  // MARK: Determinism

  @Test("the same block on two machines gives the same results and state root, byte for byte")
  func determinism() throws {
    let other = try LedgerHarness()
    let transactions = [
      ledger.transaction(
        .requestAccess(
          AccessRequest(requesterId: H.housing, requestId: "R", providerId: H.police, scope: Self.scope())),
        by: [housing]),
      ledger.transaction(
        .grantAccess(Grant(grantorId: H.police, grantId: "G", granteeId: H.housing, scope: Self.scope())), by: [police]),
      ledger.transaction(
        .grantAccess(Grant(grantorId: H.police, grantId: "G", granteeId: H.civil, scope: Self.scope())), by: [police]),
    ]
    let first = try ledger.apply(transactions)
    let second = try other.apply(transactions)
    #expect(first.stateRoot == second.stateRoot)
    #expect(first.resultsRoot == second.resultsRoot)
    #expect(first.results.map(\.code) == ["ok", "ok", "tx.bad_sequence"])
    #expect(first.changes.map { $0.after.canonicalBytes } == second.changes.map { $0.after.canonicalBytes })
  }

  @Test("a block of 1,000 mixed transactions: the incremental root equals a naive recomputation")
  func largeBlockMatchesNaiveRoot() throws {
    var transactions: [SignedTransaction] = []
    var sequence: UInt64 = 0
    for n in 0..<1_000 {
      let payload: Payload =
        n % 2 == 0
        ? .attestData(
          Attestation(
            bureauId: H.police, directoryId: H.residents, kind: .release, dataHash: SHA256.hash(Array("r\(n)".utf8)),
            recordCount: 1, producedAtMs: UInt64(n)))
        : .grantAccess(Grant(grantorId: H.police, grantId: "G\(n)", granteeId: H.housing, scope: Self.scope()))
      transactions.append(ledger.transaction(payload, by: [police], sequence: sequence))
      sequence += 1
    }
    let execution = try ledger.apply(transactions, check: .alreadyVerified)
    #expect(execution.acceptedCount == 1_000)
    let entries = ledger.state.records.map { (key: $0.key.treeKey, value: $0.value.valueHash) }
    #expect(naiveSparseRoot(entries) == ledger.root)
  }
}

struct Missing: Error {}

@Suite("Rejection codes are documented")
struct RejectionCodeDocumentationTests {
  @Test("every code the rules can return appears in docs/RULES.md")
  func everyCodeDocumented() throws {
    let root = Fixture.repositoryRoot
    let rules = try String(contentsOf: root.appendingPathComponent("docs/RULES.md"), encoding: .utf8)
    let directory = root.appendingPathComponent("Sources/Ledger/State")
    var codes = Set<String>()
    for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".swift") {
      let source = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
      for match in source.matches(of: /Rejection\(\s*"([a-z_]+\.[a-z_]+)"/) { codes.insert(String(match.1)) }
      for match in source.matches(of: /code: "([a-z_]+\.[a-z_]+)"/) { codes.insert(String(match.1)) }
    }
    #expect(codes.count > 40)
    for code in codes.sorted() { #expect(rules.contains("`\(code)`"), "\(code) is missing from docs/RULES.md") }
  }
}

@Suite("A block's working state")
struct WorkingStateTests {
  struct Committed: StateReader {
    let records: [RecordKey: StateRecord]
    func record(_ key: RecordKey) throws -> StateRecord? { records[key] }
  }

  static func sequence(_ next: UInt64, at height: UInt64 = 1) -> StateRecord {
    .created(.account(nextSequence: next), at: height)
  }

  @Test("a discarded transaction leaves the block as it was, even for keys it wrote twice; a kept one names each once")
  func discardPutsBackWhatATransactionReplaced() throws {
    let committed = RecordKey(path: "account/committed")
    let fresh = RecordKey(path: "account/fresh")
    let onlyRejected = RecordKey(path: "account/only-rejected")
    let working = WorkingState(base: Committed(records: [committed: Self.sequence(1, at: 0)]))

    #expect(try working.read(committed) == Self.sequence(1, at: 0))
    working.write(fresh, Self.sequence(7))
    working.write(committed, Self.sequence(2))
    working.write(fresh, Self.sequence(8))
    var written: [RecordKey] = []
    working.commitTransaction { written.append($0) }
    #expect(written == [fresh, committed])

    working.write(committed, Self.sequence(3))
    working.write(onlyRejected, Self.sequence(1))
    working.write(committed, Self.sequence(4))
    working.write(fresh, Self.sequence(9))
    working.discardTransaction()
    #expect(try working.read(committed) == Self.sequence(2))
    #expect(try working.read(fresh) == Self.sequence(8))
    #expect(try working.read(onlyRejected) == nil)

    // Genesis writes the whole city as one transaction: past a handful of
    // keys the written ones are told apart by a set, in the same order.
    let many = (0..<40).map { RecordKey(path: "account/\($0 % 20)") }
    for key in many { working.write(key, Self.sequence(1)) }
    written = []
    working.commitTransaction { written.append($0) }
    #expect(written == Array(many.prefix(20)))

    // In tree-key order, the order the tree update walks: each key once.
    let allChanges = try working.changes()
    #expect(allChanges.allSatisfy { $0.treeKey == $0.key.treeKey })
    #expect(zip(allChanges, allChanges.dropFirst()).allSatisfy { $0.treeKey < $1.treeKey })
    #expect(Set(allChanges.map(\.key)) == Set(many + [committed, fresh]))
    let changes = Dictionary(uniqueKeysWithValues: allChanges.map { ($0.key, $0) })
    #expect(changes[committed]?.before == Self.sequence(1, at: 0))
    #expect(changes[committed]?.after == Self.sequence(2))
    #expect(changes[fresh]?.before == nil)
    #expect(changes[fresh]?.after == Self.sequence(8))
  }
}
