/// Secondary indexes for queries, kept in the same write batch as the records
/// they point at. Each entry's key names the record; its value is the record path.
///
/// - `i/dir-bureau/<bureau>/<directory>/`: directories by bureau
/// - `i/dir-share/<shareType>/<bureau>/<directory>/`: directories by share type
/// - `i/grant-grantor/<grantor>/<grant>/`, `i/grant-grantee/<grantee>/<grantor>/<grant>/`,
///   `i/grant-dir/<grantor>/<directory>/<grant>/`: grants three ways
/// - `i/attest-data/<dataHash>/<bureau>/<directory>/`: attestations by data hash
/// - `i/share-data/<dataHash>/<consumer>/<transaction id>/`: share records by data and consumer
enum StoreIndexes {
  static func update(_ change: RecordChange, in batch: WriteBatch) {
    // Each entry's value is the record's path, lent from the key's own string.
    func put(_ key: [UInt8]) {
      key.withUnsafeBytes { keyBytes in change.key.withPathBytes { batch.put(keyBytes, $0) } }
    }
    switch change.after.value {
    case .directory(let directory):
      if change.before == nil {
        put(directoryByBureau(directory.bureauId, directory.directoryId))
      }
      let previous: Directory? = if case .directory(let previous)? = change.before?.value { previous } else { nil }
      // A new version under the same share type keeps its entry: putting it
      // again was a key per revision that changed nothing.
      if previous?.shareType != directory.shareType {
        if let previous {
          batch.delete(directoryByShareType(previous.shareType, previous.bureauId, previous.directoryId))
        }
        put(directoryByShareType(directory.shareType, directory.bureauId, directory.directoryId))
      }
    case .grant(let grant, _) where change.before == nil:
      put(StoreKey.joined(StoreKey.grantsByGrantorPrefix, [grant.grantorId, grant.grantId]))
      put(StoreKey.joined(StoreKey.grantsByGranteePrefix, [grant.granteeId, grant.grantorId, grant.grantId]))
      put(StoreKey.joined(StoreKey.grantsByDirectoryPrefix, [grant.grantorId, grant.scope.directoryId, grant.grantId]))
    case .attestation(let attestation, _) where change.before == nil:
      put(
        StoreKey.joined(
          StoreKey.attestationsByDataPrefix, [attestation.dataHash.hex, attestation.bureauId, attestation.directoryId]))
    case .share(let share, let transactionId) where change.before == nil:
      put(StoreKey.joined(StoreKey.sharesByDataPrefix, [share.dataHash.hex, share.consumerId, transactionId.hex]))
    default:
      break
    }
  }

  static func directoryByBureau(_ bureauId: String, _ directoryId: String) -> [UInt8] {
    StoreKey.joined(StoreKey.directoriesByBureauPrefix, [bureauId, directoryId])
  }

  static func directoryByShareType(_ shareType: ShareType, _ bureauId: String, _ directoryId: String) -> [UInt8] {
    StoreKey.joined(StoreKey.directoriesByShareTypePrefix, [shareType.name, bureauId, directoryId])
  }
}

/// A query over one of the indexes.
public enum RecordQuery: Hashable, Sendable {
  case directoriesOfBureau(String)
  case directoriesByShareType(ShareType, bureauId: String?)
  case grantsByGrantor(String)
  case grantsByGrantee(String)
  case grantsOfDirectory(grantorId: String, directoryId: String)
  case attestationsOfData(Hash256)
  case sharesOfData(Hash256, consumerId: String)

  var prefix: [UInt8] {
    switch self {
    case .directoriesOfBureau(let bureauId): StoreKey.joined(StoreKey.directoriesByBureauPrefix, [bureauId])
    case .directoriesByShareType(let shareType, let bureauId):
      StoreKey.joined(StoreKey.directoriesByShareTypePrefix, [shareType.name] + (bureauId.map { [$0] } ?? []))
    case .grantsByGrantor(let grantorId): StoreKey.joined(StoreKey.grantsByGrantorPrefix, [grantorId])
    case .grantsByGrantee(let granteeId): StoreKey.joined(StoreKey.grantsByGranteePrefix, [granteeId])
    case .grantsOfDirectory(let grantorId, let directoryId):
      StoreKey.joined(StoreKey.grantsByDirectoryPrefix, [grantorId, directoryId])
    case .attestationsOfData(let dataHash): StoreKey.joined(StoreKey.attestationsByDataPrefix, [dataHash.hex])
    case .sharesOfData(let dataHash, let consumerId):
      StoreKey.joined(StoreKey.sharesByDataPrefix, [dataHash.hex, consumerId])
    }
  }
}

/// One page of query results; pass `next` back as `after` for the following page.
public struct RecordPage: Sendable {
  public let records: [(key: RecordKey, record: StateRecord)]
  /// The index entry of each record, so a caller can resume after any of them.
  public let positions: [[UInt8]]
  public let next: [UInt8]?
}

extension LedgerStore {
  public static let queryPageSizeMax = 1_000

  /// Up to `limit` records (at most `queryPageSizeMax`) matching `query`, in index order.
  public func query(_ query: RecordQuery, after: [UInt8]? = nil, limit: Int) throws -> RecordPage {
    let pageSize = max(1, min(limit, Self.queryPageSizeMax))
    let prefix = query.prefix
    let start = after.map { $0 + [0] }
    let entries = database.scan(prefix: prefix, from: start, limit: pageSize)
    let records = try entries.map { entry in
      let key = RecordKey(path: String(decoding: entry.value, as: UTF8.self))
      guard let record = try record(key) else {
        throw StoreError("store.corrupt", "index entry points at missing record \(key)")
      }
      return (key: key, record: record)
    }
    return RecordPage(
      records: records, positions: entries.map(\.key), next: entries.count == pageSize ? entries.last?.key : nil)
  }
}
