import Foundation
import Testing

@testable import Ledger

/// A small chain with every kind of thing a verifier asks about: a grant,
/// attested and shared data, a validator-set change, then the grant revoked.
struct ProofChain {
  var fixture: StoreFixture
  let dataHash = SHA256.hash(Array("常住人口基本信息 2026-01 批次".utf8))
  let police = Devnet.operatorKey(H.police)
  var shareTransaction: SignedTransaction!
  /// Last height at which the grant was active; the head has it revoked.
  var grantActiveHeight: UInt64 = 0
  var store: LedgerStore { fixture.store }
  var verifier: ProofVerifier { ProofVerifier(genesis: fixture.genesis) }

  init() throws {
    fixture = try StoreFixture()
    let start = fixture.genesis.genesisTimeMs
    let scope = AccessScope(
      directoryId: H.residents, items: ["姓名", "公民身份号码"], purpose: "住房保障资格审核", validFromMs: start,
      validUntilMs: start + 1_000_000_000)
    let grant = Grant(grantorId: H.police, grantId: "G1", granteeId: H.housing, scope: scope)
    try fixture.commit([fixture.transaction(.grantAccess(grant), by: police)])
    try fixture.commit([
      fixture.transaction(
        .attestData(
          Attestation(
            bureauId: H.police, directoryId: H.residents, kind: .release, dataHash: dataHash, recordCount: 1_000,
            producedAtMs: start)), by: police)
    ])
    shareTransaction = fixture.transaction(
      .recordShare(
        ShareRecord(
          providerId: H.police, consumerId: H.housing, directoryId: H.residents, grantId: "G1", dataHash: dataHash)),
      by: police)
    try fixture.commit([shareTransaction])
    // Governance adds BJ-MZJ's node as a fifth validator from height 6.
    let governance = Devnet.governanceKeys
    try fixture.commit([
      fixture.transaction(
        .changeValidators(
          ValidatorSetChange(
            add: [Validator(nodeKey: Devnet.nodeKey(H.civil).publicKey, bureauId: H.civil)], remove: [],
            effectiveHeight: 6)), by: governance[0], cosigners: [governance[1]])
    ])
    try fixture.commit([
      fixture.transaction(
        .declareDuty(
          Duty(bureauId: H.police, dutyId: "GAJ-D-2", title: "出入境管理", legalBasis: "《出境入境管理法》", description: "")),
        by: police)
    ])
    try fixture.commit([
      fixture.transaction(
        .declareDuty(
          Duty(bureauId: H.police, dutyId: "GAJ-D-3", title: "交通管理", legalBasis: "《道路交通安全法》", description: "")),
        by: police)
    ])
    grantActiveHeight = store.head.height
    try fixture.commit([
      fixture.transaction(.revokeGrant(Retirement(bureauId: H.police, recordId: "G1", reason: "办件完成")), by: police)
    ])
  }
}

@Suite("Proof bundles")
struct ProofBundleTests {
  @Test func everyKindOfProofVerifies() throws {
    let chain = try ProofChain()
    defer { chain.fixture.remove() }
    let store = chain.store
    #expect(store.validatorSet.validators.count == 5)

    let record = try store.recordBundle(.grant(H.police, "G1"))
    #expect(record.validatorTransitions.count == 1, "the change at height 6 is in every bundle anchored after it")
    guard case .valid(let facts, _) = chain.verifier.verify(record) else {
      Issue.record("record bundle: \(chain.verifier.verify(record))")
      return
    }
    #expect(facts.contains { $0.contains("grant/BJ-GAJ/G1 is a grant record, status revoked") })

    let absent = try store.recordBundle(.grant(H.police, "G-NONE"))
    guard case .valid(let absentFacts, _) = chain.verifier.verify(absent) else {
      Issue.record("non-inclusion: \(chain.verifier.verify(absent))")
      return
    }
    #expect(absentFacts.contains { $0.contains("there is no record grant/BJ-GAJ/G-NONE") })

    let past = try store.recordBundle(.grant(H.police, "G1"), height: 2)
    #expect(past.validatorTransitions.isEmpty)
    guard case .valid(let pastFacts, _) = chain.verifier.verify(past) else {
      Issue.record("past")
      return
    }
    #expect(pastFacts.contains { $0.contains("status active") })

    let transaction = try store.transactionBundle(chain.shareTransaction.id)
    guard case .valid(let transactionFacts, _) = chain.verifier.verify(transaction) else {
      Issue.record("tx: \(chain.verifier.verify(transaction))")
      return
    }
    #expect(transactionFacts.contains { $0.contains("recordShare") && $0.contains("block 3, result ok") })

    let consistency = try store.consistencyBundle(from: 2)
    #expect(chain.verifier.verify(consistency).isValid)
    #expect(chain.verifier.verify(try store.consistencyBundle(from: 0, to: 4)).isValid)

    let now = try store.provenanceBundle(dataHash: chain.dataHash, consumerId: H.housing)
    guard case .valid(_, let findings) = chain.verifier.verify(now) else {
      Issue.record("provenance")
      return
    }
    #expect(findings.first?.authorized == false)
    #expect(findings.first?.basis.contains("grant G1 is revoked") == true)
    let then = try store.provenanceBundle(
      dataHash: chain.dataHash, consumerId: H.housing, height: chain.grantActiveHeight)
    guard case .valid(_, let thenFindings) = chain.verifier.verify(then) else {
      Issue.record("provenance then")
      return
    }
    #expect(thenFindings.first?.authorized == true)
    #expect(thenFindings.first?.dutyIds == [H.censusDuty])
    #expect(thenFindings.first?.basis.contains("share is recorded") == true)
    let stranger = try store.provenanceBundle(
      dataHash: chain.dataHash, consumerId: H.civil, height: chain.grantActiveHeight)
    guard case .valid(_, let strangerFindings) = chain.verifier.verify(stranger) else {
      Issue.record("stranger")
      return
    }
    #expect(strangerFindings.first?.authorized == false)
  }

  @Test func binaryAndJSONFormsRoundTrip() throws {
    let chain = try ProofChain()
    defer { chain.fixture.remove() }
    for bundle in [
      try chain.store.provenanceBundle(dataHash: chain.dataHash, consumerId: H.housing),
      try chain.store.transactionBundle(chain.shareTransaction.id), try chain.store.consistencyBundle(from: 1),
    ] {
      let bytes = bundle.canonicalBytes
      #expect(try ProofBundle(canonicalBytes: bytes) == bundle)
      let json = try JSONEncoder().encode(bundle)
      #expect(try JSONDecoder().decode(ProofBundle.self, from: json) == bundle)
    }
  }

  /// Every single-byte change of a bundle is refused: it no longer decodes, or
  /// it decodes and does not verify.
  @Test func everySingleByteMutationIsRefused() throws {
    let chain = try ProofChain()
    defer { chain.fixture.remove() }
    let bytes = try chain.store.recordBundle(.grant(H.police, "G1")).canonicalBytes
    var undecodable = 0
    var invalid = 0
    for index in bytes.indices {
      var mutated = bytes
      mutated[index] ^= 0x01
      guard let bundle = try? ProofBundle(canonicalBytes: mutated) else {
        undecodable += 1
        continue
      }
      let verdict = chain.verifier.verify(bundle)
      #expect(!verdict.isValid, "flipping byte \(index) still verifies")
      invalid += 1
    }
    #expect(undecodable + invalid == bytes.count)
    #expect(invalid > bytes.count / 2, "most mutations decode and are caught by the verifier")
  }

  @Test func forgedCertificatesStaleSetsOtherChainsAndEditedRecordsAreInvalid() throws {
    let chain = try ProofChain()
    defer { chain.fixture.remove() }
    let bundle = try chain.store.recordBundle(.grant(H.police, "G1"))
    let header = bundle.anchor.header
    let statement = bundle.anchor.certificate.statement.signingDigest
    func verdict(_ change: (inout ProofBundle) -> Void) -> ProofVerdict {
      var copy = bundle
      change(&copy)
      return chain.verifier.verify(copy)
    }
    func expectInvalid(_ verdict: ProofVerdict, step: String, reason: String, _ comment: Comment) {
      guard case .invalid(let failedStep, let failedReason) = verdict else {
        Issue.record("\(comment): verified")
        return
      }
      #expect(failedStep == step, comment)
      #expect(failedReason.contains(reason), "\(comment): \(failedReason)")
    }

    // A signature from a key outside the validator set.
    expectInvalid(
      verdict { bundle in
        let outsider = Devnet.key("outsider")
        var signatures = bundle.anchor.certificate.signatures
        signatures[0] = VoterSignature(voter: outsider.publicKey, signature: outsider.sign(digest: statement))
        bundle.anchor.certificate = CommitCertificate(
          chainId: header.chainId, height: header.height, view: bundle.anchor.certificate.view, blockHash: header.hash,
          signatures: signatures)
      }, step: "anchor.certificate", reason: "is not a validator", "non-validator signature")

    // 2f signatures (quorum is 4 of 5 after the change: one short).
    expectInvalid(
      verdict { bundle in
        let certificate = bundle.anchor.certificate
        bundle.anchor.certificate = CommitCertificate(
          chainId: certificate.chainId, height: certificate.height, view: certificate.view,
          blockHash: certificate.blockHash,
          signatures: Array(certificate.signatures.prefix(3)))
      }, step: "anchor.certificate", reason: "3 signatures; 4 are needed", "2f signatures")

    // A stale validator set: the transition left out.
    expectInvalid(
      verdict { $0.validatorTransitions = [] }, step: "anchor.header", reason: "a transition is missing",
      "stale validator set")

    // A header from another chain, and a bundle checked against another chain's genesis.
    expectInvalid(
      verdict { $0.anchor.header.chainId = "other-chain" }, step: "anchor.header", reason: "chain", "foreign header")
    let otherGenesis = ProofVerifier(
      genesis: Devnet.genesis(validatorCount: 4, bureaus: [Devnet.registration("BJ-X", name: "x")]))
    guard case .invalid(let step, _) = otherGenesis.verify(bundle) else {
      Issue.record("another genesis accepted the bundle")
      return
    }
    #expect(step == "bundle.chain")

    // A revoked grant presented as active.
    let provenance = try chain.store.provenanceBundle(dataHash: chain.dataHash, consumerId: H.housing)
    var forged = provenance
    guard case .provenance(var claim) = forged.claims[0], let grant = claim.grant?.record else {
      Issue.record("no grant in the provenance bundle")
      return
    }
    #expect(grant.status == .revoked)
    claim.grant?.record = StateRecord(
      value: grant.value, status: .active, version: grant.version, createdAtHeight: grant.createdAtHeight,
      updatedAtHeight: grant.updatedAtHeight)
    forged.claims[0] = .provenance(claim)
    expectInvalid(
      chain.verifier.verify(forged), step: "claims[0].provenance.grant", reason: "does not match the state root",
      "revoked grant shown as active")
  }

  /// A node that lies: it serves a grant that does not exist, under a state
  /// root it made up, certified by keys of its own.
  @Test func aLyingNodeIsCaught() throws {
    let chain = try ProofChain()
    defer { chain.fixture.remove() }
    let honest = try chain.store.recordBundle(.grant(H.police, "G-FORGED"))
    let scope = AccessScope(
      directoryId: H.residents, items: ["姓名"], purpose: "伪造", validFromMs: 0, validUntilMs: .max)
    let forgedRecord = StateRecord(
      value: .grant(Grant(grantorId: H.police, grantId: "G-FORGED", granteeId: H.civil, scope: scope), requestId: nil),
      status: .active, version: 1, createdAtHeight: 1, updatedAtHeight: 1)
    let key = RecordKey.grant(H.police, "G-FORGED")
    let nodes = InMemorySparseMerkleNodes()
    let tree = SparseMerkleTree(source: nodes)
    let (newRoot, newNodes) = try tree.update(
      root: .zero, [key.treeKey: SHA256.hash(forgedRecord.canonicalBytes)], version: 0)
    nodes.insert(newNodes)
    let root = newRoot.hash
    var header = honest.anchor.header
    header.stateRoot = root
    let liars = (1...4).map { Devnet.key("liar/\($0)") }
    var lie = honest
    lie.anchor = CertifiedHeader(header: header, certificate: Devnet.certify(header, keys: liars, quorum: 4))
    lie.claims = [
      .record(RecordProof(key: key.path, record: forgedRecord, proof: try tree.proof(root: root, key: key.treeKey)))
    ]
    guard case .invalid(let step, let reason) = chain.verifier.verify(lie) else {
      Issue.record("the lie verified")
      return
    }
    #expect(step == "anchor.certificate")
    #expect(reason.contains("is not a validator"))
    // The honest answer for the same key verifies and says the grant does not exist.
    #expect(chain.verifier.verify(honest).isValid)
  }
}
