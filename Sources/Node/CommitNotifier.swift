import Synchronization

/// Wakes HTTP requests that wait for a transaction's block (`?wait=`) when a
/// block commits, instead of each polling the engine. Bounded: past
/// `waitersMax` waiting requests, a request simply waits out a short pause.
public final class CommitNotifier: Sendable {
  private struct State {
    /// Commits seen; a waiter that read an older count returns at once.
    var commits: UInt64 = 0
    var nextWaiter: UInt64 = 0
    var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
  }

  private let state = Mutex(State())
  static let waitersMax = 10_000
  /// What a request waits when `waitersMax` others already wait.
  static let overflowPause = Duration.milliseconds(50)

  public init() {}

  /// The number of commits so far: read it before checking a condition, then
  /// pass it to `nextCommit(after:timeout:)`, so a commit in between is not missed.
  public var commits: UInt64 { state.withLock { $0.commits } }

  /// Returns once a block commits after the `commits` count `seen`, or after `timeout`.
  public func nextCommit(after seen: UInt64, timeout: Duration) async {
    var overflow = false
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let id: UInt64? = state.withLock { state in
        guard state.commits == seen, state.waiters.count < Self.waitersMax else { return nil }
        state.nextWaiter += 1
        state.waiters[state.nextWaiter] = continuation
        return state.nextWaiter
      }
      guard let id else {
        overflow = state.withLock { $0.commits == seen }
        continuation.resume()
        return
      }
      Task {
        try? await Task.sleep(for: timeout)
        self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
      }
    }
    if overflow { try? await Task.sleep(for: min(timeout, Self.overflowPause)) }
  }

  /// A block committed: every waiting request goes on.
  public func committed() {
    let woken = state.withLock { state in
      state.commits += 1
      defer { state.waiters.removeAll(keepingCapacity: true) }
      return Array(state.waiters.values)
    }
    for continuation in woken { continuation.resume() }
  }
}
