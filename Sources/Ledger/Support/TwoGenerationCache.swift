import Synchronization

/// A bounded cache of decoded values: two generations of at most
/// `capacity / 2` entries; when the young one fills, the old one is dropped and
/// the young one ages, and a hit in the old generation moves the entry back.
/// Entries taken make room: the young generation fills later.
/// Roughly LRU for the cost of a dictionary. Thread-safe: the node's proof
/// handlers read it off the actor that writes. The project's one bounded
/// cache: tree nodes, records, parsed keys, and (as a set, `Value == Void`)
/// the signatures a node checked recently.
public final class TwoGenerationCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  private struct Generations {
    var young: [Key: Value] = [:]
    var old: [Key: Value] = [:]
    let generationMax: Int

    mutating func insert(_ key: Key, _ value: Value) {
      if young.count >= generationMax {
        // The dropped generation's table becomes the new young one, emptied in
        // place: a fresh table for 98,304 tree nodes (≈ 17 MB) was mapped,
        // faulted in and unmapped every few blocks.
        swap(&old, &young)
        young.removeAll(keepingCapacity: true)
        young.reserveCapacity(generationMax)
      }
      young[key] = value
    }
  }

  /// A `Mutex` rather than an `NSLock`: every node an update visits is
  /// looked up here, and the lock's own cost showed in profiles.
  private let generations: Mutex<Generations>

  public init(capacity: Int) { generations = Mutex(Generations(generationMax: max(1, capacity / 2))) }

  public func value(_ key: Key) -> Value? {
    generations.withLock { state in
      if let value = state.young[key] { return value }
      guard let value = state.old[key] else { return nil }
      state.insert(key, value)
      return value
    }
  }

  public func insert(_ key: Key, _ value: Value) { generations.withLock { $0.insert(key, value) } }

  /// Removes the entry and returns its value, for a caller that will not ask
  /// for it again.
  public func take(_ key: Key) -> Value? {
    generations.withLock { state in state.young.removeValue(forKey: key) ?? state.old.removeValue(forKey: key) }
  }

  /// Inserts many under one acquisition of the lock, `chunk` at a time so
  /// that readers on other threads wait for at most one chunk.
  public func insert(contentsOf entries: some Sequence<(key: Key, value: Value)>, chunk: Int = 4_096) {
    let chunk = max(1, chunk)
    var iterator = entries.makeIterator()
    var more = true
    while more {
      generations.withLock { state in
        for _ in 0..<chunk {
          guard let (key, value) = iterator.next() else {
            more = false
            return
          }
          state.insert(key, value)
        }
      }
    }
  }

  /// Whether `key` is cached (a hit in the old generation moves it back, as `value` does).
  public func contains(_ key: Key) -> Bool { value(key) != nil }
}
