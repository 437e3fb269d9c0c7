import Testing

@testable import Node

struct ProposalSizerTests {
  @Test func proposalsShrinkWhenBlocksGetSlowAndGrowBackWhenTheyAreFast() {
    var sizer = ProposalSizer()
    #expect(
      sizer.countMax(limit: 5_000, budgetMilliseconds: 667) == 5_000, "no measurement yet: the configured maximum")

    // 5,000 transactions in 500 ms: 0.1 ms each, so 5,000 still fit in 667 ms.
    sizer.record(transactions: 5_000, milliseconds: 500)
    #expect(sizer.countMax(limit: 5_000, budgetMilliseconds: 667) == 5_000)

    // The state has grown: blocks now take 2.5 s (0.5 ms per transaction).
    for _ in 0..<20 { sizer.record(transactions: 5_000, milliseconds: 2_500) }
    let slow = sizer.countMax(limit: 5_000, budgetMilliseconds: 667)
    #expect((1_300...1_340).contains(slow), "667 ms at 0.5 ms per transaction is ≈ 1,334, got \(slow)")

    // Never below the floor, however slow.
    for _ in 0..<20 { sizer.record(transactions: 100, milliseconds: 10_000) }
    #expect(sizer.countMax(limit: 5_000, budgetMilliseconds: 667) == ProposalSizer.countFloor)
    #expect(sizer.countMax(limit: 100, budgetMilliseconds: 667) == 100, "a configured maximum below the floor wins")

    // Fast again: back to the maximum.
    for _ in 0..<30 { sizer.record(transactions: 1_000, milliseconds: 20) }
    #expect(sizer.countMax(limit: 5_000, budgetMilliseconds: 667) == 5_000)

    // Empty blocks and nonsense carry no information.
    let before = sizer.millisecondsPerTransaction
    sizer.record(transactions: 0, milliseconds: 50)
    sizer.record(transactions: 10, milliseconds: .nan)
    #expect(sizer.millisecondsPerTransaction == before)
  }
}
