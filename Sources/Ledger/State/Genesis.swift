public import Foundation

/// The genesis file: everything a chain starts from. Its canonical hash,
/// `taggedHash("dirledger/genesis", canonical bytes)`, is the chain's root of
/// trust: a verifier that holds this file needs nothing else (docs/PROOFS.md).
///
/// JSON on disk (docs/OPERATIONS.md, "Genesis file"); the canonical encoding
/// below is what is hashed, so reformatting the JSON never changes the chain.
public struct Genesis: Hashable, Sendable, Codable, CanonicalCodable {
  public static let currentVersion: UInt8 = 1

  public var chainId: String
  /// For people: what this chain is (and, for test chains, a warning about its keys).
  public var description: String
  /// Block time of the genesis block, Unix milliseconds.
  public var genesisTimeMs: UInt64
  public var governance: Governance
  public var validators: [Validator]
  public var bureaus: [BureauRegistration]
  public var duties: [Duty]
  public var directories: [Directory]
  public var grants: [Grant]

  /// k-of-n: `threshold` of `keys` must sign a governance transaction.
  public struct Governance: Hashable, Sendable, Codable {
    public var keys: [PublicKey]
    public var threshold: UInt8

    public init(keys: [PublicKey], threshold: UInt8) {
      self.keys = CanonicalSet.sorted(keys)
      self.threshold = threshold
    }
  }

  public init(
    chainId: String, description: String, genesisTimeMs: UInt64, governance: Governance, validators: [Validator],
    bureaus: [BureauRegistration], duties: [Duty] = [], directories: [Directory] = [], grants: [Grant] = []
  ) {
    self.chainId = chainId
    self.description = description
    self.genesisTimeMs = genesisTimeMs
    self.governance = governance
    self.validators = CanonicalSet.sorted(validators)
    self.bureaus = bureaus
    self.duties = duties
    self.directories = directories
    self.grants = grants
  }

  public init(from decoder: any Decoder) throws {
    enum Keys: String, CodingKey {
      case chainId, description, genesisTimeMs, governance, validators, bureaus, duties, directories, grants
    }
    let container = try decoder.container(keyedBy: Keys.self)
    self.init(
      chainId: try container.decode(String.self, forKey: .chainId),
      description: try container.decodeIfPresent(String.self, forKey: .description) ?? "",
      genesisTimeMs: try container.decode(UInt64.self, forKey: .genesisTimeMs),
      governance: try container.decode(Governance.self, forKey: .governance),
      validators: try container.decode([Validator].self, forKey: .validators),
      bureaus: try container.decodeIfPresent([BureauRegistration].self, forKey: .bureaus) ?? [],
      duties: try container.decodeIfPresent([Duty].self, forKey: .duties) ?? [],
      directories: try container.decodeIfPresent([Directory].self, forKey: .directories) ?? [],
      grants: try container.decodeIfPresent([Grant].self, forKey: .grants) ?? [])
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: Self.currentVersion)
    writer.write(string: chainId)
    writer.write(string: description)
    writer.write(u64: genesisTimeMs)
    writer.write(publicKeySet: governance.keys)
    writer.write(u8: governance.threshold)
    writer.write(set: validators)
    writer.write(array: bureaus)
    writer.write(array: duties)
    writer.write(array: directories)
    writer.write(array: grants)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let version = try reader.read(u8: "version")
    guard version == Self.currentVersion else {
      throw FormatError(field: "version", reason: .unsupportedVersion(version))
    }
    chainId = try reader.read(identifier: "chainId", limit: Limits.chainIdBytesMax)
    description = try reader.read(string: "description", limit: Limits.descriptionBytesMax)
    genesisTimeMs = try reader.read(u64: "genesisTimeMs")
    let keys = try reader.read(publicKeySet: "governance.keys", count: 1...Limits.governanceKeyCountMax)
    governance = Governance(keys: keys, threshold: try reader.read(u8: "governance.threshold"))
    validators = try reader.read(set: "validators", count: 1...Limits.validatorCountMax) {
      (reader) throws(FormatError) in try Validator(from: &reader)
    }
    bureaus = try reader.read(array: "bureaus", of: BureauRegistration.self, count: 0...Limits.genesisRecordCountMax)
    duties = try reader.read(array: "duties", of: Duty.self, count: 0...Limits.genesisRecordCountMax)
    directories = try reader.read(array: "directories", of: Directory.self, count: 0...Limits.genesisRecordCountMax)
    grants = try reader.read(array: "grants", of: Grant.self, count: 0...Limits.genesisRecordCountMax)
  }

  /// The chain's root of trust.
  public var hash: Hash256 { TaggedHash.hash(.genesis, canonicalBytes) }

  /// Reads and checks a genesis JSON file.
  public static func load(path: String) throws -> Genesis {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw GenesisError(field: "file", message: "cannot read \(path): \(error.localizedDescription)")
    }
    return try parse(json: data)
  }

  public static func parse(json: Data) throws -> Genesis {
    let genesis: Genesis
    do {
      genesis = try JSONDecoder().decode(Genesis.self, from: json)
    } catch let error as DecodingError {
      throw GenesisError(field: error.fieldPath, message: error.summary)
    }
    // Round-trip through the canonical form: it enforces every identifier rule and size limit.
    do {
      _ = try Genesis(canonicalBytes: genesis.canonicalBytes)
    } catch {
      throw GenesisError(field: error.field, message: error.description)
    }
    return genesis
  }

  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self)
  }
}

/// A genesis file that cannot start a chain, naming the offending entry
/// (`directories[12]`) and the rule it breaks.
public struct GenesisError: Error, Hashable, Sendable, CustomStringConvertible {
  public let field: String
  public let message: String
  public var code: String { "genesis.invalid" }
  public var description: String { "\(field): \(message)" }
}

extension DecodingError {
  /// `bureaus[3].name` for the entry a JSON decoding error is about.
  var fieldPath: String {
    let path: [any CodingKey]
    switch self {
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
      path = context.codingPath
    case .keyNotFound(let key, let context): path = context.codingPath + [key]
    @unknown default: path = []
    }
    var text = ""
    for key in path {
      if let index = key.intValue {
        text += "[\(index)]"
      } else {
        text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
      }
    }
    return text.isEmpty ? "json" : text
  }

  var summary: String {
    switch self {
    case .typeMismatch(let type, let context): "expected \(type): \(context.debugDescription)"
    case .valueNotFound(_, let context), .dataCorrupted(let context): context.debugDescription
    case .keyNotFound: "required field is missing"
    @unknown default: "invalid JSON"
    }
  }
}

/// The state and block a genesis file defines.
public struct GenesisState: Sendable {
  public let block: Block
  public let execution: BlockExecution
}

extension Genesis {
  /// Builds the height-0 state by the same rules transactions follow, so a
  /// genesis file cannot hold a directory without an active duty or a grant of
  /// a 不予共享 directory. Pure: needs no database.
  public func buildState<Source: SparseMerkleNodeSource>(tree: SparseMerkleTree<Source>) throws -> GenesisState {
    guard governance.threshold >= 1, Int(governance.threshold) <= governance.keys.count else {
      throw GenesisError(
        field: "governance.threshold",
        message: "threshold \(governance.threshold) must be between 1 and the \(governance.keys.count) governance keys")
    }
    let working = WorkingState(base: EmptyState())
    working.write(.governance, .created(.governance(keys: governance.keys, threshold: governance.threshold), at: 0))
    working.write(.validators, .created(.validators(ValidatorSet(validators), pending: []), at: 0))
    for (index, bureau) in bureaus.enumerated() {
      guard try working.read(.bureau(bureau.bureauId)) == nil else {
        throw GenesisError(field: "bureaus[\(index)]", message: "bureau \"\(bureau.bureauId)\" appears twice")
      }
      working.write(.bureau(bureau.bureauId), .created(.bureau(bureau), at: 0))
    }
    for (index, validator) in validators.enumerated() {
      guard case .bureau(let bureau)? = try working.read(.bureau(validator.bureauId))?.value,
        bureau.nodeKeys.contains(validator.nodeKey)
      else {
        throw GenesisError(
          field: "validators[\(index)]",
          message:
            "node key \(validator.nodeKey.rawValue.hex) is not a node key of a bureau \"\(validator.bureauId)\" in bureaus"
        )
      }
    }
    try applyEntries("duties", duties, bureauId: \.bureauId, working: working) { try $0.declareDuty($1) }
    try applyEntries("directories", directories, bureauId: \.bureauId, working: working) { try $0.publishDirectory($1) }
    try applyEntries("grants", grants, bureauId: \.grantorId, working: working) { try $0.grantAccess($1) }
    working.commitTransaction()

    let changes = try working.changes()
    let update = try StateMachine.updateTree(
      tree, root: SparseMerkleTree<Source>.emptyRoot, with: changes, version: 0)
    let stateRoot = update.root.hash
    let validatorSet = ValidatorSet(validators)
    let header = BlockHeader(
      chainId: chainId, height: 0, timeMs: genesisTimeMs, previousHash: .zero, historyRoot: MerkleTree.emptyRoot,
      transactionsRoot: MerkleTree.emptyRoot, transactionCount: 0, resultsRoot: MerkleTree.emptyRoot,
      stateRoot: stateRoot, validatorSetHash: validatorSet.hash, proposer: PublicKey(rawValue: .zero))
    let execution = BlockExecution(
      results: [], resultsRoot: MerkleTree.emptyRoot, changes: changes, stateRoot: stateRoot,
      stateRootVersion: update.root.version, newNodes: update.newNodes, validatorSet: validatorSet,
      recordWrites: changes.map { ($0.key, 0) })
    return GenesisState(block: Block(header: header, transactions: []), execution: execution)
  }

  /// Applies each entry with the rule for its transaction, acting as the
  /// bureau that owns it (genesis entries carry no signatures: the genesis
  /// hash vouches for them).
  private func applyEntries<Entry>(
    _ field: String, _ entries: [Entry], bureauId: KeyPath<Entry, String>, working: WorkingState,
    _ rule: (TransactionExecution, Entry) throws -> Void
  ) throws {
    for (index, entry) in entries.enumerated() {
      let owner = entry[keyPath: bureauId]
      guard case .bureau(let bureau)? = try working.read(.bureau(owner))?.value else {
        throw GenesisError(field: "\(field)[\(index)]", message: "bureau \"\(owner)\" is not in bureaus")
      }
      let body = TransactionBody(
        chainId: chainId, signer: bureau.operatorKeys[0], sequence: 0,
        payload: .declareDuty(Duty(bureauId: owner, dutyId: "genesis", title: "", legalBasis: "", description: "")))
      let execution = TransactionExecution(
        transaction: SignedTransaction(body: body, signatures: []), chainId: chainId, height: 0,
        timeMs: genesisTimeMs, signatureCheck: .alreadyVerified, state: working)
      do {
        try rule(execution, entry)
      } catch let rejection as Rejection {
        throw GenesisError(field: "\(field)[\(index)]", message: rejection.description)
      }
    }
  }
}

/// The state before genesis.
struct EmptyState: StateReader {
  func record(_ key: RecordKey) throws -> StateRecord? { nil }
}
