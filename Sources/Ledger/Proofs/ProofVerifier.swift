/// What a verified bundle proves about one provenance question.
public struct ProvenanceFinding: Hashable, Sendable, Codable {
  public let dataHash: Hash256
  public let consumerId: String
  public let providerId: String
  public let directoryId: String
  public let directoryTitle: String
  public let shareType: ShareType
  public let dutyIds: [String]
  /// Whether the consumer may hold the data at the anchor height.
  public let authorized: Bool
  /// Why, in words: the grant and its window, the share type, or what is missing.
  public let basis: String
  public let height: UInt64
  public let timeMs: UInt64
}

/// The outcome of verifying a bundle: VALID with what it proves, or INVALID
/// with the first step that failed.
public enum ProofVerdict: Hashable, Sendable {
  case valid(facts: [String], provenance: [ProvenanceFinding])
  case invalid(step: String, reason: String)

  public var isValid: Bool { if case .valid = self { true } else { false } }
}

/// Checks a proof bundle against the genesis file alone (docs/PROOFS.md §7.2).
/// Pure: no store, no network, no clock. Every hash is recomputed, every
/// certificate checked against the validator set in force at its height.
public struct ProofVerifier: Sendable {
  public let genesis: Genesis
  public let genesisHash: Hash256
  let genesisValidators: ValidatorSet

  public init(genesis: Genesis) {
    self.genesis = genesis
    genesisHash = genesis.hash
    genesisValidators = ValidatorSet(genesis.validators)
  }

  struct Failure: Error {
    let step: String
    let reason: String
    init(_ step: String, _ reason: String) {
      self.step = step
      self.reason = reason
    }
  }

  public func verify(_ bundle: ProofBundle) -> ProofVerdict {
    do {
      var facts: [String] = []
      var findings: [ProvenanceFinding] = []
      try check(bundle, facts: &facts, findings: &findings)
      return .valid(facts: facts, provenance: findings)
    } catch let failure as Failure {
      return .invalid(step: failure.step, reason: failure.reason)
    } catch {
      return .invalid(step: "bundle", reason: "\(error)")
    }
  }

  private func check(_ bundle: ProofBundle, facts: inout [String], findings: inout [ProvenanceFinding]) throws {
    guard bundle.version == ProofBundle.currentVersion else {
      throw Failure("bundle.version", "version \(bundle.version); this verifier reads \(ProofBundle.currentVersion)")
    }
    guard bundle.chainId == genesis.chainId, bundle.genesisHash == genesisHash else {
      throw Failure(
        "bundle.chain",
        "the bundle is for chain \"\(bundle.chainId)\" (genesis \(bundle.genesisHash.hex)), the genesis file is \"\(genesis.chainId)\" (\(genesisHash.hex))"
      )
    }
    guard !bundle.claims.isEmpty else { throw Failure("bundle.claims", "the bundle claims nothing") }
    let anchor = bundle.anchor.header
    guard anchor.height >= 1 else { throw Failure("anchor", "the anchor must be a certified block (height ≥ 1)") }

    // 1. The validator set in force at the anchor, from genesis through each transition.
    var validators = genesisValidators
    var lastTransition: UInt64 = 0
    for (index, transition) in bundle.validatorTransitions.enumerated() {
      let step = "validatorTransitions[\(index)]"
      let before = transition.before.header
      guard before.height > lastTransition, before.height < anchor.height else {
        throw Failure(step, "transition heights must rise and stay below the anchor (\(before.height))")
      }
      try checkCertified(transition.before, validators: validators, step: step)
      let record = try checkRecord(transition.validators, root: before.stateRoot, step: "\(step).validators")
      guard transition.validators.key == RecordKey.validators.path,
        case .validators(let inForce, let pending)? = record?.value, inForce == validators
      else {
        throw Failure("\(step).validators", "not the validators record of the set in force at height \(before.height)")
      }
      let schedule = ValidatorSchedule(height: before.height, current: inForce, pending: pending)
      guard schedule.pending.first?.effectiveHeight == before.height + 1 else {
        throw Failure(step, "no validator change takes effect at height \(before.height + 1)")
      }
      validators = schedule.validatorsInForce(at: before.height + 1)
      lastTransition = before.height
      facts.append(
        "the validator set changed at height \(before.height + 1) to \(validators.validators.count) validators (\(validators.validators.map(\.bureauId).joined(separator: ", ")))"
      )
    }

    // 2. The anchor, certified by that set.
    try checkCertified(bundle.anchor, validators: validators, step: "anchor")
    facts.append(
      "block \(anchor.height) (\(anchor.hash.hex)) of chain \(bundle.chainId) is certified by \(bundle.anchor.certificate.signatures.count) of \(validators.validators.count) validators (quorum \(validators.quorum))"
    )

    // 3. Every claim against the anchor.
    for (index, claim) in bundle.claims.enumerated() {
      let step = "claims[\(index)].\(claim.kindName)"
      switch claim {
      case .record(let proof):
        let record = try checkRecord(proof, root: anchor.stateRoot, step: step)
        if let record {
          facts.append(
            "at height \(anchor.height), \(proof.key) is a \(record.value.kind) record, status \(record.status.name), version \(record.version), last changed at height \(record.updatedAtHeight)"
          )
        } else {
          facts.append("at height \(anchor.height), there is no record \(proof.key)")
        }
      case .transaction(let inclusion):
        facts.append(try checkTransaction(inclusion, anchor: anchor, step: step))
      case .consistency(let consistency):
        facts.append(try checkConsistency(consistency, anchor: anchor, step: step))
      case .provenance(let provenance):
        let finding = try checkProvenance(provenance, anchor: anchor, step: step)
        findings.append(finding)
        facts.append(
          "data \(finding.dataHash.hex) was attested by \(finding.providerId) under directory \(finding.directoryId) \"\(finding.directoryTitle)\" (\(finding.shareType.name)), kept under duties \(finding.dutyIds.joined(separator: ", "))"
        )
        facts.append(
          "\(finding.consumerId) \(finding.authorized ? "MAY" : "may NOT") hold it at height \(finding.height): \(finding.basis)"
        )
      }
    }
  }

  private func checkCertified(_ certified: CertifiedHeader, validators: ValidatorSet, step: String) throws {
    let header = certified.header
    let certificate = certified.certificate
    guard header.chainId == genesis.chainId else {
      throw Failure("\(step).header", "the header is for chain \"\(header.chainId)\"")
    }
    guard header.validatorSetHash == validators.hash else {
      throw Failure(
        "\(step).header",
        "block \(header.height) names a validator set other than the one in force by this bundle (a transition is missing or forged)"
      )
    }
    guard certificate.blockHash == header.hash, certificate.height == header.height else {
      throw Failure("\(step).certificate", "the certificate is for another block")
    }
    do {
      try certificate.verify(chainId: genesis.chainId, validators: validators)
    } catch {
      let reason =
        switch error {
        case .wrongChain(let chain): "the certificate is for chain \"\(chain)\""
        case .notAValidator(let key): "signer \(key.hex) is not a validator at height \(header.height)"
        case .badSignature(let key): "the signature of \(key.hex) does not verify"
        case .belowQuorum(let count, let quorum): "\(count) signatures; \(quorum) are needed"
        }
      throw Failure("\(step).certificate", reason)
    }
  }

  /// Checks the path of a record (or its absence) to `root`; returns the record.
  private func checkRecord(_ proof: RecordProof, root: Hash256, step: String) throws -> StateRecord? {
    let valueHash = proof.record.map { SHA256.hash($0.canonicalBytes) }
    guard proof.proof.verify(root: root, key: RecordKey(path: proof.key).treeKey, valueHash: valueHash) else {
      throw Failure(
        step,
        proof.record == nil
          ? "the path does not show that \(proof.key) is absent"
          : "the record \(proof.key) does not match the state root")
    }
    return proof.record
  }

  private func checkHistory(_ header: BlockHeader, path: [Hash256], anchor: BlockHeader, step: String) throws {
    guard header.chainId == genesis.chainId else {
      throw Failure(step, "the header is for chain \"\(header.chainId)\"")
    }
    if header.height == anchor.height {
      guard path.isEmpty, header == anchor else {
        throw Failure(step, "a block at the anchor's height must be the anchor")
      }
      return
    }
    guard header.height < anchor.height,
      MerkleTree.verifyInclusion(
        leafHash: header.hash.withUnsafeBytes { MerkleTree.leafHash($0) }, index: Int(header.height),
        treeSize: Int(anchor.height), proof: path, root: anchor.historyRoot)
    else { throw Failure(step, "block \(header.height) is not in the history of block \(anchor.height)") }
  }

  private func checkTransaction(_ inclusion: TransactionInclusion, anchor: BlockHeader, step: String) throws -> String {
    let header = inclusion.header
    try checkHistory(header, path: inclusion.historyPath, anchor: anchor, step: "\(step).historyPath")
    let transaction = inclusion.transaction
    guard
      MerkleTree.verifyInclusion(
        leafHash: MerkleTree.leafHash(transaction.canonicalBytes), index: Int(inclusion.index),
        treeSize: Int(header.transactionCount), proof: inclusion.transactionPath, root: header.transactionsRoot)
    else {
      throw Failure("\(step).transactionPath", "the transaction is not #\(inclusion.index) of block \(header.height)")
    }
    let digest = TransactionResult.digest(transactionId: transaction.id, code: inclusion.resultCode)
    guard
      MerkleTree.verifyInclusion(
        leafHash: digest.withUnsafeBytes { MerkleTree.leafHash($0) }, index: Int(inclusion.index),
        treeSize: Int(header.transactionCount), proof: inclusion.resultPath, root: header.resultsRoot)
    else {
      throw Failure("\(step).resultPath", "the result \"\(inclusion.resultCode)\" is not the block's result for it")
    }
    return
      "transaction \(transaction.id.hex) (\(transaction.body.payload.kind.name), signer \(transaction.body.signer.hex)) is #\(inclusion.index) of block \(header.height), result \(inclusion.resultCode)"
  }

  private func checkConsistency(_ consistency: HistoryConsistency, anchor: BlockHeader, step: String) throws -> String {
    let earlier = consistency.earlier
    guard earlier.height < anchor.height else { throw Failure(step, "the earlier block must be below the anchor") }
    try checkHistory(earlier, path: consistency.inclusionPath, anchor: anchor, step: "\(step).inclusionPath")
    if earlier.height >= 1 {
      guard
        MerkleTree.verifyConsistency(
          oldSize: Int(earlier.height), newSize: Int(anchor.height), oldRoot: earlier.historyRoot,
          newRoot: anchor.historyRoot, proof: consistency.consistencyPath)
      else {
        throw Failure(
          "\(step).consistencyPath", "the history at block \(anchor.height) does not extend block \(earlier.height)'s")
      }
    } else if !consistency.consistencyPath.isEmpty {
      throw Failure("\(step).consistencyPath", "genesis needs no consistency path")
    }
    return "the chain certified at height \(anchor.height) extends block \(earlier.height) (\(earlier.hash.hex))"
  }

  private func checkProvenance(_ claim: ProvenanceClaim, anchor: BlockHeader, step: String) throws -> ProvenanceFinding
  {
    guard
      case .attestation(let attestation, _)? = try checkRecord(
        claim.attestation, root: anchor.stateRoot, step: "\(step).attestation")?.value,
      attestation.dataHash == claim.dataHash,
      claim.attestation.key == RecordKey.attestation(attestation.bureauId, attestation.directoryId, claim.dataHash).path
    else { throw Failure("\(step).attestation", "not an attestation of data \(claim.dataHash.hex)") }
    let provider = attestation.bureauId
    let directoryRecord = try checkRecord(claim.directory, root: anchor.stateRoot, step: "\(step).directory")
    guard claim.directory.key == RecordKey.directory(provider, attestation.directoryId).path,
      let directoryRecord, case .directory(let directory) = directoryRecord.value
    else { throw Failure("\(step).directory", "not the directory the attestation names") }
    guard claim.duties.map(\.key) == directory.dutyIds.map({ RecordKey.duty(provider, $0).path }) else {
      throw Failure(
        "\(step).duties", "not the duties the directory cites (\(directory.dutyIds.joined(separator: ", ")))")
    }
    for (index, duty) in claim.duties.enumerated() {
      guard case .duty? = try checkRecord(duty, root: anchor.stateRoot, step: "\(step).duties[\(index)]")?.value else {
        throw Failure("\(step).duties[\(index)]", "the cited duty is not recorded")
      }
    }
    var authorized = false
    var basis: String
    switch directory.shareType {
    case .unconditional:
      authorized = directoryRecord.status == .active
      basis =
        authorized
        ? "the directory is shared unconditionally (无条件共享)" : "the directory is \(directoryRecord.status.name)"
    case .notShared:
      basis = "the directory may not be shared (不予共享)"
    case .conditional:
      basis = "no grant to \(claim.consumerId) for this directory was presented"
      if let grantProof = claim.grant {
        let record = try checkRecord(grantProof, root: anchor.stateRoot, step: "\(step).grant")
        guard let record, case .grant(let grant, _) = record.value,
          grantProof.key == RecordKey.grant(grant.grantorId, grant.grantId).path, grant.grantorId == provider,
          grant.granteeId == claim.consumerId, grant.scope.directoryId == directory.directoryId
        else { throw Failure("\(step).grant", "not a grant of this directory to \(claim.consumerId)") }
        let inWindow = grant.scope.validFromMs <= anchor.timeMs && anchor.timeMs <= grant.scope.validUntilMs
        authorized = record.status == .active && inWindow && directoryRecord.status == .active
        basis =
          record.status != .active
          ? "grant \(grant.grantId) is \(record.status.name)"
          : !inWindow
            ? "grant \(grant.grantId) is outside its window at block time \(anchor.timeMs)"
            : directoryRecord.status != .active
              ? "the directory is \(directoryRecord.status.name)"
              : "grant \(grant.grantId) is active (items \(grant.scope.items.joined(separator: "、")); purpose \"\(grant.scope.purpose)\")"
      }
    }
    if let shareProof = claim.share {
      guard
        case .share(let share, _)? = try checkRecord(shareProof, root: anchor.stateRoot, step: "\(step).share")?.value,
        share.dataHash == claim.dataHash, share.consumerId == claim.consumerId, share.providerId == provider,
        share.directoryId == directory.directoryId
      else { throw Failure("\(step).share", "not a share of this data to \(claim.consumerId)") }
      basis += "; the share is recorded (\(shareProof.key))"
    }
    return ProvenanceFinding(
      dataHash: claim.dataHash, consumerId: claim.consumerId, providerId: provider, directoryId: directory.directoryId,
      directoryTitle: directory.title, shareType: directory.shareType, dutyIds: directory.dutyIds,
      authorized: authorized,
      basis: basis, height: anchor.height, timeMs: anchor.timeMs)
  }
}

extension TransactionResult {
  /// The results-root leaf data for (`transactionId`, `code`), without the message.
  public static func digest(transactionId: Hash256, code: String) -> Hash256 {
    var writer = CanonicalWriter()
    writer.write(hash: transactionId)
    writer.write(string: code)
    return TaggedHash.hash(.transactionResult, writer.bytes)
  }
}
