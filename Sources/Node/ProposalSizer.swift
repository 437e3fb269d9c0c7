/// How many transactions a primary should propose so that building and
/// storing a block stays well inside the view-change timeout.
///
/// Backups restart their view-change timer when they accept a proposal and
/// again at each commit; between a commit and the next proposal the primary
/// stores its block and builds the next one. If that takes longer than the
/// timeout, backups change view although nothing is wrong. How long it takes
/// grows with the state (more tree nodes read from disk per transaction) and
/// with load on the machine, so the size follows the measured cost: the
/// smoothed wall time per transaction of recent blocks (executing plus
/// storing) against a budget of half the timeout.
struct ProposalSizer: Sendable {
  /// Never propose fewer than this (unless the configured maximum is lower): a
  /// block has fixed costs, and tiny blocks would only add more of them.
  static let countFloor = 250
  /// Weight of the newest block in the smoothed cost.
  static let smoothing = 0.3

  private(set) var millisecondsPerTransaction: Double?

  mutating func record(transactions: Int, milliseconds: Double) {
    guard transactions > 0, milliseconds.isFinite, milliseconds >= 0 else { return }
    let sample = milliseconds / Double(transactions)
    millisecondsPerTransaction = millisecondsPerTransaction.map { $0 + Self.smoothing * (sample - $0) } ?? sample
  }

  /// The most transactions to propose now: what fits in `budgetMilliseconds`
  /// at the recent cost, between the floor and `limit`.
  func countMax(limit: Int, budgetMilliseconds: Double) -> Int {
    guard let cost = millisecondsPerTransaction, cost > 0 else { return limit }
    let fitting = budgetMilliseconds / cost
    guard fitting < Double(limit) else { return limit }
    return min(limit, max(Self.countFloor, Int(fitting)))
  }
}
