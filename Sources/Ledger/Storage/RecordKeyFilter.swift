import Synchronization

/// Which record keys may be stored: a filter over every key ever written
/// under `r/`, kept in memory.
///
/// Executing a block asks for records that are about to be created (a new
/// directory, grant, attestation or share is looked up first, to refuse a
/// duplicate). Each such read was a LevelDB miss, which searches every
/// level-0 table and one table per level: about half a miss per transaction
/// (docs/BENCHMARKS.md). A "no" from here is certain and skips the read; a
/// "maybe" reads as before, so answers never change.
///
/// A chain of Bloom filters, each with twice the capacity of the one before
/// (a scalable Bloom filter): it grows with the store at ≈ 10 bits a key
/// (≈ 1.3 MB per 10⁶ records), and a key stays in the filter that took it.
/// Hashes are seeded per process; nothing here is stored.
final class RecordKeyFilter: Sendable {
  private let filters: Mutex<[BloomFilter]>

  init(initialCapacity: Int = 1 << 16) {
    filters = Mutex([BloomFilter(capacity: max(1, initialCapacity))])
  }

  func mayContain(_ key: RecordKey) -> Bool {
    let hash = Self.hash(key)
    return filters.withLock { filters in filters.contains { $0.mayContain(hash) } }
  }

  func insert(_ key: RecordKey) {
    let hash = Self.hash(key)
    filters.withLock { filters in
      if filters[filters.count - 1].isFull {
        filters.append(BloomFilter(capacity: filters[filters.count - 1].capacity * 2))
      }
      filters[filters.count - 1].insert(hash)
    }
  }

  private static func hash(_ key: RecordKey) -> UInt64 {
    var hasher = Hasher()
    hasher.combine(key.path)
    return UInt64(bitPattern: Int64(hasher.finalize()))
  }
}

/// A fixed-size Bloom filter: 10 bits and 7 probes per key (≈ 1 % false
/// "maybe" when full), probes by double hashing of one 64-bit hash.
struct BloomFilter: Sendable {
  static let bitsPerKey = 10
  static let probes: UInt64 = 7

  let capacity: Int
  private(set) var count = 0
  private var words: [UInt64]
  private let bitCount: UInt64

  init(capacity: Int) {
    self.capacity = capacity
    let wordCount = max(1, (capacity * Self.bitsPerKey + 63) / 64)
    words = Array(repeating: 0, count: wordCount)
    bitCount = UInt64(wordCount * 64)
  }

  var isFull: Bool { count >= capacity }

  func mayContain(_ hash: UInt64) -> Bool {
    var probe = hash
    let step = Self.step(hash)
    for _ in 0..<Self.probes {
      let bit = probe % bitCount
      guard words[Int(bit / 64)] & (1 << (bit % 64)) != 0 else { return false }
      probe &+= step
    }
    return true
  }

  mutating func insert(_ hash: UInt64) {
    var probe = hash
    let step = Self.step(hash)
    for _ in 0..<Self.probes {
      let bit = probe % bitCount
      words[Int(bit / 64)] |= 1 << (bit % 64)
      probe &+= step
    }
    count += 1
  }

  /// The second hash of double hashing: the halves swapped (and odd, so
  /// that it is never zero), so one key's probes spread over the filter.
  private static func step(_ hash: UInt64) -> UInt64 { (hash >> 32 | hash << 32) | 1 }
}
