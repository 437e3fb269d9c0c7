/// Building proof bundles from a store (what the proof endpoints serve).
/// Every bundle is anchored at a certified block: the head, or a past height.
extension LedgerStore {
  public struct ProofError: Error, CustomStringConvertible {
    public let code: String
    public let message: String
    public var description: String { "\(code): \(message)" }
    init(_ code: String, _ message: String) {
      self.code = code
      self.message = message
    }
  }

  public func certifiedHeader(at height: UInt64) throws -> CertifiedHeader {
    guard height >= 1 else {
      throw ProofError(
        "proof.genesis_anchor",
        "proofs are anchored at a certified block (height ≥ 1); the chain has only its genesis block so far")
    }
    guard height <= head.height, let header = try header(at: height), let certificate = try certificate(at: height)
    else {
      throw ProofError("proof.height_unknown", "height \(height) is above this node's head \(head.height)")
    }
    return CertifiedHeader(header: header, certificate: certificate)
  }

  /// The validator-set transitions that take effect at or below `height`.
  public func validatorTransitions(upTo height: UInt64) throws -> [ValidatorSetTransition] {
    let entries = database.scan(prefix: StoreKey.validatorTransitionPrefix, limit: ProofBundle.transitionCountMax)
    var transitions: [ValidatorSetTransition] = []
    for entry in entries {
      let effective = StoreKey.readBigEndian(entry.key.dropFirst(StoreKey.validatorTransitionPrefix.count))
      guard effective <= height else { break }
      let before = try certifiedHeader(at: effective - 1)
      transitions.append(
        ValidatorSetTransition(
          before: before, validators: try recordProof(.validators, atRoot: before.header.stateRoot)))
    }
    return transitions
  }

  public func recordProof(_ key: RecordKey, atRoot root: Hash256) throws -> RecordProof {
    let (record, proof) = try record(key, atRoot: root)
    return RecordProof(key: key.path, record: record, proof: proof)
  }

  /// The anchor a bundle at `height` (default the head) is proven against, with the transitions before it.
  public func proofAnchor(height: UInt64? = nil) throws -> ProofAnchor {
    let anchor = try certifiedHeader(at: height ?? head.height)
    return ProofAnchor(anchor: anchor, transitions: try validatorTransitions(upTo: anchor.header.height))
  }

  private func bundle(anchorHeight: UInt64?, _ claims: (CertifiedHeader) throws -> [ProofClaim]) throws -> ProofBundle {
    let anchor = try certifiedHeader(at: anchorHeight ?? head.height)
    return ProofBundle(
      chainId: chainId, genesisHash: genesisHash,
      validatorTransitions: try validatorTransitions(upTo: anchor.header.height), anchor: anchor,
      claims: try claims(anchor))
  }

  /// Inclusion (or non-inclusion) of any record at `height` (default: the head).
  public func recordBundle(_ key: RecordKey, height: UInt64? = nil) throws -> ProofBundle {
    try bundle(anchorHeight: height) { anchor in
      [.record(try recordProof(key, atRoot: anchor.header.stateRoot))]
    }
  }

  /// A transaction, its result, its block and that block in the history of the head.
  public func transactionBundle(_ id: Hash256) throws -> ProofBundle {
    guard let (transaction, location) = try transaction(id), let block = try block(at: location.height) else {
      throw ProofError("not_found", "transaction \(id.hex) is not committed here")
    }
    return try bundle(anchorHeight: nil) { anchor in
      let leaves = block.transactions.map(\.canonicalBytes)
      let resultLeaves = try block.transactions.map { transaction in
        guard let result = try self.transactionLocation(transaction.id)?.result else {
          throw ProofError("store.corrupt", "result of \(transaction.id.hex) is missing")
        }
        return result.digest.withUnsafeBytes { MerkleTree.leafHash($0) }
      }
      let index = Int(location.index)
      return [
        .transaction(
          TransactionInclusion(
            header: block.header, index: location.index, transaction: transaction,
            transactionPath: MerkleTree.inclusionProof(
              index: index, leafHashes: leaves.map { MerkleTree.leafHash($0) }),
            resultCode: location.result.code,
            resultPath: MerkleTree.inclusionProof(index: index, leafHashes: resultLeaves),
            historyPath: block.header.height == anchor.header.height
              ? [] : try historyInclusionProof(height: block.header.height, treeSize: anchor.header.height)))
      ]
    }
  }

  /// That the chain at `to` (default: the head) extends the chain at `from`.
  public func consistencyBundle(from: UInt64, to: UInt64? = nil) throws -> ProofBundle {
    let target = to ?? head.height
    guard from < target else {
      throw ProofError("request.invalid_field", "from (\(from)) must be below to (\(target))")
    }
    guard let earlier = try block(at: from)?.header else { throw ProofError("not_found", "block \(from)") }
    return try bundle(anchorHeight: target) { anchor in
      [
        .consistency(
          HistoryConsistency(
            earlier: earlier, inclusionPath: try historyInclusionProof(height: from, treeSize: target),
            consistencyPath: from == 0 ? [] : try historyConsistencyProof(oldSize: from, newSize: target)))
      ]
    }
  }

  /// The approval-service question: who attested `dataHash`, under which
  /// directory and duties, and the consumer's grant and share record if any.
  public func provenanceBundle(dataHash: Hash256, consumerId: String, height: UInt64? = nil) throws -> ProofBundle {
    // Indexes reflect the head; the records are then read at the anchor's root.
    guard let attestationKey = try query(.attestationsOfData(dataHash), limit: 1).records.first?.key else {
      throw ProofError("not_found", "no bureau attested data \(dataHash.hex)")
    }
    return try bundle(anchorHeight: height) { anchor in
      let root = anchor.header.stateRoot
      let attestation = try recordProof(attestationKey, atRoot: root)
      guard case .attestation(let attested, _)? = attestation.record?.value else {
        throw ProofError("not_found", "data \(dataHash.hex) was not yet attested at height \(anchor.header.height)")
      }
      let directory = try recordProof(.directory(attested.bureauId, attested.directoryId), atRoot: root)
      guard case .directory(let cataloged)? = directory.record?.value else {
        throw ProofError("store.corrupt", "the attested directory is missing")
      }
      let duties = try cataloged.dutyIds.map { try recordProof(.duty(attested.bureauId, $0), atRoot: root) }
      // Prefer a grant active at the anchor, else the latest one, so a revoked grant is shown as revoked.
      var grant: RecordProof?
      for entry in try query(
        .grantsOfDirectory(grantorId: attested.bureauId, directoryId: attested.directoryId), limit: 1_000
      ).records {
        guard case .grant(let candidate, _) = entry.record.value, candidate.granteeId == consumerId else { continue }
        let proof = try recordProof(entry.key, atRoot: root)
        guard proof.record != nil else { continue }
        if grant == nil || proof.record?.status == .active { grant = proof }
        if proof.record?.status == .active { break }
      }
      var share: RecordProof?
      for entry in try query(.sharesOfData(dataHash, consumerId: consumerId), limit: 16).records {
        let proof = try recordProof(entry.key, atRoot: root)
        if proof.record != nil {
          share = proof
          break
        }
      }
      return [
        .provenance(
          ProvenanceClaim(
            dataHash: dataHash, consumerId: consumerId, attestation: attestation, directory: directory,
            duties: duties, grant: grant, share: share))
      ]
    }
  }
}

/// A certified header and the validator-set transitions up to it: the part
/// of every bundle that depends only on the height, which a node can keep for
/// its head and reuse for every record proof until the next block.
public struct ProofAnchor: Sendable {
  public let anchor: CertifiedHeader
  public let transitions: [ValidatorSetTransition]

  public func recordBundle(_ key: RecordKey, chainId: String, genesisHash: Hash256, store: LedgerStore) throws
    -> ProofBundle
  {
    ProofBundle(
      chainId: chainId, genesisHash: genesisHash, validatorTransitions: transitions, anchor: anchor,
      claims: [.record(try store.recordProof(key, atRoot: anchor.header.stateRoot))])
  }
}
