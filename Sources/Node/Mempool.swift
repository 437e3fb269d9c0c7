public import Ledger
import Synchronization

/// Why the mempool refused a transaction; `code` is the API's error code.
public struct MempoolRejection: Error, Hashable, Sendable {
  public let code: String
  public let message: String

  init(_ code: String, _ message: String) {
    self.code = code
    self.message = message
  }

  /// Full is the one refusal a client should retry (HTTP 429 with Retry-After).
  public var isFull: Bool { code == "mempool.full" }
}

/// Signature-verified transactions waiting to be ordered, oldest first.
///
/// Admission checks what is cheap against committed state: the sequence number
/// (not already used, not absurdly far ahead) and that no other pending
/// transaction from the same signer holds it. Everything else is the state
/// machine's job when the block executes. Bounded in count and bytes.
public struct Mempool: Sendable {
  public let countMax: Int
  public let bytesMax: Int
  /// A signer may queue at most this many transactions beyond its committed sequence.
  public static let sequenceLookaheadMax: UInt64 = 10_000

  private var entries: [Hash256: Entry] = [:]
  /// Arrival order; ids of removed entries are skipped and compacted away.
  private var order: [Hash256] = []
  private var orderStart = 0
  private var pendingBySigner: [PublicKey: [UInt64: Hash256]] = [:]
  public private(set) var byteCount = 0
  /// The same transactions by leaf hash, for the peer network's threads: a
  /// proposal carries thousands that each backup already decoded when they
  /// were forwarded to it, and holding a second copy until the block commits
  /// cost as much again.
  public let byLeafHash: TransactionsByLeafHash

  struct Entry: Sendable {
    let transaction: SignedTransaction
    let size: Int
  }

  /// `byLeafHash` is kept in step with what is pending; a node's peer
  /// network reads it, so a node has one mempool and never copies it.
  public init(countMax: Int, bytesMax: Int, byLeafHash: TransactionsByLeafHash = TransactionsByLeafHash()) {
    self.countMax = countMax
    self.bytesMax = bytesMax
    self.byLeafHash = byLeafHash
  }

  public var count: Int { entries.count }
  public var isEmpty: Bool { entries.isEmpty }
  public func contains(_ id: Hash256) -> Bool { entries[id] != nil }
  /// Whether this very transaction is pending, signatures included: the
  /// same leaf hash, as the node's record of recent checks keys them.
  public func holds(_ transaction: SignedTransaction) -> Bool {
    entries[transaction.id]?.transaction.leafHash == transaction.leafHash
  }

  /// Adds a transaction whose signature was already verified. `committedSequence`
  /// is the signer's next sequence in committed state.
  public mutating func add(_ transaction: SignedTransaction, size: Int, committedSequence: UInt64)
    throws(MempoolRejection)
  {
    let id = transaction.id
    guard entries[id] == nil else {
      throw MempoolRejection("mempool.duplicate", "transaction \(id.hex) is already pending")
    }
    let body = transaction.body
    guard body.sequence >= committedSequence else {
      throw MempoolRejection(
        "tx.replayed",
        "sequence \(body.sequence) of signer \(body.signer.rawValue.hex) was already used; the next is \(committedSequence)"
      )
    }
    guard body.sequence - committedSequence < Self.sequenceLookaheadMax else {
      throw MempoolRejection(
        "tx.sequence_too_far",
        "sequence \(body.sequence) is more than \(Self.sequenceLookaheadMax) ahead of \(committedSequence)")
    }
    if let holder = pendingBySigner[body.signer]?[body.sequence] {
      throw MempoolRejection(
        "tx.sequence_in_use", "sequence \(body.sequence) of this signer is held by pending transaction \(holder.hex)")
    }
    guard entries.count < countMax, byteCount + size <= bytesMax else {
      throw MempoolRejection(
        "mempool.full", "the mempool holds \(entries.count) transactions (\(byteCount) bytes); retry later")
    }
    entries[id] = Entry(transaction: transaction, size: size)
    byLeafHash.insert(transaction)
    order.append(id)
    pendingBySigner[body.signer, default: [:]][body.sequence] = id
    byteCount += size
  }

  /// Up to `countMax` transactions (and `bytesMax` bytes) for the next block.
  /// Signers take turns in the order their oldest transaction arrived; each
  /// contributes its unbroken run of sequence numbers from its committed next
  /// one, so none is proposed before its predecessor, whatever the arrival order.
  public func batch(countMax: Int, bytesMax: Int, committedSequence: (PublicKey) -> UInt64) -> [SignedTransaction] {
    var visited = Set<PublicKey>()
    var batch: [SignedTransaction] = []
    var bytes = 0
    for id in order[orderStart...] {
      guard batch.count < countMax else { break }
      guard let entry = entries[id], visited.insert(entry.transaction.body.signer).inserted else { continue }
      let signer = entry.transaction.body.signer
      var sequence = committedSequence(signer)
      while batch.count < countMax, let nextId = pendingBySigner[signer]?[sequence], let next = entries[nextId],
        bytes + next.size <= bytesMax
      {
        batch.append(next.transaction)
        bytes += next.size
        sequence += 1
      }
    }
    return batch
  }

  /// Whether some signer's next transaction is here, so a block could be
  /// proposed. Transactions waiting behind a gap in their signer's sequence
  /// are not work a primary can do: counting them would let any client force
  /// view changes by sending a future sequence number.
  public func hasProposable(committedSequence: (PublicKey) -> UInt64) -> Bool {
    pendingBySigner.contains { signer, sequences in sequences[committedSequence(signer)] != nil }
  }

  /// Drops what a committed block included, and what its signers' new
  /// sequence numbers made stale: another transaction pending under a
  /// sequence the block used up. Nothing pending is ever below a signer's
  /// committed sequence (admission refuses it, and each commit clears it), and
  /// the sequences a block moves a signer past are those of its accepted
  /// transactions, so looking under the block's own sequences finds every
  /// stale one. (Scanning each signer's pending sequences instead cost every
  /// block the whole mempool.)
  public mutating func removeCommitted(_ transactions: [SignedTransaction], committedSequence: (PublicKey) -> UInt64) {
    var floors: [PublicKey: UInt64] = [:]
    var removed: [SignedTransaction] = []
    removed.reserveCapacity(transactions.count)
    for transaction in transactions {
      if let entry = remove(transaction.id) {
        removed.append(entry.transaction)
        // It held its signer's sequence, which one pending transaction at most can.
        continue
      }
      let body = transaction.body
      let floor: UInt64
      if let known = floors[body.signer] {
        floor = known
      } else {
        floor = committedSequence(body.signer)
        floors[body.signer] = floor
      }
      if body.sequence < floor, let staleId = pendingBySigner[body.signer]?[body.sequence],
        let stale = remove(staleId)
      {
        removed.append(stale.transaction)
      }
    }
    byLeafHash.remove(removed)
    compactOrder()
  }

  private mutating func remove(_ id: Hash256) -> Entry? {
    guard let entry = entries.removeValue(forKey: id) else { return nil }
    byteCount -= entry.size
    let body = entry.transaction.body
    pendingBySigner[body.signer]?[body.sequence] = nil
    if pendingBySigner[body.signer]?.isEmpty == true { pendingBySigner[body.signer] = nil }
    return entry
  }

  private mutating func compactOrder() {
    while orderStart < order.count, entries[order[orderStart]] == nil { orderStart += 1 }
    if orderStart > 1_024, orderStart * 2 > order.count {
      order = order[orderStart...].filter { entries[$0] != nil }
      orderStart = 0
    }
  }

  /// The next sequence a signer should use, counting what it has pending.
  public func nextSequence(of signer: PublicKey, committed: UInt64) -> UInt64 {
    var next = committed
    while pendingBySigner[signer]?[next] != nil { next += 1 }
    return next
  }

  /// Pending transactions in arrival order (for re-forwarding after a view change).
  public var pending: [SignedTransaction] { order[orderStart...].compactMap { entries[$0]?.transaction } }
}

/// Transactions by leaf hash, readable from any thread: what the peer
/// network's frame decoder takes instead of decoding the same bytes again.
/// A node keeps two: its pending transactions (`Mempool.byLeafHash`) and the
/// forwarded ones queued for their checks (`DecodedTransactions.queued`).
public final class TransactionsByLeafHash: KnownTransactions {
  private let table = Mutex<[Hash256: SignedTransaction]>([:])

  public init() {}

  public func transaction(leafHash: Hash256) -> SignedTransaction? {
    table.withLock { $0[leafHash] }
  }

  public var count: Int { table.withLock { $0.count } }

  func insert(_ transaction: SignedTransaction) {
    table.withLock { $0[transaction.leafHash] = transaction }
  }

  /// All under one lock, as a frame arrives whole.
  func insert(contentsOf transactions: [SignedTransaction]) {
    table.withLock { table in
      for transaction in transactions { table[transaction.leafHash] = transaction }
    }
  }

  /// All under one lock: a committed block removes thousands.
  func remove(_ transactions: some Sequence<SignedTransaction>) {
    table.withLock { table in
      for transaction in transactions { table.removeValue(forKey: transaction.leafHash) }
    }
  }
}

/// The transactions a node has decoded and still holds, by leaf hash, for
/// the frame decoder: pending ones, then forwarded ones queued for their
/// signature checks. Under load a backup's queue holds seconds of forwarded
/// transactions, and proposals carrying the same bytes arrive meanwhile.
/// With the pending ones alone, backups decoded about half of each
/// proposal's transactions a second time (and held both copies until the
/// block committed): ≈ 2–3 % of a node's CPU by profile, with the allocations
/// (docs/BENCHMARKS.md). Holds references only, at most the queue's bound of them.
final class DecodedTransactions: KnownTransactions {
  let pending: TransactionsByLeafHash
  let queued = TransactionsByLeafHash()

  init(pending: TransactionsByLeafHash) { self.pending = pending }

  func transaction(leafHash: Hash256) -> SignedTransaction? {
    pending.transaction(leafHash: leafHash) ?? queued.transaction(leafHash: leafHash)
  }

  func queue(_ transactions: [SignedTransaction]) { queued.insert(contentsOf: transactions) }

  /// Once checked (admitted or refused). A transaction queued twice (forwarded
  /// again after a view change) leaves with its first copy: the second is
  /// then decoded again if a proposal carries it before its check, no more.
  func dequeue(_ transactions: some Collection<SignedTransaction>) { queued.remove(transactions) }
}
