#if canImport(Glibc)
  import Glibc
#endif

/// The records the ledger's state holds, one per key of the state tree.
///
/// A record key is a short path such as `directory/bj.gaj/rkjbxx`; its tree key
/// is `SHA-256(UTF-8 key)` and its tree value is `SHA-256(canonical record bytes)`
/// (docs/PROOFS.md). Identifiers never contain `/`, so a path has one reading.
public struct RecordKey: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
  public let path: String

  public init(path: String) { self.path = path }

  public static func bureau(_ bureauId: String) -> RecordKey { RecordKey(path: "bureau/\(bureauId)") }
  public static func duty(_ bureauId: String, _ dutyId: String) -> RecordKey {
    RecordKey(path: "duty/\(bureauId)/\(dutyId)")
  }
  public static func directory(_ bureauId: String, _ directoryId: String) -> RecordKey {
    RecordKey(path: "directory/\(bureauId)/\(directoryId)")
  }
  public static func request(_ requesterId: String, _ requestId: String) -> RecordKey {
    RecordKey(path: "request/\(requesterId)/\(requestId)")
  }
  public static func grant(_ grantorId: String, _ grantId: String) -> RecordKey {
    RecordKey(path: "grant/\(grantorId)/\(grantId)")
  }
  public static func attestation(_ bureauId: String, _ directoryId: String, _ dataHash: Hash256) -> RecordKey {
    RecordKey(path: Hex.encode(dataHash, after: "attestation/\(bureauId)/\(directoryId)/"))
  }
  public static func share(_ transactionId: Hash256) -> RecordKey {
    RecordKey(path: Hex.encode(transactionId, after: "share/"))
  }
  /// The next sequence number of one signing key (replay protection).
  public static func account(_ signer: PublicKey) -> RecordKey {
    RecordKey(path: Hex.encode(signer.rawValue, after: "account/"))
  }
  public static let governance = RecordKey(path: "governance")
  public static let validators = RecordKey(path: "validators")

  /// The key in the state tree.
  public var treeKey: Hash256 { withPathBytes { SHA256.hash($0) } }

  /// Equal when the UTF-8 bytes are equal, and hashed over them: a key's
  /// tree key is SHA-256 of exactly those bytes, so that is the identity that
  /// matters (String's own `==` would also call canonically equivalent
  /// spellings equal), and it skips String's Unicode normalisation on every
  /// lookup of the dictionaries a block's execution keeps by key.
  public static func == (lhs: RecordKey, rhs: RecordKey) -> Bool {
    lhs.path.utf8.count == rhs.path.utf8.count
      && lhs.withPathBytes { left in
        rhs.withPathBytes { right in left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0 }
      }
  }

  public func hash(into hasher: inout Hasher) { withPathBytes { hasher.combine(bytes: $0) } }

  public var description: String { path }
  /// Byte order of the UTF-8 paths. Blocks sort every key they write by it,
  /// so it compares the strings' own bytes rather than copies of them.
  public static func < (lhs: RecordKey, rhs: RecordKey) -> Bool {
    lhs.withPathBytes { left in
      rhs.withPathBytes { right in
        let common = min(left.count, right.count)
        let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
        return order != 0 ? order < 0 : left.count < right.count
      }
    }
  }

  /// The path's UTF-8 bytes, without copying them when the string stores them contiguously (a native string does).
  func withPathBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = path.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(path.utf8).withUnsafeBytes(body)
  }

  public init(from decoder: any Decoder) throws { path = try decoder.singleValueContainer().decode(String.self) }
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(path)
  }
}

/// Where a record stands in its life. Each kind uses the statuses its doc lists.
public enum RecordStatus: UInt8, WireEnum {
  /// Bureaus, duties, directories, grants, accounts, governance, validators.
  case active = 1
  /// Bureaus: may not sign until reinstated.
  case suspended = 2
  /// Bureaus: permanently out.
  case removed = 3
  /// Duties and directories.
  case retired = 4
  /// Access requests awaiting the provider.
  case pending = 5
  case approved = 6
  case denied = 7
  /// Grants.
  case revoked = 8
}

/// The kind-specific content of a record.
public indirect enum RecordValue: Hashable, Sendable {
  case bureau(BureauRegistration)
  /// A duty and how many active directories cite it; a cited duty cannot retire.
  case duty(Duty, citingDirectoryCount: UInt32)
  case directory(Directory)
  /// A request and, once decided, the decision.
  case request(AccessRequest, approval: RequestApproval?, denial: RequestDenial?)
  /// A grant and, when it came from an approval, the request it answers.
  case grant(Grant, requestId: String?)
  case attestation(Attestation, transactionId: Hash256)
  case share(ShareRecord, transactionId: Hash256)
  case account(nextSequence: UInt64)
  case governance(keys: [PublicKey], threshold: UInt8)
  /// The validator set in force and changes scheduled for later heights (ascending by height).
  case validators(ValidatorSet, pending: [ValidatorSetChange])

  public enum Kind: UInt8, WireEnum {
    case bureau = 1
    case duty = 2
    case directory = 3
    case request = 4
    case grant = 5
    case attestation = 6
    case share = 7
    case account = 8
    case governance = 9
    case validators = 10
  }

  public var kind: Kind {
    switch self {
    case .bureau: .bureau
    case .duty: .duty
    case .directory: .directory
    case .request: .request
    case .grant: .grant
    case .attestation: .attestation
    case .share: .share
    case .account: .account
    case .governance: .governance
    case .validators: .validators
    }
  }
}

/// One record of state: its content, status, the version the ledger numbers
/// (1 on creation, +1 on every change) and the heights that created and last changed it.
public struct StateRecord: Hashable, Sendable, CanonicalCodable {
  public var value: RecordValue
  public var status: RecordStatus
  public var version: UInt32
  public var createdAtHeight: UInt64
  public var updatedAtHeight: UInt64

  public init(
    value: RecordValue, status: RecordStatus, version: UInt32, createdAtHeight: UInt64, updatedAtHeight: UInt64
  ) {
    self.value = value
    self.status = status
    self.version = version
    self.createdAtHeight = createdAtHeight
    self.updatedAtHeight = updatedAtHeight
  }

  /// A record created at `height`.
  public static func created(_ value: RecordValue, status: RecordStatus = .active, at height: UInt64) -> StateRecord {
    StateRecord(value: value, status: status, version: 1, createdAtHeight: height, updatedAtHeight: height)
  }

  /// This record changed at `height`: the version moves on.
  public func changed(value: RecordValue? = nil, status: RecordStatus? = nil, at height: UInt64) -> StateRecord {
    StateRecord(
      value: value ?? self.value, status: status ?? self.status, version: version + 1,
      createdAtHeight: createdAtHeight, updatedAtHeight: height)
  }

  /// The tree value: `SHA-256(canonical bytes)`.
  public var valueHash: Hash256 { SHA256.hash(canonicalBytes) }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u8: value.kind.rawValue)
    writer.write(u8: status.rawValue)
    writer.write(u32: version)
    writer.write(u64: createdAtHeight)
    writer.write(u64: updatedAtHeight)
    switch value {
    case .bureau(let registration): writer.write(registration)
    case .duty(let duty, let citingDirectoryCount):
      writer.write(duty)
      writer.write(u32: citingDirectoryCount)
    case .directory(let directory): writer.write(directory)
    case .request(let request, let approval, let denial):
      writer.write(request)
      writer.write(optional: approval) { $0.write($1) }
      writer.write(optional: denial) { $0.write($1) }
    case .grant(let grant, let requestId):
      writer.write(grant)
      writer.write(optional: requestId) { $0.write(string: $1) }
    case .attestation(let attestation, let transactionId):
      writer.write(attestation)
      writer.write(hash: transactionId)
    case .share(let share, let transactionId):
      writer.write(share)
      writer.write(hash: transactionId)
    case .account(let nextSequence): writer.write(u64: nextSequence)
    case .governance(let keys, let threshold):
      writer.write(publicKeySet: keys)
      writer.write(u8: threshold)
    case .validators(let set, let pending):
      writer.write(set)
      writer.write(array: pending)
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    let kind = try reader.read(enum: "kind", as: RecordValue.Kind.self)
    status = try reader.read(enum: "status", as: RecordStatus.self)
    version = try reader.read(u32: "version")
    createdAtHeight = try reader.read(u64: "createdAtHeight")
    updatedAtHeight = try reader.read(u64: "updatedAtHeight")
    switch kind {
    case .bureau: value = .bureau(try reader.read(BureauRegistration.self, "bureau"))
    case .duty:
      value = .duty(
        try reader.read(Duty.self, "duty"), citingDirectoryCount: try reader.read(u32: "citingDirectoryCount"))
    case .directory: value = .directory(try reader.read(Directory.self, "directory"))
    case .request:
      let request = try reader.read(AccessRequest.self, "request")
      let approval = try reader.read(optional: "approval") { (reader) throws(FormatError) in
        try RequestApproval(from: &reader)
      }
      let denial = try reader.read(optional: "denial") { (reader) throws(FormatError) in
        try RequestDenial(from: &reader)
      }
      value = .request(request, approval: approval, denial: denial)
    case .grant:
      let grant = try reader.read(Grant.self, "grant")
      let requestId = try reader.read(optional: "requestId") { (reader) throws(FormatError) in
        try reader.read(identifier: "")
      }
      value = .grant(grant, requestId: requestId)
    case .attestation:
      value = .attestation(
        try reader.read(Attestation.self, "attestation"), transactionId: try reader.read(hash: "transactionId"))
    case .share:
      value = .share(try reader.read(ShareRecord.self, "share"), transactionId: try reader.read(hash: "transactionId"))
    case .account: value = .account(nextSequence: try reader.read(u64: "nextSequence"))
    case .governance:
      let keys = try reader.read(publicKeySet: "keys", count: 1...Limits.governanceKeyCountMax)
      value = .governance(keys: keys, threshold: try reader.read(u8: "threshold"))
    case .validators:
      let set = try reader.read(ValidatorSet.self, "validators")
      let pending = try reader.read(
        array: "pending", of: ValidatorSetChange.self, count: 0...Limits.pendingValidatorChangeCountMax)
      value = .validators(set, pending: pending)
    }
  }
}

/// JSON for people: `{"kind": "directory", "status": "active", "version": 2, …, "directory": {…}}`.
extension StateRecord: Codable {
  private enum CodingKeys: String, CodingKey {
    case kind, status, version, createdAtHeight, updatedAtHeight
    case bureau, duty, citingDirectoryCount, directory, request, approval, denial, grant, requestId
    case attestation, share, transactionId, nextSequence, keys, threshold, validators, pending
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(value.kind, forKey: .kind)
    try container.encode(status, forKey: .status)
    try container.encode(version, forKey: .version)
    try container.encode(createdAtHeight, forKey: .createdAtHeight)
    try container.encode(updatedAtHeight, forKey: .updatedAtHeight)
    switch value {
    case .bureau(let registration): try container.encode(registration, forKey: .bureau)
    case .duty(let duty, let count):
      try container.encode(duty, forKey: .duty)
      try container.encode(count, forKey: .citingDirectoryCount)
    case .directory(let directory): try container.encode(directory, forKey: .directory)
    case .request(let request, let approval, let denial):
      try container.encode(request, forKey: .request)
      try container.encodeIfPresent(approval, forKey: .approval)
      try container.encodeIfPresent(denial, forKey: .denial)
    case .grant(let grant, let requestId):
      try container.encode(grant, forKey: .grant)
      try container.encodeIfPresent(requestId, forKey: .requestId)
    case .attestation(let attestation, let transactionId):
      try container.encode(attestation, forKey: .attestation)
      try container.encode(transactionId, forKey: .transactionId)
    case .share(let share, let transactionId):
      try container.encode(share, forKey: .share)
      try container.encode(transactionId, forKey: .transactionId)
    case .account(let nextSequence): try container.encode(nextSequence, forKey: .nextSequence)
    case .governance(let keys, let threshold):
      try container.encode(keys, forKey: .keys)
      try container.encode(threshold, forKey: .threshold)
    case .validators(let set, let pending):
      try container.encode(set, forKey: .validators)
      try container.encode(pending, forKey: .pending)
    }
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    status = try container.decode(RecordStatus.self, forKey: .status)
    version = try container.decode(UInt32.self, forKey: .version)
    createdAtHeight = try container.decode(UInt64.self, forKey: .createdAtHeight)
    updatedAtHeight = try container.decode(UInt64.self, forKey: .updatedAtHeight)
    switch try container.decode(RecordValue.Kind.self, forKey: .kind) {
    case .bureau: value = .bureau(try container.decode(BureauRegistration.self, forKey: .bureau))
    case .duty:
      value = .duty(
        try container.decode(Duty.self, forKey: .duty),
        citingDirectoryCount: try container.decode(UInt32.self, forKey: .citingDirectoryCount))
    case .directory: value = .directory(try container.decode(Directory.self, forKey: .directory))
    case .request:
      value = .request(
        try container.decode(AccessRequest.self, forKey: .request),
        approval: try container.decodeIfPresent(RequestApproval.self, forKey: .approval),
        denial: try container.decodeIfPresent(RequestDenial.self, forKey: .denial))
    case .grant:
      value = .grant(
        try container.decode(Grant.self, forKey: .grant),
        requestId: try container.decodeIfPresent(String.self, forKey: .requestId))
    case .attestation:
      value = .attestation(
        try container.decode(Attestation.self, forKey: .attestation),
        transactionId: try container.decode(Hash256.self, forKey: .transactionId))
    case .share:
      value = .share(
        try container.decode(ShareRecord.self, forKey: .share),
        transactionId: try container.decode(Hash256.self, forKey: .transactionId))
    case .account: value = .account(nextSequence: try container.decode(UInt64.self, forKey: .nextSequence))
    case .governance:
      value = .governance(
        keys: try container.decode([PublicKey].self, forKey: .keys),
        threshold: try container.decode(UInt8.self, forKey: .threshold))
    case .validators:
      value = .validators(
        try container.decode(ValidatorSet.self, forKey: .validators),
        pending: try container.decode([ValidatorSetChange].self, forKey: .pending))
    }
  }
}
