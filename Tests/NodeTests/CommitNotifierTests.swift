import Testing

@testable import Node

/// `?wait=` waits on commits, not on a polling loop.
@Suite(.timeLimit(.minutes(1)))
struct CommitNotifierTests {
  @Test("a waiter wakes at the next commit, long before its timeout")
  func wakesAtCommit() async {
    let notifier = CommitNotifier()
    let seen = notifier.commits
    let waiter = Task { await notifier.nextCommit(after: seen, timeout: .seconds(3_600)) }
    // Whether the waiter registered before this commit or after it, it returns:
    // woken, or at once because the count moved past what it saw.
    notifier.committed()
    await waiter.value
    #expect(notifier.commits >= seen + 1)
  }

  @Test("a commit between reading the count and waiting is not missed; without a commit the timeout ends the wait")
  func noLostWakeupAndTimeout() async {
    let notifier = CommitNotifier()
    let seen = notifier.commits
    notifier.committed()
    await notifier.nextCommit(after: seen, timeout: .seconds(3_600))  // returns at once
    await notifier.nextCommit(after: notifier.commits, timeout: .milliseconds(20))
    #expect(notifier.commits == seen + 1)
  }
}
